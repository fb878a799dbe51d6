package proxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/sluicehq/sluice/internal/cache"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/guard"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/metrics"
)

// textUpstream is a minimal OpenAI chat upstream: it records the bodies it
// receives and answers reply, streamed one character per delta (and, with
// oneByte, one byte per write and flush) when asked to stream.
type textUpstream struct {
	mu      sync.Mutex
	bodies  []string
	reply   string
	oneByte bool
}

func (u *textUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.bodies = append(u.bodies, string(body))
	reply, oneByte := u.reply, u.oneByte
	u.mu.Unlock()
	model := gjson.GetBytes(body, "model").Str
	if !gjson.GetBytes(body, "stream").Bool() {
		w.Header().Set("Content-Type", "application/json")
		out, _ := json.Marshal(map[string]any{"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": reply}, "finish_reason": "stop"}},
			"usage":   map[string]any{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
		_, _ = w.Write(out)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	var sb strings.Builder
	chunk := func(delta map[string]any, finish any) {
		b, _ := json.Marshal(map[string]any{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}})
		fmt.Fprintf(&sb, "data: %s\n\n", b)
	}
	chunk(map[string]any{"role": "assistant", "content": ""}, nil)
	for _, r := range reply {
		chunk(map[string]any{"content": string(r)}, nil)
	}
	chunk(map[string]any{}, "stop")
	fmt.Fprintf(&sb, "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":%q,\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":15}}\n\ndata: [DONE]\n\n", model)
	out := []byte(sb.String())
	rc := http.NewResponseController(w)
	step := len(out)
	if oneByte {
		step = 1
	}
	for i := 0; i < len(out); i += step {
		if _, err := w.Write(out[i:min(i+step, len(out))]); err != nil {
			return
		}
		_ = rc.Flush()
	}
}

func (u *textUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.bodies)
}

func (u *textUpstream) last() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.bodies) == 0 {
		return ""
	}
	return u.bodies[len(u.bodies)-1]
}

const (
	orgAKey = "gw-test-org-a-key-0001"
	orgBKey = "gw-test-org-b-key-0002"
)

// guardEnv serves the contract's configuration (model "gm": pii masking on
// input and output, sk- secrets blocked on input, exact cache) and model
// "out-block" (a word blocked in answers), both in front of up.
func guardEnv(t *testing.T, up *textUpstream, reg *metrics.Registry) *env {
	t.Helper()
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	return newEnvWith(t, func(o *Options) {
		o.Codecs = dialectCodecs()
		if reg != nil {
			o.Metrics = NewMetrics(reg)
		}
	}, func(f *config.File) {
		f.Providers[0].BaseURL = srv.URL + "/v1"
		f.Guardrails = []config.Guardrail{
			{Name: "pii", Type: "pii", Entities: []string{"email", "credit_card"}, Action: "mask", On: []string{"input", "output"}},
			{Name: "no-secrets", Type: "regex", Patterns: []string{"sk-[A-Za-z0-9]{20,}"}, Action: "block", On: []string{"input"}},
			{Name: "no-frobnicate", Type: "words", Words: []string{"frobnicate"}, Action: "block", On: []string{"output"}},
		}
		f.Models = append(f.Models,
			config.Model{Name: "gm", Targets: []config.Target{{Provider: "up", Model: "gpt-4o-mini"}},
				Guardrails: []string{"pii", "no-secrets"}, Cache: &config.ModelCache{Mode: "exact", TTL: config.Duration(60e9)},
				Pricing: config.Pricing{InputPerMTok: 1, OutputPerMTok: 2}},
			config.Model{Name: "out-block", Targets: []config.Target{{Provider: "up", Model: "gpt-4o-mini"}}, Guardrails: []string{"no-frobnicate"}},
		)
		f.Orgs = []config.Org{
			{Name: "a", Teams: []config.Team{{Name: "ta", Applications: []config.App{{Name: "aa"}}}}},
			{Name: "b", Teams: []config.Team{{Name: "tb", Applications: []config.App{{Name: "ab"}}}}},
		}
		f.Keys = append(f.Keys, config.Key{Name: "in-a", Key: orgAKey, Application: "a/ta/aa"}, config.Key{Name: "in-b", Key: orgBKey, Application: "b/tb/ab"})
	})
}

// A guardIngress is one client protocol: how to ask it, and how to read
// the text of its answers (whole or streamed) and its errors.
type guardIngress struct {
	name   string
	req    func(model, text string, stream bool) (path, body string)
	hdr    func(key string) map[string]string
	text   func(body string) string // answer text of a non-streamed answer
	delta  func(data gjson.Result) string
	end    string // the stream's terminal marker
	errMsg func(t *testing.T, body string) string
}

func guardIngresses() []guardIngress {
	bearer := func(k string) map[string]string { return map[string]string{"Authorization": "Bearer " + k} }
	return []guardIngress{
		{
			name: "chat",
			req: func(model, text string, stream bool) (string, string) {
				b, _ := json.Marshal(map[string]any{"model": model, "stream": stream, "messages": []any{map[string]any{"role": "user", "content": text}}})
				return "/v1/chat/completions", string(b)
			},
			hdr:    bearer,
			text:   func(b string) string { return gjson.Get(b, "choices.0.message.content").Str },
			delta:  func(d gjson.Result) string { return d.Get("choices.0.delta.content").Str },
			end:    "data: [DONE]",
			errMsg: openAIMessage,
		},
		{
			name: "responses",
			req: func(model, text string, stream bool) (string, string) {
				b, _ := json.Marshal(map[string]any{"model": model, "stream": stream, "input": text})
				return "/v1/responses", string(b)
			},
			hdr: bearer,
			text: func(b string) string {
				var s string
				gjson.Get(b, "output.#.content.#.text").ForEach(func(_, v gjson.Result) bool {
					v.ForEach(func(_, x gjson.Result) bool { s += x.Str; return true })
					return true
				})
				return s
			},
			delta: func(d gjson.Result) string {
				if d.Get("type").Str == "response.output_text.delta" {
					return d.Get("delta").Str
				}
				return ""
			},
			end:    "response.completed",
			errMsg: openAIMessage,
		},
		{
			name: "messages",
			req: func(model, text string, stream bool) (string, string) {
				b, _ := json.Marshal(map[string]any{"model": model, "stream": stream, "max_tokens": 100, "messages": []any{map[string]any{"role": "user", "content": text}}})
				return "/v1/messages", string(b)
			},
			hdr: func(k string) map[string]string {
				return map[string]string{"X-Api-Key": k, "Anthropic-Version": "2023-06-01"}
			},
			text: func(b string) string { return gjson.Get(b, "content.0.text").Str },
			delta: func(d gjson.Result) string {
				if d.Get("type").Str == "content_block_delta" {
					return d.Get("delta.text").Str
				}
				return ""
			},
			end:    "event: message_stop",
			errMsg: anthropicMessage,
		},
		{
			name: "gemini",
			req: func(model, text string, stream bool) (string, string) {
				b, _ := json.Marshal(map[string]any{"contents": []any{map[string]any{"role": "user", "parts": []any{map[string]any{"text": text}}}}})
				if stream {
					return "/v1beta/models/" + model + ":streamGenerateContent?alt=sse", string(b)
				}
				return "/v1beta/models/" + model + ":generateContent", string(b)
			},
			hdr:    func(k string) map[string]string { return map[string]string{"X-Goog-Api-Key": k} },
			text:   func(b string) string { return gjson.Get(b, "candidates.0.content.parts.0.text").Str },
			delta:  func(d gjson.Result) string { return d.Get("candidates.0.content.parts.0.text").Str },
			end:    `"finishReason":"STOP"`,
			errMsg: geminiMessage,
		},
	}
}

// answer is what a client read: the status, the answer's text (deltas
// joined for a stream), the raw body and the headers.
type answer struct {
	status int
	text   string
	body   string
	header http.Header
}

func (in guardIngress) ask(t *testing.T, e *env, key, model, text string, stream bool, extra map[string]string) answer {
	t.Helper()
	path, body := in.req(model, text, stream)
	hdr := in.hdr(key)
	for k, v := range extra {
		hdr[k] = v
	}
	resp := e.post(t, path, body, hdr)
	raw := readAll(t, resp)
	a := answer{status: resp.StatusCode, body: raw, header: resp.Header}
	if resp.StatusCode != http.StatusOK {
		return a
	}
	if !stream {
		a.text = in.text(raw)
		return a
	}
	sc := bufio.NewScanner(strings.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok && gjson.Valid(line) {
			a.text += in.delta(gjson.Parse(line))
		}
	}
	return a
}

const (
	card   = "4111 1111 1111 1111"
	email  = "bob@example.com"
	secret = "sk-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
)

// Per ingress protocol, streamed and not: a card number and an email reach
// the upstream masked; an sk- secret is refused in the client's dialect,
// naming the guardrail, and never reaches the upstream; an email in the
// answer reaches the client masked; a word blocked in answers ends the
// stream with an error event and no terminal event; the second identical
// request is a cache hit with no upstream call.
func TestGuardAndCachePerIngress(t *testing.T) {
	for _, in := range guardIngresses() {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", in.name, stream), func(t *testing.T) {
				up := &textUpstream{reply: "Write to alice@example.org today."}
				e := guardEnv(t, up, nil)
				n := 0
				ledgerN := func() []ledger.Entry { n++; return e.waitEntries(t, n) }

				// Input masked.
				msg := fmt.Sprintf("My card is %s and my mail %s, pay %d.", card, email, len(in.name))
				a := in.ask(t, e, clientKey, "gm", msg, stream, nil)
				if a.status != 200 {
					t.Fatalf("status %d: %s", a.status, a.body)
				}
				if got := up.last(); strings.Contains(got, card) || strings.Contains(got, email) || !strings.Contains(got, "<CREDIT_CARD_1>") || !strings.Contains(got, "<EMAIL_1>") {
					t.Fatalf("the upstream received %s", got)
				}
				// Output masked.
				if strings.Contains(a.text, "alice@example.org") || a.text != "Write to <EMAIL_1> today." && a.text != "Write to <EMAIL_2> today." {
					t.Fatalf("the client read %q", a.text)
				}
				if stream && !strings.Contains(a.body, in.end) {
					t.Fatalf("the stream has no %s: %s", in.end, a.body)
				}
				if a.header.Get("X-Sluice-Cache") != "miss" {
					t.Fatalf("x-sluice-cache %q, want miss", a.header.Get("X-Sluice-Cache"))
				}
				entries := ledgerN()
				if e := entries[len(entries)-1]; e.Cache != "miss" || !hasVerdict(e, "pii", "input", 2) || !hasVerdict(e, "pii", "output", 1) {
					t.Fatalf("ledger entry cache %q verdicts %+v", e.Cache, e.Guardrails)
				}

				// Cache hit: the same request again, no upstream call.
				calls := up.count()
				b := in.ask(t, e, clientKey, "gm", msg, stream, nil)
				if b.status != 200 || b.header.Get("X-Sluice-Cache") != "hit" || up.count() != calls {
					t.Fatalf("second request: status %d cache %q upstream calls %d -> %d: %s", b.status, b.header.Get("X-Sluice-Cache"), calls, up.count(), b.body)
				}
				if b.text != a.text || (stream && !strings.Contains(b.body, in.end)) {
					t.Fatalf("hit %q (%s), want %q", b.text, b.body, a.text)
				}
				entries = ledgerN()
				if hit := entries[len(entries)-1]; hit.Cache != "hit" || hit.CostMicros != 0 || hit.SavedCostMicros <= 0 || hit.InputTokens != 0 {
					t.Fatalf("hit entry %+v", hit)
				}

				// Input blocked, never upstream.
				calls = up.count()
				c := in.ask(t, e, clientKey, "gm", "here is my key "+secret, stream, nil)
				if c.status != http.StatusForbidden || strings.Contains(c.body, secret) || !strings.Contains(in.errMsg(t, c.body), "no-secrets") || up.count() != calls {
					t.Fatalf("secret: status %d upstream calls %d -> %d: %s", c.status, calls, up.count(), c.body)
				}
				entries = ledgerN()
				if blk := entries[len(entries)-1]; blk.Status != ledger.StatusBlocked || !hasVerdict(blk, "no-secrets", "input", 1) {
					t.Fatalf("blocked entry %s %+v", blk.Status, blk.Guardrails)
				}

				// Output blocked.
				up.mu.Lock()
				up.reply = "Please frobnicate the widget now."
				up.mu.Unlock()
				d := in.ask(t, e, clientKey, "out-block", "hi", stream, nil)
				if strings.Contains(d.body, "frobnicate the") || strings.Contains(d.text, "frobnicate") {
					t.Fatalf("the blocked word reached the client: %s", d.body)
				}
				if !stream && (d.status != http.StatusForbidden || !strings.Contains(in.errMsg(t, d.body), "no-frobnicate")) {
					t.Fatalf("blocked answer: status %d %s", d.status, d.body)
				}
				if stream && (strings.Contains(d.body, in.end) || !strings.Contains(d.body, "no-frobnicate")) {
					t.Fatalf("blocked stream: %s", d.body)
				}
				entries = ledgerN()
				if blk := entries[len(entries)-1]; blk.Status != ledger.StatusBlocked || !hasVerdict(blk, "no-frobnicate", "output", 1) {
					t.Fatalf("blocked answer entry %s %+v", blk.Status, blk.Guardrails)
				}
			})
		}
	}
}

func hasVerdict(e ledger.Entry, name, stage string, count int) bool {
	for _, v := range e.Guardrails {
		if v.Guardrail == name && v.Stage == stage && v.Count == count {
			return true
		}
	}
	return false
}

// An upstream that sends its stream one byte per write, one character per
// delta, splits every card number and email at every offset: the client
// reads exactly the text the guardrail makes of the whole answer.
func TestGuardStreamOneByteChunks(t *testing.T) {
	replies := []string{
		"card 4111 1111 1111 1111 and mail carol@example.net.",
		"bob@example.com,4111111111111111;dave@x.io",
		"no personal data here, only 4111 1111 1111 1112 (bad checksum)",
	}
	set := guard.NewSet(guard.Output, mustGuard(t, guard.Spec{Name: "pii", Type: "pii", Entities: []string{"email", "credit_card"},
		Action: guard.Mask, On: []guard.Stage{guard.Output}}))
	for _, in := range guardIngresses() {
		for i, reply := range replies {
			t.Run(fmt.Sprintf("%s/%d", in.name, i), func(t *testing.T) {
				up := &textUpstream{reply: reply, oneByte: true}
				e := guardEnv(t, up, nil)
				a := in.ask(t, e, clientKey, "gm", fmt.Sprintf("say it %d", i), true, map[string]string{"Cache-Control": "no-store"})
				want := set.Apply(reply, guard.NewMasker()).Text
				if a.status != 200 || a.text != want {
					t.Fatalf("status %d: read %q, want %q", a.status, a.text, want)
				}
			})
		}
	}
}

func mustGuard(t *testing.T, s guard.Spec) *guard.Guard {
	t.Helper()
	g, err := guard.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// The cache never serves one organisation's answer to another; within one
// organisation it does. Cache-Control and the TTL header are honoured.
func TestCacheScopeAndControls(t *testing.T) {
	chat := guardIngresses()[0]
	tests := []struct {
		name       string
		first      string // key of the first request
		second     string
		hdr        map[string]string // on the second request
		wantSecond string
		wantCalls  int // upstream calls for both
	}{
		{"same org", orgAKey, orgAKey, nil, "hit", 1},
		{"other org", orgAKey, orgBKey, nil, "miss", 2},
		{"no-cache skips the lookup", orgAKey, orgAKey, map[string]string{"Cache-Control": "no-cache"}, "miss", 2},
		{"no-store bypasses", orgAKey, orgAKey, map[string]string{"Cache-Control": "no-store"}, "bypass", 2},
		{"ttl 0 bypasses", orgAKey, orgAKey, map[string]string{"X-Sluice-Cache-Ttl": "0"}, "bypass", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := &textUpstream{reply: "fine"}
			reg := metrics.NewRegistry()
			e := guardEnv(t, up, reg)
			if a := chat.ask(t, e, tc.first, "gm", "hello", false, nil); a.status != 200 || a.header.Get("X-Sluice-Cache") != "miss" {
				t.Fatalf("first: %d %q %s", a.status, a.header.Get("X-Sluice-Cache"), a.body)
			}
			b := chat.ask(t, e, tc.second, "gm", "hello", false, tc.hdr)
			if b.status != 200 || b.header.Get("X-Sluice-Cache") != tc.wantSecond || up.count() != tc.wantCalls || b.text != "fine" {
				t.Fatalf("second: %d %q, %d upstream calls (want %s, %d): %s", b.status, b.header.Get("X-Sluice-Cache"), up.count(), tc.wantSecond, tc.wantCalls, b.body)
			}
			e.waitEntries(t, 2)
			if got := metricValue(t, reg, `sluice_cache_requests_total{result="`+tc.wantSecond+`"}`); got < 1 {
				t.Fatalf("sluice_cache_requests_total{result=%q} = %v", tc.wantSecond, got)
			}
		})
	}
}

// A request without guardrails or cache is forwarded byte for byte, and
// answers carry no cache header.
func TestNoGuardrailsPassThrough(t *testing.T) {
	up := &textUpstream{reply: "mail alice@example.org"}
	e := guardEnv(t, up, nil)
	body := `{"model":"chat-small",  "messages":[{"role":"user","content":"card 4111 1111 1111 1111"}],"zz_unknown":{"k":1}}`
	resp := e.post(t, "/v1/chat/completions", body, map[string]string{"Authorization": "Bearer " + clientKey})
	got := readAll(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(got, "alice@example.org") || resp.Header.Get("X-Sluice-Cache") != "" {
		t.Fatalf("%d %q: %s", resp.StatusCode, resp.Header.Get("X-Sluice-Cache"), got)
	}
	if want := strings.Replace(body, `"chat-small"`, `"fake-model-1"`, 1); up.last() != want {
		t.Fatalf("the upstream received %s, want %s", up.last(), want)
	}
}

func metricValue(t *testing.T, reg *metrics.Registry, series string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}

// With Redis (as with --redis), a second node's data plane answers a hit
// from what the first stored; a Redis that is down is a miss, not an error.
func TestCacheInRedis(t *testing.T) {
	addr := os.Getenv("SLUICE_TEST_REDIS_ADDR")
	if addr == "" {
		t.Skip("SLUICE_TEST_REDIS_ADDR not set")
	}
	chat := guardIngresses()[0]
	msg := "hello " + NewRequestID() // unique per run: Redis outlives the test
	tests := []struct {
		name      string
		addr      string
		wantCache string
		wantCalls int
	}{
		{"shared redis", addr, "hit", 1},
		{"redis down", "127.0.0.1:1", "miss", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := &textUpstream{reply: "fine"}
			node := func(a string) *env {
				return newEnvWith(t, func(o *Options) {
					o.Codecs = dialectCodecs()
					rs, err := cache.DialRedis(a, 200*time.Millisecond)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { rs.Close() })
					o.Cache = rs
				}, func(f *config.File) {
					srv := httptest.NewServer(up)
					t.Cleanup(srv.Close)
					f.Providers[0].BaseURL = srv.URL + "/v1"
					f.Models = append(f.Models, config.Model{Name: "gm", Targets: []config.Target{{Provider: "up", Model: "m"}},
						Cache: &config.ModelCache{Mode: "exact"}})
				})
			}
			one, two := node(tc.addr), node(tc.addr)
			if a := chat.ask(t, one, clientKey, "gm", msg+tc.name, false, nil); a.status != 200 {
				t.Fatalf("first: %d %s", a.status, a.body)
			}
			b := chat.ask(t, two, clientKey, "gm", msg+tc.name, true, nil)
			if b.status != 200 || b.header.Get("X-Sluice-Cache") != tc.wantCache || up.count() != tc.wantCalls || b.text != "fine" {
				t.Fatalf("second node: %d %q, %d upstream calls: %s", b.status, b.header.Get("X-Sluice-Cache"), up.count(), b.body)
			}
		})
	}
}

// A webhook guardrail sees the request's texts as the upstream will
// (masked); its block refuses the request in the client's dialect; a call
// that fails refuses it (fail: closed) or lets it through (fail: open); a
// log-only webhook records its block.
func TestWebhookGuardrail(t *testing.T) {
	tests := []struct {
		name       string
		answer     string // the webhook's JSON answer; "" for a 500; "slow" past the timeout
		fail       string
		action     string
		wantStatus int
		wantCalls  int // upstream calls
		wantVerd   string
	}{
		{"allow", `{"action":"allow"}`, "", "", 200, 1, ""},
		{"block", `{"action":"block"}`, "", "", 403, 0, "block"},
		{"log-only block", `{"action":"block"}`, "", "log", 200, 1, "log"},
		{"error, fail closed", "", "closed", "", 503, 0, ""},
		{"error, fail open", "", "open", "", 200, 1, ""},
		{"timeout, fail closed", "slow", "", "", 503, 0, ""},
		{"unknown action", `{"action":"maybe"}`, "", "", 503, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var seen []string
			var mu sync.Mutex
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var v struct{ Texts []string }
				_ = json.NewDecoder(r.Body).Decode(&v)
				mu.Lock()
				seen = append(seen, v.Texts...)
				mu.Unlock()
				switch tc.answer {
				case "":
					w.WriteHeader(500)
				case "slow":
					time.Sleep(300 * time.Millisecond)
				default:
					_, _ = io.WriteString(w, tc.answer)
				}
			}))
			defer hook.Close()
			up := &textUpstream{reply: "fine"}
			srv := httptest.NewServer(up)
			defer srv.Close()
			e := newEnvWith(t, func(o *Options) { o.Codecs = dialectCodecs() }, func(f *config.File) {
				f.Providers[0].BaseURL = srv.URL + "/v1"
				f.Guardrails = []config.Guardrail{
					{Name: "pii", Type: "pii", Entities: []string{"credit_card"}, Action: "mask"},
					{Name: "hook", Type: "webhook", URL: hook.URL, Fail: tc.fail, Action: tc.action, Timeout: config.Duration(100 * time.Millisecond)},
				}
				f.Models = append(f.Models, config.Model{Name: "hooked", Targets: []config.Target{{Provider: "up", Model: "m"}}, Guardrails: []string{"pii", "hook"}})
			})
			msgs := guardIngresses()[2] // Anthropic: errors in its dialect
			a := msgs.ask(t, e, clientKey, "hooked", "card "+card, false, nil)
			if a.status != tc.wantStatus || up.count() != tc.wantCalls {
				t.Fatalf("status %d, %d upstream calls; want %d, %d: %s", a.status, up.count(), tc.wantStatus, tc.wantCalls, a.body)
			}
			if a.status != 200 && !strings.Contains(msgs.errMsg(t, a.body), `"hook"`) {
				t.Fatalf("the refusal does not name the guardrail: %s", a.body)
			}
			mu.Lock()
			if len(seen) != 1 || strings.Contains(seen[0], card) || !strings.Contains(seen[0], "<CREDIT_CARD_1>") {
				t.Fatalf("the webhook saw %q", seen)
			}
			mu.Unlock()
			entries := e.waitEntries(t, 1)
			if got := entries[0]; (tc.wantVerd != "") != hasVerdict(got, "hook", "input", 1) || (tc.wantVerd == "block") != (got.Status == ledger.StatusBlocked) {
				t.Fatalf("entry %s %+v", got.Status, got.Guardrails)
			}
		})
	}
}

// A json_schema guardrail checks the answer's whole text: a mismatch
// refuses a non-streamed answer and ends a stream with the error event in
// place of its stop; log only records it.
func TestSchemaGuardrail(t *testing.T) {
	tests := []struct {
		name, reply, action string
		wantBlocked         bool
	}{
		{"valid", `{"answer":"yes"}`, "", false},
		{"not JSON", `yes`, "", true},
		{"missing field", `{"other":1}`, "", true},
		{"log only", `{"other":1}`, "log", false},
	}
	for _, in := range []guardIngress{guardIngresses()[0], guardIngresses()[2]} {
		for _, stream := range []bool{false, true} {
			for _, tc := range tests {
				t.Run(fmt.Sprintf("%s/stream=%v/%s", in.name, stream, tc.name), func(t *testing.T) {
					up := &textUpstream{reply: tc.reply}
					srv := httptest.NewServer(up)
					defer srv.Close()
					e := newEnvWith(t, func(o *Options) { o.Codecs = dialectCodecs() }, func(f *config.File) {
						f.Providers[0].BaseURL = srv.URL + "/v1"
						f.Guardrails = []config.Guardrail{{Name: "shape", Type: "json_schema", Action: tc.action, On: []string{"output"},
							Schema: config.JSONValue(`{"type":"object","required":["answer"]}`)}}
						f.Models = append(f.Models, config.Model{Name: "shaped", Targets: []config.Target{{Provider: "up", Model: "m"}}, Guardrails: []string{"shape"}})
					})
					a := in.ask(t, e, clientKey, "shaped", "answer in JSON", stream, nil)
					switch {
					case !tc.wantBlocked && (a.status != 200 || a.text != tc.reply || (stream && !strings.Contains(a.body, in.end))):
						t.Fatalf("status %d text %q: %s", a.status, a.text, a.body)
					case tc.wantBlocked && !stream && (a.status != http.StatusForbidden || !strings.Contains(in.errMsg(t, a.body), `"shape"`)):
						t.Fatalf("status %d: %s", a.status, a.body)
					case tc.wantBlocked && stream && (strings.Contains(a.body, in.end) || !strings.Contains(a.body, `shape`)):
						t.Fatalf("stream not ended by the guardrail: %s", a.body)
					}
					got := e.waitEntries(t, 1)[0]
					if (tc.wantBlocked != (got.Status == ledger.StatusBlocked)) || (tc.reply != `{"answer":"yes"}`) != hasVerdict(got, "shape", "output", 1) {
						t.Fatalf("entry %s %+v", got.Status, got.Guardrails)
					}
				})
			}
		}
	}
}
