package openaifake

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

const testKey = "sk-test-upstream"

// post sends a JSON body with the test key and the given extra headers.
func post(t *testing.T, url, body string, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testKey)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decode[T any](t *testing.T, r io.Reader) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(r).Decode(&v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return v
}

// sseEvents reads a stream body into its data payloads and the error that ended it.
func sseEvents(r io.Reader) ([]string, error) {
	var out []string
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if data, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "data: "); ok {
			out = append(out, data)
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

type testChunk struct {
	ID      string          `json:"id"`
	Object  string          `json:"object"`
	Model   string          `json:"model"`
	Usage   json.RawMessage `json:"usage"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role      string  `json:"role"`
			Content   *string `json:"content"`
			ToolCalls []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string  `json:"name"`
					Arguments *string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		Logprobs     json.RawMessage `json:"logprobs"`
		FinishReason *string         `json:"finish_reason"`
	} `json:"choices"`
}

// streamResult is a stream folded back into its parts.
type streamResult struct {
	events   []string
	chunks   []testChunk
	done     bool
	content  map[int]string
	args     map[int]string
	finish   map[int]string
	usage    []Usage // every non-null usage seen, in order
	nullUse  int     // chunks with "usage":null
	roleSeen map[int]bool
}

func foldStream(t *testing.T, events []string) streamResult {
	t.Helper()
	res := streamResult{events: events, content: map[int]string{}, args: map[int]string{}, finish: map[int]string{}, roleSeen: map[int]bool{}}
	for i, e := range events {
		if e == "[DONE]" {
			if i != len(events)-1 {
				t.Errorf("[DONE] is event %d of %d", i+1, len(events))
			}
			res.done = true
			continue
		}
		var c testChunk
		if err := json.Unmarshal([]byte(e), &c); err != nil {
			t.Fatalf("event %d: %v: %s", i, err, e)
		}
		if c.Object != "chat.completion.chunk" {
			t.Errorf("object = %q", c.Object)
		}
		if len(res.chunks) > 0 && c.ID != res.chunks[0].ID {
			t.Errorf("chunk id %q differs from %q", c.ID, res.chunks[0].ID)
		}
		res.chunks = append(res.chunks, c)
		switch string(c.Usage) {
		case "":
		case "null":
			res.nullUse++
		default:
			var u Usage
			if err := json.Unmarshal(c.Usage, &u); err != nil {
				t.Fatal(err)
			}
			res.usage = append(res.usage, u)
		}
		for _, ch := range c.Choices {
			if ch.Delta.Role != "" {
				res.roleSeen[ch.Index] = true
			}
			if ch.Delta.Content != nil {
				res.content[ch.Index] += *ch.Delta.Content
			}
			for _, tc := range ch.Delta.ToolCalls {
				if tc.Function.Arguments != nil {
					res.args[ch.Index] += *tc.Function.Arguments
				}
			}
			if ch.FinishReason != nil {
				res.finish[ch.Index] = *ch.FinishReason
			}
		}
	}
	return res
}

func TestChatNonStream(t *testing.T) {
	srv, base := Start(t, Options{APIKey: testKey})
	cases := []struct {
		name        string
		body        string
		headers     map[string]string
		wantContent []string
		wantFinish  string
		wantUsage   Usage
	}{
		{
			name:        "echo",
			body:        `{"model":"fake-model-1","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello there world"}]}`,
			wantContent: []string{"Echo: hello there world"},
			wantFinish:  "stop",
			wantUsage:   Usage{PromptTokens: 5, CompletionTokens: 4, TotalTokens: 9},
		},
		{
			name:        "n=2",
			body:        `{"model":"m","n":2,"messages":[{"role":"user","content":"hi"}]}`,
			wantContent: []string{"Echo: hi", "Echo: hi #2"},
			wantFinish:  "stop",
			wantUsage:   Usage{PromptTokens: 1, CompletionTokens: 5, TotalTokens: 6},
		},
		{
			name:        "multi-part content",
			body:        `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what is"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},{"type":"text","text":"this"}]}]}`,
			wantContent: []string{"Echo: what is this"},
			wantFinish:  "stop",
			wantUsage:   Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7},
		},
		{
			name:        "stop sequence",
			body:        `{"model":"m","stop":["three"],"messages":[{"role":"user","content":"one two three four"}]}`,
			wantContent: []string{"Echo: one two "},
			wantFinish:  "stop",
			wantUsage:   Usage{PromptTokens: 4, CompletionTokens: 3, TotalTokens: 7},
		},
		{
			name:        "max_tokens",
			body:        `{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"one two three four"}]}`,
			wantContent: []string{"Echo: one"},
			wantFinish:  "length",
			wantUsage:   Usage{PromptTokens: 4, CompletionTokens: 2, TotalTokens: 6},
		},
		{
			name:        "usage overrides",
			body:        `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
			headers:     map[string]string{HeaderPromptTokens: "1000", HeaderCompletionTokens: "20", HeaderCachedTokens: "400"},
			wantContent: []string{"Echo: hi"},
			wantFinish:  "stop",
			wantUsage:   Usage{PromptTokens: 1000, CompletionTokens: 20, TotalTokens: 1020, PromptTokensDetails: PromptTokensDetails{CachedTokens: 400}},
		},
		{
			name:        "long message echoes 32 words",
			body:        `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("w ", 100) + `"}]}`,
			wantContent: []string{"Echo: " + strings.TrimSpace(strings.Repeat("w ", 32))},
			wantFinish:  "stop",
			wantUsage:   Usage{PromptTokens: 100, CompletionTokens: 33, TotalTokens: 133},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, base+"/chat/completions", tc.body, tc.headers)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("content-type %q", got)
			}
			raw, _ := io.ReadAll(resp.Body)
			var got struct {
				ID      string `json:"id"`
				Object  string `json:"object"`
				Created int64  `json:"created"`
				Model   string `json:"model"`
				Usage   Usage  `json:"usage"`
				Choices []struct {
					Index        int             `json:"index"`
					Logprobs     json.RawMessage `json:"logprobs"`
					FinishReason string          `json:"finish_reason"`
					Message      struct {
						Role    string  `json:"role"`
						Content *string `json:"content"`
					} `json:"message"`
				} `json:"choices"`
			}
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			var req struct {
				Model string `json:"model"`
			}
			_ = json.Unmarshal([]byte(tc.body), &req)
			if got.Object != "chat.completion" || got.Model != req.Model || !strings.HasPrefix(got.ID, "chatcmpl-") || got.Created == 0 {
				t.Errorf("header fields: %s", raw)
			}
			if len(got.Choices) != len(tc.wantContent) {
				t.Fatalf("%d choices, want %d", len(got.Choices), len(tc.wantContent))
			}
			for i, c := range got.Choices {
				if c.Index != i || c.Message.Role != "assistant" || string(c.Logprobs) != "null" || c.FinishReason != tc.wantFinish {
					t.Errorf("choice %d: %+v", i, c)
				}
				if c.Message.Content == nil || *c.Message.Content != tc.wantContent[i] {
					t.Errorf("choice %d content = %v, want %q", i, c.Message.Content, tc.wantContent[i])
				}
			}
			if got.Usage != tc.wantUsage {
				t.Errorf("usage = %+v, want %+v", got.Usage, tc.wantUsage)
			}
			for _, key := range []string{`"cached_tokens"`, `"reasoning_tokens"`, `"logprobs":null`} {
				if !bytes.Contains(raw, []byte(key)) {
					t.Errorf("body lacks %s: %s", key, raw)
				}
			}
		})
	}
	if srv.Count() != len(cases) {
		t.Errorf("Count = %d, want %d", srv.Count(), len(cases))
	}
}

func TestChatStream(t *testing.T) {
	_, base := Start(t, Options{})
	const msgs = `"messages":[{"role":"user","content":"alpha beta gamma"}]`
	cases := []struct {
		name        string
		body        string
		headers     map[string]string
		wantContent map[int]string
		wantChunks  int // content chunks per choice; 0 = don't check
		wantUsage   []Usage
		wantNullUse bool
		wantEvents  int
	}{
		{
			name:        "include_usage",
			body:        `{"model":"m","stream":true,"stream_options":{"include_usage":true},` + msgs + `}`,
			wantContent: map[int]string{0: "Echo: alpha beta gamma"},
			wantChunks:  4,
			wantUsage:   []Usage{{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7}},
			wantNullUse: true,
			wantEvents:  1 + 4 + 1 + 1 + 1,
		},
		{
			name:        "no usage",
			body:        `{"model":"m","stream":true,` + msgs + `}`,
			wantContent: map[int]string{0: "Echo: alpha beta gamma"},
			wantEvents:  1 + 4 + 1 + 1,
		},
		{
			name:        "usage none overrides include_usage",
			body:        `{"model":"m","stream":true,"stream_options":{"include_usage":true},` + msgs + `}`,
			headers:     map[string]string{HeaderUsage: "none"},
			wantContent: map[int]string{0: "Echo: alpha beta gamma"},
			wantEvents:  1 + 4 + 1 + 1,
		},
		{
			name:        "usage last without include_usage",
			body:        `{"model":"m","stream":true,` + msgs + `}`,
			headers:     map[string]string{HeaderUsage: "last", HeaderCompletionTokens: "9"},
			wantContent: map[int]string{0: "Echo: alpha beta gamma"},
			wantUsage:   []Usage{{PromptTokens: 3, CompletionTokens: 9, TotalTokens: 12}},
			wantEvents:  1 + 4 + 1 + 1 + 1,
		},
		{
			name:        "usage every is cumulative",
			body:        `{"model":"m","stream":true,` + msgs + `}`,
			headers:     map[string]string{HeaderUsage: "every", HeaderChunks: "2"},
			wantContent: map[int]string{0: "Echo: alpha beta gamma"},
			wantChunks:  2,
			wantUsage: []Usage{
				{PromptTokens: 3, CompletionTokens: 0, TotalTokens: 3},
				{PromptTokens: 3, CompletionTokens: 2, TotalTokens: 5},
				{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7},
				{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7},
				{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7},
			},
			wantEvents: 1 + 2 + 1 + 1 + 1,
		},
		{
			name:        "chunks pads with filler",
			body:        `{"model":"m","stream":true,` + msgs + `}`,
			headers:     map[string]string{HeaderChunks: "7"},
			wantContent: map[int]string{0: "Echo: alpha beta gamma lorem ipsum dolor"},
			wantChunks:  7,
			wantEvents:  1 + 7 + 1 + 1,
		},
		{
			name:        "n=2 interleaved",
			body:        `{"model":"m","stream":true,"n":2,` + msgs + `}`,
			wantContent: map[int]string{0: "Echo: alpha beta gamma", 1: "Echo: alpha beta gamma #2"},
			wantEvents:  2 + 4 + 5 + 2 + 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, base+"/chat/completions", tc.body, tc.headers)
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Fatalf("content-type %q", ct)
			}
			events, err := sseEvents(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			res := foldStream(t, events)
			if !res.done {
				t.Error("no [DONE]")
			}
			if len(events) != tc.wantEvents {
				t.Errorf("%d events, want %d:\n%s", len(events), tc.wantEvents, strings.Join(events, "\n"))
			}
			if !reflect.DeepEqual(res.content, tc.wantContent) {
				t.Errorf("content = %v, want %v", res.content, tc.wantContent)
			}
			for i := range tc.wantContent {
				if !res.roleSeen[i] || res.finish[i] != "stop" {
					t.Errorf("choice %d: role seen %v, finish %q", i, res.roleSeen[i], res.finish[i])
				}
			}
			if first := res.chunks[0].Choices[0].Delta; first.Role != "assistant" || first.Content == nil || *first.Content != "" {
				t.Errorf("first delta = %+v", first)
			}
			if tc.wantChunks > 0 {
				got := 0
				for _, c := range res.chunks[1:] {
					if len(c.Choices) == 1 && c.Choices[0].Delta.Content != nil {
						got++
					}
				}
				if got != tc.wantChunks {
					t.Errorf("%d content chunks, want %d", got, tc.wantChunks)
				}
			}
			if !reflect.DeepEqual(res.usage, tc.wantUsage) {
				t.Errorf("usage = %+v, want %+v", res.usage, tc.wantUsage)
			}
			if (res.nullUse > 0) != tc.wantNullUse {
				t.Errorf("%d chunks with usage:null", res.nullUse)
			}
			if len(tc.wantUsage) > 0 {
				last := res.chunks[len(res.chunks)-1]
				if len(last.Choices) != 0 || last.Choices == nil {
					t.Errorf("usage chunk choices = %v, want []", last.Choices)
				}
			}
		})
	}
}

const weatherTools = `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["c","f"]},"days":{"type":"integer"}},"required":["city"]}}},{"type":"function","function":{"name":"other","parameters":{}}}]`

func TestToolCalls(t *testing.T) {
	_, base := Start(t, Options{})
	wantArgs := `{"city":"weather in Paris","days":1,"unit":"c"}`
	if got := ToolArguments(json.RawMessage(`{"properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["c","f"]},"days":{"type":"integer"}}}`), "weather in Paris"); got != wantArgs {
		t.Fatalf("ToolArguments = %s", got)
	}
	msgs := `"messages":[{"role":"user","content":"weather in Paris"}]`

	t.Run("non-stream", func(t *testing.T) {
		resp := post(t, base+"/chat/completions", `{"model":"m",`+weatherTools+`,`+msgs+`}`, nil)
		got := decode[struct {
			Choices []struct {
				FinishReason string `json:"finish_reason"`
				Message      struct {
					Content   *string `json:"content"`
					ToolCalls []struct {
						ID       string `json:"id"`
						Type     string `json:"type"`
						Function struct {
							Name      string `json:"name"`
							Arguments string `json:"arguments"`
						} `json:"function"`
					} `json:"tool_calls"`
				} `json:"message"`
			} `json:"choices"`
			Usage Usage `json:"usage"`
		}](t, resp.Body)
		c := got.Choices[0]
		if c.FinishReason != "tool_calls" || c.Message.Content != nil || len(c.Message.ToolCalls) != 1 {
			t.Fatalf("choice = %+v", c)
		}
		tc := c.Message.ToolCalls[0]
		if tc.Type != "function" || tc.Function.Name != "get_weather" || tc.Function.Arguments != wantArgs || !strings.HasPrefix(tc.ID, "call_") {
			t.Errorf("tool call = %+v", tc)
		}
		if got.Usage.CompletionTokens != CountTokens("get_weather")+CountTokens(wantArgs) {
			t.Errorf("usage = %+v", got.Usage)
		}
	})

	t.Run("stream", func(t *testing.T) {
		resp := post(t, base+"/chat/completions", `{"model":"m","stream":true,`+weatherTools+`,`+msgs+`}`, nil)
		events, err := sseEvents(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		res := foldStream(t, events)
		if res.args[0] != wantArgs || res.finish[0] != "tool_calls" || !res.done {
			t.Fatalf("args %q finish %q done %v", res.args[0], res.finish[0], res.done)
		}
		first := res.chunks[0].Choices[0].Delta
		if len(first.ToolCalls) != 1 || first.Role != "assistant" || first.Content != nil {
			t.Fatalf("first delta = %+v", first)
		}
		head := first.ToolCalls[0]
		if head.Index != 0 || head.ID == "" || head.Type != "function" || head.Function.Name != "get_weather" || head.Function.Arguments == nil || *head.Function.Arguments != "" {
			t.Errorf("first tool delta = %+v", head)
		}
		if len(res.chunks) < 4 {
			t.Errorf("arguments not fragmented: %d chunks", len(res.chunks))
		}
		for _, c := range res.chunks[1 : len(res.chunks)-1] {
			tcs := c.Choices[0].Delta.ToolCalls
			if len(tcs) != 1 || tcs[0].ID != "" || tcs[0].Function.Name != "" || tcs[0].Index != 0 {
				t.Errorf("fragment delta = %+v", c.Choices[0].Delta)
			}
		}
	})

	textCases := []struct{ name, body string }{
		{"tool_choice none", `{"model":"m","tool_choice":"none",` + weatherTools + `,` + msgs + `}`},
		{"after tool result", `{"model":"m",` + weatherTools + `,"messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1","content":"sunny"}]}`},
	}
	for _, tc := range textCases {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, base+"/chat/completions", tc.body, nil)
			raw, _ := io.ReadAll(resp.Body)
			if bytes.Contains(raw, []byte("tool_calls\"")) || !bytes.Contains(raw, []byte(`"finish_reason":"stop"`)) {
				t.Errorf("want a text answer: %s", raw)
			}
		})
	}

	t.Run("named tool_choice", func(t *testing.T) {
		resp := post(t, base+"/chat/completions", `{"model":"m","tool_choice":{"type":"function","function":{"name":"other"}},`+weatherTools+`,`+msgs+`}`, nil)
		raw, _ := io.ReadAll(resp.Body)
		if !bytes.Contains(raw, []byte(`"name":"other","arguments":"{}"`)) {
			t.Errorf("want a call to other: %s", raw)
		}
	})
}

func TestErrors(t *testing.T) {
	srv, base := Start(t, Options{APIKey: testKey})
	chat := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	cases := []struct {
		name       string
		path       string
		body       string
		auth       string // "" = the right key; "-" = none
		headers    map[string]string
		wantStatus int
		wantType   string
		wantCode   string
		wantRetry  string
	}{
		{name: "no key", path: "/chat/completions", body: chat, auth: "-", wantStatus: 401, wantType: "invalid_request_error"},
		{name: "wrong key", path: "/chat/completions", body: chat, auth: "Bearer sk-wrong", wantStatus: 401, wantType: "invalid_request_error", wantCode: "invalid_api_key"},
		{name: "scripted 429", path: "/chat/completions", body: chat, headers: map[string]string{HeaderStatus: "429", HeaderRetryAfter: "2"}, wantStatus: 429, wantType: "requests", wantCode: "rate_limit_exceeded", wantRetry: "2"},
		{name: "scripted 500", path: "/chat/completions", body: chat, headers: map[string]string{HeaderStatus: "500"}, wantStatus: 500, wantType: "server_error"},
		{name: "scripted 503 on embeddings", path: "/embeddings", body: `{"model":"e","input":"x"}`, headers: map[string]string{HeaderStatus: "503"}, wantStatus: 503, wantType: "server_error"},
		{name: "scripted 400", path: "/chat/completions", body: chat, headers: map[string]string{HeaderStatus: "400"}, wantStatus: 400, wantType: "invalid_request_error"},
		{name: "bad script header", path: "/chat/completions", body: chat, headers: map[string]string{HeaderChunks: "many"}, wantStatus: 400, wantType: "invalid_request_error"},
		{name: "status out of range", path: "/chat/completions", body: chat, headers: map[string]string{HeaderStatus: "200"}, wantStatus: 400, wantType: "invalid_request_error"},
		{name: "malformed JSON", path: "/chat/completions", body: `{"model":`, wantStatus: 400, wantType: "invalid_request_error"},
		{name: "no model", path: "/chat/completions", body: `{"messages":[{"role":"user","content":"hi"}]}`, wantStatus: 400, wantType: "invalid_request_error"},
		{name: "no messages", path: "/chat/completions", body: `{"model":"m"}`, wantStatus: 400, wantType: "invalid_request_error", wantCode: "missing_required_parameter"},
		{name: "n too big", path: "/chat/completions", body: `{"model":"m","n":500,"messages":[{"role":"user","content":"hi"}]}`, wantStatus: 400, wantType: "invalid_request_error", wantCode: "integer_out_of_range"},
		{name: "bad embeddings input", path: "/embeddings", body: `{"model":"e","input":{"a":1}}`, wantStatus: 400, wantType: "invalid_request_error"},
		{name: "unknown path", path: "/completions/nope", body: chat, wantStatus: 404, wantType: "invalid_request_error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, base+tc.path, strings.NewReader(tc.body))
			switch tc.auth {
			case "":
				req.Header.Set("Authorization", "Bearer "+testKey)
			case "-":
			default:
				req.Header.Set("Authorization", tc.auth)
			}
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, raw)
			}
			var env map[string]map[string]any
			if err := json.Unmarshal(raw, &env); err != nil {
				t.Fatalf("not JSON: %s", raw)
			}
			e := env["error"]
			for _, k := range []string{"message", "type", "param", "code"} {
				if _, ok := e[k]; !ok {
					t.Errorf("error lacks %q: %s", k, raw)
				}
			}
			if e["type"] != tc.wantType {
				t.Errorf("type = %v, want %s", e["type"], tc.wantType)
			}
			if tc.wantCode != "" && e["code"] != tc.wantCode {
				t.Errorf("code = %v, want %s", e["code"], tc.wantCode)
			}
			if got := resp.Header.Get("Retry-After"); got != tc.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tc.wantRetry)
			}
			if strings.Contains(string(raw), "sk-wrong") || strings.Contains(string(raw), testKey) {
				t.Errorf("error echoes a key: %s", raw)
			}
		})
	}
	if got := srv.Count(); got != len(cases) {
		t.Errorf("recorded %d requests, want %d", got, len(cases))
	}
}

func TestEmbeddings(t *testing.T) {
	_, base := Start(t, Options{})
	type embResp struct {
		Object string `json:"object"`
		Model  string `json:"model"`
		Data   []struct {
			Object    string          `json:"object"`
			Index     int             `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}
	vector := func(t *testing.T, raw json.RawMessage) []float64 {
		var f []float64
		if json.Unmarshal(raw, &f) == nil {
			return f
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatalf("embedding %s", raw)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b)%4 != 0 {
			t.Fatalf("base64 %q: %v", s, err)
		}
		for i := 0; i < len(b); i += 4 {
			f = append(f, float64(math.Float32frombits(binary.LittleEndian.Uint32(b[i:]))))
		}
		return f
	}
	cases := []struct {
		name       string
		body       string
		wantInputs []string
		wantDims   int
		wantTokens int
		wantBase64 bool
	}{
		{"string", `{"model":"fake-embed-1","input":"hello world"}`, []string{"hello world"}, DefaultDimensions, 2, false},
		{"float explicit", `{"model":"fake-embed-1","input":"hello world","encoding_format":"float"}`, []string{"hello world"}, DefaultDimensions, 2, false},
		{"base64", `{"model":"fake-embed-1","input":"hello world","encoding_format":"base64"}`, []string{"hello world"}, DefaultDimensions, 2, true},
		{"array", `{"model":"e","input":["a b c","d"],"dimensions":20}`, []string{"a b c", "d"}, 20, 4, false},
		{"tokens", `{"model":"e","input":[1,2,3]}`, []string{"1,2,3"}, DefaultDimensions, 3, false},
		{"token arrays", `{"model":"e","input":[[1,2],[3]],"encoding_format":"base64"}`, []string{"1,2", "3"}, DefaultDimensions, 3, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, base+"/embeddings", tc.body, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			got := decode[embResp](t, resp.Body)
			if got.Object != "list" || got.Model == "" || len(got.Data) != len(tc.wantInputs) {
				t.Fatalf("response %+v", got)
			}
			if got.Usage.PromptTokens != tc.wantTokens || got.Usage.TotalTokens != tc.wantTokens {
				t.Errorf("usage %+v, want %d", got.Usage, tc.wantTokens)
			}
			for i, d := range got.Data {
				if d.Object != "embedding" || d.Index != i {
					t.Errorf("data[%d] = %+v", i, d)
				}
				if isString := d.Embedding[0] == '"'; isString != tc.wantBase64 {
					t.Errorf("base64 = %v, want %v", isString, tc.wantBase64)
				}
				v := vector(t, d.Embedding)
				want := float64s(Embedding(tc.wantInputs[i], tc.wantDims))
				if !reflect.DeepEqual(v, want) {
					t.Errorf("vector %v, want %v", v, want)
				}
			}
		})
	}
}

func TestModels(t *testing.T) {
	_, base := Start(t, Options{APIKey: testKey, Models: []string{"a", "b"}})
	req, _ := http.NewRequest(http.MethodGet, base+"/models", nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := decode[struct {
		Object string `json:"object"`
		Data   []struct {
			ID, Object, OwnedBy string
		} `json:"data"`
	}](t, resp.Body)
	if got.Object != "list" || len(got.Data) != 2 || got.Data[0].ID != "a" || got.Data[1].Object != "model" {
		t.Errorf("models = %+v", got)
	}
}

func TestRequestLog(t *testing.T) {
	srv, base := Start(t, Options{})
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}],"extra":{"x":1}}`
	resp := post(t, base+"/chat/completions?x=1", body, map[string]string{"X-Trace": "abc"})
	io.Copy(io.Discard, resp.Body)
	if !srv.WaitFinished(time.Second) {
		t.Fatal("request still in flight")
	}
	r, ok := srv.Last()
	if !ok {
		t.Fatal("no request recorded")
	}
	if r.Seq != 1 || r.Method != "POST" || r.Path != "/v1/chat/completions" || r.RawQuery != "x=1" || string(r.Body) != body ||
		r.Header.Get("X-Trace") != "abc" || r.Status != 200 || r.Cancelled || r.InFlight() || r.Received.IsZero() {
		t.Errorf("record = %+v", r)
	}
	if got := resp.Header.Get("X-Request-Id"); got != "req_fake_1" {
		t.Errorf("x-request-id %q", got)
	}
	// Copies are independent of the log.
	reqs := srv.Requests()
	reqs[0].Header.Set("X-Trace", "changed")
	reqs[0].Body[0] = 'X'
	if r2, _ := srv.Last(); r2.Header.Get("X-Trace") != "abc" {
		t.Error("Requests returned a shared header")
	}
	srv.Reset()
	if srv.Count() != 0 {
		t.Error("Reset kept requests")
	}
}

func TestConcurrentRequests(t *testing.T) {
	srv, base := Start(t, Options{})
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := `{"model":"m","stream":` + map[bool]string{true: "true", false: "false"}[i%2 == 0] + `,"messages":[{"role":"user","content":"hi"}]}`
			req, _ := http.NewRequest(http.MethodPost, base+"/chat/completions", strings.NewReader(body))
			req.Header.Set(HeaderChunkDelayMs, "5")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			_ = srv.Requests()
		}()
	}
	wg.Wait()
	if !srv.WaitFinished(time.Second) || srv.Count() != n {
		t.Errorf("count %d", srv.Count())
	}
	seen := map[int]bool{}
	for _, r := range srv.Requests() {
		seen[r.Seq] = true
	}
	if len(seen) != n {
		t.Errorf("sequence numbers not unique: %v", seen)
	}
}

func TestTiming(t *testing.T) {
	_, base := Start(t, Options{})
	stream := `{"model":"m","stream":true,"messages":[{"role":"user","content":"a b c"}]}`
	t.Run("delay", func(t *testing.T) {
		start := time.Now()
		resp := post(t, base+"/chat/completions", stream, map[string]string{HeaderDelayMs: "150"})
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("headers after %v", d)
		}
		io.Copy(io.Discard, resp.Body)
	})
	t.Run("chunk delay", func(t *testing.T) {
		start := time.Now()
		resp := post(t, base+"/chat/completions", stream, map[string]string{HeaderChunkDelayMs: "30"})
		events, _ := sseEvents(resp.Body)
		// 7 events, 6 gaps.
		if d := time.Since(start); len(events) != 7 || d < 180*time.Millisecond {
			t.Errorf("%d events in %v", len(events), d)
		}
	})
}

func TestStreamFaults(t *testing.T) {
	srv, base := Start(t, Options{})
	stream := `{"model":"m","stream":true,"messages":[{"role":"user","content":"a b c d e f g h"}]}`
	cases := []struct {
		name       string
		headers    map[string]string
		wantEvents int
		wantErr    bool
	}{
		{"cut after 3", map[string]string{HeaderCutAfter: "3"}, 3, false},
		{"cut after all but DONE", map[string]string{HeaderCutAfter: "11"}, 11, false},
		{"reset after 2", map[string]string{HeaderResetAfter: "2"}, 2, true},
		{"reset with chunk delay", map[string]string{HeaderResetAfter: "4", HeaderChunkDelayMs: "10"}, 4, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, base+"/chat/completions", stream, tc.headers)
			events, err := sseEvents(resp.Body)
			if (err != nil) != tc.wantErr {
				t.Errorf("read error %v, want error %v", err, tc.wantErr)
			}
			if len(events) != tc.wantEvents {
				t.Errorf("%d events, want %d", len(events), tc.wantEvents)
			}
			for _, e := range events {
				if e == "[DONE]" {
					t.Error("got [DONE]")
				}
			}
		})
	}
	srv.WaitFinished(time.Second)
	for _, r := range srv.Requests() {
		if r.Cancelled {
			t.Errorf("request %d marked cancelled", r.Seq)
		}
	}
}

func TestCancellation(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		headers map[string]string
		read    int // SSE events to read before cancelling; -1 = cancel before headers
	}{
		{"hang before headers", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, map[string]string{HeaderHang: "1"}, -1},
		{"hang after headers", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, map[string]string{HeaderHang: "after-headers"}, 0},
		{"mid-stream", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, map[string]string{HeaderChunks: "50", HeaderChunkDelayMs: "50"}, 3},
		{"embeddings delay", `{"model":"e","input":"x"}`, map[string]string{HeaderDelayMs: "10000"}, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, base := Start(t, Options{})
			path := "/chat/completions"
			if strings.Contains(tc.body, `"input"`) {
				path = "/embeddings"
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(tc.body))
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			errc := make(chan error, 1)
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errc <- err
					return
				}
				defer resp.Body.Close()
				br := bufio.NewReader(resp.Body)
				for n := 0; n < tc.read; {
					line, err := br.ReadString('\n')
					if err != nil {
						errc <- err
						return
					}
					if strings.HasPrefix(line, "data: ") {
						n++
					}
				}
				cancel()
				_, err = io.Copy(io.Discard, br)
				errc <- err
			}()
			if !srv.WaitCount(1, time.Second) {
				t.Fatal("request never arrived")
			}
			if tc.read < 0 {
				time.Sleep(50 * time.Millisecond)
				cancel()
			}
			cancelledAt := time.Now()
			r, ok := srv.WaitCancelled(time.Second)
			if !ok {
				t.Fatalf("the fake did not see the cancellation within 1s: %+v", srv.Requests())
			}
			if lag := r.CancelledAt.Sub(cancelledAt); lag > time.Second {
				t.Errorf("cancellation seen after %v", lag)
			}
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Errorf("client error %v", err)
			}
			if !srv.WaitFinished(time.Second) {
				t.Error("handler did not return")
			}
		})
	}
}

func TestScript(t *testing.T) {
	srv, base := Start(t, Options{Script: func(r *http.Request) *Behavior {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte("boom")) {
			return &Behavior{Status: 502}
		}
		if r.Header.Get("X-Raw") != "" {
			return &Behavior{Body: []byte(`{"custom":true}`)}
		}
		if bytes.Contains(body, []byte("script")) {
			return &Behavior{Content: "scripted reply"}
		}
		return nil
	}})
	cases := []struct {
		name, body string
		headers    map[string]string
		wantStatus int
		wantBody   string
	}{
		{"status", `{"model":"m","messages":[{"role":"user","content":"boom"}]}`, nil, 502, `"server_error"`},
		{"raw body", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, map[string]string{"X-Raw": "1"}, 200, `{"custom":true}`},
		{"content", `{"model":"m","messages":[{"role":"user","content":"script"}]}`, nil, 200, `"content":"scripted reply"`},
		{"falls back to headers", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, map[string]string{HeaderStatus: "418"}, 418, `"invalid_request_error"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, base+"/chat/completions", tc.body, tc.headers)
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus || !strings.Contains(string(raw), tc.wantBody) {
				t.Errorf("%d %s", resp.StatusCode, raw)
			}
		})
	}
	if srv.Count() != len(cases) {
		t.Errorf("count %d", srv.Count())
	}
}

func TestCloseReleasesHangs(t *testing.T) {
	srv := New(Options{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set(HeaderHang, "1")
		srv.ServeHTTP(&nopWriter{h: http.Header{}}, req)
	}()
	srv.WaitCount(1, time.Second)
	srv.Close()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("hanging handler not released by Close")
	}
}

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

func TestSplit(t *testing.T) {
	cases := []struct {
		text string
		n    int
		want []string
	}{
		{"Echo: a b", 0, []string{"Echo:", " a", " b"}},
		{"Echo: a b", 2, []string{"Echo:", " a b"}},
		{"Echo: a b", 9, []string{"Echo:", " a", " b"}},
		{"a  b", 0, []string{"a", "  b"}},
		{"", 0, nil},
	}
	for _, tc := range cases {
		if got := Split(tc.text, tc.n); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Split(%q, %d) = %q, want %q", tc.text, tc.n, got, tc.want)
		}
		if strings.Join(Split(tc.text, tc.n), "") != tc.text {
			t.Errorf("Split(%q) does not join back", tc.text)
		}
	}
}
