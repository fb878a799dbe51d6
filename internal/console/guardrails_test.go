package console_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

const guardedYAML = "version: 1\nproviders: [{name: demo, type: demo}]\n" +
	"guardrails:\n" +
	"  - {name: pii, type: pii, entities: [email], action: mask, on: [input, output]}\n" +
	"  - {name: no-secrets, type: regex, patterns: [\"sk-[a-z]{20,}\"], action: block}\n" +
	"models:\n" +
	"  - {name: demo, targets: [{provider: demo, model: demo-chat}], pricing: {input_per_mtok: 1, output_per_mtok: 4},\n" +
	"     guardrails: [pii, no-secrets], cache: {mode: exact, ttl: 60s}}\n"

// chat sends one chat completion with key and returns its status.
func (s *sluice) chat(key, text string) int {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.base+"/v1/chat/completions",
		strings.NewReader(`{"model":"demo","messages":[{"role":"user","content":"`+text+`"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestGuardrailsPage: the super-admin sees every guardrail with its type,
// action, stages and attachment, the cache settings, and the last day's
// verdicts and cache hits from the ledger (never a guardrail's patterns);
// roles without gateway read get neither the page nor its nav entry.
func TestGuardrailsPage(t *testing.T) {
	s := startSluice(t, guardedYAML)
	tn := s.tenancy()
	key := s.admin("POST", "/admin/v1/keys", map[string]any{"name": "g", "app_id": tn.app}, 201)["key"].(string)
	for _, tc := range []struct {
		text string
		code int
	}{{"mail ada@example.com", 200}, {"mail ada@example.com", 200}, {"key sk-abcdefghijklmnopqrstuvwxyz", 403}} {
		if got := s.chat(key, tc.text); got != tc.code {
			t.Fatalf("chat %q: %d, want %d", tc.text, got, tc.code)
		}
	}
	s.waitLedger(3)

	b := s.browser()
	b.signInToken(adminToken)
	a := b.get("/console/guardrails")
	checkPage(t, "/console/guardrails", a)
	fatalIf(t, a.code != 200, "guardrails page: %d\n%s", a.code, a.body)
	for _, want := range []string{
		`<td class="mono">no-secrets</td><td>regex</td><td><span class="badge status-blocked">block</span></td><td>input</td>`,
		`<td class="mono">pii</td><td>pii</td><td><span class="badge">mask</span></td><td>input, output</td>`,
		`<span class="badge">model demo</span>`,
		`<td class="mono">demo</td><td>exact</td><td>60 s</td>`,
		`<td class="mono">pii</td><td>mask</td><td>input</td><td>2</td><td>2</td>`,
		`<td class="mono">no-secrets</td><td>block</td><td>input</td><td>1</td><td>1</td>`,
		`<dd id="cache-hits">1</dd>`, `<dd id="cache-misses">1</dd>`, "50.0%",
		`aria-current="page">Guardrails</a>`,
	} {
		if !strings.Contains(a.body, want) {
			t.Errorf("guardrails page lacks %s", want)
		}
	}
	if strings.Contains(a.body, "sk-[a-z]") || strings.Contains(a.body, "ada@example.com") {
		t.Errorf("the page shows a pattern or a matched value")
	}
	for _, role := range []string{"owner", "viewer"} {
		b := s.browser()
		b.signIn(role+"@example.com", tn.password)
		a := b.get("/console/guardrails")
		fatalIf(t, a.code != http.StatusForbidden, "%s: guardrails page %d", role, a.code)
		if o := b.get("/console/"); strings.Contains(o.body, `href="/console/guardrails`) {
			t.Errorf("%s sees the Guardrails nav entry", role)
		}
	}
}
