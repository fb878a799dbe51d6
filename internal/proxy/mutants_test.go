package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/meter"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/runtime"

	"github.com/tidwall/gjson"
)

// Retry-After carries whole seconds, rounded up: a client told to wait less
// than it must would only be refused again.
func TestRetryAfterRoundsUpToWholeSeconds(t *testing.T) {
	tests := []struct {
		wait time.Duration
		want string
	}{
		{0, ""},
		{time.Nanosecond, "1"},
		{999 * time.Millisecond, "1"},
		{time.Second, "1"},
		{time.Second + time.Millisecond, "2"},
		{2 * time.Second, "2"},
		{59*time.Second + 1, "60"},
	}
	h := &Handler{}
	for _, tc := range tests {
		t.Run(tc.wait.String(), func(t *testing.T) {
			c := &Call{in: &ingress{proto: provider.ProtocolOpenAI}, id: "req-1"}
			w := httptest.NewRecorder()
			status, _ := h.writeError(w, c, &Error{Status: http.StatusTooManyRequests, Type: "rate_limit_error",
				Code: "rate_limited", Msg: "slow down", RetryAfter: tc.wait})
			if status != http.StatusTooManyRequests {
				t.Fatalf("status %d, want 429", status)
			}
			got, ok := w.Header()["Retry-After"]
			if tc.want == "" {
				if ok {
					t.Fatalf("Retry-After %q for no wait", got)
				}
				return
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Fatalf("Retry-After %q for %v, want %q", got, tc.wait, tc.want)
			}
		})
	}
}

// Headers the client names in Connection are hop-by-hop and stay here.
func TestForwardHeadersDropsConnectionNamedHeaders(t *testing.T) {
	tests := []struct {
		name string
		in   http.Header
		kept []string
		gone []string
	}{
		{"no connection header", http.Header{"X-Trace": {"1"}, "X-Hop": {"2"}}, []string{"X-Trace", "X-Hop"}, nil},
		{"one named", http.Header{"Connection": {"x-hop"}, "X-Trace": {"1"}, "X-Hop": {"2"}}, []string{"X-Trace"}, []string{"X-Hop", "Connection"}},
		{"list with spaces", http.Header{"Connection": {"keep-alive, X-Hop ,x-other"}, "X-Trace": {"1"}, "X-Hop": {"2"}, "X-Other": {"3"}}, []string{"X-Trace"}, []string{"X-Hop", "X-Other"}},
		{"several values", http.Header{"Connection": {"x-hop", "x-other"}, "X-Hop": {"2"}, "X-Other": {"3"}, "X-Trace": {"1"}}, []string{"X-Trace"}, []string{"X-Hop", "X-Other"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := forwardHeaders(tc.in)
			for _, k := range tc.kept {
				if out.Get(k) != tc.in.Get(k) {
					t.Errorf("%s = %q, want %q", k, out.Get(k), tc.in.Get(k))
				}
			}
			for _, k := range tc.gone {
				if _, ok := out[k]; ok {
					t.Errorf("%s forwarded: %q", k, out[k])
				}
			}
		})
	}
}

// A tool's name is part of what the client sends, so it counts toward the
// estimate.
func TestEstimateRequestCountsToolNames(t *testing.T) {
	long := strings.Repeat("lookup_weather_forecast_", 40)
	tests := []struct {
		name  string
		tools []llm.Tool
	}{
		{"name only", []llm.Tool{{Name: long}}},
		{"name beside description", []llm.Tool{{Name: long, Description: "d"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bare := make([]llm.Tool, len(tc.tools))
			for i, tl := range tc.tools {
				tl.Name = ""
				bare[i] = tl
			}
			with := estimateRequest(&llm.Request{Tools: tc.tools})
			without := estimateRequest(&llm.Request{Tools: bare})
			if with <= without+10 {
				t.Fatalf("estimate with a %d-byte tool name %d, without %d", len(long), with, without)
			}
		})
	}
}

// The unknown-URL error names the method and the path the client used.
func TestUnknownURLMessageNamesMethodAndPath(t *testing.T) {
	e := newEnv(t)
	tests := []struct{ path, want string }{
		{"/v1/x", "Unknown request URL: POST /v1/x."},
		{"/v1/nope/deeper", "Unknown request URL: POST /v1/nope/deeper."},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp := e.post(t, tc.path, `{}`, map[string]string{"Authorization": "Bearer " + clientKey})
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var raw struct {
				Error struct{ Message string } `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &raw); err != nil {
				t.Fatal(err)
			}
			if raw.Error.Message != tc.want {
				t.Fatalf("message %q, want %q", raw.Error.Message, tc.want)
			}
		})
	}
}

// An answer without usage is metered from every choice's content, not only
// the first.
func TestPassthroughUsageCountsEveryChoice(t *testing.T) {
	h := &Handler{}
	c := &Call{in: &ingress{proto: provider.ProtocolOpenAI, op: provider.OpChat}}
	fs := &forwardSpec{body: []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)}
	one := `{"message":{"role":"assistant","content":"the quick brown fox jumps over the lazy dog"}}`
	tests := []struct {
		name    string
		choices int
	}{
		{"one choice", 1},
		{"two choices", 2},
		{"three choices", 3},
	}
	per := meter.CountText("the quick brown fox jumps over the lazy dog")
	if per == 0 {
		t.Fatal("the sample text counts no tokens")
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := `{"id":"x","choices":[` + strings.TrimSuffix(strings.Repeat(one+",", tc.choices), ",") + `]}`
			u := h.passthroughUsage(c, fs, []byte(data), gjson.GetBytes([]byte(data), "usage"))
			if !u.Estimated || u.InputTokens == 0 {
				t.Fatalf("usage %+v, want an estimate with input", u)
			}
			if want := per * int64(tc.choices); u.OutputTokens != want {
				t.Fatalf("output tokens %d for %d choices, want %d", u.OutputTokens, tc.choices, want)
			}
		})
	}
}

// Time per output token is measured over the tokens after the first, so
// two output tokens give one sample: the gap between them.
func TestObserveTimePerOutputTokenFromTwoTokens(t *testing.T) {
	snap := &runtime.Snapshot{Models: map[string]*runtime.Model{"chat-small": {}}}
	tests := []struct {
		tokens  int64
		latency time.Duration // the first token comes at one second
		samples uint64
		sum     float64
	}{
		{1, 3 * time.Second, 0, 0},
		{2, 3 * time.Second, 1, 2},
		{3, 3 * time.Second, 1, 1},
		{3, time.Second, 0, 0}, // everything came at once: nothing to time
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.tokens, "/", tc.latency), func(t *testing.T) {
			reg := metrics.NewRegistry()
			m := NewMetrics(reg)
			m.observe(&ledger.Entry{RequestID: "req_1", Endpoint: "chat.completions", Provider: "up", Model: "chat-small", Stream: true,
				Status: ledger.StatusOK, Latency: tc.latency, TTFT: time.Second, OutputTokens: tc.tokens}, snap)
			families, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var samples uint64
			var sum float64
			for _, f := range families {
				if f.GetName() != "sluice_time_per_output_token_seconds" {
					continue
				}
				for _, s := range f.GetMetric() {
					samples += s.GetHistogram().GetSampleCount()
					sum += s.GetHistogram().GetSampleSum()
				}
			}
			if samples != tc.samples || sum != tc.sum {
				t.Fatalf("%d tokens: %d samples summing %v, want %d summing %v", tc.tokens, samples, sum, tc.samples, tc.sum)
			}
		})
	}
}

// A handler that panics still leaves one ledger row: a client that went
// away (http.ErrAbortHandler) is recorded as cancelled and the panic goes
// on to net/http; any other panic becomes a 500 and stops here.
func TestEndpointPanicsLeaveOneLedgerRow(t *testing.T) {
	tests := []struct {
		name       string
		panicWith  any
		repanics   bool
		wantStatus ledger.Status
		wantHTTP   int
	}{
		{"client gone", http.ErrAbortHandler, true, ledger.StatusCancelled, 499},
		{"bug", "boom", false, ledger.StatusUpstreamError, 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			h := New(Options{Ledger: rec})
			// The chain's own first steps, then a step that panics once the
			// request has a key.
			h.chain = compose([]Step{stepFunc{"requestid", requestID}, stepFunc{"settle_and_record", h.settle},
				stepFunc{"panics", func(_ context.Context, c *Call, _ Next) error {
					c.key = &runtime.Key{ID: "key_1", Name: "dev"}
					panic(tc.panicWith)
				}}})
			hd := h.endpoint(&ingress{endpoint: "chat.completions", proto: provider.ProtocolOpenAI})
			w := httptest.NewRecorder()
			var got any
			func() {
				defer func() { got = recover() }()
				hd.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(`{}`)))
			}()
			if tc.repanics != (got == tc.panicWith) || (!tc.repanics && got != nil) {
				t.Fatalf("recovered %v after the handler panicked with %v", got, tc.panicWith)
			}
			entries := rec.all()
			if len(entries) != 1 {
				t.Fatalf("%d ledger entries, want 1: %+v", len(entries), entries)
			}
			if e := entries[0]; e.Status != tc.wantStatus || e.HTTPStatus != tc.wantHTTP || e.KeyID != "key_1" {
				t.Fatalf("entry %s/%d key %q, want %s/%d key_1", e.Status, e.HTTPStatus, e.KeyID, tc.wantStatus, tc.wantHTTP)
			}
			if !tc.repanics && w.Code != http.StatusInternalServerError {
				t.Fatalf("client got %d, want 500", w.Code)
			}
		})
	}
}

// A budget's per-request reservation, however small, replaces the worst
// case estimate: one micro-dollar reserved fits what is left of the budget
// where the estimate would not.
func TestBudgetReserveReplacesEstimate(t *testing.T) {
	seededSpend = 999_990 // ten micro-dollars left of $1
	t.Cleanup(func() { seededSpend = 0 })
	tests := []struct {
		name    string
		reserve float64
		want    int
	}{
		{"estimate", 0, http.StatusTooManyRequests},
		{"one micro-dollar reserved", 0.000001, http.StatusOK},
		{"ten micro-dollars reserved", 0.00001, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(f *config.File) {
				f.Models = append(f.Models, config.Model{Name: "cent", Targets: []config.Target{{Provider: "up", Model: "fake-model-1"}},
					Pricing: config.Pricing{InputPerMTok: 10_000, OutputPerMTok: 0}})
				f.Keys = append(f.Keys, config.Key{Name: "budgeted", Key: budgetKey, Limits: config.Limits{
					Budget: &config.Budget{AmountUSD: 1, Period: "monthly", ReserveUSD: tc.reserve}}})
			})
			hdr := map[string]string{"Authorization": "Bearer " + budgetKey, "X-Fake-Prompt-Tokens": "0", "X-Fake-Completion-Tokens": "0"}
			resp := e.post(t, "/v1/chat/completions", `{"model":"cent","messages":[{"role":"user","content":"hi"}]}`, hdr)
			if b := readAll(t, resp); resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, b)
			}
		})
	}
}
