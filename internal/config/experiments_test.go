package config

import (
	"errors"
	"strings"
	"testing"
)

const experimented = `
version: 1
providers: [{name: demo, type: demo}]
models:
  - name: chat
    targets: [{provider: demo, model: demo-chat}, {provider: demo, model: demo-chat-b}]
  - name: other
    targets: [{provider: demo, model: demo-chat}]
orgs: [{name: acme, teams: [{name: web}]}]
prompts:
  - name: greet
    team: acme/web
    versions:
      - {version: 1, model: chat, messages: [{role: system, content: "Hello"}]}
      - {version: 2, model: chat, messages: [{role: system, content: "Hi"}]}
feedback_metrics:
  - {name: helpful, type: boolean}
  - {name: mood, type: category, values: [good, bad]}
`

func TestExperimentsValidate(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // a substring of the one problem's path and message; "" for none
	}{
		{"none", "", ""},
		{"a model's targets", `experiments:
  - name: chat-ab
    model: chat
    unit: user
    metric: helpful
    arms:
      - {name: a, provider: demo, model: demo-chat, weight: 50}
      - {name: b, provider: demo, model: demo-chat-b, weight: 50}
    control: a
`, ""},
		{"a prompt's versions", "experiments: [{name: greet-ab, prompt: greet, metric: success, arms: [{name: v1, prompt_version: 1, weight: 1}, {name: v2, prompt_version: 2, weight: 1}]}]\n", ""},
		{"bad name", "experiments: [{name: \"a b\", model: chat, metric: cost, arms: [{name: a, provider: demo, model: demo-chat, weight: 1}, {name: b, provider: demo, model: demo-chat-b, weight: 1}]}]\n", "experiments[0].name: 1-64"},
		{"unknown model", "experiments: [{name: x, model: nope, metric: cost, arms: [{name: a, provider: demo, model: demo-chat, weight: 1}, {name: b, provider: demo, model: demo-chat-b, weight: 1}]}]\n", "experiments[0].model: no model \"nope\""},
		{"arm not a target", "experiments: [{name: x, model: other, metric: cost, arms: [{name: a, provider: demo, model: demo-chat, weight: 1}, {name: b, provider: demo, model: demo-chat-b, weight: 1}]}]\n", "experiments[0].arms[1]: demo/demo-chat-b is not a target"},
		{"undeclared metric", "experiments: [{name: x, model: chat, metric: stars, arms: [{name: a, provider: demo, model: demo-chat, weight: 1}, {name: b, provider: demo, model: demo-chat-b, weight: 1}]}]\n", "experiments[0].metric: no feedback metric \"stars\""},
		{"category metric", "experiments: [{name: x, model: chat, metric: mood, arms: [{name: a, provider: demo, model: demo-chat, weight: 1}, {name: b, provider: demo, model: demo-chat-b, weight: 1}]}]\n", "experiments[0].metric: \"mood\" is a category"},
		{"one arm", "experiments: [{name: x, model: chat, metric: cost, arms: [{name: a, provider: demo, model: demo-chat, weight: 1}]}]\n", "experiments[0].arms: 2 to 16"},
		{"no weight", "experiments: [{name: x, model: chat, metric: cost, arms: [{name: a, provider: demo, model: demo-chat}, {name: b, provider: demo, model: demo-chat-b}]}]\n", "experiments[0].arms: at least one weight"},
		{"unknown control", "experiments: [{name: x, model: chat, metric: cost, control: c, arms: [{name: a, provider: demo, model: demo-chat, weight: 1}, {name: b, provider: demo, model: demo-chat-b, weight: 1}]}]\n", "experiments[0].control: no arm named \"c\""},
		{"bad unit", "experiments: [{name: x, model: chat, metric: cost, unit: ip, arms: [{name: a, provider: demo, model: demo-chat, weight: 1}, {name: b, provider: demo, model: demo-chat-b, weight: 1}]}]\n", "experiments[0].unit"},
		{"model and prompt", "experiments: [{name: x, model: chat, prompt: greet, metric: cost, arms: [{name: a, prompt_version: 1, weight: 1}, {name: b, prompt_version: 2, weight: 1}]}]\n", "give model"},
		{"undeclared prompt", "experiments: [{name: x, prompt: nope, metric: cost, arms: [{name: a, prompt_version: 1, weight: 1}, {name: b, prompt_version: 2, weight: 1}]}]\n", "experiments[0].prompt: no prompt \"nope\""},
		{"missing prompt version", "experiments: [{name: x, prompt: greet, metric: cost, arms: [{name: a, prompt_version: 1, weight: 1}, {name: b, prompt_version: 3, weight: 1}]}]\n", "experiments[0].arms[1].prompt_version: prompt \"greet\" has no version 3"},
		{"duplicate name", "experiments:\n  - {name: x, model: chat, metric: cost, arms: [{name: a, provider: demo, model: demo-chat, weight: 1}, {name: b, provider: demo, model: demo-chat-b, weight: 1}]}\n  - {name: x, prompt: greet, metric: cost, arms: [{name: a, prompt_version: 1, weight: 1}, {name: b, prompt_version: 2, weight: 1}]}\n", "experiments[1].name: duplicate"},
		{"two on one model", "experiments:\n  - {name: x, model: chat, metric: cost, arms: [{name: a, provider: demo, model: demo-chat, weight: 1}, {name: b, provider: demo, model: demo-chat-b, weight: 1}]}\n  - {name: y, model: chat, metric: cost, arms: [{name: a, provider: demo, model: demo-chat, weight: 1}, {name: b, provider: demo, model: demo-chat-b, weight: 1}]}\n", "experiments[1]: model chat already has experiment \"x\""},
		{"unknown field", "experiments: [{name: x, model: chat, metric: cost, winner: a, arms: []}]\n", "experiments[0].winner"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(experimented+tc.yaml), nil)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("want no problem, got %v", err)
				}
				return
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("want a problem %q, got %v", tc.want, err)
			}
			for _, p := range ps {
				if strings.Contains(p.Path+": "+p.Msg, tc.want) {
					if len(ps) > 1 && tc.name != "unknown field" && tc.name != "model and prompt" {
						t.Fatalf("want one problem %q, got %v", tc.want, ps)
					}
					return
				}
			}
			t.Fatalf("problems %v, want %q", ps, tc.want)
		})
	}
}

// TestFileExperiments: the file's experiments compile with their defaults
// and a stable id, the same on every load.
func TestFileExperiments(t *testing.T) {
	yaml := experimented + "experiments: [{name: greet-ab, prompt: greet, metric: success, arms: [{name: v1, prompt_version: 1, weight: 1}, {name: v2, prompt_version: 2, weight: 3}]}]\n"
	f, err := Parse([]byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	es := f.FileExperiments()
	if len(es) != 1 {
		t.Fatalf("%d experiments", len(es))
	}
	e := es[0]
	if e.ID != "exp_config_greet-ab" || e.Unit != "key" || e.Label != "production" || e.Control != "v1" || e.Status != "running" ||
		len(e.Arms) != 2 || e.Arms[1].Weight != 3 || e.Arms[1].PromptVersion != 2 {
		t.Fatalf("compiled %+v", e)
	}
}
