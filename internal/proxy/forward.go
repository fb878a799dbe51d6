package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/tidwall/gjson"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/meter"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/sse"
)

// forwardSpec is a request ready to be sent upstream.
type forwardSpec struct {
	body   []byte
	peek   peeked // where "model" sits in the body (unset when the model is in the path)
	model  *runtime.Model
	stream bool
	// pathModel: the client named the model in the URL (Gemini).
	pathModel bool
}

// attemptResult is how one upstream attempt ended.
type attemptResult int

const (
	// answered: a response (success or final error) reached the client.
	answered attemptResult = iota
	// retryable: nothing reached the client and another target may succeed.
	retryable
)

// forward resolves the model's targets and tries them in order until one
// answers. Failover happens only before the first byte reaches the client.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, c *call, fs *forwardSpec) error {
	targets := fs.model.Targets
	var lastErr error
	for i, t := range targets {
		res, err := h.attempt(w, r, c, fs, t, i+1)
		if res == answered || i == len(targets)-1 || r.Context().Err() != nil {
			return err
		}
		lastErr = err
	}
	return lastErr
}

// pending holds an upstream error answer that may be retried elsewhere, so
// that the last one can still be shown to the client.
type pending struct {
	status int
	header http.Header
	body   []byte
}

// attempt sends the request to one target.
func (h *Handler) attempt(w http.ResponseWriter, r *http.Request, c *call, fs *forwardSpec, t runtime.Target, n int) (attemptResult, error) {
	up := t.Provider.Protocol()
	passthrough := up == c.in.proto || (c.in.proto == provider.ProtocolResponses && up == provider.ProtocolOpenAI)
	c.entry.ServedModel, c.entry.Provider = t.Model, t.Provider.Name()
	att := ledger.Attempt{N: n, Provider: t.Provider.Name(), Model: t.Model}
	start := time.Now()
	defer func() {
		att.Latency = time.Since(start)
		c.entry.Attempts = append(c.entry.Attempts, att)
	}()
	fail := func(st ledger.Status, status int, msg string) {
		att.Status, att.HTTPStatus, att.Error = st, status, msg
	}

	// Build the upstream body: the client's bytes with the model rewritten,
	// or a translation through the canonical model.
	var body []byte
	var ireq *llm.Request
	var uc llm.UpstreamCodec
	var cc llm.ClientCodec
	op := c.in.op
	if passthrough {
		body = fs.body
		if !fs.pathModel {
			body = rewriteModel(fs.body, fs.peek.model, t.Model)
		}
	} else {
		if c.in.proto == provider.ProtocolOpenAI && c.in.op == provider.OpEmbeddings {
			fail(ledger.StatusClientError, 400, "embeddings need an OpenAI-protocol provider")
			return answered, errBadRequest("unsupported_provider", "model",
				"Embeddings are served only by OpenAI-compatible providers; this model's provider speaks %s.", up)
		}
		cc, uc = h.opts.Codecs.Clients[c.in.proto], h.opts.Codecs.Upstreams[up]
		if cc == nil || uc == nil {
			fail(ledger.StatusClientError, 400, "no translation")
			return answered, errBadRequest("unsupported_translation", "model", "Sluice cannot translate %s requests to %s.", c.in.proto, up)
		}
		var err error
		if ireq, err = cc.DecodeRequest(fs.body, nameFromPath(fs)); err != nil {
			fail(ledger.StatusClientError, 400, err.Error())
			return answered, err
		}
		ireq.Model = t.Model
		if body, err = uc.EncodeRequest(ireq, t.Model); err != nil {
			fail(ledger.StatusClientError, 400, err.Error())
			return answered, err
		}
		op = provider.OpChat
	}

	ctx, cancel := context.WithTimeout(r.Context(), t.Provider.Timeout())
	defer cancel()
	resp, err := t.Provider.Do(ctx, &provider.Request{Op: op, Body: body, Header: upstreamHeaders(r.Header, c.in.proto, up), Model: t.Model, Stream: fs.stream})
	if err != nil {
		if r.Context().Err() != nil {
			fail(ledger.StatusCancelled, 499, "client disconnected")
			c.entry.Status, c.entry.HTTPStatus, c.entry.Error = ledger.StatusCancelled, 499, "client disconnected before the upstream answered"
			return answered, nil
		}
		if errors.Is(err, provider.ErrUnsupported) {
			fail(ledger.StatusClientError, 400, "operation not supported")
			return answered, errBadRequest("unsupported_operation", "", "This model's provider does not support this operation.")
		}
		fail(ledger.StatusUpstreamError, 0, sanitizeErr(err))
		return retryable, &Error{Status: http.StatusBadGateway, Type: oa.TypeUpstream, Code: "upstream_unreachable",
			Msg: "The upstream provider could not be reached.", Cause: err}
	}
	defer resp.Body.Close()
	att.HTTPStatus = resp.StatusCode

	// Upstream errors: read the body (bounded); retry elsewhere when the
	// failure is the provider's and another target remains.
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if rerr != nil && r.Context().Err() != nil {
			fail(ledger.StatusCancelled, 499, "client disconnected")
			c.entry.Status, c.entry.HTTPStatus, c.entry.Error = ledger.StatusCancelled, 499, "client disconnected"
			return answered, nil
		}
		st := statusOf(resp.StatusCode)
		msg := upstreamErrorMessage(data, resp.StatusCode)
		fail(st, resp.StatusCode, msg)
		c.entry.Status, c.entry.HTTPStatus, c.entry.Error = st, resp.StatusCode, msg
		res := answered
		if retryableStatus(resp.StatusCode) {
			res = retryable
		}
		if res == retryable && !h.lastTarget(fs, n) {
			return retryable, nil
		}
		if passthrough {
			h.writeRaw(w, c, resp.StatusCode, resp.Header, data)
			return res, nil
		}
		ue := uc.DecodeError(resp.StatusCode, data)
		return res, &dialectError{status: resp.StatusCode, err: ue}
	}

	if !fs.stream || !isEventStreamOrBinary(resp.Header) {
		st, msg, u, err := h.relayBody(w, r, c, resp, fs, passthrough, cc, uc, ireq)
		att.Status, att.Error, att.TTFT = st, msg, c.entry.TTFT
		if err != nil {
			return answered, err
		}
		h.bill(c, fs.model, u)
		return answered, nil
	}
	s := h.newStreamer(w, c, fs, passthrough, cc, uc, ireq)
	st, msg := h.relayStream(w, r, c, resp, s)
	att.Status, att.Error, att.TTFT = st, msg, c.entry.TTFT
	c.entry.Status, c.entry.HTTPStatus, c.entry.Error = st, resp.StatusCode, msg
	if st == ledger.StatusCancelled {
		c.entry.HTTPStatus = 499
	}
	h.bill(c, fs.model, s.usage(fs.body))
	return answered, nil
}

func (h *Handler) lastTarget(fs *forwardSpec, n int) bool { return n >= len(fs.model.Targets) }

// retryableStatus: the provider failed or is overloaded; another target may not be.
func retryableStatus(code int) bool {
	switch code {
	case 408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529:
		return true
	}
	return false
}

// writeRaw relays a complete upstream answer as it is.
func (h *Handler) writeRaw(w http.ResponseWriter, c *call, status int, hdr http.Header, body []byte) {
	out := w.Header()
	copyResponseHeaders(out, hdr)
	out.Set("Content-Length", strconv.Itoa(len(body)))
	c.wrote = true
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// relayBody relays a non-streamed answer and returns its usage.
func (h *Handler) relayBody(w http.ResponseWriter, r *http.Request, c *call, resp *http.Response, fs *forwardSpec,
	passthrough bool, cc llm.ClientCodec, uc llm.UpstreamCodec, ireq *llm.Request) (ledger.Status, string, meter.Usage, error) {
	buf := getBuffer()
	defer putBuffer(buf)
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, h.opts.MaxUpstreamBody+1))
	c.entry.TTFT = time.Since(c.start)
	if err != nil {
		if r.Context().Err() != nil {
			c.entry.Status, c.entry.HTTPStatus, c.entry.Error = ledger.StatusCancelled, 499, "client disconnected"
			return ledger.StatusCancelled, "client disconnected", meter.Usage{}, nil
		}
		c.entry.Error = "upstream body read failed"
		return ledger.StatusUpstreamError, c.entry.Error, meter.Usage{}, &Error{Status: http.StatusBadGateway, Type: oa.TypeUpstream,
			Code: "upstream_read_failed", Msg: "The upstream response could not be read.", Cause: err}
	}
	if int64(buf.Len()) > h.opts.MaxUpstreamBody {
		c.entry.Error = "upstream body too large"
		return ledger.StatusUpstreamError, c.entry.Error, meter.Usage{}, &Error{Status: http.StatusBadGateway, Type: oa.TypeUpstream,
			Code: "upstream_too_large", Msg: "The upstream response is larger than this gateway accepts."}
	}
	data := buf.Bytes()
	var u meter.Usage
	var out []byte
	if passthrough {
		out = data
		u = h.passthroughUsage(c, fs, data)
	} else {
		ir, derr := uc.DecodeResponse(data)
		if derr == nil {
			out, derr = cc.EncodeResponse(ireq, ir)
		}
		if derr != nil {
			c.entry.Error = "upstream answer could not be translated"
			return ledger.StatusUpstreamError, c.entry.Error, meter.Usage{}, &Error{Status: http.StatusBadGateway, Type: oa.TypeUpstream,
				Code: "upstream_invalid", Msg: "The upstream answer could not be translated.", Cause: derr}
		}
		u = ir.Usage
		resp.Header.Set("Content-Type", "application/json")
	}
	hdr := w.Header()
	copyResponseHeaders(hdr, resp.Header)
	hdr.Set("Content-Length", strconv.Itoa(len(out)))
	c.wrote = true
	w.WriteHeader(resp.StatusCode)
	_, werr := w.Write(out)
	c.entry.Status, c.entry.HTTPStatus = ledger.StatusOK, resp.StatusCode
	if werr != nil {
		// The upstream answered and billed; the client left while reading.
		c.entry.Status, c.entry.Error = ledger.StatusCancelled, "client disconnected while the response was written"
	}
	return c.entry.Status, c.entry.Error, u, nil
}

// passthroughUsage meters a same-protocol non-streamed answer.
func (h *Handler) passthroughUsage(c *call, fs *forwardSpec, data []byte) meter.Usage {
	switch c.in.proto {
	case provider.ProtocolOpenAI:
		if u, ok := usageOpenAI(gjson.GetBytes(data, "usage")); ok {
			return u
		}
		if c.in.op == provider.OpEmbeddings {
			return meter.Usage{InputTokens: meter.EstimateEmbeddingInput(fs.body), Estimated: true}
		}
		u := meter.Usage{InputTokens: meter.EstimateChatInput(fs.body), Estimated: true}
		gjson.GetBytes(data, "choices.#.message.content").ForEach(func(_, v gjson.Result) bool {
			u.OutputTokens += meter.CountText(v.Str)
			return true
		})
		return u
	case provider.ProtocolResponses:
		if f := h.opts.Codecs.ResponsesUsage; f != nil {
			if u, ok := f(data); ok {
				return u
			}
		}
	case provider.ProtocolAnthropic, provider.ProtocolGemini:
		if c.in.op == provider.OpCountTokens {
			return meter.Usage{}
		}
		if uc := h.opts.Codecs.Upstreams[c.in.proto]; uc != nil {
			if ir, err := uc.DecodeResponse(data); err == nil {
				return ir.Usage
			}
		}
	}
	return meter.Usage{InputTokens: meter.EstimateChatInput(fs.body), Estimated: true}
}

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
}

func (h *Handler) newStreamer(w http.ResponseWriter, c *call, fs *forwardSpec, passthrough bool, cc llm.ClientCodec, uc llm.UpstreamCodec, ireq *llm.Request) streamer {
	if passthrough && c.in.proto == provider.ProtocolOpenAI {
		return newChatTap(!fs.peek.includeUsage)
	}
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
	}
	es.emit = es.event
	return es
}

// eventStreamer decodes an upstream stream into canonical events; it
// either forwards the original bytes (same protocol, metering only) or
// renders the events in the client's protocol.
type eventStreamer struct {
	reader  llm.StreamReader
	writer  llm.StreamWriter
	forward bool
	out     bytes.Buffer
	emit    func(llm.Event)
	err     error
	text    []byte // generated text, for an estimate when no usage comes
}

func (s *eventStreamer) event(ev llm.Event) {
	switch ev.Type {
	case llm.EvTextDelta, llm.EvThinkingDelta, llm.EvToolArgsDelta:
		if len(s.text) < maxAccumulated {
			s.text = append(s.text, ev.Text...)
		}
	}
	if !s.forward && s.writer != nil {
		_ = s.writer.Write(ev)
	}
}

func (s *eventStreamer) process(in []byte) []byte {
	s.out.Reset()
	if s.reader != nil && s.err == nil {
		if err := s.reader.Feed(in, s.emit); err != nil {
			s.err = err
		}
	}
	if s.forward {
		return in
	}
	return s.out.Bytes()
}

func (s *eventStreamer) done() bool    { return s.reader != nil && s.reader.Done() }
func (s *eventStreamer) broken() error { return s.err }

func (s *eventStreamer) failure(msg string) []byte {
	s.out.Reset()
	if s.writer == nil {
		return nil
	}
	_ = s.writer.Fail(&llm.Error{Status: 502, Type: "server", Message: "Sluice: " + msg + "."})
	return s.out.Bytes()
}

func (s *eventStreamer) usage(reqBody []byte) meter.Usage {
	if s.reader != nil {
		if u, ok := s.reader.Usage(); ok {
			return u
		}
	}
	return meter.Usage{InputTokens: meter.EstimateChatInput(reqBody), OutputTokens: meter.CountText(string(s.text)), Estimated: true}
}

// chatTap implements streamer for OpenAI pass-through (the fast path).
func (t *chatTap) process(in []byte) []byte { t.feed(in); return in }
func (t *chatTap) done() bool               { return t.isDone }
func (t *chatTap) broken() error            { return t.err }
func (t *chatTap) failure(msg string) []byte {
	var out []byte
	if t.parser.Pending() {
		out = append(out, "\n\n"...) // terminate the partial event first
	}
	return sse.AppendEvent(out, "", oa.MarshalError(oa.TypeServer, "upstream_stream_truncated", "", "Sluice: "+msg+".", ""))
}

func (t *chatTap) usage(reqBody []byte) meter.Usage {
	if t.haveUsage {
		return t.u
	}
	u := meter.Usage{InputTokens: meter.EstimateChatInput(reqBody), Estimated: true}
	if t.accumulate {
		u.OutputTokens = meter.CountText(string(t.text))
	} else {
		u.OutputTokens = t.chunks
	}
	return u
}

// relayStream copies a stream chunk by chunk, flushing each read. It
// returns the outcome for the ledger.
func (h *Handler) relayStream(w http.ResponseWriter, r *http.Request, c *call, resp *http.Response, s streamer) (ledger.Status, string) {
	hdr := w.Header()
	copyResponseHeaders(hdr, resp.Header)
	if _, ok := s.(*eventStreamer); ok && !s.(*eventStreamer).forward {
		hdr.Set("Content-Type", "text/event-stream")
		hdr.Set("Cache-Control", "no-cache")
	}
	hdr.Del("Content-Length")
	hdr.Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	c.wrote = true
	w.WriteHeader(resp.StatusCode)
	_ = rc.Flush()

	bp := streamBufs.Get().(*[]byte)
	defer streamBufs.Put(bp)
	buf := *bp
	first := true
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			out := s.process(buf[:n])
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
		if rerr == nil && s.broken() == nil {
			continue
		}
		// The terminal event decides, not the read error: a client that
		// closes right after [DONE] has received the whole answer.
		if s.done() {
			return ledger.StatusOK, ""
		}
		if r.Context().Err() != nil {
			return ledger.StatusCancelled, "client disconnected during the stream"
		}
		msg := "the upstream stream ended before its terminal event"
		if rerr != nil && rerr != io.EOF {
			msg = "the upstream stream failed: " + sanitizeErr(rerr)
		}
		if err := s.broken(); err != nil {
			msg = "the upstream stream was malformed: " + err.Error()
		}
		_ = rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
		_, _ = w.Write(s.failure(msg))
		_ = rc.Flush()
		return ledger.StatusTruncated, msg
	}
}

// isEventStreamOrBinary reports a streamed body: SSE, or AWS event-stream.
func isEventStreamOrBinary(h http.Header) bool {
	ct := h.Get("Content-Type")
	return isEventStream(h) || (len(ct) >= 31 && ct[:31] == "application/vnd.amazon.eventstr")
}
