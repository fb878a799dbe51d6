package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/internal/config"
	openaifake "github.com/sluicehq/sluice/internal/fakeprovider/openai"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/provider/openai"
	"github.com/sluicehq/sluice/internal/ratelimit"
	"github.com/sluicehq/sluice/internal/runtime"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

const (
	clientKey   = "gw-test-client-key-0001"
	limitedKey  = "gw-test-limited-key-0002"
	providerKey = "sk-CANARY-PROV-upstream-secret"
)

// recorder collects ledger entries.
type recorder struct {
	mu      sync.Mutex
	entries []ledger.Entry
}

func (r *recorder) Record(e ledger.Entry) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, e)
	return true
}

func (r *recorder) all() []ledger.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ledger.Entry(nil), r.entries...)
}

type env struct {
	h      *Handler
	fake   *openaifake.Server
	server *httptest.Server
	rec    *recorder
}

// newEnv starts a fake upstream and a Sluice data plane in front of it.
func newEnv(t testing.TB, mutate ...func(*config.File)) *env {
	t.Helper()
	return newEnvWith(t, nil, mutate...)
}

// newEnvWith is newEnv with a hook on the data plane's options. The file's
// organisations, teams and applications become units with ids named after
// them ("org_acme", "team_search", "app_web").
func newEnvWith(t testing.TB, opts func(*Options), mutate ...func(*config.File)) *env {
	t.Helper()
	fake, fakeURL := openaifake.Start(t, openaifake.Options{APIKey: providerKey})
	file := &config.File{
		Version:   1,
		Providers: []config.Provider{{Name: "up", Type: "openai", BaseURL: fakeURL, APIKey: providerKey}},
		Models: []config.Model{
			{Name: "chat-small", Targets: []config.Target{{Provider: "up", Model: "fake-model-1"}},
				Pricing: config.Pricing{InputPerMTok: 1, OutputPerMTok: 2, CachedInputPerMTok: 0.5}},
			{Name: "other", Targets: []config.Target{{Provider: "up", Model: "fake-model-2"}}},
			{Name: "dead", Targets: []config.Target{{Provider: "nowhere", Model: "m"}}},
		},
		Keys: []config.Key{{Name: "dev", Key: clientKey}, {Name: "limited", Key: limitedKey, Models: []string{"chat-small"}}},
	}
	file.Providers = append(file.Providers, config.Provider{Name: "nowhere", Type: "openai", BaseURL: "http://127.0.0.1:1/v1"})
	for _, m := range mutate {
		m(file)
	}
	if err := file.Validate(); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	t.Cleanup(client.CloseIdleConnections)
	reg := provider.Registry{"openai": func(s provider.Spec) (provider.Adapter, error) {
		return openai.New(openai.Options{Name: s.Name, BaseURL: s.BaseURL, APIKey: s.APIKey, Client: client, Timeout: s.Timeout}), nil
	}}
	snap, err := runtime.Compile(runtime.Inputs{File: file, Registry: reg, Units: unitsOf(file), Provider: func(p config.Provider) provider.Spec {
		return provider.Spec{Name: p.Name, Type: p.Type, BaseURL: p.BaseURL, APIKey: p.APIKey}
	}})
	if err != nil {
		t.Fatal(err)
	}
	var holder runtime.Holder
	holder.Store(snap)
	rec := &recorder{}
	mux := http.NewServeMux()
	o := Options{Snapshots: &holder, Ledger: rec, Limiter: ratelimit.New(nil),
		SpendSince: func(context.Context, string, string, time.Time) (int64, error) { return seededSpend, nil }}
	if opts != nil {
		opts(&o)
	}
	h := New(o)
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{h: h, fake: fake, server: srv, rec: rec}
}

func (e *env) post(t *testing.T, path, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.server.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// waitEntries waits for n ledger entries (handlers record after responding).
func (e *env) waitEntries(t *testing.T, n int) []ledger.Entry {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := e.rec.all()
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				t.Fatalf("ledger has %d entries, want %d: %+v", len(got), n, got)
			}
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const chatBody = `{"model":"chat-small","messages":[{"role":"user","content":"hello there"}]}`

func TestRejections(t *testing.T) {
	e := newEnv(t)
	big := `{"model":"chat-small","messages":[{"role":"user","content":"` + strings.Repeat("x", 10<<20) + `"}]}`
	tests := []struct {
		name     string
		path     string
		body     string
		hdr      map[string]string
		status   int
		code     string
		ledgerSt ledger.Status
	}{
		{"no key", "/v1/chat/completions", chatBody, nil, 401, "invalid_api_key", ""},
		{"wrong key", "/v1/chat/completions", chatBody, map[string]string{"Authorization": "Bearer gw-nope-nope-nope-nope"}, 401, "invalid_api_key", ""},
		{"bearer without space", "/v1/chat/completions", chatBody, map[string]string{"Authorization": "Bearer" + clientKey}, 401, "invalid_api_key", ""},
		{"conflicting headers", "/v1/chat/completions", chatBody, map[string]string{"Authorization": "Bearer " + clientKey, "X-Api-Key": limitedKey}, 401, "invalid_api_key", ""},
		{"model outside allow-list", "/v1/chat/completions", `{"model":"other","messages":[]}`, map[string]string{"Authorization": "Bearer " + limitedKey}, 403, "model_not_allowed", ledger.StatusClientError},
		{"unknown model", "/v1/chat/completions", `{"model":"gpt-9","messages":[]}`, map[string]string{"Authorization": "Bearer " + clientKey}, 404, "model_not_found", ledger.StatusClientError},
		{"malformed json", "/v1/chat/completions", `{"model":"chat-small",`, map[string]string{"Authorization": "Bearer " + clientKey}, 400, "invalid_json", ledger.StatusClientError},
		{"not an object", "/v1/chat/completions", `["model"]`, map[string]string{"Authorization": "Bearer " + clientKey}, 400, "invalid_json", ledger.StatusClientError},
		{"missing model", "/v1/chat/completions", `{"messages":[]}`, map[string]string{"Authorization": "Bearer " + clientKey}, 400, "missing_model", ledger.StatusClientError},
		{"duplicate model key", "/v1/chat/completions", `{"model":"chat-small","model":"other"}`, map[string]string{"Authorization": "Bearer " + limitedKey}, 400, "duplicate_key", ledger.StatusClientError},
		{"stream not boolean", "/v1/chat/completions", `{"model":"chat-small","stream":"yes"}`, map[string]string{"Authorization": "Bearer " + clientKey}, 400, "invalid_type", ledger.StatusClientError},
		{"body too large", "/v1/chat/completions", big, map[string]string{"Authorization": "Bearer " + clientKey}, 413, "request_too_large", ledger.StatusClientError},
		{"unknown route", "/v1/nope", `{}`, map[string]string{"Authorization": "Bearer " + clientKey}, 404, "unknown_url", ledger.StatusClientError},
		{"upstream unreachable", "/v1/chat/completions", `{"model":"dead","messages":[]}`, map[string]string{"Authorization": "Bearer " + clientKey}, 502, "upstream_unreachable", ledger.StatusUpstreamError},
	}
	unauthenticated := 0
	for i, tc := range tests {
		if tc.ledgerSt == "" {
			unauthenticated++
		}
		t.Run(tc.name, func(t *testing.T) {
			resp := e.post(t, tc.path, tc.body, tc.hdr)
			body := readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			var raw map[string]map[string]any
			if err := json.Unmarshal([]byte(body), &raw); err != nil {
				t.Fatalf("error body is not JSON: %q", body)
			}
			if got := raw["error"]["code"]; got != tc.code {
				t.Fatalf("code %v, want %s: %s", got, tc.code, body)
			}
			if raw["error"]["message"] == "" || raw["error"]["type"] == "" {
				t.Fatalf("error without message or type: %s", body)
			}
			if id := resp.Header.Get("X-Request-Id"); id == "" || raw["error"]["request_id"] != id {
				t.Fatalf("request id header %q vs body %v", id, raw["error"]["request_id"])
			}
			if strings.Contains(body, providerKey) || strings.Contains(body, clientKey) {
				t.Fatalf("secret in error body: %s", body)
			}
			if tc.ledgerSt == "" { // refused before authentication: no ledger entry
				return
			}
			entries := e.waitEntries(t, i+1-unauthenticated)
			got := entries[i-unauthenticated]
			if got.Status != tc.ledgerSt || got.HTTPStatus != tc.status || got.RequestID != resp.Header.Get("X-Request-Id") {
				t.Fatalf("ledger entry %+v, want status %s/%d", got, tc.ledgerSt, tc.status)
			}
		})
	}
	if n := e.fake.Count(); n != 0 {
		t.Fatalf("rejected requests reached the upstream %d times", n)
	}
}

func TestPassThroughIsByteExact(t *testing.T) {
	e := newEnv(t)
	// Odd spacing, unknown fields, unicode escapes and key order must survive.
	body := `{ "messages":[{"role":"user","content":[{"type":"text","text":"caf\u00e9"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}],` +
		"\n" + `"model" : "chat-small", "seed":7, "n":2, "stop":["\n\n"], "response_format":{"type":"json_object"},"x_vendor_extra":{"a":[1,2,{"b":null}]}}`
	for _, hdr := range []map[string]string{
		{"Authorization": "Bearer " + clientKey},
		{"Api-Key": clientKey},
		{"X-Api-Key": clientKey, "Cookie": "session=1", "X-Custom-Trace": "t-1"},
	} {
		resp := e.post(t, "/v1/chat/completions", body, hdr)
		out := readAll(t, resp)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, out)
		}
		last, _ := e.fake.Last()
		want := strings.Replace(body, `"chat-small"`, `"fake-model-1"`, 1)
		if string(last.Body) != want {
			t.Fatalf("upstream body\n got %s\nwant %s", last.Body, want)
		}
		if got := last.Header.Get("Authorization"); got != "Bearer "+providerKey {
			t.Fatalf("upstream Authorization = %q", got)
		}
		for _, h := range []string{"Api-Key", "X-Api-Key", "Cookie"} {
			if last.Header.Get(h) != "" {
				t.Fatalf("client header %s reached the upstream", h)
			}
		}
		if hdr["X-Custom-Trace"] != "" && last.Header.Get("X-Custom-Trace") != "t-1" {
			t.Fatal("custom client header was not forwarded")
		}
		if !strings.Contains(out, `"chat.completion"`) || strings.Contains(out, providerKey) {
			t.Fatalf("unexpected response: %s", out)
		}
	}
	entries := e.waitEntries(t, 3)
	en := entries[0]
	if en.Status != ledger.StatusOK || en.Estimated || en.InputTokens == 0 || en.OutputTokens == 0 ||
		en.ServedModel != "fake-model-1" || en.Provider != "up" || en.KeyName != "dev" || len(en.Attempts) != 1 {
		t.Fatalf("ledger entry %+v", en)
	}
	wantCost := ((en.InputTokens-en.CachedTokens)*1_000_000 + en.CachedTokens*500_000 + en.OutputTokens*2_000_000 + 500_000) / 1_000_000
	if en.CostMicros != wantCost {
		t.Fatalf("cost %d, want %d", en.CostMicros, wantCost)
	}
}

// sseEvents reads a response's SSE data lines.
func sseEvents(t *testing.T, resp *http.Response) []string {
	t.Helper()
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

func TestStreaming(t *testing.T) {
	tests := []struct {
		name          string
		body          string
		hdr           map[string]string
		wantStatus    ledger.Status
		wantDone      bool
		wantEstimated bool
		wantErrEvent  bool
	}{
		{"with usage chunk", `{"model":"chat-small","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"X-Fake-Prompt-Tokens": "1000", "X-Fake-Completion-Tokens": "500", "X-Fake-Cached-Tokens": "200"}, ledger.StatusOK, true, false, false},
		{"usage on every chunk", `{"model":"chat-small","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"X-Fake-Usage": "every", "X-Fake-Prompt-Tokens": "1000", "X-Fake-Completion-Tokens": "500", "X-Fake-Cached-Tokens": "200"}, ledger.StatusOK, true, false, false},
		{"upstream sends no usage: estimated", `{"model":"chat-small","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"X-Fake-Usage": "none"}, ledger.StatusOK, true, true, false},
		{"tool call deltas", `{"model":"chat-small","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"weather?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]}`,
			nil, ledger.StatusOK, true, false, false},
		{"cut without DONE", `{"model":"chat-small","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"X-Fake-Cut-After": "3"}, ledger.StatusTruncated, false, true, true},
		{"connection reset", `{"model":"chat-small","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"X-Fake-Reset-After": "3"}, ledger.StatusTruncated, false, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			hdr := map[string]string{"Authorization": "Bearer " + clientKey}
			for k, v := range tc.hdr {
				hdr[k] = v
			}
			resp := e.post(t, "/v1/chat/completions", tc.body, hdr)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("status %d, content-type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			events := sseEvents(t, resp)
			done := len(events) > 0 && events[len(events)-1] == "[DONE]"
			if done != tc.wantDone {
				t.Fatalf("[DONE] at end = %v, want %v; events %q", done, tc.wantDone, events)
			}
			var sawErr bool
			for _, ev := range events {
				if strings.Contains(ev, `"upstream_stream_truncated"`) {
					sawErr = true
				}
				if !tc.wantDone && strings.Contains(ev, `"finish_reason":"stop"`) {
					t.Fatalf("a cut stream carries a fabricated finish_reason: %s", ev)
				}
			}
			if sawErr != tc.wantErrEvent {
				t.Fatalf("error event = %v, want %v; events %q", sawErr, tc.wantErrEvent, events)
			}
			en := e.waitEntries(t, 1)[0]
			if en.Status != tc.wantStatus || en.Estimated != tc.wantEstimated || !en.Stream || en.TTFT <= 0 || en.OutputTokens <= 0 {
				t.Fatalf("ledger entry %+v", en)
			}
			if tc.hdr["X-Fake-Prompt-Tokens"] != "" {
				if en.InputTokens != 1000 || en.OutputTokens != 500 || en.CachedTokens != 200 {
					t.Fatalf("usage %d/%d/%d, want 1000/500/200", en.InputTokens, en.OutputTokens, en.CachedTokens)
				}
				if want := int64(800*1 + 200*0.5 + 500*2); en.CostMicros != want { // prices: $1, $2, $0.5 per Mtok
					t.Fatalf("cost %d micro-dollars, want %d", en.CostMicros, want)
				}
			}
		})
	}
}

func TestUpstreamErrorsPassThrough(t *testing.T) {
	tests := []struct {
		status int
		want   ledger.Status
	}{
		{400, ledger.StatusClientError},
		{429, ledger.StatusUpstreamError},
		{500, ledger.StatusUpstreamError},
		{503, ledger.StatusUpstreamError},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			e := newEnv(t)
			resp := e.post(t, "/v1/chat/completions", chatBody, map[string]string{"Authorization": "Bearer " + clientKey,
				"X-Fake-Status": itoa(tc.status), "X-Fake-Retry-After": "2"})
			body := readAll(t, resp)
			if resp.StatusCode != tc.status || !strings.Contains(body, `"error"`) {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
			if tc.status == 429 && resp.Header.Get("Retry-After") != "2" {
				t.Fatal("Retry-After not passed through")
			}
			en := e.waitEntries(t, 1)[0]
			if en.Status != tc.want || en.HTTPStatus != tc.status || en.CostMicros != 0 || en.Attempts[0].HTTPStatus != tc.status {
				t.Fatalf("ledger entry %+v", en)
			}
		})
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		hdr  map[string]string
		read int // SSE lines to read before leaving
	}{
		{"mid-stream", `{"model":"chat-small","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"X-Fake-Chunks": "200", "X-Fake-Chunk-Delay-Ms": "20"}, 5},
		{"waiting for first byte", `{"model":"chat-small","stream":true,"messages":[{"role":"user","content":"hi"}]}`, map[string]string{"X-Fake-Hang": "1"}, 0},
		{"non-stream", chatBody, map[string]string{"X-Fake-Delay-Ms": "5000"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.server.URL+"/v1/chat/completions", strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+clientKey)
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				resp, err := e.server.Client().Do(req)
				if err != nil {
					return
				}
				defer resp.Body.Close()
				br := bufio.NewReader(resp.Body)
				for i := 0; i < tc.read*2; i++ {
					if _, err := br.ReadString('\n'); err != nil {
						return
					}
				}
				cancel()
			}()
			if tc.read == 0 {
				if !e.fake.WaitCount(1, 5*time.Second) {
					t.Fatal("the upstream never saw the request")
				}
				time.Sleep(50 * time.Millisecond)
				cancel()
			}
			<-done
			start := time.Now()
			if _, ok := e.fake.WaitCancelled(time.Second); !ok {
				t.Fatal("the upstream did not see the cancellation within 1 s")
			}
			t.Logf("upstream cancelled %v after the client left", time.Since(start))
			en := e.waitEntries(t, 1)[0]
			if en.Status != ledger.StatusCancelled || en.HTTPStatus != 499 {
				t.Fatalf("ledger entry %+v", en)
			}
			if tc.read > 0 && (en.OutputTokens == 0 || en.CostMicros == 0) {
				t.Fatalf("a stream cancelled mid-way must bill the usage known so far: %+v", en)
			}
			cancel()
		})
	}
}

func TestEmbeddingsAndModels(t *testing.T) {
	e := newEnv(t)
	resp := e.post(t, "/v1/embeddings", `{"model":"chat-small","input":["a b c","d"]}`, map[string]string{"Authorization": "Bearer " + clientKey})
	body := readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(body, `"embedding"`) {
		t.Fatalf("embeddings: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodGet, e.server.URL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+limitedKey)
	mresp, err := e.server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Data []struct{ ID string } `json:"data"`
	}
	if err := json.Unmarshal([]byte(readAll(t, mresp)), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Data) != 1 || list.Data[0].ID != "chat-small" {
		t.Fatalf("models for the limited key: %+v", list.Data)
	}
	entries := e.waitEntries(t, 2)
	if entries[0].Endpoint != "embeddings" || entries[0].InputTokens == 0 || entries[0].OutputTokens != 0 {
		t.Fatalf("embeddings entry %+v", entries[0])
	}
}

// TestStreamsWithLargeBodies pins the rule that the whole request body is
// read before the response starts: Go's HTTP/1 server otherwise truncates a
// share of streamed responses.
func TestStreamsWithLargeBodies(t *testing.T) {
	e := newEnv(t)
	pad := strings.Repeat("y", 256<<10)
	body := `{"model":"chat-small","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"` + pad + `"}]}`
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, e.server.URL+"/v1/chat/completions", bytes.NewReader([]byte(body)))
			req.Header.Set("Authorization", "Bearer "+clientKey)
			req.Header.Set("X-Fake-Chunks", "20")
			resp, err := e.server.Client().Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			events := sseEvents(t, resp)
			if len(events) == 0 || events[len(events)-1] != "[DONE]" {
				errs <- "truncated stream"
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.waitEntries(t, n)
}
