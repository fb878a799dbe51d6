package console_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestLimitForms: who may set limits on a level (limits.write on the
// level above; the super-admin for an organisation) gets a form that
// PATCHes it through the admin API; everyone else sees the values and no
// form, and a forged post is refused by the API and changes nothing.
func TestLimitForms(t *testing.T) {
	s := startSluice(t, demoModelYAML)
	tn := s.tenancy()
	keyID := s.admin("POST", "/admin/v1/keys", map[string]any{"name": "lim", "app_id": tn.app}, 201)["id"].(string)
	s.admin("PATCH", "/admin/v1/keys/"+keyID, map[string]any{"budget": map[string]any{"amount_usd": 10, "alert_percents": []int{50, 90}}}, 200)

	limits := func(kind, id string) string {
		v := s.admin("GET", "/admin/v1/"+kind+"/"+id, nil, 200)
		if l, ok := v["limits"]; ok {
			return fmt.Sprint(l)
		}
		return fmt.Sprintf("%v %v %v %v %v %v", v["rpm"], v["tpm"], v["max_concurrent"], v["budget_micros"], v["budget_period"], v["alert_percents"])
	}
	type step struct {
		role, kind, id string
		form           bool       // sees the form
		post           url.Values // then posts this (nil: nothing)
		outcome        string     // "msg=" or "err=" in the redirect
		want           string     // the level's limits through the API afterwards
	}
	for i, tc := range []step{
		{"viewer", "team", tn.team, false, url.Values{"rpm": {"7"}}, "err=", "map[]"},
		{"developer", "app", tn.app, false, url.Values{"rpm": {"7"}}, "err=", "map[]"},
		{"owner", "org", tn.org, false, url.Values{"rpm": {"7"}}, "err=", "map[]"},
		{"admin", "team", tn.team, true, url.Values{"rpm": {"60"}, "tpm": {""}, "max_concurrent": {"5"}, "budget_usd": {"12.5"}, "budget_period": {"weekly"}},
			"msg=", "map[budget:map[amount_usd:12.5 period:weekly] max_concurrent:5 rpm:60]"},
		{"admin", "team", tn.team, true, url.Values{"rpm": {"-1"}}, "err=", "map[budget:map[amount_usd:12.5 period:weekly] max_concurrent:5 rpm:60]"},
		{"owner", "team", tn.team, true, url.Values{"rpm": {"60"}, "budget_usd": {""}}, "msg=", "map[rpm:60]"},
		{"owner", "key", keyID, true, url.Values{"rpm": {"100"}, "budget_usd": {"20"}, "budget_period": {"monthly"}}, "msg=",
			"100 <nil> <nil> 2e+07 monthly [50 90]"},
		{"auditor", "key", keyID, false, url.Values{"rpm": {"1"}}, "err=", "100 <nil> <nil> 2e+07 monthly [50 90]"},
	} {
		t.Run(fmt.Sprintf("%d-%s-%s", i, tc.role, tc.kind), func(t *testing.T) {
			b := s.browser()
			b.signIn(tc.role+"@example.com", tn.password)
			path := "/console/limits/" + tc.kind + "/" + tc.id
			a := b.get(path)
			checkPage(t, path, a)
			fatalIf(t, a.code != 200, "limits page: %d\n%s", a.code, a.body)
			if got := len(writeForms(a.body)) > 0; got != tc.form {
				t.Errorf("form shown: %v, want %v", got, tc.form)
			}
			form := url.Values{"csrf": {b.csrf()}}
			for k, v := range tc.post {
				form[k] = v
			}
			r := b.post(path, form)
			fatalIf(t, r.code != http.StatusSeeOther || !strings.Contains(r.h.Get("Location"), tc.outcome), "post: %d %s", r.code, r.h.Get("Location"))
			kinds := map[string]string{"org": "orgs", "team": "teams", "app": "apps", "key": "keys"}
			if got := limits(kinds[tc.kind], tc.id); got != tc.want {
				t.Errorf("limits afterwards %s, want %s", got, tc.want)
			}
		})
	}
	// The super-admin sets an organisation's; the index links every level,
	// one level at a time.
	b := s.browser()
	b.signInToken(adminToken)
	a := b.get("/console/limits/org/" + tn.org)
	fatalIf(t, len(writeForms(a.body)) != 1, "super-admin: no form on the organisation")
	for _, lv := range []struct{ level, want string }{
		{"", "/console/limits/org/" + tn.org}, {"", "/console/limits/team/" + tn.team},
		{"&level=application", "/console/limits/app/" + tn.app}, {"&level=key", "/console/limits/key/" + keyID},
	} {
		idx := b.get("/console/limits/edit?org=" + tn.org + lv.level)
		checkPage(t, "/console/limits/edit", idx)
		if !strings.Contains(idx.body, `href="`+lv.want+`">Edit</a>`) {
			t.Errorf("index%s lacks an edit link to %s", lv.level, lv.want)
		}
	}
	// Without the CSRF token nothing is sent.
	r := b.post("/console/limits/org/"+tn.org, url.Values{"rpm": {"1"}})
	fatalIf(t, r.code != http.StatusForbidden, "post without CSRF: %d", r.code)
}
