package config

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const prompted = `
version: 1
providers: [{name: demo, type: demo}]
models:
  - name: gpt-4o-mini
    targets: [{provider: demo, model: demo-chat}]
orgs:
  - name: acme
    teams: [{name: search}]
prompts:
  - name: summarize
    team: acme/search
    versions:
      - version: 1
        model: gpt-4o-mini
        messages:
          - {role: system, content: "You summarise text."}
          - {role: user, content: "Summarise: {{text}}"}
        variables: {type: object, required: [text], additionalProperties: false,
                    properties: {text: {type: string, maxLength: 2000}}}
    labels: {production: 1}
`

func TestPromptsParse(t *testing.T) {
	f, err := Parse([]byte(prompted), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	p := f.Prompts[0]
	if p.Name != "summarize" || p.Team != "acme/search" || p.Labels["production"] != 1 || len(p.Versions[0].Messages) != 2 {
		t.Fatalf("decoded %+v", p)
	}
	var schema map[string]any
	if err := json.Unmarshal(p.Versions[0].Variables, &schema); err != nil {
		t.Fatalf("variables are not JSON: %v (%s)", err, p.Versions[0].Variables)
	}
	if schema["type"] != "object" || schema["properties"].(map[string]any)["text"].(map[string]any)["maxLength"] != 2000.0 {
		t.Fatalf("variables %s", p.Versions[0].Variables)
	}
	c, err := PromptVersionOf(p.Versions[0]), error(nil)
	if c.Messages[1].Content != "Summarise: {{text}}" || err != nil {
		t.Fatalf("converted %+v", c)
	}
}

// Each change to the valid file gives one problem at its path.
func TestPromptsProblems(t *testing.T) {
	tests := []struct{ old, new, path, msg string }{
		{"content: \"Summarise: {{text}}\"", "content: \"Summarise: {{text\"", "prompts[0].versions[0].messages[1].content", "template"},
		{"content: \"You summarise text.\"", "content: \"You summarise {{text}}.\"", "prompts[0].versions[0].messages[0].content", "does not bound"},
		{"maxLength: 2000", "maxLength: -1", "prompts[0].versions[0].variables", ""},
		{"{type: object, required", "{type: string, required", "prompts[0].versions[0].variables", "object"},
		{"model: gpt-4o-mini\n        messages", "model: nope\n        messages", "prompts[0].versions[0].model", "no model"},
		{"labels: {production: 1}", "labels: {production: 2}", "prompts[0].labels.production", "no version 2"},
		{"labels: {production: 1}", "labels: {Prod: 1}", "prompts[0].labels.Prod", "lower-case"},
		{"team: acme/search", "team: acme/nope", "prompts[0].team", "no team"},
		{"team: acme/search", "team: search", "prompts[0].team", "org/team"},
		{"- version: 1", "- version: 0", "prompts[0].versions[0].version", "positive"},
		{"name: summarize", "name: sum marize", "prompts[0].name", "characters"},
		{"role: user", "role: tool", "prompts[0].versions[0].messages[1].role", "system, user"},
	}
	for _, tt := range tests {
		if !strings.Contains(prompted, tt.old) {
			t.Fatalf("%q is not in the example", tt.old)
		}
		_, err := Parse([]byte(strings.Replace(prompted, tt.old, tt.new, 1)), env(nil))
		var ps Problems
		if !errors.As(err, &ps) {
			t.Errorf("%s: got %v, want problems", tt.new, err)
			continue
		}
		found := false
		for _, p := range ps {
			if p.Path == tt.path && strings.Contains(p.Msg, tt.msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: problems %v, want one at %s containing %q", tt.new, ps, tt.path, tt.msg)
		}
	}
}

// A duplicate prompt name and a duplicate version number are refused.
func TestPromptsDuplicates(t *testing.T) {
	dup := prompted + `  - name: summarize
    team: acme/search
    versions:
      - {version: 1, model: gpt-4o-mini, messages: [{role: user, content: hi}]}
      - {version: 1, model: gpt-4o-mini, messages: [{role: user, content: hi}]}
`
	_, err := Parse([]byte(dup), env(nil))
	for _, want := range []string{"prompts[1].name", "prompts[1].versions[1].version"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want a problem at %s", err, want)
		}
	}
}
