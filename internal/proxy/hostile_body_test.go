package proxy

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/jsonlimit"
	"github.com/sluicehq/sluice/internal/llm"
	protocolanthropic "github.com/sluicehq/sluice/internal/protocol/anthropic"
	protocolgemini "github.com/sluicehq/sluice/internal/protocol/gemini"
	protocolopenai "github.com/sluicehq/sluice/internal/protocol/openai"
	protocolresponses "github.com/sluicehq/sluice/internal/protocol/responses"
	"github.com/sluicehq/sluice/internal/provider"
)

// dialectCodecs are the production translators, so that errors come back in
// each client's dialect.
func dialectCodecs() Codecs {
	return Codecs{
		Clients: map[provider.Protocol]llm.ClientCodec{
			provider.ProtocolOpenAI: protocolopenai.Client, provider.ProtocolResponses: protocolresponses.Client,
			provider.ProtocolAnthropic: protocolanthropic.Client, provider.ProtocolGemini: protocolgemini.Client,
		},
		Upstreams: map[provider.Protocol]llm.UpstreamCodec{provider.ProtocolOpenAI: protocolopenai.Upstream},
		CountTokensRequest: map[provider.Protocol]func([]byte, string) (*llm.Request, error){
			provider.ProtocolAnthropic: protocolanthropic.DecodeCountTokensRequest,
			provider.ProtocolGemini:    protocolgemini.DecodeCountTokensRequest,
		},
		ResponsesTap: protocolresponses.NewTap, ResponsesUsage: protocolresponses.UsageFromBody,
	}
}

// An ingressCase is one client-facing endpoint, how to reach it with a
// body, and how to read the error it answers in its dialect.
type ingressCase struct {
	name string
	path string
	hdr  map[string]string
	// wrap puts payload under a field of a body that is otherwise valid
	// for the endpoint.
	wrap func(payload string) string
	// message extracts the error message of the endpoint's dialect; it
	// fails when the body does not have that dialect's shape.
	message func(t *testing.T, body string) string
}

func openAIMessage(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Code    *string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(body), &e) != nil || e.Error.Type == "" || e.Error.Message == "" {
		t.Fatalf("not an OpenAI error: %.300s", body)
	}
	return e.Error.Message
}

func anthropicMessage(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(body), &e) != nil || e.Type != "error" || e.Error.Type == "" || e.Error.Message == "" {
		t.Fatalf("not an Anthropic error: %.300s", body)
	}
	return e.Error.Message
}

func geminiMessage(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(body), &e) != nil || e.Error.Code == 0 || e.Error.Status == "" || e.Error.Message == "" {
		t.Fatalf("not a Gemini error: %.300s", body)
	}
	return e.Error.Message
}

// bodyIngresses are every endpoint that takes a JSON body.
func bodyIngresses(key string) []ingressCase {
	bearer := map[string]string{"Authorization": "Bearer " + key}
	anth := map[string]string{"X-Api-Key": key, "Anthropic-Version": "2023-06-01"}
	goog := map[string]string{"X-Goog-Api-Key": key}
	chat := func(p string) string {
		return `{"model":"chat-small","messages":[{"role":"user","content":"hi"}],"x":` + p + `}`
	}
	anthBody := func(p string) string {
		return `{"model":"chat-small","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"x":` + p + `}`
	}
	gem := func(p string) string { return `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"x":` + p + `}` }
	return []ingressCase{
		{"chat", "/v1/chat/completions", bearer, chat, openAIMessage},
		{"embeddings", "/v1/embeddings", bearer, func(p string) string { return `{"model":"chat-small","input":"hi","x":` + p + `}` }, openAIMessage},
		{"responses", "/v1/responses", bearer, func(p string) string { return `{"model":"chat-small","input":"hi","x":` + p + `}` }, openAIMessage},
		{"messages", "/v1/messages", anth, anthBody, anthropicMessage},
		{"count_tokens", "/v1/messages/count_tokens", anth, anthBody, anthropicMessage},
		{"gemini generate", "/v1beta/models/chat-small:generateContent", goog, gem, geminiMessage},
		{"gemini stream", "/v1beta/models/chat-small:streamGenerateContent?alt=sse", goog, gem, geminiMessage},
		{"gemini count", "/v1beta/models/chat-small:countTokens", goog, gem, geminiMessage},
	}
}

// TestHostileBodies: on every ingress, JSON nested deeper than the limit
// is refused with a 400 in the client's dialect that names the problem,
// before anything else parses it, and wide or long JSON passes the check.
func TestHostileBodies(t *testing.T) {
	e := newEnvWith(t, func(o *Options) { o.Codecs = dialectCodecs() })
	over := jsonlimit.MaxDepth + 1
	shapes := []struct {
		name    string
		payload string
		deep    bool
	}{
		{"deep array", strings.Repeat("[", over) + strings.Repeat("]", over), true},
		{"deep object", strings.Repeat(`{"a":`, over) + "1" + strings.Repeat("}", over), true},
		{"wide", "[" + strings.Repeat("1,", 200_000) + "1]", false},
		{"long string", `"` + strings.Repeat("x", 2<<20) + `"`, false},
		{"9 MiB of [", strings.Repeat("[", 9<<20), true},
	}
	for _, in := range bodyIngresses(clientKey) {
		for _, sh := range shapes {
			t.Run(in.name+"/"+sh.name, func(t *testing.T) {
				body := in.wrap(sh.payload)
				if sh.name == "9 MiB of [" {
					body = `{"model":"gpt-4o-mini","x":` + sh.payload // as an attacker sends it: never closed
				}
				resp := e.post(t, in.path, body, in.hdr)
				got := readAll(t, resp)
				if !sh.deep {
					if resp.StatusCode == 400 && strings.Contains(got, "JSON") {
						t.Fatalf("valid %s body refused as JSON: %.300s", sh.name, got)
					}
					return
				}
				if resp.StatusCode != 400 {
					t.Fatalf("status %d, want 400: %.300s", resp.StatusCode, got)
				}
				if msg := in.message(t, got); !strings.Contains(msg, "deeper than 128 levels") {
					t.Fatalf("message %q does not name the problem", msg)
				}
			})
		}
	}
}

// TestDeepBodyMemory: refusing 9 MiB of '[' costs memory in proportion to
// the body (the buffer that holds it), not to its depth.
func TestDeepBodyMemory(t *testing.T) {
	h := newHandlerForTest(t)
	body := []byte(`{"model":"chat-small","x":` + strings.Repeat("[", 9<<20))
	for _, in := range bodyIngresses(clientKey) {
		t.Run(in.name, func(t *testing.T) {
			run := func() int {
				req := httptest.NewRequest(http.MethodPost, in.path, bytes.NewReader(body))
				for k, v := range in.hdr {
					req.Header.Set(k, v)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				return w.Code
			}
			run() // warm up pools
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			code := run()
			runtime.ReadMemStats(&after)
			if code != 400 {
				t.Fatalf("status %d", code)
			}
			// The body buffer (9 MiB) and slack; a recursive parser costs
			// hundreds of MiB here.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(len(body))+1<<20 {
				t.Fatalf("refusing a %d-byte body allocated %d bytes", len(body), alloc)
			} else {
				t.Logf("refusing a %d-byte body allocated %d bytes", len(body), alloc)
			}
		})
	}
}

// newHandlerForTest is the data plane of newEnv as an http.Handler, for
// calls without a network.
func newHandlerForTest(t *testing.T) http.Handler {
	var mux *http.ServeMux
	newEnvWith(t, func(o *Options) {
		o.Codecs = dialectCodecs()
		mux = http.NewServeMux()
		New(*o).Register(mux)
	})
	return mux
}

// TestAnthropicVersionMessage: the missing-header refusal has Anthropic's
// exact wording, once, in every dialect renderer the endpoint can use.
func TestAnthropicVersionMessage(t *testing.T) {
	for _, codecs := range []struct {
		name   string
		codecs Codecs
		read   func(*testing.T, string) string
	}{
		{"anthropic dialect", dialectCodecs(), anthropicMessage},
		{"no codec", Codecs{}, openAIMessage},
	} {
		t.Run(codecs.name, func(t *testing.T) {
			e := newEnvWith(t, func(o *Options) { o.Codecs = codecs.codecs })
			for _, path := range []string{"/v1/messages", "/v1/messages/count_tokens"} {
				resp := e.post(t, path, `{"model":"chat-small","max_tokens":5,"messages":[]}`, map[string]string{"X-Api-Key": clientKey})
				body := readAll(t, resp)
				if resp.StatusCode != 400 {
					t.Fatalf("%s: status %d: %s", path, resp.StatusCode, body)
				}
				if msg := codecs.read(t, body); msg != "anthropic-version: header is required" {
					t.Fatalf("%s: message %q", path, msg)
				}
			}
		})
	}
}

// TestNoDoubledParamPrefix: no refusal of the ingress repeats its
// parameter in front of a message that already names it, in any dialect
// (the Anthropic and Gemini renderers prefix "param: ").
func TestNoDoubledParamPrefix(t *testing.T) {
	e := newEnvWith(t, func(o *Options) { o.Codecs = dialectCodecs() })
	bodies := []string{`{"model":"chat-small","max_tokens":1,"max_tokens":2}`, `{"model":"chat-small","MODEL":"x"}`,
		`{"model":1}`, `{"max_tokens":5}`, `{"model":"chat-small","stream":"yes"}`, `[1]`, `{"model":`, `{"model":"nope"}`,
		`{"contents":[],"generationConfig":{"maxOutputTokens":1},"generation_config":{}}`}
	for _, in := range bodyIngresses(clientKey) {
		for _, b := range bodies {
			resp := e.post(t, in.path, b, in.hdr)
			got := readAll(t, resp)
			if resp.StatusCode < 400 {
				continue
			}
			msg := in.message(t, got)
			if p, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(rest, p+":") {
				t.Errorf("%s %s: doubled prefix in %q", in.name, b, msg)
			}
		}
	}
}
