package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/jsonlimit"
	"github.com/sluicehq/sluice/internal/llm"
)

// wireDecodeCases are bodies on which decodeChatRequest must agree with
// json.Unmarshal: repeated and case-variant keys, nulls, merges of a
// repeated array into the first one's elements, mismatched types and
// numbers out of range.
var wireDecodeCases = []string{
	`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"m","Model":"n","MODEL":null,"messages":[]}`,
	`{"model":"m","messages":[{"role":"user","content":"a"}],"Messages":null}`,
	`{"messages":[{"role":"user","content":"a","name":"x"},{"role":"tool"}],"messages":[{"role":"assistant"}]}`,
	`{"messages":[{"role":"user"},{"role":"tool"},{"role":"x"}],"messages":[{"content":1}],"messages":[{},{},{}]}`,
	`{"messages":[null,{"ROLE":"user","Content":null,"content":[{"type":"text"}]}]}`,
	`{"messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","Name":"g","arguments":"{}"}}]}]}`,
	`{"messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f"}}],"tool_calls":[{"type":"function"}]}]}`,
	`{"messages":[{"role":"assistant","tool_calls":{}}]}`,
	`{"messages":[{"role":"assistant","tool_calls":[{"function":[]}]}]}`,
	`{"messages":[{"role":"assistant","refusal":"no","Refusal":null,"reasoning_content":"r","reasoning":5}]}`,
	`{"messages":"x"}`, `{"messages":{}}`, `{"messages":[1]}`, `{"messages":[true]}`, `{"messages":[[]]}`,
	`{"model":5}`, `{"model":{}}`, `{"model":[]}`, `{"model":true}`, `{"stream":"yes"}`, `{"stream":1}`, `{"stream":null,"Stream":true}`,
	`{"max_tokens":1.5}`, `{"max_tokens":1e2}`, `{"max_tokens":99999999999999999999}`, `{"max_tokens":-0}`, `{"max_tokens":"5"}`,
	`{"max_completion_tokens":10,"max_completion_tokens":null}`, `{"seed":-9223372036854775808}`, `{"seed":9223372036854775808}`,
	`{"temperature":1e400}`, `{"temperature":1e-400}`, `{"temperature":-0.0}`, `{"temperature":0.7,"top_p":1,"frequency_penalty":-2e0}`,
	`{"temperature":{}}`, `{"top_k":[]}`, `{"n":2}`, `{"parallel_tool_calls":false}`, `{"parallel_tool_calls":"false"}`,
	`{"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"},"strict":true}}]}`,
	`{"tools":[{"type":"function","function":{"name":"f","Parameters":null,"STRICT":null}}]}`,
	`{"tools":[{"function":"f"}]}`, `{"tools":[{"function":{"strict":1}}]}`, `{"tools":null}`, `{"tools":[]}`,
	`{"tool_choice":"auto"}`, `{"tool_choice":null}`, `{"Tool_Choice":{"type":"function"}}`, `{"stop":["a"],"stop":"b"}`,
	`{"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"a":1},"strict":false}}}`,
	`{"response_format":{"json_schema":null},"response_format":{"type":"text"}}`,
	`{"response_format":{"json_schema":{"name":"a"}},"response_format":{"json_schema":{"schema":{}}}}`,
	`{"response_format":"text"}`, `{"response_format":{"json_schema":"x"}}`, `{"response_format":{"json_schema":{"strict":"x"}}}`,
	`{"stream_options":{"include_usage":true,"include_obfuscation":false}}`, `{"stream_options":[]}`, `{"stream_options":{"include_usage":1}}`,
	`{"reasoning_effort":"low","user":"u","safety_identifier":"s"}`, `{"user":"\u00e9\ud800x","user":"caf\u00e9"}`,
	`{"mod\u0065l":"escaped key","\u006dessages":[]}`, `{"ſtream":true,"\u212a":1,"top_\u212a":3}`,
	`{"unknown":{"deep":[1,2,{"x":"}"}]},"model":"m"}`,
	`[]`, `"x"`, `null`, `1`, `{}`,
	` { "model" : "m" , "messages" : [ { "role" : "user" , "content" : [ { "type" : "text" , "text" : "a" } ] } ] } `,
}

// TestWireDecodeMatchesEncodingJSON: decodeChatRequest reads every case as
// json.Unmarshal reads it.
func TestWireDecodeMatchesEncodingJSON(t *testing.T) {
	for _, c := range wireDecodeCases {
		checkWireDecode(t, []byte(c))
	}
}

// TestContentPartDecodeMatchesEncodingJSON: decodeContentPart reads every
// part as json.Unmarshal reads it.
func TestContentPartDecodeMatchesEncodingJSON(t *testing.T) {
	for _, c := range []string{
		`{"type":"text","text":"a"}`, `{"type":"image_url","image_url":{"url":"u","detail":"low"}}`,
		`{"type":"image_url","image_url":{"url":"u"},"Image_URL":null}`, `{"image_url":{"URL":"a","url":"b"}}`,
		`{"image_url":"u"}`, `{"image_url":{"url":1}}`, `{"type":"input_audio","input_audio":{"data":"x"},"file":null}`,
		`{"text":1}`, `{"refusal":"r","Refusal":"s"}`, `null`, `[]`, `{"type":"text","type":"image_url","TEXT":"x"}`,
	} {
		checkContentPart(t, []byte(c))
	}
}

func FuzzWireDecode(f *testing.F) {
	for _, c := range wireDecodeCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if jsonlimit.Check(b, jsonlimit.MaxDepth) != nil {
			return
		}
		checkWireDecode(t, b)
		checkContentPart(t, b)
		checkCheckedDecode(t, b)
	})
}

func checkWireDecode(t *testing.T, b []byte) {
	t.Helper()
	var want, got oa.ChatRequest
	wantErr := json.Unmarshal(b, &want)
	gotErr := decodeChatRequest(b, &got)
	sameDecode(t, b, wantErr, gotErr, &want, &got)
}

func checkContentPart(t *testing.T, b []byte) {
	t.Helper()
	var want, got oa.ChatContentPart
	wantErr := json.Unmarshal(b, &want)
	gotErr := decodeContentPart(b, &got)
	sameDecode(t, b, wantErr, gotErr, &want, &got)
}

// sameDecode fails unless both decodes failed with the same field, type
// and value, or both succeeded with equal results.
func sameDecode(t *testing.T, b []byte, wantErr, gotErr error, want, got any) {
	t.Helper()
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("%s: error %v, encoding/json %v", b, gotErr, wantErr)
	}
	if wantErr != nil {
		var we, ge *json.UnmarshalTypeError
		if !errors.As(wantErr, &we) || !errors.As(gotErr, &ge) {
			t.Fatalf("%s: error %#v, encoding/json %#v", b, gotErr, wantErr)
		}
		if we.Field != ge.Field || we.Type != ge.Type || we.Value != ge.Value {
			t.Fatalf("%s: error field %q type %v value %q; encoding/json %q %v %q", b, ge.Field, ge.Type, ge.Value, we.Field, we.Type, we.Value)
		}
		return
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%s:\n got %+v\nwant %+v", b, got, want)
	}
}

// TestDecodeCheckedRequest: on a checked body DecodeCheckedRequest decodes
// exactly as DecodeRequest, which checks the body itself.
func TestDecodeCheckedRequest(t *testing.T) {
	for _, c := range append(wireDecodeCases, translateBodies...) {
		checkCheckedDecode(t, []byte(c))
	}
}

// translateBodies are whole requests that decode without error.
var translateBodies = []string{
	`{"model":"m","max_completion_tokens":9,"stream":true,"stream_options":{"include_usage":true},"tools":[{"type":"function","function":{"name":"f","parameters":{ "type" : "object" }}}],` +
		`"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":" {\"a\": 1} "}}]},{"role":"tool","tool_call_id":"c","content":"r"}]}`,
}

func checkCheckedDecode(t *testing.T, b []byte) {
	t.Helper()
	want, wantErr := Client.DecodeRequest(b, "")
	got, gotErr := Client.DecodeCheckedRequest(b, "")
	if fmt.Sprint(wantErr) != fmt.Sprint(gotErr) || !reflect.DeepEqual(want, got) {
		t.Fatalf("%s: DecodeCheckedRequest %+v, %v; DecodeRequest %+v, %v", b, got, gotErr, want, wantErr)
	}
}

// streamChunkCases are upstream chunks on which decodeStreamChunk, when it
// decodes at all, must agree with json.Unmarshal.
var streamChunkCases = []string{
	`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`,
	`{"id":"c","choices":[{"index":0,"delta":{"content":"tok","Content":null,"reasoning_content":"r","reasoning":"q","refusal":"x","tool_calls":[{"index":0,"id":"i","type":"function","function":{"name":"f","arguments":"{"}}]},"finish_reason":"stop"}]}`,
	`{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":1,"cache_write_tokens":2},"completion_tokens_details":{"reasoning_tokens":1},"prompt_cache_hit_tokens":3}}`,
	`{"error":{"message":"overloaded","type":"server_error"}}`, `{"error":null,"ERROR":1}`, `null`, `[]`, `"x"`,
	`{"choices":[{"index":1.5}]}`, `{"choices":[{"index":"0"}]}`, `{"created":1e3}`, `{"usage":{"prompt_tokens":-1}}`,
	`{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"a"}}]}}],"choices":[{"delta":{"tool_calls":[{"id":"x"}]}}]}`,
	`{"Choices":[{"Delta":{"Content":"a"}}],"ID":"i","Usage":null}`,
}

// TestStreamChunkDecode: decodeStreamChunk agrees with json.Unmarshal
// wherever it decodes, and never decodes what json.Unmarshal refuses.
func TestStreamChunkDecode(t *testing.T) {
	for _, c := range streamChunkCases {
		checkStreamChunk(t, []byte(c))
	}
}

func FuzzStreamChunkDecode(f *testing.F) {
	for _, c := range streamChunkCases {
		f.Add([]byte(c))
	}
	f.Fuzz(checkStreamChunk)
}

func checkStreamChunk(t *testing.T, b []byte) {
	t.Helper()
	var want, got streamChunk
	wantErr := json.Unmarshal(b, &want)
	if !decodeStreamChunk(b, &got) {
		return // left to encoding/json
	}
	if wantErr != nil {
		t.Fatalf("%s: decoded, but encoding/json refuses it: %v", b, wantErr)
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%s:\n got %+v\nwant %+v", b, got, want)
	}
}

// completionCases are upstream answers on which decodeCompletion, when it
// decodes at all, must agree with json.Unmarshal; appendChatCompletion
// must write what it read as marshal does.
var completionCases = []string{
	`{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi <&>","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":2000,"completion_tokens":9,"total_tokens":2009}}`,
	`{"choices":[{"message":{"content":null,"tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}],"reasoning_content":"r","reasoning":"q"},"logprobs":{"content":[]},"finish_reason":"tool_calls"}]}`,
	`{"choices":[],"error":{"message":"x"}}`, `{"choices":[{"message":"x"}]}`, `{"choices":[{"index":"0"}]}`, `{"created":-1.5}`,
	`{"choices":[{"message":{"content":"a"}}],"choices":[{"finish_reason":"length"}],"Usage":{"Prompt_Tokens":1}}`, `null`, `[]`,
}

func TestCompletionDecode(t *testing.T) {
	for _, c := range completionCases {
		checkCompletion(t, []byte(c))
	}
}

func FuzzCompletionDecode(f *testing.F) {
	for _, c := range completionCases {
		f.Add([]byte(c))
	}
	f.Fuzz(checkCompletion)
}

func checkCompletion(t *testing.T, b []byte) {
	t.Helper()
	var want, got oa.ChatCompletion
	wantErr := json.Unmarshal(b, &want)
	if wantErr == nil {
		m, mErr := marshal(want)
		a, aErr := appendChatCompletion(nil, &want)
		if (mErr == nil) != (aErr == nil) || (mErr == nil && string(a) != string(m)) {
			t.Fatalf("%s: appendChatCompletion\n got %s %v\nwant %s %v", b, a, aErr, m, mErr)
		}
	}
	if !decodeCompletion(b, &got) {
		return
	}
	if wantErr != nil {
		t.Fatalf("%s: decoded, but encoding/json refuses it: %v", b, wantErr)
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%s:\n got %+v\nwant %+v", b, got, want)
	}
}

// TestDecodeRequestNamesFirstRefusedField: with several fields refused,
// the first in sorted order is named, whatever order the body has them in
// (the check skips the sort only when nothing is refused).
func TestDecodeRequestNamesFirstRefusedField(t *testing.T) {
	for _, tc := range []struct{ body, param string }{
		{`{"zz":1,"model":"m","messages":[{"role":"user","content":"x"}],"bb":2,"logprobs":true}`, "bb"},
		{`{"model":"m","messages":[{"role":"user","content":"x","zz":1,"aa":{}}]}`, "messages[0].aa"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x","zz":1,"aa":{}}]}]}`, "messages[0].content[0].aa"},
	} {
		_, err := Client.DecodeRequest([]byte(tc.body), "")
		var e *llm.Error
		if !errors.As(err, &e) || e.Param != tc.param {
			t.Errorf("%s: %v, want param %q", tc.body, err, tc.param)
		}
	}
}
