package anthropic

import (
	"encoding/json"
	"fmt"

	"github.com/tidwall/gjson"

	wire "github.com/sluicehq/sluice/internal/apischema/anthropic"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/sse"
)

// counts are usage figures as Anthropic reports them.
type counts struct {
	input, cacheWrite, cacheRead, output, thinking int64
}

// apply takes every figure present in d: all of them are cumulative.
func (c *counts) apply(d *wire.UsageDelta) {
	set := func(dst *int64, v *int64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&c.input, d.InputTokens)
	set(&c.cacheWrite, d.CacheCreationInputTokens)
	set(&c.cacheRead, d.CacheReadInputTokens)
	set(&c.output, d.OutputTokens)
	if d.OutputTokensDetails != nil {
		set(&c.thinking, d.OutputTokensDetails.ThinkingTokens)
	}
}

func (c counts) usage() llm.Usage {
	return fromWireUsage(c.input, c.cacheWrite, c.cacheRead, c.output, c.thinking)
}

// streamReader decodes Anthropic's SSE incrementally. The stream's usage
// comes in two parts: message_start carries the input side (input_tokens
// and the cache fields), message_delta the cumulative output_tokens, and
// may repeat the input side, also cumulative.
type streamReader struct {
	p    sse.Parser
	err  error // sticky: the stream is malformed
	done bool  // message_stop was seen

	c        counts
	hasUsage bool
	stop     llm.StopReason
	stopSeq  string
	// blocks holds the open blocks by index; blocks of types with no
	// canonical form (server tools) are not in it and their events are
	// skipped.
	blocks map[int]llm.PartType
}

// Feed implements llm.StreamReader.
func (r *streamReader) Feed(b []byte, emit func(llm.Event)) error {
	if r.err != nil {
		return r.err
	}
	if err := r.p.Feed(b, func(e sse.Event) {
		if r.err == nil {
			r.err = r.event(e, emit)
		}
	}); err != nil && r.err == nil {
		r.err = err
	}
	return r.err
}

// Done implements llm.StreamReader: true once message_stop has been seen.
func (r *streamReader) Done() bool { return r.done }

// Pending reports whether the bytes fed so far end inside an event. A
// pass-through proxy that ends a cut stream with an error event must first
// end the partial one ("\n\n"), or the client would read the two as one.
func (r *streamReader) Pending() bool { return r.p.Pending() }

// Usage implements llm.StreamReader.
func (r *streamReader) Usage() (llm.Usage, bool) { return r.c.usage(), r.hasUsage }

func (r *streamReader) event(e sse.Event, emit func(llm.Event)) error {
	if r.done || len(e.Data) == 0 || string(e.Event) == wire.EventPing {
		return nil
	}
	if !gjson.ValidBytes(e.Data) {
		return fmt.Errorf("anthropic: stream event %q: invalid JSON", e.Event)
	}
	root := gjson.ParseBytes(e.Data)
	typ := root.Get("type").Str
	if typ == "" {
		typ = string(e.Event)
	}
	// Deltas, by far the most frequent events, are read in place; the rest
	// are decoded into the wire types.
	switch typ {
	case wire.EventContentBlockDelta:
		index := int(root.Get("index").Int())
		bt, ok := r.blocks[index]
		if !ok {
			return nil
		}
		d := root.Get("delta")
		switch d.Get("type").Str {
		case wire.DeltaText:
			if bt == llm.PartText {
				emit(llm.Event{Type: llm.EvTextDelta, Index: index, Text: d.Get("text").Str})
			}
		case wire.DeltaInputJSON:
			if p := d.Get("partial_json").Str; bt == llm.PartToolCall && p != "" {
				emit(llm.Event{Type: llm.EvToolArgsDelta, Index: index, Text: p})
			}
		case wire.DeltaThinking:
			if bt == llm.PartThinking {
				emit(llm.Event{Type: llm.EvThinkingDelta, Index: index, Text: d.Get("thinking").Str})
			}
		case wire.DeltaSignature:
			if bt == llm.PartThinking {
				emit(llm.Event{Type: llm.EvSignatureDelta, Index: index, Text: d.Get("signature").Str})
			}
		}
		return nil

	case wire.EventContentBlockStop:
		index := int(root.Get("index").Int())
		if _, ok := r.blocks[index]; ok {
			delete(r.blocks, index)
			emit(llm.Event{Type: llm.EvBlockStop, Index: index})
		}
		return nil

	case wire.EventMessageStop:
		r.done = true
		out := llm.Event{Type: llm.EvStop, StopReason: r.stop, StopSeq: r.stopSeq}
		if r.hasUsage {
			u := r.c.usage()
			out.Usage = &u
		}
		emit(out)
		return nil

	case wire.EventMessageStart, wire.EventContentBlockStart, wire.EventMessageDelta, wire.EventError:
	default:
		return nil
	}

	var ev wire.StreamEvent
	if !decodeStreamEvent(e.Data, &ev) {
		ev = wire.StreamEvent{}
		if err := json.Unmarshal(e.Data, &ev); err != nil {
			return fmt.Errorf("anthropic: stream event %q: %w", typ, err)
		}
	}
	switch typ {
	case wire.EventMessageStart:
		out := llm.Event{Type: llm.EvStart}
		if m := ev.Message; m != nil {
			out.ID, out.Model = m.ID, m.Model
			if m.Usage != nil {
				r.c.apply(m.Usage)
				r.hasUsage = true
				u := r.c.usage()
				out.Usage = &u
			}
		}
		emit(out)

	case wire.EventContentBlockStart:
		if ev.ContentBlock != nil {
			r.blockStart(ev.Index, ev.ContentBlock, emit)
		}

	case wire.EventMessageDelta:
		if d := ev.Delta; d != nil {
			if d.StopReason != nil {
				r.stop = stopFromWire(d.StopReason)
			}
			if d.StopSequence != nil {
				r.stopSeq = *d.StopSequence
			}
		}
		if ev.Usage != nil {
			r.c.apply(ev.Usage)
			r.hasUsage = true
		}

	case wire.EventError:
		emit(llm.Event{Type: llm.EvError, Err: streamError(ev.Error)})
	}
	return nil
}

func (r *streamReader) blockStart(index int, b *wire.Block, emit func(llm.Event)) {
	var part llm.Part
	switch b.Type {
	case wire.BlockText:
		part = llm.Part{Type: llm.PartText}
	case wire.BlockToolUse:
		part = llm.Part{Type: llm.PartToolCall, ToolCallID: b.ID, ToolName: b.Name}
	case wire.BlockThinking:
		part = llm.Part{Type: llm.PartThinking}
	case wire.BlockRedactedThinking:
		part = llm.Part{Type: llm.PartRedactedThinking, RedactedData: b.Data}
	default:
		return
	}
	if r.blocks == nil {
		r.blocks = map[int]llm.PartType{}
	}
	r.blocks[index] = part.Type
	emit(llm.Event{Type: llm.EvBlockStart, Index: index, Block: &part})
	// Content in the start event itself (the API sends it empty) goes on
	// as deltas.
	switch b.Type {
	case wire.BlockText:
		if b.Text != "" {
			emit(llm.Event{Type: llm.EvTextDelta, Index: index, Text: b.Text})
		}
	case wire.BlockToolUse:
		if in, err := compactObject(b.Input, ""); err == nil && string(in) != "{}" {
			emit(llm.Event{Type: llm.EvToolArgsDelta, Index: index, Text: string(in)})
		}
	case wire.BlockThinking:
		if b.Thinking != "" {
			emit(llm.Event{Type: llm.EvThinkingDelta, Index: index, Text: b.Thinking})
		}
		if b.Signature != "" {
			emit(llm.Event{Type: llm.EvSignatureDelta, Index: index, Text: b.Signature})
		}
	}
}
