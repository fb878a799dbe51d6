package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	openaifake "github.com/sluicehq/sluice/internal/fakeprovider/openai"
)

const imageDataURL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

// checkUpstream asserts what the upstream received for one client request: the
// provider key and never a client credential, and the client's body with only the
// model renamed.
func checkUpstream(t *testing.T, r openaifake.Request, clientBody []byte, from, to string) {
	t.Helper()
	if got := r.Header.Get("Authorization"); got != "Bearer "+provKey {
		t.Errorf("upstream Authorization = %q, want the provider key", got)
	}
	for name, values := range r.Header {
		for _, v := range values {
			for _, k := range []string{devKey, allKey, probeKey, adminToken} {
				if strings.Contains(v, k) {
					t.Errorf("client credential reached the upstream in header %s", name)
				}
			}
		}
	}
	if want := upstreamBody(clientBody, from, to); !bytes.Equal(r.Body, want) {
		t.Errorf("upstream body differs from the client's (model renamed):\n got: %s\nwant: %s", r.Body, want)
	}
}

func TestChatCompletion(t *testing.T) {
	g := sharedGateway(t)
	cases := []struct {
		name     string
		messages []openai.ChatCompletionMessageParamUnion
		texts    []string // every message's text, for the prompt token count
		lastUser string
	}{
		{
			name:     "user message",
			messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello from the e2e suite")},
			texts:    []string{"hello from the e2e suite"},
			lastUser: "hello from the e2e suite",
		},
		{
			name: "system and history",
			messages: []openai.ChatCompletionMessageParamUnion{
				openai.SystemMessage("you are terse"),
				openai.UserMessage("first question"),
				openai.AssistantMessage("first answer"),
				openai.UserMessage("second question please"),
			},
			texts:    []string{"you are terse", "first question", "first answer", "second question please"},
			lastUser: "second question please",
		},
		{
			name: "multi-part with image_url",
			messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart("describe this"),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: imageDataURL, Detail: "low"}),
				openai.TextContentPart("picture"),
			})},
			texts:    []string{"describe this picture"},
			lastUser: "describe this picture",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			marker, match := withMarker()
			var sent []byte
			var httpResp *http.Response
			client := sdk(t, g, devKey)
			resp, err := client.Chat.Completions.New(ctxTimeout(t, 20*time.Second), openai.ChatCompletionNewParams{
				Model:    "chat-small",
				Messages: tc.messages,
			}, option.WithHeader("X-E2e-Marker", marker), captureBody(&sent), option.WithResponseInto(&httpResp))
			if err != nil {
				t.Fatal(err)
			}
			want := openaifake.Reply(tc.lastUser, 0, 0)
			if len(resp.Choices) != 1 || resp.Choices[0].Message.Content != want || resp.Choices[0].FinishReason != "stop" {
				t.Errorf("choices = %+v, want content %q", resp.Choices, want)
			}
			prompt := 0
			for _, s := range tc.texts {
				prompt += openaifake.CountTokens(s)
			}
			completion := openaifake.CountTokens(want)
			if resp.Usage.PromptTokens != int64(prompt) || resp.Usage.CompletionTokens != int64(completion) {
				t.Errorf("usage = %d/%d, want %d/%d", resp.Usage.PromptTokens, resp.Usage.CompletionTokens, prompt, completion)
			}
			if resp.Model != "fake-model-1" && resp.Model != "chat-small" {
				t.Errorf("model = %q", resp.Model)
			}
			checkUpstream(t, fakeRequest(t, "the chat request", match), sent, "chat-small", "fake-model-1")
			e := g.entryByID(t, httpResp.Header.Get("X-Request-Id"))
			checkEntry(t, e, wantEntry{endpoint: "chat.completions", key: "dev", model: "chat-small", served: "fake-model-1",
				status: "ok", httpStatus: 200, input: int64(prompt), output: int64(completion), cached: 0})
			if len(e.Attempts) != 1 || e.Attempts[0].Provider != "up" || e.Attempts[0].Model != "fake-model-1" || e.Attempts[0].HTTPStatus != 200 {
				t.Errorf("attempts = %+v", e.Attempts)
			}
		})
	}
}

func TestChatCachedTokensCost(t *testing.T) {
	g := sharedGateway(t)
	var httpResp *http.Response
	resp, err := sdk(t, g, devKey).Chat.Completions.New(ctxTimeout(t, 20*time.Second), openai.ChatCompletionNewParams{
		Model:    "chat-small",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("cached prompt")},
	}, option.WithHeader(openaifake.HeaderPromptTokens, "1000"), option.WithHeader(openaifake.HeaderCachedTokens, "600"),
		option.WithHeader(openaifake.HeaderCompletionTokens, "50"), option.WithResponseInto(&httpResp))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Usage.PromptTokensDetails.CachedTokens != 600 {
		t.Errorf("cached tokens = %d", resp.Usage.PromptTokensDetails.CachedTokens)
	}
	e := g.entryByID(t, httpResp.Header.Get("X-Request-Id"))
	// 400*0.15 + 600*0.075 + 50*0.60 = 60 + 45 + 30 = 135 micro-dollars.
	checkEntry(t, e, wantEntry{endpoint: "chat.completions", key: "dev", model: "chat-small", served: "fake-model-1",
		status: "ok", httpStatus: 200, input: 1000, output: 50, cached: 600})
	if e.CostMicros < 134 || e.CostMicros > 136 {
		t.Errorf("cost_micros = %d, want 135", e.CostMicros)
	}
}

func TestChatStream(t *testing.T) {
	g := sharedGateway(t)
	cases := []struct {
		name         string
		includeUsage bool
		chunks       int
	}{
		{name: "include_usage", includeUsage: true, chunks: 6},
		{name: "without usage", includeUsage: false, chunks: 6},
		{name: "one chunk per word", includeUsage: true},
	}
	const question = "stream me an answer"
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			marker, match := withMarker()
			var sent []byte
			var httpResp *http.Response
			params := openai.ChatCompletionNewParams{
				Model:    "chat-small",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(question)},
			}
			if tc.includeUsage {
				params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			}
			opts := []option.RequestOption{option.WithHeader("X-E2e-Marker", marker), captureBody(&sent), option.WithResponseInto(&httpResp)}
			if tc.chunks > 0 {
				opts = append(opts, option.WithHeader(openaifake.HeaderChunks, itoa(tc.chunks)))
			}
			stream := sdk(t, g, devKey).Chat.Completions.NewStreaming(ctxTimeout(t, 20*time.Second), params, opts...)
			var acc openai.ChatCompletionAccumulator
			n := 0
			for stream.Next() {
				if !acc.AddChunk(stream.Current()) {
					t.Fatalf("accumulator rejected chunk %d: %s", n, stream.Current().RawJSON())
				}
				n++
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if ct := httpResp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Errorf("content-type %q", ct)
			}
			want := openaifake.Reply(question, 0, tc.chunks)
			if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != want || acc.Choices[0].FinishReason != "stop" {
				t.Errorf("accumulated %+v, want %q", acc.Choices, want)
			}
			wantChunks := len(openaifake.Split(want, tc.chunks)) + 2 // role chunk + pieces + finish chunk
			if tc.includeUsage {
				wantChunks++
			}
			if n != wantChunks {
				t.Errorf("received %d chunks, want %d", n, wantChunks)
			}
			prompt, completion := int64(openaifake.CountTokens(question)), int64(openaifake.CountTokens(want))
			if tc.includeUsage && (acc.Usage.PromptTokens != prompt || acc.Usage.CompletionTokens != completion) {
				t.Errorf("usage = %+v", acc.Usage)
			}
			up := fakeRequest(t, "the stream request", match)
			if tc.includeUsage {
				checkUpstream(t, up, sent, "chat-small", "fake-model-1")
			} else {
				// Sluice asks the upstream for usage (inject_stream_usage) and
				// hides it from the client, which did not ask: the body gains
				// only stream_options, the client sees no usage.
				want := append([]byte(`{"stream_options":{"include_usage":true},`), upstreamBody(sent, "chat-small", "fake-model-1")[1:]...)
				if !bytes.Equal(up.Body, want) {
					t.Errorf("upstream body:\n got: %s\nwant: %s", up.Body, want)
				}
				if acc.Usage.TotalTokens != 0 {
					t.Errorf("the client saw usage it did not ask for: %+v", acc.Usage)
				}
			}
			e := g.entryByID(t, httpResp.Header.Get("X-Request-Id"))
			// Either way the ledger has the provider's own counts.
			checkEntry(t, e, wantEntry{endpoint: "chat.completions", key: "dev", model: "chat-small", served: "fake-model-1",
				status: "ok", httpStatus: 200, stream: true, input: prompt, output: completion, cached: 0})
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

var weatherParams = shared.FunctionParameters{
	"type": "object",
	"properties": map[string]any{
		"city": map[string]any{"type": "string"},
		"unit": map[string]any{"type": "string", "enum": []string{"celsius", "fahrenheit"}},
	},
	"required": []string{"city"},
}

func TestToolCalls(t *testing.T) {
	g := sharedGateway(t)
	const question = "weather in Lyon"
	paramsJSON, _ := json.Marshal(weatherParams)
	wantArgs := openaifake.ToolArguments(paramsJSON, question)
	params := openai.ChatCompletionNewParams{
		Model:    "chat-small",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(question)},
		Tools: []openai.ChatCompletionToolUnionParam{
			openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather", Description: openai.String("Weather of a city"), Parameters: weatherParams}),
			openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "unused"}),
		},
	}

	t.Run("non-stream", func(t *testing.T) {
		var sent []byte
		marker, match := withMarker()
		resp, err := sdk(t, g, devKey).Chat.Completions.New(ctxTimeout(t, 20*time.Second), params, captureBody(&sent), option.WithHeader("X-E2e-Marker", marker))
		if err != nil {
			t.Fatal(err)
		}
		c := resp.Choices[0]
		if c.FinishReason != "tool_calls" || len(c.Message.ToolCalls) != 1 {
			t.Fatalf("choice = %s", c.RawJSON())
		}
		call := c.Message.ToolCalls[0]
		if call.Type != "function" || call.Function.Name != "get_weather" || call.Function.Arguments != wantArgs || call.ID == "" {
			t.Errorf("tool call = %s", call.RawJSON())
		}
		checkUpstream(t, fakeRequest(t, "the tools request", match), sent, "chat-small", "fake-model-1")
	})

	t.Run("stream deltas", func(t *testing.T) {
		stream := sdk(t, g, devKey).Chat.Completions.NewStreaming(ctxTimeout(t, 20*time.Second), params,
			option.WithHeader(openaifake.HeaderChunks, "5"))
		var acc openai.ChatCompletionAccumulator
		var finished []openai.FinishedChatCompletionToolCall
		for stream.Next() {
			if !acc.AddChunk(stream.Current()) {
				t.Fatalf("accumulator rejected %s", stream.Current().RawJSON())
			}
			if tc, ok := acc.JustFinishedToolCall(); ok {
				finished = append(finished, tc)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if len(acc.Choices) != 1 || acc.Choices[0].FinishReason != "tool_calls" || len(acc.Choices[0].Message.ToolCalls) != 1 {
			t.Fatalf("accumulated %+v", acc.Choices)
		}
		call := acc.Choices[0].Message.ToolCalls[0]
		if call.Function.Name != "get_weather" || call.Function.Arguments != wantArgs || call.ID == "" {
			t.Errorf("accumulated tool call %+v, want arguments %s", call, wantArgs)
		}
		if len(finished) != 1 || finished[0].Name != "get_weather" || finished[0].Arguments != wantArgs {
			t.Errorf("JustFinishedToolCall events = %+v", finished)
		}
	})
}

func TestRequestFieldsReachUpstreamUntouched(t *testing.T) {
	g := sharedGateway(t)
	const question = "give me json"
	var sent []byte
	marker, match := withMarker()
	resp, err := sdk(t, g, devKey).Chat.Completions.New(ctxTimeout(t, 20*time.Second), openai.ChatCompletionNewParams{
		Model: "chat-small",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart(question),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: imageDataURL}),
			}),
		},
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
				Name:   "answer",
				Strict: openai.Bool(true),
				Schema: map[string]any{"type": "object", "properties": map[string]any{"reply": map[string]any{"type": "string"}}, "required": []string{"reply"}, "additionalProperties": false},
			},
		}},
		N:           openai.Int(2),
		Stop:        openai.ChatCompletionNewParamsStopUnion{OfStringArray: []string{"zz-never-1", "zz-never-2"}},
		Seed:        openai.Int(42),
		Temperature: openai.Float(0.25),
		Metadata:    shared.Metadata{"team": "e2e"},
	}, captureBody(&sent), option.WithHeader("X-E2e-Marker", marker),
		option.WithJSONSet("x_sluice_e2e_unknown", map[string]any{"nested": []any{1, "two", 3.5}, "flag": true}))
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"n":2`, `"seed":42`, `"x_sluice_e2e_unknown"`, `"json_schema"`, `"image_url"`} {
		if !bytes.Contains(sent, []byte(field)) {
			t.Fatalf("test bug: the SDK did not send %s: %s", field, sent)
		}
	}
	checkUpstream(t, fakeRequest(t, "the request", match), sent, "chat-small", "fake-model-1")
	if len(resp.Choices) != 2 {
		t.Fatalf("%d choices, want 2", len(resp.Choices))
	}
	for i, c := range resp.Choices {
		if want := openaifake.Reply(question, i, 0); c.Message.Content != want || c.Index != int64(i) {
			t.Errorf("choice %d = %q, want %q", i, c.Message.Content, want)
		}
	}
}

func TestEmbeddings(t *testing.T) {
	g := sharedGateway(t)
	cases := []struct {
		name   string
		format openai.EmbeddingNewParamsEncodingFormat
	}{
		{"float", openai.EmbeddingNewParamsEncodingFormatFloat},
		{"base64", openai.EmbeddingNewParamsEncodingFormatBase64},
		{"default", ""},
	}
	const input = "embed these five words"
	want := make([]float64, 0, openaifake.DefaultDimensions)
	for _, f := range openaifake.Embedding(input, openaifake.DefaultDimensions) {
		want = append(want, float64(f))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var sent []byte
			var httpResp *http.Response
			marker, match := withMarker()
			resp, err := sdk(t, g, devKey).Embeddings.New(ctxTimeout(t, 20*time.Second), openai.EmbeddingNewParams{
				Model:          "embed-small",
				Input:          openai.EmbeddingNewParamsInputUnion{OfString: openai.String(input)},
				EncodingFormat: tc.format,
			}, captureBody(&sent), option.WithResponseInto(&httpResp), option.WithHeader("X-E2e-Marker", marker))
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Data) != 1 || !slices.Equal(resp.Data[0].Embedding, want) {
				t.Errorf("embedding = %+v, want %v", resp.Data, want)
			}
			if isString := strings.HasPrefix(resp.Data[0].JSON.Embedding.Raw(), `"`); isString != (tc.format == "base64") {
				t.Errorf("raw embedding %s", resp.Data[0].JSON.Embedding.Raw())
			}
			tokens := int64(openaifake.CountTokens(input))
			if resp.Usage.PromptTokens != tokens || resp.Usage.TotalTokens != tokens {
				t.Errorf("usage = %+v", resp.Usage)
			}
			checkUpstream(t, fakeRequest(t, "the embeddings request", match), sent, "embed-small", "fake-embed-1")
			e := g.entryByID(t, httpResp.Header.Get("X-Request-Id"))
			checkEntry(t, e, wantEntry{endpoint: "embeddings", key: "dev", model: "embed-small", served: "fake-embed-1",
				status: "ok", httpStatus: 200, input: tokens, output: 0, cached: 0})
		})
	}
}

func TestModelsList(t *testing.T) {
	g := sharedGateway(t)
	cases := []struct {
		key  string
		want []string
	}{
		{devKey, []string{"chat-small", "embed-small"}},
		{probeKey, []string{"chat-small"}},
		{allKey, []string{"chat-other", "chat-small", "embed-small"}},
	}
	for _, tc := range cases {
		t.Run(tc.want[0]+"..."+itoa(len(tc.want)), func(t *testing.T) {
			page, err := sdk(t, g, tc.key).Models.List(ctxTimeout(t, 10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range page.Data {
				got = append(got, m.ID)
				if m.Object != "model" {
					t.Errorf("model %s object %q", m.ID, m.Object)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("models = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestConcurrentStreamsBilledOnce runs many streams at once and checks that every one
// is recorded as ok, with the upstream's usage, exactly once. The SDK closes its
// connection as soon as it reads [DONE], which races with the gateway's end of stream.
func TestConcurrentStreamsBilledOnce(t *testing.T) {
	g := sharedGateway(t)
	const streams = 40
	const question = "many at once"
	client := sdk(t, g, devKey)
	ids := make([]string, streams)
	errs := make([]error, streams)
	var wg sync.WaitGroup
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var httpResp *http.Response
			stream := client.Chat.Completions.NewStreaming(ctxTimeout(t, 20*time.Second), openai.ChatCompletionNewParams{
				Model:         "chat-small",
				Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage(question)},
				StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
			}, option.WithHeader(openaifake.HeaderChunks, "8"), option.WithHeader(openaifake.HeaderChunkDelayMs, "10"), option.WithResponseInto(&httpResp))
			for stream.Next() {
			}
			errs[i] = stream.Err()
			if httpResp != nil {
				ids[i] = httpResp.Header.Get("X-Request-Id")
			}
		}()
	}
	wg.Wait()
	want := openaifake.Reply(question, 0, 8)
	prompt, completion := int64(openaifake.CountTokens(question)), int64(openaifake.CountTokens(want))
	bad := 0
	for i, id := range ids {
		if errs[i] != nil {
			t.Errorf("stream %d: %v", i, errs[i])
			continue
		}
		e := g.entryByID(t, id)
		if e.Status != "ok" || e.InputTokens != prompt || e.OutputTokens != completion || e.Estimated {
			bad++
			if bad <= 3 {
				raw, _ := json.Marshal(e)
				t.Errorf("entry of a complete stream: %s", raw)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d complete streams not recorded as ok", bad, streams)
	}
}
