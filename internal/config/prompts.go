package config

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/internal/prompt"
)

// Prompt is a prompt declared in the file: immutable numbered versions
// owned by a team, and labels pointing at them. At load it is synced into
// the store (versions are added, never changed; a label the file sets
// moves when the file's value changes), so that the admin API shows it
// and can move its labels.
type Prompt struct {
	Name        string `yaml:"name"`
	Team        string `yaml:"team"` // org/team, as declared under orgs
	Description string `yaml:"description"`
	// Versions are the prompt's versions, numbered from 1.
	Versions []PromptVersion `yaml:"versions"`
	// Labels point a label (production, staging, any name) at a version.
	Labels map[string]int `yaml:"labels"`
	// Protected labels are moved only by owners and admins of the team's
	// organisation or team.
	Protected []string `yaml:"protected"`
}

// PromptVersion is one version of a declared prompt.
type PromptVersion struct {
	Version  int             `yaml:"version"`
	Model    string          `yaml:"model"`
	Messages []PromptMessage `yaml:"messages"`
	// Params are default request parameters (temperature, max_tokens,
	// tools, response_format, ...).
	Params JSONValue `yaml:"params"`
	// Variables is the JSON Schema of the variables object.
	Variables JSONValue `yaml:"variables"`
	// Output is an optional JSON Schema of the model's output.
	Output JSONValue `yaml:"output"`
	// Message and Author describe the change (the commit message).
	Message string `yaml:"message"`
	Author  string `yaml:"author"`
}

// PromptMessage is a message of a prompt version: a role and a template.
type PromptMessage struct {
	Role    string `yaml:"role"`
	Content string `yaml:"content"`
}

// JSONValue is a YAML value kept as JSON (a schema or parameters).
type JSONValue json.RawMessage

// UnmarshalYAML implements yaml.Unmarshaler.
func (j *JSONValue) UnmarshalYAML(n *yaml.Node) error {
	var v any
	if err := n.Decode(&v); err != nil {
		return err
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*j = b
	return nil
}

// jsonable turns the maps YAML decodes with non-string keys into maps
// with string keys.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
	}
	return v
}

// PromptVersionOf converts a declared version into the prompt package's.
func PromptVersionOf(v PromptVersion) prompt.Version {
	pv := prompt.Version{Number: v.Version, Model: v.Model, Message: v.Message, Author: v.Author,
		Params: json.RawMessage(v.Params), Variables: json.RawMessage(v.Variables), Output: json.RawMessage(v.Output)}
	for _, m := range v.Messages {
		pv.Messages = append(pv.Messages, prompt.Message{Role: m.Role, Content: m.Content})
	}
	return pv
}

// labelName is a label's syntax: it is part of /prompts/{name}@{label}.
var labelName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// ValidLabel reports whether s may name a label (lower-case letters,
// digits, '-' and '_', starting with a letter, at most 32 characters).
func ValidLabel(s string) bool { return labelName.MatchString(s) }

// validatePrompts checks the prompts: names, owning teams, versions (each
// compiled: templates parse, schemas compile, a variable in a system
// message is bounded) and labels.
func (f *File) validatePrompts(models map[string]bool, add adder) {
	teams := map[string]bool{}
	orgs := map[string]bool{}
	for _, o := range f.Orgs {
		orgs[o.Name] = true
		for _, t := range o.Teams {
			teams[o.Name+"/"+t.Name] = true
		}
	}
	names := map[string]bool{}
	for i, p := range f.Prompts {
		at := fmt.Sprintf("prompts[%d]", i)
		if !validName(p.Name) {
			add(at+".name", "must be 1-64 characters of letters, digits, '-', '_' or '.'")
		} else if names[p.Name] {
			add(at+".name", "duplicate prompt %q", p.Name)
		}
		names[p.Name] = true
		org, team, ok := strings.Cut(p.Team, "/")
		switch {
		case p.Team == "":
			add(at+".team", "is required (org/team)")
		case !ok || !validName(org) || !validName(team):
			add(at+".team", "%q is not org/team", p.Team)
		case orgs[org] && !teams[p.Team]:
			add(at+".team", "no team %q (write org/team, as declared under orgs)", p.Team)
		}
		if len(p.Versions) == 0 {
			add(at+".versions", "at least one version is required")
		}
		numbers := map[int]bool{}
		for j, v := range p.Versions {
			at := fmt.Sprintf("%s.versions[%d]", at, j)
			if v.Version < 1 {
				add(at+".version", "must be a positive number")
			} else if numbers[v.Version] {
				add(at+".version", "duplicate version %d", v.Version)
			}
			numbers[v.Version] = true
			if v.Model != "" && models != nil && !models[v.Model] {
				add(at+".model", "no model named %q", v.Model)
			}
			if _, err := prompt.Compile(PromptVersionOf(v)); err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					field, msg, ok := strings.Cut(line, ": ")
					if !ok || strings.ContainsAny(field, " ") {
						add(at, "%s", line)
						continue
					}
					add(at+"."+field, "%s", msg)
				}
			}
		}
		labels := make([]string, 0, len(p.Labels))
		for l := range p.Labels {
			labels = append(labels, l)
		}
		slices.Sort(labels)
		for _, l := range labels {
			if !ValidLabel(l) {
				add(at+".labels."+l, "a label is lower-case letters, digits, '-' and '_', starting with a letter (at most 32)")
			}
			if !numbers[p.Labels[l]] {
				add(at+".labels."+l, "no version %d", p.Labels[l])
			}
		}
		for j, l := range p.Protected {
			if !ValidLabel(l) {
				add(fmt.Sprintf("%s.protected[%d]", at, j), "%q is not a valid label", l)
			}
		}
	}
}
