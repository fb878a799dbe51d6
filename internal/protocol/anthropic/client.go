package anthropic

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	wire "github.com/sluicehq/sluice/internal/apischema/anthropic"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/sse"
)

// EncodeResponse implements llm.ClientCodec: a Message object.
func (clientCodec) EncodeResponse(req *llm.Request, resp *llm.Response) ([]byte, error) {
	if resp == nil {
		return nil, fmt.Errorf("anthropic: no response to encode")
	}
	m := wire.Message{
		ID:      resp.ID,
		Type:    "message",
		Role:    wire.RoleAssistant,
		Model:   resp.Model,
		Content: make([]any, 0, len(resp.Content)),
		Usage:   toWireUsage(resp.Usage),
	}
	if m.ID == "" {
		m.ID = newMessageID()
	}
	if m.Model == "" && req != nil {
		m.Model = req.Model
	}
	stop := stopToWire(resp.StopReason)
	m.StopReason = &stop
	if resp.StopSeq != "" {
		m.StopSequence = &resp.StopSeq
	}
	for i, p := range resp.Content {
		switch p.Type {
		case llm.PartText:
			m.Content = append(m.Content, wire.TextBlock{Type: wire.BlockText, Text: p.Text})
		case llm.PartToolCall:
			input, err := toolInput(p.Arguments)
			if err != nil {
				// The upstream stopped inside the arguments (a max_tokens
				// stop): Anthropic's input must be an object, so the call is
				// kept with an empty one rather than the answer lost.
				input = json.RawMessage("{}")
			}
			m.Content = append(m.Content, wire.ToolUseBlock{Type: wire.BlockToolUse, ID: p.ToolCallID, Name: p.ToolName, Input: input})
		case llm.PartThinking:
			m.Content = append(m.Content, wire.ThinkingBlock{Type: wire.BlockThinking, Thinking: p.Text, Signature: p.Signature})
		case llm.PartRedactedThinking:
			m.Content = append(m.Content, wire.RedactedThinkingBlock{Type: wire.BlockRedactedThinking, Data: p.RedactedData})
		default:
			return nil, fmt.Errorf("anthropic: content %d: a %s part cannot be part of a response", i, p.Type)
		}
	}
	return appendMessage(make([]byte, 0, 512), &m)
}

// toolInput checks that tool arguments are a JSON object; empty arguments
// are the empty object.
func toolInput(args json.RawMessage) (json.RawMessage, error) {
	if isAbsent(args) {
		return json.RawMessage("{}"), nil
	}
	in, err := compactObject(args, "arguments")
	if err != nil {
		return nil, fmt.Errorf("tool arguments are not a JSON object")
	}
	return in, nil
}

// NewStreamWriter implements llm.ClientCodec.
func (clientCodec) NewStreamWriter(w io.Writer, req *llm.Request) llm.StreamWriter {
	sw := &streamWriter{w: w, index: map[int]int{}, skip: map[int]bool{}}
	if req != nil {
		sw.model = req.Model
	}
	return sw
}

// streamWriter renders canonical events as Anthropic's SSE. Anthropic
// numbers content blocks from 0 in the order they start, with no gaps, and
// clients index their message content by that number; canonical indexes
// are remapped accordingly.
type streamWriter struct {
	w     io.Writer
	model string
	buf   []byte
	json  []byte // the event's JSON, when appendEvent writes it

	started  bool
	finished bool         // message_stop or an error was written
	index    map[int]int  // canonical index -> Anthropic index of started blocks
	skip     map[int]bool // canonical indexes of blocks that are not rendered
	open     []int        // canonical indexes of open blocks, in start order
	next     int          // the next Anthropic index
	usage    llm.Usage    // the input side, from EvStart
	hasUsage bool
}

// Write implements llm.StreamWriter.
func (s *streamWriter) Write(ev llm.Event) error {
	if s.finished {
		return nil
	}
	switch ev.Type {
	case llm.EvStart:
		return s.start(ev)
	case llm.EvError:
		return s.Fail(ev.Err)
	}
	if err := s.start(llm.Event{}); err != nil {
		return err
	}
	switch ev.Type {
	case llm.EvBlockStart:
		block := llm.Part{Type: llm.PartText}
		if ev.Block != nil {
			block = *ev.Block
		}
		return s.blockStart(ev.Index, block)
	case llm.EvTextDelta:
		return s.delta(ev.Index, llm.PartText, wire.TextDelta{Type: wire.DeltaText, Text: ev.Text})
	case llm.EvThinkingDelta:
		return s.delta(ev.Index, llm.PartThinking, wire.ThinkingDelta{Type: wire.DeltaThinking, Thinking: ev.Text})
	case llm.EvSignatureDelta:
		return s.delta(ev.Index, llm.PartThinking, wire.SignatureDelta{Type: wire.DeltaSignature, Signature: ev.Text})
	case llm.EvToolArgsDelta:
		return s.delta(ev.Index, llm.PartToolCall, wire.InputJSONDelta{Type: wire.DeltaInputJSON, PartialJSON: ev.Text})
	case llm.EvBlockStop:
		return s.blockStop(ev.Index)
	case llm.EvStop:
		return s.stop(ev)
	}
	return nil
}

// Fail implements llm.StreamWriter: an "error" event, as Anthropic sends
// when a stream fails (for example overloaded_error).
func (s *streamWriter) Fail(e *llm.Error) error {
	if s.finished {
		return nil
	}
	s.finished = true
	if e == nil {
		e = &llm.Error{Status: http.StatusBadGateway, Type: "server", Message: "upstream stream failed"}
	}
	return s.emit(wire.EventError, errorBodyValue(e))
}

func errorBodyValue(e *llm.Error) wire.ErrorBody {
	return wire.ErrorBody{Type: "error", Error: wire.ErrorObject{Type: anthropicErrorType(e), Message: e.Error()}}
}

// start writes message_start once; ev may be empty when the canonical
// stream did not begin with EvStart.
func (s *streamWriter) start(ev llm.Event) error {
	if s.started {
		return nil
	}
	s.started = true
	id, model := ev.ID, ev.Model
	if id == "" {
		id = newMessageID()
	}
	if model == "" {
		model = s.model
	}
	s.model = model
	var u llm.Usage
	if ev.Usage != nil {
		u, s.usage, s.hasUsage = *ev.Usage, *ev.Usage, true
	}
	return s.emit(wire.EventMessageStart, wire.MessageStartEvent{
		Type: wire.EventMessageStart,
		Message: wire.Message{
			ID:      id,
			Type:    "message",
			Role:    wire.RoleAssistant,
			Model:   model,
			Content: []any{},
			Usage:   toWireUsage(u),
		},
	})
}

func (s *streamWriter) blockStart(index int, b llm.Part) error {
	if _, ok := s.index[index]; ok {
		return nil // a repeated start: the block is open already
	}
	var cb any
	switch b.Type {
	case llm.PartText:
		cb = wire.TextBlock{Type: wire.BlockText}
	case llm.PartThinking:
		cb = wire.ThinkingBlock{Type: wire.BlockThinking}
	case llm.PartRedactedThinking:
		cb = wire.RedactedThinkingBlock{Type: wire.BlockRedactedThinking, Data: b.RedactedData}
	case llm.PartToolCall:
		cb = wire.ToolUseBlock{Type: wire.BlockToolUse, ID: b.ToolCallID, Name: b.ToolName, Input: json.RawMessage("{}")}
	default:
		s.skip[index] = true // not a response block; its deltas go with it
		return nil
	}
	n := s.next
	s.next++
	s.index[index] = n
	s.open = append(s.open, index)
	if err := s.emit(wire.EventContentBlockStart, wire.ContentBlockStartEvent{Type: wire.EventContentBlockStart, Index: n, ContentBlock: cb}); err != nil {
		return err
	}
	// Content that came with the start goes out as deltas.
	switch {
	case b.Type == llm.PartText && b.Text != "":
		return s.delta(index, b.Type, wire.TextDelta{Type: wire.DeltaText, Text: b.Text})
	case b.Type == llm.PartThinking:
		if b.Text != "" {
			if err := s.delta(index, b.Type, wire.ThinkingDelta{Type: wire.DeltaThinking, Thinking: b.Text}); err != nil {
				return err
			}
		}
		if b.Signature != "" {
			return s.delta(index, b.Type, wire.SignatureDelta{Type: wire.DeltaSignature, Signature: b.Signature})
		}
	case b.Type == llm.PartToolCall && !isAbsent(b.Arguments) && string(b.Arguments) != "{}":
		return s.delta(index, b.Type, wire.InputJSONDelta{Type: wire.DeltaInputJSON, PartialJSON: string(b.Arguments)})
	}
	return nil
}

// delta writes a block delta, opening the block (of type implied) if the
// canonical stream did not.
func (s *streamWriter) delta(index int, implied llm.PartType, d any) error {
	n, ok := s.index[index]
	if !ok {
		if s.skip[index] {
			return nil
		}
		if err := s.blockStart(index, llm.Part{Type: implied}); err != nil {
			return err
		}
		if n, ok = s.index[index]; !ok {
			return nil
		}
	}
	if !s.isOpen(index) {
		return nil // a delta after the block's stop
	}
	return s.emit(wire.EventContentBlockDelta, wire.ContentBlockDeltaEvent{Type: wire.EventContentBlockDelta, Index: n, Delta: d})
}

func (s *streamWriter) isOpen(index int) bool {
	for _, i := range s.open {
		if i == index {
			return true
		}
	}
	return false
}

func (s *streamWriter) blockStop(index int) error {
	for k, i := range s.open {
		if i == index {
			s.open = append(s.open[:k], s.open[k+1:]...)
			return s.emit(wire.EventContentBlockStop, wire.ContentBlockStopEvent{Type: wire.EventContentBlockStop, Index: s.index[index]})
		}
	}
	return nil
}

// stop closes the blocks still open, then writes message_delta with the
// stop reason and the final usage, and message_stop.
func (s *streamWriter) stop(ev llm.Event) error {
	for len(s.open) > 0 {
		if err := s.blockStop(s.open[0]); err != nil {
			return err
		}
	}
	s.finished = true
	stop := stopToWire(ev.StopReason)
	md := wire.MessageDeltaEvent{Type: wire.EventMessageDelta, Delta: wire.MessageDelta{StopReason: &stop}}
	if ev.StopSeq != "" {
		seq := ev.StopSeq
		md.Delta.StopSequence = &seq
	}
	u, known := s.usage, s.hasUsage
	if ev.Usage != nil {
		u, known = *ev.Usage, true
	}
	wu := toWireUsage(u)
	md.Usage.OutputTokens = wu.OutputTokens
	md.Usage.OutputTokensDetails = wu.OutputTokensDetails
	if known {
		md.Usage.InputTokens = &wu.InputTokens
		md.Usage.CacheCreationInputTokens = &wu.CacheCreationInputTokens
		md.Usage.CacheReadInputTokens = &wu.CacheReadInputTokens
	}
	if err := s.emit(wire.EventMessageDelta, md); err != nil {
		return err
	}
	return s.emit(wire.EventMessageStop, wire.MessageStopEvent{Type: wire.EventMessageStop})
}

// emit writes one event as the API does: "event: <name>\ndata: <json>\n\n".
func (s *streamWriter) emit(name string, v any) error {
	// Deltas and block stops, nearly every event, are written with append
	// calls into a reused buffer (appendEvent); the rest with json.Marshal.
	data, ok := appendEvent(s.json[:0], v)
	if ok {
		s.json = data
	} else {
		var err error
		if data, err = json.Marshal(v); err != nil {
			return err
		}
	}
	s.buf = sse.AppendEvent(s.buf[:0], name, data)
	_, err := s.w.Write(s.buf)
	return err
}
