package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/openapi"
	"github.com/sluicehq/sluice/internal/prompt"
	"github.com/sluicehq/sluice/internal/store"
)

// PromptCreate creates a prompt in a team, optionally with its first
// version.
type PromptCreate struct {
	Name        string `json:"name"`
	TeamID      string `json:"team_id"`
	Description string `json:"description,omitempty"`
	// Protected labels are moved only by those who may publish (owners and
	// admins).
	Protected []string            `json:"protected,omitempty"`
	Version   *PromptVersionInput `json:"version,omitempty"`
}

// PromptVersionInput is a new version of a prompt. Version, when set, must be
// the next number (a guard against two writers adding at once).
type PromptVersionInput struct {
	Version   int              `json:"version,omitempty"`
	Model     string           `json:"model"`
	Messages  []prompt.Message `json:"messages"`
	Params    json.RawMessage  `json:"params,omitempty"`
	Variables json.RawMessage  `json:"variables,omitempty"`
	Output    json.RawMessage  `json:"output,omitempty"`
	// Message says why (the commit message); the author is the caller.
	Message string `json:"message,omitempty"`
}

// LabelInput moves a label. With split_version and split_weight (1-100),
// that percentage of the traffic, sticky per key (or per user with sticky
// "user"), gets split_version instead. if_version, when set, must be the
// version the label points at now (0: the label must be new).
type LabelInput struct {
	Version      int    `json:"version"`
	SplitVersion int    `json:"split_version,omitempty"`
	SplitWeight  int    `json:"split_weight,omitempty"`
	Sticky       string `json:"sticky,omitempty"`
	Reason       string `json:"reason,omitempty"`
	IfVersion    *int   `json:"if_version,omitempty"`
}

// RollbackInput says why a label is rolled back.
type RollbackInput struct {
	Reason string `json:"reason,omitempty"`
}

// TestRunInput is a test run of one version, as `sluice prompts test`
// stores it.
type TestRunInput struct {
	Version int             `json:"version"`
	Cases   int             `json:"cases"`
	Passed  int             `json:"passed"`
	Summary json.RawMessage `json:"summary,omitempty"`
}

// PromptTestInput runs a test set: cases (as the JSON Lines file holds
// them) against version, and compare when set, called with api_key (a
// Sluice API key that may use the prompt's model; never stored or logged).
type PromptTestInput struct {
	Version int           `json:"version"`
	Compare int           `json:"compare,omitempty"`
	Cases   []prompt.Case `json:"cases"`
	APIKey  string        `json:"api_key"`
}

// PromptTestAnswer is the runs of a test set: passed is true when every
// case of every version passed.
type PromptTestAnswer struct {
	Passed bool            `json:"passed"`
	Runs   []TestRunResult `json:"runs"`
}

// TestRunResult is one version's run: the stored run and each case.
type TestRunResult struct {
	store.PromptTestRun
	Results []CaseResult `json:"results"`
}

// CaseResult is one case's verdict.
type CaseResult struct {
	Case    string `json:"case"`
	Passed  bool   `json:"passed"`
	Detail  string `json:"detail,omitempty"`
	Latency int64  `json:"latency_ms"`
}

// PromptView is a prompt with its labels and, when read one at a time,
// its versions.
type PromptView struct {
	store.Prompt
	Versions []prompt.Version `json:"versions,omitempty"`
}

// DiffView is the difference between two versions.
type DiffView struct {
	From int    `json:"from"`
	To   int    `json:"to"`
	Diff string `json:"diff"`
}

// promptRoutes declares the prompt routes.
func (a *API) promptRoutes(add func(string, authz.Action, func(http.ResponseWriter, *http.Request) error, openapi.Op)) {
	tags := []string{"prompts"}
	add("GET /admin/v1/prompts", authz.PromptsRead, a.listPrompts, openapi.Op{ID: "listPrompts", Tags: tags,
		Summary: "List prompts you may read", Query: scopeParams[:2], Response: list[store.Prompt]{}})
	add("POST /admin/v1/prompts", authz.PromptsWrite, a.createPrompt, openapi.Op{ID: "createPrompt", Tags: tags,
		Summary: "Create a prompt in a team", Request: PromptCreate{}, Response: PromptView{}, ResponseStatus: http.StatusCreated})
	add("GET /admin/v1/prompts/{id}", authz.PromptsRead, a.getPrompt, openapi.Op{ID: "getPrompt", Tags: tags,
		Summary: "Read a prompt (by id or name) with its versions and labels", Response: PromptView{}})
	add("POST /admin/v1/prompts/{id}/versions", authz.PromptsWrite, a.addPromptVersion, openapi.Op{ID: "addPromptVersion", Tags: tags,
		Summary: "Add an immutable version", Description: "Numbered in turn; the author is the caller.",
		Request: PromptVersionInput{}, Response: prompt.Version{}, ResponseStatus: http.StatusCreated})
	add("GET /admin/v1/prompts/{id}/versions/{version}", authz.PromptsRead, a.getPromptVersion, openapi.Op{ID: "getPromptVersion", Tags: tags,
		Summary: "Read a version", Response: prompt.Version{}})
	add("GET /admin/v1/prompts/{id}/diff", authz.PromptsRead, a.diffPrompt, openapi.Op{ID: "diffPrompt", Tags: tags,
		Summary: "The difference between two versions", Query: []openapi.Param{q("from", "integer", "A version."), q("to", "integer", "Another version.")},
		Response: DiffView{}})
	add("PUT /admin/v1/prompts/{id}/labels/{label}", authz.PromptsWrite, a.setPromptLabel, openapi.Op{ID: "setPromptLabel", Tags: tags,
		Summary: "Move a label (or split it between two versions)", Description: "Audited; every node serves it within two seconds. A protected label needs prompts.publish.",
		Request: LabelInput{}, Response: store.PromptLabel{}})
	add("POST /admin/v1/prompts/{id}/labels/{label}/rollback", authz.PromptsWrite, a.rollbackPromptLabel, openapi.Op{ID: "rollbackPromptLabel", Tags: tags,
		Summary: "Move a label back to the version it pointed at before", Request: RollbackInput{}, Response: store.PromptLabel{}})
	add("GET /admin/v1/prompts/{id}/history", authz.PromptsRead, a.promptHistory, openapi.Op{ID: "promptLabelHistory", Tags: tags,
		Summary: "Label moves, newest first", Query: []openapi.Param{q("label", "string", "Only this label's."), q("limit", "integer", "1-1000.")},
		Response: list[store.PromptLabelMove]{}})
	add("POST /admin/v1/prompts/{id}/test-runs", authz.PromptsWrite, a.addPromptTestRun, openapi.Op{ID: "addPromptTestRun", Tags: tags,
		Summary: "Store a test run of a version", Request: TestRunInput{}, Response: store.PromptTestRun{}, ResponseStatus: http.StatusCreated})
	add("POST /admin/v1/prompts/{id}/test", authz.PromptsWrite, a.runPromptTest, openapi.Op{ID: "runPromptTest", Tags: tags,
		Summary: "Run a test set through the gateway", Description: "Each case calls POST /prompts/{name}@{version} with api_key, in process, through the whole chain; each version's run is stored.",
		Request: PromptTestInput{}, Response: PromptTestAnswer{}})
	add("GET /admin/v1/prompts/{id}/test-runs", authz.PromptsRead, a.listPromptTestRuns, openapi.Op{ID: "listPromptTestRuns", Tags: tags,
		Summary: "Test runs, newest first", Query: []openapi.Param{q("version", "integer", "Only this version's.")},
		Response: list[store.PromptTestRun]{}})
}

func promptScope(p store.Prompt) authz.Scope { return authz.Scope{OrgID: p.OrgID, TeamID: p.TeamID} }

// loadPrompt reads the prompt named by the path's id (an id or a name)
// and decides read, and write when given, in its team.
func (a *API) loadPrompt(r *http.Request, write authz.Action) (store.Prompt, error) {
	p, err := a.opts.Store.GetPrompt(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		state(r).decided = true
		return p, errNotFound
	} else if err != nil {
		return p, err
	}
	return p, a.authorize(r, authz.PromptsRead, write, promptScope(p))
}

func (a *API) listPrompts(w http.ResponseWriter, r *http.Request) error {
	s, err := a.listScope(r)
	if err != nil {
		return err
	}
	if err := a.authorizeList(r, s); err != nil {
		return err
	}
	ps, err := a.opts.Store.ListPrompts(r.Context(), store.PromptFilter{OrgID: r.URL.Query().Get("org_id"), TeamID: r.URL.Query().Get("team_id")})
	if err != nil {
		return err
	}
	out := []store.Prompt{}
	for _, p := range ps {
		if a.allowed(r, authz.PromptsRead, promptScope(p)) {
			out = append(out, p)
		}
	}
	return writeJSON(w, http.StatusOK, list[store.Prompt]{Object: "list", Data: out})
}

func (a *API) createPrompt(w http.ResponseWriter, r *http.Request) error {
	var req PromptCreate
	if err := decodeBody(w, r, &req); err != nil {
		state(r).decided = true
		return err
	}
	team, err := a.loadUnit(r, teamKind, req.TeamID, "")
	if err != nil {
		return fieldNotFound(err, "team_id")
	}
	p := store.Prompt{ID: store.NewID(store.PrefixPrompt), Name: req.Name, OrgID: team.OrgID, TeamID: team.ID,
		Description: req.Description, Protected: req.Protected, Source: "api"}
	if err := a.authorize(r, "", authz.PromptsWrite, promptScope(p)); err != nil {
		return err
	}
	if !validName(req.Name) {
		return &httpError{http.StatusBadRequest, "invalid_name", "name must be 1-64 characters of letters, digits, '-', '_' or '.'."}
	}
	for _, l := range req.Protected {
		if !config.ValidLabel(l) {
			return &httpError{http.StatusBadRequest, "invalid_label", fmt.Sprintf("%q is not a label: lower-case letters, digits, '-' and '_', starting with a letter.", l)}
		}
	}
	if len(req.Protected) > 0 {
		if err := a.authorize(r, "", authz.PromptsPublish, promptScope(p)); err != nil {
			return err
		}
	}
	var first prompt.Version
	if req.Version != nil {
		if first, err = a.checkPromptVersion(*req.Version); err != nil {
			return err
		}
	}
	if err := a.opts.Store.CreatePrompt(r.Context(), p, a.auditFor(w, r, "prompt.create", "prompt", p.ID, p.OrgID, nil, p)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &httpError{http.StatusConflict, "name_taken", fmt.Sprintf("A prompt named %q already exists.", p.Name)}
		}
		return err
	}
	view := PromptView{Prompt: p}
	if req.Version != nil {
		first.Author = principal(r).Name()
		n, err := a.opts.Store.AddPromptVersion(r.Context(), p.ID, first, a.auditFor(w, r, "prompt.version", "prompt", "", p.OrgID, nil, first))
		if err != nil {
			return err
		}
		first.Number = n
		view.Latest, view.Versions = n, []prompt.Version{first}
	}
	if err := a.opts.Control.RefreshKeys(r.Context()); err != nil {
		return err
	}
	created, err := a.opts.Store.GetPrompt(r.Context(), p.ID)
	if err == nil {
		view.Prompt = created
	}
	return writeJSON(w, http.StatusCreated, view)
}

// checkPromptVersion compiles a version: its templates, schemas and the rule
// for system messages; its model must be served.
func (a *API) checkPromptVersion(in PromptVersionInput) (prompt.Version, error) {
	v := prompt.Version{Number: in.Version, Model: in.Model, Messages: in.Messages, Params: in.Params,
		Variables: in.Variables, Output: in.Output, Message: in.Message, Created: time.Now().UTC().Truncate(time.Microsecond)}
	if _, err := prompt.Compile(v); err != nil {
		return v, &httpError{http.StatusBadRequest, "invalid_prompt", "The version does not compile: " + strings.ReplaceAll(err.Error(), "\n", "; ")}
	}
	if snap := a.opts.Snapshots.Load(); snap != nil && snap.Models[in.Model] == nil {
		return v, &httpError{http.StatusBadRequest, "invalid_prompt", fmt.Sprintf("No model named %q.", in.Model)}
	}
	return v, nil
}

func (a *API) getPrompt(w http.ResponseWriter, r *http.Request) error {
	p, err := a.loadPrompt(r, "")
	if err != nil {
		return err
	}
	vs, err := a.opts.Store.PromptVersions(r.Context(), p.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, PromptView{Prompt: p, Versions: vs})
}

func (a *API) addPromptVersion(w http.ResponseWriter, r *http.Request) error {
	p, err := a.loadPrompt(r, authz.PromptsWrite)
	if err != nil {
		return err
	}
	var in PromptVersionInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if p.Source == "config" {
		return &httpError{http.StatusConflict, "read_only", "This prompt is declared in the configuration file; add versions there (its labels move here)."}
	}
	v, err := a.checkPromptVersion(in)
	if err != nil {
		return err
	}
	v.Author = principal(r).Name()
	n, err := a.opts.Store.AddPromptVersion(r.Context(), p.ID, v, a.auditFor(w, r, "prompt.version", "prompt", "", p.OrgID, nil, v))
	if errors.Is(err, store.ErrConflict) {
		return &httpError{http.StatusConflict, "version_taken", fmt.Sprintf("Version %d exists already: another version was added first; read the prompt again.", in.Version)}
	} else if err != nil {
		return err
	}
	v.Number = n
	if err := a.opts.Control.RefreshKeys(r.Context()); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

// versionParam reads a version number from the path or query.
func versionParam(s, name string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, &httpError{http.StatusBadRequest, "invalid_version", fmt.Sprintf("%s must be a version number.", name)}
	}
	return n, nil
}

func (a *API) getPromptVersion(w http.ResponseWriter, r *http.Request) error {
	p, err := a.loadPrompt(r, "")
	if err != nil {
		return err
	}
	n, err := versionParam(r.PathValue("version"), "version")
	if err != nil {
		return err
	}
	v, err := a.opts.Store.PromptVersion(r.Context(), p.ID, n)
	if err != nil {
		return storeError(err, "version")
	}
	return writeJSON(w, http.StatusOK, v)
}

func (a *API) diffPrompt(w http.ResponseWriter, r *http.Request) error {
	p, err := a.loadPrompt(r, "")
	if err != nil {
		return err
	}
	var vs [2]prompt.Version
	for i, name := range []string{"from", "to"} {
		n, err := versionParam(r.URL.Query().Get(name), name)
		if err != nil {
			return err
		}
		if vs[i], err = a.opts.Store.PromptVersion(r.Context(), p.ID, n); errors.Is(err, store.ErrNotFound) {
			return &httpError{http.StatusNotFound, "not_found", fmt.Sprintf("No version %d.", n)}
		} else if err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, DiffView{From: vs[0].Number, To: vs[1].Number, Diff: prompt.Diff(vs[0], vs[1])})
}

// authorizeLabel decides moving label: prompts.write, and prompts.publish
// when the label is protected.
func (a *API) authorizeLabel(r *http.Request, label string) (store.Prompt, error) {
	p, err := a.loadPrompt(r, authz.PromptsWrite)
	if err != nil {
		return p, err
	}
	if !config.ValidLabel(label) {
		return p, &httpError{http.StatusBadRequest, "invalid_label", "A label is lower-case letters, digits, '-' and '_', starting with a letter (at most 32)."}
	}
	if slices.Contains(p.Protected, label) {
		if err := a.authorize(r, "", authz.PromptsPublish, promptScope(p)); err != nil {
			return p, &httpError{http.StatusForbidden, "forbidden", fmt.Sprintf("The label %q is protected: only owners and admins move it.", label)}
		}
	}
	return p, nil
}

func (a *API) setPromptLabel(w http.ResponseWriter, r *http.Request) error {
	label := r.PathValue("label")
	p, err := a.authorizeLabel(r, label)
	if err != nil {
		return err
	}
	var in LabelInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	switch {
	case in.Version < 1:
		return &httpError{http.StatusBadRequest, "invalid_body", "version must be a version number."}
	case in.SplitVersion < 0 || in.SplitWeight < 0 || in.SplitWeight > 100:
		return &httpError{http.StatusBadRequest, "invalid_body", "split_weight is a percentage (0-100) of the traffic that goes to split_version."}
	case (in.SplitVersion == 0) != (in.SplitWeight == 0):
		return &httpError{http.StatusBadRequest, "invalid_body", "split_version and split_weight go together."}
	case in.Sticky != "" && in.Sticky != "key" && in.Sticky != "user":
		return &httpError{http.StatusBadRequest, "invalid_body", `sticky is "key" (the default) or "user".`}
	}
	ifVersion := -1
	if in.IfVersion != nil {
		ifVersion = *in.IfVersion
	}
	return a.moveLabel(w, r, p, store.PromptLabel{Label: label, Version: in.Version, SplitVersion: in.SplitVersion,
		SplitWeight: in.SplitWeight, Sticky: in.Sticky}, ifVersion, in.Reason, "prompt.label")
}

func (a *API) moveLabel(w http.ResponseWriter, r *http.Request, p store.Prompt, l store.PromptLabel, ifVersion int, reason, action string) error {
	var before any
	for _, old := range p.Labels {
		if old.Label == l.Label {
			before = old
		}
	}
	after := map[string]any{"prompt": p.Name, "label": l.Label, "version": l.Version, "split_version": l.SplitVersion,
		"split_weight": l.SplitWeight, "sticky": l.Sticky, "reason": reason}
	err := a.opts.Store.SetPromptLabel(r.Context(), p.ID, l, ifVersion, principal(r).Name(), reason,
		a.auditFor(w, r, action, "prompt", p.ID, p.OrgID, before, after))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &httpError{http.StatusBadRequest, "invalid_body", "No such version: " + strings.TrimSuffix(err.Error(), ": "+store.ErrNotFound.Error()) + "."}
	case errors.Is(err, store.ErrVersionMismatch):
		return &httpError{http.StatusPreconditionFailed, "version_mismatch", "The label moved since it was read; read it again."}
	case err != nil:
		return err
	}
	if err := a.opts.Control.RefreshKeys(r.Context()); err != nil {
		return err
	}
	ls, err := a.opts.Store.PromptLabels(r.Context(), p.ID)
	if err != nil {
		return err
	}
	for _, got := range ls {
		if got.Label == l.Label {
			return writeJSON(w, http.StatusOK, got)
		}
	}
	return writeJSON(w, http.StatusOK, l)
}

func (a *API) rollbackPromptLabel(w http.ResponseWriter, r *http.Request) error {
	label := r.PathValue("label")
	p, err := a.authorizeLabel(r, label)
	if err != nil {
		return err
	}
	var in RollbackInput
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, &in); err != nil {
			return err
		}
	}
	hist, err := a.opts.Store.PromptLabelHistory(r.Context(), p.ID, label, 1)
	if err != nil {
		return err
	}
	if len(hist) == 0 || hist[0].From == 0 {
		return &httpError{http.StatusConflict, "nothing_to_roll_back", fmt.Sprintf("The label %q has no earlier version to go back to.", label)}
	}
	reason := in.Reason
	if reason == "" {
		reason = fmt.Sprintf("rollback from version %d", hist[0].To)
	}
	return a.moveLabel(w, r, p, store.PromptLabel{Label: label, Version: hist[0].From}, hist[0].To, reason, "prompt.rollback")
}

func (a *API) promptHistory(w http.ResponseWriter, r *http.Request) error {
	p, err := a.loadPrompt(r, "")
	if err != nil {
		return err
	}
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 1000 {
			return &httpError{http.StatusBadRequest, "invalid_query", "limit must be 1-1000."}
		}
	}
	hist, err := a.opts.Store.PromptLabelHistory(r.Context(), p.ID, r.URL.Query().Get("label"), limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[store.PromptLabelMove]{Object: "list", Data: hist})
}

func (a *API) addPromptTestRun(w http.ResponseWriter, r *http.Request) error {
	p, err := a.loadPrompt(r, authz.PromptsWrite)
	if err != nil {
		return err
	}
	var in TestRunInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.Cases < 0 || in.Passed < 0 || in.Passed > in.Cases {
		return &httpError{http.StatusBadRequest, "invalid_body", "passed must be between 0 and cases."}
	}
	if _, err := a.opts.Store.PromptVersion(r.Context(), p.ID, in.Version); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return &httpError{http.StatusBadRequest, "invalid_body", fmt.Sprintf("No version %d.", in.Version)}
		}
		return err
	}
	run, err := a.opts.Store.InsertPromptTestRun(r.Context(), store.PromptTestRun{PromptID: p.ID, Version: in.Version,
		Actor: principal(r).Name(), Cases: in.Cases, Passed: in.Passed, Summary: in.Summary})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, run)
}

func (a *API) listPromptTestRuns(w http.ResponseWriter, r *http.Request) error {
	p, err := a.loadPrompt(r, "")
	if err != nil {
		return err
	}
	n := 0
	if s := r.URL.Query().Get("version"); s != "" {
		if n, err = versionParam(s, "version"); err != nil {
			return err
		}
	}
	runs, err := a.opts.Store.PromptTestRuns(r.Context(), p.ID, n)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[store.PromptTestRun]{Object: "list", Data: runs})
}

// MaxTestCases bounds the cases of one test set run through the admin API.
const MaxTestCases = 200

func (a *API) runPromptTest(w http.ResponseWriter, r *http.Request) error {
	p, err := a.loadPrompt(r, authz.PromptsWrite)
	if err != nil {
		return err
	}
	var in PromptTestInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	switch {
	case a.opts.PromptGateway == nil:
		return &httpError{http.StatusBadRequest, "not_offered", "This server does not run test sets; use sluice prompts test."}
	case in.APIKey == "":
		return &httpError{http.StatusBadRequest, "invalid_body", "api_key is required: the cases run through the gateway with it."}
	case len(in.Cases) == 0 || len(in.Cases) > MaxTestCases:
		return &httpError{http.StatusBadRequest, "invalid_body", fmt.Sprintf("Give 1 to %d cases.", MaxTestCases)}
	}
	var lines bytes.Buffer // checked as a test set file is
	for _, c := range in.Cases {
		b, _ := json.Marshal(c)
		lines.Write(append(b, '\n'))
	}
	cases, err := prompt.ParseCases(&lines)
	if err != nil {
		return &httpError{http.StatusBadRequest, "invalid_body", "cases: " + err.Error()}
	}
	versions := []int{in.Version}
	if in.Compare != 0 {
		versions = append(versions, in.Compare)
	}
	answer := PromptTestAnswer{Passed: true}
	for _, n := range versions {
		if _, err := a.opts.Store.PromptVersion(r.Context(), p.ID, n); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return &httpError{http.StatusBadRequest, "invalid_body", fmt.Sprintf("No version %d.", n)}
			}
			return err
		}
	}
	for _, n := range versions {
		run := prompt.Run{Version: strconv.Itoa(n)}
		ids := make([]string, len(cases))
		outs := make([]prompt.Outcome, len(cases))
		errs := make([]error, len(cases))
		for i, c := range cases {
			outs[i], ids[i], errs[i] = a.callPrompt(r, p.Name, n, in.APIKey, c.Variables)
		}
		costs := a.ledgerCosts(r, ids)
		res := TestRunResult{}
		for i, c := range cases {
			if cost, ok := costs[ids[i]]; ok {
				outs[i].CostMicros = cost
			}
			cr := prompt.Evaluate(c, outs[i])
			cr.Err = errs[i]
			run.Results = append(run.Results, cr)
			one := CaseResult{Case: c.Name, Passed: cr.Passed(), Latency: outs[i].Latency.Milliseconds()}
			if cr.Err != nil {
				one.Detail = cr.Err.Error()
			}
			for _, ch := range cr.Checks {
				if !ch.Pass && one.Detail == "" {
					one.Detail = ch.Assertion.Type + ": " + ch.Detail
				}
			}
			res.Results = append(res.Results, one)
		}
		s := prompt.Summarize(run)
		summary, _ := json.Marshal(map[string]any{"pass_rate": s.PassRate(), "mean_latency_ms": s.MeanLatency.Milliseconds(),
			"input_tokens": s.InputTokens, "output_tokens": s.OutputTokens, "cost_micros": s.CostMicros, "via": "admin api"})
		stored, err := a.opts.Store.InsertPromptTestRun(r.Context(), store.PromptTestRun{PromptID: p.ID, Version: n,
			Actor: principal(r).Name(), Cases: s.Cases, Passed: s.Passed, Summary: summary})
		if err != nil {
			return err
		}
		res.PromptTestRun = stored
		answer.Passed = answer.Passed && s.Passed == s.Cases
		answer.Runs = append(answer.Runs, res)
	}
	return writeJSON(w, http.StatusOK, answer)
}

// callPrompt calls one version of the prompt through the data plane, in
// process, as the client at r's address with key.
func (a *API) callPrompt(r *http.Request, name string, version int, key string, vars json.RawMessage) (prompt.Outcome, string, error) {
	var out prompt.Outcome
	if len(vars) == 0 {
		vars = json.RawMessage("{}")
	}
	body, _ := json.Marshal(map[string]any{"variables": vars})
	req, err := http.NewRequestWithContext(r.Context(), "POST", fmt.Sprintf("/prompts/%s@%d", name, version), bytes.NewReader(body))
	if err != nil {
		return out, "", err
	}
	req.RemoteAddr = r.RemoteAddr
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	start := time.Now()
	a.opts.PromptGateway.ServeHTTP(rec, req)
	out.Latency = time.Since(start)
	id := rec.Header().Get("X-Request-Id")
	err = prompt.ReadAnswer(&out, rec.Code, rec.Body.Bytes())
	return out, id, err
}

// ledgerCosts reads the requests' costs from the ledger, which records
// each a moment after its answer: it waits up to three seconds.
func (a *API) ledgerCosts(r *http.Request, ids []string) map[string]int64 {
	costs := map[string]int64{}
	deadline := time.Now().Add(3 * time.Second)
	for {
		entries, err := a.opts.Store.ListRequests(r.Context(), store.RequestFilter{Limit: min(1000, 2*len(ids)+50)})
		if err != nil {
			return costs
		}
		for _, e := range entries {
			costs[e.RequestID] = e.CostMicros
		}
		missing := false
		for _, id := range ids {
			if _, ok := costs[id]; id != "" && !ok {
				missing = true
			}
		}
		if !missing || time.Now().After(deadline) || r.Context().Err() != nil {
			return costs
		}
		time.Sleep(100 * time.Millisecond)
	}
}
