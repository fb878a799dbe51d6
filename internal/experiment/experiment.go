// Package experiment defines Sluice's experiments: two or more arms
// (targets of a model, or versions of a prompt) between which units (API
// keys, end users or a header's values) are split stickily by
// stats.Assign, and the comparison of the arms from ledger rows and the
// feedback joined to them. It holds no I/O: the store keeps definitions,
// the data plane assigns, the admin API reports.
package experiment

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/stats"
)

// Statuses.
const (
	StatusRunning  = "running"
	StatusStopped  = "stopped"
	StatusPromoted = "promoted"
)

// Built-in metrics, measured on every row (a feedback metric is measured
// on the rows that got feedback).
const (
	MetricSuccess = "success"    // rate of rows that did not fail
	MetricLatency = "latency_ms" // mean latency
	MetricCost    = "cost"       // mean cost, micro-dollars
)

// Arm is one side of an experiment: a target of the model (Provider and
// Model) or a version of the prompt.
type Arm struct {
	Name          string `json:"name"`
	Provider      string `json:"provider,omitempty"`
	Model         string `json:"model,omitempty"`
	PromptVersion int    `json:"prompt_version,omitempty"`
	Weight        uint32 `json:"weight"`
}

// Experiment is an experiment's definition and state.
type Experiment struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Model or Prompt names what is split: a model's targets, or a
	// prompt's versions (assigned by the prompt label's own split).
	Model  string `json:"model,omitempty"`
	Prompt string `json:"prompt,omitempty"`
	// Label is the prompt label whose split serves the versions, and
	// which promotion moves to the winner (default "production").
	Label string `json:"label,omitempty"`
	// Unit is what assignment is sticky to: "key" (default), "user" (the
	// body's user or metadata.user_id) or "header:<name>".
	Unit string `json:"unit"`
	// Metric is a declared feedback metric or a built-in one (success,
	// latency_ms, cost).
	Metric string `json:"metric"`
	Arms   []Arm  `json:"arms"`
	// Control is the arm the others are compared with (default the
	// first).
	Control   string    `json:"control"`
	Status    string    `json:"status"`
	Winner    string    `json:"winner,omitempty"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Validate fills defaults and checks e. metricType returns a feedback
// metric's type (boolean, float or category) and whether it is declared.
func (e *Experiment) Validate(metricType func(string) (string, bool)) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if e.Name == "" || len(e.Name) > 64 || strings.ContainsAny(e.Name, " /\t\r\n") {
		bad("name: 1-64 characters without spaces or slashes")
	}
	if (e.Model == "") == (e.Prompt == "") {
		bad("give model (arms are its targets) or prompt (arms are its versions), not both")
	}
	if e.Unit == "" {
		e.Unit = "key"
	}
	if e.Prompt != "" && e.Label == "" {
		e.Label = "production"
	}
	if e.Model != "" && e.Label != "" {
		bad("label: only a prompt's experiment has one")
	}
	if e.Unit != "key" && e.Unit != "user" && (!strings.HasPrefix(e.Unit, "header:") || len(e.Unit) == len("header:")) {
		bad("unit: key, user or header:<name>")
	}
	switch e.Metric {
	case MetricSuccess, MetricLatency, MetricCost:
	case "":
		bad("metric: a feedback metric or success, latency_ms, cost")
	default:
		if t, ok := metricType(e.Metric); !ok {
			bad("metric: no feedback metric %q is declared", e.Metric)
		} else if t == "category" {
			bad("metric: %q is a category; compare a boolean or float metric", e.Metric)
		}
	}
	if len(e.Arms) < 2 || len(e.Arms) > 16 {
		bad("arms: 2 to 16")
	}
	seen := map[string]bool{}
	var total uint64
	for i, a := range e.Arms {
		if a.Name == "" || len(a.Name) > 64 || seen[a.Name] {
			bad("arms[%d].name: required, at most 64 characters, unique", i)
		}
		seen[a.Name] = true
		if e.Model != "" && (a.Provider == "" || a.Model == "" || a.PromptVersion != 0) {
			bad("arms[%d]: a model's arm names a target (provider and model)", i)
		}
		if e.Prompt != "" && (a.PromptVersion <= 0 || a.Provider != "" || a.Model != "") {
			bad("arms[%d]: a prompt's arm names a prompt_version", i)
		}
		total += uint64(a.Weight)
	}
	if total == 0 && len(e.Arms) > 0 {
		bad("arms: at least one weight must be positive")
	}
	if e.Control == "" && len(e.Arms) > 0 {
		e.Control = e.Arms[0].Name
	}
	if !seen[e.Control] {
		bad("control: no arm named %q", e.Control)
	}
	if e.Status == "" {
		e.Status = StatusRunning
	}
	return errors.Join(errs...)
}

// Weights are the arms' weights, in order.
func (e *Experiment) Weights() []uint32 {
	w := make([]uint32, len(e.Arms))
	for i, a := range e.Arms {
		w[i] = a.Weight
	}
	return w
}

// ArmIndex is the index of the arm named name, or -1.
func (e *Experiment) ArmIndex(name string) int {
	for i, a := range e.Arms {
		if a.Name == name {
			return i
		}
	}
	return -1
}

// Assign returns the arm unit is served by: stats.Assign over the arms'
// weights while running, the winner once promoted, nil when stopped or
// when no arm can take it.
func (e *Experiment) Assign(unit string) *Arm {
	switch e.Status {
	case StatusRunning:
		if i := stats.Assign(e.ID, unit, e.Weights()); i >= 0 {
			return &e.Arms[i]
		}
	case StatusPromoted:
		if i := e.ArmIndex(e.Winner); i >= 0 {
			return &e.Arms[i]
		}
	}
	return nil
}

// Set holds the experiments the data plane applies, swapped whole. Its
// methods are safe for concurrent use; a nil *Set holds none.
type Set struct {
	byModel  atomic.Pointer[map[string]*Experiment]
	byPrompt atomic.Pointer[map[string]*Experiment]
}

// Store replaces the set with the running and promoted experiments of
// all (the first one per model or prompt, oldest first).
func (s *Set) Store(all []Experiment) {
	models, prompts := map[string]*Experiment{}, map[string]*Experiment{}
	for i := range all {
		e := &all[i]
		if e.Status != StatusRunning && e.Status != StatusPromoted {
			continue
		}
		if e.Model != "" && models[e.Model] == nil {
			models[e.Model] = e
		}
		if e.Prompt != "" && prompts[e.Prompt] == nil {
			prompts[e.Prompt] = e
		}
	}
	s.byModel.Store(&models)
	s.byPrompt.Store(&prompts)
}

// ForModel returns the experiment on model, or nil.
func (s *Set) ForModel(model string) *Experiment {
	if s == nil {
		return nil
	}
	if m := s.byModel.Load(); m != nil {
		return (*m)[model]
	}
	return nil
}

// ForPrompt returns the experiment on prompt, or nil.
func (s *Set) ForPrompt(prompt string) *Experiment {
	if s == nil {
		return nil
	}
	if m := s.byPrompt.Load(); m != nil {
		return (*m)[prompt]
	}
	return nil
}
