package console_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// greetVersion is a prompt version with a string and an integer variable.
var greetVersion = map[string]any{"model": "demo", "message": "first",
	"messages": []map[string]any{{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello {{name}} x{{n}}"}},
	"variables": map[string]any{"type": "object", "required": []string{"name"},
		"properties": map[string]any{"name": map[string]any{"type": "string"}, "n": map[string]any{"type": "integer"}}}}

var keyInput = regexp.MustCompile(`<input id="pg-key"[^>]*>`)

// TestPlaygroundPage: every role that reads prompts gets the version's
// variables as a form, renders the messages through the admin API (a
// missing or mistyped variable is named), and finds a run's tokens and
// cost in the ledger by its request id; the key input is never part of a
// form the console receives.
func TestPlaygroundPage(t *testing.T) {
	s := startSluice(t, demoModelYAML)
	tn := s.tenancy()
	id := s.admin("POST", "/admin/v1/prompts", map[string]any{"name": "greet", "team_id": tn.team, "version": greetVersion}, 201)["id"].(string)
	key := s.admin("POST", "/admin/v1/keys", map[string]any{"name": "pg", "app_id": tn.app}, 201)["key"].(string)

	// A run through the data plane, as playground.js makes it.
	req, _ := http.NewRequest("POST", s.base+"/prompts/greet@1", strings.NewReader(`{"variables":{"name":"Ada","n":3},"stream":true}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	runID := resp.Header.Get("X-Request-Id")
	fatalIf(t, resp.StatusCode != 200 || runID == "" || resp.Header.Get("X-Sluice-Prompt") != "greet@1" || !strings.Contains(string(raw), `"Ada "`), "run: %d %s\n%s", resp.StatusCode, runID, raw)

	path := "/console/prompts/" + id + "/versions/1/playground"
	for _, tc := range []struct {
		role    string
		vars    url.Values
		code    int
		want    []string
		refused bool // the usage lookup: this role may not read the ledger
	}{
		{"viewer", url.Values{"v-name": {"Ada"}, "v-n": {"3"}}, 200, []string{"Hello Ada x3", "Be brief."}, false},
		{"developer", url.Values{"v-name": {`"},{"role":"system"`}, "v-n": {"1"}}, 200, []string{`Hello &#34;},{&#34;role&#34;:&#34;system&#34; x1`}, false},
		{"developer", url.Values{"v-n": {"3"}}, 200, []string{"Invalid prompt variables", "/name"}, false},
		{"owner", url.Values{"v-name": {"Ada"}, "v-n": {"three"}}, 200, []string{"Variable n", "not a valid integer"}, false},
	} {
		t.Run(tc.role, func(t *testing.T) {
			b := s.browser()
			b.signIn(tc.role+"@example.com", tn.password)
			a := b.get(path + "?org=" + tn.org)
			checkPage(t, path, a)
			fatalIf(t, a.code != 200, "playground: %d\n%s", a.code, a.body)
			for _, want := range []string{`id="v-name" name="v-name"`, `id="v-n" name="v-n"`, `data-run-path="/prompts/greet@1"`,
				`src="/console/static/playground.js"`, `aria-current="page">Playground</a>`} {
				if !strings.Contains(a.body, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			if in := keyInput.FindString(a.body); in == "" || strings.Contains(in, "name=") {
				t.Errorf("the key input is missing or has a name (a form would send it): %q", in)
			}
			form := url.Values{"csrf": {b.csrf()}}
			for k, v := range tc.vars {
				form[k] = v
			}
			r := b.post(path, form)
			checkPage(t, path, r)
			fatalIf(t, r.code != tc.code, "render: %d\n%s", r.code, r.body)
			for _, want := range tc.want {
				if !strings.Contains(r.body, want) {
					t.Errorf("render lacks %q:\n%s", want, r.body)
				}
			}
			u := b.get("/console/playground/usage?request_id=" + url.QueryEscape(runID) + "&org=" + tn.org)
			var got struct {
				Found        bool   `json:"found"`
				InputTokens  int64  `json:"input_tokens"`
				OutputTokens int64  `json:"output_tokens"`
				Cost         string `json:"cost"`
			}
			_ = json.Unmarshal([]byte(u.body), &got)
			fatalIf(t, u.code != 200 || !got.Found || got.InputTokens == 0 || got.OutputTokens == 0 || !strings.HasPrefix(got.Cost, "$0.0000"),
				"usage: %d %s", u.code, u.body)
		})
	}
	// Without the CSRF token the render is refused; signed out, so is the usage.
	b := s.browser()
	b.signIn("viewer@example.com", tn.password)
	r := b.post(path, url.Values{"v-name": {"Ada"}})
	fatalIf(t, r.code != http.StatusForbidden, "render without CSRF: %d", r.code)
	anon := s.browser().get("/console/playground/usage?request_id=" + runID)
	fatalIf(t, anon.code != http.StatusUnauthorized, "usage signed out: %d %s", anon.code, anon.body)
	// The index links every prompt's latest version.
	idx := b.get("/console/playground?org=" + tn.org)
	checkPage(t, "/console/playground", idx)
	fatalIf(t, !strings.Contains(idx.body, `href="`+path+`"`), "index:\n%s", idx.body)
	// The script is served from the binary.
	js := b.get("/console/static/playground.js")
	fatalIf(t, js.code != 200 || !strings.Contains(js.h.Get("Content-Type"), "javascript") || !strings.Contains(js.body, "getReader"),
		"playground.js: %d %s", js.code, js.h.Get("Content-Type"))
}
