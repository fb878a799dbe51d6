package anthropic

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	wire "github.com/sluicehq/sluice/internal/apischema/anthropic"
)

// wireEncodeCases are wire requests and blocks (as JSON) that the append
// encoder must write exactly as json.Marshal writes them.
var wireEncodeCases = []string{
	`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"<b>&</b> \u2028 caf\u00e9"}]}`,
	`{"model":"","messages":null}`,
	`{"model":"m","max_tokens":-1,"system":[ {"type":"text","text":"s"} ],"messages":[{"role":"assistant","content":[ {"type":"text", "text":"a"} ]},{"role":"user"}],` +
		`"tools":[{"name":"f","description":"d<>","input_schema":{ "a" : [1, 2] },"strict":true},{"name":"g"}],"tool_choice":{"type":"tool","name":"f","disable_parallel_tool_use":false},` +
		`"thinking":{"type":"enabled","budget_tokens":1024,"display":"x"},"output_config":{"effort":"low","format":{"type":"json_schema","schema":{"b" : null}}},` +
		`"stop_sequences":["x","<y>"],"temperature":1e-7,"top_p":1e21,"top_k":3,"metadata":{"user_id":"u&"},"stream":true}`,
	`{"tool_choice":{},"thinking":{},"output_config":{"format":{}},"metadata":{},"stop_sequences":[],"temperature":-0.0}`,
	`{"type":"text","text":"a<b"}`,
	`{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA==","url":"u","file_id":"f"}}`,
	`{"type":"tool_use","id":"i","name":"n","input":{ "a" : "<" }}`,
	`{"type":"tool_use","id":"i","name":"n"}`,
	`{"type":"tool_result","tool_use_id":"i","content":[ {"type":"text","text":"t"} ],"is_error":true}`,
	`{"type":"thinking","thinking":"t","signature":"s"}`,
	`{"type":"redacted_thinking","data":"d"}`,
}

// TestWireEncodeMatchesMarshal: marshalRequest and appendBlocks write
// every case as json.Marshal does, and refuse what it refuses.
func TestWireEncodeMatchesMarshal(t *testing.T) {
	for _, c := range wireEncodeCases {
		checkWireEncode(t, []byte(c))
	}
	for _, f := range []float64{math.NaN(), math.Inf(-1)} {
		if _, err := marshalRequest(&wire.MessagesRequest{TopP: &f}); err == nil {
			t.Errorf("top_p %v: no error", f)
		}
	}
	if _, err := marshalRequest(&wire.MessagesRequest{Tools: []wire.Tool{{InputSchema: json.RawMessage(`{"a":`)}}}); err == nil {
		t.Errorf("invalid input_schema: no error")
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
	var r wire.MessagesRequest
	if json.Unmarshal(b, &r) == nil {
		if len(r.System) > 0 { // encodeSystem builds it compact and escaped
			r.System, _ = json.Marshal(r.System)
		}
		for i := range r.Messages {
			// encodeMessage always sets it, compact and escaped.
			r.Messages[i].Content, _ = json.Marshal(r.Messages[i].Content)
		}
		want, wantErr := json.Marshal(r)
		got, gotErr := marshalRequest(&r)
		if (wantErr == nil) != (gotErr == nil) || (wantErr == nil && !bytes.Equal(got, want)) {
			t.Fatalf("%s:\n got %s %v\nwant %s %v", b, got, gotErr, want, wantErr)
		}
	}
	// Each block type encodePart makes, read from the same bytes.
	blocks := []any{}
	var text wire.TextBlock
	var image wire.ImageBlock
	var use wire.ToolUseBlock
	var result wire.ToolResultBlock
	var thinking wire.ThinkingBlock
	var redacted wire.RedactedThinkingBlock
	for _, x := range []any{&text, &image, &use, &result, &thinking, &redacted} {
		if json.Unmarshal(b, x) == nil {
			blocks = append(blocks, reflectElem(x))
		}
	}
	want, wantErr := json.Marshal(blocks)
	got, gotErr := appendBlocks(nil, blocks)
	if (wantErr == nil) != (gotErr == nil) || (wantErr == nil && !bytes.Equal(got, want)) {
		t.Fatalf("blocks %s:\n got %s %v\nwant %s %v", b, got, gotErr, want, wantErr)
	}
}

func reflectElem(x any) any {
	switch v := x.(type) {
	case *wire.TextBlock:
		return *v
	case *wire.ImageBlock:
		return *v
	case *wire.ToolUseBlock:
		return *v
	case *wire.ToolResultBlock:
		return *v
	case *wire.ThinkingBlock:
		return *v
	case *wire.RedactedThinkingBlock:
		return *v
	}
	return x
}

// TestEventEncodeMatchesMarshal: appendEvent writes the events it takes
// as json.Marshal does, and leaves the others to it.
func TestEventEncodeMatchesMarshal(t *testing.T) {
	for _, s := range []string{"", "tok00001 ", "<a> & \u2028 \xff \"q\" \\ \n"} {
		checkEvents(t, s, 3)
	}
	if _, ok := appendEvent(nil, wire.MessageStopEvent{Type: "message_stop"}); ok {
		t.Errorf("message_stop: written by appendEvent")
	}
	if _, ok := appendEvent(nil, wire.ContentBlockDeltaEvent{Delta: struct{}{}}); ok {
		t.Errorf("unknown delta: written by appendEvent")
	}
}

func FuzzEventEncode(f *testing.F) {
	f.Add("tok", 0)
	f.Add("<\u2028>", -1)
	f.Fuzz(func(t *testing.T, s string, i int) { checkEvents(t, s, i) })
}

func checkEvents(t *testing.T, s string, i int) {
	t.Helper()
	for _, v := range []any{
		wire.ContentBlockStopEvent{Type: s, Index: i},
		wire.ContentBlockDeltaEvent{Type: "content_block_delta", Index: i, Delta: wire.TextDelta{Type: s, Text: s}},
		wire.ContentBlockDeltaEvent{Type: s, Index: i, Delta: wire.InputJSONDelta{Type: "input_json_delta", PartialJSON: s}},
		wire.ContentBlockDeltaEvent{Type: s, Index: i, Delta: wire.ThinkingDelta{Type: "thinking_delta", Thinking: s}},
		wire.ContentBlockDeltaEvent{Type: s, Index: i, Delta: wire.SignatureDelta{Type: "signature_delta", Signature: s}},
	} {
		want, _ := json.Marshal(v)
		got, ok := appendEvent(nil, v)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("%#v:\n got %s\nwant %s", v, got, want)
		}
	}
}

// messageOutCases are answers (as JSON) that appendMessage must write as
// json.Marshal writes them; content blocks are read as text blocks,
// tool_use blocks and thinking blocks by their type.
var messageOutCases = []string{
	`{"id":"msg_1","type":"message","role":"assistant","model":"m<>","content":[{"type":"text","text":"a & b"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":2}}`,
	`{"content":[{"type":"tool_use","id":"t","name":"f","input":{ "a" : "<" }},{"type":"thinking","thinking":"x","signature":"s"},{"type":"redacted_thinking","data":"d"}],"stop_sequence":"\u2028","usage":{"cache_creation_input_tokens":3,"cache_read_input_tokens":4,"output_tokens_details":{"thinking_tokens":5}}}`,
	`{"content":null}`, `{"content":[]}`, `{}`,
}

// TestMessageEncodeMatchesMarshal: appendMessage writes every answer as
// json.Marshal does.
func TestMessageEncodeMatchesMarshal(t *testing.T) {
	for _, c := range messageOutCases {
		checkMessageEncode(t, []byte(c))
	}
}

func FuzzMessageEncode(f *testing.F) {
	for _, c := range messageOutCases {
		f.Add([]byte(c))
	}
	f.Fuzz(checkMessageEncode)
}

func checkMessageEncode(t *testing.T, b []byte) {
	t.Helper()
	var in struct {
		wire.Message
		Content []json.RawMessage `json:"content"`
	}
	if json.Unmarshal(b, &in) != nil {
		return
	}
	m := in.Message
	if in.Content != nil {
		m.Content = []any{}
	}
	for _, raw := range in.Content {
		var typ struct{ Type string }
		_ = json.Unmarshal(raw, &typ)
		var x any
		switch typ.Type {
		case "tool_use":
			var v wire.ToolUseBlock
			if json.Unmarshal(raw, &v) != nil {
				return
			}
			x = v
		case "thinking":
			var v wire.ThinkingBlock
			if json.Unmarshal(raw, &v) != nil {
				return
			}
			x = v
		case "redacted_thinking":
			var v wire.RedactedThinkingBlock
			if json.Unmarshal(raw, &v) != nil {
				return
			}
			x = v
		default:
			var v wire.TextBlock
			if json.Unmarshal(raw, &v) != nil {
				return
			}
			x = v
		}
		m.Content = append(m.Content, x)
	}
	want, wantErr := json.Marshal(m)
	got, gotErr := appendMessage(nil, &m)
	if (wantErr == nil) != (gotErr == nil) || (wantErr == nil && !bytes.Equal(got, want)) {
		t.Fatalf("%s:\n got %s %v\nwant %s %v", b, got, gotErr, want, wantErr)
	}
}
