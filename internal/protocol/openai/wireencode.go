package openai

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/protocol/rawjson"
)

// The request encoder writes the wire types with append calls, byte for
// byte what marshal (encoding/json without HTML escaping) writes for them
// (FuzzWireEncode holds it to that), into a pooled buffer.

// errUnsupportedFloat is encoding/json's refusal of NaN and infinities.
var errUnsupportedFloat = errors.New("json: unsupported value: NaN or infinite number")

var encodeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// encodeChatRequest renders w as marshal(w) does, in a fresh slice of the
// exact size.
func encodeChatRequest(w *oa.ChatRequest) ([]byte, error) {
	bp := encodeBuffers.Get().(*[]byte)
	b, err := appendChatRequest((*bp)[:0], w)
	var out []byte
	if err == nil {
		out = append(make([]byte, 0, len(b)), b...)
	}
	if cap(b) <= 1<<20 { // a huge request's buffer is not kept
		*bp = b[:0]
		encodeBuffers.Put(bp)
	}
	return out, err
}

// appendRaw writes a raw value as encoding/json writes a json.RawMessage:
// compacted, after checking it when trusted is false (marshal fails on
// invalid JSON).
func appendRaw(b []byte, raw json.RawMessage, trusted bool) ([]byte, error) {
	if raw == nil {
		return append(b, "null"...), nil
	}
	if !trusted && string(raw) != "null" && !json.Valid(raw) {
		return b, errors.New("json: error calling MarshalJSON for type json.RawMessage: invalid JSON")
	}
	return rawjson.AppendCompact(b, raw), nil
}

func appendKey(b []byte, first *bool, key string) []byte {
	if !*first {
		b = append(b, ',')
	}
	*first = false
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

func appendStr(b []byte, s string) []byte { return rawjson.AppendString(b, s, false) }

func appendBool(b []byte, v bool) []byte { return strconv.AppendBool(b, v) }

func appendChatRequest(b []byte, w *oa.ChatRequest) ([]byte, error) {
	var err error
	ok := true
	f := true
	b = append(b, '{')
	b = appendStr(appendKey(b, &f, "model"), w.Model)
	b = appendKey(b, &f, "messages")
	if w.Messages == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range w.Messages {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendChatMessage(b, &w.Messages[i])
		}
		b = append(b, ']')
	}
	if len(w.Tools) > 0 {
		b = append(appendKey(b, &f, "tools"), '[')
		for i := range w.Tools {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendChatTool(b, &w.Tools[i])
		}
		b = append(b, ']')
	}
	if len(w.ToolChoice) > 0 {
		if b, err = appendRaw(appendKey(b, &f, "tool_choice"), w.ToolChoice, false); err != nil {
			return b, err
		}
	}
	if w.ParallelToolCalls != nil {
		b = appendBool(appendKey(b, &f, "parallel_tool_calls"), *w.ParallelToolCalls)
	}
	if w.MaxTokens != nil {
		b = strconv.AppendInt(appendKey(b, &f, "max_tokens"), int64(*w.MaxTokens), 10)
	}
	if w.MaxCompletionTokens != nil {
		b = strconv.AppendInt(appendKey(b, &f, "max_completion_tokens"), int64(*w.MaxCompletionTokens), 10)
	}
	floatField := func(key string, v *float64) {
		if v != nil && ok {
			b, ok = rawjson.AppendFloat(appendKey(b, &f, key), *v)
		}
	}
	floatField("temperature", w.Temperature)
	floatField("top_p", w.TopP)
	if w.TopK != nil {
		b = strconv.AppendInt(appendKey(b, &f, "top_k"), int64(*w.TopK), 10)
	}
	if len(w.Stop) > 0 {
		if b, err = appendRaw(appendKey(b, &f, "stop"), w.Stop, false); err != nil {
			return b, err
		}
	}
	if w.Seed != nil {
		b = strconv.AppendInt(appendKey(b, &f, "seed"), *w.Seed, 10)
	}
	floatField("frequency_penalty", w.FrequencyPenalty)
	floatField("presence_penalty", w.PresencePenalty)
	if !ok {
		return b, errUnsupportedFloat
	}
	if rf := w.ResponseFormat; rf != nil {
		g := true
		b = append(appendKey(b, &f, "response_format"), '{')
		b = appendStr(appendKey(b, &g, "type"), rf.Type)
		if js := rf.JSONSchema; js != nil {
			h := true
			b = append(appendKey(b, &g, "json_schema"), '{')
			b = appendStr(appendKey(b, &h, "name"), js.Name)
			if js.Description != "" {
				b = appendStr(appendKey(b, &h, "description"), js.Description)
			}
			if len(js.Schema) > 0 {
				if b, err = appendRaw(appendKey(b, &h, "schema"), js.Schema, false); err != nil {
					return b, err
				}
			}
			if js.Strict != nil {
				b = appendBool(appendKey(b, &h, "strict"), *js.Strict)
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	if w.ReasoningEffort != "" {
		b = appendStr(appendKey(b, &f, "reasoning_effort"), w.ReasoningEffort)
	}
	if w.Stream {
		b = appendBool(appendKey(b, &f, "stream"), true)
	}
	if so := w.StreamOptions; so != nil {
		g := true
		b = append(appendKey(b, &f, "stream_options"), '{')
		if so.IncludeUsage {
			b = appendBool(appendKey(b, &g, "include_usage"), true)
		}
		if so.IncludeObfuscation != nil {
			b = appendBool(appendKey(b, &g, "include_obfuscation"), *so.IncludeObfuscation)
		}
		b = append(b, '}')
	}
	if w.User != "" {
		b = appendStr(appendKey(b, &f, "user"), w.User)
	}
	if w.SafetyIdentifier != "" {
		b = appendStr(appendKey(b, &f, "safety_identifier"), w.SafetyIdentifier)
	}
	if w.N != nil {
		b = strconv.AppendInt(appendKey(b, &f, "n"), int64(*w.N), 10)
	}
	return append(b, '}'), nil
}

func appendChatMessage(b []byte, m *oa.ChatMessage) []byte {
	f := true
	b = append(b, '{')
	b = appendStr(appendKey(b, &f, "role"), m.Role)
	if len(m.Content) > 0 {
		// EncodeRequest built it compact, as marshal would write it: it
		// goes as it is.
		b = append(appendKey(b, &f, "content"), m.Content...)
	}
	if m.Name != "" {
		b = appendStr(appendKey(b, &f, "name"), m.Name)
	}
	if len(m.ToolCalls) > 0 {
		b = append(appendKey(b, &f, "tool_calls"), '[')
		for i, tc := range m.ToolCalls {
			if i > 0 {
				b = append(b, ',')
			}
			g := true
			b = append(b, '{')
			b = appendStr(appendKey(b, &g, "id"), tc.ID)
			b = appendStr(appendKey(b, &g, "type"), tc.Type)
			h := true
			b = append(appendKey(b, &g, "function"), '{')
			b = appendStr(appendKey(b, &h, "name"), tc.Function.Name)
			b = appendStr(appendKey(b, &h, "arguments"), tc.Function.Arguments)
			b = append(b, '}', '}')
		}
		b = append(b, ']')
	}
	if m.ToolCallID != "" {
		b = appendStr(appendKey(b, &f, "tool_call_id"), m.ToolCallID)
	}
	if m.Refusal != nil {
		b = appendStr(appendKey(b, &f, "refusal"), *m.Refusal)
	}
	if m.ReasoningContent != "" {
		b = appendStr(appendKey(b, &f, "reasoning_content"), m.ReasoningContent)
	}
	if m.Reasoning != "" {
		b = appendStr(appendKey(b, &f, "reasoning"), m.Reasoning)
	}
	return append(b, '}')
}

// textJSON is marshal(s): s as a JSON string.
func textJSON(s string) json.RawMessage { return appendStr(make([]byte, 0, len(s)+2), s) }

// partsJSON is marshal(parts).
func partsJSON(parts []oa.ChatContentPart) json.RawMessage {
	b, _ := appendContentParts(nil, parts) // text and image parts only: no raw values
	return b
}

func appendChatTool(b []byte, t *oa.ChatTool) []byte {
	f := true
	b = append(b, '{')
	b = appendStr(appendKey(b, &f, "type"), t.Type)
	g := true
	b = append(appendKey(b, &f, "function"), '{')
	b = appendStr(appendKey(b, &g, "name"), t.Function.Name)
	if t.Function.Description != "" {
		b = appendStr(appendKey(b, &g, "description"), t.Function.Description)
	}
	if len(t.Function.Parameters) > 0 {
		// Valid JSON: EncodeRequest checked it.
		b, _ = appendRaw(appendKey(b, &g, "parameters"), t.Function.Parameters, true)
	}
	if t.Function.Strict != nil {
		b = appendBool(appendKey(b, &g, "strict"), *t.Function.Strict)
	}
	return append(b, '}', '}')
}

// appendContentParts writes a list of content parts as marshal does.
func appendContentParts(b []byte, parts []oa.ChatContentPart) ([]byte, error) {
	if parts == nil {
		return append(b, "null"...), nil
	}
	var err error
	b = append(b, '[')
	for i := range parts {
		p := &parts[i]
		if i > 0 {
			b = append(b, ',')
		}
		f := true
		b = append(b, '{')
		b = appendStr(appendKey(b, &f, "type"), p.Type)
		if p.Text != "" {
			b = appendStr(appendKey(b, &f, "text"), p.Text)
		}
		if u := p.ImageURL; u != nil {
			g := true
			b = append(appendKey(b, &f, "image_url"), '{')
			b = appendStr(appendKey(b, &g, "url"), u.URL)
			if u.Detail != "" {
				b = appendStr(appendKey(b, &g, "detail"), u.Detail)
			}
			b = append(b, '}')
		}
		if len(p.InputAudio) > 0 {
			if b, err = appendRaw(appendKey(b, &f, "input_audio"), p.InputAudio, false); err != nil {
				return b, err
			}
		}
		if len(p.File) > 0 {
			if b, err = appendRaw(appendKey(b, &f, "file"), p.File, false); err != nil {
				return b, err
			}
		}
		if p.Refusal != "" {
			b = appendStr(appendKey(b, &f, "refusal"), p.Refusal)
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// appendChatChunk writes a stream chunk as marshal does.
func appendChatChunk(b []byte, c *oa.ChatChunk) ([]byte, error) {
	f := true
	b = append(b, '{')
	b = appendStr(appendKey(b, &f, "id"), c.ID)
	b = appendStr(appendKey(b, &f, "object"), c.Object)
	b = strconv.AppendInt(appendKey(b, &f, "created"), c.Created, 10)
	b = appendStr(appendKey(b, &f, "model"), c.Model)
	b = appendKey(b, &f, "choices")
	if c.Choices == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range c.Choices {
			ch := &c.Choices[i]
			if i > 0 {
				b = append(b, ',')
			}
			g := true
			b = append(b, '{')
			b = strconv.AppendInt(appendKey(b, &g, "index"), int64(ch.Index), 10)
			b = appendChatDelta(appendKey(b, &g, "delta"), &ch.Delta)
			if len(ch.Logprobs) > 0 {
				var err error
				if b, err = appendRaw(appendKey(b, &g, "logprobs"), ch.Logprobs, false); err != nil {
					return b, err
				}
			}
			b = appendKey(b, &g, "finish_reason")
			if ch.FinishReason == nil {
				b = append(b, "null"...)
			} else {
				b = appendStr(b, *ch.FinishReason)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if c.Usage != nil {
		b = appendChatUsage(appendKey(b, &f, "usage"), c.Usage)
	}
	return append(b, '}'), nil
}

func appendChatDelta(b []byte, d *oa.ChatDelta) []byte {
	f := true
	b = append(b, '{')
	if d.Role != "" {
		b = appendStr(appendKey(b, &f, "role"), d.Role)
	}
	for _, kv := range [...]struct {
		k string
		v *string
	}{{"content", d.Content}, {"reasoning_content", d.ReasoningContent}, {"reasoning", d.Reasoning}, {"refusal", d.Refusal}} {
		if kv.v != nil {
			b = appendStr(appendKey(b, &f, kv.k), *kv.v)
		}
	}
	if len(d.ToolCalls) > 0 {
		b = append(appendKey(b, &f, "tool_calls"), '[')
		for i, tc := range d.ToolCalls {
			if i > 0 {
				b = append(b, ',')
			}
			g := true
			b = append(b, '{')
			b = strconv.AppendInt(appendKey(b, &g, "index"), int64(tc.Index), 10)
			if tc.ID != "" {
				b = appendStr(appendKey(b, &g, "id"), tc.ID)
			}
			if tc.Type != "" {
				b = appendStr(appendKey(b, &g, "type"), tc.Type)
			}
			h := true
			b = append(appendKey(b, &g, "function"), '{')
			if tc.Function.Name != "" {
				b = appendStr(appendKey(b, &h, "name"), tc.Function.Name)
			}
			b = appendStr(appendKey(b, &h, "arguments"), tc.Function.Arguments)
			b = append(b, '}', '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendChatUsage(b []byte, u *oa.ChatUsage) []byte {
	f := true
	b = append(b, '{')
	b = strconv.AppendInt(appendKey(b, &f, "prompt_tokens"), u.PromptTokens, 10)
	b = strconv.AppendInt(appendKey(b, &f, "completion_tokens"), u.CompletionTokens, 10)
	b = strconv.AppendInt(appendKey(b, &f, "total_tokens"), u.TotalTokens, 10)
	if p := u.PromptTokensDetails; p != nil {
		g := true
		b = append(appendKey(b, &f, "prompt_tokens_details"), '{')
		b = strconv.AppendInt(appendKey(b, &g, "cached_tokens"), p.CachedTokens, 10)
		if p.CacheWriteTokens != 0 {
			b = strconv.AppendInt(appendKey(b, &g, "cache_write_tokens"), p.CacheWriteTokens, 10)
		}
		b = append(b, '}')
	}
	if c := u.CompletionTokensDetails; c != nil {
		g := true
		b = append(appendKey(b, &f, "completion_tokens_details"), '{')
		b = strconv.AppendInt(appendKey(b, &g, "reasoning_tokens"), c.ReasoningTokens, 10)
		b = append(b, '}')
	}
	if u.PromptCacheHitTokens != nil {
		b = strconv.AppendInt(appendKey(b, &f, "prompt_cache_hit_tokens"), *u.PromptCacheHitTokens, 10)
	}
	return append(b, '}')
}

// appendChatCompletion writes a completion as marshal does.
func appendChatCompletion(b []byte, c *oa.ChatCompletion) ([]byte, error) {
	var err error
	f := true
	b = append(b, '{')
	b = appendStr(appendKey(b, &f, "id"), c.ID)
	b = appendStr(appendKey(b, &f, "object"), c.Object)
	b = strconv.AppendInt(appendKey(b, &f, "created"), c.Created, 10)
	b = appendStr(appendKey(b, &f, "model"), c.Model)
	b = appendKey(b, &f, "choices")
	if c.Choices == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range c.Choices {
			ch := &c.Choices[i]
			if i > 0 {
				b = append(b, ',')
			}
			g := true
			b = append(b, '{')
			b = strconv.AppendInt(appendKey(b, &g, "index"), int64(ch.Index), 10)
			m := &ch.Message
			h := true
			b = append(appendKey(b, &g, "message"), '{')
			b = appendStr(appendKey(b, &h, "role"), m.Role)
			b = appendOptStr(appendKey(b, &h, "content"), m.Content)
			b = appendOptStr(appendKey(b, &h, "refusal"), m.Refusal)
			if len(m.ToolCalls) > 0 {
				b = appendToolCalls(appendKey(b, &h, "tool_calls"), m.ToolCalls)
			}
			if m.ReasoningContent != "" {
				b = appendStr(appendKey(b, &h, "reasoning_content"), m.ReasoningContent)
			}
			if m.Reasoning != "" {
				b = appendStr(appendKey(b, &h, "reasoning"), m.Reasoning)
			}
			b = append(b, '}')
			if b, err = appendRaw(appendKey(b, &g, "logprobs"), ch.Logprobs, false); err != nil {
				return b, err
			}
			b = appendOptStr(appendKey(b, &g, "finish_reason"), ch.FinishReason)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if c.Usage != nil {
		b = appendChatUsage(appendKey(b, &f, "usage"), c.Usage)
	}
	return append(b, '}'), nil
}

// appendOptStr writes a *string: null when nil.
func appendOptStr(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendStr(b, *s)
}

func appendToolCalls(b []byte, calls []oa.ChatToolCall) []byte {
	b = append(b, '[')
	for i, tc := range calls {
		if i > 0 {
			b = append(b, ',')
		}
		g := true
		b = append(b, '{')
		b = appendStr(appendKey(b, &g, "id"), tc.ID)
		b = appendStr(appendKey(b, &g, "type"), tc.Type)
		h := true
		b = append(appendKey(b, &g, "function"), '{')
		b = appendStr(appendKey(b, &h, "name"), tc.Function.Name)
		b = appendStr(appendKey(b, &h, "arguments"), tc.Function.Arguments)
		b = append(b, '}', '}')
	}
	return append(b, ']')
}
