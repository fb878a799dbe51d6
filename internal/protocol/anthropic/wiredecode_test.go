package anthropic

import (
	"encoding/json"
	"reflect"
	"testing"

	wire "github.com/sluicehq/sluice/internal/apischema/anthropic"
)

// messageCases are upstream messages on which decodeMessage, when it
// decodes at all, must agree with json.Unmarshal.
var messageCases = []string{
	`{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"All done."}],"model":"m","stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":2000,"output_tokens":9}}`,
	`{"content":[{"type":"tool_use","id":"t","name":"f","input":{"a":[1]}},{"type":"thinking","thinking":"x","signature":"s"},{"type":"redacted_thinking","data":"d"},` +
		`{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA==","url":"u","file_id":"f"}},{"type":"tool_result","tool_use_id":"t","content":"c","is_error":true,"citations":[]}],` +
		`"usage":{"input_tokens":1,"cache_creation_input_tokens":2,"cache_read_input_tokens":3,"output_tokens":4,"output_tokens_details":{"thinking_tokens":5}},"stop_sequence":"x"}`,
	`{"usage":null,"stop_reason":null,"content":null}`, `{"usage":{"output_tokens":null,"output_tokens_details":null}}`,
	`{"Content":[{"TYPE":"text","Text":"a"}],"ID":"i","content":[{"text":"b"}]}`, `{"content":[{"type":"text","text":"a"},{"type":"text"}],"content":[{"text":"b"}]}`,
	`{"content":"x"}`, `{"content":[{"is_error":"yes"}]}`, `{"usage":{"input_tokens":1.5}}`, `{"usage":{"input_tokens":"1"}}`, `{"type":5}`,
	`null`, `[]`, `"x"`, `{}`,
}

func TestMessageDecode(t *testing.T) {
	for _, c := range messageCases {
		checkMessageDecode(t, []byte(c))
	}
}

func FuzzMessageDecode(f *testing.F) {
	for _, c := range messageCases {
		f.Add([]byte(c))
	}
	f.Fuzz(checkMessageDecode)
}

func checkMessageDecode(t *testing.T, b []byte) {
	t.Helper()
	var want, got wire.MessageDecoded
	wantErr := json.Unmarshal(b, &want)
	if !decodeMessage(b, &got) {
		return // left to encoding/json
	}
	if wantErr != nil {
		t.Fatalf("%s: decoded, but encoding/json refuses it: %v", b, wantErr)
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%s:\n got %+v\nwant %+v", b, got, want)
	}
}

// streamEventCases are stream events on which decodeStreamEvent, when it
// decodes at all, must agree with json.Unmarshal.
var streamEventCases = []string{
	`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"m","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":2000,"output_tokens":1}}}`,
	`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}`,
	`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"tok","partial_json":"p","thinking":"t","signature":"s"}}`,
	`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":20}}`,
	`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
	`{"type":"message_delta","Delta":{"Stop_Reason":"max_tokens"},"delta":null,"INDEX":2}`, `{"index":"1"}`, `{"index":1.5}`, `{"delta":[]}`,
	`{"error":null,"message":null,"content_block":null,"usage":null}`, `null`, `[]`, `{}`,
}

func TestStreamEventDecode(t *testing.T) {
	for _, c := range streamEventCases {
		checkStreamEventDecode(t, []byte(c))
	}
}

func FuzzStreamEventDecode(f *testing.F) {
	for _, c := range streamEventCases {
		f.Add([]byte(c))
	}
	f.Fuzz(checkStreamEventDecode)
}

func checkStreamEventDecode(t *testing.T, b []byte) {
	t.Helper()
	var want, got wire.StreamEvent
	wantErr := json.Unmarshal(b, &want)
	if !decodeStreamEvent(b, &got) {
		return // left to encoding/json
	}
	if wantErr != nil {
		t.Fatalf("%s: decoded, but encoding/json refuses it: %v", b, wantErr)
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%s:\n got %+v\nwant %+v", b, got, want)
	}
}
