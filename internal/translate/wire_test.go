package translate

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
)

// Readers of each wire format, written from the providers' documentation
// and independent of the codecs: they reduce a request to a transcript and
// an answer (complete or streamed) to what a user of it sees, so that the
// two sides of a translation can be compared.

// usage is a usage report in the canonical convention: in includes cached
// and cache-write tokens, out includes reasoning tokens.
type usage struct {
	in, out, cached, cacheWrite, reasoning int64
}

func (u usage) String() string {
	return fmt.Sprintf("in=%d out=%d cached=%d cache_write=%d reasoning=%d", u.in, u.out, u.cached, u.cacheWrite, u.reasoning)
}

type call struct {
	name, args string // args as canonical JSON
}

// answer is what an answer says.
type answer struct {
	text      string
	thinking  string
	sigs      []string // thinking signatures, in order
	calls     []call
	stop      string // end, length, tool or filter
	usage     usage
	hasUsage  bool
	argDeltas int    // streams: the number of tool-argument fragments
	ended     bool   // streams: the terminal event was seen
	err       string // the first error event's message
	errors    int    // the number of error events
}

func (a *answer) fail(msg string) {
	if a.errors == 0 {
		a.err = msg
	}
	a.errors++
}

// capabilities says what a protocol's answers can carry.
type capabilities struct {
	signatures, cacheWrite, reasoning bool
}

var protocolCaps = map[string]capabilities{
	"openai":    {signatures: false, cacheWrite: true, reasoning: true},
	"responses": {signatures: true, cacheWrite: true, reasoning: true},
	"anthropic": {signatures: true, cacheWrite: true, reasoning: true},
	"gemini":    {signatures: true, cacheWrite: false, reasoning: true},
	"bedrock":   {signatures: true, cacheWrite: true, reasoning: false},
}

// canonJSON re-encodes JSON text with sorted keys and no space.
func canonJSON(s string) string {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return "INVALID JSON " + s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// finish sets the stop class, counting a plain stop with tool calls as a
// tool stop (Gemini and Responses have no tool stop of their own).
func (a *answer) finish(class string) {
	if class == "end" && len(a.calls) > 0 {
		class = "tool"
	}
	a.stop = class
}

func (a *answer) addSig(s string) {
	if s != "" {
		a.sigs = append(a.sigs, s)
	}
}

// Stop reasons by protocol, reduced to end, length, tool and filter.
var stopClasses = map[string]map[string]string{
	"openai": {"stop": "end", "length": "length", "tool_calls": "tool", "content_filter": "filter"},
	"anthropic": {"end_turn": "end", "stop_sequence": "end", "pause_turn": "end", "max_tokens": "length",
		"model_context_window_exceeded": "length", "tool_use": "tool", "refusal": "filter"},
	"gemini": {"STOP": "end", "MAX_TOKENS": "length", "SAFETY": "filter", "RECITATION": "filter",
		"BLOCKLIST": "filter", "PROHIBITED_CONTENT": "filter", "SPII": "filter"},
	"bedrock": {"end_turn": "end", "stop_sequence": "end", "tool_use": "tool", "max_tokens": "length",
		"model_context_window_exceeded": "length", "guardrail_intervened": "filter", "content_filtered": "filter"},
}

func stopClass(proto, reason string) string {
	if c, ok := stopClasses[proto][reason]; ok {
		return c
	}
	return "unknown:" + reason
}

// readAnswer reads a complete answer body.
func readAnswer(proto string, body []byte) answer {
	r := gjson.ParseBytes(body)
	switch proto {
	case "openai":
		return openaiAnswer(r)
	case "responses":
		return responsesAnswer(r)
	case "anthropic":
		return anthropicAnswer(r)
	case "gemini":
		var a answer
		geminiChunk(&a, r)
		return a
	case "bedrock":
		return bedrockAnswer(r)
	}
	panic("unknown protocol " + proto)
}

func openaiUsage(u gjson.Result) usage {
	return usage{
		in:         u.Get("prompt_tokens").Int(),
		out:        u.Get("completion_tokens").Int(),
		cached:     u.Get("prompt_tokens_details.cached_tokens").Int(),
		cacheWrite: u.Get("prompt_tokens_details.cache_write_tokens").Int(),
		reasoning:  u.Get("completion_tokens_details.reasoning_tokens").Int(),
	}
}

func openaiAnswer(r gjson.Result) answer {
	var a answer
	m := r.Get("choices.0.message")
	a.text = m.Get("content").Str
	a.thinking = m.Get("reasoning_content").Str
	if a.thinking == "" {
		a.thinking = m.Get("reasoning").Str
	}
	for _, tc := range m.Get("tool_calls").Array() {
		a.calls = append(a.calls, call{tc.Get("function.name").Str, canonJSON(tc.Get("function.arguments").Str)})
	}
	a.finish(stopClass("openai", r.Get("choices.0.finish_reason").Str))
	if u := r.Get("usage"); u.IsObject() {
		a.usage, a.hasUsage = openaiUsage(u), true
	}
	return a
}

func responsesAnswer(r gjson.Result) answer {
	var a answer
	for _, it := range r.Get("output").Array() {
		switch it.Get("type").Str {
		case "message":
			for _, c := range it.Get("content").Array() {
				a.text += c.Get("text").Str
			}
		case "reasoning":
			var texts []string
			for _, s := range it.Get("summary").Array() {
				texts = append(texts, s.Get("text").Str)
			}
			a.thinking += strings.Join(texts, "\n\n")
			a.addSig(it.Get("encrypted_content").Str)
		case "function_call":
			a.calls = append(a.calls, call{it.Get("name").Str, canonJSON(it.Get("arguments").Str)})
		}
	}
	switch r.Get("status").Str {
	case "completed":
		a.finish("end")
	case "incomplete":
		a.finish(map[string]string{"max_output_tokens": "length", "content_filter": "filter"}[r.Get("incomplete_details.reason").Str])
	default:
		a.finish("unknown:" + r.Get("status").Str)
	}
	if u := r.Get("usage"); u.IsObject() {
		a.hasUsage = true
		a.usage = usage{
			in:         u.Get("input_tokens").Int(),
			out:        u.Get("output_tokens").Int(),
			cached:     u.Get("input_tokens_details.cached_tokens").Int(),
			cacheWrite: u.Get("input_tokens_details.cache_write_tokens").Int(),
			reasoning:  u.Get("output_tokens_details.reasoning_tokens").Int(),
		}
	}
	return a
}

// anthropicUsage applies the figures present in u (Anthropic's input
// excludes cache reads and writes).
func anthropicUsage(dst *usage, raw *[4]int64, u gjson.Result) {
	for i, k := range []string{"input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens"} {
		if v := u.Get(k); v.Exists() && v.Type != gjson.Null {
			raw[i] = v.Int()
		}
	}
	if v := u.Get("output_tokens_details.thinking_tokens"); v.Exists() {
		dst.reasoning = v.Int()
	}
	dst.in = raw[0] + raw[1] + raw[2]
	dst.cacheWrite, dst.cached, dst.out = raw[1], raw[2], raw[3]
}

func anthropicAnswer(r gjson.Result) answer {
	var a answer
	for _, b := range r.Get("content").Array() {
		switch b.Get("type").Str {
		case "text":
			a.text += b.Get("text").Str
		case "thinking":
			a.thinking += b.Get("thinking").Str
			a.addSig(b.Get("signature").Str)
		case "tool_use":
			a.calls = append(a.calls, call{b.Get("name").Str, canonJSON(b.Get("input").Raw)})
		}
	}
	a.finish(stopClass("anthropic", r.Get("stop_reason").Str))
	if u := r.Get("usage"); u.IsObject() {
		var raw [4]int64
		anthropicUsage(&a.usage, &raw, u)
		a.hasUsage = true
	}
	return a
}

// geminiChunk adds a generateContent answer (or one stream chunk) to a.
func geminiChunk(a *answer, r gjson.Result) {
	cand := r.Get("candidates.0")
	for _, p := range cand.Get("content.parts").Array() {
		if p.Get("thought").Bool() {
			a.thinking += p.Get("text").Str
			a.addSig(p.Get("thoughtSignature").Str)
			continue
		}
		a.addSig(p.Get("thoughtSignature").Str)
		switch {
		case p.Get("functionCall").Exists():
			args := p.Get("functionCall.args").Raw
			if args == "" {
				args = "{}"
			}
			a.calls = append(a.calls, call{p.Get("functionCall.name").Str, canonJSON(args)})
			a.argDeltas++
		default:
			a.text += p.Get("text").Str
		}
	}
	if f := cand.Get("finishReason").Str; f != "" {
		a.finish(stopClass("gemini", f))
		a.ended = true
	}
	if u := r.Get("usageMetadata"); u.IsObject() {
		a.hasUsage = true
		a.usage = usage{
			in:        u.Get("promptTokenCount").Int() + u.Get("toolUsePromptTokenCount").Int(),
			out:       u.Get("candidatesTokenCount").Int() + u.Get("thoughtsTokenCount").Int(),
			cached:    u.Get("cachedContentTokenCount").Int(),
			reasoning: u.Get("thoughtsTokenCount").Int(),
		}
	}
	if e := r.Get("error"); e.IsObject() {
		a.fail(e.Get("message").Str)
	}
}

func bedrockUsage(u gjson.Result) usage {
	read, write := u.Get("cacheReadInputTokens").Int(), u.Get("cacheWriteInputTokens").Int()
	return usage{in: u.Get("inputTokens").Int() + read + write, out: u.Get("outputTokens").Int(), cached: read, cacheWrite: write}
}

func bedrockAnswer(r gjson.Result) answer {
	var a answer
	for _, b := range r.Get("output.message.content").Array() {
		switch {
		case b.Get("text").Exists():
			a.text += b.Get("text").Str
		case b.Get("toolUse").Exists():
			a.calls = append(a.calls, call{b.Get("toolUse.name").Str, canonJSON(b.Get("toolUse.input").Raw)})
		case b.Get("reasoningContent.reasoningText").Exists():
			a.thinking += b.Get("reasoningContent.reasoningText.text").Str
			a.addSig(b.Get("reasoningContent.reasoningText.signature").Str)
		}
	}
	a.finish(stopClass("bedrock", r.Get("stopReason").Str))
	if u := r.Get("usage"); u.IsObject() {
		a.usage, a.hasUsage = bedrockUsage(u), true
	}
	return a
}

// sseEvent is one server-sent event.
type sseEvent struct {
	name, data string
}

// parseSSE splits a stream into events (LF or CRLF line ends).
func parseSSE(b []byte) []sseEvent {
	var out []sseEvent
	var cur sseEvent
	var data []string
	has := false
	for _, line := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		switch {
		case line == "":
			if has {
				cur.data = strings.Join(data, "\n")
				out = append(out, cur)
			}
			cur, data, has = sseEvent{}, nil, false
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			cur.name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			d := strings.TrimPrefix(line, "data:")
			data = append(data, strings.TrimPrefix(d, " "))
			has = true
		}
	}
	// An event that the stream ends inside is discarded, as the SSE
	// specification says.
	return out
}

// readStream reads a streamed answer.
func readStream(proto string, b []byte) answer {
	switch proto {
	case "openai":
		return openaiStream(b)
	case "responses":
		return responsesStream(b)
	case "anthropic":
		return anthropicStream(b)
	case "gemini":
		var a answer
		for _, ev := range parseSSE(b) {
			geminiChunk(&a, gjson.Parse(ev.data))
		}
		return a
	case "bedrock":
		return bedrockStream(b)
	}
	panic("unknown protocol " + proto)
}

func openaiStream(b []byte) answer {
	var a answer
	type tc struct {
		name string
		args strings.Builder
	}
	var calls []*tc
	finish := ""
	for _, ev := range parseSSE(b) {
		if ev.data == "[DONE]" {
			a.ended = true
			continue
		}
		r := gjson.Parse(ev.data)
		if e := r.Get("error"); e.IsObject() {
			a.fail(e.Get("message").Str)
			continue
		}
		for _, ch := range r.Get("choices").Array() {
			d := ch.Get("delta")
			a.text += d.Get("content").Str
			a.thinking += d.Get("reasoning_content").Str + d.Get("reasoning").Str
			for _, c := range d.Get("tool_calls").Array() {
				i := int(c.Get("index").Int())
				for len(calls) <= i {
					calls = append(calls, &tc{})
				}
				if n := c.Get("function.name").Str; n != "" {
					calls[i].name = n
				}
				if s := c.Get("function.arguments").Str; s != "" {
					calls[i].args.WriteString(s)
					a.argDeltas++
				}
			}
			if f := ch.Get("finish_reason").Str; f != "" {
				finish = f
			}
		}
		if u := r.Get("usage"); u.IsObject() {
			a.usage, a.hasUsage = openaiUsage(u), true
		}
	}
	for _, c := range calls {
		a.calls = append(a.calls, call{c.name, canonJSON(c.args.String())})
	}
	a.finish(stopClass("openai", finish))
	return a
}

// responsesStream reads the final response object, and checks that the
// deltas add up to it.
func responsesStream(b []byte) answer {
	var a answer
	var text, thinking strings.Builder
	for _, ev := range parseSSE(b) {
		r := gjson.Parse(ev.data)
		switch r.Get("type").Str {
		case "response.output_text.delta":
			text.WriteString(r.Get("delta").Str)
		case "response.reasoning_summary_text.delta":
			thinking.WriteString(r.Get("delta").Str)
		case "response.function_call_arguments.delta":
			a.argDeltas++
		case "response.completed", "response.incomplete":
			d := a.argDeltas
			a = responsesAnswer(r.Get("response"))
			a.argDeltas, a.ended = d, true
		case "response.failed":
			d, e, n := a.argDeltas, a.err, a.errors
			a = responsesAnswer(r.Get("response"))
			a.argDeltas, a.err, a.errors = d, e, n
		case "error":
			a.fail(r.Get("message").Str)
		}
	}
	if text.String() != a.text || thinking.String() != a.thinking {
		a.fail(fmt.Sprintf("the deltas (text %q, thinking %q) do not add up to the final response (%q, %q)",
			text.String(), thinking.String(), a.text, a.thinking))
	}
	return a
}

func anthropicStream(b []byte) answer {
	var a answer
	type block struct {
		typ, name, text, sig string
		args                 strings.Builder
	}
	var blocks []*block
	byIndex := map[int64]*block{}
	var raw [4]int64
	stop := ""
	for _, ev := range parseSSE(b) {
		r := gjson.Parse(ev.data)
		switch r.Get("type").Str {
		case "message_start":
			if u := r.Get("message.usage"); u.IsObject() {
				anthropicUsage(&a.usage, &raw, u)
				a.hasUsage = true
			}
		case "content_block_start":
			cb := r.Get("content_block")
			bl := &block{typ: cb.Get("type").Str, name: cb.Get("name").Str, text: cb.Get("text").Str + cb.Get("thinking").Str, sig: cb.Get("signature").Str}
			blocks = append(blocks, bl)
			byIndex[r.Get("index").Int()] = bl
		case "content_block_delta":
			bl := byIndex[r.Get("index").Int()]
			if bl == nil {
				a.fail("a delta for a block that did not start")
				continue
			}
			d := r.Get("delta")
			switch d.Get("type").Str {
			case "text_delta":
				bl.text += d.Get("text").Str
			case "thinking_delta":
				bl.text += d.Get("thinking").Str
			case "signature_delta":
				bl.sig += d.Get("signature").Str
			case "input_json_delta":
				bl.args.WriteString(d.Get("partial_json").Str)
				a.argDeltas++
			}
		case "message_delta":
			if s := r.Get("delta.stop_reason").Str; s != "" {
				stop = s
			}
			if u := r.Get("usage"); u.IsObject() {
				anthropicUsage(&a.usage, &raw, u)
				a.hasUsage = true
			}
		case "message_stop":
			a.ended = true
		case "error":
			a.fail(r.Get("error.message").Str)
		}
	}
	for _, bl := range blocks {
		switch bl.typ {
		case "text":
			a.text += bl.text
		case "thinking":
			a.thinking += bl.text
			a.addSig(bl.sig)
		case "tool_use":
			args := bl.args.String()
			if args == "" {
				args = "{}"
			}
			a.calls = append(a.calls, call{bl.name, canonJSON(args)})
		}
	}
	a.finish(stopClass("anthropic", stop))
	return a
}

func bedrockStream(b []byte) answer {
	var a answer
	evs, err := decodeFrames(b)
	if err != nil {
		a.fail(err.Error())
	}
	type tool struct {
		name string
		args strings.Builder
	}
	tools := map[int64]*tool{}
	var order []int64
	stop := ""
	for _, ev := range evs {
		r := gjson.ParseBytes(ev.payload)
		if ev.exception {
			a.fail(r.Get("message").Str)
			continue
		}
		i := r.Get("contentBlockIndex").Int()
		switch ev.typ {
		case "contentBlockStart":
			if tu := r.Get("start.toolUse"); tu.Exists() {
				tools[i] = &tool{name: tu.Get("name").Str}
				order = append(order, i)
			}
		case "contentBlockDelta":
			d := r.Get("delta")
			switch {
			case d.Get("text").Exists():
				a.text += d.Get("text").Str
			case d.Get("toolUse").Exists():
				if tools[i] != nil {
					tools[i].args.WriteString(d.Get("toolUse.input").Str)
					a.argDeltas++
				}
			case d.Get("reasoningContent.text").Exists():
				a.thinking += d.Get("reasoningContent.text").Str
			case d.Get("reasoningContent.signature").Exists():
				a.addSig(d.Get("reasoningContent.signature").Str)
			}
		case "messageStop":
			stop = r.Get("stopReason").Str
			a.ended = true
		case "metadata":
			if u := r.Get("usage"); u.IsObject() {
				a.usage, a.hasUsage = bedrockUsage(u), true
			}
		}
	}
	for _, i := range order {
		args := tools[i].args.String()
		if args == "" {
			args = "{}"
		}
		a.calls = append(a.calls, call{tools[i].name, canonJSON(args)})
	}
	a.finish(stopClass("bedrock", stop))
	return a
}

// clientError reads an error body in a client's dialect: its message, its
// kind (rate_limit, server, invalid_request, ...), the field it names, and
// the status it states (Gemini's code; 0 for the others).
func clientError(proto string, body []byte) (msg, kind, param string, code int64) {
	r := gjson.ParseBytes(body)
	switch proto {
	case "openai", "responses":
		kind = strings.TrimSuffix(r.Get("error.type").Str, "_error")
		return r.Get("error.message").Str, kind, r.Get("error.param").Str, 0
	case "anthropic":
		msg = r.Get("error.message").Str
		kind = map[string]string{"rate_limit_error": "rate_limit", "api_error": "server", "overloaded_error": "overloaded",
			"invalid_request_error": "invalid_request"}[r.Get("error.type").Str]
		if p, _, ok := strings.Cut(msg, ": "); ok {
			param = p
		}
		return msg, kind, param, 0
	case "gemini":
		kind = map[string]string{"RESOURCE_EXHAUSTED": "rate_limit", "INTERNAL": "server", "UNAVAILABLE": "overloaded",
			"INVALID_ARGUMENT": "invalid_request"}[r.Get("error.status").Str]
		return r.Get("error.message").Str, kind, r.Get("error.details.0.fieldViolations.0.field").Str, r.Get("error.code").Int()
	}
	panic("unknown protocol " + proto)
}

// upstreamErrorMessage reads the message of an upstream's error body.
func upstreamErrorMessage(proto string, body []byte) string {
	r := gjson.ParseBytes(body)
	if proto == "bedrock" {
		return r.Get("message").Str
	}
	return r.Get("error.message").Str
}

// sseDataInvalid returns the first data payload of a client stream that is
// not JSON ([DONE] aside).
func sseDataInvalid(b []byte) (string, bool) {
	for _, ev := range parseSSE(b) {
		if ev.data != "[DONE]" && !json.Valid([]byte(ev.data)) {
			return ev.data, true
		}
	}
	return "", false
}

// sameStrings compares lists, treating nil and empty alike.
func sameStrings(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || slices.Equal(a, b))
}
