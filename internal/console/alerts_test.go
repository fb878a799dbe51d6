package console_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestAlertPages: a super-admin sees the API's rules (kind, threshold,
// window, filters, channel types) and the states section, and no
// channel secret; an organisation owner is refused, as by the API, and
// has no Alerts nav entry.
func TestAlertPages(t *testing.T) {
	s := startSluice(t, demoModelYAML)
	tn := s.tenancy()
	s.admin("POST", "/admin/v1/alert-rules", map[string]any{"name": "errors-high", "kind": "error_rate", "threshold": 0.25, "window": "5m",
		"where": map[string]string{"model": "demo"}, "notify": []map[string]any{{"type": "webhook", "url": "https://hooks.example.com/x", "secret": "CANARY-secret"}}}, 201)
	super := s.browser()
	super.signInToken(adminToken)
	owner := s.browser()
	owner.signIn("owner@example.com", tn.password)
	for _, tc := range []struct {
		name string
		b    *browser
		code int
		want []string
	}{
		{"super-admin", super, http.StatusOK, []string{"errors-high", "error_rate", "0.25", "5m0s", "model=demo", `<span class="badge">webhook</span>`, "States", `aria-current="page">Alerts</a>`}},
		{"owner", owner, http.StatusForbidden, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.b.get("/console/alerts")
			checkPage(t, "/console/alerts", a)
			fatalIf(t, a.code != tc.code, "alerts page: %d\n%s", a.code, a.body)
			for _, want := range tc.want {
				if !strings.Contains(a.body, want) {
					t.Errorf("alerts page lacks %q", want)
				}
			}
			if strings.Contains(a.body, "CANARY") {
				t.Errorf("alerts page shows a channel secret")
			}
			if tc.code != http.StatusOK {
				home := tc.b.get("/console/")
				fatalIf(t, strings.Contains(home.body, `href="/console/alerts`), "%s has an Alerts nav entry", tc.name)
			}
		})
	}
}
