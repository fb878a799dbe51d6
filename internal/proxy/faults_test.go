package proxy

// Fault tests F1-F9 of the reliability plan (RELIABILITY.md §4.5), in
// process: two fake upstreams A and B, scripted per request, behind one
// model with a priority route A -> B.

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/fakeprovider/chaos"
	openaifake "github.com/sluicehq/sluice/internal/fakeprovider/openai"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/provider/openai"
	"github.com/sluicehq/sluice/internal/route"
	"github.com/sluicehq/sluice/internal/runtime"
)

type faultEnv struct {
	a, b   *openaifake.Server
	aHits  atomic.Int64
	server string
	rec    *recorder
	health *route.Registry
}

// newFaultEnv builds a gateway whose model "ha" tries A then B. scriptA
// scripts A's answers; aURL, when set, replaces A's address (for refused
// connections and blackholes).
func newFaultEnv(t *testing.T, scriptA func(*http.Request) *openaifake.Behavior, aURL string, timeouts config.Timeouts) *faultEnv {
	return newFaultEnvVia(t, scriptA, func(string) string { return aURL }, timeouts)
}

// newFaultEnvVia is newFaultEnv where via maps A's fake URL to the URL
// Sluice uses for A (a chaos proxy in front of it); "" keeps A's URL.
func newFaultEnvVia(t *testing.T, scriptA func(*http.Request) *openaifake.Behavior, via func(string) string, timeouts config.Timeouts) *faultEnv {
	t.Helper()
	fe := &faultEnv{rec: &recorder{}, health: route.NewRegistry(route.HealthOptions{})}
	var urlA string
	fe.a, urlA = openaifake.Start(t, openaifake.Options{APIKey: providerKey, Script: func(r *http.Request) *openaifake.Behavior {
		fe.aHits.Add(1)
		if scriptA != nil {
			return scriptA(r)
		}
		return nil
	}})
	if u := via(urlA); u != "" {
		urlA = u
	}
	var urlB string
	fe.b, urlB = openaifake.Start(t, openaifake.Options{APIKey: providerKey})
	file := &config.File{Version: 1,
		Providers: []config.Provider{
			{Name: "a", Type: "openai", BaseURL: urlA, APIKey: providerKey, Timeouts: timeouts},
			{Name: "b", Type: "openai", BaseURL: urlB, APIKey: providerKey, Timeouts: timeouts},
		},
		Models: []config.Model{{Name: "ha", Targets: []config.Target{{Provider: "a", Model: "m-a"}, {Provider: "b", Model: "m-b"}},
			Pricing: config.Pricing{InputPerMTok: 1, OutputPerMTok: 1}}},
		Keys: []config.Key{{Name: "dev", Key: clientKey}},
	}
	fe.server = serveFile(t, file, fe.health, fe.rec)
	return fe
}

// serveFile compiles file and serves it with a fresh data plane.
func serveFile(t *testing.T, file *config.File, health *route.Registry, rec *recorder) string {
	t.Helper()
	if err := file.Validate(); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: provider.ConnectTimeout(ctx, time.Second)}
			return d.DialContext(ctx, network, addr)
		}}}
	t.Cleanup(client.CloseIdleConnections)
	reg := provider.Registry{"openai": func(s provider.Spec) (provider.Adapter, error) {
		return openai.New(openai.Options{Name: s.Name, BaseURL: s.BaseURL, APIKey: s.APIKey, Client: client, Timeout: s.Timeout}), nil
	}}
	snap, err := runtime.Compile(runtime.Inputs{File: file, Registry: reg, Health: health, Provider: func(p config.Provider) provider.Spec {
		return provider.Spec{Name: p.Name, Type: p.Type, BaseURL: p.BaseURL, APIKey: p.APIKey}
	}})
	if err != nil {
		t.Fatal(err)
	}
	var holder runtime.Holder
	holder.Store(snap)
	mux := http.NewServeMux()
	New(Options{Snapshots: &holder, Ledger: rec}).Register(mux)
	return newTestServer(t, mux)
}

func newTestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func (fe *faultEnv) do(t *testing.T, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fe.server+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+clientKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		b.WriteString(sc.Text())
		b.WriteByte('\n')
	}
	return resp, b.String()
}

const haBody = `{"model":"ha","messages":[{"role":"user","content":"hi"}]}`
const haStream = `{"model":"ha","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`

// F1: A always fails with 5xx; every request succeeds through B, A is
// ejected after 5 consecutive failures, and only B is billed.
func TestF1FailoverAndEjection(t *testing.T) {
	for _, status := range []int{500, 502, 503} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			fe := newFaultEnv(t, func(*http.Request) *openaifake.Behavior { return &openaifake.Behavior{Status: status} }, "", config.Timeouts{})
			const n = 200
			for i := range n {
				resp, body := fe.do(t, haBody)
				if resp.StatusCode != 200 {
					t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
				}
				if resp.Header.Get("X-Sluice-Provider") != "b" {
					t.Fatalf("served by %q", resp.Header.Get("X-Sluice-Provider"))
				}
			}
			if hits := fe.aHits.Load(); hits != 5 {
				t.Fatalf("A was tried %d times; ejection after 5 consecutive failures expected", hits)
			}
			entries := fe.rec.all()
			if len(entries) != n {
				t.Fatalf("%d ledger entries, want %d", len(entries), n)
			}
			for _, e := range entries {
				if len(e.Attempts) > 2 || e.Provider != "b" || e.Status != ledger.StatusOK || e.CostMicros == 0 {
					t.Fatalf("entry %+v", e)
				}
				if len(e.Attempts) == 2 && (e.Attempts[0].Provider != "a" || e.Attempts[0].Status != ledger.StatusUpstreamError) {
					t.Fatalf("failed attempt %+v", e.Attempts[0])
				}
			}
			var st route.Status
			for _, s := range fe.health.Snapshot() {
				if s.Provider == "a" {
					st = s
				}
			}
			if st.State != route.Ejected {
				t.Fatalf("A's health %+v", st)
			}
		})
	}
}

// F2: a 429 with Retry-After sends traffic to B at once and keeps A out
// until the time is up.
func TestF2RetryAfter(t *testing.T) {
	var first atomic.Bool
	fe := newFaultEnv(t, func(*http.Request) *openaifake.Behavior {
		if first.CompareAndSwap(false, true) {
			return &openaifake.Behavior{Status: 429, RetryAfter: "2"}
		}
		return nil
	}, "", config.Timeouts{})
	start := time.Now()
	for time.Since(start) < 1500*time.Millisecond {
		if resp, _ := fe.do(t, haBody); resp.StatusCode != 200 || resp.Header.Get("X-Sluice-Provider") != "b" {
			t.Fatalf("status %d via %q", resp.StatusCode, resp.Header.Get("X-Sluice-Provider"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if hits := fe.aHits.Load(); hits != 1 {
		t.Fatalf("A was tried %d times inside its Retry-After window, want 1", hits)
	}
	time.Sleep(700 * time.Millisecond)
	if resp, _ := fe.do(t, haBody); resp.Header.Get("X-Sluice-Provider") != "a" {
		t.Fatalf("after Retry-After, A serves again; got %q", resp.Header.Get("X-Sluice-Provider"))
	}
}

// F3: A refuses connections.
func TestF3ConnectionRefused(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String() + "/v1"
	ln.Close()
	fe := newFaultEnv(t, nil, dead, config.Timeouts{})
	for range 20 {
		start := time.Now()
		resp, _ := fe.do(t, haBody)
		if resp.StatusCode != 200 || resp.Header.Get("X-Sluice-Provider") != "b" {
			t.Fatalf("status %d via %q", resp.StatusCode, resp.Header.Get("X-Sluice-Provider"))
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("failover took %v", d)
		}
	}
}

// F4: A accepts and never answers; the first-byte deadline fails over.
func TestF4Blackhole(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			conns.Add(1)
			go func() { defer conns.Done(); _, _ = c.Read(make([]byte, 1<<20)); _, _ = c.Read(make([]byte, 1)) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
	})
	fe := newFaultEnv(t, nil, "http://"+ln.Addr().String()+"/v1", config.Timeouts{FirstByte: config.Duration(time.Second)})
	start := time.Now()
	resp, body := fe.do(t, haStream)
	d := time.Since(start)
	if resp.StatusCode != 200 || resp.Header.Get("X-Sluice-Provider") != "b" || !strings.Contains(body, "[DONE]") {
		t.Fatalf("status %d via %q: %s", resp.StatusCode, resp.Header.Get("X-Sluice-Provider"), body)
	}
	if d < time.Second || d > 1500*time.Millisecond {
		t.Fatalf("answered after %v; want the 1 s first-byte deadline plus B's time", d)
	}
	e := fe.rec.all()[0]
	if len(e.Attempts) != 2 || !strings.Contains(e.Attempts[0].Error, "first-byte") {
		t.Fatalf("attempts %+v", e.Attempts)
	}
	// The blackholed connection is closed by Sluice (its reader sees EOF).
	done := make(chan struct{})
	go func() { conns.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("the connection to the blackhole was not closed")
	}
}

// F5: once bytes reach the client there is no failover: the cut stream
// ends with an error event, is recorded as truncated and billed once.
func TestF5NoRetryAfterFirstByte(t *testing.T) {
	for _, mode := range []string{"cut", "reset"} {
		t.Run(mode, func(t *testing.T) {
			fe := newFaultEnv(t, func(*http.Request) *openaifake.Behavior {
				if mode == "cut" {
					return &openaifake.Behavior{Chunks: 50, CutAfter: 10}
				}
				return &openaifake.Behavior{Chunks: 50, ResetAfter: 10}
			}, "", config.Timeouts{})
			resp, body := fe.do(t, haStream)
			if resp.StatusCode != 200 || strings.Contains(body, "[DONE]") || !strings.Contains(body, "upstream_stream_truncated") {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
			if strings.Contains(body, `"finish_reason":"stop"`) {
				t.Fatal("fabricated finish_reason")
			}
			if fe.b.Count() != 0 {
				t.Fatal("a stream was retried after bytes reached the client")
			}
			e := fe.rec.all()[0]
			if e.Status != ledger.StatusTruncated || len(e.Attempts) != 1 || !e.Estimated || e.OutputTokens == 0 || e.CostMicros == 0 {
				t.Fatalf("entry %+v", e)
			}
		})
	}
}

// F7: both targets fail; attempts stay within 1.2 x requests + 3 because
// ejected targets are not tried twice and retries are budgeted.
func TestF7NoRetryStorm(t *testing.T) {
	fe := newFaultEnv(t, func(*http.Request) *openaifake.Behavior { return &openaifake.Behavior{Status: 503} }, "", config.Timeouts{})
	// B fails too: its fake answers the X-Fake-Status header.
	const n = 200
	var wg sync.WaitGroup
	sem := make(chan struct{}, 20)
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			req, _ := http.NewRequest(http.MethodPost, fe.server+"/v1/chat/completions", strings.NewReader(haBody))
			req.Header.Set("Authorization", "Bearer "+clientKey)
			req.Header.Set("X-Fake-Status", "503")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 503 {
				t.Errorf("status %d, want the upstream's 503", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	attempts := fe.aHits.Load() + int64(fe.b.Count())
	if limit := int64(1.2*n) + 3; attempts > limit {
		t.Fatalf("%d upstream attempts for %d requests; limit %d", attempts, n, limit)
	}
	t.Logf("%d upstream attempts for %d requests", attempts, n)
	if len(fe.rec.all()) != n {
		t.Fatalf("%d ledger entries", len(fe.rec.all()))
	}
}

// F8: a trickling upstream is cut at the stall deadline, with an error event.
func TestF8Stall(t *testing.T) {
	fe := newFaultEnv(t, func(*http.Request) *openaifake.Behavior {
		return &openaifake.Behavior{Chunks: 10, ChunkDelay: 3 * time.Second}
	}, "", config.Timeouts{Stall: config.Duration(500 * time.Millisecond)})
	start := time.Now()
	resp, body := fe.do(t, haStream)
	d := time.Since(start)
	if resp.StatusCode != 200 || !strings.Contains(body, "stalled") || strings.Contains(body, "[DONE]") {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if d < 450*time.Millisecond || d > 3*time.Second {
		t.Fatalf("stall detected after %v, want about 500 ms", d)
	}
	if e := fe.rec.all()[0]; e.Status != ledger.StatusTruncated || !strings.Contains(e.Error, "stalled") {
		t.Fatalf("entry %+v", e)
	}
}

// F9: hostile upstreams: broken JSON in a data line, absurd usage, and a
// line over the 1 MiB limit. No panic; the stream ends cleanly.
func TestF9HostileUpstream(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"negative usage is ignored", "", ""},
		{"2 MiB line", strings.Repeat("x", 2<<20), "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			neg := -5
			fe := newFaultEnv(t, func(*http.Request) *openaifake.Behavior {
				return &openaifake.Behavior{Content: tc.content, PromptTokens: &neg, Chunks: 1}
			}, "", config.Timeouts{})
			resp, body := fe.do(t, haStream)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			e := fe.rec.all()[0]
			if e.InputTokens < 0 || e.OutputTokens < 0 || e.CostMicros < 0 {
				t.Fatalf("negative figures billed: %+v", e)
			}
			if tc.want != "" && (e.Status != ledger.StatusTruncated || !strings.Contains(e.Error, tc.want)) {
				t.Fatalf("entry %+v", e)
			}
			if tc.want == "" && (!e.Estimated || !strings.Contains(body, "[DONE]")) {
				t.Fatalf("absurd usage must be replaced by an estimate: %+v", e)
			}
		})
	}
}

// chaosVia puts a chaos proxy with mode m in front of A.
func chaosVia(t *testing.T, m chaos.Mode, out **chaos.Proxy) func(string) string {
	return func(fakeURL string) string {
		host := strings.TrimSuffix(strings.TrimPrefix(fakeURL, "http://"), "/v1")
		p := chaos.Start(t, host, m)
		*out = p
		return "http://" + p.Addr() + "/v1"
	}
}

// F3 with a chaos proxy: A resets every connection before headers.
func TestF3ResetBeforeHeaders(t *testing.T) {
	var p *chaos.Proxy
	fe := newFaultEnvVia(t, nil, chaosVia(t, chaos.Mode{ResetAfter: -1}, &p), config.Timeouts{})
	for range 20 {
		resp, _ := fe.do(t, haStream)
		if resp.StatusCode != 200 || resp.Header.Get("X-Sluice-Provider") != "b" {
			t.Fatalf("status %d via %q", resp.StatusCode, resp.Header.Get("X-Sluice-Provider"))
		}
	}
	if p.Accepted() == 0 || p.Accepted() > 5 {
		t.Fatalf("A saw %d connections; want 1-5 (ejected after 5 failures)", p.Accepted())
	}
}

// F9 slicer: every byte of A's stream arrives in its own TCP segment, so
// "[DONE]" and the usage chunk are split everywhere; the stream still
// completes with exact usage.
func TestF9SlicedStream(t *testing.T) {
	var p *chaos.Proxy
	fe := newFaultEnvVia(t, func(*http.Request) *openaifake.Behavior { return &openaifake.Behavior{Chunks: 20} }, chaosVia(t, chaos.Mode{Slice: true}, &p), config.Timeouts{})
	resp, body := fe.do(t, haStream)
	if resp.StatusCode != 200 || !strings.HasSuffix(strings.TrimSpace(body), "data: [DONE]") || resp.Header.Get("X-Sluice-Provider") != "a" {
		t.Fatalf("status %d via %q: %s", resp.StatusCode, resp.Header.Get("X-Sluice-Provider"), body)
	}
	e := fe.rec.all()[0]
	if e.Status != ledger.StatusOK || e.Estimated || e.InputTokens == 0 || e.OutputTokens == 0 {
		t.Fatalf("entry %+v", e)
	}
}

// F5 with a chaos proxy: the TCP connection is reset mid-stream.
func TestF5ResetMidStream(t *testing.T) {
	var p *chaos.Proxy
	fe := newFaultEnvVia(t, func(*http.Request) *openaifake.Behavior { return &openaifake.Behavior{Chunks: 50} }, chaosVia(t, chaos.Mode{ResetAfter: 1500}, &p), config.Timeouts{})
	resp, body := fe.do(t, haStream)
	if resp.StatusCode != 200 || strings.Contains(body, "[DONE]") || !strings.Contains(body, "upstream_stream_truncated") {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if e := fe.rec.all()[0]; e.Status != ledger.StatusTruncated || fe.b.Count() != 0 {
		t.Fatalf("entry %+v, B tried %d times", e, fe.b.Count())
	}
}

// Retries on one target beyond the number of targets back off
// exponentially with jitter.
func TestRetryCyclesWithBackoff(t *testing.T) {
	var n atomic.Int64
	fake, url := openaifake.Start(t, openaifake.Options{Script: func(*http.Request) *openaifake.Behavior {
		if n.Add(1) <= 2 {
			return &openaifake.Behavior{Status: 503}
		}
		return nil
	}})
	_ = fake
	rec := &recorder{}
	base := serveFile(t, &config.File{Version: 1,
		Providers: []config.Provider{{Name: "only", Type: "openai", BaseURL: url}},
		Models: []config.Model{{Name: "one", Targets: []config.Target{{Provider: "only", Model: "m"}},
			Routing: config.Routing{MaxAttempts: 3}}},
		Keys: []config.Key{{Name: "dev", Key: clientKey}},
	}, route.NewRegistry(route.HealthOptions{}), rec)
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(`{"model":"one","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+clientKey)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	d := time.Since(start)
	if resp.StatusCode != 200 || resp.Header.Get("X-Sluice-Attempts") != "3" {
		t.Fatalf("status %d after %s attempts", resp.StatusCode, resp.Header.Get("X-Sluice-Attempts"))
	}
	// Backoffs: 50-150 ms, then 100-300 ms.
	if d < 150*time.Millisecond || d > 2*time.Second {
		t.Fatalf("three attempts took %v; want the backoff between them", d)
	}
}

// A key pool rotates keys and rests the one the provider says is spent.
func TestKeyPoolRotationAndRateLimitHeaders(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	up := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		mu.Lock()
		seen[key]++
		mu.Unlock()
		if key == "k1" {
			w.Header().Set("X-Ratelimit-Remaining-Requests", "0")
			w.Header().Set("X-Ratelimit-Reset-Requests", "1m0s")
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`))
	}))
	base := serveFile(t, &config.File{Version: 1,
		Providers: []config.Provider{{Name: "pool", Type: "openai", BaseURL: up + "/v1", APIKeys: []string{"k1", "k2", "k3"}}},
		Models:    []config.Model{{Name: "p", Targets: []config.Target{{Provider: "pool", Model: "m"}}}},
		Keys:      []config.Key{{Name: "dev", Key: clientKey}},
	}, route.NewRegistry(route.HealthOptions{}), &recorder{})
	for range 12 {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(`{"model":"p","messages":[]}`))
		req.Header.Set("Authorization", "Bearer "+clientKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["k1"] != 1 || seen["k2"]+seen["k3"] != 11 || seen["k2"] < 3 || seen["k3"] < 3 || seen[clientKey] != 0 {
		t.Fatalf("keys used: %v; k1 must rest after its provider said it was spent", seen)
	}
}

// TestAttemptHeaders: the answer names the provider, model and attempt
// number that served it, one value each, after a failover too.
func TestAttemptHeaders(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		failA                     bool
		provider, model, attempts string
	}{
		{"first target", false, "a", "m-a", "1"},
		{"after failover", true, "b", "m-b", "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fe := newFaultEnv(t, func(*http.Request) *openaifake.Behavior {
				if tc.failA {
					return &openaifake.Behavior{Status: 503}
				}
				return nil
			}, "", config.Timeouts{})
			resp, body := fe.do(t, haBody)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			for k, want := range map[string]string{"X-Sluice-Provider": tc.provider, "X-Sluice-Model": tc.model, "X-Sluice-Attempts": tc.attempts} {
				if got := resp.Header[k]; len(got) != 1 || got[0] != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
		})
	}
}
