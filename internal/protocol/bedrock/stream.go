package bedrock

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	wire "github.com/sluicehq/sluice/internal/apischema/bedrock"
	"github.com/sluicehq/sluice/internal/llm"
)

// StreamReader decodes a ConverseStream answer, an event stream of binary
// frames, into canonical events. It holds at most one incomplete frame.
//
// Events: messageStart -> EvStart; contentBlockStart (tool use) ->
// EvBlockStart; contentBlockDelta -> text, tool-argument, thinking and
// signature deltas (a text or reasoning block that starts with a delta,
// as Bedrock sends them, gets a synthesised EvBlockStart first);
// contentBlockStop -> EvBlockStop. EvStop comes once both messageStop (the
// stop reason) and metadata (the usage) have been seen, or from End when
// the stream ends without metadata. Exceptions (throttlingException,
// modelStreamErrorException, ...) become EvError. Done reports messageStop.
//
// Canonical block indices count the blocks emitted, from 0: Bedrock's
// contentBlockIndex also counts blocks that the canonical model cannot hold
// (images, citations), which are skipped.
//
// A redacted reasoning block (delta reasoningContent.redactedContent) is
// held until its contentBlockStop and then emitted whole, as an
// EvBlockStart whose Block carries RedactedData, then EvBlockStop.
type StreamReader struct {
	dec     Decoder
	id      string
	started bool
	blocks  map[int]*block // open blocks by contentBlockIndex
	next    int            // the canonical index of the next block emitted

	stopSeen    bool // messageStop seen: Done
	metaSeen    bool
	stopEmitted bool
	stopReason  llm.StopReason
	stopSeq     string
	usage       llm.Usage
	hasUsage    bool
}

type blockKind int

const (
	kindText blockKind = iota + 1
	kindThinking
	kindToolCall
	kindRedacted // held until stop
	kindSkip     // a block the canonical model cannot hold
)

type block struct {
	kind     blockKind
	index    int // canonical index, once started
	redacted strings.Builder
}

var _ llm.StreamReader = (*StreamReader)(nil)

// NewStreamReader returns a reader for one ConverseStream answer.
func NewStreamReader() *StreamReader {
	return &StreamReader{id: newID(), blocks: map[int]*block{}}
}

// Feed implements llm.StreamReader.
func (r *StreamReader) Feed(b []byte, emit func(llm.Event)) error {
	return r.dec.Feed(b, func(m *Message) error { return r.message(m, emit) })
}

// Done implements llm.StreamReader: messageStop has been seen.
func (r *StreamReader) Done() bool { return r.stopSeen }

// Usage implements llm.StreamReader: the usage of the metadata event.
func (r *StreamReader) Usage() (llm.Usage, bool) { return r.usage, r.hasUsage }

// End is called when the upstream body has ended. When messageStop came but
// metadata did not, it emits the EvStop (without usage) that was waiting for
// it. It reports a frame cut in the middle as io.ErrUnexpectedEOF. The
// caller finds End by type assertion; it is not part of llm.StreamReader.
func (r *StreamReader) End(emit func(llm.Event)) error {
	if r.stopSeen && !r.stopEmitted {
		r.emitStop(emit)
	}
	if n := r.dec.Pending(); n > 0 {
		return fmt.Errorf("bedrock: event stream ends inside a message (%d bytes): %w", n, io.ErrUnexpectedEOF)
	}
	return nil
}

func (r *StreamReader) message(m *Message, emit func(llm.Event)) error {
	mt, _ := m.String(wire.HeaderMessageType)
	switch mt {
	case wire.MessageTypeEvent, "":
	case wire.MessageTypeException:
		typ, _ := m.String(wire.HeaderExceptionType)
		emit(llm.Event{Type: llm.EvError, Err: streamException(typ, m.Payload)})
		return nil
	case wire.MessageTypeError:
		code, _ := m.String(wire.HeaderErrorCode)
		msg, _ := m.String(wire.HeaderErrorMessage)
		if msg == "" {
			msg = code
		}
		if msg == "" {
			msg = "upstream stream error"
		}
		emit(llm.Event{Type: llm.EvError, Err: &llm.Error{Status: http.StatusInternalServerError, Type: errorKind(code, http.StatusInternalServerError), Message: msg}})
		return nil
	default:
		return nil // a message type of the future
	}
	et, _ := m.String(wire.HeaderEventType)
	if r.stopSeen && et != wire.EventMetadata {
		return nil // nothing but metadata follows messageStop
	}
	switch et {
	case wire.EventMessageStart:
		var ev wire.MessageStartEvent
		if err := decodePayload(et, m.Payload, &ev); err != nil {
			return err
		}
		r.ensureStart(emit)
	case wire.EventContentBlockStart:
		var ev wire.ContentBlockStartEvent
		if err := decodePayload(et, m.Payload, &ev); err != nil {
			return err
		}
		r.ensureStart(emit)
		if _, open := r.blocks[ev.ContentBlockIndex]; open {
			return nil // a second start for the same block: keep the first
		}
		if tu := ev.Start.ToolUse; tu != nil {
			b := &block{kind: kindToolCall}
			r.blocks[ev.ContentBlockIndex] = b
			r.startBlock(b, &llm.Part{Type: llm.PartToolCall, ToolCallID: tu.ToolUseID, ToolName: tu.Name}, emit)
		} else {
			r.blocks[ev.ContentBlockIndex] = &block{kind: kindSkip}
		}
	case wire.EventContentBlockDelta:
		var ev wire.ContentBlockDeltaEvent
		if err := decodePayload(et, m.Payload, &ev); err != nil {
			return err
		}
		r.ensureStart(emit)
		return r.delta(ev.ContentBlockIndex, &ev.Delta, emit)
	case wire.EventContentBlockStop:
		var ev wire.ContentBlockStopEvent
		if err := decodePayload(et, m.Payload, &ev); err != nil {
			return err
		}
		r.stopBlock(ev.ContentBlockIndex, emit)
	case wire.EventMessageStop:
		var ev wire.MessageStopEvent
		if err := decodePayload(et, m.Payload, &ev); err != nil {
			return err
		}
		r.ensureStart(emit)
		open := make([]int, 0, len(r.blocks))
		for i := range r.blocks {
			open = append(open, i)
		}
		slices.Sort(open)
		for _, i := range open {
			r.stopBlock(i, emit)
		}
		r.stopSeen = true
		r.stopReason = mapStopReason(ev.StopReason)
		r.stopSeq = stopSequence(ev.AdditionalModelResponseFields)
		if r.metaSeen {
			r.emitStop(emit)
		}
	case wire.EventMetadata:
		var ev wire.MetadataEvent
		if err := decodePayload(et, m.Payload, &ev); err != nil {
			return err
		}
		r.metaSeen = true
		if ev.Usage != nil {
			r.usage = normaliseUsage(ev.Usage)
			r.hasUsage = true
		}
		if r.stopSeen && !r.stopEmitted {
			r.emitStop(emit)
		}
	}
	return nil
}

func decodePayload(event string, payload []byte, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("bedrock: %s event: %w", event, err)
	}
	return nil
}

func (r *StreamReader) ensureStart(emit func(llm.Event)) {
	if !r.started {
		r.started = true
		emit(llm.Event{Type: llm.EvStart, ID: r.id})
	}
}

func (r *StreamReader) delta(i int, d *wire.ContentBlockDelta, emit func(llm.Event)) error {
	b := r.blocks[i]
	if b == nil {
		// Text and reasoning blocks start with their first delta.
		b = &block{kind: kindSkip}
		var part *llm.Part
		switch {
		case d.Text != nil:
			b.kind, part = kindText, &llm.Part{Type: llm.PartText}
		case d.ReasoningContent != nil && d.ReasoningContent.RedactedContent != nil:
			b.kind = kindRedacted
		case d.ReasoningContent != nil:
			b.kind, part = kindThinking, &llm.Part{Type: llm.PartThinking}
		case d.ToolUse != nil:
			b.kind, part = kindToolCall, &llm.Part{Type: llm.PartToolCall}
		}
		r.blocks[i] = b
		if part != nil {
			r.startBlock(b, part, emit)
		}
	}
	switch {
	case b.kind == kindSkip:
	case b.kind == kindRedacted && (d.ReasoningContent == nil || d.ReasoningContent.RedactedContent == nil):
		// Only more redacted data can follow in a redacted block.
	case d.Text != nil:
		if *d.Text != "" {
			emit(llm.Event{Type: llm.EvTextDelta, Index: b.index, Text: *d.Text})
		}
	case d.ToolUse != nil:
		if d.ToolUse.Input != "" {
			emit(llm.Event{Type: llm.EvToolArgsDelta, Index: b.index, Text: d.ToolUse.Input})
		}
	case d.ReasoningContent != nil:
		rc := d.ReasoningContent
		switch {
		case rc.RedactedContent != nil:
			if b.kind == kindRedacted {
				if b.redacted.Len()+len(*rc.RedactedContent) > MaxFrameSize {
					return fmt.Errorf("bedrock: redacted reasoning block %d exceeds %d bytes", i, MaxFrameSize)
				}
				b.redacted.WriteString(*rc.RedactedContent)
			}
		case rc.Text != nil:
			if *rc.Text != "" {
				emit(llm.Event{Type: llm.EvThinkingDelta, Index: b.index, Text: *rc.Text})
			}
		case rc.Signature != nil:
			if *rc.Signature != "" {
				emit(llm.Event{Type: llm.EvSignatureDelta, Index: b.index, Text: *rc.Signature})
			}
		}
	}
	return nil
}

func (r *StreamReader) stopBlock(i int, emit func(llm.Event)) {
	b := r.blocks[i]
	if b == nil {
		return
	}
	delete(r.blocks, i)
	switch b.kind {
	case kindSkip:
		return
	case kindRedacted:
		r.startBlock(b, &llm.Part{Type: llm.PartRedactedThinking, RedactedData: b.redacted.String()}, emit)
	}
	emit(llm.Event{Type: llm.EvBlockStop, Index: b.index})
}

// startBlock gives b the next canonical index and emits its EvBlockStart.
func (r *StreamReader) startBlock(b *block, part *llm.Part, emit func(llm.Event)) {
	b.index = r.next
	r.next++
	emit(llm.Event{Type: llm.EvBlockStart, Index: b.index, Block: part})
}

func (r *StreamReader) emitStop(emit func(llm.Event)) {
	r.stopEmitted = true
	ev := llm.Event{Type: llm.EvStop, StopReason: r.stopReason, StopSeq: r.stopSeq}
	if r.hasUsage {
		u := r.usage
		ev.Usage = &u
	}
	emit(ev)
}
