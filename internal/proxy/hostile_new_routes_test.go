package proxy

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
)

// TestHostileNewRoutes: the prompt, feedback and product routes answer
// hostile requests (deep or huge bodies, repeated or case-variant fields,
// wrong types, odd path segments) with a 4xx in OpenAI's shape, never a
// 5xx, and record nothing for a request without a key.
func TestHostileNewRoutes(t *testing.T) {
	e := promptEnv(t)
	e.h.opts.Feedback = &memFeedback{metrics: []config.FeedbackMetric{{Name: "helpful", Type: config.FeedbackBoolean}}}
	saved := ledgerWait
	ledgerWait = 50 * time.Millisecond
	t.Cleanup(func() { ledgerWait = saved })
	auth := map[string]string{"Authorization": "Bearer " + clientKey}
	deep := strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000)
	huge := `{"variables":{"text":"` + strings.Repeat("x", 9<<20) + `"}}`
	fb := func(rest string) string { return `{"request_id":"req_1","metric":"helpful","value":true` + rest + `}` }
	resp := func(rest string) string { return `{"model":"chat-small","input":"hi"` + rest + `}` }
	cases := []struct {
		name, path, body string
		hdr              map[string]string
		want             int // 0: any 4xx
		msg              string
	}{
		{"prompt deep", "/prompts/summarize", `{"variables":` + deep + `}`, auth, 400, "deeper than 128 levels"},
		{"prompt 9 MiB", "/prompts/summarize", huge, auth, 400, "longer than 2000"},
		{"prompt variables twice", "/prompts/summarize", `{"variables":{"text":"a"},"variables":{"text":"b"}}`, auth, 400, "variables"},
		{"prompt Variables", "/prompts/summarize", `{"Variables":{"text":"a"}}`, auth, 400, "variables"},
		{"prompt escaped variables", "/prompts/summarize", `{"v\u0061riables":{"text":"a"}}`, auth, 400, "variables"},
		{"prompt stream twice", "/prompts/summarize", `{"variables":{"text":"a"},"stream":false,"stream":true}`, auth, 400, "stream"},
		{"prompt array", "/prompts/summarize", `[1]`, auth, 400, ""},
		{"prompt string", "/prompts/summarize", `"x"`, auth, 400, ""},
		{"prompt null", "/prompts/summarize", `null`, auth, 400, ""},
		{"prompt two values", "/prompts/summarize", `{"variables":{"text":"a"}} {"variables":{"text":"b"}}`, auth, 400, ""},
		{"prompt variables string", "/prompts/summarize", `{"variables":"text"}`, auth, 400, ""},
		{"prompt variables array", "/prompts/summarize", `{"variables":[1]}`, auth, 400, ""},
		{"prompt variable number", "/prompts/summarize", `{"variables":{"text":5}}`, auth, 400, ""},
		{"prompt stream string", "/prompts/summarize", `{"variables":{"text":"a"},"stream":"yes"}`, auth, 400, ""},
		{"prompt name %2F", "/prompts/summarize%2F..%2Fx", `{"variables":{"text":"a"}}`, auth, 404, ""},
		{"prompt name ..", "/prompts/..", `{"variables":{"text":"a"}}`, auth, 0, ""},
		{"prompt name 300", "/prompts/" + strings.Repeat("p", 300), `{"variables":{"text":"a"}}`, auth, 404, ""},
		{"prompt @ twice", "/prompts/summarize@1@2", `{"variables":{"text":"a"}}`, auth, 404, ""},
		{"prompt unicode", "/prompts/s%C5%BFmmarize", `{"variables":{"text":"a"}}`, auth, 404, ""},
		{"prompt bad utf8", "/prompts/%FF%FE", `{"variables":{"text":"a"}}`, auth, 404, ""},
		{"prompt schema 300", "/prompts/" + strings.Repeat("p", 300) + "/openapi.json", "", auth, 404, ""},
		{"prompt schema @ twice", "/prompts/summarize@@/openapi.json", "", auth, 404, ""},
		{"prompt no key", "/prompts/summarize", `{"variables":{"text":"a"}}`, nil, 401, ""},
		{"prompt no key deep", "/prompts/summarize", `{"variables":` + deep + `}`, nil, 401, ""},
		{"responses prompt deep", "/v1/responses", resp(`,"prompt":{"id":"summarize","variables":` + deep + `}`), auth, 400, "deeper than 128 levels"},
		{"responses prompt twice", "/v1/responses", resp(`,"prompt":null,"prompt":{"id":"summarize","variables":{"text":"a"}}`), auth, 400, "prompt"},
		{"responses prompt twice objects", "/v1/responses", resp(`,"prompt":{"id":"summarize","variables":{"text":"a"}},"prompt":{"id":"other"}`), auth, 400, "prompt"},
		{"responses Prompt", "/v1/responses", resp(`,"Prompt":{"id":"summarize","variables":{"text":"a"}}`), auth, 400, "prompt"},
		{"responses escaped prompt", "/v1/responses", resp(`,"pr\u006fmpt":{"id":"summarize","variables":{"text":"a"}}`), auth, 400, "prompt"},
		{"responses prompt variables twice", "/v1/responses", resp(`,"prompt":{"id":"summarize","variables":{"text":"a"},"variables":{"text":5}}`), auth, 400, "variables"},
		{"responses prompt id twice", "/v1/responses", resp(`,"prompt":{"id":"summarize","id":"other","variables":{"text":"a"}}`), auth, 400, "id"},
		{"responses prompt array", "/v1/responses", resp(`,"prompt":["summarize"]`), auth, 400, ""},
		{"responses prompt id number", "/v1/responses", resp(`,"prompt":{"id":5}`), auth, 400, ""},
		{"responses prompt version object", "/v1/responses", resp(`,"prompt":{"id":"summarize","version":{}}`), auth, 400, ""},
		{"responses prompt variables string", "/v1/responses", resp(`,"prompt":{"id":"summarize","variables":"x"}`), auth, 400, ""},
		{"responses prompt 300", "/v1/responses", resp(`,"prompt":{"id":"` + strings.Repeat("p", 300) + `"}`), auth, 404, ""},
		{"feedback deep", "/v1/sluice/feedback", fb(`,"x":` + deep), auth, 400, ""},
		{"feedback 9 MiB", "/v1/sluice/feedback", fb(`,"comment":"` + strings.Repeat("x", 9<<20) + `"`), auth, 413, ""},
		{"feedback request_id 10 KB", "/v1/sluice/feedback", `{"request_id":"` + strings.Repeat("r", 10<<10) + `","metric":"helpful","value":true}`, auth, 400, "request_id"},
		{"feedback request_id twice", "/v1/sluice/feedback", fb(`,"request_id":"req_2"`), auth, 400, "request_id"},
		{"feedback Request_Id", "/v1/sluice/feedback", `{"Request_Id":"req_1","metric":"helpful","value":true}`, auth, 400, "request_id"},
		{"feedback metric twice", "/v1/sluice/feedback", fb(`,"metric":"score"`), auth, 400, "metric"},
		{"feedback value twice", "/v1/sluice/feedback", fb(`,"value":false`), auth, 400, "value"},
		{"feedback array", "/v1/sluice/feedback", `[1]`, auth, 400, ""},
		{"feedback null", "/v1/sluice/feedback", `null`, auth, 400, ""},
		{"feedback value string", "/v1/sluice/feedback", `{"request_id":"req_1","metric":"helpful","value":"yes"}`, auth, 400, ""},
		{"feedback no key", "/v1/sluice/feedback", fb(""), nil, 401, ""},
		{"product odd segments", "/products/%00%2F../v%FF/v1/chat/completions", `{"model":"chat-small","messages":[{"role":"user","content":"hi"}]}`, auth, 0, ""},
		{"product 300", "/products/" + strings.Repeat("p", 300) + "/v1/v1/chat/completions", `{"model":"chat-small","messages":[{"role":"user","content":"hi"}]}`, auth, 0, ""},
		{"product deep", "/products/support/v1/v1/chat/completions", `{"model":"chat-small","messages":` + deep + `}`, auth, 0, ""},
		{"product prompt", "/products/a%2Fb/v1/prompts/summarize", `{"variables":{"text":"a"}}`, auth, 0, ""},
		{"product openapi odd", "/products/%E2%80%AE/..%2F/openapi.json", "", auth, 0, ""},
		{"product no key", "/products/support/v1/v1/chat/completions", `{"model":"chat-small","messages":[]}`, nil, 401, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.rec.all())
			method := http.MethodPost
			if tc.body == "" {
				method = http.MethodGet
			}
			req, err := http.NewRequest(method, e.server.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			c := *e.server.Client()
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got := readAll(t, res)
			switch {
			case tc.want != 0 && res.StatusCode != tc.want:
				t.Fatalf("status %d, want %d: %.300s", res.StatusCode, tc.want, got)
			case res.StatusCode >= 500 || res.StatusCode < 300:
				t.Fatalf("status %d: %.300s", res.StatusCode, got)
			}
			if res.StatusCode >= 400 {
				if msg := openAIMessage(t, got); !strings.Contains(msg, tc.msg) {
					t.Fatalf("message %q does not name %q", msg, tc.msg)
				}
			}
			if tc.hdr == nil {
				if n := len(e.rec.all()); n != before {
					t.Fatalf("%d ledger rows for a request without a key", n-before)
				}
			}
		})
	}
}

// TestHostileNewRoutesMemory: refusing 9 MiB of '[' on the prompt routes
// costs memory in proportion to the body, not to its depth.
func TestHostileNewRoutesMemory(t *testing.T) {
	var h http.Handler
	promptEnvHandler := promptEnv(t)
	mux := http.NewServeMux()
	promptEnvHandler.h.Register(mux)
	h = mux
	for _, tc := range []struct{ name, path, body string }{
		{"prompt", "/prompts/summarize", `{"variables":` + strings.Repeat("[", 9<<20)},
		{"responses prompt", "/v1/responses", `{"model":"chat-small","prompt":{"id":"summarize","variables":` + strings.Repeat("[", 9<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func() int {
				req := httptest.NewRequest(http.MethodPost, tc.path, bytes.NewReader([]byte(tc.body)))
				req.Header.Set("Authorization", "Bearer "+clientKey)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				return w.Code
			}
			run()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			code := run()
			runtime.ReadMemStats(&after)
			if code != 400 {
				t.Fatalf("status %d", code)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2*uint64(len(tc.body))+1<<20 {
				t.Fatalf("refusing a %d-byte body allocated %d bytes", len(tc.body), alloc)
			}
		})
	}
}
