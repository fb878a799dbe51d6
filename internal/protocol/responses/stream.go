package responses

import (
	"io"
	"strings"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/sse"
)

// NewStreamWriter implements llm.ClientCodec.
func (c ClientCodec) NewStreamWriter(w io.Writer, req *llm.Request) llm.StreamWriter {
	if req == nil {
		req = &llm.Request{}
	}
	return &streamWriter{c: c, w: w, req: req, blocks: map[int]*block{}}
}

// streamWriter renders canonical events as Responses stream events:
//
//	response.created, response.in_progress
//	per block: response.output_item.added, the part's added event, deltas,
//	  the part's done events, response.output_item.done
//	response.completed or response.incomplete (the full response, with usage)
//
// or, when the stream fails, error then response.failed.
type streamWriter struct {
	c   ClientCodec
	w   io.Writer
	req *llm.Request

	ids     ids
	resp    *oa.ResponsesObject
	seq     int64
	started bool
	ended   bool
	blocks  map[int]*block // canonical index -> block
	usage   llm.Usage
	buf     []byte
}

// block is the state of one output item being streamed.
type block struct {
	kind    llm.PartType
	out     int // output_index
	id      string
	text    strings.Builder // text, thinking or arguments
	sig     strings.Builder
	item    any // the item in resp.Output, updated when the block stops
	stopped bool
}

func intp(i int) *int               { return &i }
func strp(s string) *string         { return &s }
func emptyLogprobs() []byte         { return []byte("[]") }
func (s *streamWriter) next() int64 { s.seq++; return s.seq - 1 }

func (s *streamWriter) Write(ev llm.Event) error {
	if s.ended {
		return nil
	}
	if ev.Usage != nil {
		s.usage = *ev.Usage
	}
	if ev.Type == llm.EvError {
		e := ev.Err
		if e == nil {
			e = &llm.Error{Status: 502, Type: "server", Message: "upstream error"}
		}
		return s.fail(e, errorCode(e.Type))
	}
	if err := s.start(ev.ID, ev.Model); err != nil || ev.Type == llm.EvStart {
		return err
	}
	switch ev.Type {
	case llm.EvBlockStart:
		part := llm.Part{Type: llm.PartText}
		if ev.Block != nil {
			part = *ev.Block
		}
		return s.open(ev.Index, part)
	case llm.EvTextDelta, llm.EvThinkingDelta, llm.EvToolArgsDelta:
		if ev.Text == "" {
			return nil
		}
		b, err := s.blockFor(ev)
		if err != nil || b == nil {
			return err
		}
		b.text.WriteString(ev.Text)
		e := oa.ResponsesEvent{OutputIndex: intp(b.out), ItemID: b.id, Delta: strp(ev.Text)}
		switch b.kind {
		case llm.PartText:
			e.Type, e.ContentIndex, e.Logprobs = "response.output_text.delta", intp(0), emptyLogprobs()
		case llm.PartThinking:
			e.Type, e.SummaryIndex = "response.reasoning_summary_text.delta", intp(0)
		case llm.PartToolCall:
			e.Type = "response.function_call_arguments.delta"
		}
		return s.emit(e)
	case llm.EvSignatureDelta:
		if b := s.blocks[ev.Index]; b != nil && !b.stopped {
			b.sig.WriteString(ev.Text)
		}
	case llm.EvBlockStop:
		if b := s.blocks[ev.Index]; b != nil {
			return s.close(b)
		}
	case llm.EvStop:
		for _, b := range s.ordered() {
			if b == nil {
				continue
			}
			if err := s.close(b); err != nil {
				return err
			}
		}
		s.ended = true
		finish(s.resp, ev.StopReason, s.usage)
		typ := "response.completed"
		if s.resp.Status == "incomplete" {
			typ = "response.incomplete"
		}
		return s.emit(oa.ResponsesEvent{Type: typ, Response: s.resp})
	}
	return nil
}

// blockFor returns the open block of a delta, opening one of the delta's
// kind when the stream skipped its start.
func (s *streamWriter) blockFor(ev llm.Event) (*block, error) {
	b := s.blocks[ev.Index]
	if b == nil {
		kind := map[llm.EventType]llm.PartType{llm.EvTextDelta: llm.PartText, llm.EvThinkingDelta: llm.PartThinking,
			llm.EvToolArgsDelta: llm.PartToolCall}[ev.Type]
		if err := s.open(ev.Index, llm.Part{Type: kind}); err != nil {
			return nil, err
		}
		b = s.blocks[ev.Index]
	}
	if b.stopped {
		return nil, nil // a delta after its block stopped has nowhere to go
	}
	return b, nil
}

func (s *streamWriter) open(index int, part llm.Part) error {
	if old := s.blocks[index]; old != nil && !old.stopped {
		if err := s.close(old); err != nil {
			return err
		}
	}
	b := &block{kind: part.Type, out: len(s.resp.Output)}
	var added any
	switch part.Type {
	case llm.PartThinking, llm.PartRedactedThinking:
		b.id = s.ids.item("rs", b.out)
		it := reasoningItem(b.id, part)
		it.Summary = []oa.ResponsesSummaryText{}
		b.item, added = it, &oa.ResponsesReasoningItem{Type: "reasoning", ID: b.id, Summary: []oa.ResponsesSummaryText{}}
		if part.Type == llm.PartRedactedThinking {
			b.kind = llm.PartRedactedThinking
		}
	case llm.PartToolCall:
		b.id = s.ids.item("fc", b.out)
		it := &oa.ResponsesFunctionCall{Type: "function_call", ID: b.id, CallID: part.ToolCallID, Name: part.ToolName, Status: "in_progress"}
		cp := *it
		b.item, added = it, &cp
	default:
		b.kind = llm.PartText
		b.id = s.ids.item("msg", b.out)
		it := &oa.ResponsesMessage{Type: "message", ID: b.id, Status: "in_progress", Role: "assistant", Content: []oa.ResponsesOutputText{}}
		cp := *it
		b.item, added = it, &cp
	}
	s.blocks[index] = b
	s.resp.Output = append(s.resp.Output, b.item)
	if err := s.emit(oa.ResponsesEvent{Type: "response.output_item.added", OutputIndex: intp(b.out), Item: added}); err != nil {
		return err
	}
	switch b.kind {
	case llm.PartText:
		return s.emit(oa.ResponsesEvent{Type: "response.content_part.added", ItemID: b.id, OutputIndex: intp(b.out),
			ContentIndex: intp(0), Part: outputText("")})
	case llm.PartThinking:
		return s.emit(oa.ResponsesEvent{Type: "response.reasoning_summary_part.added", ItemID: b.id, OutputIndex: intp(b.out),
			SummaryIndex: intp(0), Part: oa.ResponsesSummaryText{Type: "summary_text", Text: ""}})
	}
	return nil
}

func (s *streamWriter) close(b *block) error {
	if b.stopped {
		return nil
	}
	b.stopped = true
	text := b.text.String()
	switch it := b.item.(type) {
	case *oa.ResponsesMessage:
		it.Status = "completed"
		it.Content = []oa.ResponsesOutputText{outputText(text)}
		if err := s.emit(oa.ResponsesEvent{Type: "response.output_text.done", ItemID: b.id, OutputIndex: intp(b.out),
			ContentIndex: intp(0), Text: strp(text), Logprobs: emptyLogprobs()}); err != nil {
			return err
		}
		if err := s.emit(oa.ResponsesEvent{Type: "response.content_part.done", ItemID: b.id, OutputIndex: intp(b.out),
			ContentIndex: intp(0), Part: outputText(text)}); err != nil {
			return err
		}
	case *oa.ResponsesReasoningItem:
		if b.kind == llm.PartThinking {
			part := oa.ResponsesSummaryText{Type: "summary_text", Text: text}
			it.Summary = []oa.ResponsesSummaryText{part}
			if sig := b.sig.String(); sig != "" {
				it.EncryptedContent = &sig
			}
			if err := s.emit(oa.ResponsesEvent{Type: "response.reasoning_summary_text.done", ItemID: b.id, OutputIndex: intp(b.out),
				SummaryIndex: intp(0), Text: strp(text)}); err != nil {
				return err
			}
			if err := s.emit(oa.ResponsesEvent{Type: "response.reasoning_summary_part.done", ItemID: b.id, OutputIndex: intp(b.out),
				SummaryIndex: intp(0), Part: part}); err != nil {
				return err
			}
		}
	case *oa.ResponsesFunctionCall:
		it.Status = "completed"
		it.Arguments = text
		if err := s.emit(oa.ResponsesEvent{Type: "response.function_call_arguments.done", ItemID: b.id, OutputIndex: intp(b.out),
			Name: it.Name, Arguments: strp(text)}); err != nil {
			return err
		}
	}
	return s.emit(oa.ResponsesEvent{Type: "response.output_item.done", OutputIndex: intp(b.out), Item: b.item})
}

// ordered returns the blocks in output order.
func (s *streamWriter) ordered() []*block {
	out := make([]*block, len(s.resp.Output))
	for _, b := range s.blocks {
		out[b.out] = b
	}
	return out
}

// Fail implements llm.StreamWriter: an error event, then response.failed.
func (s *streamWriter) Fail(e *llm.Error) error {
	if s.ended {
		return nil
	}
	if e == nil {
		e = &llm.Error{Status: 502, Type: "server", Message: "the upstream stream ended early"}
	}
	return s.fail(e, "upstream_stream_truncated")
}

func (s *streamWriter) fail(e *llm.Error, code string) error {
	if err := s.start("", ""); err != nil {
		return err
	}
	s.ended = true
	ev := oa.ResponsesErrorEvent{Type: "error", SequenceNumber: s.next(), Code: &code, Message: e.Message}
	if e.Param != "" {
		ev.Param = &e.Param
	}
	if err := s.write("error", ev); err != nil {
		return err
	}
	for _, b := range s.blocks { // the output so far, marked incomplete
		if b.stopped {
			continue
		}
		switch it := b.item.(type) {
		case *oa.ResponsesMessage:
			it.Status, it.Content = "incomplete", []oa.ResponsesOutputText{outputText(b.text.String())}
		case *oa.ResponsesFunctionCall:
			it.Status, it.Arguments = "incomplete", b.text.String()
		case *oa.ResponsesReasoningItem:
			if b.kind == llm.PartThinking {
				it.Summary = []oa.ResponsesSummaryText{{Type: "summary_text", Text: b.text.String()}}
			}
		}
	}
	s.resp.Status = "failed"
	s.resp.Error = &oa.ResponsesError{Code: code, Message: e.Message}
	s.resp.Usage = responsesUsage(s.usage)
	return s.emit(oa.ResponsesEvent{Type: "response.failed", Response: s.resp})
}

// errorCode is the Responses error code of a generic error kind.
func errorCode(kind string) string {
	switch kind {
	case "rate_limit":
		return "rate_limit_exceeded"
	case "invalid_request", "request_too_large":
		return "invalid_request_error"
	case "overloaded":
		return "server_is_overloaded"
	default:
		return "server_error"
	}
}

func (s *streamWriter) start(id, model string) error {
	if s.started {
		return nil
	}
	s.started = true
	s.ids = ids(s.c.newID())
	s.resp = envelope(s.req, s.ids.response(), model, s.c.now().Unix())
	if err := s.emit(oa.ResponsesEvent{Type: "response.created", Response: s.resp}); err != nil {
		return err
	}
	return s.emit(oa.ResponsesEvent{Type: "response.in_progress", Response: s.resp})
}

// emit numbers and writes an event.
func (s *streamWriter) emit(e oa.ResponsesEvent) error {
	e.SequenceNumber = s.next()
	return s.write(e.Type, e)
}

func (s *streamWriter) write(name string, v any) error {
	data, err := marshal(v)
	if err != nil {
		return err
	}
	s.buf = sse.AppendEvent(s.buf[:0], name, data)
	_, err = s.w.Write(s.buf)
	return err
}
