package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const wantCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// pages are every page of both faces; {app} is the tenancy's application.
var pages = []string{"/console/", "/console/?window=1h", "/console/?window=7d", "/console/providers", "/console/models",
	"/console/tenancy", "/console/users", "/console/keys", "/console/limits", "/console/ledger", "/console/audit",
	"/console/products", "/console/subscriptions", "/portal/", "/portal/apps", "/portal/apps/{app}"}

var (
	postForm     = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	inlineScript = regexp.MustCompile(`<script(?:\s[^>]*)?>`)
	styleAttr    = regexp.MustCompile(`\sstyle=`)
	onAttr       = regexp.MustCompile(`\son[a-z]+=`)
)

// writeForms lists the actions of a page's POST forms, signing out aside.
func writeForms(body string) []string {
	var out []string
	for _, m := range postForm.FindAllStringSubmatch(body, -1) {
		if m[1] != "/console/logout" {
			out = append(out, m[1])
		}
	}
	return out
}

// checkPage holds every page to the budget and the policy: under 200 KB,
// the CSP header, no inline script, style or event handler.
func checkPage(t *testing.T, path string, a answer) {
	t.Helper()
	if len(a.body) > 200<<10 {
		t.Errorf("%s: %d bytes, over the 200 KB budget", path, len(a.body))
	}
	if got := a.h.Get("Content-Security-Policy"); got != wantCSP {
		t.Errorf("%s: CSP %q", path, got)
	}
	for _, tag := range inlineScript.FindAllString(a.body, -1) {
		if !strings.Contains(tag, ` src="`) {
			t.Errorf("%s: inline script %s", path, tag)
		}
	}
	if styleAttr.MatchString(a.body) || onAttr.MatchString(a.body) || strings.Contains(a.body, "<style") {
		t.Errorf("%s: inline style or event handler", path)
	}
	if a.h.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: Cache-Control %q", path, a.h.Get("Cache-Control"))
	}
}

func TestSignInPagesAndCSRF(t *testing.T) {
	s := startSluice(t, "")
	tn := s.tenancy()
	b := s.browser()

	// Signed out: every page leads to the sign-in page, which sets only
	// a login CSRF cookie (HttpOnly, SameSite=Lax).
	for _, p := range []string{"/console/", "/console/keys", "/portal/apps"} {
		a := b.get(p)
		want := "/console/login?next="
		if strings.HasPrefix(p, "/portal/") {
			want = "/portal/login?next="
		}
		fatalIf(t, a.code != http.StatusSeeOther || !strings.HasPrefix(a.h.Get("Location"), want), "signed out %s: %d %s", p, a.code, a.h.Get("Location"))
	}
	login := b.get("/console/login")
	checkPage(t, "/console/login", login)
	ck := login.h.Get("Set-Cookie")
	fatalIf(t, !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Lax"), "login cookie %q", ck)
	fatalIf(t, strings.Contains(login.body, "single sign-on"), "SSO button shown without OIDC")

	// The login forms need their CSRF token, and a valid token.
	for _, tc := range []struct {
		name, csrf, token string
		code              int
		where             string
	}{
		{"no csrf", "", adminToken, http.StatusForbidden, ""},
		{"wrong csrf", "x" + b.csrf(), adminToken, http.StatusForbidden, ""},
		{"wrong token", b.csrf(), "sla-not-the-token-at-all-000000", http.StatusSeeOther, "/console/login?err="},
	} {
		a := b.post("/console/login/token", url.Values{"csrf": {tc.csrf}, "token": {tc.token}})
		if a.code != tc.code || !strings.HasPrefix(a.h.Get("Location"), tc.where) {
			t.Errorf("%s: %d %q", tc.name, a.code, a.h.Get("Location"))
		}
	}
	a := b.post("/console/login", url.Values{"csrf": {b.csrf()}, "email": {"owner@example.com"}, "password": {"wrong-password-123"}})
	fatalIf(t, a.code != http.StatusSeeOther || !strings.Contains(a.h.Get("Location"), "err=Wrong+email"), "wrong password: %d %q", a.code, a.h.Get("Location"))

	// The first operator signs in with the admin token.
	b.signInToken(adminToken)
	for _, p := range pages {
		p = strings.ReplaceAll(p, "{app}", tn.app)
		a := b.get(p)
		if a.code != http.StatusOK {
			t.Errorf("%s as the admin token: %d\n%s", p, a.code, a.body)
			continue
		}
		checkPage(t, p, a)
	}

	// A form without its CSRF token is refused and changes nothing.
	b.get("/console/tenancy")
	csrf := b.csrf()
	if a := b.post("/console/tenancy", url.Values{"kind": {"orgs"}, "name": {"forged"}}); a.code != http.StatusForbidden {
		t.Fatalf("org created without CSRF: %d", a.code)
	}
	if a := b.post("/console/tenancy", url.Values{"csrf": {csrf + "x"}, "kind": {"orgs"}, "name": {"forged"}}); a.code != http.StatusForbidden {
		t.Fatalf("org created with a wrong CSRF token: %d", a.code)
	}
	a = b.post("/console/tenancy", url.Values{"csrf": {csrf}, "kind": {"orgs"}, "name": {"globex"}})
	fatalIf(t, a.code != http.StatusSeeOther || !strings.Contains(a.h.Get("Location"), "msg="), "create org: %d %q", a.code, a.h.Get("Location"))
	orgs := s.admin("GET", "/admin/v1/orgs", nil, 200)["data"].([]any)
	var names []string
	for _, o := range orgs {
		names = append(names, o.(map[string]any)["name"].(string))
	}
	fatalIf(t, !slices.Contains(names, "globex") || slices.Contains(names, "forged"), "orgs %v", names)

	// A key is shown once, on the answer to its creation.
	b.get("/console/keys?org=" + tn.org)
	a = b.post("/console/keys", url.Values{"csrf": {b.csrf()}, "name": {"ci"}, "app_id": {tn.app}, "org": {tn.org}})
	fatalIf(t, a.code != http.StatusOK || !strings.Contains(a.body, `value="gw-`), "create key: %d\n%s", a.code, a.body)
	list := b.get("/console/keys?org=" + tn.org)
	fatalIf(t, !strings.Contains(list.body, ">ci<") || strings.Contains(list.body, `value="gw-`), "key list shows the key or lacks it:\n%s", list.body)

	// Signing out ends the session.
	b.get("/console/")
	if a := b.post("/console/logout", url.Values{"csrf": {b.csrf()}}); a.code != http.StatusSeeOther {
		t.Fatalf("sign out: %d", a.code)
	}
	if a := b.get("/console/"); a.code != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d", a.code)
	}
}

// TestRolesSeeOnlyTheirControls: the viewer and the auditor see no write
// control on any page; the owner does; and what a page would send for a
// viewer is refused by the API itself.
func TestRolesSeeOnlyTheirControls(t *testing.T) {
	s := startSluice(t, "")
	tn := s.tenancy()
	forms := map[string][]string{}
	for _, role := range []string{"viewer", "auditor", "developer", "owner"} {
		b := s.browser()
		b.signIn(role+"@example.com", tn.password)
		for _, p := range pages {
			p = strings.ReplaceAll(p, "{app}", tn.app)
			a := b.get(p)
			if a.code >= 500 {
				t.Errorf("%s as %s: %d", p, role, a.code)
				continue
			}
			checkPage(t, p, a)
			forms[role] = append(forms[role], writeForms(a.body)...)
		}
		if role == "viewer" {
			// The form is not shown; sent anyway, the API refuses it.
			b.get("/console/keys")
			a := b.post("/console/keys", url.Values{"csrf": {b.csrf()}, "name": {"sneaky"}, "app_id": {tn.app}})
			fatalIf(t, a.code != http.StatusForbidden || strings.Contains(a.body, "gw-"), "viewer created a key: %d\n%s", a.code, a.body)
		}
	}
	for _, role := range []string{"viewer", "auditor"} {
		if len(forms[role]) > 0 {
			t.Errorf("%s sees write controls: %v", role, forms[role])
		}
	}
	for _, want := range []string{"/console/keys", "/portal/apps/" + tn.app + "/keys"} {
		if !slices.Contains(forms["owner"], want) {
			t.Errorf("owner lacks the form %s: %v", want, forms["owner"])
		}
		if !slices.Contains(forms["developer"], want) {
			t.Errorf("developer lacks the form %s: %v", want, forms["developer"])
		}
	}
	if slices.Contains(forms["developer"], "/console/users") {
		t.Errorf("developer sees user creation")
	}
}
