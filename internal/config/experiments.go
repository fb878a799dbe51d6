package config

import (
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/internal/experiment"
)

// ExperimentIDPrefix begins the id of every experiment declared in the
// file: the id is this and the name, the same on every node and across
// reloads, so that a unit stays on its arm (the id seeds the assignment).
const ExperimentIDPrefix = "exp_config_"

// Experiment is an experiment declared in the file, in the shape of the
// admin API's create body (POST /admin/v1/experiments). It runs while it
// is in the file; the admin API shows it read-only.
type Experiment struct {
	Name string `yaml:"name"`
	// Model or Prompt names what is split: the model's default-route
	// targets, or the versions of a prompt declared in this file.
	Model  string `yaml:"model"`
	Prompt string `yaml:"prompt"`
	// Label is the prompt's label whose split serves the versions
	// (default production).
	Label string `yaml:"label"`
	// Unit is key (default), user or header:<name>.
	Unit string `yaml:"unit"`
	// Metric is a declared feedback metric, or success, latency_ms, cost.
	Metric  string          `yaml:"metric"`
	Arms    []ExperimentArm `yaml:"arms"`
	Control string          `yaml:"control"`
}

// ExperimentArm is one arm: a target of the model (provider and model) or
// a version of the prompt.
type ExperimentArm struct {
	Name          string `yaml:"name"`
	Provider      string `yaml:"provider"`
	Model         string `yaml:"model"`
	PromptVersion int    `yaml:"prompt_version"`
	Weight        uint32 `yaml:"weight"`
}

// compile returns the experiment as the data plane and the admin API
// hold it, defaults not yet filled.
func (x Experiment) compile() experiment.Experiment {
	e := experiment.Experiment{ID: ExperimentIDPrefix + x.Name, Name: x.Name, Model: x.Model, Prompt: x.Prompt, Label: x.Label,
		Unit: x.Unit, Metric: x.Metric, Control: x.Control, Status: experiment.StatusRunning, CreatedBy: "config"}
	for _, a := range x.Arms {
		e.Arms = append(e.Arms, experiment.Arm{Name: a.Name, Provider: a.Provider, Model: a.Model, PromptVersion: a.PromptVersion,
			Weight: a.Weight})
	}
	return e
}

// FileExperiments returns the experiments the file declares, defaults
// filled, in file order. Call it on a file that validated.
func (f *File) FileExperiments() []experiment.Experiment {
	out := make([]experiment.Experiment, 0, len(f.Experiments))
	for _, x := range f.Experiments {
		e := x.compile()
		_ = e.Validate(f.feedbackType) // fills the defaults; the file validated
		out = append(out, e)
	}
	return out
}

func (f *File) feedbackType(name string) (string, bool) {
	m, ok := f.Feedback(name)
	return m.Type, ok
}

// validateExperiments checks experiments: each as the admin API checks a
// create body, a model's arms against the model's default targets, a
// prompt's against the versions of a prompt declared in this file, and one
// experiment per model or prompt.
func (f *File) validateExperiments(add adder) {
	models := map[string]*Model{}
	for i := range f.Models {
		models[f.Models[i].Name] = &f.Models[i]
	}
	prompts := map[string]*Prompt{}
	for i := range f.Prompts {
		prompts[f.Prompts[i].Name] = &f.Prompts[i]
	}
	names := map[string]bool{}
	subjects := map[string]string{} // "model:x" or "prompt:x" -> the experiment on it
	for i, x := range f.Experiments {
		at := fmt.Sprintf("experiments[%d]", i)
		e := x.compile()
		if err := e.Validate(f.feedbackType); err != nil {
			for _, msg := range strings.Split(err.Error(), "\n") {
				// Validate's messages begin with the field they are about.
				if field, rest, ok := strings.Cut(msg, ": "); ok && !strings.ContainsAny(field, " ,") {
					add(at+"."+field, "%s", rest)
				} else {
					add(at, "%s", msg)
				}
			}
		}
		if names[x.Name] {
			add(at+".name", "duplicate experiment %q", x.Name)
		}
		names[x.Name] = true
		subject := "model:" + x.Model
		if x.Prompt != "" {
			subject = "prompt:" + x.Prompt
		}
		if other, ok := subjects[subject]; ok && x.Model+x.Prompt != "" {
			add(at, "%s already has experiment %q; one experiment per model or prompt", strings.Replace(subject, ":", " ", 1), other)
		} else {
			subjects[subject] = x.Name
		}
		switch {
		case x.Model != "":
			m := models[x.Model]
			if m == nil {
				add(at+".model", "no model %q is declared", x.Model)
				continue
			}
			for j, a := range x.Arms {
				found := false
				for _, t := range m.Targets {
					found = found || (t.Provider == a.Provider && t.Model == a.Model)
				}
				if !found && a.Provider != "" {
					add(fmt.Sprintf("%s.arms[%d]", at, j), "%s/%s is not a target of model %q", a.Provider, a.Model, x.Model)
				}
			}
		case x.Prompt != "":
			p := prompts[x.Prompt]
			if p == nil {
				add(at+".prompt", "no prompt %q is declared in this file", x.Prompt)
				continue
			}
			versions := map[int]bool{}
			for _, v := range p.Versions {
				versions[v.Version] = true
			}
			for j, a := range x.Arms {
				if a.PromptVersion > 0 && !versions[a.PromptVersion] {
					add(fmt.Sprintf("%s.arms[%d].prompt_version", at, j), "prompt %q has no version %d", x.Prompt, a.PromptVersion)
				}
			}
		}
	}
}
