package console_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestExperimentPages: the list and the results page show per arm n and
// the interval, the difference from the control and the sample-ratio
// check; only a super-admin sees the promote button, and promoting
// through it moves the experiment to its winner.
func TestExperimentPages(t *testing.T) {
	s := startSluice(t, "version: 1\nproviders: [{name: demo, type: demo}]\nmodels:\n"+
		"  - {name: alpha, targets: [{provider: demo, model: demo-chat}, {provider: demo, model: demo-chat-b}]}\n"+
		"keys:\n  - {name: dev, key: gw-test-app-key-000001}\n")
	tn := s.tenancy()
	id := s.admin("POST", "/admin/v1/experiments", map[string]any{"name": "ab", "model": "alpha", "unit": "header:X-Session", "metric": "success",
		"arms": []map[string]any{{"name": "a", "provider": "demo", "model": "demo-chat", "weight": 1}, {"name": "b", "provider": "demo", "model": "demo-chat-b", "weight": 1}}}, 201)["id"].(string)
	const sessions = 20
	for i := range sessions {
		req, _ := http.NewRequest("POST", s.base+"/v1/chat/completions", strings.NewReader(`{"model":"alpha","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer gw-test-app-key-000001")
		req.Header.Set("X-Session", fmt.Sprint("s", i))
		resp, err := http.DefaultClient.Do(req)
		fatalIf(t, err != nil || resp.StatusCode != 200, "chat %d: %v %v", i, err, resp)
		resp.Body.Close()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		res := s.admin("GET", "/admin/v1/experiments/"+id+"/results", nil, 200)
		if res["rows"] == float64(sessions) {
			break
		}
		fatalIf(t, time.Now().After(deadline), "results: %v", res)
	}
	super := s.browser()
	super.signInToken(adminToken)
	owner := s.browser()
	owner.signIn("owner@example.com", tn.password)
	promote := "/console/experiments/" + id + "/promote"
	for _, tc := range []struct {
		name    string
		b       *browser
		code    int
		promote bool
	}{
		{"super-admin", super, http.StatusOK, true},
		{"owner", owner, http.StatusForbidden, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list := tc.b.get("/console/experiments")
			checkPage(t, "/console/experiments", list)
			fatalIf(t, list.code != tc.code, "list: %d", list.code)
			a := tc.b.get("/console/experiments/" + id)
			checkPage(t, "/console/experiments/"+id, a)
			fatalIf(t, a.code != tc.code, "results page: %d\n%s", a.code, a.body)
			if tc.code != http.StatusOK {
				return
			}
			fatalIf(t, !strings.Contains(list.body, `href="/console/experiments/`+id+`"`), "list lacks the experiment:\n%s", list.body)
			for _, want := range []string{"Sample ratio check passed", "Difference from the control", "<td>b</td><td>a</td>", "Interval (confidence 0.95)", "20 ledger rows"} {
				if !strings.Contains(a.body, want) {
					t.Errorf("results page lacks %q", want)
				}
			}
			if got := slices.Contains(writeForms(a.body), promote); got != tc.promote {
				t.Errorf("promote form shown: %v, want %v", got, tc.promote)
			}
		})
	}
	// The owner's forged promotion is refused; the super-admin's goes through.
	owner.get("/console/")
	m := owner.post(promote, url.Values{"csrf": {owner.csrf()}, "arm": {"b"}})
	fatalIf(t, m.code == http.StatusSeeOther && strings.Contains(m.h.Get("Location"), "msg="), "owner promoted: %s", m.h.Get("Location"))
	super.get("/console/experiments/" + id)
	m = super.post(promote, url.Values{"csrf": {super.csrf()}, "arm": {"b"}, "reason": {"b wins"}})
	fatalIf(t, m.code != http.StatusSeeOther || !strings.Contains(m.h.Get("Location"), "msg="), "promote: %d %s %s", m.code, m.h.Get("Location"), m.body)
	a := super.get("/console/experiments/" + id)
	fatalIf(t, !strings.Contains(a.body, "winner <strong>b</strong>") || slices.Contains(writeForms(a.body), promote), "after promotion:\n%s", a.body)
}
