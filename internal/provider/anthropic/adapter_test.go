package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	anthropicfake "github.com/sluicehq/sluice/internal/fakeprovider/anthropic"
	"github.com/sluicehq/sluice/internal/llm"
	codec "github.com/sluicehq/sluice/internal/protocol/anthropic"
	"github.com/sluicehq/sluice/internal/provider"
)

const testKey = "sk-ant-upstream"

func newAdapter(t *testing.T, spec provider.Spec) (*anthropicfake.Server, provider.Adapter) {
	t.Helper()
	srv, base := anthropicfake.Start(t, anthropicfake.Options{APIKey: testKey})
	if spec.BaseURL == "" {
		spec.BaseURL = base + "/"
	}
	if spec.APIKey == "" {
		spec.APIKey = testKey
	}
	a, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	return srv, a
}

func do(t *testing.T, a provider.Adapter, req *provider.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := a.Do(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestNew(t *testing.T) {
	a, err := New(provider.Spec{Name: "claude"})
	if err != nil {
		t.Fatal(err)
	}
	ad := a.(*Adapter)
	if ad.base != DefaultBaseURL || a.Timeout() != DefaultTimeout || a.Name() != "claude" || a.Protocol() != provider.ProtocolAnthropic {
		t.Errorf("defaults: %+v", ad)
	}
	if _, err := New(provider.Spec{Name: "x", BaseURL: "api.anthropic.com"}); err == nil {
		t.Error("a base URL without a scheme was accepted")
	}
	a, _ = New(provider.Spec{Timeout: time.Second})
	if a.Timeout() != time.Second {
		t.Errorf("timeout %v", a.Timeout())
	}
}

func TestHeadersAndPaths(t *testing.T) {
	cases := []struct {
		name        string
		spec        provider.Spec
		op          provider.Operation
		stream      bool
		header      http.Header
		wantPath    string
		wantVersion string
		wantBeta    string
		wantAccept  string
	}{
		{name: "chat", op: provider.OpChat, wantPath: "/v1/messages", wantVersion: "2023-06-01", wantAccept: "application/json"},
		{name: "stream", op: provider.OpChat, stream: true, wantPath: "/v1/messages", wantVersion: "2023-06-01", wantAccept: "text/event-stream"},
		{name: "count tokens", op: provider.OpCountTokens, wantPath: "/v1/messages/count_tokens", wantVersion: "2023-06-01", wantAccept: "application/json"},
		{name: "client version and beta are forwarded", op: provider.OpChat,
			header:   http.Header{"Anthropic-Version": {"2023-01-01"}, "Anthropic-Beta": {"token-efficient-tools-2025-02-19"}},
			wantPath: "/v1/messages", wantVersion: "2023-01-01", wantBeta: "token-efficient-tools-2025-02-19", wantAccept: "application/json"},
		{name: "configured version wins; betas merge", op: provider.OpChat,
			spec:     provider.Spec{APIVersion: "2023-06-01", Headers: map[string]string{"Anthropic-Beta": "context-1m-2025-08-07,files-api-2025-04-14"}},
			header:   http.Header{"Anthropic-Version": {"2023-01-01"}, "Anthropic-Beta": {"files-api-2025-04-14, interleaved-thinking-2025-05-14"}},
			wantPath: "/v1/messages", wantVersion: "2023-06-01", wantBeta: "files-api-2025-04-14,interleaved-thinking-2025-05-14,context-1m-2025-08-07", wantAccept: "application/json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, a := newAdapter(t, tc.spec)
			body := `{"model":"claude-fake-1","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
			if tc.op == provider.OpCountTokens {
				body = `{"model":"claude-fake-1","messages":[{"role":"user","content":"hi"}]}`
			}
			if tc.stream {
				body = strings.Replace(body, `{`, `{"stream":true,`, 1)
			}
			resp, raw := do(t, a, &provider.Request{Op: tc.op, Body: []byte(body), Header: tc.header, Model: "claude-fake-1", Stream: tc.stream})
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, raw)
			}
			got, _ := srv.Last()
			h := got.Header
			if got.Path != tc.wantPath || h.Get("X-Api-Key") != testKey || h.Get("Anthropic-Version") != tc.wantVersion ||
				h.Get("Anthropic-Beta") != tc.wantBeta || h.Get("Accept") != tc.wantAccept || h.Get("Content-Type") != "application/json" {
				t.Errorf("path %s headers %v", got.Path, h)
			}
			if len(h.Values("Anthropic-Beta")) > 1 {
				t.Errorf("several anthropic-beta headers: %v", h.Values("Anthropic-Beta"))
			}
			if string(got.Body) != body {
				t.Errorf("body changed: %s", got.Body)
			}
		})
	}
}

func TestUnsupported(t *testing.T) {
	_, a := newAdapter(t, provider.Spec{})
	for _, op := range []provider.Operation{provider.OpEmbeddings, provider.OpResponses, "nope"} {
		if _, err := a.Do(context.Background(), &provider.Request{Op: op}); !errors.Is(err, provider.ErrUnsupported) {
			t.Errorf("%s: %v", op, err)
		}
	}
}

func TestCancel(t *testing.T) {
	srv, a := newAdapter(t, provider.Spec{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		resp, err := a.Do(ctx, &provider.Request{Op: provider.OpChat, Header: http.Header{anthropicfake.HeaderHang: {"1"}},
			Body: []byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`)})
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	if !srv.WaitCount(1, 5*time.Second) {
		t.Fatal("no request")
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
	if _, ok := srv.WaitCancelled(5 * time.Second); !ok {
		t.Error("the fake did not see the cancellation")
	}
}

// roundTrip encodes req with the Anthropic codec, sends it through the adapter to
// the fake and decodes the answer.
func roundTrip(t *testing.T, a provider.Adapter, req *llm.Request, header http.Header) *llm.Response {
	t.Helper()
	body, err := codec.Upstream.EncodeRequest(req, "claude-fake-1")
	if err != nil {
		t.Fatal(err)
	}
	resp, raw := do(t, a, &provider.Request{Op: provider.OpChat, Body: body, Header: header, Model: "claude-fake-1"})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s\nrequest: %s", resp.StatusCode, raw, body)
	}
	out, err := codec.Upstream.DecodeResponse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func text(s string) llm.Part { return llm.Part{Type: llm.PartText, Text: s} }

// TestTranslatedConversation drives the codec against the fake through the
// adapter: tool calls with ids Anthropic would refuse, their results, thinking
// blocks whose signatures must come back intact, and structured output.
func TestTranslatedConversation(t *testing.T) {
	_, a := newAdapter(t, provider.Spec{})
	parallel := false
	req := &llm.Request{
		System:   []llm.Part{text("Be brief.")},
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{text("Weather in Paris?")}}},
		Tools: []llm.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object","properties":{"location":{"type":"string"}}}`)},
			{Name: "get_time"}},
		ToolChoice:        &llm.ToolChoice{Mode: llm.ToolChoiceRequired},
		ParallelToolCalls: &parallel,
		Thinking:          &llm.Thinking{BudgetTokens: 1024},
		MaxTokens:         2000,
	}
	resp := roundTrip(t, a, req, http.Header{anthropicfake.HeaderToolCalls: {"2"}})
	if resp.StopReason != llm.StopToolUse || len(resp.Content) != 2 || resp.Content[0].Type != llm.PartThinking || resp.Content[1].Type != llm.PartToolCall {
		t.Fatalf("first answer %+v", resp)
	}
	think, call := resp.Content[0], resp.Content[1]
	if think.Signature != anthropicfake.Signature(think.Text) || string(call.Arguments) != `{"location":"Weather in Paris?"}` {
		t.Errorf("thinking %+v, call %+v", think, call)
	}
	if resp.Usage.ReasoningTokens == 0 || resp.Usage.OutputTokens <= resp.Usage.ReasoningTokens {
		t.Errorf("usage %+v", resp.Usage)
	}

	// Send the call back with an OpenAI-style id that Anthropic would refuse,
	// the result before a text part, and the signed thinking block.
	call.ToolCallID = "call.abc:1"
	req.Messages = append(req.Messages,
		llm.Message{Role: llm.RoleAssistant, Content: []llm.Part{think, call}},
		llm.Message{Role: llm.RoleUser, Content: []llm.Part{text("Answer in French."),
			{Type: llm.PartToolResult, ToolCallID: "call.abc:1", Content: []llm.Part{text("18 degrees")}}}})
	req.ToolChoice = &llm.ToolChoice{Mode: llm.ToolChoiceAuto}
	resp = roundTrip(t, a, req, nil)
	if resp.StopReason != llm.StopEndTurn || resp.Content[len(resp.Content)-1].Text != "Echo: 18 degrees" {
		t.Fatalf("second answer %+v", resp)
	}

	// A forged signature is refused by the fake, as by Anthropic.
	req.Messages[1].Content[0].Signature = "forged"
	body, _ := codec.Upstream.EncodeRequest(req, "claude-fake-1")
	r, raw := do(t, a, &provider.Request{Op: provider.OpChat, Body: body})
	if e := codec.Upstream.DecodeError(r.StatusCode, raw); e.Status != 400 || !strings.Contains(e.Message, "signature") {
		t.Errorf("forged signature: %+v", e)
	}

	// Structured output.
	resp = roundTrip(t, a, &llm.Request{
		Messages:       []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{text("John")}}},
		ResponseFormat: &llm.ResponseFormat{Type: "json_schema", Schema: json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"}}}`)},
	}, nil)
	if got := resp.Content[0].Text; got != `{"name":"John"}` {
		t.Errorf("structured output %q", got)
	}
}

// TestStreams reads the fake's streams with the codec's stream reader: usage
// normalised (cache tokens inside input), Done only after message_stop, and an
// overloaded error mid-stream as an error event.
func TestStreams(t *testing.T) {
	_, a := newAdapter(t, provider.Spec{})
	req := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{text("one two three")}}}, Stream: true}
	body, err := codec.Upstream.EncodeRequest(req, "claude-fake-1")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		header    http.Header
		wantDone  bool
		wantText  string
		wantUsage *llm.Usage
		wantError string
	}{
		{name: "complete, with cache usage",
			header:   http.Header{anthropicfake.HeaderCacheReadTokens: {"100"}, anthropicfake.HeaderCacheCreationTokens: {"20"}, anthropicfake.HeaderInputTokens: {"3"}},
			wantDone: true, wantText: "Echo: one two three",
			wantUsage: &llm.Usage{InputTokens: 123, OutputTokens: 4, CachedTokens: 100, CacheWriteTokens: 20}},
		{name: "cut before message_stop", header: http.Header{anthropicfake.HeaderCutAfter: {"5"}}, wantText: "Echo: one"},
		{name: "overloaded mid-stream", header: http.Header{anthropicfake.HeaderErrorAfter: {"4"}}, wantText: "Echo:", wantError: "overloaded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := a.Do(context.Background(), &provider.Request{Op: provider.OpChat, Body: body, Header: tc.header, Stream: true})
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			r := codec.Upstream.NewStreamReader()
			var sb strings.Builder
			var gotErr string
			var stop *llm.Usage
			buf := make([]byte, 7) // small reads: events arrive cut
			for {
				n, rerr := resp.Body.Read(buf)
				if ferr := r.Feed(buf[:n], func(ev llm.Event) {
					switch ev.Type {
					case llm.EvTextDelta:
						sb.WriteString(ev.Text)
					case llm.EvError:
						gotErr = ev.Err.Type
					case llm.EvStop:
						stop = ev.Usage
					}
				}); ferr != nil {
					t.Fatal(ferr)
				}
				if rerr != nil {
					break
				}
			}
			if r.Done() != tc.wantDone || sb.String() != tc.wantText || gotErr != tc.wantError {
				t.Errorf("done %v text %q error %q", r.Done(), sb.String(), gotErr)
			}
			if diff := cmp.Diff(tc.wantUsage, stop); diff != "" {
				t.Errorf("stop usage (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCountTokens(t *testing.T) {
	_, a := newAdapter(t, provider.Spec{})
	body, err := codec.EncodeCountTokensRequest(&llm.Request{MaxTokens: 100, Stream: true,
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{text("one two three")}}}}, "claude-fake-1")
	if err != nil {
		t.Fatal(err)
	}
	resp, raw := do(t, a, &provider.Request{Op: provider.OpCountTokens, Body: body})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	if n, err := codec.DecodeCountTokensResponse(raw); err != nil || n != 3 {
		t.Errorf("count = %d, %v", n, err)
	}
}

func TestUpstreamErrors(t *testing.T) {
	_, a := newAdapter(t, provider.Spec{})
	for status, kind := range map[string]string{"400": "invalid_request", "401": "authentication", "429": "rate_limit", "500": "server", "529": "overloaded"} {
		resp, raw := do(t, a, &provider.Request{Op: provider.OpChat, Header: http.Header{anthropicfake.HeaderStatus: {status}},
			Body: []byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`)})
		if e := codec.Upstream.DecodeError(resp.StatusCode, raw); e.Type != kind || e.Message == "" {
			t.Errorf("%s: %+v", status, e)
		}
	}
	// A wrong key.
	a2, _ := New(provider.Spec{BaseURL: a.(*Adapter).base, APIKey: "wrong"})
	resp, raw := do(t, a2, &provider.Request{Op: provider.OpChat, Body: []byte(`{}`)})
	if e := codec.Upstream.DecodeError(resp.StatusCode, raw); e.Status != 401 || e.Type != "authentication" {
		t.Errorf("wrong key: %+v", e)
	}
}
