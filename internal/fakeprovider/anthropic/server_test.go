package anthropicfake

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testKey = "sk-ant-test"

// post sends a JSON body with the test key, the version and extra headers.
func post(t *testing.T, url, body string, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", testKey)
	req.Header.Set("Anthropic-Version", Version)
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// block is any response content block.
type block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	Thinking  string          `json:"thinking,omitempty"`
	Signature string          `json:"signature,omitempty"`
	Data      string          `json:"data,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
}

type testMessage struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	Role         string  `json:"role"`
	Model        string  `json:"model"`
	Content      []block `json:"content"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        Usage   `json:"usage"`
}

type sseEvent struct {
	name string
	data string
}

// readSSE reads a stream's events and the error that ended it.
func readSSE(r io.Reader) ([]sseEvent, error) {
	var out []sseEvent
	var cur sseEvent
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		case line == "" && cur.name != "":
			out = append(out, cur)
			cur = sseEvent{}
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// fold accumulates a stream into the message it describes, as the SDK does.
func fold(t *testing.T, events []sseEvent) (testMessage, []string) {
	t.Helper()
	var m testMessage
	var names []string
	for _, e := range events {
		names = append(names, e.name)
		var ev struct {
			Type         string          `json:"type"`
			Message      testMessage     `json:"message"`
			Index        int             `json:"index"`
			ContentBlock block           `json:"content_block"`
			Delta        json.RawMessage `json:"delta"`
			Usage        json.RawMessage `json:"usage"`
		}
		if err := json.Unmarshal([]byte(e.data), &ev); err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		if ev.Type != e.name {
			t.Errorf("event %q has type %q", e.name, ev.Type)
		}
		switch e.name {
		case "message_start":
			m = ev.Message
		case "content_block_start":
			if ev.Index != len(m.Content) {
				t.Fatalf("block %d started at content length %d", ev.Index, len(m.Content))
			}
			m.Content = append(m.Content, ev.ContentBlock)
		case "content_block_delta":
			var d struct {
				Type, Text, Thinking, Signature string
				PartialJSON                     string `json:"partial_json"`
			}
			mustJSON(t, ev.Delta, &d)
			b := &m.Content[ev.Index]
			switch d.Type {
			case "text_delta":
				b.Text += d.Text
			case "thinking_delta":
				b.Thinking += d.Thinking
			case "signature_delta":
				b.Signature += d.Signature
			case "input_json_delta":
				if string(b.Input) == "{}" {
					b.Input = nil
				}
				b.Input = append(b.Input, d.PartialJSON...)
			default:
				t.Errorf("unknown delta %s", d.Type)
			}
		case "message_delta":
			var d struct {
				StopReason   *string `json:"stop_reason"`
				StopSequence *string `json:"stop_sequence"`
			}
			mustJSON(t, ev.Delta, &d)
			m.StopReason, m.StopSequence = d.StopReason, d.StopSequence
			mustJSON(t, ev.Usage, &m.Usage)
		}
	}
	return m, names
}

func mustJSON(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
}

func ptr[T any](v T) *T { return &v }

const weatherTool = `{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"location":{"type":"string"},"unit":{"type":"string","enum":["c","f"]}},"required":["location"]}}`
const timeTool = `{"name":"get_time","input_schema":{"type":"object","properties":{"tz":{"type":"string"}}}}`

func TestMessages(t *testing.T) {
	srv, base := Start(t, Options{APIKey: testKey})
	think := ThinkingText("why is the sky blue")
	cases := []struct {
		name    string
		body    string
		headers map[string]string
		want    []block
		stop    string
		stopSeq *string
		usage   Usage
	}{
		{
			name:  "echo",
			body:  `{"model":"claude-fake-1","max_tokens":100,"system":"be brief","messages":[{"role":"user","content":"hello there world"}]}`,
			want:  []block{{Type: "text", Text: "Echo: hello there world"}},
			stop:  "end_turn",
			usage: Usage{InputTokens: 5, OutputTokens: 4},
		},
		{
			name:  "blocks and images",
			body:  `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"what is"},{"type":"image","source":{"type":"url","url":"https://x/y.png"}},{"type":"text","text":"this"}]}]}`,
			want:  []block{{Type: "text", Text: "Echo: what is this"}},
			stop:  "end_turn",
			usage: Usage{InputTokens: 3, OutputTokens: 4},
		},
		{
			name:    "stop sequence: the first match wins",
			body:    `{"model":"m","max_tokens":100,"stop_sequences":["four","two"],"messages":[{"role":"user","content":"one two three four"}]}`,
			want:    []block{{Type: "text", Text: "Echo: one "}},
			stop:    "stop_sequence",
			stopSeq: ptr("two"),
			usage:   Usage{InputTokens: 4, OutputTokens: 2},
		},
		{
			name:  "max_tokens",
			body:  `{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"one two three four"}]}`,
			want:  []block{{Type: "text", Text: "Echo: one"}},
			stop:  "max_tokens",
			usage: Usage{InputTokens: 4, OutputTokens: 2},
		},
		{
			name:    "usage overrides",
			body:    `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`,
			headers: map[string]string{HeaderInputTokens: "10", HeaderOutputTokens: "20", HeaderCacheReadTokens: "1000", HeaderCacheCreationTokens: "300"},
			want:    []block{{Type: "text", Text: "Echo: hi"}},
			stop:    "end_turn",
			usage:   Usage{InputTokens: 10, OutputTokens: 20, CacheReadInputTokens: 1000, CacheCreationInputTokens: 300, CacheCreation: CacheCreation{Ephemeral5mInputTokens: 300}},
		},
		{
			name: "tools with auto choice: a text, then the call",
			body: `{"model":"m","max_tokens":100,"tools":[` + weatherTool + `],"messages":[{"role":"user","content":"Paris please"}]}`,
			want: []block{{Type: "text", Text: "I'll call get_weather."},
				{Type: "tool_use", ID: "#0", Name: "get_weather", Input: json.RawMessage(`{"location":"Paris please","unit":"c"}`)}},
			stop:  "tool_use",
			usage: Usage{InputTokens: 2, OutputTokens: 6},
		},
		{
			name:    "named tool, parallel calls asked but one tool",
			body:    `{"model":"m","max_tokens":100,"tools":[` + weatherTool + `,` + timeTool + `],"tool_choice":{"type":"tool","name":"get_time"},"messages":[{"role":"user","content":"now"}]}`,
			headers: map[string]string{HeaderToolCalls: "3"},
			want:    []block{{Type: "tool_use", ID: "#0", Name: "get_time", Input: json.RawMessage(`{"tz":"now"}`)}},
			stop:    "tool_use",
			usage:   Usage{InputTokens: 1, OutputTokens: 2},
		},
		{
			name:    "parallel calls with any",
			body:    `{"model":"m","max_tokens":100,"tools":[` + weatherTool + `,` + timeTool + `],"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"x"}]}`,
			headers: map[string]string{HeaderToolCalls: "2"},
			want: []block{{Type: "tool_use", ID: "#0", Name: "get_weather", Input: json.RawMessage(`{"location":"x","unit":"c"}`)},
				{Type: "tool_use", ID: "#1", Name: "get_time", Input: json.RawMessage(`{"tz":"x"}`)}},
			stop:  "tool_use",
			usage: Usage{InputTokens: 1, OutputTokens: 4},
		},
		{
			name:    "parallel calls disabled",
			body:    `{"model":"m","max_tokens":100,"tools":[` + weatherTool + `],"tool_choice":{"type":"any","disable_parallel_tool_use":true},"messages":[{"role":"user","content":"x"}]}`,
			headers: map[string]string{HeaderToolCalls: "2"},
			want:    []block{{Type: "tool_use", ID: "#0", Name: "get_weather", Input: json.RawMessage(`{"location":"x","unit":"c"}`)}},
			stop:    "tool_use",
			usage:   Usage{InputTokens: 1, OutputTokens: 2},
		},
		{
			name:  "tool_choice none",
			body:  `{"model":"m","max_tokens":100,"tools":[` + weatherTool + `],"tool_choice":{"type":"none"},"messages":[{"role":"user","content":"x"}]}`,
			want:  []block{{Type: "text", Text: "Echo: x"}},
			stop:  "end_turn",
			usage: Usage{InputTokens: 1, OutputTokens: 2},
		},
		{
			name: "after a tool result: the result is echoed",
			body: `{"model":"m","max_tokens":100,"tools":[` + weatherTool + `],"messages":[{"role":"user","content":"Paris"},` +
				`{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"location":"Paris"}}]},` +
				`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"18 degrees"}]}]}`,
			want:  []block{{Type: "text", Text: "Echo: 18 degrees"}},
			stop:  "end_turn",
			usage: Usage{InputTokens: 1 + 2 + 2, OutputTokens: 3}, // text, tool name and input, result
		},
		{
			name:    "thinking with a signature, and redacted thinking",
			body:    `{"model":"m","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"why is the sky blue"}]}`,
			headers: map[string]string{HeaderRedactedThinking: "1"},
			want: []block{{Type: "thinking", Thinking: think, Signature: Signature(think)},
				{Type: "redacted_thinking", Data: RedactedData("why is the sky blue")},
				{Type: "text", Text: "Echo: why is the sky blue"}},
			stop:  "end_turn",
			usage: Usage{InputTokens: 5, OutputTokens: 7 + 8 + 6, OutputTokensDetails: OutputTokensDetails{ThinkingTokens: 15}},
		},
		{
			name:  "structured output",
			body:  `{"model":"m","max_tokens":100,"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}}}}},"messages":[{"role":"user","content":"John"}]}`,
			want:  []block{{Type: "text", Text: `{"age":1,"name":"John"}`}},
			stop:  "end_turn",
			usage: Usage{InputTokens: 1, OutputTokens: 1},
		},
	}
	for _, tc := range cases {
		for _, stream := range []bool{false, true} {
			name := tc.name
			if stream {
				name += " (stream)"
			}
			t.Run(name, func(t *testing.T) {
				body := tc.body
				if stream {
					body = strings.Replace(body, `{"model"`, `{"stream":true,"model"`, 1)
				}
				resp := post(t, base+"/v1/messages", body, tc.headers)
				if resp.StatusCode != http.StatusOK {
					raw, _ := io.ReadAll(resp.Body)
					t.Fatalf("status %d: %s", resp.StatusCode, raw)
				}
				var got testMessage
				if stream {
					if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
						t.Errorf("content-type %q", ct)
					}
					events, err := readSSE(resp.Body)
					if err != nil {
						t.Fatal(err)
					}
					var names []string
					got, names = fold(t, events)
					if names[0] != "message_start" || names[1] != "ping" || names[len(names)-1] != "message_stop" || names[len(names)-2] != "message_delta" {
						t.Errorf("event order %v", names)
					}
				} else {
					mustJSON(t, mustRead(t, resp.Body), &got)
				}
				if got.Type != "message" || got.Role != "assistant" || !strings.HasPrefix(got.ID, "msg_fake") {
					t.Errorf("envelope %+v", got)
				}
				want := fixIDs(tc.want, srv)
				if diff := cmp.Diff(want, normalise(got.Content)); diff != "" {
					t.Errorf("content (-want +got):\n%s", diff)
				}
				if got.StopReason == nil || *got.StopReason != tc.stop {
					t.Errorf("stop_reason %v, want %s", got.StopReason, tc.stop)
				}
				if diff := cmp.Diff(tc.stopSeq, got.StopSequence); diff != "" {
					t.Errorf("stop_sequence (-want +got):\n%s", diff)
				}
				wantUsage := tc.usage
				wantUsage.ServiceTier = "standard"
				if diff := cmp.Diff(wantUsage, got.Usage); diff != "" {
					t.Errorf("usage (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// fixIDs replaces the expected tool ids "#n" with the fake's id of the n-th call in
// the last request.
func fixIDs(blocks []block, srv *Server) []block {
	last, _ := srv.Last()
	out := make([]block, len(blocks))
	for i, b := range blocks {
		if n, ok := strings.CutPrefix(b.ID, "#"); ok {
			b.ID = ToolUseID(last.Seq, b.Name, int(n[0]-'0'))
		}
		out[i] = b
	}
	return out
}

// normalise compacts tool inputs.
func normalise(blocks []block) []block {
	for i := range blocks {
		if blocks[i].Input != nil {
			var v any
			if json.Unmarshal(blocks[i].Input, &v) == nil {
				blocks[i].Input, _ = json.Marshal(v)
			}
		}
	}
	return blocks
}

func mustRead(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidation(t *testing.T) {
	_, base := Start(t, Options{APIKey: testKey})
	think := ThinkingText("hi")
	good := `{"role":"assistant","content":[{"type":"thinking","thinking":"` + think + `","signature":"` + Signature(think) + `"},{"type":"text","text":"ok"}]}`
	cases := []struct {
		name    string
		path    string
		body    string
		headers map[string]string
		status  int
		errType string
		msg     string // a substring of the message
	}{
		{"missing key", "/v1/messages", `{}`, map[string]string{"X-Api-Key": ""}, 401, "authentication_error", "x-api-key header is required"},
		{"wrong key", "/v1/messages", `{}`, map[string]string{"X-Api-Key": "nope"}, 401, "authentication_error", "invalid x-api-key"},
		{"missing version", "/v1/messages", `{}`, map[string]string{"Anthropic-Version": ""}, 400, "invalid_request_error", "anthropic-version: header is required"},
		{"bad version", "/v1/messages", `{}`, map[string]string{"Anthropic-Version": "v1"}, 400, "invalid_request_error", "not a valid version"},
		{"unknown path", "/v1/chat/completions", `{}`, nil, 404, "not_found_error", "Not Found"},
		{"not JSON", "/v1/messages", `nope`, nil, 400, "invalid_request_error", "parsing the body"},
		{"unknown field", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"n":2}`, nil, 400, "invalid_request_error", "n: Extra inputs are not permitted"},
		{"no model", "/v1/messages", `{"max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error", "model: Field required"},
		{"no max_tokens", "/v1/messages", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error", "max_tokens: Field required"},
		{"no messages", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[]}`, nil, 400, "invalid_request_error", "messages: Field required"},
		{"temperature", "/v1/messages", `{"model":"m","max_tokens":5,"temperature":1.5,"messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error", "temperature"},
		{"empty text", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}`, nil, 400, "invalid_request_error", "text content blocks must be non-empty"},
		{"empty content", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":""}]}`, nil, 400, "invalid_request_error", "non-empty content"},
		{"unknown block", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"video"}]}]}`, nil, 400, "invalid_request_error", "messages.0.content.0.type"},
		{"bad image type", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"AA"}}]}]}`, nil, 400, "invalid_request_error", "media_type"},
		{"tool_result without tool_use", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_9","content":"x"}]}]}`, nil, 400, "invalid_request_error", "unexpected `tool_use_id`"},
		{"tool_use without tool_result", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},{"role":"user","content":"b"}]}`, nil, 400, "invalid_request_error", "without `tool_result`"},
		{"bad tool id", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"tool_use","id":"call.1","name":"f","input":{}}]}]}`, nil, 400, "invalid_request_error", "messages.1.content.0.id"},
		{"tool input not an object", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":"x"}]}]}`, nil, 400, "invalid_request_error", "input"},
		{"bad signature", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"thinking","thinking":"x","signature":"forged"}]},{"role":"user","content":"b"}]}`, nil, 400, "invalid_request_error", "Invalid `signature`"},
		{"budget below 1024", "/v1/messages", `{"model":"m","max_tokens":5000,"thinking":{"type":"enabled","budget_tokens":100},"messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error", "budget_tokens"},
		{"budget over max_tokens", "/v1/messages", `{"model":"m","max_tokens":1500,"thinking":{"type":"enabled","budget_tokens":2000},"messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error", "must be greater than"},
		{"tool choice of an unknown tool", "/v1/messages", `{"model":"m","max_tokens":5,"tools":[` + weatherTool + `],"tool_choice":{"type":"tool","name":"nope"},"messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error", "not found"},
		{"schema not an object", "/v1/messages", `{"model":"m","max_tokens":5,"tools":[{"name":"f","input_schema":{"type":"string"}}],"messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error", "input_schema.type"},
		{"count_tokens takes no max_tokens", "/v1/messages/count_tokens", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, nil, 400, "invalid_request_error", "max_tokens: Extra inputs"},
		{"a valid signature passes", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"},` + good + `,{"role":"user","content":"again"}]}`, nil, 200, "", ""},
		{"a final empty assistant message passes", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":""}]}`, nil, 200, "", ""},
		{"malformed script header", "/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, map[string]string{HeaderChunks: "many"}, 400, "invalid_request_error", "X-Fake-Chunks"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, base+tc.path, tc.body, tc.headers)
			raw := mustRead(t, resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, raw)
			}
			if tc.status == 200 {
				return
			}
			var e ErrorBody
			mustJSON(t, raw, &e)
			if e.Type != "error" || e.Error.Type != tc.errType || !strings.Contains(e.Error.Message, tc.msg) || !strings.HasPrefix(e.RequestID, "req_fake_") {
				t.Errorf("error body %s, want type %s and %q", raw, tc.errType, tc.msg)
			}
			if resp.Header.Get("Request-Id") != e.RequestID {
				t.Errorf("request-id header %q, body %q", resp.Header.Get("Request-Id"), e.RequestID)
			}
		})
	}
}

func TestScriptedErrors(t *testing.T) {
	_, base := Start(t, Options{})
	body := `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`
	cases := []struct {
		headers map[string]string
		status  int
		errType string
	}{
		{map[string]string{HeaderStatus: "400"}, 400, "invalid_request_error"},
		{map[string]string{HeaderStatus: "401"}, 401, "authentication_error"},
		{map[string]string{HeaderStatus: "403"}, 403, "permission_error"},
		{map[string]string{HeaderStatus: "404"}, 404, "not_found_error"},
		{map[string]string{HeaderStatus: "429", HeaderRetryAfter: "7"}, 429, "rate_limit_error"},
		{map[string]string{HeaderStatus: "500"}, 500, "api_error"},
		{map[string]string{HeaderStatus: "529"}, 529, "overloaded_error"},
	}
	for _, tc := range cases {
		t.Run(tc.headers[HeaderStatus], func(t *testing.T) {
			resp := post(t, base+"/v1/messages", body, tc.headers)
			var e ErrorBody
			mustJSON(t, mustRead(t, resp.Body), &e)
			if resp.StatusCode != tc.status || e.Error.Type != tc.errType {
				t.Errorf("got %d %s", resp.StatusCode, e.Error.Type)
			}
			if ra := tc.headers[HeaderRetryAfter]; resp.Header.Get("Retry-After") != ra {
				t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
			}
		})
	}
}

func TestStreamScripts(t *testing.T) {
	srv, base := Start(t, Options{})
	body := `{"model":"m","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"one two three"}]}`
	t.Run("chunks", func(t *testing.T) {
		resp := post(t, base+"/v1/messages", body, map[string]string{HeaderChunks: "6"})
		events, err := readSSE(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		m, names := fold(t, events)
		deltas := strings.Count(strings.Join(names, " "), "content_block_delta")
		if deltas != 6 || m.Content[0].Text != Reply("one two three", 6) {
			t.Errorf("%d deltas, text %q", deltas, m.Content[0].Text)
		}
	})
	t.Run("cut after: no message_stop", func(t *testing.T) {
		resp := post(t, base+"/v1/messages", body, map[string]string{HeaderCutAfter: "4"})
		events, err := readSSE(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 4 || events[3].name == "message_stop" {
			t.Errorf("events %v", events)
		}
		last, _ := srv.Last()
		if last.Events != 4 {
			t.Errorf("logged %d events", last.Events)
		}
	})
	t.Run("error after: an overloaded error event", func(t *testing.T) {
		resp := post(t, base+"/v1/messages", body, map[string]string{HeaderErrorAfter: "3"})
		events, err := readSSE(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 4 || events[3].name != "error" || !strings.Contains(events[3].data, `"type":"overloaded_error"`) {
			t.Errorf("events %v", events)
		}
	})
	t.Run("reset after", func(t *testing.T) {
		resp := post(t, base+"/v1/messages", body, map[string]string{HeaderResetAfter: "2"})
		events, err := readSSE(resp.Body)
		if err == nil {
			t.Errorf("no read error; events %v", events)
		}
		if len(events) > 2 {
			t.Errorf("%d events", len(events))
		}
	})
	t.Run("hang after headers, client cancels", func(t *testing.T) {
		srv.Reset()
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", strings.NewReader(body))
		req.Header.Set("Anthropic-Version", Version)
		req.Header.Set(HeaderHang, "after-headers")
		ctx, cancel := context.WithCancel(t.Context())
		req = req.WithContext(ctx)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		cancel()
		if r, ok := srv.WaitCancelled(5 * time.Second); !ok || r.Seq != 1 {
			t.Errorf("not cancelled: %+v", r)
		}
	})
	t.Run("delay", func(t *testing.T) {
		start := time.Now()
		resp := post(t, base+"/v1/messages", strings.Replace(body, `"stream":true,`, "", 1), map[string]string{HeaderDelayMs: "50"})
		if resp.StatusCode != 200 || time.Since(start) < 50*time.Millisecond {
			t.Errorf("status %d after %v", resp.StatusCode, time.Since(start))
		}
	})
}

func TestScriptOption(t *testing.T) {
	srv, base := Start(t, Options{Script: func(r *http.Request) *Behavior {
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), "overload me") {
			return &Behavior{Status: 529}
		}
		if strings.Contains(string(b), "raw") {
			return &Behavior{Body: []byte(`{"custom":true}`), Status: 201}
		}
		return nil
	}})
	resp := post(t, base+"/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"overload me"}]}`, nil)
	if resp.StatusCode != 529 {
		t.Errorf("status %d", resp.StatusCode)
	}
	resp = post(t, base+"/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"raw"}]}`, nil)
	if raw := mustRead(t, resp.Body); resp.StatusCode != 201 || string(raw) != `{"custom":true}` {
		t.Errorf("status %d body %s", resp.StatusCode, raw)
	}
	resp = post(t, base+"/v1/messages", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"normal"}]}`, nil)
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	if n := srv.Count(); n != 3 {
		t.Errorf("%d requests logged", n)
	}
	last, ok := srv.Last()
	if !ok || last.Path != "/v1/messages" || last.Header.Get("Anthropic-Version") != Version || !strings.Contains(string(last.Body), "normal") || last.Status != 200 {
		t.Errorf("last %+v", last)
	}
}

func TestCountTokensAndModels(t *testing.T) {
	_, base := Start(t, Options{APIKey: testKey, Models: []string{"a", "b"}})
	resp := post(t, base+"/v1/messages/count_tokens", `{"model":"m","system":"be brief","messages":[{"role":"user","content":"one two three"}]}`, nil)
	if raw := mustRead(t, resp.Body); resp.StatusCode != 200 || string(raw) != `{"input_tokens":5}` {
		t.Errorf("count: %d %s", resp.StatusCode, raw)
	}
	resp = post(t, base+"/v1/messages/count_tokens", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, map[string]string{HeaderInputTokens: "99"})
	if raw := mustRead(t, resp.Body); string(raw) != `{"input_tokens":99}` {
		t.Errorf("count override: %s", raw)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/models", nil)
	req.Header.Set("X-Api-Key", testKey)
	req.Header.Set("Anthropic-Version", Version)
	mr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Body.Close()
	var list struct {
		Data []struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"data"`
		FirstID string `json:"first_id"`
		LastID  string `json:"last_id"`
	}
	mustJSON(t, mustRead(t, mr.Body), &list)
	if len(list.Data) != 2 || list.Data[0].ID != "a" || list.Data[0].Type != "model" || list.FirstID != "a" || list.LastID != "b" {
		t.Errorf("models %+v", list)
	}
}

func TestParseHeaders(t *testing.T) {
	for _, h := range []map[string]string{
		{HeaderStatus: "200"}, {HeaderStatus: "x"}, {HeaderHang: "forever"}, {HeaderRedactedThinking: "maybe"},
		{HeaderToolCalls: "0"}, {HeaderCutAfter: "-1"},
	} {
		hdr := http.Header{}
		for k, v := range h {
			hdr.Set(k, v)
		}
		if _, err := ParseHeaders(hdr); err == nil {
			t.Errorf("ParseHeaders(%v): no error", h)
		}
	}
	hdr := http.Header{}
	hdr.Set(HeaderHang, "before-headers")
	hdr.Set(HeaderInputTokens, "3")
	b, err := ParseHeaders(hdr)
	if err != nil || b.Hang != HangBeforeHeaders || b.InputTokens == nil || *b.InputTokens != 3 || b.ToolCalls != 0 {
		t.Errorf("ParseHeaders = %+v, %v", b, err)
	}
}

func TestCloseReleasesHangs(t *testing.T) {
	srv, base := Start(t, Options{})
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/messages", strings.NewReader(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`))
		req.Header.Set("Anthropic-Version", Version)
		req.Header.Set(HeaderHang, "1")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	if !srv.WaitCount(1, 5*time.Second) {
		t.Fatal("no request")
	}
	srv.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the hanging handler")
	}
	resp := post(t, base+"/v1/messages", `{}`, nil)
	if resp.StatusCode != 503 {
		t.Errorf("after Close: %d", resp.StatusCode)
	}
	var e ErrorBody
	mustJSON(t, mustRead(t, resp.Body), &e)
	if e.Error.Type != "overloaded_error" {
		t.Errorf("after Close: %+v", e)
	}
}
