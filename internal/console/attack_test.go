package console_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const xss = `<img src=x onerror=alert(1)>`

// TestAttackConsolePages: markup in a prompt variable's name and
// description, a rendered value and a product version's docs is shown
// escaped on the playground and diff pages; the playground's render form
// refuses a missing or wrong CSRF token; the key a playground run uses
// never reaches the server log or any file of the data directory.
func TestAttackConsolePages(t *testing.T) {
	s := startSluice(t, demoModelYAML)
	tn := s.tenancy()
	v := map[string]any{"model": "demo", "message": xss,
		"messages": []map[string]any{{"role": "user", "content": "Hi {{" + "name" + "}}"}},
		"variables": map[string]any{"type": "object", "properties": map[string]any{
			"name":  map[string]any{"type": "string", "description": xss},
			"a<b>c": map[string]any{"type": "string"}}}}
	id := s.admin("POST", "/admin/v1/prompts", map[string]any{"name": "xss", "team_id": tn.team, "version": v}, 201)["id"].(string)
	key := s.admin("POST", "/admin/v1/keys", map[string]any{"name": "pg", "app_id": tn.app}, 201)["key"].(string)

	b := s.browser()
	b.signIn("viewer@example.com", tn.password)
	path := "/console/prompts/" + id + "/versions/1/playground"
	a := b.get(path + "?org=" + tn.org)
	fatalIf(t, a.code != 200, "playground: %d\n%s", a.code, a.body)
	if strings.Contains(a.body, xss) || strings.Contains(a.body, "a<b>c") {
		t.Errorf("the playground shows markup unescaped:\n%s", a.body)
	}
	for _, csrf := range []string{"", "wrong", b.csrf() + "x"} {
		r := b.post(path, url.Values{"csrf": {csrf}, "v-name": {xss}})
		fatalIf(t, r.code != http.StatusForbidden, "render with CSRF %q: %d", csrf, r.code)
	}
	b.get(path + "?org=" + tn.org)
	r := b.post(path, url.Values{"csrf": {b.csrf()}, "v-name": {xss + "{{name}}"}})
	fatalIf(t, r.code != 200, "render: %d\n%s", r.code, r.body)
	if strings.Contains(r.body, xss) || !strings.Contains(r.body, "Hi &lt;img src=x onerror=alert(1)&gt;{{name}}") {
		t.Errorf("the rendered value is not shown escaped and as written:\n%s", r.body)
	}

	// A run as playground.js makes it, then the usage lookup.
	req, _ := http.NewRequest("POST", s.base+"/prompts/xss@1", strings.NewReader(`{"variables":{"name":"Ada"},"stream":true}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	b.get("/console/playground/usage?request_id=" + url.QueryEscape(resp.Header.Get("X-Request-Id")))
	b.get("/console/playground/usage?request_id=" + url.QueryEscape(key))

	// Product docs on the diff page.
	prod := s.admin("POST", "/admin/v1/products", map[string]any{"name": "assistant", "team_id": tn.team, "title": xss, "visibility": "internal"}, 201)["id"].(string)
	s.admin("POST", "/admin/v1/products/"+prod+"/versions", map[string]any{"version": "v1", "models": map[string]string{"demo": "demo"}, "docs": "ok"}, 201)
	s.admin("POST", "/admin/v1/products/"+prod+"/versions/v1/publish", map[string]any{}, 200)
	s.admin("POST", "/admin/v1/products/"+prod+"/versions", map[string]any{"version": "v2", "models": map[string]string{"demo": "demo", "x<y>": "demo"},
		"docs": "ok\n" + xss + "\njavascript:alert(1)"}, 201)
	d := b.get("/console/products/" + prod + "/versions/v2/diff")
	fatalIf(t, d.code != 200, "diff: %d\n%s", d.code, d.body)
	if strings.Contains(d.body, xss) || strings.Contains(d.body, "x<y>") || !strings.Contains(d.body, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Errorf("the diff page shows markup unescaped (or not at all):\n%s", d.body)
	}

	if strings.Contains(s.logs.String(), key) {
		t.Errorf("the server log holds the playground's key")
	}
	_ = filepath.WalkDir(s.dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		if raw, err := os.ReadFile(p); err == nil && strings.Contains(string(raw), key) {
			t.Errorf("%s holds the playground's key", p)
		}
		return nil
	})
}
