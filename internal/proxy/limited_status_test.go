package proxy

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/ledger"
)

// TestOwnLimitsAreLimited: when Sluice's own limits refuse a request (rpm,
// tpm, concurrency, budget), the ledger says "limited", not
// "upstream_error", and the message says which limit and why; a budget
// refused for its reservation says so.
func TestOwnLimitsAreLimited(t *testing.T) {
	const (
		rpmKey    = "gw-test-rpm-key-00000001"
		tpmKey    = "gw-test-tpm-key-00000001"
		concKey   = "gw-test-conc-key-0000001"
		spentKey  = "gw-test-spent-key-000001"
		bigReqKey = "gw-test-bigreq-key-00001"
	)
	e := newEnv(t, func(f *config.File) {
		f.Models = append(f.Models, config.Model{Name: "pricey", Targets: []config.Target{{Provider: "up", Model: "fake-model-1"}},
			Pricing: config.Pricing{InputPerMTok: 10_000}},
			config.Model{Name: "outpriced", Targets: []config.Target{{Provider: "up", Model: "fake-model-1"}},
				Pricing: config.Pricing{OutputPerMTok: 100}})
		f.Keys = append(f.Keys,
			config.Key{Name: "rpm", Key: rpmKey, Limits: config.Limits{RPM: 1}},
			config.Key{Name: "tpm", Key: tpmKey, Limits: config.Limits{TPM: 1}},
			config.Key{Name: "conc", Key: concKey, Limits: config.Limits{MaxConcurrent: 1}},
			config.Key{Name: "spent", Key: spentKey, Limits: config.Limits{Budget: &config.Budget{AmountUSD: 1, Period: "monthly"}}},
			config.Key{Name: "bigreq", Key: bigReqKey, Limits: config.Limits{Budget: &config.Budget{AmountUSD: 1, Period: "monthly"}}},
		)
	})
	small := `{"model":"chat-small","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name    string
		key     string
		warmup  []string // bodies sent first, expected to pass
		body    string
		hdr     map[string]string
		code    string
		message string
	}{
		{"rpm", rpmKey, []string{small}, small, nil, "rate_limit_exceeded", "1 requests per minute for this key"},
		{"tpm", tpmKey, []string{small}, small, nil, "rate_limit_exceeded", "1 tokens per minute for this key"},
		{"budget spent", spentKey, []string{`{"model":"pricey","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`},
			`{"model":"pricey","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"X-Fake-Prompt-Tokens": "1000", "X-Fake-Completion-Tokens": "0"}, "budget_exceeded", "Budget exhausted for this key"},
		{"budget reservation", bigReqKey, nil, `{"model":"outpriced","max_tokens":20000,"messages":[{"role":"user","content":"hi"}]}`, nil,
			"budget_exceeded", "Reserving $2 for this request would exceed the key's budget: spent $0 of $1 this period."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"Authorization": "Bearer " + tc.key}
			for k, v := range tc.hdr {
				hdr[k] = v
			}
			for _, b := range tc.warmup {
				if resp := e.post(t, "/v1/chat/completions", b, hdr); resp.StatusCode != 200 {
					t.Fatalf("warm-up: %d %s", resp.StatusCode, readAll(t, resp))
				} else {
					readAll(t, resp)
				}
			}
			resp := e.post(t, "/v1/chat/completions", tc.body, hdr)
			body := readAll(t, resp)
			if resp.StatusCode != 429 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var eb struct {
				Error struct{ Code, Message, RequestID string } `json:"error"`
			}
			_ = json.Unmarshal([]byte(body), &eb)
			if eb.Error.Code != tc.code || !strings.Contains(eb.Error.Message, tc.message) {
				t.Fatalf("code %q message %q; want %q containing %q", eb.Error.Code, eb.Error.Message, tc.code, tc.message)
			}
			id := resp.Header.Get("X-Request-Id")
			entry := findEntry(t, e, id)
			if entry.Status != ledger.StatusLimited || entry.HTTPStatus != 429 || entry.Error != eb.Error.Message {
				t.Fatalf("ledger entry status %q/%d error %q", entry.Status, entry.HTTPStatus, entry.Error)
			}
		})
	}
	t.Run("concurrency", func(t *testing.T) {
		// The upstream holds the first request until the second is refused.
		up := &jsonUpstream{gate: make(chan struct{})}
		url, rec := jsonUpstreamEnv(t, up)
		done := make(chan struct{})
		send := func() (int, string, string) {
			req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o-mini"}`))
			req.Header.Set("Authorization", "Bearer "+oneAtATimeKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return 0, "", ""
			}
			return resp.StatusCode, readAll(t, resp), resp.Header.Get("X-Request-Id")
		}
		go func() { defer close(done); send() }()
		for up.in.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		status, body, id := send()
		close(up.gate)
		<-done
		if status != 429 || !strings.Contains(body, "Too many concurrent requests for this key") {
			t.Fatalf("no concurrency refusal: %d %s", status, body)
		}
		if entry := findEntry(t, &env{rec: rec}, id); entry.Status != ledger.StatusLimited {
			t.Fatalf("ledger status %q", entry.Status)
		}
	})
}

func findEntry(t *testing.T, e *env, id string) ledger.Entry {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, en := range e.rec.all() {
			if en.RequestID == id {
				return en
			}
		}
	}
	t.Fatalf("no ledger entry for %s", id)
	return ledger.Entry{}
}
