package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/openapi"
	"github.com/sluicehq/sluice/internal/prompt"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/store"
)

// Reads the console's playground and guardrail pages need: a prompt
// version rendered with variables (nothing is sent upstream), and the
// running guardrail and cache settings with the last day's counts from
// the ledger.

// RenderInput renders one version of a prompt with variables.
type RenderInput struct {
	Version   int             `json:"version"`
	Variables json.RawMessage `json:"variables,omitempty"`
}

// RenderAnswer is the rendered messages, as POST /prompts/{name}@{version}
// would send them to the model.
type RenderAnswer struct {
	Version  int              `json:"version"`
	Model    string           `json:"model"`
	Messages []prompt.Message `json:"messages"`
}

// GuardrailsAnswer is the configured guardrails and the verdicts of the
// last 24 hours.
type GuardrailsAnswer struct {
	Guardrails []runtime.GuardrailInfo `json:"guardrails"`
	Since      time.Time               `json:"since"`
	Verdicts   []store.VerdictCount    `json:"verdicts"`
}

// CacheModel is one cached model's settings.
type CacheModel struct {
	Model      string  `json:"model"`
	Mode       string  `json:"mode" enum:"exact,semantic"`
	TTLSeconds float64 `json:"ttl_seconds"`
	Threshold  float64 `json:"threshold,omitempty"`
	Embedding  string  `json:"embedding_model,omitempty"`
}

// CacheAnswer is the response cache's settings and the last 24 hours'
// results.
type CacheAnswer struct {
	Scope    string             `json:"scope" enum:"org,global"`
	MaxBytes int64              `json:"max_bytes"`
	Models   []CacheModel       `json:"models"`
	Since    time.Time          `json:"since"`
	Results  []store.CacheCount `json:"results"`
}

// countWindow is how far back the guardrail and cache counts reach.
const countWindow = 24 * time.Hour

func (a *API) consoleReadRoutes(add func(string, authz.Action, func(http.ResponseWriter, *http.Request) error, openapi.Op)) {
	add("POST /admin/v1/prompts/{id}/render", authz.PromptsRead, a.renderPrompt, openapi.Op{ID: "renderPrompt", Tags: []string{"prompts"},
		Summary:     "Render a version with variables (nothing is sent upstream)",
		Description: "Validates the variables as POST /prompts/{name}@{version} does; invalid ones answer 400 naming the JSON pointer.",
		Request:     RenderInput{}, Response: RenderAnswer{}})
	add("GET /admin/v1/guardrails", authz.GatewayRead, a.guardrailsInfo, openapi.Op{ID: "guardrails", Tags: []string{"gateway"},
		Summary:  "The running guardrails (name, type, action, stages, where attached) and the last 24 hours' verdicts",
		Response: GuardrailsAnswer{}})
	add("GET /admin/v1/cache", authz.GatewayRead, a.cacheInfo, openapi.Op{ID: "cache", Tags: []string{"gateway"},
		Summary: "The running response cache settings and the last 24 hours' hits, misses and saved cost", Response: CacheAnswer{}})
}

func (a *API) renderPrompt(w http.ResponseWriter, r *http.Request) error {
	p, err := a.loadPrompt(r, "")
	if err != nil {
		return err
	}
	var in RenderInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.Version < 1 {
		return &httpError{http.StatusBadRequest, "invalid_version", "version must be a version number."}
	}
	v, err := a.opts.Store.PromptVersion(r.Context(), p.ID, in.Version)
	if err != nil {
		return storeError(err, "version")
	}
	c, err := prompt.Compile(v)
	if err != nil {
		return &httpError{http.StatusConflict, "invalid_version", "This version does not compile: " + err.Error()}
	}
	msgs, err := c.Render(in.Variables)
	if err != nil {
		var ve prompt.VariableErrors
		if errors.As(err, &ve) {
			return &httpError{http.StatusBadRequest, "invalid_variables", "Invalid prompt variables: " + ve.Error()}
		}
		return &httpError{http.StatusBadRequest, "invalid_variables", "The prompt could not be rendered with these variables."}
	}
	return writeJSON(w, http.StatusOK, RenderAnswer{Version: v.Number, Model: v.Model, Messages: msgs})
}

func (a *API) guardrailsInfo(w http.ResponseWriter, r *http.Request) error {
	s := a.opts.Snapshots.Load()
	since := time.Now().Add(-countWindow).UTC()
	vs, err := a.opts.Store.GuardrailVerdicts(r.Context(), since)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, GuardrailsAnswer{Guardrails: s.Guardrails.Describe(s.Units), Since: since, Verdicts: vs})
}

func (a *API) cacheInfo(w http.ResponseWriter, r *http.Request) error {
	s := a.opts.Snapshots.Load()
	since := time.Now().Add(-countWindow).UTC()
	out := CacheAnswer{Scope: "org", Models: []CacheModel{}, Since: since}
	if c := s.Cache; c != nil {
		out.MaxBytes = c.MaxBytes
		if c.Global {
			out.Scope = "global"
		}
		for m, ttl := range c.TTL {
			cm := CacheModel{Model: m, Mode: "exact", TTLSeconds: ttl.Seconds()}
			if sc, ok := c.Semantic[m]; ok {
				cm.Mode, cm.Threshold, cm.Embedding = "semantic", sc.Threshold, sc.Embedding
			}
			out.Models = append(out.Models, cm)
		}
	}
	slices.SortFunc(out.Models, func(x, y CacheModel) int { return strings.Compare(x.Model, y.Model) })
	res, err := a.opts.Store.CacheCounts(r.Context(), since)
	if err != nil {
		return err
	}
	out.Results = res
	return writeJSON(w, http.StatusOK, out)
}
