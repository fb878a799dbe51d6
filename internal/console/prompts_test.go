package console_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

const demoModelYAML = "version: 1\nproviders: [{name: demo, type: demo}]\nmodels:\n" +
	"  - {name: demo, targets: [{provider: demo, model: demo-chat}], pricing: {input_per_mtok: 1, output_per_mtok: 4}}\n"

// TestPromptPages: every role that may read prompts sees the list, the
// versions, the labels, their history and a diff; only who may write
// sees the move-label form; a move through the form lands in the history,
// and a viewer's forged move is refused by the API.
func TestPromptPages(t *testing.T) {
	s := startSluice(t, demoModelYAML)
	tn := s.tenancy()
	v := func(text string) map[string]any {
		return map[string]any{"model": "demo", "message": "say " + text,
			"messages":  []map[string]any{{"role": "user", "content": text + ": {{name}}"}},
			"variables": map[string]any{"type": "object", "required": []string{"name"}, "properties": map[string]any{"name": map[string]any{"type": "string"}}}}
	}
	id := s.admin("POST", "/admin/v1/prompts", map[string]any{"name": "greet", "team_id": tn.team, "protected": []string{"production"}, "version": v("Hello")}, 201)["id"].(string)
	s.admin("POST", "/admin/v1/prompts/greet/versions", v("Goodbye"), 201)
	s.admin("PUT", "/admin/v1/prompts/greet/labels/staging", map[string]any{"version": 1, "reason": "first cut"}, 200)

	for _, tc := range []struct {
		role     string
		form     bool // sees the move-label form
		moveCode int  // what a move through the form gets (a redirect carries the API's answer)
		moveMsg  string
	}{
		{"viewer", false, http.StatusSeeOther, "err="},
		{"auditor", false, http.StatusSeeOther, "err="},
		{"developer", true, http.StatusSeeOther, "msg="},
		{"owner", true, http.StatusSeeOther, "msg="},
	} {
		t.Run(tc.role, func(t *testing.T) {
			b := s.browser()
			b.signIn(tc.role+"@example.com", tn.password)
			list := b.get("/console/prompts")
			checkPage(t, "/console/prompts", list)
			fatalIf(t, list.code != 200 || !strings.Contains(list.body, `href="/console/prompts/`+id+`"`) ||
				!strings.Contains(list.body, "staging → 1"), "list: %d\n%s", list.code, list.body)
			fatalIf(t, !strings.Contains(list.body, `aria-current="page">Prompts</a>`), "no Prompts nav entry")

			path := "/console/prompts/" + id + "?from=1&to=2"
			a := b.get(path)
			checkPage(t, path, a)
			fatalIf(t, a.code != 200, "prompt page: %d\n%s", a.code, a.body)
			for _, want := range []string{"say Hello", "say Goodbye", "Version 1 → 2", "Goodbye: {{name}}", "first cut", "production"} {
				if !strings.Contains(a.body, want) {
					t.Errorf("prompt page lacks %q", want)
				}
			}
			forms := writeForms(a.body)
			if got := slices.Contains(forms, "/console/prompts/"+id+"/labels"); got != tc.form {
				t.Errorf("move-label form shown: %v, want %v", got, tc.form)
			}
			label := "canary-" + tc.role
			m := b.post("/console/prompts/"+id+"/labels", url.Values{"csrf": {b.csrf()}, "label": {label}, "version": {"2"}, "reason": {"by " + tc.role}})
			fatalIf(t, m.code != tc.moveCode || !strings.Contains(m.h.Get("Location"), tc.moveMsg), "move as %s: %d %s", tc.role, m.code, m.h.Get("Location"))
			hist := s.admin("GET", "/admin/v1/prompts/greet/history?label="+label, nil, 200)["data"].([]any)
			if moved := len(hist) == 1; moved != tc.form {
				t.Errorf("%s moved the label: %v (history %v)", tc.role, moved, hist)
			}
			if tc.form {
				a = b.get("/console/prompts/" + id)
				fatalIf(t, !strings.Contains(a.body, "by "+tc.role), "the move is not in the page's history")
			}
		})
	}
	// A protected label: the developer sees the form, the API refuses.
	b := s.browser()
	b.signIn("developer@example.com", tn.password)
	b.get("/console/prompts/" + id)
	m := b.post("/console/prompts/"+id+"/labels", url.Values{"csrf": {b.csrf()}, "label": {"production"}, "version": {"2"}})
	fatalIf(t, m.code != http.StatusSeeOther || !strings.Contains(m.h.Get("Location"), "err="), "developer moved production: %s", m.h.Get("Location"))
	_ = fmt.Sprint
}
