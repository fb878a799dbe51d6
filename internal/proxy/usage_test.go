package proxy

// How streams are billed: the provider's own usage when it came (asked for
// upstream when the client did not ask), and otherwise an estimate over
// everything that was relayed.

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/sluicehq/sluice/internal/config"
	bedrockfake "github.com/sluicehq/sluice/internal/fakeprovider/bedrock"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/meter"
)

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// relayed is an upstream stream and the generated text in it, in order:
// what an estimate must count.
type relayed struct {
	body   string
	pieces []string
}

// pieces of generated text, several tokens each.
var words = []string{"The quick brown ", "fox jumps over ", "the lazy dog, ", "again and again."}

const toolArgs = `{"city":"Paris","unit":"celsius"}`

func chatPieces(kind string, terminal bool) relayed {
	head := `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"up-a","choices":[{"index":0,"delta":`
	var r relayed
	var data []string
	switch kind {
	case "tool":
		r.pieces = append(r.pieces, "get_weather")
		data = append(data, head+`{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}`)
		for _, a := range []string{toolArgs[:9], toolArgs[9:20], toolArgs[20:]} {
			r.pieces = append(r.pieces, a)
			data = append(data, head+`{"tool_calls":[{"index":0,"function":{"arguments":`+jsonString(a)+`}}]},"finish_reason":null}]}`)
		}
	default:
		field := map[string]string{"text": "content", "refusal": "refusal", "reasoning": "reasoning_content"}[kind]
		for _, w := range words {
			r.pieces = append(r.pieces, w)
			data = append(data, head+`{"`+field+`":`+jsonString(w)+`},"finish_reason":null}]}`)
		}
	}
	if terminal {
		data = append(data, head+`{},"finish_reason":"stop"}]}`, "[DONE]")
	}
	r.body = sseData(data...)
	return r
}

func anthropicPieces(kind string) relayed {
	r := relayed{}
	pairs := []string{"message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"up-a","content":[],"stop_reason":null,"usage":{"input_tokens":9,"output_tokens":1}}}`}
	switch kind {
	case "text", "thinking":
		block, delta, field := `{"type":"text","text":""}`, "text_delta", "text"
		if kind == "thinking" {
			block, delta, field = `{"type":"thinking","thinking":""}`, "thinking_delta", "thinking"
		}
		pairs = append(pairs, "content_block_start", `{"type":"content_block_start","index":0,"content_block":`+block+`}`)
		for _, w := range words {
			r.pieces = append(r.pieces, w)
			pairs = append(pairs, "content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"`+delta+`","`+field+`":`+jsonString(w)+`}}`)
		}
	case "tool":
		r.pieces = append(r.pieces, "get_weather")
		pairs = append(pairs, "content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}`)
		for _, a := range []string{toolArgs[:9], toolArgs[9:20], toolArgs[20:]} {
			r.pieces = append(r.pieces, a)
			pairs = append(pairs, "content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":`+jsonString(a)+`}}`)
		}
	}
	r.body = streamOf(pairs...) // cut: no content_block_stop, message_delta or message_stop
	return r
}

func geminiPieces(kind string) relayed {
	r := relayed{}
	var data []string
	const usage = `"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9}`
	switch kind {
	case "text", "thought":
		thought := ""
		if kind == "thought" {
			thought = `,"thought":true`
		}
		for _, w := range words {
			r.pieces = append(r.pieces, w)
			data = append(data, `{"candidates":[{"content":{"role":"model","parts":[{"text":`+jsonString(w)+thought+`}]},"index":0}],`+usage+`}`)
		}
	case "tool":
		r.pieces = append(r.pieces, "get_weather", toolArgs)
		data = append(data, `{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":`+toolArgs+`}}]},"index":0}],`+usage+`}`)
	}
	r.body = sseData(data...) // cut: no chunk with a finishReason
	return r
}

func responsesPieces(kind string) relayed {
	r := relayed{}
	pairs := []string{"response.created", `{"type":"response.created","response":{"id":"r1","model":"up-a","status":"in_progress"}}`}
	switch kind {
	case "text", "refusal":
		pairs = append(pairs, "response.output_item.added", `{"type":"response.output_item.added","output_index":0,"item":{"type":"message","id":"m1","role":"assistant","content":[]}}`)
		ev := "response.output_text.delta"
		if kind == "refusal" {
			ev = "response.refusal.delta"
		}
		for _, w := range words {
			r.pieces = append(r.pieces, w)
			pairs = append(pairs, ev, `{"type":"`+ev+`","output_index":0,"content_index":0,"delta":`+jsonString(w)+`}`)
		}
	case "reasoning":
		pairs = append(pairs, "response.output_item.added", `{"type":"response.output_item.added","output_index":0,"item":{"type":"reasoning","id":"rs1","summary":[]}}`)
		for _, w := range words {
			r.pieces = append(r.pieces, w)
			pairs = append(pairs, "response.reasoning_summary_text.delta", `{"type":"response.reasoning_summary_text.delta","output_index":0,"summary_index":0,"delta":`+jsonString(w)+`}`)
		}
	case "tool":
		r.pieces = append(r.pieces, "get_weather")
		pairs = append(pairs, "response.output_item.added", `{"type":"response.output_item.added","output_index":0,"item":{"type":"function_call","id":"fc1","call_id":"call_1","name":"get_weather","arguments":""}}`)
		for _, a := range []string{toolArgs[:9], toolArgs[9:20], toolArgs[20:]} {
			r.pieces = append(r.pieces, a)
			pairs = append(pairs, "response.function_call_arguments.delta", `{"type":"response.function_call_arguments.delta","output_index":0,"delta":`+jsonString(a)+`}`)
		}
	}
	r.body = streamOf(pairs...) // cut: no response.completed
	return r
}

// A stream without the provider's final usage is billed for everything
// that was relayed, whatever its kind (text, refusal, reasoning or
// thinking, tool names and arguments): the output is the tokenizer's count
// of it, flagged estimated. A cut stream is recorded truncated.
func TestStreamEstimateCountsWhatWasRelayed(t *testing.T) {
	tests := []struct {
		proto, typ, kind string
		up               relayed
		wantStatus       ledger.Status
	}{
		{"openai", config.TypeOpenAI, "text", chatPieces("text", false), ledger.StatusTruncated},
		{"openai", config.TypeOpenAI, "refusal", chatPieces("refusal", false), ledger.StatusTruncated},
		{"openai", config.TypeOpenAI, "reasoning", chatPieces("reasoning", false), ledger.StatusTruncated},
		{"openai", config.TypeOpenAI, "tool", chatPieces("tool", false), ledger.StatusTruncated},
		{"openai", config.TypeOpenAI, "text, complete without usage", chatPieces("text", true), ledger.StatusOK},
		{"openai", config.TypeOpenAI, "tool, complete without usage", chatPieces("tool", true), ledger.StatusOK},
		{"anthropic", config.TypeAnthropic, "text", anthropicPieces("text"), ledger.StatusTruncated},
		{"anthropic", config.TypeAnthropic, "thinking", anthropicPieces("thinking"), ledger.StatusTruncated},
		{"anthropic", config.TypeAnthropic, "tool", anthropicPieces("tool"), ledger.StatusTruncated},
		{"gemini", config.TypeGemini, "text", geminiPieces("text"), ledger.StatusTruncated},
		{"gemini", config.TypeGemini, "thought", geminiPieces("thought"), ledger.StatusTruncated},
		{"gemini", config.TypeGemini, "tool", geminiPieces("tool"), ledger.StatusTruncated},
		{"responses", config.TypeOpenAI, "text", responsesPieces("text"), ledger.StatusTruncated},
		{"responses", config.TypeOpenAI, "refusal", responsesPieces("refusal"), ledger.StatusTruncated},
		{"responses", config.TypeOpenAI, "reasoning", responsesPieces("reasoning"), ledger.StatusTruncated},
		{"responses", config.TypeOpenAI, "tool", responsesPieces("tool"), ledger.StatusTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.proto+"/"+tc.kind, func(t *testing.T) {
			g := newGateway(t, tc.typ, nil, rawUpstream(200, "text/event-stream", tc.up.body))
			resp, body := g.do(t, tc.proto, true, clientBody(tc.proto, true))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			want := meter.CountText(strings.Join(tc.up.pieces, ""))
			e := g.entry(t)
			if e.Status != tc.wantStatus || !e.Estimated || e.OutputTokens != want || e.CostMicros == 0 {
				t.Fatalf("entry status %s estimated %v output %d, want %s, estimated, %d (the tokenizer's count of %q)",
					e.Status, e.Estimated, e.OutputTokens, tc.wantStatus, want, strings.Join(tc.up.pieces, ""))
			}
		})
	}
}

// chatUpstream streams like OpenAI: with stream_options.include_usage, a
// "usage":null member on every chunk and a final usage chunk. It records
// the include_usage of each request.
type chatUpstream struct {
	mu   sync.Mutex
	seen []string // stream_options.include_usage as sent, "" when absent
}

func chatStream(includeUsage bool) string {
	usage := ""
	if includeUsage {
		usage = `,"usage":null`
	}
	head := `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"up-a","system_fingerprint":"fp","choices":[{"index":0,"delta":`
	var data []string
	for _, w := range words {
		data = append(data, head+`{"content":`+jsonString(w)+`},"logprobs":null,"finish_reason":null}]`+usage+`}`)
	}
	data = append(data, head+`{},"logprobs":null,"finish_reason":"stop"}]`+usage+`}`)
	if includeUsage {
		data = append(data, `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"up-a","system_fingerprint":"fp","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":22,"total_tokens":33}}`)
	}
	return sseData(append(data, "[DONE]")...)
}

func (u *chatUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	inc := gjson.GetBytes(b, "stream_options.include_usage")
	u.mu.Lock()
	u.seen = append(u.seen, inc.Raw)
	u.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	_, _ = io.WriteString(w, chatStream(inc.Type == gjson.True))
}

// Sluice asks an OpenAI upstream for the stream's usage when the client
// did not, and hides what that adds: the client sees exactly the stream
// it asked for, and the ledger holds the provider's counts.
func TestStreamUsageIsAskedForAndHidden(t *testing.T) {
	off := false
	tests := []struct {
		name          string
		options       string // the client's stream_options member, if any
		inject        *bool
		wantUpstream  string // include_usage as the upstream saw it
		wantClient    string
		wantEstimated bool
	}{
		{"client did not ask", ``, nil, "true", chatStream(false), false},
		{"client asked", `"stream_options":{"include_usage":true},`, nil, "true", chatStream(true), false},
		{"client said false", `"stream_options":{"include_usage":false},`, nil, "true", chatStream(false), false},
		{"client sent other options", `"stream_options":{"include_obfuscation":false},`, nil, "true", chatStream(false), false},
		{"provider refuses stream_options", ``, &off, "", chatStream(false), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := &chatUpstream{}
			g := newGateway(t, config.TypeOpenAI, func(f *config.File) { f.Providers[0].InjectStreamUsage = tc.inject }, up)
			resp, body := g.do(t, "openai", true, `{"model":"m","stream":true,`+tc.options+`"messages":[{"role":"user","content":"hi"}]}`)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if body != tc.wantClient {
				t.Fatalf("the client saw\n%s\nwant\n%s", body, tc.wantClient)
			}
			if len(up.seen) != 1 || up.seen[0] != tc.wantUpstream {
				t.Fatalf("the upstream saw include_usage %q, want %q", up.seen, tc.wantUpstream)
			}
			e := g.entry(t)
			if e.Status != ledger.StatusOK || e.Estimated != tc.wantEstimated {
				t.Fatalf("entry %+v", e)
			}
			if !tc.wantEstimated && (e.InputTokens != 11 || e.OutputTokens != 22) {
				t.Fatalf("billed %d/%d, want the upstream's 11/22", e.InputTokens, e.OutputTokens)
			}
		})
	}
}

// The same against the OpenAI fake: no usage reaches a client that did not
// ask for it, and the ledger has the fake's own counts.
func TestStreamUsageFromTheFake(t *testing.T) {
	e := newEnv(t)
	resp := e.post(t, "/v1/chat/completions", `{"model":"chat-small","stream":true,"messages":[{"role":"user","content":"hello there"}]}`,
		map[string]string{"Authorization": "Bearer " + clientKey, "X-Fake-Prompt-Tokens": "321", "X-Fake-Completion-Tokens": "123"})
	body := readAll(t, resp)
	if strings.Contains(body, `"usage"`) || !strings.HasSuffix(body, "data: [DONE]\n\n") {
		t.Fatalf("the client saw usage it did not ask for:\n%s", body)
	}
	en := e.waitEntries(t, 1)[0]
	if en.Estimated || en.InputTokens != 321 || en.OutputTokens != 123 {
		t.Fatalf("entry %+v", en)
	}
}

func TestWithIncludeUsage(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"model":"m","stream":true}`, `{"stream_options":{"include_usage":true},"model":"m","stream":true}`},
		{`{}`, `{"stream_options":{"include_usage":true}}`},
		{`{"stream_options":{}}`, `{"stream_options":{"include_usage":true}}`},
		{`{"stream_options":{"x":1}}`, `{"stream_options":{"include_usage":true,"x":1}}`},
		{`{"stream_options": {"include_usage": false, "x":1}}`, `{"stream_options": {"include_usage": true, "x":1}}`},
		{`{"stream_options":null}`, `{"stream_options":null}`},
	}
	for _, tc := range tests {
		if got := string(withIncludeUsage([]byte(tc.in))); got != tc.want || !gjson.Valid(got) {
			t.Errorf("withIncludeUsage(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestRemoveMember(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":1,"usage":null}`, `{"a":1}`},
		{`{"usage":null,"a":1}`, `{"a":1}`},
		{`{"a":1, "usage" : null ,"b":2}`, `{"a":1 ,"b":2}`},
		{`{"usage":{"prompt_tokens":1}}`, `{}`},
		{`{"a":"\"usage\":null"}`, `{"a":"\"usage\":null"}`},
	}
	for _, tc := range tests {
		v := gjson.Get(tc.in, "usage")
		if got := string(removeMember([]byte(tc.in), v)); got != tc.want {
			t.Errorf("removeMember(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// A translated stream cut before its usage is billed for the text the
// client received (Bedrock's usage comes only in its final metadata event).
func TestTranslatedStreamCutIsEstimated(t *testing.T) {
	tests := []struct {
		name, typ string
		upstream  http.Handler
	}{
		{"bedrock", config.TypeBedrock, bedrockfake.New(bedrockfake.Options{APIKey: providerKey,
			Script: func(*http.Request) *bedrockfake.Behavior { return &bedrockfake.Behavior{Chunks: 12, CutAfter: 8} }})},
		{"anthropic", config.TypeAnthropic, rawUpstream(200, "text/event-stream", anthropicPieces("text").body)},
		{"gemini", config.TypeGemini, rawUpstream(200, "text/event-stream", geminiPieces("text").body)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t, tc.typ, nil, tc.upstream)
			resp, body := g.do(t, "openai", true, clientBody("openai", true))
			if resp.StatusCode != 200 || !strings.Contains(body, "upstream_stream_truncated") {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var received strings.Builder
			for _, line := range strings.Split(body, "\n") {
				if d, ok := strings.CutPrefix(line, "data: "); ok {
					received.WriteString(gjson.Get(d, "choices.0.delta.content").Str)
				}
			}
			if received.Len() == 0 {
				t.Fatalf("no text reached the client: %s", body)
			}
			e := g.entry(t)
			if want := meter.CountText(received.String()); e.Status != ledger.StatusTruncated || !e.Estimated || e.OutputTokens != want {
				t.Fatalf("entry %s estimated %v output %d, want truncated, estimated, %d (the count of %q)",
					e.Status, e.Estimated, e.OutputTokens, want, received.String())
			}
		})
	}
}

// An OpenAI-compatible server that refuses stream_options is asked again
// without it: the client gets its stream, billed by estimate, and the
// refusal counts against nothing.
func TestStreamUsageRefusedIsAskedAgainWithout(t *testing.T) {
	var hits atomic.Int64
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		if gjson.GetBytes(b, "stream_options").Exists() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"error":{"message":"Unrecognized request argument supplied: stream_options","type":"invalid_request_error"}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, chatStream(false))
	})
	g := newGateway(t, config.TypeOpenAI, nil, up)
	resp, body := g.do(t, "openai", true, clientBody("openai", true))
	if resp.StatusCode != 200 || body != chatStream(false) {
		t.Fatalf("status %d, client saw\n%s", resp.StatusCode, body)
	}
	if hits.Load() != 2 {
		t.Fatalf("upstream asked %d times, want 2 (with stream_options, then without)", hits.Load())
	}
	e := g.entry(t)
	if e.Status != ledger.StatusOK || !e.Estimated || len(e.Attempts) != 1 || e.OutputTokens != meter.CountText(strings.Join(words, "")) {
		t.Fatalf("entry %+v", e)
	}
	for _, s := range g.health.Snapshot() {
		if s.Failures != 0 {
			t.Fatalf("the refusal counted against the target: %+v", s)
		}
	}
}

// TestUsageOpenAIOnePass: usageOpenAI reads the usage object in one pass
// and must read what a lookup of each field reads, repeated, escaped or
// misplaced fields included.
func TestUsageOpenAIOnePass(t *testing.T) {
	lookup := func(u gjson.Result) (meter.Usage, bool) {
		if !u.IsObject() {
			return meter.Usage{}, false
		}
		in, out := u.Get("prompt_tokens"), u.Get("completion_tokens")
		if !in.Exists() && !out.Exists() {
			return meter.Usage{}, false
		}
		mu := meter.Usage{InputTokens: in.Int(), OutputTokens: out.Int(),
			CachedTokens:    u.Get("prompt_tokens_details.cached_tokens").Int(),
			ReasoningTokens: u.Get("completion_tokens_details.reasoning_tokens").Int()}
		for _, v := range [...]int64{mu.InputTokens, mu.OutputTokens, mu.CachedTokens, mu.ReasoningTokens} {
			if v < 0 || v > 1<<40 {
				return meter.Usage{}, false
			}
		}
		return mu, true
	}
	for _, doc := range []string{
		`{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}`,
		`{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}`,
		`{"prompt_tokens":10,"prompt_tokens":99,"completion_tokens":5}`,
		`{"prompt_tokens_details":{"cached_tokens":4},"prompt_tokens_details":{"cached_tokens":9},"prompt_tokens":1}`,
		`{"prompt_tokens_details":1,"prompt_tokens_details":{"cached_tokens":9},"prompt_tokens":1}`,
		`{"prompt_\u0074okens":7,"completion_tokens":1}`,
		`{"completion_tokens_details":{"reasoning_tokens":3,"reasoning_tokens":8},"completion_tokens":9}`,
		`{"completion_tokens_details":{"x":1},"completion_tokens_details":{"reasoning_tokens":8},"completion_tokens":9}`,
		`{"completion_tokens_details":[1],"completion_tokens_details":{"reasoning_tokens":8},"completion_tokens":9}`,
		`{"prompt_tokens_details":{"cached_tokens":2},"prompt_tokens_details":{"cached_tokens":8},"prompt_tokens":9}`,
		`{"prompt_tokens":-1,"completion_tokens":1}`,
		`{"prompt_tokens":"12","completion_tokens":2e3}`,
		`{"total_tokens":3}`,
		`[1,2]`,
		`{}`,
	} {
		u := gjson.Parse(doc)
		got, gotOK := usageOpenAI(u)
		want, wantOK := lookup(u)
		if got != want || gotOK != wantOK {
			t.Errorf("%s: %+v %v, a lookup reads %+v %v", doc, got, gotOK, want, wantOK)
		}
	}
}

var scanAnswerSeeds = []string{
	`{"id":"c","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":4}}`,
	`{"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2}}`,
	`{"us\u0061ge":{"prompt_tokens":5},"usage":{"prompt_tokens":6}}`,
	`{"choices":[{"usage":{"prompt_tokens":9}}],"x":{"usage":1}}`,
	`{"usage":null}`, `{"usage":"12"}`, `[{"usage":{}}]`, `"usage"`, `{}`, ` {"usage" : 7 } `,
	`{"usage":{"prompt_tokens":1}`, `{"usage":{"prompt_tokens":1}} x`, `{"a":"\x01"}`, "{\"a\":\"\xff\"}",
	`{"usageMetadata":{"promptTokenCount":2}}`,
	`{"a":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `,"usage":{"prompt_tokens":8}}`,
	`{"a":` + strings.Repeat("[", 300) + strings.Repeat("]", 299) + `,"usage":{"prompt_tokens":8}}`,
}

// TestScanAnswer: the pass that validates a pass-through answer finds its
// usage member as gjson.GetBytes finds it, and refuses what
// gjson.ValidBytes refuses.
func TestScanAnswer(t *testing.T) {
	for _, s := range scanAnswerSeeds {
		compareScanAnswer(t, []byte(s))
	}
}

func FuzzScanAnswer(f *testing.F) {
	for _, s := range scanAnswerSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(compareScanAnswer)
}

func compareScanAnswer(t *testing.T, data []byte) {
	for _, key := range []string{"usage", "usageMetadata"} {
		got, ok := scanAnswer(data, key)
		if want := gjson.ValidBytes(data); ok != want {
			t.Fatalf("%.200q: valid %v, gjson says %v", data, ok, want)
		}
		if !ok {
			continue
		}
		want := gjson.GetBytes(data, key)
		if got.Exists() != want.Exists() || got.Raw != want.Raw || got.Type != want.Type {
			t.Fatalf("%.200q %s: found %v %q, gjson.GetBytes %v %q", data, key, got.Exists(), got.Raw, want.Exists(), want.Raw)
		}
		gu, gok := usageOpenAI(got)
		wu, wok := usageOpenAI(want)
		if gu != wu || gok != wok {
			t.Fatalf("%.200q: usage %+v %v, from gjson.GetBytes %+v %v", data, gu, gok, wu, wok)
		}
	}
}
