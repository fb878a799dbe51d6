package console_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestVersionDiffPage: a draft's page shows what it changes against the
// published version (models, prompt APIs, endpoints, the docs line by
// line); publish and deprecate are shown only to who may write the
// product, and a forged publish by a viewer is refused by the API.
func TestVersionDiffPage(t *testing.T) {
	s := startSluice(t, demoModelYAML)
	if s.status("GET", "/admin/v1/products") == http.StatusNotFound {
		t.Skip("this server has no products API")
	}
	tn := s.tenancy()
	s.admin("POST", "/admin/v1/prompts", map[string]any{"name": "greet", "team_id": tn.team, "version": greetVersion}, 201)
	prod := s.admin("POST", "/admin/v1/products", map[string]any{"name": "assistant", "team_id": tn.team, "title": "Assistant",
		"visibility": "internal"}, 201)["id"].(string)
	s.admin("POST", "/admin/v1/products/"+prod+"/versions", map[string]any{"version": "v1", "models": map[string]string{"demo": "demo", "old": "demo"},
		"endpoints": []string{"chat", "messages"}, "docs": "Answers in English.\nKeeps it short.\nSays thanks."}, 201)
	s.admin("POST", "/admin/v1/products/"+prod+"/versions/v1/publish", map[string]any{}, 200)
	s.admin("POST", "/admin/v1/products/"+prod+"/versions", map[string]any{"version": "v2", "models": map[string]string{"demo": "demo", "fast": "demo"},
		"endpoints": []string{"chat", "responses"}, "prompts": []string{"greet"}, "docs": "Answers in English.\nKeeps it very short.\nSays thanks."}, 201)

	path := "/console/products/" + prod + "/versions/v2/diff"
	for _, tc := range []struct {
		role     string
		controls bool
	}{{"viewer", false}, {"developer", false}, {"admin", true}, {"owner", true}} {
		t.Run(tc.role, func(t *testing.T) {
			b := s.browser()
			b.signIn(tc.role+"@example.com", tn.password)
			a := b.get(path)
			checkPage(t, path, a)
			fatalIf(t, a.code != 200, "diff page: %d\n%s", a.code, a.body)
			for _, want := range []string{
				`against <strong>v1</strong>`,
				`<td class="mono">fast</td><td class="mono"><ins>added</ins></td><td class="mono">demo</td>`,
				`<td class="mono">old</td><td class="mono">demo</td><td class="mono"><del>removed</del></td>`,
				`<li><ins>+ greet</ins></li>`, `<li><ins>+ responses</ins></li>`, `<li><del>− messages</del></li>`,
				"  Answers in English.\n<del>- Keeps it short.</del>\n<ins>+ Keeps it very short.</ins>\n  Says thanks.",
			} {
				if !strings.Contains(a.body, want) {
					t.Errorf("diff page lacks %q", want)
				}
			}
			if strings.Contains(a.body, `<td class="mono">demo</td><td class="mono">demo</td>`) {
				t.Errorf("an unchanged model is listed")
			}
			forms := writeForms(a.body)
			publish := "/console/products/" + prod + "/versions/v2/publish"
			if got := slices.Contains(forms, publish); got != tc.controls {
				t.Errorf("publish form shown: %v, want %v (%v)", got, tc.controls, forms)
			}
			if got := slices.Contains(forms, "/console/products/"+prod+"/versions/v1/deprecate"); got != tc.controls {
				t.Errorf("deprecate form shown: %v, want %v", got, tc.controls)
			}
			if !tc.controls {
				r := b.post(publish, url.Values{"csrf": {b.csrf()}})
				fatalIf(t, r.code != http.StatusSeeOther || !strings.Contains(r.h.Get("Location"), "err="), "%s publish: %d %s", tc.role, r.code, r.h.Get("Location"))
			}
		})
	}
	// The owner publishes through the page's form; the version is published.
	b := s.browser()
	b.signIn("owner@example.com", tn.password)
	b.get(path)
	r := b.post("/console/products/"+prod+"/versions/v2/publish", url.Values{"csrf": {b.csrf()}})
	fatalIf(t, r.code != http.StatusSeeOther || !strings.Contains(r.h.Get("Location"), "msg="), "publish: %d %s", r.code, r.h.Get("Location"))
	a := b.get(path + "?against=v1")
	fatalIf(t, !strings.Contains(a.body, `lifecycle-published">published</span> against`), "after publish:\n%s", a.body)
	idx := b.get("/console/product-versions")
	checkPage(t, "/console/product-versions", idx)
	fatalIf(t, !strings.Contains(idx.body, `href="`+path+`"`), "versions index:\n%s", idx.body)
}
