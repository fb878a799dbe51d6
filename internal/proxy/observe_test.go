package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/runtime"
)

// seriesCount counts every series the registry exposes, runtime
// collectors included.
func seriesCount(t *testing.T, reg *metrics.Registry) int {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		n += len(f.GetMetric())
	}
	return n
}

// TestSeriesBounded drives the real handler with 10,000 distinct junk
// model names and 10,000 distinct keys: the number of series stays what a
// handful of requests of the same shapes made.
func TestSeriesBounded(t *testing.T) {
	const n = 10_000
	reg := metrics.NewRegistry()
	var h *Handler
	var rec *recorder
	newEnvWith(t, func(o *Options) {
		o.Metrics = NewMetrics(reg)
		rec = o.Ledger.(*recorder)
		h = New(*o)
	}, func(f *config.File) {
		for i := range n {
			f.Keys = append(f.Keys, config.Key{Name: fmt.Sprintf("k%05d", i), Key: fmt.Sprintf("gw-series-key-%05d", i)})
		}
	})
	mux := http.NewServeMux()
	h.Register(mux)
	send := func(key, model string, stream bool) {
		t.Helper()
		body := fmt.Sprintf(`{"model":%q,"stream":%v,"messages":[{"role":"user","content":"hi"}]}`, model, stream)
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if want := map[bool]int{true: 200, false: 404}[model == "chat-small"]; w.Code != want {
			t.Fatalf("%s %s: %d %s", key, model, w.Code, w.Body)
		}
	}
	// Every shape once: an unknown model, a served one, streamed or not.
	send(clientKey, "junk-model", false)
	send(clientKey, "chat-small", false)
	send(clientKey, "chat-small", true)
	waitLedger(t, rec, 3)
	before := seriesCount(t, reg)

	for i := range n {
		key := fmt.Sprintf("gw-series-key-%05d", i)
		send(key, fmt.Sprintf("junk-%05d-%s", i, strings.Repeat("x", i%200)), false)
		if i%50 == 0 { // distinct keys reaching the upstream too
			send(key, "chat-small", i%100 == 0)
		}
	}
	waitLedger(t, rec, 3+n+n/50)
	if after := seriesCount(t, reg); after != before {
		var b strings.Builder
		_ = reg.Write(&b)
		t.Fatalf("%d series after %d junk models and keys, %d before:\n%s", after, n, before, b.String())
	}
}

func waitLedger(t *testing.T, rec *recorder, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.all()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("ledger has %d entries, want %d", len(rec.all()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestObserveHistograms: which entries reach which histogram, under
// which labels, and with the request id as exemplar.
func TestObserveHistograms(t *testing.T) {
	snap := &runtime.Snapshot{Models: map[string]*runtime.Model{"chat-small": {}}}
	tests := []struct {
		name                 string
		entry                ledger.Entry
		snap                 *runtime.Snapshot
		labels               string
		duration, ttft, tpot uint64 // sample counts
		tpotSum              float64
	}{
		{"streamed ok", ledger.Entry{Endpoint: "chat.completions", Provider: "up", Model: "chat-small", Stream: true, Status: ledger.StatusOK,
			Latency: 3 * time.Second, TTFT: time.Second, OutputTokens: 5}, snap, "chat.completions/up/chat-small", 1, 1, 1, 0.5},
		{"not streamed", ledger.Entry{Endpoint: "chat.completions", Provider: "up", Model: "chat-small", Status: ledger.StatusOK,
			Latency: time.Second, TTFT: time.Second, OutputTokens: 5}, snap, "chat.completions/up/chat-small", 1, 0, 0, 0},
		{"streamed error", ledger.Entry{Endpoint: "messages", Provider: "up", Model: "chat-small", Stream: true, Status: ledger.StatusUpstreamError,
			Latency: time.Second, TTFT: time.Second, OutputTokens: 5}, snap, "messages/up/chat-small", 1, 0, 0, 0},
		{"one output token", ledger.Entry{Endpoint: "chat.completions", Provider: "up", Model: "chat-small", Stream: true, Status: ledger.StatusOK,
			Latency: time.Second, TTFT: time.Second / 2, OutputTokens: 1}, snap, "chat.completions/up/chat-small", 1, 1, 0, 0},
		{"unknown model", ledger.Entry{Endpoint: "chat.completions", Model: "gpt-junk", Status: ledger.StatusClientError,
			Latency: time.Millisecond}, snap, "chat.completions/none/other", 1, 0, 0, 0},
		{"no snapshot", ledger.Entry{Endpoint: "chat.completions", Provider: "up", Model: "chat-small", Status: ledger.StatusOK,
			Latency: time.Millisecond}, nil, "chat.completions/up/other", 1, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := metrics.NewRegistry()
			m := NewMetrics(reg)
			tt.entry.RequestID = "req_test1"
			m.observe(&tt.entry, tt.snap)
			families, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]uint64{}
			var tpotSum float64
			for _, f := range families {
				for _, s := range f.GetMetric() {
					hist := s.GetHistogram()
					if hist == nil || !strings.HasPrefix(f.GetName(), "sluice_") {
						continue
					}
					var l []string
					for _, p := range s.GetLabel() {
						l = append(l, p.GetValue())
					}
					// Labels come sorted by name: endpoint, model, provider.
					if key := l[0] + "/" + l[2] + "/" + l[1]; key != tt.labels {
						t.Errorf("%s labelled %s, want %s", f.GetName(), key, tt.labels)
					}
					got[f.GetName()] = hist.GetSampleCount()
					if f.GetName() == "sluice_time_per_output_token_seconds" {
						tpotSum = hist.GetSampleSum()
					}
					for _, b := range hist.GetBucket() {
						if ex := b.GetExemplar(); ex != nil && (len(ex.GetLabel()) != 1 || ex.GetLabel()[0].GetValue() != "req_test1") {
							t.Errorf("exemplar %v", ex)
						}
					}
				}
			}
			want := map[string]uint64{"sluice_request_duration_seconds": tt.duration}
			if tt.ttft > 0 {
				want["sluice_time_to_first_token_seconds"] = tt.ttft
			}
			if tt.tpot > 0 {
				want["sluice_time_per_output_token_seconds"] = tt.tpot
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("samples %v, want %v", got, want)
			}
			if tpotSum != tt.tpotSum {
				t.Errorf("time per output token %v, want %v", tpotSum, tt.tpotSum)
			}
		})
	}
}

// BenchmarkObserve is the metrics' cost per finished request.
func BenchmarkObserve(b *testing.B) {
	m := NewMetrics(metrics.NewRegistry())
	snap := &runtime.Snapshot{Models: map[string]*runtime.Model{"chat-small": {}}}
	e := ledger.Entry{RequestID: "req_0123456789abcdef", Endpoint: "chat.completions", Provider: "up", Model: "chat-small", ServedModel: "fake-model-1",
		Stream: true, Status: ledger.StatusOK, Latency: 2 * time.Second, TTFT: 300 * time.Millisecond, InputTokens: 100, OutputTokens: 200, CostMicros: 500,
		Attempts: []ledger.Attempt{{Provider: "up", Status: ledger.StatusOK}}}
	b.ReportAllocs()
	for b.Loop() {
		m.observe(&e, snap)
	}
}
