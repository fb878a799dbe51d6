package app

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpSink is an OTLP/HTTP trace receiver made of the collector's own
// protobuf types.
type otlpSink struct {
	mu    sync.Mutex // guards spans
	spans []*tracepb.Span
}

func (s *otlpSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req collectortrace.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			s.spans = append(s.spans, ss.GetSpans()...)
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
}

// serverSpan returns the SERVER span whose sluice.request_id is id.
func (s *otlpSink) serverSpan(id string) *tracepb.Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sp := range s.spans {
		for _, kv := range sp.GetAttributes() {
			if kv.GetKey() == "sluice.request_id" && kv.GetValue().GetStringValue() == id && sp.GetKind() == tracepb.Span_SPAN_KIND_SERVER {
				return sp
			}
		}
	}
	return nil
}

// TestServeExportsTraces: with observability.otlp set, every request
// produces spans at the OTLP endpoint carrying the request's model,
// provider and token counts.
func TestServeExportsTraces(t *testing.T) {
	sink := &otlpSink{}
	collector := httptest.NewServer(sink)
	defer collector.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	file := demoConfig + "observability:\n  otlp: {endpoint: \"" + collector.URL + "\", protocol: http/protobuf}\n" +
		"feedback_metrics:\n  - {name: helpful, type: boolean}\n"
	if err := os.WriteFile(cfg, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "--config", cfg, "--data-dir", filepath.Join(dir, "data"))
	req, _ := http.NewRequest("POST", r.base+"/v1/chat/completions", strings.NewReader(`{"model":"alpha","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer gw-test-app-key-000001")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != 200 || id == "" {
		t.Fatalf("chat: %d, request id %q", resp.StatusCode, id)
	}
	var span *tracepb.Span
	for deadline := time.Now().Add(10 * time.Second); span == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no SERVER span for %s reached the collector", id)
		}
		span = sink.serverSpan(id)
	}
	got := map[string]string{}
	for _, kv := range span.GetAttributes() {
		got[kv.GetKey()] = kv.GetValue().String()
	}
	for _, k := range []string{"gen_ai.request.model", "gen_ai.provider.name", "gen_ai.usage.input_tokens"} {
		if got[k] == "" {
			t.Errorf("span lacks %s: %v", k, got)
		}
	}
	if !strings.Contains(got["gen_ai.request.model"], "alpha") {
		t.Errorf("gen_ai.request.model = %s, want alpha", got["gen_ai.request.model"])
	}
}

// TestServeFeedback: POST /v1/sluice/feedback with the request's own key
// answers 2xx for a declared metric, right after the answer, and 400 for
// an undeclared one; the row is stored.
func TestServeFeedback(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	file := demoConfig + "feedback_metrics:\n  - {name: helpful, type: boolean}\n"
	if err := os.WriteFile(cfg, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "--config", cfg, "--data-dir", filepath.Join(dir, "data"))
	const key = "gw-test-app-key-000001"
	req, _ := http.NewRequest("POST", r.base+"/v1/chat/completions", strings.NewReader(`{"model":"alpha","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	tests := []struct {
		body string
		want int
	}{
		{`{"request_id":"` + id + `","metric":"helpful","value":true}`, 201},
		{`{"request_id":"` + id + `","metric":"undeclared","value":true}`, 400},
		{`{"request_id":"` + id + `","metric":"helpful","value":3}`, 400},
	}
	for _, tc := range tests {
		if code, out := call(t, "POST", r.base+"/v1/sluice/feedback", key, tc.body); code != tc.want {
			t.Fatalf("%s: %d %v, want %d", tc.body, code, out, tc.want)
		}
	}
}
