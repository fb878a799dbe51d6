package anthropic

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync"

	wire "github.com/sluicehq/sluice/internal/apischema/anthropic"
	"github.com/sluicehq/sluice/internal/protocol/rawjson"
)

// The request encoder writes the wire types with append calls, byte for
// byte what json.Marshal writes for them (FuzzWireEncode holds it to that),
// into a pooled buffer.

var encodeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// marshalRequest is json.Marshal(r), in a fresh slice of the exact size.
func marshalRequest(r *wire.MessagesRequest) ([]byte, error) {
	bp := encodeBuffers.Get().(*[]byte)
	b, err := appendMessagesRequest((*bp)[:0], r)
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

var errUnsupportedFloat = errors.New("json: unsupported value: NaN or infinite number")

// appendRaw writes a raw value as json.Marshal writes a json.RawMessage:
// null when nil, else compacted, after checking it when trusted is false.
func appendRaw(b []byte, raw json.RawMessage, trusted bool) ([]byte, error) {
	if raw == nil {
		return append(b, "null"...), nil
	}
	if !trusted && !json.Valid(raw) {
		return b, errors.New("json: error calling MarshalJSON for type json.RawMessage: invalid JSON")
	}
	return rawjson.AppendCompactHTML(b, raw), nil
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

func appendStr(b []byte, s string) []byte { return rawjson.AppendString(b, s, true) }

func appendMessagesRequest(b []byte, r *wire.MessagesRequest) ([]byte, error) {
	var err error
	f := true
	b = append(b, '{')
	b = appendStr(appendKey(b, &f, "model"), r.Model)
	if r.MaxTokens != 0 {
		b = strconv.AppendInt(appendKey(b, &f, "max_tokens"), int64(r.MaxTokens), 10)
	}
	if len(r.System) > 0 {
		// encodeSystem built it as json.Marshal writes it: it goes as it is.
		b = append(appendKey(b, &f, "system"), r.System...)
	}
	b = appendKey(b, &f, "messages")
	if r.Messages == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, m := range r.Messages {
			if i > 0 {
				b = append(b, ',')
			}
			g := true
			b = append(b, '{')
			b = appendStr(appendKey(b, &g, "role"), m.Role)
			// encodeMessage built it compact and escaped as json.Marshal
			// would write it: it goes as it is.
			b = appendKey(b, &g, "content")
			if m.Content == nil {
				b = append(b, "null"...)
			} else {
				b = append(b, m.Content...)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(r.Tools) > 0 {
		b = append(appendKey(b, &f, "tools"), '[')
		for i, t := range r.Tools {
			if i > 0 {
				b = append(b, ',')
			}
			g := true
			b = append(b, '{')
			b = appendStr(appendKey(b, &g, "name"), t.Name)
			if t.Description != "" {
				b = appendStr(appendKey(b, &g, "description"), t.Description)
			}
			if b, err = appendRaw(appendKey(b, &g, "input_schema"), t.InputSchema, false); err != nil {
				return b, err
			}
			if t.Strict {
				b = append(appendKey(b, &g, "strict"), "true"...)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if tc := r.ToolChoice; tc != nil {
		g := true
		b = append(appendKey(b, &f, "tool_choice"), '{')
		b = appendStr(appendKey(b, &g, "type"), tc.Type)
		if tc.Name != "" {
			b = appendStr(appendKey(b, &g, "name"), tc.Name)
		}
		if tc.DisableParallelToolUse != nil {
			b = strconv.AppendBool(appendKey(b, &g, "disable_parallel_tool_use"), *tc.DisableParallelToolUse)
		}
		b = append(b, '}')
	}
	if th := r.Thinking; th != nil {
		g := true
		b = append(appendKey(b, &f, "thinking"), '{')
		b = appendStr(appendKey(b, &g, "type"), th.Type)
		if th.BudgetTokens != 0 {
			b = strconv.AppendInt(appendKey(b, &g, "budget_tokens"), int64(th.BudgetTokens), 10)
		}
		if th.Display != "" {
			b = appendStr(appendKey(b, &g, "display"), th.Display)
		}
		b = append(b, '}')
	}
	if oc := r.OutputConfig; oc != nil {
		g := true
		b = append(appendKey(b, &f, "output_config"), '{')
		if oc.Effort != "" {
			b = appendStr(appendKey(b, &g, "effort"), oc.Effort)
		}
		if of := oc.Format; of != nil {
			h := true
			b = append(appendKey(b, &g, "format"), '{')
			b = appendStr(appendKey(b, &h, "type"), of.Type)
			if b, err = appendRaw(appendKey(b, &h, "schema"), of.Schema, false); err != nil {
				return b, err
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	if len(r.StopSequences) > 0 {
		b = append(appendKey(b, &f, "stop_sequences"), '[')
		for i, s := range r.StopSequences {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendStr(b, s)
		}
		b = append(b, ']')
	}
	ok := true
	if r.Temperature != nil {
		b, ok = rawjson.AppendFloat(appendKey(b, &f, "temperature"), *r.Temperature)
	}
	if r.TopP != nil && ok {
		b, ok = rawjson.AppendFloat(appendKey(b, &f, "top_p"), *r.TopP)
	}
	if !ok {
		return b, errUnsupportedFloat
	}
	if r.TopK != nil {
		b = strconv.AppendInt(appendKey(b, &f, "top_k"), int64(*r.TopK), 10)
	}
	if md := r.Metadata; md != nil {
		g := true
		b = append(appendKey(b, &f, "metadata"), '{')
		if md.UserID != "" {
			b = appendStr(appendKey(b, &g, "user_id"), md.UserID)
		}
		b = append(b, '}')
	}
	if r.Stream {
		b = append(appendKey(b, &f, "stream"), "true"...)
	}
	return append(b, '}'), nil
}

// appendBlocks writes content blocks (the block types encodePart makes)
// as json.Marshal writes them; another type falls back to json.Marshal.
func appendBlocks(b []byte, blocks []any) ([]byte, error) {
	b = append(b, '[')
	for i, x := range blocks {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendBlock(b, x); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

func appendBlock(b []byte, x any) ([]byte, error) {
	var err error
	f := true
	switch v := x.(type) {
	case wire.TextBlock:
		b = append(b, '{')
		b = appendStr(appendKey(b, &f, "type"), v.Type)
		b = appendStr(appendKey(b, &f, "text"), v.Text)
	case wire.ImageBlock:
		b = append(b, '{')
		b = appendStr(appendKey(b, &f, "type"), v.Type)
		g := true
		b = append(appendKey(b, &f, "source"), '{')
		b = appendStr(appendKey(b, &g, "type"), v.Source.Type)
		for _, kv := range [...]struct{ k, v string }{{"media_type", v.Source.MediaType}, {"data", v.Source.Data}, {"url", v.Source.URL}, {"file_id", v.Source.FileID}} {
			if kv.v != "" {
				b = appendStr(appendKey(b, &g, kv.k), kv.v)
			}
		}
		b = append(b, '}')
	case wire.ToolUseBlock:
		b = append(b, '{')
		b = appendStr(appendKey(b, &f, "type"), v.Type)
		b = appendStr(appendKey(b, &f, "id"), v.ID)
		b = appendStr(appendKey(b, &f, "name"), v.Name)
		if b, err = appendRaw(appendKey(b, &f, "input"), v.Input, false); err != nil {
			return b, err
		}
	case wire.ToolResultBlock:
		b = append(b, '{')
		b = appendStr(appendKey(b, &f, "type"), v.Type)
		b = appendStr(appendKey(b, &f, "tool_use_id"), v.ToolUseID)
		if len(v.Content) > 0 {
			if b, err = appendRaw(appendKey(b, &f, "content"), v.Content, false); err != nil {
				return b, err
			}
		}
		if v.IsError {
			b = append(appendKey(b, &f, "is_error"), "true"...)
		}
	case wire.ThinkingBlock:
		b = append(b, '{')
		b = appendStr(appendKey(b, &f, "type"), v.Type)
		b = appendStr(appendKey(b, &f, "thinking"), v.Thinking)
		b = appendStr(appendKey(b, &f, "signature"), v.Signature)
	case wire.RedactedThinkingBlock:
		b = append(b, '{')
		b = appendStr(appendKey(b, &f, "type"), v.Type)
		b = appendStr(appendKey(b, &f, "data"), v.Data)
	default:
		j, err := json.Marshal(x)
		return append(b, j...), err
	}
	return append(b, '}'), nil
}

// textJSON is json.Marshal(s).
func textJSON(s string) json.RawMessage { return appendStr(make([]byte, 0, len(s)+2), s) }

// appendEvent writes a block delta or block stop event as json.Marshal
// does; ok is false for the other events.
func appendEvent(b []byte, v any) (out []byte, ok bool) {
	f := true
	switch e := v.(type) {
	case wire.ContentBlockStopEvent:
		b = append(b, '{')
		b = appendStr(appendKey(b, &f, "type"), e.Type)
		b = strconv.AppendInt(appendKey(b, &f, "index"), int64(e.Index), 10)
		return append(b, '}'), true
	case wire.ContentBlockDeltaEvent:
		var key, val, typ string
		switch d := e.Delta.(type) {
		case wire.TextDelta:
			typ, key, val = d.Type, "text", d.Text
		case wire.InputJSONDelta:
			typ, key, val = d.Type, "partial_json", d.PartialJSON
		case wire.ThinkingDelta:
			typ, key, val = d.Type, "thinking", d.Thinking
		case wire.SignatureDelta:
			typ, key, val = d.Type, "signature", d.Signature
		default:
			return b, false
		}
		b = append(b, '{')
		b = appendStr(appendKey(b, &f, "type"), e.Type)
		b = strconv.AppendInt(appendKey(b, &f, "index"), int64(e.Index), 10)
		g := true
		b = append(appendKey(b, &f, "delta"), '{')
		b = appendStr(appendKey(b, &g, "type"), typ)
		b = appendStr(appendKey(b, &g, key), val)
		return append(b, '}', '}'), true
	}
	return b, false
}

// appendMessage writes a message as json.Marshal does; a content block of
// a type appendBlock does not know falls back to json.Marshal.
func appendMessage(b []byte, m *wire.Message) ([]byte, error) {
	var err error
	f := true
	b = append(b, '{')
	b = appendStr(appendKey(b, &f, "id"), m.ID)
	b = appendStr(appendKey(b, &f, "type"), m.Type)
	b = appendStr(appendKey(b, &f, "role"), m.Role)
	b = appendStr(appendKey(b, &f, "model"), m.Model)
	b = appendKey(b, &f, "content")
	if m.Content == nil {
		b = append(b, "null"...)
	} else if b, err = appendBlocks(b, m.Content); err != nil {
		return b, err
	}
	for _, kv := range [...]struct {
		k string
		v *string
	}{{"stop_reason", m.StopReason}, {"stop_sequence", m.StopSequence}} {
		b = appendKey(b, &f, kv.k)
		if kv.v == nil {
			b = append(b, "null"...)
		} else {
			b = appendStr(b, *kv.v)
		}
	}
	u := &m.Usage
	g := true
	b = append(appendKey(b, &f, "usage"), '{')
	b = strconv.AppendInt(appendKey(b, &g, "input_tokens"), u.InputTokens, 10)
	b = strconv.AppendInt(appendKey(b, &g, "cache_creation_input_tokens"), u.CacheCreationInputTokens, 10)
	b = strconv.AppendInt(appendKey(b, &g, "cache_read_input_tokens"), u.CacheReadInputTokens, 10)
	b = strconv.AppendInt(appendKey(b, &g, "output_tokens"), u.OutputTokens, 10)
	if d := u.OutputTokensDetails; d != nil {
		h := true
		b = append(appendKey(b, &g, "output_tokens_details"), '{')
		b = strconv.AppendInt(appendKey(b, &h, "thinking_tokens"), d.ThinkingTokens, 10)
		b = append(b, '}')
	}
	return append(b, '}', '}'), nil
}
