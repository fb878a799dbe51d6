package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/meter"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/sse"
)

// A streamer turns upstream stream bytes into client stream bytes and
// meters them.
type streamer interface {
	// process consumes upstream bytes and returns what to send the client.
	process(in []byte) []byte
	// done reports whether the upstream's terminal event was seen.
	done() bool
	// broken is the parse error that makes the stream unusable, if any.
	broken() error
	// failure renders the explicit error that ends a cut stream.
	failure(msg string) []byte
	// usage is the usage to bill: reported, or estimated from what passed.
	usage(reqBody []byte) meter.Usage
	// upstreamErr is the error event the upstream sent in the stream, if
	// any: the stream ends there, with that error relayed to the client.
	upstreamErr() string
}

// newStreamer picks the streamer of an attempt; u.injectUsage says that
// Sluice asked an OpenAI upstream for the usage chunk the client did not
// ask for (the tap strips it).
func (h *Handler) newStreamer(c *Call, passthrough bool, u upstreamReq) streamer {
	if tap := bundles[c.in.proto].tap; passthrough && tap != nil {
		return tap(u.injectUsage)
	}
	cc, uc, ireq := u.cc, u.uc, u.ireq
	es := &eventStreamer{}
	if passthrough {
		es.forward = true
		switch c.in.proto {
		case provider.ProtocolResponses:
			if f := h.opts.Codecs.ResponsesTap; f != nil {
				es.reader = f()
			}
		default:
			if uc := h.opts.Codecs.Upstreams[c.in.proto]; uc != nil {
				es.reader = uc.NewStreamReader()
			}
		}
		if cc := h.opts.Codecs.Clients[c.in.proto]; cc != nil {
			es.writer = cc.NewStreamWriter(&es.out, &llm.Request{})
		}
	} else {
		es.reader = uc.NewStreamReader()
		es.writer = cc.NewStreamWriter(&es.out, ireq)
		if c.guard.rewrites() {
			es.guard = newOutputGuard(c)
		}
		if c.cacheWrite != nil {
			es.collect = &collector{}
		}
	}
	es.model = c.entry.ServedModel
	es.emit = es.event
	return es
}

// ender is a StreamReader that holds events until the stream ends (Bedrock
// waits for its metadata frame before the final stop).
type ender interface {
	End(emit func(llm.Event)) error
}

// eventStreamer decodes an upstream stream into canonical events; it
// either forwards the original bytes (same protocol, metering only) or
// renders the events in the client's protocol.
type eventStreamer struct {
	model   string // the served model, for protocols whose streams do not name it
	ended   bool
	reader  llm.StreamReader
	writer  llm.StreamWriter
	forward bool
	cut     eventCutter // forward mode: where a malformed event starts
	out     bytes.Buffer
	emit    func(llm.Event)
	err     error
	text    []byte // generated text, for an estimate when no usage comes
	errMsg  string // the upstream's in-stream error, if one came
	// guard runs the output guardrails over the translated events;
	// collect keeps the answer for the cache. Both nil when unused.
	guard   *outputGuard
	collect *collector
}

func (s *eventStreamer) event(ev llm.Event) {
	if ev.Type == llm.EvStart && ev.Model == "" {
		ev.Model = s.model
	}
	if ev.Type == llm.EvError && s.errMsg == "" {
		s.errMsg = "upstream error"
		if ev.Err != nil {
			s.errMsg = "upstream error event: " + ev.Err.Message
			if ev.Err.Type != "" {
				s.errMsg = "upstream " + ev.Err.Type + " error event: " + ev.Err.Message
			}
		}
	}
	switch ev.Type {
	case llm.EvTextDelta, llm.EvThinkingDelta, llm.EvToolArgsDelta:
		if len(s.text) < maxAccumulated {
			s.text = append(s.text, ev.Text...)
		}
	case llm.EvBlockStart:
		if ev.Block != nil && ev.Block.Type == llm.PartToolCall && len(s.text) < maxAccumulated {
			s.text = append(s.text, ev.Block.ToolName...)
		}
	}
	if !s.forward && s.writer != nil {
		if s.guard != nil {
			s.guard.filter(ev, s.write)
		} else {
			s.write(ev)
		}
	}
}

// write renders an event for the client (and keeps it for the cache).
func (s *eventStreamer) write(ev llm.Event) {
	if s.collect != nil {
		s.collect.event(ev)
	}
	_ = s.writer.Write(ev)
}

// blocked is the guardrail that ended the answer, or "".
func (s *eventStreamer) blocked() string {
	if s.guard == nil {
		return ""
	}
	return s.guard.blocked
}

// failBlocked renders the dialect's error event that ends a stream a
// guardrail blocked (never a stop: no [DONE], no message_stop).
func (s *eventStreamer) failBlocked(name string) []byte {
	s.out.Reset()
	e := blockedError(name, "answer")
	_ = s.writer.Fail(&llm.Error{Status: e.Status, Type: "permission", Message: e.Msg})
	return s.out.Bytes()
}

func (s *eventStreamer) process(in []byte) []byte {
	s.out.Reset()
	if s.forward {
		if s.reader == nil {
			return in
		}
		if s.err != nil {
			return nil
		}
		relay, err := s.cut.feed(in, func(line []byte) error { return s.reader.Feed(line, s.emit) })
		if err != nil {
			s.err = err
		}
		return relay
	}
	if s.reader != nil && s.err == nil {
		if err := s.reader.Feed(in, s.emit); err != nil {
			s.err = err
		}
	}
	return s.out.Bytes()
}

func (s *eventStreamer) done() bool          { return s.reader != nil && s.reader.Done() }
func (s *eventStreamer) upstreamErr() string { return s.errMsg }

// finish flushes a reader that holds events until the end of the stream,
// and returns what that renders for the client.
func (s *eventStreamer) finish() []byte {
	e, ok := s.reader.(ender)
	if !ok || s.ended || s.err != nil {
		return nil
	}
	s.ended = true
	s.out.Reset()
	if err := e.End(s.emit); err != nil {
		s.err = err
	}
	if s.forward {
		return nil
	}
	return s.out.Bytes()
}
func (s *eventStreamer) broken() error { return s.err }

func (s *eventStreamer) failure(msg string) []byte {
	s.out.Reset()
	if s.writer == nil {
		return nil
	}
	if s.forward && s.cut.inEvent {
		s.out.WriteString("\n\n") // terminate the partial event the client holds
	}
	_ = s.writer.Fail(&llm.Error{Status: 502, Type: "server", Message: "Sluice: " + msg + "."})
	return s.out.Bytes()
}

// usage is the upstream's own usage when its stream reached its terminal
// event. A stream that ended before it (cut, stalled, broken, or ended by an
// error event) is billed for what was relayed: the tokenizer's count of the
// text, thinking, tool names and tool arguments that passed, or the partial
// output the upstream reported if that is larger, flagged estimated. The
// input side the upstream reported at the start is kept.
func (s *eventStreamer) usage(reqBody []byte) meter.Usage {
	var u meter.Usage
	ok := false
	if s.reader != nil {
		if u, ok = s.reader.Usage(); ok && s.reader.Done() {
			return u
		}
	}
	relayed := meter.CountText(string(s.text))
	if !ok {
		return meter.Usage{InputTokens: meter.EstimateChatInput(reqBody), OutputTokens: relayed, Estimated: true}
	}
	u.OutputTokens = max(u.OutputTokens, relayed)
	u.Estimated = true
	return u
}

// chatTap implements streamer for OpenAI pass-through (the fast path).
func (t *chatTap) process(in []byte) []byte { return t.feed(in) }
func (t *chatTap) done() bool               { return t.isDone }
func (t *chatTap) upstreamErr() string      { return t.errMsg }
func (t *chatTap) broken() error            { return t.err }
func (t *chatTap) failure(msg string) []byte {
	var out []byte
	if t.cut.inEvent {
		out = append(out, "\n\n"...) // terminate the partial event first
	}
	return sse.AppendEvent(out, "", oa.MarshalError(oa.TypeServer, "upstream_stream_truncated", "", "Sluice: "+msg+".", ""))
}

func (t *chatTap) usage(reqBody []byte) meter.Usage {
	if t.haveUsage {
		return t.u
	}
	return meter.Usage{InputTokens: meter.EstimateChatInput(reqBody), OutputTokens: meter.CountText(string(t.text)), Estimated: true}
}

// relayStream copies a stream chunk by chunk, flushing each read. It
// returns the outcome for the ledger.
func (h *Handler) relayStream(a *attemptRun, resp *http.Response, s streamer) (ledger.Status, string) {
	w, c, stall := a.w, a.c, a.t.Timeouts.Stall
	rc := h.startStream(a, resp, s)
	defer watchStop(h, a)() // stopstreams.go: an emergency stop ends the stream
	bp := streamBufs.Get().(*[]byte)
	defer streamBufs.Put(bp)
	buf := *bp
	first := true
	stallTimer := time.AfterFunc(stall, func() { a.cancelCause(errStall) })
	defer stallTimer.Stop()
	for {
		n, rerr := resp.Body.Read(buf)
		stallTimer.Reset(stall)
		if n > 0 {
			out := s.process(buf[:n])
			h.storeIfComplete(c, s)
			if len(out) > 0 {
				if first {
					c.entry.TTFT = time.Since(c.start)
					first = false
				}
				_ = rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
				if _, werr := w.Write(out); werr != nil {
					if s.done() {
						return ledger.StatusOK, ""
					}
					return ledger.StatusCancelled, "client disconnected during the stream"
				}
				if ferr := rc.Flush(); ferr != nil && !s.done() {
					return ledger.StatusCancelled, "client disconnected during the stream"
				}
			}
		}
		if es, ok := s.(*eventStreamer); ok && es.blocked() != "" {
			_ = rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
			_, _ = w.Write(es.failBlocked(es.blocked()))
			_ = rc.Flush()
			return ledger.StatusBlocked, "the answer was blocked by the guardrail " + es.blocked()
		}
		// An error event from the upstream ends the stream: it has been
		// relayed (or rendered) to the client, and the failure is the
		// upstream's, whether or not the client has left since.
		if msg := s.upstreamErr(); msg != "" {
			return ledger.StatusUpstreamError, msg
		}
		if rerr == nil && s.broken() == nil {
			continue
		}
		return h.endStream(a, rc, s, rerr)
	}
}

// startStream writes a streamed answer's status and headers, and flushes
// them.
func (h *Handler) startStream(a *attemptRun, resp *http.Response, s streamer) *http.ResponseController {
	hdr := a.w.Header()
	if es, ok := s.(*eventStreamer); ok && !es.forward {
		copyTranslatedHeaders(hdr, resp.Header)
		hdr.Set("Content-Type", "text/event-stream")
		hdr.Set("Cache-Control", "no-cache")
	} else {
		copyResponseHeaders(hdr, resp.Header)
	}
	hdr.Del("Content-Length")
	hdr.Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(a.w)
	a.c.wrote = true
	a.w.WriteHeader(resp.StatusCode)
	_ = rc.Flush()
	return rc
}

// endStream ends a stream whose upstream read failed, ended or broke: a
// translated stream's held events are written, and a stream without its
// terminal event gets the dialect's error event and is recorded truncated.
func (h *Handler) endStream(a *attemptRun, rc *http.ResponseController, s streamer, rerr error) (ledger.Status, string) {
	w := a.w
	if es, ok := s.(*eventStreamer); ok && rerr == io.EOF {
		if out := es.finish(); len(out) > 0 {
			_ = rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
			_, _ = w.Write(out)
			_ = rc.Flush()
		}
		if name := es.blocked(); name != "" {
			_, _ = w.Write(es.failBlocked(name))
			_ = rc.Flush()
			return ledger.StatusBlocked, "the answer was blocked by the guardrail " + name
		}
	}
	// The terminal event decides, not the read error: a client that
	// closes right after [DONE] has received the whole answer.
	if s.done() {
		return ledger.StatusOK, ""
	}
	if a.r.Context().Err() != nil {
		return ledger.StatusCancelled, "client disconnected during the stream"
	}
	msg := "the upstream stream ended before its terminal event"
	if rerr != nil && rerr != io.EOF {
		msg = "the upstream stream failed: " + sanitizeErr(rerr)
	}
	if context.Cause(a.cctx) == errStall {
		msg = fmt.Sprintf("the upstream stream stalled for more than %s", a.t.Timeouts.Stall)
	}
	if m := stoppedBy(a.cctx); m != "" {
		msg = m
	}
	if err := s.broken(); err != nil {
		msg = "the upstream stream was malformed: " + err.Error()
	}
	_ = rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
	_, _ = w.Write(s.failure(msg))
	_ = rc.Flush()
	return ledger.StatusTruncated, msg
}

// isEventStreamOrBinary reports a streamed body: SSE, or AWS event-stream.
func isEventStreamOrBinary(h http.Header) bool {
	ct := h.Get("Content-Type")
	return isEventStream(h) || (len(ct) >= 31 && ct[:31] == "application/vnd.amazon.eventstr")
}
