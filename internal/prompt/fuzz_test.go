package prompt

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzRender parses arbitrary templates and renders them with arbitrary
// values. It must never panic; a compiled version always renders as many
// messages as it has; and a value is inserted verbatim: rendering with the
// value gives exactly what rendering with a plain marker gives, with the
// marker replaced by the value.
func FuzzRender(f *testing.F) {
	for _, tmpl := range []string{
		"Summarise: {{v}}",
		"{{#xs}}<{{.}}>{{/xs}}{{^xs}}none{{/xs}}",
		"{{#os}}{{k}}={{v}}\n{{/os}}",
		"List:\n{{#xs}}\n- {{.}}\n{{/xs}}\nEnd",
		"{{>x}}", "{{=<% %>=}}", "{{#a}}", "{{{v}}}", "{{ v }}{{v.w}}",
	} {
		for _, v := range hostileValues {
			f.Add(tmpl, v)
		}
	}
	const marker = "MARKER7f3a"
	f.Fuzz(func(t *testing.T, tmpl, val string) {
		if strings.Contains(tmpl, marker) || strings.Contains(val, marker) {
			return
		}
		vars := func(s string) map[string]any {
			return map[string]any{
				"v":  s,
				"xs": []any{s, s},
				"os": []any{map[string]any{"k": s, "v": s}},
			}
		}
		tp, err := Parse(tmpl)
		if err != nil {
			return
		}
		withVal, errVal := tp.Render(vars(val))
		withMarker, errMarker := tp.Render(vars(marker))
		if (errVal == nil) != (errMarker == nil) && len(val) < MaxRenderedBytes/64 {
			t.Fatalf("Render(%q) errors differ by value: %v vs %v", tmpl, errVal, errMarker)
		}
		if errVal == nil && errMarker == nil {
			if want := strings.ReplaceAll(withMarker, marker, val); withVal != want {
				t.Fatalf("Render(%q, %q) = %q, want %q", tmpl, val, withVal, want)
			}
		}

		// The same template as a message of a compiled version, between two
		// fixed messages.
		c, err := Compile(Version{
			Model: "m",
			Messages: []Message{
				{Role: "system", Content: "fixed"},
				{Role: "user", Content: tmpl},
				{Role: "assistant", Content: "done"},
			},
			Variables: json.RawMessage(`{"type":"object","additionalProperties":true,"properties":{
				"v":{"type":"string"},
				"xs":{"type":"array","items":{"type":"string"}},
				"os":{"type":"array","items":{"type":"object","properties":{"k":{"type":"string"},"v":{"type":"string"}}}}}}`),
		})
		if err != nil {
			return
		}
		raw, err := json.Marshal(vars(val))
		if err != nil {
			return
		}
		msgs, err := c.Render(raw)
		if err != nil {
			return
		}
		if len(msgs) != 3 || msgs[0] != (Message{"system", "fixed"}) || msgs[1].Role != "user" || msgs[2] != (Message{"assistant", "done"}) {
			t.Fatalf("Render(%q, %q) = %q, want three messages with the fixed ones intact", tmpl, val, msgs)
		}
	})
}
