package openai

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/llm"
)

// wireEncodeCases are wire requests (as JSON) that the append encoder must
// write exactly as marshal writes them.
var wireEncodeCases = append([]string{
	`{"model":"m","messages":[{"role":"user","content":"<b>&</b> \u2028 caf\u00e9"}]}`,
	`{"model":"","messages":null}`,
	`{"messages":[{"role":"assistant","content":[ {"type":"text", "text":"a"} ],"name":"n","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\": 1}"}}],` +
		`"tool_call_id":"t","refusal":"","reasoning_content":"r","reasoning":"q"}],"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{ "a" : [1, 2] },"strict":false}}],` +
		`"tool_choice":{ "type":"function" },"parallel_tool_calls":true,"max_tokens":0,"max_completion_tokens":-5,"temperature":1e-7,"top_p":0,"top_k":3,"stop":[ "x" ],"seed":-1,` +
		`"frequency_penalty":1e21,"presence_penalty":-0.0,"response_format":{"type":"json_schema","json_schema":{"name":"s","description":"x","schema":{"b" : null},"strict":true}},` +
		`"reasoning_effort":"low","stream":true,"stream_options":{"include_usage":false,"include_obfuscation":true},"user":"u","safety_identifier":"s","n":1}`,
	`{"response_format":{"type":"text","json_schema":null},"stream_options":{}}`,
	`[{"type":"image_url","image_url":{"url":"u","detail":"low"}},{"type":"text","text":"t","input_audio":{ "a":1 },"file":[1],"refusal":"r"},{"image_url":{"url":""}}]`,
	`[]`,
}, wireDecodeCases...)

// TestWireEncodeMatchesMarshal: encodeChatRequest writes every case as
// marshal does, and refuses the floats marshal refuses.
func TestWireEncodeMatchesMarshal(t *testing.T) {
	for _, c := range wireEncodeCases {
		checkWireEncode(t, []byte(c))
	}
	for _, f := range []float64{math.NaN(), math.Inf(1)} {
		w := oa.ChatRequest{Temperature: &f}
		if _, err := encodeChatRequest(&w); err == nil {
			t.Errorf("temperature %v: no error", f)
		}
	}
	w := oa.ChatRequest{ResponseFormat: &oa.ChatResponseFormat{JSONSchema: &oa.ChatJSONSchema{Schema: json.RawMessage(`{"a":`)}}}
	if _, err := encodeChatRequest(&w); err == nil {
		t.Errorf("invalid schema: no error")
	}
	// Tool parameters are checked before they reach the encoder.
	req := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "x"}}}},
		Tools: []llm.Tool{{Name: "f", Parameters: json.RawMessage(`{"a":`)}}}
	if _, err := Upstream.EncodeRequest(req, "m"); err == nil {
		t.Errorf("invalid parameters: no error")
	}
}

func FuzzWireEncode(f *testing.F) {
	for _, c := range wireEncodeCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkWireEncode(t, b)
	})
}

func checkWireEncode(t *testing.T, b []byte) {
	t.Helper()
	var w oa.ChatRequest
	if json.Unmarshal(b, &w) == nil {
		for i := range w.Messages {
			if len(w.Messages[i].Content) > 0 { // EncodeRequest builds it compact
				w.Messages[i].Content, _ = marshal(w.Messages[i].Content)
			}
		}
		want, wantErr := marshal(w)
		got, gotErr := encodeChatRequest(&w)
		if (wantErr == nil) != (gotErr == nil) || (wantErr == nil && !bytes.Equal(got, want)) {
			t.Fatalf("%s:\n got %s %v\nwant %s %v", b, got, gotErr, want, wantErr)
		}
	}
	var parts []oa.ChatContentPart
	if json.Unmarshal(b, &parts) == nil {
		want, wantErr := marshal(parts)
		got, gotErr := appendContentParts(nil, parts)
		if (wantErr == nil) != (gotErr == nil) || (wantErr == nil && !bytes.Equal(got, want)) {
			t.Fatalf("parts %s:\n got %s %v\nwant %s %v", b, got, gotErr, want, wantErr)
		}
	}
}

// chunkCases are stream chunks (as JSON) that appendChatChunk must write
// exactly as marshal writes them.
var chunkCases = []string{
	`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`,
	`{"id":"c<&>","choices":[{"index":2,"delta":{"content":"a\u2028<","reasoning_content":"r","reasoning":"q","refusal":"x","tool_calls":[{"index":0,"id":"i","type":"function","function":{"name":"f","arguments":"{\"a\""}},{"index":1,"function":{}}]},"logprobs":{ "a" : 1 },"finish_reason":"stop"}]}`,
	`{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":1,"cache_write_tokens":2},"completion_tokens_details":{"reasoning_tokens":1},"prompt_cache_hit_tokens":3}}`,
	`{"choices":null,"usage":{"prompt_tokens_details":{},"completion_tokens_details":{}}}`,
	`{"choices":[{"delta":{}}]}`,
}

// TestChunkEncodeMatchesMarshal: appendChatChunk writes every chunk as
// marshal does.
func TestChunkEncodeMatchesMarshal(t *testing.T) {
	for _, c := range chunkCases {
		checkChunkEncode(t, []byte(c))
	}
}

func FuzzChunkEncode(f *testing.F) {
	for _, c := range chunkCases {
		f.Add([]byte(c))
	}
	f.Fuzz(checkChunkEncode)
}

func checkChunkEncode(t *testing.T, b []byte) {
	t.Helper()
	var c oa.ChatChunk
	if json.Unmarshal(b, &c) != nil {
		return
	}
	want, wantErr := marshal(c)
	got, gotErr := appendChatChunk(nil, &c)
	if (wantErr == nil) != (gotErr == nil) || (wantErr == nil && !bytes.Equal(got, want)) {
		t.Fatalf("%s:\n got %s %v\nwant %s %v", b, got, gotErr, want, wantErr)
	}
}
