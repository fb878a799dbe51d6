package proxy

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/trace"
)

const (
	clientTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpanID  = "00f067aa0ba902b7"
)

// failing is an upstream that answers 503 and keeps the traceparent it
// was sent.
type failing struct {
	mu          sync.Mutex // guards traceparent
	traceparent []string
}

func (f *failing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.traceparent = append(f.traceparent, r.Header.Get("Traceparent"))
	f.mu.Unlock()
	http.Error(w, `{"error":{"message":"overloaded","type":"server_error"}}`, http.StatusServiceUnavailable)
}

func spanAttrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// TestTraceSpans sends a request whose first target fails over to the
// second through the data plane: one SERVER span continuing the client's
// trace, one CLIENT span per attempt under it, each attempt's traceparent
// sent upstream, and the trace id in the ledger entry.
func TestTraceSpans(t *testing.T) {
	bad := &failing{}
	badSrv := httptest.NewServer(bad)
	t.Cleanup(badSrv.Close)
	exp := tracetest.NewInMemoryExporter()
	var tr *trace.Tracer
	e := newEnvWith(t, func(o *Options) {
		var err error
		tr, err = trace.New(t.Context(), &config.OTLP{Endpoint: "http://127.0.0.1:1"}, trace.Options{Exporter: exp})
		if err != nil {
			t.Fatal(err)
		}
		o.Tracer = tr
	}, func(f *config.File) {
		f.Providers = append(f.Providers, config.Provider{Name: "flaky", Type: "openai", BaseURL: badSrv.URL + "/v1"})
		f.Models = append(f.Models, config.Model{Name: "traced", Routing: config.Routing{Policy: "priority"},
			Targets: []config.Target{{Provider: "flaky", Model: "first"}, {Provider: "up", Model: "fake-model-1"}}})
	})
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })

	tests := []struct {
		name        string
		traceparent string
		wantTrace   string // "" for a new trace
	}{
		{"continues the client's trace", "00-" + clientTraceID + "-" + clientSpanID + "-01", clientTraceID},
		{"starts a trace", "", ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp.Reset()
			hdr := map[string]string{"Authorization": "Bearer " + clientKey}
			if tc.traceparent != "" {
				hdr["Traceparent"] = tc.traceparent
			}
			resp := e.post(t, "/v1/chat/completions", `{"model":"traced","messages":[{"role":"user","content":"hi"}]}`, hdr)
			if body := readAll(t, resp); resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			entry := e.waitEntries(t, i+1)[i]
			if err := tr.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			spans := exp.GetSpans().Snapshots()
			if len(spans) != 3 {
				t.Fatalf("%d spans, want 3 (server and two attempts)", len(spans))
			}
			var server sdktrace.ReadOnlySpan
			var attempts []sdktrace.ReadOnlySpan
			for _, s := range spans {
				switch s.SpanKind() {
				case oteltrace.SpanKindServer:
					server = s
				case oteltrace.SpanKindClient:
					attempts = append(attempts, s)
				}
			}
			if server == nil || len(attempts) != 2 {
				t.Fatalf("want one SERVER and two CLIENT spans, got %d spans", len(spans))
			}
			traceID := server.SpanContext().TraceID().String()
			if tc.wantTrace != "" && traceID != tc.wantTrace {
				t.Fatalf("trace %s, want the client's %s", traceID, tc.wantTrace)
			}
			if tc.wantTrace != "" && server.Parent().SpanID().String() != clientSpanID {
				t.Errorf("server span's parent %s, want the client's span", server.Parent().SpanID())
			}
			if entry.TraceID != traceID {
				t.Errorf("ledger trace id %q, want the span's %q", entry.TraceID, traceID)
			}
			if server.Name() != "chat traced" {
				t.Errorf("server span named %q", server.Name())
			}
			sa := spanAttrs(server)
			for k, want := range map[attribute.Key]string{"gen_ai.request.model": "traced", "gen_ai.response.model": "fake-model-1",
				"gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat", "sluice.request_id": entry.RequestID,
				"sluice.route": resp.Header.Get("X-Sluice-Route")} {
				if got := sa[k].AsString(); got != want {
					t.Errorf("server %s = %q, want %q", k, got, want)
				}
			}
			if fr := sa["gen_ai.response.finish_reasons"].AsStringSlice(); len(fr) != 1 || fr[0] != "stop" {
				t.Errorf("server finish reasons %v, want [stop]", fr)
			}
			if got := sa["gen_ai.usage.input_tokens"].AsInt64(); got != entry.InputTokens || got == 0 {
				t.Errorf("server input tokens %d, ledger %d", got, entry.InputTokens)
			}
			for n, a := range attempts {
				if a.Parent().SpanID() != server.SpanContext().SpanID() || a.SpanContext().TraceID() != server.SpanContext().TraceID() {
					t.Errorf("attempt %d is not a child of the server span", n+1)
				}
			}
			first, second := attempts[0], attempts[1]
			if spanAttrs(first)["sluice.attempt"].AsInt64() != 1 {
				first, second = second, first
			}
			if got := spanAttrs(second)["sluice.fallback_reason"].AsString(); got != "http_503" {
				t.Errorf("second attempt's fallback reason %q, want http_503", got)
			}
			if got := spanAttrs(first)["http.response.status_code"].AsInt64(); got != 503 {
				t.Errorf("first attempt's status %d, want 503", got)
			}
			bad.mu.Lock()
			sent := bad.traceparent[len(bad.traceparent)-1]
			bad.mu.Unlock()
			want := "00-" + traceID + "-" + first.SpanContext().SpanID().String() + "-01"
			if sent != want {
				t.Errorf("upstream got traceparent %q, want the attempt's %q", sent, want)
			}
		})
	}
}

// TestTraceIDWithoutTracing: with tracing off, a client's traceparent
// still names the trace in the ledger and reaches the upstream as sent.
func TestTraceIDWithoutTracing(t *testing.T) {
	bad := &failing{}
	badSrv := httptest.NewServer(bad)
	t.Cleanup(badSrv.Close)
	e := newEnv(t, func(f *config.File) {
		f.Providers = append(f.Providers, config.Provider{Name: "flaky", Type: "openai", BaseURL: badSrv.URL + "/v1"})
		f.Models = append(f.Models, config.Model{Name: "traced", Targets: []config.Target{{Provider: "flaky", Model: "first"}}})
	})
	tp := "00-" + clientTraceID + "-" + clientSpanID + "-01"
	resp := e.post(t, "/v1/chat/completions", `{"model":"traced","messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"Authorization": "Bearer " + clientKey, "Traceparent": tp})
	readAll(t, resp)
	if got := e.waitEntries(t, 1)[0].TraceID; got != clientTraceID {
		t.Errorf("ledger trace id %q, want the client's", got)
	}
	bad.mu.Lock()
	defer bad.mu.Unlock()
	if len(bad.traceparent) != 1 || bad.traceparent[0] != tp {
		t.Errorf("upstream got %q, want the client's traceparent", bad.traceparent)
	}
}

// TestExemplarTraceID: with a trace id in the entry, the duration
// histogram's exemplar names the trace.
func TestExemplarTraceID(t *testing.T) {
	reg := metrics.NewRegistry()
	m := NewMetrics(reg)
	m.observe(&ledger.Entry{RequestID: "req_1", TraceID: clientTraceID, Endpoint: "chat.completions", Status: ledger.StatusOK, HTTPStatus: 200},
		&runtime.Snapshot{})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range families {
		if f.GetName() != "sluice_request_duration_seconds" {
			continue
		}
		for _, mt := range f.GetMetric() {
			for _, b := range mt.GetHistogram().GetBucket() {
				if ex := b.GetExemplar(); ex != nil {
					for _, l := range ex.GetLabel() {
						found = found || (l.GetName() == "trace_id" && l.GetValue() == clientTraceID)
					}
				}
			}
		}
	}
	if !found {
		var b strings.Builder
		_ = reg.Write(&b)
		t.Fatal("no trace_id exemplar on sluice_request_duration_seconds")
	}
}

// TestSeriesBoundedWithTracing: with tracing on, 10,000 requests with
// distinct junk model names, keys and traceparents leave the series count
// as a handful of requests made it; trace ids ride only as exemplars.
func TestSeriesBoundedWithTracing(t *testing.T) {
	const n = 10_000
	reg := metrics.NewRegistry()
	exp := tracetest.NewInMemoryExporter()
	tr, err := trace.New(t.Context(), &config.OTLP{Endpoint: "http://127.0.0.1:1", QueueSize: 64}, trace.Options{Exporter: exp, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	var h *Handler
	var rec *recorder
	newEnvWith(t, func(o *Options) {
		o.Metrics, o.Tracer = NewMetrics(reg), tr
		rec = o.Ledger.(*recorder)
		h = New(*o)
	}, func(f *config.File) {
		for i := range n {
			f.Keys = append(f.Keys, config.Key{Name: fmt.Sprintf("k%05d", i), Key: fmt.Sprintf("gw-traced-key-%05d", i)})
		}
	})
	mux := http.NewServeMux()
	h.Register(mux)
	send := func(key, model string, i int) {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}]}`, model)))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Traceparent", fmt.Sprintf("00-%032x-%016x-01", i+1, i+1))
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
	}
	send(clientKey, "junk-model", 0)
	send(clientKey, "chat-small", 0)
	waitLedger(t, rec, 2)
	before := seriesCount(t, reg)
	for i := range n {
		send(fmt.Sprintf("gw-traced-key-%05d", i), fmt.Sprintf("junk-%05d", i), i)
	}
	waitLedger(t, rec, 2+n)
	if after := seriesCount(t, reg); after != before {
		var b strings.Builder
		_ = reg.Write(&b)
		t.Fatalf("%d series after %d traced junk requests, %d before:\n%s", after, n, before, b.String())
	}
	if got := rec.all()[2+n-1].TraceID; got != fmt.Sprintf("%032x", n) {
		t.Fatalf("last entry's trace id %q", got)
	}
}

// TestFinishReasons: the reasons an answer carries, in each protocol's
// spelling, even cut between two writes; nulls and repeats are not
// reasons.
func TestFinishReasons(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"openai", []string{`{"choices":[{"finish_reason":"stop"}]}`}, "stop"},
		{"openai stream", []string{`data: {"choices":[{"delta":{},"finish_reason":null}]}` + "\n\n", `data: {"choices":[{"finish_reason": "length"}]}` + "\n\n"}, "length"},
		{"two choices", []string{`{"choices":[{"finish_reason":"stop"},{"finish_reason":"tool_calls"},{"finish_reason":"stop"}]}`}, "stop,tool_calls"},
		{"anthropic", []string{`event: message_delta` + "\n" + `data: {"delta":{"stop_reason":"end_turn"}}`}, "end_turn"},
		{"gemini", []string{`{"candidates":[{"finishReason": "STOP"}]}`}, "STOP"},
		{"key cut in two", []string{`{"choices":[{"finish_re`, `ason":"stop"}]}`}, "stop"},
		{"value cut in two", []string{`{"choices":[{"finish_reason":"st`, `op"}]}`}, "stop"},
		{"many small writes", strings.Split(`{"finish_reason":"content_filter"}`, ""), "content_filter"},
		{"none", []string{`{"id":"x","object":"chat.completion"}`}, ""},
		{"too long", []string{`{"finish_reason":"` + strings.Repeat("x", 40) + `"}`}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := &finishWriter{ResponseWriter: rec}
			for _, p := range tc.writes {
				if _, err := w.Write([]byte(p)); err != nil {
					t.Fatal(err)
				}
			}
			if got := strings.Join(w.reasons, ","); got != tc.want {
				t.Fatalf("reasons %q, want %q", got, tc.want)
			}
			if rec.Body.String() != strings.Join(tc.writes, "") {
				t.Fatal("the answer was changed")
			}
		})
	}
}
