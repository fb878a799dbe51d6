package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/sse"
)

// StreamReader decodes a chat completion stream (data: chunk lines, then
// data: [DONE]) into canonical events. OpenAI streams have no block
// boundaries: the reader opens a block at the first delta of a kind
// (reasoning, content, each tool call index) and closes the open block when
// another kind starts, at finish_reason, or at [DONE]. It is used on the
// bytes exactly as the upstream sends them, as a metering tap too, and
// keeps no more than the current SSE line.
type StreamReader struct {
	p sse.Parser

	started   bool
	id, model string

	next    int         // the next canonical block index
	cur     int         // the open block, or -1
	curKind string      // "text", "thinking" or "tool"
	tools   map[int]int // tool_calls[].index -> block index

	sawTool  bool
	refusal  bool
	finish   string
	usage    llm.Usage
	hasUsage bool
	failed   bool
	done     bool
}

var _ llm.StreamReader = (*StreamReader)(nil)

// NewStreamReader returns a reader for one stream.
func NewStreamReader() *StreamReader { return &StreamReader{cur: -1, tools: map[int]int{}} }

// Done implements llm.StreamReader: true once [DONE] has been read.
func (r *StreamReader) Done() bool { return r.done }

// Usage implements llm.StreamReader: the last usage object seen.
func (r *StreamReader) Usage() (llm.Usage, bool) { return r.usage, r.hasUsage }

// Feed implements llm.StreamReader.
func (r *StreamReader) Feed(b []byte, emit func(llm.Event)) error {
	if r.done {
		return nil
	}
	var err error
	perr := r.p.Feed(b, func(ev sse.Event) {
		if err == nil && !r.done {
			err = r.event(ev.Data, emit)
		}
	})
	if perr != nil {
		return perr
	}
	return err
}

// streamChunk is a chunk or an error line.
type streamChunk struct {
	oa.ChatChunk
	Error json.RawMessage `json:"error"`
}

func (r *StreamReader) event(data []byte, emit func(llm.Event)) error {
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0:
		return nil
	case sse.IsDone(data):
		r.closeBlock(emit)
		r.done = true
		if r.failed {
			return nil
		}
		r.start(emit)
		ev := llm.Event{Type: llm.EvStop, StopReason: stopReason(r.finish, r.sawTool)}
		if r.refusal {
			ev.StopReason = llm.StopRefusal
		}
		if r.hasUsage {
			u := r.usage
			ev.Usage = &u
		}
		emit(ev)
		return nil
	}
	var c streamChunk
	if !decodeStreamChunk(data, &c) {
		c = streamChunk{}
		if err := json.Unmarshal(data, &c); err != nil {
			return fmt.Errorf("openai stream: malformed chunk: %w", err)
		}
	}
	if !isNull(c.Error) {
		r.closeBlock(emit)
		r.failed = true
		emit(llm.Event{Type: llm.EvError, Err: UpstreamCodec{}.DecodeError(0, data)})
		return nil
	}
	if c.ID != "" && r.id == "" {
		r.id = c.ID
	}
	if c.Model != "" && r.model == "" {
		r.model = c.Model
	}
	if len(c.Choices) > 0 || c.ID != "" {
		r.start(emit)
	}
	if c.Usage != nil {
		r.usage, r.hasUsage = usageOf(c.Usage), true
	}
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			continue // Sluice never asks for more than one choice
		}
		d := ch.Delta
		if s := deref(d.ReasoningContent, d.Reasoning); s != "" {
			r.open(llm.PartThinking, emit)
			emit(llm.Event{Type: llm.EvThinkingDelta, Index: r.cur, Text: s})
		}
		if d.Content != nil && *d.Content != "" {
			r.open(llm.PartText, emit)
			emit(llm.Event{Type: llm.EvTextDelta, Index: r.cur, Text: *d.Content})
		}
		if d.Refusal != nil && *d.Refusal != "" {
			r.refusal = true
			r.open(llm.PartText, emit)
			emit(llm.Event{Type: llm.EvTextDelta, Index: r.cur, Text: *d.Refusal})
		}
		for _, tc := range d.ToolCalls {
			bi, seen := r.tools[tc.Index]
			if !seen {
				r.closeBlock(emit)
				bi = r.next
				r.next++
				r.tools[tc.Index] = bi
				r.cur, r.curKind, r.sawTool = bi, "tool", true
				id := tc.ID
				if id == "" {
					id = "call_" + randomID(24)
				}
				emit(llm.Event{Type: llm.EvBlockStart, Index: bi,
					Block: &llm.Part{Type: llm.PartToolCall, ToolCallID: id, ToolName: tc.Function.Name}})
			}
			if tc.Function.Arguments != "" {
				// A fragment of an earlier call (no server is known to
				// interleave them) keeps its own index.
				emit(llm.Event{Type: llm.EvToolArgsDelta, Index: bi, Text: tc.Function.Arguments})
			}
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			r.closeBlock(emit)
			r.finish = *ch.FinishReason
		}
	}
	return nil
}

func (r *StreamReader) start(emit func(llm.Event)) {
	if !r.started {
		r.started = true
		emit(llm.Event{Type: llm.EvStart, ID: r.id, Model: r.model})
	}
}

// open makes a text or thinking block the open one.
func (r *StreamReader) open(t llm.PartType, emit func(llm.Event)) {
	if r.cur >= 0 && r.curKind == string(t) {
		return
	}
	r.closeBlock(emit)
	r.start(emit)
	r.cur, r.curKind = r.next, string(t)
	r.next++
	emit(llm.Event{Type: llm.EvBlockStart, Index: r.cur, Block: &llm.Part{Type: t}})
}

func (r *StreamReader) closeBlock(emit func(llm.Event)) {
	if r.cur >= 0 {
		emit(llm.Event{Type: llm.EvBlockStop, Index: r.cur})
		r.cur, r.curKind = -1, ""
	}
}

func deref(a, b *string) string {
	if a != nil && *a != "" {
		return *a
	}
	if b != nil {
		return *b
	}
	return ""
}

// NewStreamWriter implements llm.ClientCodec.
func (c ClientCodec) NewStreamWriter(w io.Writer, req *llm.Request) llm.StreamWriter {
	return &streamWriter{c: c, w: w, req: req, tools: map[int]int{}}
}

// streamWriter renders canonical events as chat.completion.chunk lines.
type streamWriter struct {
	c   ClientCodec
	w   io.Writer
	req *llm.Request

	started   bool
	id, model string
	created   int64
	tools     map[int]int // block index -> tool_calls[].index
	usage     *llm.Usage
	ended     bool
	buf       []byte
	json      []byte // the chunk being written, reused
}

func (s *streamWriter) Write(ev llm.Event) error {
	if s.ended {
		return nil
	}
	if ev.Type == llm.EvError {
		e := ev.Err
		if e == nil {
			e = &llm.Error{Status: 502, Type: "server", Message: "upstream error"}
		}
		return s.writeError(e, errorCode(e.Type))
	}
	if ev.Usage != nil {
		u := *ev.Usage
		s.usage = &u
	}
	if ev.Type == llm.EvStart {
		return s.start(ev.ID, ev.Model)
	}
	if err := s.start("", ""); err != nil {
		return err
	}
	switch ev.Type {
	case llm.EvBlockStart:
		if ev.Block != nil && ev.Block.Type == llm.PartToolCall {
			k := len(s.tools)
			s.tools[ev.Index] = k
			return s.chunk(oa.ChatDelta{ToolCalls: []oa.ChatToolCallDelta{{Index: k, ID: ev.Block.ToolCallID, Type: "function",
				Function: oa.ChatFunctionDelta{Name: ev.Block.ToolName}}}}, nil)
		}
	case llm.EvTextDelta:
		if ev.Text != "" {
			return s.chunk(oa.ChatDelta{Content: &ev.Text}, nil)
		}
	case llm.EvThinkingDelta:
		if ev.Text != "" {
			return s.chunk(oa.ChatDelta{ReasoningContent: &ev.Text}, nil)
		}
	case llm.EvToolArgsDelta:
		k, ok := s.tools[ev.Index]
		if !ok {
			k = len(s.tools)
			s.tools[ev.Index] = k
		}
		return s.chunk(oa.ChatDelta{ToolCalls: []oa.ChatToolCallDelta{{Index: k,
			Function: oa.ChatFunctionDelta{Arguments: ev.Text}}}}, nil)
	case llm.EvStop:
		s.ended = true
		finish := finishReason(ev.StopReason)
		if err := s.chunk(oa.ChatDelta{}, &finish); err != nil {
			return err
		}
		if s.req != nil && s.req.IncludeUsage {
			var u llm.Usage
			if s.usage != nil {
				u = *s.usage
			}
			c := s.base()
			c.Choices = []oa.ChatChunkChoice{}
			c.Usage = chatUsage(u)
			if err := s.send(c); err != nil {
				return err
			}
		}
		_, err := s.w.Write([]byte("data: [DONE]\n\n"))
		return err
	}
	// EvSignatureDelta and EvBlockStop have no OpenAI form.
	return nil
}

// Fail implements llm.StreamWriter: an error line, and no [DONE].
func (s *streamWriter) Fail(e *llm.Error) error {
	if s.ended {
		return nil
	}
	if e == nil {
		e = &llm.Error{Status: 502, Type: "server", Message: "the upstream stream ended early"}
	}
	return s.writeError(e, "upstream_stream_truncated")
}

func (s *streamWriter) writeError(e *llm.Error, code string) error {
	s.ended = true
	s.buf = sse.AppendEvent(s.buf[:0], "", oa.MarshalError(errorType(e.Type), code, e.Param, e.Message, ""))
	_, err := s.w.Write(s.buf)
	return err
}

func (s *streamWriter) start(id, model string) error {
	if s.started {
		return nil
	}
	s.started = true
	s.id, s.model, s.created = id, model, s.c.now().Unix()
	if s.id == "" {
		s.id = s.c.newID()
	}
	if s.model == "" && s.req != nil {
		s.model = s.req.Model
	}
	empty := ""
	return s.chunk(oa.ChatDelta{Role: "assistant", Content: &empty}, nil)
}

func (s *streamWriter) base() oa.ChatChunk {
	return oa.ChatChunk{ID: s.id, Object: "chat.completion.chunk", Created: s.created, Model: s.model}
}

func (s *streamWriter) chunk(d oa.ChatDelta, finish *string) error {
	c := s.base()
	c.Choices = []oa.ChatChunkChoice{{Index: 0, Delta: d, Logprobs: json.RawMessage("null"), FinishReason: finish}}
	return s.send(c)
}

func (s *streamWriter) send(c oa.ChatChunk) error {
	var err error
	if s.json, err = appendChatChunk(s.json[:0], &c); err != nil {
		return err
	}
	s.buf = sse.AppendEvent(s.buf[:0], "", s.json)
	_, err = s.w.Write(s.buf)
	return err
}
