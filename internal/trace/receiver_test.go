package trace

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/ledger"
)

// receiver is an OTLP trace collector built from the collector's own
// protobuf types: it accepts ExportTraceServiceRequest over HTTP
// (POST /v1/traces, application/x-protobuf) and over gRPC.
type receiver struct {
	collectortrace.UnimplementedTraceServiceServer

	mu      sync.Mutex // guards spans, headers
	spans   []*tracepb.Span
	headers []http.Header
}

func (rc *receiver) Export(ctx context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	rc.add(req, nil)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func (rc *receiver) add(req *collectortrace.ExportTraceServiceRequest, h http.Header) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			rc.spans = append(rc.spans, ss.GetSpans()...)
		}
	}
	if h != nil {
		rc.headers = append(rc.headers, h)
	}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "not an OTLP trace export", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(r.Body)
	var req collectortrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.add(&req, r.Header.Clone())
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (rc *receiver) got() []*tracepb.Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.spans)
}

// startReceiver serves a receiver over protocol and returns it with the
// endpoint to configure.
func startReceiver(t *testing.T, protocol string) (*receiver, string) {
	t.Helper()
	rc := &receiver{}
	if protocol == config.OTLPGRPC {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		collectortrace.RegisterTraceServiceServer(srv, rc)
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(srv.Stop)
		return rc, "http://" + ln.Addr().String()
	}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

func attrMap(kvs []*commonpb.KeyValue) map[string]any {
	m := map[string]any{}
	for _, kv := range kvs {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = v.IntValue
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = v.BoolValue
		case *commonpb.AnyValue_ArrayValue:
			var ss []string
			for _, e := range v.ArrayValue.GetValues() {
				ss = append(ss, e.GetStringValue())
			}
			m[kv.GetKey()] = strings.Join(ss, ",")
		}
	}
	return m
}

const (
	clientTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientParent = "00f067aa0ba902b7"
)

// TestExportToReceiver runs one request with a failed and a successful
// attempt through a Tracer exporting to a real OTLP receiver, over HTTP
// and over gRPC, and checks names, kinds, parent links and attributes.
func TestExportToReceiver(t *testing.T) {
	for _, protocol := range []string{config.OTLPHTTP, config.OTLPGRPC} {
		t.Run(protocol, func(t *testing.T) {
			rc, endpoint := startReceiver(t, protocol)
			tr, err := New(t.Context(), &config.OTLP{Endpoint: endpoint, Protocol: protocol, Headers: map[string]string{"X-Collector-Token": "tok"}}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Shutdown(context.Background())

			r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
			r.Header.Set("Traceparent", "00-"+clientTrace+"-"+clientParent+"-01")
			r.Header.Set("Tracestate", "vendor=client")
			ctx, q := tr.StartRequest(r, "POST /v1/chat/completions")
			if got := TraceID(ctx); got != clientTrace {
				t.Fatalf("trace id %q, want the client's %q", got, clientTrace)
			}
			entry := &ledger.Entry{RequestID: "req_1", Endpoint: "chat.completions", Model: "smart", KeyID: "k1",
				Status: ledger.StatusOK, HTTPStatus: 200, Experiment: "exp1", Arm: "b", PromptVersion: 3, Product: "p1", Cache: "miss",
				Guardrails: []ledger.Verdict{{Guardrail: "pii", Action: "mask", Stage: "input", Count: 2}}}

			a1 := StartAttempt(ctx, 1, "primary", "anthropic", "claude-x", "chat")
			a1.End(ledger.Attempt{N: 1, Provider: "primary", Model: "claude-x", Status: ledger.StatusUpstreamError, HTTPStatus: 503, Error: "overloaded"}, entry)

			a2 := StartAttempt(ctx, 2, "backup", "openai", "gpt-x", "chat")
			up := http.Header{"Traceparent": {"00-" + clientTrace + "-" + clientParent + "-01"}, "Tracestate": {"vendor=client"}}
			a2.Inject(up)
			entry.Provider, entry.ServedModel, entry.InputTokens, entry.OutputTokens = "backup", "gpt-x", 11, 7
			entry.Attempts = []ledger.Attempt{{N: 1}, {N: 2}}
			a2.End(ledger.Attempt{N: 2, Provider: "backup", Model: "gpt-x", Status: ledger.StatusOK, HTTPStatus: 200}, entry)
			q.End(entry, "smart:default:failover", []string{"stop"})
			if err := tr.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}

			spans := rc.got()
			if len(spans) != 3 {
				t.Fatalf("receiver got %d spans, want 3", len(spans))
			}
			byName := map[string]*tracepb.Span{}
			for _, s := range spans {
				byName[s.GetName()] = s
			}
			server, first, second := byName["chat smart"], byName["chat claude-x"], byName["chat gpt-x"]
			if server == nil || first == nil || second == nil {
				t.Fatalf("span names %v, want chat smart, chat claude-x, chat gpt-x", slices.Collect(func(yield func(string) bool) {
					for n := range byName {
						if !yield(n) {
							return
						}
					}
				}))
			}
			for _, s := range spans {
				if got := string(traceHex(s.GetTraceId())); got != clientTrace {
					t.Errorf("%s: trace id %s, want the client's", s.GetName(), got)
				}
			}
			if server.GetKind() != tracepb.Span_SPAN_KIND_SERVER || first.GetKind() != tracepb.Span_SPAN_KIND_CLIENT || second.GetKind() != tracepb.Span_SPAN_KIND_CLIENT {
				t.Errorf("kinds %v %v %v, want SERVER CLIENT CLIENT", server.GetKind(), first.GetKind(), second.GetKind())
			}
			if got := string(traceHex(server.GetParentSpanId())); got != clientParent {
				t.Errorf("server span's parent %s, want the client's span %s", got, clientParent)
			}
			for _, s := range []*tracepb.Span{first, second} {
				if string(s.GetParentSpanId()) != string(server.GetSpanId()) {
					t.Errorf("%s: parent %x, want the server span %x", s.GetName(), s.GetParentSpanId(), server.GetSpanId())
				}
			}
			want := "00-" + clientTrace + "-" + string(traceHex(second.GetSpanId())) + "-01"
			if got := up.Get("Traceparent"); got != want {
				t.Errorf("upstream traceparent %q, want the attempt's %q", got, want)
			}
			if got := up.Get("Tracestate"); got != "vendor=client" {
				t.Errorf("upstream tracestate %q, want the client's", got)
			}

			checkAttrs(t, "server", server, map[string]any{
				"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "smart",
				"gen_ai.response.model": "gpt-x", "gen_ai.usage.input_tokens": int64(11), "gen_ai.usage.output_tokens": int64(7),
				"gen_ai.response.finish_reasons": "stop", "http.request.method": "POST", "http.route": "POST /v1/chat/completions",
				"http.response.status_code": int64(200), "sluice.request_id": "req_1", "sluice.route": "smart:default:failover",
				"sluice.attempts": int64(2), "sluice.experiment": "exp1", "sluice.experiment.arm": "b", "sluice.prompt.version": int64(3),
				"sluice.product": "p1", "sluice.cache": "miss", "sluice.guardrails": "pii:input:mask", "sluice.provider": "backup",
			})
			checkAttrs(t, "first attempt", first, map[string]any{
				"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-x",
				"sluice.attempt": int64(1), "sluice.provider": "primary", "http.response.status_code": int64(503), "error.type": "503",
			})
			checkAttrs(t, "second attempt", second, map[string]any{
				"gen_ai.provider.name": "openai", "sluice.attempt": int64(2), "sluice.fallback_reason": "http_503",
				"gen_ai.usage.input_tokens": int64(11), "gen_ai.usage.output_tokens": int64(7), "gen_ai.response.model": "gpt-x",
			})
			if _, ok := attrMap(first.GetAttributes())["sluice.fallback_reason"]; ok {
				t.Error("the first attempt has a fallback reason")
			}
			if first.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR || second.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR {
				t.Errorf("statuses %v, %v; want the failed attempt in error, the other not", first.GetStatus(), second.GetStatus())
			}
			for _, s := range spans {
				for k := range attrMap(s.GetAttributes()) {
					if deprecated[k] {
						t.Errorf("%s carries the deprecated attribute %s", s.GetName(), k)
					}
				}
			}
			if protocol == config.OTLPHTTP {
				rc.mu.Lock()
				h := rc.headers[0]
				rc.mu.Unlock()
				if h.Get("X-Collector-Token") != "tok" {
					t.Errorf("export headers %v lack the configured header", h)
				}
			}
		})
	}
}

// deprecated are GenAI attributes that the semantic conventions replaced.
var deprecated = map[string]bool{
	"gen_ai.system": true, "gen_ai.usage.prompt_tokens": true, "gen_ai.usage.completion_tokens": true,
	"gen_ai.prompt": true, "gen_ai.completion": true, "gen_ai.openai.request.seed": true,
}

func checkAttrs(t *testing.T, what string, s *tracepb.Span, want map[string]any) {
	t.Helper()
	got := attrMap(s.GetAttributes())
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %v (%T), want %v (%T)", what, k, got[k], got[k], v, v)
		}
	}
}

func traceHex(b []byte) []byte {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return out
}

// TestSampling: a ratio of 0 records no new trace, but a caller's sampled
// traceparent is followed; a caller's unsampled one is followed too.
func TestSampling(t *testing.T) {
	zero := 0.0
	tests := []struct {
		name        string
		traceparent string
		want        int
	}{
		{"new trace at ratio 0", "", 0},
		{"caller sampled", "00-" + clientTrace + "-" + clientParent + "-01", 1},
		{"caller not sampled", "00-" + clientTrace + "-" + clientParent + "-00", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, endpoint := startReceiver(t, config.OTLPHTTP)
			tr, err := New(t.Context(), &config.OTLP{Endpoint: endpoint, SampleRatio: &zero}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Shutdown(context.Background())
			r := httptest.NewRequest("GET", "/v1/models", nil)
			if tc.traceparent != "" {
				r.Header.Set("Traceparent", tc.traceparent)
			}
			_, q := tr.StartRequest(r, "GET /v1/models")
			q.End(&ledger.Entry{Endpoint: "models", Status: ledger.StatusOK, HTTPStatus: 200}, "", nil)
			if err := tr.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := len(rc.got()); got != tc.want {
				t.Fatalf("%d spans exported, want %d", got, tc.want)
			}
		})
	}
}

// TestDisabled: a nil Tracer and nil spans do nothing and never panic,
// and leave a client's traceparent alone.
func TestDisabled(t *testing.T) {
	var tr *Tracer
	r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	ctx, q := tr.StartRequest(r, "POST /v1/chat/completions")
	if q != nil || q.TraceID() != "" || TraceID(ctx) != "" {
		t.Fatal("a nil tracer started a span")
	}
	a := StartAttempt(ctx, 1, "p", "openai", "m", "chat")
	h := http.Header{"Traceparent": {"00-" + clientTrace + "-" + clientParent + "-01"}}
	a.Inject(h)
	a.End(ledger.Attempt{}, nil)
	q.End(&ledger.Entry{}, "", nil)
	if h.Get("Traceparent") != "00-"+clientTrace+"-"+clientParent+"-01" {
		t.Fatal("a nil attempt rewrote the traceparent")
	}
	if tr.Flush(ctx) != nil || tr.Shutdown(ctx) != nil || tr.Dropped() != 0 {
		t.Fatal("a nil tracer failed")
	}
}

func TestExportInterval(t *testing.T) {
	rc, endpoint := startReceiver(t, config.OTLPHTTP)
	tr, err := New(t.Context(), &config.OTLP{Endpoint: endpoint}, Options{BatchEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	_, q := tr.StartRequest(httptest.NewRequest("GET", "/v1/models", nil), "GET /v1/models")
	q.End(&ledger.Entry{Endpoint: "models"}, "", nil)
	deadline := time.Now().Add(5 * time.Second)
	for len(rc.got()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a partial batch was not exported without a flush")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
