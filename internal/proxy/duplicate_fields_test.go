package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/provider/openai"
	"github.com/sluicehq/sluice/internal/ratelimit"
	"github.com/sluicehq/sluice/internal/runtime"
)

// upstreamView is what a case-insensitive upstream (Go's encoding/json,
// as Ollama and many OpenAI-compatible servers use) reads from a body.
type upstreamView struct {
	Model         string `json:"model"`
	MaxTokens     *int64 `json:"max_tokens"`
	MaxCompletion *int64 `json:"max_completion_tokens"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// jsonUpstream is an OpenAI-compatible upstream that parses bodies with
// encoding/json, records what it read, and waits for gate (when set)
// before it answers.
type jsonUpstream struct {
	mu   sync.Mutex
	seen []upstreamView
	gate chan struct{}
	in   atomic.Int64
}

func (u *jsonUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var v upstreamView
	if err := json.Unmarshal(b, &v); err != nil {
		http.Error(w, `{"error":{"message":"bad json","type":"invalid_request_error"}}`, 400)
		return
	}
	u.mu.Lock()
	u.seen = append(u.seen, v)
	u.mu.Unlock()
	u.in.Add(1)
	if u.gate != nil {
		<-u.gate
	}
	if v.Stream {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","model":"`+v.Model+`","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}`+"\n\ndata: [DONE]\n\n")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"id":"c","object":"chat.completion","model":"`+v.Model+`","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}`)
}

const (
	miniKey       = "gw-test-mini-only-key-01"
	oneAtATimeKey = "gw-test-one-at-a-time-01"
)

// jsonUpstreamEnv serves two models, gpt-4o-mini (upstream "up-mini") and
// gpt-4o (upstream "up-4o", $50 per million output tokens), and a key
// allowed only gpt-4o-mini with a $1 budget and no fixed reservation, and
// a key limited to one request at a time.
func jsonUpstreamEnv(t *testing.T, up *jsonUpstream) (string, *recorder) {
	t.Helper()
	upSrv := httptest.NewServer(up)
	t.Cleanup(upSrv.Close)
	file := &config.File{
		Version:   1,
		Providers: []config.Provider{{Name: "up", Type: "openai", BaseURL: upSrv.URL, APIKey: providerKey}},
		Models: []config.Model{
			{Name: "gpt-4o-mini", Targets: []config.Target{{Provider: "up", Model: "up-mini"}}, Pricing: config.Pricing{OutputPerMTok: 50}},
			{Name: "gpt-4o", Targets: []config.Target{{Provider: "up", Model: "up-4o"}}, Pricing: config.Pricing{OutputPerMTok: 50}},
		},
		Keys: []config.Key{{Name: "mini", Key: miniKey, Models: []string{"gpt-4o-mini"},
			Limits: config.Limits{Budget: &config.Budget{AmountUSD: 1, Period: "monthly"}}},
			{Name: "one-at-a-time", Key: oneAtATimeKey, Limits: config.Limits{MaxConcurrent: 1}}},
	}
	if err := file.Validate(); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}}
	t.Cleanup(client.CloseIdleConnections)
	reg := provider.Registry{"openai": func(s provider.Spec) (provider.Adapter, error) {
		return openai.New(openai.Options{Name: s.Name, BaseURL: s.BaseURL, APIKey: s.APIKey, Client: client, Timeout: s.Timeout}), nil
	}}
	snap, err := runtime.Compile(runtime.Inputs{File: file, Registry: reg, Provider: func(p config.Provider) provider.Spec {
		return provider.Spec{Name: p.Name, Type: p.Type, BaseURL: p.BaseURL, APIKey: p.APIKey}
	}})
	if err != nil {
		t.Fatal(err)
	}
	var holder runtime.Holder
	holder.Store(snap)
	rec := &recorder{}
	mux := http.NewServeMux()
	New(Options{Snapshots: &holder, Ledger: rec, Limiter: ratelimit.New(nil)}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL, rec
}

// hostileFieldBodies repeat or respell the fields the gateway decides on.
var hostileFieldBodies = []string{
	`{"model":"gpt-4o-mini","MODEL":"gpt-4o"}`,
	`{"MODEL":"gpt-4o","model":"gpt-4o-mini"}`,
	`{"model":"gpt-4o-mini","Model":"gpt-4o"}`,
	`{"model":"gpt-4o-mini","mod\u0065l":"gpt-4o"}`,
	`{"model":"gpt-4o-mini","MOD\u0045L":"gpt-4o"}`,
	`{"model":"gpt-4o-mini","model":"gpt-4o"}`,
	`{"model":"gpt-4o-mini","max_tokens":1,"max_tokens":5000}`,
	`{"model":"gpt-4o-mini","max_tokens":1,"MAX_TOKENS":5000}`,
	`{"model":"gpt-4o-mini","max_tokens":1,"Max_Tokens":5000}`,
	`{"model":"gpt-4o-mini","max_tokens":1,"max_completion_tokens":5000}`,
	`{"model":"gpt-4o-mini","max_completion_tokens":5000,"max_tokens":1}`,
	`{"model":"gpt-4o-mini","max_tokens":50,"max_completion_tokens":50}`,
	`{"model":"gpt-4o-mini","stream":false,"Stream":true}`,
	`{"model":"gpt-4o-mini","Stream":true}`,
	"{\"model\":\"gpt-4o-mini\",\"\u017ftream\":true}",     // long s folds to s
	"{\"model\":\"gpt-4o-mini\",\"max_to\u212aens\":5000}", // Kelvin sign folds to k
	`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":false,"INCLUDE_USAGE":true}}`,
	`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":false},"Stream_Options":{"include_usage":true}}`,
	`{"model":"gpt-4o-mini","messages":[],"Messages":[{"role":"user","content":"x"}]}`,
	`{"model":"gpt-4o-mini","user":"a","USER":"b"}`,
	`{"model":"gpt-4o-mini","n":1,"N":5}`,
	`{"model":"gpt-4o-mini","metadata":{"user_id":"a","USER_ID":"b"}}`,
	// Controls: ordinary bodies that must pass through unchanged.
	`{"model":"gpt-4o-mini","max_tokens":7,"stream":true,"stream_options":{"include_usage":true}}`,
	`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"{\"MODEL\":\"gpt-4o\"}"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"model":"a","Model":"b"}}}]}`,
}

// TestDecidedFieldsAgreeWithUpstream: whatever reaches an upstream that
// parses with encoding/json, it reads the model, max_tokens and stream
// that the gateway authorised, billed and reserved for; otherwise the
// gateway refused the body with a 400 that names the field.
func TestDecidedFieldsAgreeWithUpstream(t *testing.T) {
	up := &jsonUpstream{}
	url, rec := jsonUpstreamEnv(t, up)
	forwarded := 0
	for i, body := range hostileFieldBodies {
		t.Run(body, func(t *testing.T) {
			before := len(up.seen)
			req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+miniKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got := readAll(t, resp)
			up.mu.Lock()
			seen := up.seen[before:]
			up.mu.Unlock()
			if len(seen) == 0 {
				if resp.StatusCode != 400 && resp.StatusCode != 403 {
					t.Fatalf("not forwarded, status %d: %s", resp.StatusCode, got)
				}
				if resp.StatusCode == 400 && !strings.Contains(got, `"param"`) {
					t.Fatalf("refusal names no field: %s", got)
				}
				return
			}
			forwarded++
			entries := waitRecorded(t, rec, i+1)
			entry := entries[i]
			v := seen[0]
			p, err := peek([]byte(body))
			if err != nil {
				t.Fatalf("forwarded a body the peek refuses: %v", err)
			}
			fs := &forwardSpec{body: []byte(body), peek: p}
			if entry.Model != "gpt-4o-mini" || v.Model != "up-mini" {
				t.Fatalf("gateway billed %q, upstream served %q", entry.Model, v.Model)
			}
			if v.Stream != entry.Stream {
				t.Fatalf("gateway stream=%v, upstream stream=%v", entry.Stream, v.Stream)
			}
			// Every output limit the upstream reads is the one reserved for.
			limits := 0
			for name, lim := range map[string]*int64{"max_tokens": v.MaxTokens, "max_completion_tokens": v.MaxCompletion} {
				if lim != nil {
					limits++
					if *lim != fs.maxTokens() {
						t.Fatalf("gateway reserved for %d output tokens, upstream reads %s %d", fs.maxTokens(), name, *lim)
					}
				}
			}
			if limits == 0 && fs.maxTokens() != 0 {
				t.Fatalf("gateway reserved for %d output tokens, upstream reads no limit", fs.maxTokens())
			}
			if v.StreamOptions != nil && v.StreamOptions.IncludeUsage != p.includeUsage {
				t.Fatalf("gateway include_usage=%v, upstream %v", p.includeUsage, v.StreamOptions.IncludeUsage)
			}
		})
	}
	if forwarded < 2 {
		t.Fatalf("only %d bodies were forwarded: the controls must pass", forwarded)
	}
}

// waitRecorded waits for n ledger entries.
func waitRecorded(t *testing.T, rec *recorder, n int) []ledger.Entry {
	t.Helper()
	e := &env{rec: rec}
	return e.waitEntries(t, n)
}

// TestConcurrentAdmitsBoundedByBudget: the $1 budget reserves $0.25 for a
// request with max_tokens 5000, so at most 4 such requests are in flight
// at once, for every spelling of max_tokens a client can send.
func TestConcurrentAdmitsBoundedByBudget(t *testing.T) {
	bodies := []string{
		`{"model":"gpt-4o-mini","max_tokens":5000}`,
		`{"model":"gpt-4o-mini","max_tokens":1,"max_tokens":5000}`,
		`{"model":"gpt-4o-mini","max_tokens":1,"MAX_TOKENS":5000}`,
		`{"model":"gpt-4o-mini","max_tokens":1,"max_tok\u0065ns":5000}`,
	}
	const n, m = 20, 4
	for _, body := range bodies {
		t.Run(body, func(t *testing.T) {
			up := &jsonUpstream{gate: make(chan struct{})}
			url, _ := jsonUpstreamEnv(t, up)
			var wg sync.WaitGroup
			var answered atomic.Int64
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer answered.Add(1)
					req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+miniKey)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					readAll(t, resp)
				}()
			}
			// Every request is either waiting upstream or answered.
			for up.in.Load()+answered.Load() < n {
				if t.Failed() {
					break
				}
				time.Sleep(time.Millisecond)
			}
			admitted := up.in.Load()
			close(up.gate)
			wg.Wait()
			if admitted > m {
				t.Fatalf("%d requests admitted at once; the budget allows %d", admitted, m)
			}
		})
	}
}
