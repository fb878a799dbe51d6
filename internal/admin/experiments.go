package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/experiment"
	"github.com/sluicehq/sluice/internal/openapi"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/store"
)

// Experiments are platform objects, like the models whose targets they
// split: gateway.read reads them, gateway.write creates and promotes.

// feedbackMetrics is what the server tells about declared feedback
// metrics (config feedback_metrics); a Control without it allows only
// the built-in metrics.
type feedbackMetrics interface {
	FeedbackMetricType(name string) (string, bool)
}

// experimentsChanged is told when an experiment changed, so that the data
// plane applies it at once (other nodes poll).
type experimentsChanged interface {
	ExperimentsChanged(ctx context.Context)
}

// fileExperiments are the experiments the configuration file declares:
// they run while they are in the file and are read-only here.
type fileExperiments interface {
	FileExperiments() []experiment.Experiment
}

// ExperimentView is an experiment as the API shows it.
type ExperimentView struct {
	experiment.Experiment
	Source   string `json:"source" enum:"api,config" doc:"config: declared in the configuration file (read-only here)."`
	ReadOnly bool   `json:"read_only"`
}

func experimentView(e experiment.Experiment, source string) ExperimentView {
	return ExperimentView{Experiment: e, Source: source, ReadOnly: source == "config"}
}

// fileExperiments returns the file's experiments (none without a Control
// that knows them).
func (a *API) fileExperiments() []experiment.Experiment {
	if fe, ok := a.opts.Control.(fileExperiments); ok {
		return fe.FileExperiments()
	}
	return nil
}

// fileExperiment returns the file's experiment with id or name idOrName.
func (a *API) fileExperiment(idOrName string) (experiment.Experiment, bool) {
	for _, e := range a.fileExperiments() {
		if e.ID == idOrName || e.Name == idOrName {
			return e, true
		}
	}
	return experiment.Experiment{}, false
}

func readOnlyExperiment() error {
	return &httpError{http.StatusConflict, "read_only", "This experiment is declared in the configuration file; change it there."}
}

// ExperimentInput creates an experiment.
type ExperimentInput struct {
	Name    string           `json:"name"`
	Model   string           `json:"model,omitempty" description:"A model: the arms are its targets."`
	Prompt  string           `json:"prompt,omitempty" description:"A prompt: the arms are its versions."`
	Label   string           `json:"label,omitempty" description:"The prompt's label whose split serves the versions (default production); promotion moves it."`
	Unit    string           `json:"unit,omitempty" description:"key (default), user or header:<name>."`
	Metric  string           `json:"metric" description:"A declared feedback metric, or success, latency_ms, cost."`
	Arms    []experiment.Arm `json:"arms"`
	Control string           `json:"control,omitempty"`
}

// PromoteInput names the winning arm.
type PromoteInput struct {
	Arm    string `json:"arm"`
	Reason string `json:"reason,omitempty"`
}

func (a *API) experimentRoutes(add func(string, authz.Action, func(http.ResponseWriter, *http.Request) error, openapi.Op)) {
	tags := []string{"experiments"}
	add("GET /admin/v1/experiments", authz.GatewayRead, a.listExperiments, openapi.Op{ID: "listExperiments", Tags: tags,
		Summary: "List experiments", Description: "The configuration file's experiments first (source config, read-only), then those made here.",
		Response: list[ExperimentView]{}})
	add("POST /admin/v1/experiments", authz.GatewayWrite, a.createExperiment, openapi.Op{ID: "createExperiment", Tags: tags,
		Summary: "Start an experiment", Description: "Arms are targets of a model or versions of a prompt; assignment is sticky per key, user or header. Audited.",
		Request: ExperimentInput{}, Response: experiment.Experiment{}, ResponseStatus: http.StatusCreated})
	add("GET /admin/v1/experiments/{id}", authz.GatewayRead, a.getExperiment, openapi.Op{ID: "getExperiment", Tags: tags,
		Summary: "Read an experiment (by id or name)", Response: ExperimentView{}})
	add("GET /admin/v1/experiments/{id}/results", authz.GatewayRead, a.experimentResults, openapi.Op{ID: "experimentResults", Tags: tags,
		Summary: "Compare the arms", Description: "Per arm n, the metric's rate (Wilson) or mean (Student t) with 95% intervals, cost, latency and error rate; each arm's difference from the control (Newcombe or Welch); the sample-ratio check (chi-square, flagged at p < 0.001). Fallback rows are counted, not compared.",
		Response: experiment.Report{}})
	add("POST /admin/v1/experiments/{id}/promote", authz.GatewayWrite, a.promoteExperiment, openapi.Op{ID: "promoteExperiment", Tags: tags,
		Summary: "Promote an arm", Description: "Every unit is then served by the winning arm (all the weight moves to it). Audited. An experiment of the configuration file is read-only (409 read_only): change its weights in the file.",
		Request: PromoteInput{}, Response: experiment.Experiment{}})
}

func (a *API) metricType(name string) (string, bool) {
	if fm, ok := a.opts.Control.(feedbackMetrics); ok {
		return fm.FeedbackMetricType(name)
	}
	return "", false
}

func (a *API) experimentsChanged(ctx context.Context) {
	if c, ok := a.opts.Control.(experimentsChanged); ok {
		c.ExperimentsChanged(ctx)
	}
}

func (a *API) listExperiments(w http.ResponseWriter, r *http.Request) error {
	stored, err := a.opts.Store.Experiments(r.Context())
	if err != nil {
		return err
	}
	all := []ExperimentView{}
	for _, e := range a.fileExperiments() {
		all = append(all, experimentView(e, "config"))
	}
	for _, e := range stored {
		all = append(all, experimentView(e, "api"))
	}
	return writeJSON(w, http.StatusOK, list[ExperimentView]{Object: "list", Data: all})
}

func (a *API) createExperiment(w http.ResponseWriter, r *http.Request) error {
	var in ExperimentInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	now := time.Now().UTC()
	e := experiment.Experiment{ID: store.NewID(store.PrefixExperiment), Name: in.Name, Model: in.Model, Prompt: in.Prompt, Label: in.Label, Unit: in.Unit,
		Metric: in.Metric, Arms: in.Arms, Control: in.Control, Status: experiment.StatusRunning, CreatedAt: now, UpdatedAt: now}
	if err := e.Validate(a.metricType); err != nil {
		return &httpError{http.StatusBadRequest, "invalid_experiment", err.Error()}
	}
	if _, ok := a.fileExperiment(e.Name); ok {
		return &httpError{http.StatusConflict, "name_taken", fmt.Sprintf("The configuration file declares an experiment named %q.", e.Name)}
	}
	if e.Model != "" {
		m := a.opts.Snapshots.Load().Models[e.Model]
		if m == nil {
			return &httpError{http.StatusBadRequest, "unknown_model", fmt.Sprintf("No model named %q.", e.Model)}
		}
		for i, arm := range e.Arms {
			if !hasTarget(m.Default.Targets, arm) {
				return &httpError{http.StatusBadRequest, "unknown_target",
					fmt.Sprintf("arms[%d]: %s/%s is not a target of model %q's default route.", i, arm.Provider, arm.Model, e.Model)}
			}
		}
	}
	if e.Prompt != "" {
		if _, err := a.opts.Store.GetPrompt(r.Context(), e.Prompt); errors.Is(err, store.ErrNotFound) {
			return &httpError{http.StatusBadRequest, "unknown_prompt", fmt.Sprintf("No prompt named %q.", e.Prompt)}
		} else if err != nil {
			return err
		}
	}
	e.CreatedBy = principal(r).Name()
	audit := a.auditFor(w, r, "experiments.create", "experiment", e.ID, "", nil, e)
	if err := a.opts.Store.CreateExperiment(r.Context(), e, audit); errors.Is(err, store.ErrConflict) {
		return &httpError{http.StatusConflict, "name_taken", fmt.Sprintf("An experiment named %q exists.", e.Name)}
	} else if err != nil {
		return err
	}
	a.experimentsChanged(r.Context())
	return writeJSON(w, http.StatusCreated, experimentView(e, "api"))
}

// loadExperiment reads the experiment the path names, the file's first,
// and says where it is declared (config or api).
func (a *API) loadExperiment(r *http.Request) (experiment.Experiment, string, error) {
	if e, ok := a.fileExperiment(r.PathValue("id")); ok {
		return e, "config", nil
	}
	e, err := a.opts.Store.Experiment(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return e, "", errNotFound
	}
	return e, "api", err
}

func (a *API) getExperiment(w http.ResponseWriter, r *http.Request) error {
	e, source, err := a.loadExperiment(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, experimentView(e, source))
}

func (a *API) experimentResults(w http.ResponseWriter, r *http.Request) error {
	e, _, err := a.loadExperiment(r)
	if err != nil {
		return err
	}
	rows, err := a.opts.Store.ExperimentRows(r.Context(), e.ID, e.Metric)
	if err != nil {
		return err
	}
	typ, _ := a.metricType(e.Metric)
	rep, err := experiment.Results(&e, typ, rows)
	if err != nil {
		return &httpError{http.StatusConflict, "invalid_experiment", err.Error()}
	}
	return writeJSON(w, http.StatusOK, rep)
}

func (a *API) promoteExperiment(w http.ResponseWriter, r *http.Request) error {
	e, source, err := a.loadExperiment(r)
	if err != nil {
		return err
	}
	if source == "config" {
		return readOnlyExperiment()
	}
	var in PromoteInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if e.ArmIndex(in.Arm) < 0 {
		return &httpError{http.StatusBadRequest, "unknown_arm", fmt.Sprintf("Experiment %q has no arm %q.", e.Name, in.Arm)}
	}
	if e.Status != experiment.StatusRunning {
		return &httpError{http.StatusConflict, "not_running", fmt.Sprintf("Experiment %q is %s.", e.Name, e.Status)}
	}
	before := e
	e.Status, e.Winner, e.UpdatedAt = experiment.StatusPromoted, in.Arm, time.Now().UTC()
	e.Arms = append([]experiment.Arm(nil), e.Arms...)
	for i := range e.Arms {
		e.Arms[i].Weight = 0
		if e.Arms[i].Name == in.Arm {
			e.Arms[i].Weight = 100
		}
	}
	if e.Prompt != "" {
		// A prompt's winner takes the label whole: its split is removed.
		p, err := a.opts.Store.GetPrompt(r.Context(), e.Prompt)
		if err != nil {
			return err
		}
		l := store.PromptLabel{Label: e.Label, Version: e.Arms[e.ArmIndex(in.Arm)].PromptVersion}
		move := a.auditFor(w, r, "prompts.label", "prompt", p.ID, "", nil, l)
		if err := a.opts.Store.SetPromptLabel(r.Context(), p.ID, l, -1, principal(r).Name(), "experiment "+e.Name+" promoted "+in.Arm, move); err != nil {
			return err
		}
	}
	audit := a.auditFor(w, r, "experiments.promote", "experiment", e.ID, "", before, e)
	if err := a.opts.Store.UpdateExperiment(r.Context(), e, experiment.StatusRunning, audit); errors.Is(err, store.ErrConflict) {
		return &httpError{http.StatusConflict, "not_running", "The experiment changed meanwhile; read it again."}
	} else if err != nil {
		return err
	}
	a.experimentsChanged(r.Context())
	return writeJSON(w, http.StatusOK, experimentView(e, "api"))
}

// hasTarget reports whether arm names one of targets.
func hasTarget(targets []runtime.Target, arm experiment.Arm) bool {
	for _, t := range targets {
		if t.Provider.Name() == arm.Provider && t.Model == arm.Model {
			return true
		}
	}
	return false
}
