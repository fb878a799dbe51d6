package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// reporter receives the failures of the semantic checks.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// failures collects a case's semantic failures, so that those of a known
// bug can be told from new ones.
type failures struct{ list []string }

func (f *failures) Helper() {}

func (f *failures) Errorf(format string, args ...any) {
	f.list = append(f.list, fmt.Sprintf(format, args...))
}

// report passes the failures on to t. A case may pin a known codec bug in a
// known_bug section: its first line is a piece of the failure the bug
// causes, the rest describes it. Failures that contain it are logged, not
// failed; and a case whose known bug no longer shows fails, so that the
// section is removed when the codec is fixed.
func (f *failures) report(t *testing.T, a *archive) {
	t.Helper()
	kb, hasKB := a.get("known_bug")
	marker, _, _ := strings.Cut(kb, "\n")
	marker = strings.TrimSpace(marker)
	if hasKB && marker == "" {
		t.Errorf("known_bug: the first line must be a piece of the failure message")
		hasKB = false
	}
	seen := false
	for _, e := range f.list {
		if hasKB && strings.Contains(e, marker) {
			seen = true
			t.Logf("known bug: %s", e)
			continue
		}
		t.Error(e)
	}
	if hasKB && !seen {
		t.Errorf("the known bug %q no longer shows: remove the known_bug section", marker)
	}
}

// wantError is the hand-written want_error.json of a case whose request
// cannot be translated: the status and the field the 400 must name.
// ClientField, when set, notes the name the client's own protocol has for
// the field, where the codecs name it otherwise (documentation only).
type wantError struct {
	Status      int    `json:"status"`
	Param       string `json:"param"`
	ClientField string `json:"client_field,omitempty"`
}

// checkSemantics compares what the client receives with what it asked and
// what the upstream answered. None of it comes from the generated
// sections, so -update cannot make it pass.
func checkSemantics(t reporter, client, upstream string, a *archive, o *outcome) {
	t.Helper()
	if w, ok := a.get("want_error.json"); ok {
		checkRefusal(t, client, w, o)
		return
	}
	if o.reqErr != nil {
		t.Errorf("the request was refused (%d, param %q: %s); a case that expects a refusal says so in want_error.json",
			o.reqErr.Status, o.reqErr.Param, o.reqErr.Message)
		return
	}
	clientReq, _ := a.get("client_request.json")
	checkRequest(t, client, upstream, []byte(clientReq), o)
	if st, ok := a.get("upstream_status"); ok {
		body, _ := a.get("upstream_response.json")
		checkUpstreamError(t, client, upstream, st, []byte(body), o)
		return
	}
	if o.clientStatus == 0 {
		t.Errorf("the case has no upstream answer (upstream_response.json, upstream_stream.txt or upstream_events.txt)")
		return
	}
	if o.clientStatus != 200 {
		t.Errorf("the client got status %d, want 200", o.clientStatus)
		return
	}
	var up, got answer
	if o.wire != nil {
		up, got = readStream(upstream, o.wire), readStream(client, o.clientStream)
		if !up.ended || up.err != "" {
			checkBrokenStream(t, up, got)
			return
		}
		if !got.ended || got.err != "" {
			t.Errorf("the client stream did not end normally (ended %v, error %q)", got.ended, got.err)
		}
		if d, bad := sseDataInvalid(o.clientStream); bad {
			t.Errorf("the client stream has an event whose data is not JSON: %q", d)
		}
	} else {
		resp, _ := a.get("upstream_response.json")
		up, got = readAnswer(upstream, []byte(resp)), readAnswer(client, o.clientBody)
		if !json.Valid(o.clientBody) {
			t.Errorf("the client response is not JSON")
		}
	}
	compareAnswers(t, client, upstream, up, got)
	if up.hasUsage {
		want := up.usage
		m := o.meter
		got := usage{m.InputTokens, m.OutputTokens, m.CachedTokens, m.CacheWriteTokens, m.ReasoningTokens}
		if !o.meterOK || m.Estimated || got != want {
			t.Errorf("metered usage %v (reported %v, estimated %v), want the upstream's %v", got, o.meterOK, m.Estimated, want)
		}
	}
}

func checkRefusal(t reporter, client, raw string, o *outcome) {
	t.Helper()
	var want wantError
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&want); err != nil {
		t.Errorf("want_error.json: %v", err)
		return
	}
	if o.reqErr == nil {
		t.Errorf("want a %d naming %q; the request was translated", want.Status, want.Param)
		return
	}
	if o.reqErr.Status != want.Status || o.reqErr.Param != want.Param {
		t.Errorf("refused with %d naming %q (%s), want %d naming %q", o.reqErr.Status, o.reqErr.Param, o.reqErr.Message, want.Status, want.Param)
	}
	if o.clientStatus != want.Status {
		t.Errorf("the client got status %d, want %d", o.clientStatus, want.Status)
	}
	if !json.Valid(o.clientBody) {
		t.Errorf("the client's error body is not JSON: %s", o.clientBody)
	}
	_, kind, param, code := clientError(client, o.clientBody)
	if param != want.Param {
		t.Errorf("the client's error body names %q, want %q: %s", param, want.Param, o.clientBody)
	}
	if kind != "invalid_request" {
		t.Errorf("the client's error body is of kind %q, want invalid_request: %s", kind, o.clientBody)
	}
	if client == "gemini" && code != int64(want.Status) {
		t.Errorf("the Gemini error body says code %d, want %d", code, want.Status)
	}
}

func checkUpstreamError(t reporter, client, upstream, statusText string, body []byte, o *outcome) {
	t.Helper()
	status, _ := strconv.Atoi(strings.TrimSpace(statusText))
	if o.clientStatus != status {
		t.Errorf("the client got status %d, want the upstream's %d", o.clientStatus, status)
	}
	if !json.Valid(o.clientBody) {
		t.Errorf("the client's error body is not JSON: %s", o.clientBody)
	}
	want := upstreamErrorMessage(upstream, body)
	msg, kind, _, code := clientError(client, o.clientBody)
	if want == "" || !strings.Contains(msg, want) {
		t.Errorf("the client's error message %q does not carry the upstream's %q", msg, want)
	}
	wantKind := map[int]string{429: "rate_limit", 500: "server", 503: "overloaded", 529: "overloaded"}[status]
	if client == "openai" || client == "responses" {
		if wantKind == "overloaded" {
			wantKind = "server" // OpenAI has no overloaded type
		}
	}
	if kind != wantKind {
		t.Errorf("the client's error is of kind %q, want %q: %s", kind, wantKind, o.clientBody)
	}
	if client == "gemini" && code != int64(status) {
		t.Errorf("the Gemini error body says code %d, want %d", code, status)
	}
}

// checkBrokenStream checks a stream that the upstream broke off, with an
// error event or by ending before its terminal event: the client's stream
// must carry what had arrived and end with an error in its dialect, never
// with a stop of its own making.
func checkBrokenStream(t reporter, up, got answer) {
	t.Helper()
	if got.ended {
		t.Errorf("the upstream stream broke off (error %q), but the client stream ends normally (stop %q)", up.err, got.stop)
	}
	switch {
	case got.err == "":
		t.Errorf("the upstream stream broke off (error %q), but the client stream has no error", up.err)
	case up.err != "" && !strings.Contains(got.err, up.err):
		t.Errorf("the client stream's error %q does not carry the upstream's %q", got.err, up.err)
	case up.err == "" && !strings.Contains(got.err, "ended before its terminal event"):
		t.Errorf("the client stream's error %q does not say that the upstream stream ended early", got.err)
	}
	if got.errors > 1 {
		t.Errorf("the client stream has %d error events, want one (the first says %q)", got.errors, got.err)
	}
	if got.text != up.text {
		t.Errorf("text so far: the client got %q, the upstream sent %q", got.text, up.text)
	}
	if got.thinking != up.thinking {
		t.Errorf("thinking so far: the client got %q, the upstream sent %q", got.thinking, up.thinking)
	}
}

// checkRequest compares the client's request with the upstream request.
func checkRequest(t reporter, client, upstream string, clientReq []byte, o *outcome) {
	t.Helper()
	cl, ur := readRequest(client, clientReq), readRequest(upstream, o.upstreamBody)
	if !sameStrings(cl.system, ur.system) {
		t.Errorf("system prompt: the client sent %q, the upstream got %q", cl.system, ur.system)
	}
	if diff := cmp.Diff(cl.items, ur.items); diff != "" {
		t.Errorf("conversation (-client +upstream):\n%s", diff)
	}
	if diff := cmp.Diff(cl.tools, ur.tools); diff != "" {
		t.Errorf("tools (-client +upstream):\n%s", diff)
	}
	if cl.maxTokens != 0 && ur.maxTokens != cl.maxTokens {
		t.Errorf("max tokens: the client asked %d, the upstream got %d", cl.maxTokens, ur.maxTokens)
	}
	if cl.schema != ur.schema {
		t.Errorf("output schema: the client asked %s, the upstream got %s", cl.schema, ur.schema)
	}
	if protocolCaps[client].signatures && protocolCaps[upstream].signatures && !sameStrings(cl.thoughts, ur.thoughts) {
		t.Errorf("signed thinking: the client sent %q, the upstream got %q", cl.thoughts, ur.thoughts)
	}
	if n := ur.unsigned; n > 0 && (upstream == "anthropic" || upstream == "bedrock") {
		t.Errorf("the upstream request holds %d thinking block(s) without a signature, which Claude rejects "+
			"(the signature must come back with the thinking text)", n)
	}
	stream := fmt.Sprint(o.req.Stream)
	if cl.stream != "" && cl.stream != stream {
		t.Errorf("the client request says stream %s but the case's upstream answer is streamed=%s", cl.stream, stream)
	}
	if ur.stream != "" && ur.stream != stream {
		t.Errorf("the upstream request says stream %s, want %s", ur.stream, stream)
	}
	if !json.Valid(o.upstreamBody) {
		t.Errorf("the upstream request is not JSON")
	}
}

// compareAnswers requires the client's answer to say what the upstream's
// said, as far as the client's protocol can carry it.
func compareAnswers(t reporter, client, upstream string, up, got answer) {
	t.Helper()
	if got.text != up.text {
		t.Errorf("text: the client got %q, the upstream sent %q", got.text, up.text)
	}
	if got.thinking != up.thinking {
		t.Errorf("thinking: the client got %q, the upstream sent %q", got.thinking, up.thinking)
	}
	cc, uc := protocolCaps[client], protocolCaps[upstream]
	switch {
	case cc.signatures && uc.signatures:
		if !sameStrings(got.sigs, up.sigs) {
			t.Errorf("thinking signatures: the client got %q, the upstream sent %q", got.sigs, up.sigs)
		}
	case len(got.sigs) > 0:
		t.Errorf("thinking signatures: the client got %q, the upstream sent none it could carry", got.sigs)
	}
	if !sameCalls(got.calls, up.calls) {
		t.Errorf("tool calls: the client got %+v, the upstream sent %+v", got.calls, up.calls)
	}
	if got.stop != up.stop {
		t.Errorf("stop: the client got %q, the upstream sent %q", got.stop, up.stop)
	}
	if up.hasUsage {
		want := up.usage
		g := got.usage
		if !cc.cacheWrite {
			g.cacheWrite = want.cacheWrite // the client's protocol cannot say it
		}
		if !cc.reasoning {
			g.reasoning = want.reasoning
		}
		switch {
		case !got.hasUsage:
			t.Errorf("usage: the client got none, the upstream sent %v", want)
		case g != want:
			t.Errorf("usage: the client got %v, the upstream sent %v", got.usage, want)
		}
	}
	if up.argDeltas > 1 && client != "gemini" && got.argDeltas < 2 {
		t.Errorf("tool arguments: the upstream streamed %d fragments, the client got %d (buffered)", up.argDeltas, got.argDeltas)
	}
}

// sameCalls compares tool calls by name and arguments; arguments that the
// upstream cut short (not JSON, as when max tokens ends a call) cannot be
// carried as they are, so only the name is compared.
func sameCalls(got, up []call) bool {
	if len(got) != len(up) {
		return false
	}
	for i := range up {
		if got[i].name != up[i].name || (got[i].args != up[i].args && !strings.HasPrefix(up[i].args, "INVALID JSON")) {
			return false
		}
	}
	return true
}

// TestReaders checks the wire readers on small inputs, so that a wrong
// reader cannot make a translation look right.
func TestReaders(t *testing.T) {
	oa := readAnswer("openai", []byte(`{"choices":[{"message":{"content":"hi","reasoning_content":"r","tool_calls":[{"function":{"name":"f","arguments":"{\"b\":1, \"a\":2}"}}]},"finish_reason":"stop"}],
		"usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":4,"cache_write_tokens":1},"completion_tokens_details":{"reasoning_tokens":2}}}`))
	want := answer{text: "hi", thinking: "r", calls: []call{{"f", `{"a":2,"b":1}`}}, stop: "tool", usage: usage{10, 5, 4, 1, 2}, hasUsage: true}
	if diff := cmp.Diff(want, oa, cmp.AllowUnexported(answer{}, call{}, usage{})); diff != "" {
		t.Errorf("openai answer (-want +got):\n%s", diff)
	}
	an := readAnswer("anthropic", []byte(`{"content":[{"type":"thinking","thinking":"r","signature":"s"},{"type":"text","text":"hi"}],"stop_reason":"max_tokens",
		"usage":{"input_tokens":3,"cache_creation_input_tokens":1,"cache_read_input_tokens":4,"output_tokens":5,"output_tokens_details":{"thinking_tokens":2}}}`))
	want = answer{text: "hi", thinking: "r", sigs: []string{"s"}, stop: "length", usage: usage{8, 5, 4, 1, 2}, hasUsage: true}
	if diff := cmp.Diff(want, an, cmp.AllowUnexported(answer{}, call{}, usage{})); diff != "" {
		t.Errorf("anthropic answer (-want +got):\n%s", diff)
	}
	st := readStream("anthropic", []byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n"+
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"name\":\"f\",\"input\":{}}}\n\n"+
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\"\"}}\n\n"+
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\":1}\"}}\n\n"+
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":7}}\n\n"+
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"))
	want = answer{calls: []call{{"f", `{"a":1}`}}, stop: "tool", usage: usage{in: 3, out: 7}, hasUsage: true, argDeltas: 2, ended: true}
	if diff := cmp.Diff(want, st, cmp.AllowUnexported(answer{}, call{}, usage{})); diff != "" {
		t.Errorf("anthropic stream (-want +got):\n%s", diff)
	}
	gm := readStream("gemini", []byte("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\",\"thought\":true}]}}]}\r\n\r\n"+
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"b\",\"thoughtSignature\":\"s\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":9,\"candidatesTokenCount\":2,\"thoughtsTokenCount\":3,\"cachedContentTokenCount\":4}}\r\n\r\n"))
	want = answer{text: "b", thinking: "a", sigs: []string{"s"}, stop: "end", usage: usage{9, 5, 4, 0, 3}, hasUsage: true, ended: true}
	if diff := cmp.Diff(want, gm, cmp.AllowUnexported(answer{}, call{}, usage{})); diff != "" {
		t.Errorf("gemini stream (-want +got):\n%s", diff)
	}
	evs, _ := parseFrameEvents(`messageStart {"role":"assistant"}
contentBlockStart {"contentBlockIndex":0,"start":{"toolUse":{"toolUseId":"t","name":"f"}}}
contentBlockDelta {"contentBlockIndex":0,"delta":{"toolUse":{"input":"{}"}}}
messageStop {"stopReason":"tool_use"}
metadata {"usage":{"inputTokens":1,"outputTokens":2,"cacheReadInputTokens":3,"cacheWriteInputTokens":4}}`)
	br := readStream("bedrock", encodeFrames(evs))
	want = answer{calls: []call{{"f", `{}`}}, stop: "tool", usage: usage{8, 2, 3, 4, 0}, hasUsage: true, argDeltas: 1, ended: true}
	if diff := cmp.Diff(want, br, cmp.AllowUnexported(answer{}, call{}, usage{})); diff != "" {
		t.Errorf("bedrock stream (-want +got):\n%s", diff)
	}
	tr := readRequest("openai", []byte(`{"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"u"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]},
		{"role":"assistant","content":null,"tool_calls":[{"id":"c1","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"ok"}],"max_tokens":5}`))
	wantTr := transcript{system: []string{"s"}, items: []string{"user:text:u", "user:image:png:AAAA", "assistant:call:f {}", "user:result:f ok"}, maxTokens: 5, stream: "false"}
	if diff := cmp.Diff(wantTr, tr, cmp.AllowUnexported(transcript{})); diff != "" {
		t.Errorf("openai request (-want +got):\n%s", diff)
	}
	msg, kind, param, code := clientError("gemini", []byte(`{"error":{"code":400,"message":"m","status":"INVALID_ARGUMENT","details":[{"fieldViolations":[{"field":"seed"}]}]}}`))
	if msg != "m" || kind != "invalid_request" || param != "seed" || code != 400 {
		t.Errorf("gemini error: %q %q %q %d", msg, kind, param, code)
	}
	if _, bad := sseDataInvalid([]byte("data: {}\n\ndata: [DONE]\n\n")); bad {
		t.Error("a valid stream was reported invalid")
	}
	if _, bad := sseDataInvalid([]byte("data: {\n\n")); !bad {
		t.Error("an invalid payload was not reported")
	}
	if !bytes.Equal([]byte(normSchema(`{"type":"OBJECT","propertyOrdering":["a"],"properties":{"a":{"type":"STRING"}}}`)),
		[]byte(`{"properties":{"a":{"type":"string"}},"type":"object"}`)) {
		t.Error("normSchema")
	}
}
