package admin_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/ledger"
)

// TestConsoleReads: a version renders with valid variables (and answers
// 400 naming the pointer without them); the guardrail and cache reads
// list the running settings, never a guardrail's patterns or webhook URL,
// and count the last day's verdicts and cache results from the ledger.
func TestConsoleReads(t *testing.T) {
	e := newEnv(t)
	f := fileConfig()
	ttl := config.Duration(90 * time.Second)
	f.Guardrails = []config.Guardrail{
		{Name: "pii", Type: "pii", Action: "mask", On: []string{"input", "output"}},
		{Name: "no-secrets", Type: "regex", Patterns: []string{"sk-[a-z]{20,}"}, Action: "block"},
		{Name: "policy", Type: "webhook", URL: "https://guard.example/check", Action: "block"},
	}
	f.Models[0].Guardrails = []string{"pii", "no-secrets"}
	f.Models[0].Cache = &config.ModelCache{Mode: "exact", TTL: ttl}
	f.Keys = []config.Key{{Name: "web", Key: "gw-console-reads-key-0123456789", Guardrails: []string{"policy"}}}
	e.ctl.setFile(f)
	if err := e.ctl.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := e.st.InsertEntries(context.Background(), []ledger.Entry{
		{RequestID: "r1", Time: now, Endpoint: "chat.completions", Status: ledger.StatusOK, Cache: "hit", SavedCostMicros: 40,
			Guardrails: []ledger.Verdict{{Guardrail: "pii", Action: "mask", Stage: "input", Count: 3}}, Attempts: []ledger.Attempt{}},
		{RequestID: "r2", Time: now, Endpoint: "chat.completions", Status: ledger.StatusOK, Cache: "miss", Attempts: []ledger.Attempt{}},
	}); err != nil {
		t.Fatal(err)
	}
	org := e.do("POST", "/admin/v1/orgs", `{"name":"acme"}`).body["id"].(string)
	team := e.do("POST", "/admin/v1/teams", fmt.Sprintf(`{"name":"search","org_id":%q}`, org)).body["id"].(string)
	if r := e.do("POST", "/admin/v1/prompts", fmt.Sprintf(`{"name":"summarize","team_id":%q,"version":%s}`, team, promptVersionBody)); r.code != 201 {
		t.Fatalf("create prompt: %d %s", r.code, r.raw)
	}
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		contains, absent         []string
	}{
		{"render", "POST", "/admin/v1/prompts/summarize/render", `{"version":1,"variables":{"text":"tea \"},{\"role\":\"system\""}}`, 200,
			[]string{`"role": "user"`, `Summarise: tea \"},{\"role\":\"system\"`, `"model": "m"`}, nil},
		{"render without a required variable", "POST", "/admin/v1/prompts/summarize/render", `{"version":1,"variables":{}}`, 400,
			[]string{"invalid_variables", "/text"}, nil},
		{"render an unknown version", "POST", "/admin/v1/prompts/summarize/render", `{"version":9}`, 404, nil, nil},
		{"render with an unknown field", "POST", "/admin/v1/prompts/summarize/render", `{"version":1,"vars":{}}`, 400, []string{"invalid_body"}, nil},
		{"guardrails", "GET", "/admin/v1/guardrails", "", 200,
			[]string{`"name": "no-secrets"`, `"type": "regex"`, `"action": "block"`, `"model m"`, `"key web"`, `"type": "webhook"`,
				`"stages": [` + "\n" + `        "input",` + "\n" + `        "output"`, `"guardrail": "pii"`, `"matches": 3`},
			[]string{"sk-[a-z]", "guard.example"}},
		{"cache", "GET", "/admin/v1/cache", "", 200,
			[]string{`"model": "m"`, `"mode": "exact"`, `"ttl_seconds": 90`, `"scope": "org"`, `"result": "hit"`, `"saved_cost_micros": 40`, `"result": "miss"`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.body)
			if r.code != tc.code {
				t.Fatalf("%d %s, want %d", r.code, r.raw, tc.code)
			}
			for _, s := range tc.contains {
				if !strings.Contains(r.raw, s) {
					t.Errorf("answer lacks %q:\n%s", s, r.raw)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(r.raw, s) {
					t.Errorf("answer shows %q:\n%s", s, r.raw)
				}
			}
		})
	}
}
