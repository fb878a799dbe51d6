package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/tidwall/gjson"

	anthropicfake "github.com/sluicehq/sluice/internal/fakeprovider/anthropic"
	bedrockfake "github.com/sluicehq/sluice/internal/fakeprovider/bedrock"
	openaifake "github.com/sluicehq/sluice/internal/fakeprovider/openai"
)

// The official Anthropic Go SDK (anthropic-sdk-go v2) against the protocols gateway:
// m-anthropic is passed through byte for byte (only "model" is renamed); m-openai and
// m-bedrock are translated to Chat Completions and to Bedrock Converse.

// anthropicTargets are the models an Anthropic client is tested against.
var anthropicTargets = []target{tAnthropic, tOpenAI, tBedrock}

// tinyPNG is a 1x1 PNG, base64.
const tinyPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

// exchange records one SDK call as it crossed the wire: the exact body the SDK sent
// and the gateway's request id.
type exchange struct {
	mu        sync.Mutex // guards the fields below
	body      []byte
	version   string // the anthropic-version header
	requestID string
	status    int
}

func (x *exchange) record() option.RequestOption {
	return option.WithMiddleware(func(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		var body []byte
		if req.GetBody != nil {
			if rc, err := req.GetBody(); err == nil {
				body, _ = io.ReadAll(rc)
				rc.Close()
			}
		}
		resp, err := next(req)
		x.mu.Lock()
		defer x.mu.Unlock()
		x.body, x.version = body, req.Header.Get("Anthropic-Version")
		if resp != nil {
			x.requestID, x.status = resp.Header.Get("X-Request-Id"), resp.StatusCode
		}
		return resp, err
	})
}

func (x *exchange) sent() []byte {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.body
}

func (x *exchange) id() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.requestID
}

// anthropicSDK returns an official Anthropic Go client for the gateway g, configured
// as the SDK's users point it at a gateway: the base URL without /v1 and the key
// (which v2 sends as Authorization: Bearer). No retries; every response is checked
// for leaked secrets.
func anthropicSDK(t *testing.T, g *gateway, key string) anthropic.Client {
	return anthropic.NewClient(
		option.WithBaseURL(g.URL),
		option.WithAPIKey(key),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(30*time.Second),
		option.WithHTTPClient(&http.Client{Transport: newLeakCheck(t)}),
	)
}

// sendMessage sends params with Messages.New, or streams it with
// Messages.NewStreaming and accumulates the events into a Message, checking that
// the stream starts with message_start and ends with message_stop.
func sendMessage(t *testing.T, c anthropic.Client, stream bool, params anthropic.MessageNewParams, x *exchange, marker string) anthropic.Message {
	t.Helper()
	opts := []option.RequestOption{x.record(), option.WithHeader("X-E2e-Marker", marker)}
	ctx := ctxTimeout(t, 30*time.Second)
	if !stream {
		msg, err := c.Messages.New(ctx, params, opts...)
		if err != nil {
			t.Fatalf("Messages.New: %v", err)
		}
		return *msg
	}
	s := c.Messages.NewStreaming(ctx, params, opts...)
	defer s.Close()
	var msg anthropic.Message
	var events []string
	for s.Next() {
		ev := s.Current()
		events = append(events, ev.Type)
		if err := msg.Accumulate(ev); err != nil {
			t.Fatalf("Accumulate(%s): %v", ev.Type, err)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("stream: %v (events %v)", err, events)
	}
	if len(events) < 3 || events[0] != "message_start" || events[len(events)-1] != "message_stop" {
		t.Fatalf("stream events %v: want message_start ... message_stop", events)
	}
	return msg
}

// textOf joins the text blocks of a message.
func textOf(m anthropic.Message) string {
	var b strings.Builder
	for _, c := range m.Content {
		if c.Type == "text" {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

// blockOf returns the first content block of a type.
func blockOf(m anthropic.Message, typ string) (anthropic.ContentBlockUnion, bool) {
	for _, c := range m.Content {
		if c.Type == typ {
			return c, true
		}
	}
	return anthropic.ContentBlockUnion{}, false
}

// checkAnthropicUpstream checks the request the gateway sent upstream for an
// Anthropic client's call: the provider's credentials, the endpoint of the
// provider's protocol and, when passed through, the client's exact bytes with only
// the model renamed.
func checkAnthropicUpstream(t *testing.T, tg target, up upstreamReq, x *exchange, stream bool) {
	t.Helper()
	checkProvenance(t, tg.kind, up)
	switch tg.kind {
	case "anthropic":
		if up.Path != "/v1/messages" {
			t.Errorf("anthropic upstream path %q", up.Path)
		}
		if want := upstreamBody(x.sent(), tg.model, tg.served); !bytes.Equal(up.Body, want) {
			t.Errorf("passed-through body differs from the client's (model renamed):\n got: %s\nwant: %s", up.Body, want)
		}
		x.mu.Lock()
		version := x.version
		x.mu.Unlock()
		if got := up.Header.Get(HeaderClientVersion); got != version || version == "" {
			t.Errorf("anthropic-version upstream %q, want the client's %q", got, version)
		}
	case "openai":
		if up.Path != "/v1/chat/completions" || gjson.GetBytes(up.Body, "model").Str != tg.served {
			t.Errorf("openai upstream: %s with model %q", up.Path, gjson.GetBytes(up.Body, "model").Str)
		}
		if gjson.GetBytes(up.Body, "stream").Bool() != stream {
			t.Errorf("openai upstream: stream = %v, want %v", !stream, stream)
		}
	case "bedrock":
		want := "/model/" + tg.served + "/converse"
		if stream {
			want += "-stream"
		}
		if up.Path != want {
			t.Errorf("bedrock upstream path %q, want %q", up.Path, want)
		}
	}
}

// checkAnthropicEntry checks the ledger entry of a Messages call against the usage
// the client saw.
func checkAnthropicEntry(t *testing.T, g *gateway, x *exchange, tg target, stream bool, u anthropic.Usage) LedgerEntry {
	t.Helper()
	e := g.entryByID(t, x.id())
	checkEntry(t, e, wantEntry{endpoint: "messages", key: "proto", model: tg.model, served: tg.served, provider: tg.provider,
		status: "ok", httpStatus: 200, stream: stream,
		input:  u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens,
		output: u.OutputTokens, cached: u.CacheReadInputTokens})
	if e.CostMicros <= 0 {
		t.Errorf("cost_micros = %d, want > 0", e.CostMicros)
	}
	if len(e.Attempts) != 1 || e.Attempts[0].Provider != tg.provider || e.Attempts[0].HTTPStatus != 200 {
		t.Errorf("attempts = %+v", e.Attempts)
	}
	return e
}

func mode(stream bool) string {
	if stream {
		return "stream"
	}
	return "create"
}

func TestAnthropicSDKText(t *testing.T) {
	g := protocolsGateway(t)
	client := anthropicSDK(t, g, protoKey)
	const prompt = "hello from the anthropic go sdk"
	want := openaifake.Reply(prompt, 0, 0) // every fake says "Echo: <prompt>"
	for _, tg := range anthropicTargets {
		for _, stream := range []bool{false, true} {
			t.Run(tg.model+"/"+mode(stream), func(t *testing.T) {
				marker, x := randHex(6), &exchange{}
				msg := sendMessage(t, client, stream, anthropic.MessageNewParams{
					Model:     anthropic.Model(tg.model),
					MaxTokens: 256,
					System:    []anthropic.TextBlockParam{{Text: "be brief"}},
					Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))},
				}, x, marker)
				if got := textOf(msg); got != want || len(msg.Content) != 1 {
					t.Errorf("content = %+v, want one text block %q", msg.Content, want)
				}
				if msg.StopReason != anthropic.StopReasonEndTurn || msg.Role != "assistant" || msg.Type != "message" || msg.ID == "" {
					t.Errorf("stop_reason %q, role %q, type %q, id %q", msg.StopReason, msg.Role, msg.Type, msg.ID)
				}
				in, out := int64(openaifake.CountTokens("be brief "+prompt)), int64(openaifake.CountTokens(want))
				if msg.Usage.InputTokens != in || msg.Usage.OutputTokens != out {
					t.Errorf("usage = %d/%d, want %d/%d", msg.Usage.InputTokens, msg.Usage.OutputTokens, in, out)
				}
				up := received(t, tg.kind, marker, 1)[0]
				nowhereElse(t, tg.kind, marker)
				checkAnthropicUpstream(t, tg, up, x, stream)
				if tg.kind == "openai" && gjson.GetBytes(up.Body, "messages.0.role").Str != "system" {
					t.Errorf("openai upstream: the system prompt is not the first message: %s", up.Body)
				}
				checkAnthropicEntry(t, g, x, tg, stream, msg.Usage)
			})
		}
	}
}

// weatherTool is the tool of the tool tests.
func weatherTool() []anthropic.ToolUnionParam {
	tool := anthropic.ToolParam{
		Name:        "get_weather",
		Description: anthropic.String("Weather in a city"),
		InputSchema: anthropic.ToolInputSchemaParam{
			Properties: map[string]any{"city": map[string]any{"type": "string"}},
			Required:   []string{"city"},
		},
	}
	return []anthropic.ToolUnionParam{{OfTool: &tool}}
}

func TestAnthropicSDKToolRoundTrip(t *testing.T) {
	g := protocolsGateway(t)
	client := anthropicSDK(t, g, protoKey)
	const prompt = "weather in Paris please"
	const result = "18C and sunny"
	for _, tg := range anthropicTargets {
		t.Run(tg.model, func(t *testing.T) {
			// Turn 1, streamed: the model calls the tool (input_json_delta accumulated).
			marker, x1 := randHex(6), &exchange{}
			history := []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))}
			msg1 := sendMessage(t, client, true, anthropic.MessageNewParams{
				Model: anthropic.Model(tg.model), MaxTokens: 256, Messages: history, Tools: weatherTool(),
			}, x1, marker)
			use, ok := blockOf(msg1, "tool_use")
			if !ok {
				t.Fatalf("no tool_use block in %+v", msg1.Content)
			}
			var input map[string]any
			if err := json.Unmarshal(use.Input, &input); err != nil || !reflect.DeepEqual(input, map[string]any{"city": prompt}) {
				t.Errorf("tool_use input %s (%v), want {\"city\": %q}", use.Input, err, prompt)
			}
			if use.Name != "get_weather" || use.ID == "" || msg1.StopReason != anthropic.StopReasonToolUse {
				t.Errorf("tool_use %q id %q, stop_reason %q", use.Name, use.ID, msg1.StopReason)
			}
			if msg1.Usage.InputTokens <= 0 || msg1.Usage.OutputTokens <= 0 {
				t.Errorf("usage = %+v", msg1.Usage)
			}
			up1 := received(t, tg.kind, marker, 1)[0]
			checkAnthropicUpstream(t, tg, up1, x1, true)
			checkAnthropicEntry(t, g, x1, tg, true, msg1.Usage)

			// Turn 2: the tool's result goes back with the assistant's turn as the SDK
			// returns it (ToParam), and the model answers from it.
			x2 := &exchange{}
			history = append(history, msg1.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.ID, result, false)))
			msg2 := sendMessage(t, client, false, anthropic.MessageNewParams{
				Model: anthropic.Model(tg.model), MaxTokens: 256, Messages: history, Tools: weatherTool(),
			}, x2, marker)
			if got, want := textOf(msg2), openaifake.Reply(result, 0, 0); got != want || msg2.StopReason != anthropic.StopReasonEndTurn {
				t.Errorf("answer %q (stop_reason %q), want %q", got, msg2.StopReason, want)
			}
			up2 := received(t, tg.kind, marker, 2)[1]
			checkAnthropicUpstream(t, tg, up2, x2, false)
			switch body := gjson.ParseBytes(up2.Body); tg.kind {
			case "openai":
				call, tool := body.Get("messages.1.tool_calls.0"), body.Get("messages.2")
				if call.Get("id").Str != use.ID || call.Get("function.name").Str != "get_weather" ||
					tool.Get("role").Str != "tool" || tool.Get("tool_call_id").Str != use.ID || !strings.Contains(tool.Get("content").Raw, result) {
					t.Errorf("openai upstream: the tool call and its result do not pair with id %q: %s", use.ID, up2.Body)
				}
			case "bedrock":
				call := body.Get(`messages.1.content.#(toolUse).toolUse`)
				res := body.Get(`messages.2.content.#(toolResult).toolResult`)
				if call.Get("toolUseId").Str != use.ID || res.Get("toolUseId").Str != use.ID || !strings.Contains(res.Get("content").Raw, result) {
					t.Errorf("bedrock upstream: the toolUse and its toolResult do not pair with id %q: %s", use.ID, up2.Body)
				}
			}
			checkAnthropicEntry(t, g, x2, tg, false, msg2.Usage)
		})
	}
}

func TestAnthropicSDKImage(t *testing.T) {
	g := protocolsGateway(t)
	client := anthropicSDK(t, g, protoKey)
	const prompt = "describe this picture"
	for _, tg := range anthropicTargets {
		t.Run(tg.model, func(t *testing.T) {
			marker, x := randHex(6), &exchange{}
			msg := sendMessage(t, client, false, anthropic.MessageNewParams{
				Model: anthropic.Model(tg.model), MaxTokens: 256,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(
					anthropic.NewImageBlockBase64("image/png", tinyPNG), anthropic.NewTextBlock(prompt))},
			}, x, marker)
			want := openaifake.Reply(prompt, 0, 0)
			if got := textOf(msg); got != want || msg.StopReason != anthropic.StopReasonEndTurn {
				t.Errorf("answer %q (stop_reason %q), want %q", got, msg.StopReason, want)
			}
			if msg.Usage.InputTokens != 3 || msg.Usage.OutputTokens != int64(openaifake.CountTokens(want)) {
				t.Errorf("usage = %d/%d", msg.Usage.InputTokens, msg.Usage.OutputTokens)
			}
			up := received(t, tg.kind, marker, 1)[0]
			checkAnthropicUpstream(t, tg, up, x, false)
			switch body := gjson.ParseBytes(up.Body); tg.kind {
			case "openai":
				if got := body.Get(`messages.0.content.#(type=="image_url").image_url.url`).Str; got != "data:image/png;base64,"+tinyPNG {
					t.Errorf("openai upstream: image_url %q: %s", got, up.Body)
				}
			case "bedrock":
				img := body.Get(`messages.0.content.#(image).image`)
				if img.Get("format").Str != "png" || img.Get("source.bytes").Str != tinyPNG {
					t.Errorf("bedrock upstream: image %s", img.Raw)
				}
			}
			checkAnthropicEntry(t, g, x, tg, false, msg.Usage)
		})
	}
}

func TestAnthropicSDKCountTokens(t *testing.T) {
	g := protocolsGateway(t)
	client := anthropicSDK(t, g, protoKey)
	const prompt = "count these five words please"
	for _, tg := range anthropicTargets {
		t.Run(tg.model, func(t *testing.T) {
			marker, x := randHex(6), &exchange{}
			res, err := client.Messages.CountTokens(ctxTimeout(t, 20*time.Second), anthropic.MessageCountTokensParams{
				Model:    anthropic.Model(tg.model),
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))},
			}, x.record(), option.WithHeader("X-E2e-Marker", marker))
			if err != nil {
				t.Fatal(err)
			}
			e := g.entryByID(t, x.id())
			if e.Endpoint != "messages.count_tokens" || e.Status != "ok" || e.HTTPStatus != 200 || e.Model != tg.model || e.CostMicros != 0 {
				t.Errorf("ledger entry %+v: want messages.count_tokens, ok, 200, no cost", e)
			}
			if tg.kind == "anthropic" {
				// Passed through: the provider counts (the fake, one token a word).
				if res.InputTokens != 5 {
					t.Errorf("input_tokens = %d, want 5", res.InputTokens)
				}
				up := received(t, "anthropic", marker, 1)[0]
				checkProvenance(t, "anthropic", up)
				if want := upstreamBody(x.sent(), tg.model, tg.served); up.Path != "/v1/messages/count_tokens" || !bytes.Equal(up.Body, want) {
					t.Errorf("upstream %s %s, want /v1/messages/count_tokens %s", up.Path, up.Body, want)
				}
				return
			}
			// Another protocol: Sluice counts offline, and says it estimated.
			if res.InputTokens <= 0 || e.InputTokens != res.InputTokens || !e.Estimated {
				t.Errorf("input_tokens = %d; ledger input %d estimated %v", res.InputTokens, e.InputTokens, e.Estimated)
			}
			nowhereElse(t, "", marker)
		})
	}
}

func TestAnthropicSDKThinkingSignatureRoundTrip(t *testing.T) {
	g := protocolsGateway(t)
	client := anthropicSDK(t, g, protoKey)
	const prompt = "think about the number seven"
	const next = "and now about eight"
	for _, tg := range anthropicTargets {
		t.Run(tg.model, func(t *testing.T) {
			// Turn 1, streamed: thinking_delta and signature_delta accumulate into a
			// thinking block.
			marker, x1 := randHex(6), &exchange{}
			history := []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))}
			params := anthropic.MessageNewParams{
				Model: anthropic.Model(tg.model), MaxTokens: 2048, Thinking: anthropic.ThinkingConfigParamOfEnabled(1024), Messages: history,
			}
			msg1 := sendMessage(t, client, true, params, x1, marker)
			if got, want := textOf(msg1), openaifake.Reply(prompt, 0, 0); got != want || msg1.StopReason != anthropic.StopReasonEndTurn {
				t.Errorf("answer %q (stop_reason %q), want %q", got, msg1.StopReason, want)
			}
			var wantThinking, wantSig string
			switch tg.kind {
			case "anthropic":
				wantThinking = anthropicfake.ThinkingText(prompt)
				wantSig = anthropicfake.Signature(wantThinking)
			case "bedrock":
				wantThinking = bedrockfake.Reasoning(prompt)
				wantSig = bedrockfake.Signature(wantThinking)
			}
			th, ok := blockOf(msg1, "thinking")
			switch {
			case wantThinking == "" && ok:
				t.Errorf("a thinking block from an upstream that does not think: %+v", th)
			case wantThinking != "" && (!ok || th.Thinking != wantThinking || th.Signature != wantSig):
				t.Errorf("thinking block %+v, want %q signed %q", th, wantThinking, wantSig)
			case wantThinking != "" && msg1.Content[0].Type != "thinking":
				t.Errorf("the thinking block is not first: %+v", msg1.Content)
			}
			up1 := received(t, tg.kind, marker, 1)[0]
			checkAnthropicUpstream(t, tg, up1, x1, true)
			switch body := gjson.ParseBytes(up1.Body); tg.kind {
			case "openai":
				if got := body.Get("reasoning_effort").Str; got != "low" {
					t.Errorf("openai upstream: reasoning_effort %q, want low for a 1024-token budget", got)
				}
			case "bedrock":
				if th := body.Get("additionalModelRequestFields.thinking"); th.Get("type").Str != "enabled" || th.Get("budget_tokens").Int() != 1024 {
					t.Errorf("bedrock upstream: additionalModelRequestFields.thinking = %s", th.Raw)
				}
			}
			checkAnthropicEntry(t, g, x1, tg, true, msg1.Usage)

			// Turn 2: the assistant's turn goes back as the SDK returns it, thinking
			// block and signature included. An upstream that cannot take a signature
			// (OpenAI) gets a conversation that started on a Claude model: a thinking
			// block it must drop.
			assistant := msg1.ToParam()
			if tg.kind == "openai" {
				foreign := anthropicfake.ThinkingText("an earlier model")
				assistant.OfAssistant.Content = append([]anthropic.ContentBlockParamUnion{
					anthropic.NewThinkingBlock(anthropicfake.Signature(foreign), foreign)}, assistant.OfAssistant.Content...)
				wantSig = anthropicfake.Signature(foreign)
			}
			x2 := &exchange{}
			params.Messages = append(history, assistant, anthropic.NewUserMessage(anthropic.NewTextBlock(next)))
			msg2 := sendMessage(t, client, false, params, x2, marker)
			if got, want := textOf(msg2), openaifake.Reply(next, 0, 0); got != want || msg2.StopReason != anthropic.StopReasonEndTurn {
				t.Errorf("turn 2: answer %q (stop_reason %q), want %q", got, msg2.StopReason, want)
			}
			up2 := received(t, tg.kind, marker, 2)[1]
			checkAnthropicUpstream(t, tg, up2, x2, false) // anthropic: byte for byte, so the fake verified the signature
			switch body := gjson.ParseBytes(up2.Body); tg.kind {
			case "openai":
				if strings.Contains(string(up2.Body), wantSig) {
					t.Errorf("openai upstream: an Anthropic thinking signature was sent to OpenAI: %s", up2.Body)
				}
			case "bedrock":
				rt := body.Get(`messages.1.content.#(reasoningContent).reasoningContent.reasoningText`)
				if rt.Get("text").Str != wantThinking || rt.Get("signature").Str != wantSig {
					t.Errorf("bedrock upstream: reasoningText %s, want %q signed %q", rt.Raw, wantThinking, wantSig)
				}
			}
			checkAnthropicEntry(t, g, x2, tg, false, msg2.Usage)
		})
	}
}

// TestAnthropicSDKStreamedCacheUsage checks that a streamed answer's usage with
// cache reads (and writes) reaches the client in Anthropic's convention
// (input_tokens without the cache tokens) and the ledger in Sluice's (input with
// them, cached apart), and is billed at the cached price, whichever upstream
// reported it: in message_delta (Anthropic), in the last chunk (OpenAI) or in the
// metadata event after messageStop (Bedrock).
func TestAnthropicSDKStreamedCacheUsage(t *testing.T) {
	g := protocolsGateway(t)
	client := anthropicSDK(t, g, protoKey)
	cases := []struct {
		tg                        target
		headers                   map[string]string
		in, cacheRead, cacheWrite int64 // what the client should see
	}{
		{tAnthropic, map[string]string{anthropicfake.HeaderInputTokens: "400", anthropicfake.HeaderCacheReadTokens: "600",
			anthropicfake.HeaderCacheCreationTokens: "100", anthropicfake.HeaderOutputTokens: "50"}, 400, 600, 100},
		{tOpenAI, map[string]string{openaifake.HeaderPromptTokens: "1000", openaifake.HeaderCachedTokens: "600",
			openaifake.HeaderCompletionTokens: "50"}, 400, 600, 0},
		{tBedrock, map[string]string{bedrockfake.HeaderInputTokens: "400", bedrockfake.HeaderCacheReadTokens: "600",
			bedrockfake.HeaderOutputTokens: "50"}, 400, 600, 0},
	}
	for _, tc := range cases {
		t.Run(tc.tg.model, func(t *testing.T) {
			marker, x := randHex(6), &exchange{}
			params := anthropic.MessageNewParams{Model: anthropic.Model(tc.tg.model), MaxTokens: 256,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("a long cached prompt"))}}
			var opts []option.RequestOption
			for k, v := range tc.headers {
				opts = append(opts, option.WithHeader(k, v))
			}
			s := client.Messages.NewStreaming(ctxTimeout(t, 30*time.Second), params,
				append(opts, x.record(), option.WithHeader("X-E2e-Marker", marker))...)
			var msg anthropic.Message
			for s.Next() {
				if err := msg.Accumulate(s.Current()); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			u := msg.Usage
			if u.InputTokens != tc.in || u.CacheReadInputTokens != tc.cacheRead || u.CacheCreationInputTokens != tc.cacheWrite || u.OutputTokens != 50 {
				t.Errorf("usage input %d, cache read %d, cache write %d, output %d; want %d, %d, %d, 50",
					u.InputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens, u.OutputTokens, tc.in, tc.cacheRead, tc.cacheWrite)
			}
			e := g.entryByID(t, x.id())
			checkEntry(t, e, wantEntry{endpoint: "messages", key: "proto", model: tc.tg.model, served: tc.tg.served, provider: tc.tg.provider,
				status: "ok", httpStatus: 200, stream: true, input: tc.in + tc.cacheRead + tc.cacheWrite, output: 50, cached: tc.cacheRead})
		})
	}
}

// TestAnthropicSDKErrors checks that failures reach the SDK as its typed errors in
// Anthropic's shape, whether the gateway, an Anthropic upstream (passed through) or
// another upstream (translated) fails, and that each leaves its ledger entry.
func TestAnthropicSDKErrors(t *testing.T) {
	g := protocolsGateway(t)
	hello := []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))}
	cases := []struct {
		name, key, model string
		headers          map[string]string
		status           int
		typ              string
		upstream         string // the fake that must have seen the request; "" = none
		ledger           string // the entry's status; "" = no entry (unauthenticated)
	}{
		{name: "wrong key", key: "gw-test-wrong-key-000000", model: "m-anthropic", status: 401, typ: "authentication_error"},
		{name: "unknown model", key: protoKey, model: "no-such-model", status: 404, typ: "not_found_error", ledger: "client_error"},
		{name: "anthropic 529 passed through", key: protoKey, model: "m-anthropic", status: 529, typ: "overloaded_error",
			headers: map[string]string{anthropicfake.HeaderStatus: "529"}, upstream: "anthropic", ledger: "upstream_error"},
		{name: "openai 429 translated", key: protoKey, model: "m-openai", status: 429, typ: "rate_limit_error",
			headers: map[string]string{openaifake.HeaderStatus: "429", openaifake.HeaderRetryAfter: "3"}, upstream: "openai", ledger: "upstream_error"},
		{name: "bedrock 400 translated", key: protoKey, model: "m-bedrock", status: 400, typ: "invalid_request_error",
			headers: map[string]string{bedrockfake.HeaderStatus: "400"}, upstream: "bedrock", ledger: "client_error|upstream_error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			marker, x := randHex(6), &exchange{}
			opts := []option.RequestOption{x.record(), option.WithHeader("X-E2e-Marker", marker)}
			for k, v := range tc.headers {
				opts = append(opts, option.WithHeader(k, v))
			}
			c := anthropicSDK(t, g, tc.key)
			_, err := c.Messages.New(ctxTimeout(t, 20*time.Second), anthropic.MessageNewParams{
				Model: anthropic.Model(tc.model), MaxTokens: 64, Messages: hello}, opts...)
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v (%T), want *anthropic.Error", err, err)
			}
			if apiErr.StatusCode != tc.status || string(apiErr.Type()) != tc.typ || apiErr.Message == "" {
				t.Errorf("status %d type %q message %q, want %d %q: %s", apiErr.StatusCode, apiErr.Type(), apiErr.Message, tc.status, tc.typ, apiErr.RawJSON())
			}
			if got := gjson.Get(apiErr.RawJSON(), "type").Str; got != "error" {
				t.Errorf(`body "type" = %q, want "error" (Anthropic's envelope): %s`, got, apiErr.RawJSON())
			}
			if tc.upstream != "" {
				received(t, tc.upstream, marker, 1)
			} else {
				nowhereElse(t, "", marker)
			}
			if tc.ledger == "" {
				return
			}
			e := g.entryByID(t, x.id())
			if !slices.Contains(strings.Split(tc.ledger, "|"), e.Status) || e.HTTPStatus != tc.status || e.Endpoint != "messages" {
				t.Errorf("ledger entry %+v: want status %s, http %d", e, tc.ledger, tc.status)
			}
		})
	}
}

// TestAnthropicSDKBrokenStreams checks that a stream that breaks after its first
// bytes reaches the SDK as an error, never as a complete message, and is recorded as
// the upstream's failure: streams cut short before their end (the gateway adds the
// error event), and upstream error events (passed through, or translated from a
// Bedrock exception). An upstream error event is its stream's last word: the SDK
// stops reading there, and the entry must not depend on whether the gateway or the
// client notices the end first (the upstream here keeps its connection open 300 ms
// after the event, so the client is first).
func TestAnthropicSDKBrokenStreams(t *testing.T) {
	g := protocolsGateway(t)
	client := anthropicSDK(t, g, protoKey)
	cases := []struct {
		name    string
		tg      target
		headers map[string]string
		errType string // the error the SDK must see
		ledger  string
	}{
		{"anthropic cut", tAnthropic, map[string]string{anthropicfake.HeaderCutAfter: "4"}, "api_error", "truncated"},
		{"openai cut", tOpenAI, map[string]string{openaifake.HeaderCutAfter: "3"}, "api_error", "truncated"},
		{"bedrock cut", tBedrock, map[string]string{bedrockfake.HeaderCutAfter: "3"}, "api_error", "truncated"},
		{"anthropic error event", tAnthropic, map[string]string{anthropicfake.HeaderErrorAfter: "4", HeaderLingerMs: "300"},
			"overloaded_error", "upstream_error|truncated"},
		{"bedrock exception", tBedrock, map[string]string{bedrockfake.HeaderExceptionAfter: "3", HeaderLingerMs: "300"},
			"rate_limit_error", "upstream_error|truncated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			marker, x := randHex(6), &exchange{}
			opts := []option.RequestOption{x.record(), option.WithHeader("X-E2e-Marker", marker)}
			for k, v := range tc.headers {
				opts = append(opts, option.WithHeader(k, v))
			}
			s := client.Messages.NewStreaming(ctxTimeout(t, 20*time.Second), anthropic.MessageNewParams{
				Model: anthropic.Model(tc.tg.model), MaxTokens: 256,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("a stream that will break somewhere"))},
			}, opts...)
			var events []string
			for s.Next() {
				events = append(events, s.Current().Type)
			}
			err := s.Err()
			s.Close()
			if slices.Contains(events, "message_stop") {
				t.Errorf("the client got message_stop from a broken stream: %v", events)
			}
			if err == nil || !strings.Contains(err.Error(), tc.errType) {
				t.Errorf("SDK error %v (events %v), want a %s", err, events, tc.errType)
			}
			e := g.entryByID(t, x.id())
			if !slices.Contains(strings.Split(tc.ledger, "|"), e.Status) || !e.Stream {
				t.Errorf("ledger status %q (error %q), want %s", e.Status, e.Error, tc.ledger)
			}
		})
	}
}

// TestAnthropicStreamErrorEventEndsTheStream reads, with a plain HTTP client, what a
// stream that fails upstream with an error event sends the client: the events up to
// the failure, then that one error event, with the upstream's error type, and
// nothing after it.
func TestAnthropicStreamErrorEventEndsTheStream(t *testing.T) {
	g := protocolsGateway(t)
	cases := []struct {
		tg      target
		header  string
		errType string
	}{
		{tAnthropic, anthropicfake.HeaderErrorAfter, "overloaded_error"},
		{tBedrock, bedrockfake.HeaderExceptionAfter, "rate_limit_error"},
	}
	for _, tc := range cases {
		t.Run(tc.tg.model, func(t *testing.T) {
			body := []byte(`{"model":"` + tc.tg.model + `","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hello there"}]}`)
			resp, out := raw(t, g, http.MethodPost, "/v1/messages", body,
				map[string]string{"X-Api-Key": protoKey, "Anthropic-Version": "2023-06-01", tc.header: "4"})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, out)
			}
			var names, errors []string
			for _, block := range strings.Split(strings.TrimSpace(string(out)), "\n\n") {
				name, _, _ := strings.Cut(strings.TrimPrefix(block, "event: "), "\n")
				names = append(names, name)
				if name == "error" {
					errors = append(errors, block)
				}
			}
			if len(errors) != 1 || names[len(names)-1] != "error" || !strings.Contains(errors[0], tc.errType) {
				t.Errorf("events %v; error events:\n%s\nwant exactly one, the last, with the upstream's %s", names, strings.Join(errors, "\n"), tc.errType)
			}
			e := g.entryByID(t, resp.Header.Get("X-Request-Id"))
			if e.Status != "upstream_error" && e.Status != "truncated" {
				t.Errorf("ledger status %q (error %q)", e.Status, e.Error)
			}
		})
	}
}
