package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	api "github.com/sluicehq/sluice/internal/apischema/gemini"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/sse"
)

// MaxChunk bounds one stream chunk (an SSE line or a JSON array element).
// Gemini sends a generated image whole in one chunk, so the bound is far
// above the SSE parser's default.
const MaxChunk = 16 << 20

// NewStreamReader implements llm.UpstreamCodec. The reader takes the
// streamGenerateContent?alt=sse format ("data: {chunk}" events, no event
// names, no [DONE]) and also, detected from the first byte, the JSON array
// that the endpoint sends without alt=sse.
func (UpstreamCodec) NewStreamReader() llm.StreamReader {
	r := &streamReader{}
	r.sse.MaxLine = MaxChunk
	return r
}

type blockKind int

const (
	blockNone blockKind = iota
	blockText
	blockThinking
)

// streamReader turns Gemini chunks into canonical events: a block for each
// run of text, each run of thoughts, each signature on a non-thought part
// (a text-less thinking block, as in DecodeResponse) and each function
// call (sent whole, so BlockStart, one ToolArgsDelta, BlockStop).
type streamReader struct {
	sse   sse.Parser
	mode  byte // 0 until the first byte, then 's' (SSE) or 'a' (JSON array)
	array arrayScanner
	err   error // the first chunk that could not be parsed; sticky

	started, done bool
	id            string // the response id, for tool call ids
	usage         llm.Usage
	hasUsage      bool

	open       blockKind
	openIndex  int
	openSigned bool // the open thinking block has its signature
	next       int  // the index of the next block
	calls      int
}

// Feed implements llm.StreamReader.
func (r *streamReader) Feed(b []byte, emit func(llm.Event)) error {
	if r.err != nil {
		return r.err
	}
	if r.mode == 0 {
		t := bytes.TrimLeft(b, " \t\r\n")
		if len(t) == 0 {
			return nil
		}
		b = t
		r.mode = 's'
		if t[0] == '[' {
			r.mode = 'a'
		}
	}
	var err error
	if r.mode == 'a' {
		err = r.array.feed(b, func(chunk []byte) {
			if r.err == nil {
				r.err = r.chunk(chunk, emit)
			}
		})
	} else {
		err = r.sse.Feed(b, func(ev sse.Event) {
			if r.err == nil {
				r.err = r.chunk(ev.Data, emit)
			}
		})
	}
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("gemini stream: %w", err)
	}
	return r.err
}

// Done implements llm.StreamReader: a chunk with a finishReason (or a
// blocked prompt) has been seen.
func (r *streamReader) Done() bool { return r.done }

// Usage implements llm.StreamReader.
func (r *streamReader) Usage() (llm.Usage, bool) { return r.usage, r.hasUsage }

func (r *streamReader) chunk(data []byte, emit func(llm.Event)) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil
	}
	var c api.GenerateContentResponse
	if err := json.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("gemini stream: malformed chunk: %w", err)
	}
	if c.Error != nil {
		emit(llm.Event{Type: llm.EvError, Err: errorFromObject(0, c.Error)})
		return nil
	}
	if c.UsageMetadata != nil {
		r.usage, r.hasUsage = usageFrom(c.UsageMetadata), true
	}
	if r.done {
		return nil
	}
	if !r.started {
		r.started = true
		r.id = c.ResponseID
		ev := llm.Event{Type: llm.EvStart, ID: c.ResponseID, Model: c.ModelVersion}
		if r.hasUsage {
			ev.Usage = &llm.Usage{InputTokens: r.usage.InputTokens, CachedTokens: r.usage.CachedTokens}
		}
		emit(ev)
	}
	if len(c.Candidates) == 0 {
		if c.PromptFeedback != nil && c.PromptFeedback.BlockReason != "" {
			r.stop(llm.StopContentFilter, emit)
		}
		return nil
	}
	cand := c.Candidates[0]
	if cand.Content != nil {
		for _, p := range cand.Content.Parts {
			r.part(p, emit)
		}
	}
	if cand.FinishReason != "" {
		r.stop(stopReason(cand.FinishReason, r.calls > 0), emit)
	}
	return nil
}

func (r *streamReader) stop(reason llm.StopReason, emit func(llm.Event)) {
	r.close(emit)
	ev := llm.Event{Type: llm.EvStop, StopReason: reason}
	if r.hasUsage {
		u := r.usage
		ev.Usage = &u
	}
	emit(ev)
	r.done = true
}

func (r *streamReader) close(emit func(llm.Event)) {
	if r.open != blockNone {
		emit(llm.Event{Type: llm.EvBlockStop, Index: r.openIndex})
		r.open = blockNone
		r.openSigned = false
	}
}

func (r *streamReader) start(kind blockKind, block llm.Part, emit func(llm.Event)) int {
	r.close(emit)
	i := r.next
	r.next++
	emit(llm.Event{Type: llm.EvBlockStart, Index: i, Block: &block})
	r.open, r.openIndex = kind, i
	return i
}

func (r *streamReader) part(p api.Part, emit func(llm.Event)) {
	text := ""
	if p.Text != nil {
		text = *p.Text
	}
	sig := p.ThoughtSignature
	if p.Thought {
		if text == "" && sig == "" {
			return
		}
		if r.open != blockThinking || r.openSigned {
			r.start(blockThinking, llm.Part{Type: llm.PartThinking}, emit)
		}
		if text != "" {
			emit(llm.Event{Type: llm.EvThinkingDelta, Index: r.openIndex, Text: text})
		}
		if sig != "" {
			emit(llm.Event{Type: llm.EvSignatureDelta, Index: r.openIndex, Text: sig})
			r.openSigned = true
		}
		return
	}
	if sig != "" {
		i := r.start(blockThinking, llm.Part{Type: llm.PartThinking}, emit)
		emit(llm.Event{Type: llm.EvSignatureDelta, Index: i, Text: sig})
		r.close(emit)
	}
	switch {
	case p.FunctionCall != nil:
		args, ok := objectArgs(p.FunctionCall.Args)
		if !ok {
			args = json.RawMessage("{}")
		}
		i := r.start(blockNone, llm.Part{
			Type:       llm.PartToolCall,
			ToolCallID: responseCallID(r.id, r.calls, p.FunctionCall),
			ToolName:   p.FunctionCall.Name,
		}, emit)
		r.calls++
		emit(llm.Event{Type: llm.EvToolArgsDelta, Index: i, Text: string(args)})
		emit(llm.Event{Type: llm.EvBlockStop, Index: i})
	case text != "":
		if r.open != blockText {
			r.start(blockText, llm.Part{Type: llm.PartText}, emit)
		}
		emit(llm.Event{Type: llm.EvTextDelta, Index: r.openIndex, Text: text})
	}
}

// arrayScanner splits a JSON array of objects, fed in pieces, into its
// elements.
type arrayScanner struct {
	buf      []byte
	depth    int
	inString bool
	escape   bool
}

var errChunkTooLarge = errors.New("chunk too large")

func (s *arrayScanner) feed(b []byte, emit func([]byte)) error {
	for _, c := range b {
		if s.depth == 0 {
			// Between elements: '[', ',', ']' and white space.
			if c != '{' {
				continue
			}
		}
		s.buf = append(s.buf, c)
		if len(s.buf) > MaxChunk {
			return errChunkTooLarge
		}
		switch {
		case s.inString:
			switch {
			case s.escape:
				s.escape = false
			case c == '\\':
				s.escape = true
			case c == '"':
				s.inString = false
			}
		case c == '"':
			s.inString = true
		case c == '{' || c == '[':
			s.depth++
		case c == '}' || c == ']':
			s.depth--
			if s.depth == 0 {
				emit(s.buf)
				s.buf = s.buf[:0]
			}
		}
	}
	return nil
}

// NewStreamWriter implements llm.ClientCodec. It renders events as
// streamGenerateContent?alt=sse chunks: text and thoughts as they arrive,
// each function call whole when its block stops (Gemini sends calls
// whole), and a last chunk with the finishReason and usageMetadata.
func (ClientCodec) NewStreamWriter(w io.Writer, req *llm.Request) llm.StreamWriter {
	sw := &streamWriter{w: w, blocks: map[int]*writerBlock{}, calls: map[int]api.Part{}}
	if req != nil {
		sw.model = req.Model
	}
	return sw
}

type writerBlock struct {
	typ     llm.PartType
	name    string
	args    []byte
	sig     string
	hasText bool
}

type streamWriter struct {
	w         io.Writer
	id, model string
	blocks    map[int]*writerBlock
	pending   string // a signature waiting for the next part
	// calls holds function calls whose blocks have stopped while a tool
	// call block with a lower index is still open, so that calls go out in
	// index order even when an upstream interleaves them.
	calls map[int]api.Part
	buf   []byte
	ended bool // an error chunk was written: nothing may follow it
}

// Write implements llm.StreamWriter.
func (sw *streamWriter) Write(ev llm.Event) error {
	switch ev.Type {
	case llm.EvStart:
		sw.id = ev.ID
		if ev.Model != "" {
			sw.model = ev.Model
		}
	case llm.EvBlockStart:
		b := &writerBlock{typ: llm.PartText}
		if ev.Block != nil {
			b.typ, b.name = ev.Block.Type, ev.Block.ToolName
		}
		sw.blocks[ev.Index] = b
	case llm.EvTextDelta:
		if ev.Text == "" {
			return nil
		}
		return sw.parts([]api.Part{sw.attach(textPart(ev.Text))}, "", nil)
	case llm.EvThinkingDelta:
		if ev.Text == "" {
			return nil
		}
		if b := sw.blocks[ev.Index]; b != nil {
			b.hasText = true
		}
		p := textPart(ev.Text)
		p.Thought = true
		return sw.parts(append(sw.flushPending(), p), "", nil)
	case llm.EvSignatureDelta:
		if b := sw.blocks[ev.Index]; b != nil {
			b.sig += ev.Text
		}
	case llm.EvToolArgsDelta:
		if b := sw.blocks[ev.Index]; b != nil {
			b.args = append(b.args, ev.Text...)
		}
	case llm.EvBlockStop:
		b := sw.blocks[ev.Index]
		delete(sw.blocks, ev.Index)
		if b == nil {
			return nil
		}
		return sw.stopBlock(ev.Index, b)
	case llm.EvStop:
		return sw.stop(ev)
	case llm.EvError:
		return sw.Fail(ev.Err)
	}
	return nil
}

func (sw *streamWriter) stopBlock(index int, b *writerBlock) error {
	switch b.typ {
	case llm.PartThinking:
		if b.sig == "" {
			return nil
		}
		if b.hasText {
			p := textPart("")
			p.Thought = true
			p.ThoughtSignature = b.sig
			return sw.parts([]api.Part{p}, "", nil)
		}
		parts := sw.flushPending()
		sw.pending = b.sig
		if len(parts) > 0 {
			return sw.parts(parts, "", nil)
		}
	case llm.PartToolCall:
		args, ok := objectArgs(b.args)
		if !ok {
			args = json.RawMessage("{}")
		}
		sw.calls[index] = api.Part{FunctionCall: &api.FunctionCall{Name: b.name, Args: args}}
		return sw.flushCalls(false)
	}
	return nil
}

// flushCalls sends the stopped function calls that no open tool call block
// precedes (all of them when all is true), in index order.
func (sw *streamWriter) flushCalls(all bool) error {
	limit := math.MaxInt
	if !all {
		for i, b := range sw.blocks {
			if b.typ == llm.PartToolCall && i < limit {
				limit = i
			}
		}
	}
	idx := make([]int, 0, len(sw.calls))
	for i := range sw.calls {
		if i < limit {
			idx = append(idx, i)
		}
	}
	sort.Ints(idx)
	for _, i := range idx {
		p := sw.calls[i]
		delete(sw.calls, i)
		if err := sw.parts([]api.Part{sw.attach(p)}, "", nil); err != nil {
			return err
		}
	}
	return nil
}

// attach puts a waiting signature on p.
func (sw *streamWriter) attach(p api.Part) api.Part {
	p.ThoughtSignature, sw.pending = sw.pending, ""
	return p
}

// flushPending returns a waiting signature as a part of its own.
func (sw *streamWriter) flushPending() []api.Part {
	if sw.pending == "" {
		return nil
	}
	p := textPart("")
	p.ThoughtSignature, sw.pending = sw.pending, ""
	return []api.Part{p}
}

func (sw *streamWriter) stop(ev llm.Event) error {
	// Tool calls whose blocks never stopped are sent now, in index order.
	idx := make([]int, 0, len(sw.blocks))
	for i, b := range sw.blocks {
		if b.typ == llm.PartToolCall {
			idx = append(idx, i)
		}
	}
	sort.Ints(idx)
	for _, i := range idx {
		b := sw.blocks[i]
		delete(sw.blocks, i)
		if err := sw.stopBlock(i, b); err != nil {
			return err
		}
	}
	if err := sw.flushCalls(true); err != nil {
		return err
	}
	parts := sw.flushPending()
	if len(parts) == 0 {
		parts = []api.Part{textPart("")}
	}
	var u llm.Usage
	if ev.Usage != nil {
		u = *ev.Usage
	}
	return sw.parts(parts, finishReason(ev.StopReason), usageMetadata(u))
}

func (sw *streamWriter) parts(parts []api.Part, finish string, usage *api.UsageMetadata) error {
	c := api.GenerateContentResponse{
		Candidates: []api.Candidate{{
			Content:      &api.Content{Role: api.RoleModel, Parts: parts},
			FinishReason: finish,
		}},
		UsageMetadata: usage,
		ModelVersion:  sw.model,
		ResponseID:    sw.id,
	}
	return sw.chunk(c)
}

func (sw *streamWriter) chunk(v any) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	sw.buf = append(sw.buf[:0], "data: "...)
	sw.buf = append(sw.buf, b...)
	sw.buf = append(sw.buf, "\r\n\r\n"...)
	_, err = sw.w.Write(sw.buf)
	return err
}

// Fail implements llm.StreamWriter: a last chunk holding Google's error
// envelope, as Gemini sends a failure mid-stream.
func (sw *streamWriter) Fail(e *llm.Error) error {
	if sw.ended {
		return nil
	}
	sw.ended = true
	return sw.chunk(api.ErrorBody{Error: errorObject(e)})
}
