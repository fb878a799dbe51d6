package runtime

import (
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/guard"
)

// GuardrailInfo describes one configured guardrail for reading: its name,
// type, action, stages and what it is attached to. It never holds the
// guardrail's patterns, words, schema, webhook URL or headers.
type GuardrailInfo struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Action string   `json:"action"`
	Stages []string `json:"stages"`
	// Attached lists where it applies: "model chat", "key web-prod",
	// "organisation acme", "team acme/search", "application acme/search/web".
	Attached []string `json:"attached"`
}

// Describe lists the guardrails by name, with where each is attached;
// units names the organisations, teams and applications (the snapshot's
// Units).
func (g *Guardrails) Describe(units map[string]*Unit) []GuardrailInfo {
	if g == nil {
		return []GuardrailInfo{}
	}
	out := []GuardrailInfo{}
	for n, x := range g.byName {
		var stages []string
		for _, s := range []guard.Stage{guard.Input, guard.Output} {
			if x.Runs(s) {
				stages = append(stages, string(s))
			}
		}
		out = append(out, GuardrailInfo{Name: n, Type: x.Type(), Action: string(x.Action()), Stages: stages})
	}
	for n, x := range g.webhooks {
		out = append(out, GuardrailInfo{Name: n, Type: "webhook", Action: logOr(x.LogOnly), Stages: []string{"input"}})
	}
	for n, x := range g.schemas {
		out = append(out, GuardrailInfo{Name: n, Type: "json_schema", Action: logOr(x.LogOnly), Stages: []string{"output"}})
	}
	slices.SortFunc(out, func(a, b GuardrailInfo) int { return strings.Compare(a.Name, b.Name) })
	where := map[string][]string{}
	note := func(m map[string][]string, label func(string) string) {
		for id, names := range m {
			for _, n := range names {
				where[n] = append(where[n], label(id))
			}
		}
	}
	note(g.models, func(id string) string { return "model " + id })
	note(g.keys, func(id string) string { return "key " + id })
	note(g.units, func(id string) string {
		if u := units[id]; u != nil {
			kind := map[string]string{"org": "organisation", "team": "team", "app": "application"}[u.Kind]
			if kind == "" {
				kind = u.Kind
			}
			return kind + " " + u.Path
		}
		return "unit " + id
	})
	for i := range out {
		out[i].Attached = where[out[i].Name]
		slices.Sort(out[i].Attached)
		if out[i].Attached == nil {
			out[i].Attached = []string{}
		}
	}
	return out
}

func logOr(logOnly bool) string {
	if logOnly {
		return "log"
	}
	return "block"
}
