package anthropic

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/llm"
)

// goldenClientRequests returns the client requests of the golden files.
func goldenClientRequests(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, file := range goldenFiles(t) {
		if s, ok := loadArchive(t, file).Get("client/request.json"); ok {
			out[strings.TrimSuffix(filepath.Base(file), ".txtar")] = s
		}
	}
	return out
}

// TestRequestFixedPoint: a request decoded from a client, encoded for
// Anthropic and decoded again is the same canonical request.
func TestRequestFixedPoint(t *testing.T) {
	n := 0
	for name, body := range goldenClientRequests(t) {
		first, err := Client.DecodeRequest([]byte(body), "")
		if err != nil {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			up, err := Upstream.EncodeRequest(first, "")
			if err != nil {
				t.Fatalf("EncodeRequest: %v", err)
			}
			second, err := Client.DecodeRequest(up, "")
			if err != nil {
				t.Fatalf("DecodeRequest of %s: %v", up, err)
			}
			if diff := cmp.Diff(first, second); diff != "" {
				t.Errorf("canonical request changed (-first +second):\n%s\nupstream body: %s", diff, up)
			}
		})
	}
	if n < 10 {
		t.Fatalf("only %d golden requests decode", n)
	}
}

func TestDecodeRequestModelOutsideBody(t *testing.T) {
	req, err := Client.DecodeRequest([]byte(`{"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`), "from-path")
	if err != nil {
		t.Fatal(err)
	}
	if req.Model != "from-path" {
		t.Errorf("model = %q", req.Model)
	}
	_, err = Client.DecodeRequest([]byte(`{"max_tokens":5,"messages":[]}`), "")
	assertParam(t, err, "model")
}

func TestDecodeRequestErrors(t *testing.T) {
	cases := []struct {
		body  string
		param string
	}{
		{`[]`, ""},
		{`not json`, ""},
		{`{"model":"m","max_tokens":"5","messages":[]}`, "max_tokens"},
		{`{"model":"m","max_tokens":0,"messages":[]}`, "max_tokens"},
		{`{"model":"m","max_tokens":1.5,"messages":[]}`, "max_tokens"},
		{`{"model":"m","max_tokens":5}`, "messages"},
		{`{"model":"m","max_tokens":5,"messages":{}}`, "messages"},
		{`{"model":"m","max_tokens":5,"messages":[1]}`, "messages.0"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user"}]}`, "messages.0.content"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":5}]}`, "messages.0.content"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"text":"x"}]}]}`, "messages.0.content.0.type"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_use","id":"a","name":"b","input":{}}]}]}`, "messages.0.content.0.type"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"b","input":[]}]}]}`, "messages.0.content.0.input"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"image","source":{"type":"url","url":"x"}}]}]}`, "messages.0.content.0.type"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","data":"x"}}]}]}`, "messages.0.content.0.source.media_type"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":[{"type":"document"}]}]}]}`, "messages.0.content.0.content.0.type"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"x"}]}]}`, "messages.0.content.0.signature"},
		{`{"model":"m","max_tokens":5,"system":[{"type":"image"}],"messages":[]}`, "system.0.type"},
		{`{"model":"m","max_tokens":5,"system":5,"messages":[]}`, "system"},
		{`{"model":"m","max_tokens":5,"tools":[{"name":"x"}],"messages":[]}`, "tools.0.input_schema"},
		{`{"model":"m","max_tokens":5,"tools":[{"name":"x","input_schema":{},"input_examples":[]}],"messages":[]}`, "tools.0.input_examples"},
		{`{"model":"m","max_tokens":5,"tool_choice":{"type":"tool"},"messages":[]}`, "tool_choice.name"},
		{`{"model":"m","max_tokens":5,"tool_choice":{"type":"none","disable_parallel_tool_use":true},"messages":[]}`, "tool_choice.disable_parallel_tool_use"},
		{`{"model":"m","max_tokens":5,"tool_choice":{"type":"sometimes"},"messages":[]}`, "tool_choice.type"},
		{`{"model":"m","max_tokens":5,"thinking":{"type":"enabled"},"messages":[]}`, "thinking.budget_tokens"},
		{`{"model":"m","max_tokens":5,"output_config":{"effort":"huge"},"messages":[]}`, "output_config.effort"},
		{`{"model":"m","max_tokens":5,"output_config":{"format":{"type":"json_object"}},"messages":[]}`, "output_config.format.type"},
		{`{"model":"m","max_tokens":5,"metadata":{"user_id":"u","tags":[]},"messages":[]}`, "metadata.tags"},
		{`{"model":"m","max_tokens":5,"stop_sequences":"END","messages":[]}`, "stop_sequences"},
		{`{"model":"m","max_tokens":5,"temperature":"hot","messages":[]}`, "temperature"},
		{`{"model":"m","max_tokens":5,"speed":"fast","messages":[]}`, "speed"},
		{`{"model":"m","max_tokens":5,"inference_geo":"us","messages":[]}`, "inference_geo"},
		{`{"Model":"m","max_tokens":5,"messages":[]}`, "Model"},
	}
	for _, tc := range cases {
		t.Run(tc.body, func(t *testing.T) {
			_, err := Client.DecodeRequest([]byte(tc.body), "")
			assertParam(t, err, tc.param)
		})
	}
}

func assertParam(t *testing.T, err error, param string) {
	t.Helper()
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not an *llm.Error", err)
	}
	if e.Status != 400 || e.Param != param {
		t.Errorf("got %d %q (%s), want 400 %q", e.Status, e.Param, e.Message, param)
	}
}

func TestCountTokens(t *testing.T) {
	body := `{"model":"claude-sonnet-4-5","system":"Be brief.","tools":[{"name":"f","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"Hello"}]}`
	req, err := DecodeCountTokensRequest([]byte(body), "")
	if err != nil {
		t.Fatal(err)
	}
	if req.Model != "claude-sonnet-4-5" || len(req.Messages) != 1 || len(req.System) != 1 || len(req.Tools) != 1 || req.MaxTokens != 0 {
		t.Errorf("decoded %+v", req)
	}
	for _, field := range []string{`"max_tokens":5`, `"stream":true`, `"temperature":1`} {
		_, err := DecodeCountTokensRequest([]byte(`{"model":"m",`+field+`,"messages":[]}`), "")
		assertParam(t, err, strings.Split(strings.Trim(field, `"`), `"`)[0])
	}
	if got := string(EncodeCountTokensResponse(42)); got != `{"input_tokens":42}` {
		t.Errorf("response = %s", got)
	}
	req.Stream, req.MaxTokens, req.User = true, 100, "u"
	up, err := EncodeCountTokensRequest(req, "claude-x")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"claude-x","system":"Be brief.","messages":[{"role":"user","content":"Hello"}],"tools":[{"name":"f","input_schema":{"type":"object"}}]}`
	if string(up) != want {
		t.Errorf("count body\n got %s\nwant %s", up, want)
	}
	if n, err := DecodeCountTokensResponse([]byte(`{"input_tokens":17}`)); err != nil || n != 17 {
		t.Errorf("DecodeCountTokensResponse = %d, %v", n, err)
	}
	for _, bad := range []string{`{}`, `nope`, `{"input_tokens":"x"}`} {
		if _, err := DecodeCountTokensResponse([]byte(bad)); err == nil {
			t.Errorf("DecodeCountTokensResponse(%s): no error", bad)
		}
	}
}

func TestEncodeError(t *testing.T) {
	cases := []struct {
		in   *llm.Error
		want string
	}{
		{&llm.Error{Status: 400, Type: "invalid_request", Param: "seed", Message: "no seed"},
			`{"type":"error","error":{"type":"invalid_request_error","message":"seed: no seed"}}`},
		{&llm.Error{Status: 401, Type: "authentication", Message: "bad key"},
			`{"type":"error","error":{"type":"authentication_error","message":"bad key"}}`},
		{&llm.Error{Status: 403, Type: "permission", Message: "no"},
			`{"type":"error","error":{"type":"permission_error","message":"no"}}`},
		{&llm.Error{Status: 404, Type: "not_found", Message: "no model"},
			`{"type":"error","error":{"type":"not_found_error","message":"no model"}}`},
		{&llm.Error{Status: 413, Type: "request_too_large", Message: "big"},
			`{"type":"error","error":{"type":"request_too_large","message":"big"}}`},
		{&llm.Error{Status: 429, Type: "rate_limit", Message: "slow down"},
			`{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`},
		{&llm.Error{Status: 500, Type: "server", Message: "oops"},
			`{"type":"error","error":{"type":"api_error","message":"oops"}}`},
		{&llm.Error{Status: 529, Type: "overloaded", Message: "Overloaded"},
			`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`},
		{&llm.Error{Status: 503, Message: "by status"},
			`{"type":"error","error":{"type":"overloaded_error","message":"by status"}}`},
		{&llm.Error{Message: "no status"},
			`{"type":"error","error":{"type":"api_error","message":"no status"}}`},
		{nil, `{"type":"error","error":{"type":"api_error","message":"Internal error."}}`},
	}
	for _, tc := range cases {
		if got := string(Client.EncodeError(tc.in)); got != tc.want {
			t.Errorf("EncodeError(%+v)\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

func TestEncodeResponseErrors(t *testing.T) {
	for _, resp := range []*llm.Response{
		nil,
		{Content: []llm.Part{{Type: llm.PartImage, URL: "https://x"}}},
	} {
		if _, err := Client.EncodeResponse(&llm.Request{}, resp); err == nil {
			t.Errorf("EncodeResponse(%+v): no error", resp)
		}
	}
	// Arguments that are not an object (a call cut by max_tokens) keep the
	// call, with an empty input, rather than losing the answer.
	out, err := Client.EncodeResponse(&llm.Request{}, &llm.Response{Content: []llm.Part{{Type: llm.PartToolCall, ToolCallID: "a", ToolName: "f", Arguments: json.RawMessage(`{"cit`)}}})
	if err != nil || !strings.Contains(string(out), `"input":{}`) {
		t.Errorf("cut tool call: %s %v", out, err)
	}
	// No id, no model: an id is made, the model is the request's; empty
	// arguments are the empty object.
	body, err := Client.EncodeResponse(&llm.Request{Model: "req-model"}, &llm.Response{
		Content: []llm.Part{{Type: llm.PartToolCall, ToolCallID: "a", ToolName: "f"}}, StopReason: llm.StopToolUse})
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ID      string `json:"id"`
		Model   string `json:"model"`
		Content []struct {
			Input json.RawMessage `json:"input"`
		} `json:"content"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.ID, "msg_") || m.Model != "req-model" || string(m.Content[0].Input) != "{}" {
		t.Errorf("body %s", body)
	}
}

func TestEncodeRequestEdges(t *testing.T) {
	user := func(parts ...llm.Part) []llm.Message { return []llm.Message{{Role: llm.RoleUser, Content: parts}} }
	cases := []struct {
		name  string
		req   *llm.Request
		param string // "" = success
		want  string // a substring of the body
	}{
		{"nil", nil, "", ""},
		{"unknown role", &llm.Request{Messages: []llm.Message{{Role: "tool"}}}, "messages.0.role", ""},
		{"image in an assistant message", &llm.Request{Messages: []llm.Message{{Role: llm.RoleAssistant, Content: []llm.Part{{Type: llm.PartImage, URL: "https://x"}}}}}, "messages.0.content.0", ""},
		{"tool call in a user message", &llm.Request{Messages: user(llm.Part{Type: llm.PartToolCall, ToolCallID: "a", ToolName: "f"}, llm.Part{Type: llm.PartText, Text: "x"})}, "messages.0.content.0", ""},
		{"tool result without id", &llm.Request{Messages: user(llm.Part{Type: llm.PartToolResult}, llm.Part{Type: llm.PartText, Text: "x"})}, "messages.0.content.0.tool_call_id", ""},
		{"bad data URL", &llm.Request{Messages: user(llm.Part{Type: llm.PartImage, URL: "data:image/png,abc"}, llm.Part{Type: llm.PartText, Text: "x"})}, "messages.0.content.0.url", ""},
		{"image without a source", &llm.Request{Messages: user(llm.Part{Type: llm.PartImage}, llm.Part{Type: llm.PartText, Text: "x"})}, "messages.0.content.0.url", ""},
		{"base64 without media type", &llm.Request{Messages: user(llm.Part{Type: llm.PartImage, Data: "AAAA"}, llm.Part{Type: llm.PartText, Text: "x"})}, "messages.0.content.0.media_type", ""},
		{"system image", &llm.Request{System: []llm.Part{{Type: llm.PartImage}}}, "system.0", ""},
		{"unknown response format", &llm.Request{ResponseFormat: &llm.ResponseFormat{Type: "xml"}}, "response_format", ""},
		{"schema without schema", &llm.Request{ResponseFormat: &llm.ResponseFormat{Type: "json_schema"}}, "response_format", ""},
		{"text response format", &llm.Request{ResponseFormat: &llm.ResponseFormat{Type: "text"}}, "", `"max_tokens":4096,"messages":[]}`},
		{"effort with a budget", &llm.Request{Thinking: &llm.Thinking{BudgetTokens: 2000, Effort: "medium"}}, "", `"thinking":{"type":"enabled","budget_tokens":2000},"output_config":{"effort":"medium"}`},
		{"effort and schema share output_config", &llm.Request{Thinking: &llm.Thinking{Effort: "high"}, ResponseFormat: &llm.ResponseFormat{Type: "json_schema", Schema: json.RawMessage(`{"type":"object"}`)}}, "",
			`"output_config":{"effort":"high","format":{"type":"json_schema","schema":{"type":"object"}}}`},
		{"parallel off without tools is not sent", &llm.Request{ParallelToolCalls: new(bool)}, "", `{"model":"","max_tokens":4096,"messages":[]}`},
		{"model argument wins", &llm.Request{Model: "canonical"}, "", `"model":"upstream"`},
		{"tool result of text and image", &llm.Request{Messages: user(llm.Part{Type: llm.PartToolResult, ToolCallID: "t", Content: []llm.Part{{Type: llm.PartText, Text: "a"}, {Type: llm.PartText}, {Type: llm.PartImage, URL: "https://x/y.png"}}})}, "",
			`"content":[{"type":"text","text":"a"},{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]`},
		{"tool result with a tool call inside", &llm.Request{Messages: user(llm.Part{Type: llm.PartToolResult, ToolCallID: "t", Content: []llm.Part{{Type: llm.PartToolCall}, {Type: llm.PartText, Text: "x"}}})}, "messages.0.content.0.content.0", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			model := ""
			if tc.name == "model argument wins" {
				model = "upstream"
			}
			body, err := Upstream.EncodeRequest(tc.req, model)
			if tc.req == nil {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if tc.param != "" {
				assertParam(t, err, tc.param)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(body), tc.want) {
				t.Errorf("body %s\nlacks %s", body, tc.want)
			}
		})
	}
}

func TestToolID(t *testing.T) {
	for in, want := range map[string]string{
		"toolu_01A-b": "toolu_01A-b",
		"call.abc:1":  "call_abc_1",
		"fc/é":        "fc___",
	} {
		if got := toolID(in); got != want {
			t.Errorf("toolID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecodeResponseErrors(t *testing.T) {
	for _, body := range []string{``, `[]`, `{"type":"error","error":{}}`, `{"content":"x"}`} {
		if _, err := Upstream.DecodeResponse([]byte(body)); err == nil {
			t.Errorf("DecodeResponse(%s): no error", body)
		}
	}
}

func TestNames(t *testing.T) {
	if Client.Name() != "anthropic" || Upstream.Name() != "anthropic" {
		t.Errorf("names %q %q", Client.Name(), Upstream.Name())
	}
}
