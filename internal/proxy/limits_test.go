package proxy

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
)

// seededSpend is what the test ledger reports as a key's earlier spend.
var seededSpend int64

const budgetKey = "gw-test-budget-key-0003"

// budgetEnv has a key with a $1.00 budget and a model where one prompt
// token costs exactly $0.01.
func budgetEnv(t *testing.T) *env {
	return newEnv(t, func(f *config.File) {
		f.Models = append(f.Models, config.Model{Name: "cent", Targets: []config.Target{{Provider: "up", Model: "fake-model-1"}},
			Pricing: config.Pricing{InputPerMTok: 10_000, OutputPerMTok: 0}})
		f.Keys = append(f.Keys, config.Key{Name: "budgeted", Key: budgetKey, Limits: config.Limits{RPM: 100_000,
			Budget: &config.Budget{AmountUSD: 1, Period: "monthly", ReserveUSD: 0.01}}})
	})
}

// TestK1BudgetExact: 200 concurrent requests released by a barrier against
// a budget that allows 100 admit exactly 100, stream and non-stream, and
// the spend is exactly the budget.
func TestK1BudgetExact(t *testing.T) {
	for _, stream := range []bool{false, true} {
		name := map[bool]string{false: "non-stream", true: "stream"}[stream]
		t.Run(name, func(t *testing.T) {
			e := budgetEnv(t)
			body := `{"model":"cent","messages":[{"role":"user","content":"hi"}]}`
			if stream {
				body = `{"model":"cent","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
			}
			ok, refused := burst(t, e, 200, body, func(int) string { return budgetKey }, "budget_exceeded")
			if ok != 100 || refused != 100 {
				t.Fatalf("admitted %d, refused %d; want exactly 100 and 100", ok, refused)
			}
			var spent int64
			for _, en := range e.waitEntries(t, 200) {
				spent += en.CostMicros
			}
			if spent != 1_000_000 {
				t.Fatalf("ledger spend %d micro-dollars, want exactly 1,000,000", spent)
			}
			// The key sees its own usage.
			req, _ := http.NewRequest(http.MethodGet, e.server.URL+"/v1/sluice/usage", nil)
			req.Header.Set("Authorization", "Bearer "+budgetKey)
			resp, err := e.server.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var u struct {
				Budget struct {
					SpentMicros, RemainingMicros, AmountMicros int64
				} `json:"budget"`
			}
			raw := readAll(t, resp)
			_ = json.Unmarshal([]byte(strings.NewReplacer("spent_micros", "SpentMicros", "remaining_micros", "RemainingMicros", "amount_micros", "AmountMicros").Replace(raw)), &u)
			if resp.StatusCode != 200 || u.Budget.SpentMicros != 1_000_000 || u.Budget.RemainingMicros != 0 || u.Budget.AmountMicros != 1_000_000 {
				t.Fatalf("usage %d %s", resp.StatusCode, raw)
			}
		})
	}
}

// TestBudgetSeededFromLedger: after a restart the key's earlier spend counts.
func TestBudgetSeededFromLedger(t *testing.T) {
	seededSpend = 990_000
	t.Cleanup(func() { seededSpend = 0 })
	e := budgetEnv(t)
	hdr := map[string]string{"Authorization": "Bearer " + budgetKey, "X-Fake-Prompt-Tokens": "1", "X-Fake-Completion-Tokens": "0"}
	body := `{"model":"cent","messages":[{"role":"user","content":"hi"}]}`
	if resp := e.post(t, "/v1/chat/completions", body, hdr); resp.StatusCode != 200 {
		t.Fatalf("first request: %d", resp.StatusCode)
	}
	resp := e.post(t, "/v1/chat/completions", body, hdr)
	if b := readAll(t, resp); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second request: %d %s", resp.StatusCode, b)
	}
}

// burst sends n requests of one cent each (1 prompt token, no output) at
// once, released by a barrier, with the key keyOf(i), and counts the 200s
// and the 429s whose body holds refusal; any other answer fails the test.
func burst(t *testing.T, e *env, n int, body string, keyOf func(int) string, refusal string) (ok, refused int64) {
	t.Helper()
	var okN, refusedN atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, e.server.URL+"/v1/chat/completions", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+keyOf(i))
			req.Header.Set("X-Fake-Prompt-Tokens", "1")
			req.Header.Set("X-Fake-Completion-Tokens", "0")
			<-start
			resp, err := e.server.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			b := readAll(t, resp)
			switch {
			case resp.StatusCode == 200:
				okN.Add(1)
			case resp.StatusCode == 429 && strings.Contains(b, refusal):
				refusedN.Add(1)
			default:
				t.Errorf("status %d: %s", resp.StatusCode, b)
			}
		}()
	}
	close(start)
	wg.Wait()
	return okN.Load(), refusedN.Load()
}

// TestRateLimitHeaders: an admitted request carries the x-ratelimit-*
// headers of its key's request and token limits, each its own value, and
// none for a limit the key does not have.
func TestRateLimitHeaders(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rpm, tpm int64
		want     map[string]string // "" : absent; "n": a number of at most the limit
	}{
		{"rpm", 5, 0, map[string]string{"X-Ratelimit-Limit-Requests": "5", "X-Ratelimit-Remaining-Requests": "3",
			"X-Ratelimit-Limit-Tokens": "", "X-Ratelimit-Remaining-Tokens": ""}},
		{"tpm", 0, 100000, map[string]string{"X-Ratelimit-Limit-Requests": "", "X-Ratelimit-Remaining-Requests": "",
			"X-Ratelimit-Limit-Tokens": "100000", "X-Ratelimit-Remaining-Tokens": "n"}},
		{"both", 7, 100000, map[string]string{"X-Ratelimit-Limit-Requests": "7", "X-Ratelimit-Remaining-Requests": "5",
			"X-Ratelimit-Limit-Tokens": "100000", "X-Ratelimit-Remaining-Tokens": "n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(f *config.File) {
				f.Keys[1].Limits = config.Limits{RPM: tc.rpm, TPM: tc.tpm}
			})
			var resp *http.Response
			for range 2 {
				resp = e.post(t, "/v1/chat/completions", chatBody, map[string]string{"Authorization": "Bearer " + limitedKey})
				if b := readAll(t, resp); resp.StatusCode != 200 {
					t.Fatalf("%d %s", resp.StatusCode, b)
				}
			}
			for k, want := range tc.want {
				got, ok := resp.Header[k]
				switch {
				case want == "" && ok:
					t.Errorf("%s: %q, want none", k, got)
				case want == "n":
					n, err := strconv.ParseInt(resp.Header.Get(k), 10, 64)
					if len(got) != 1 || err != nil || n < 0 || n > tc.tpm {
						t.Errorf("%s: %q, want one number of at most %d", k, got, tc.tpm)
					}
				case want != "" && (len(got) != 1 || got[0] != want):
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
		})
	}
}
