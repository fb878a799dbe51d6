package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/trace"
)

// pending holds an upstream error answer that may be retried elsewhere, so
// that the last one can still be shown to the client.
type pending struct {
	status int
	header http.Header
	body   []byte
}

var (
	errFirstByte = errors.New("no response headers within the first-byte deadline")
	errStall     = errors.New("the stream stalled past its deadline")
)

// attemptRun is one attempt's state: the call and its target, and what the
// attempt learns on its way (the ledger row, the health verdict, the key).
type attemptRun struct {
	h     *Handler
	w     http.ResponseWriter
	r     *http.Request
	c     *Call
	fs    *forwardSpec
	t     runtime.Target
	n     int  // the attempt's number, from 1
	probe bool // the target is half-open and this attempt probes it
	last  bool // no attempt follows this one in the plan
	// holding: the request holds a retry slot (see more), from the
	// attempts before this one on.
	holding bool

	passthrough bool
	u           upstreamReq
	att         ledger.Attempt
	span        *trace.Attempt
	start       time.Time
	verdict     bool // whether the outcome was reported to the target's health
	keyIdx      int  // the key picked from the target's pool, or -1
	cctx        context.Context
	cancelCause context.CancelCauseFunc

	// Storage that would otherwise be allocated apart: the values of the
	// X-Sluice-Provider, -Model and -Attempts headers, and the upstream
	// request.
	hdrVals [3]string
	ureq    provider.Request
}

// more reports (and reserves) whether a further target may be tried
// after this one: not after the plan's last, nor for a client that left,
// nor without a retry slot (kept once taken, for the request's next tries).
func (a *attemptRun) more() bool {
	if a.last || a.r.Context().Err() != nil {
		return false
	}
	if a.holding {
		return true // a retrying request keeps its slot for its next tries
	}
	a.holding = a.h.budget.acquire()
	return a.holding
}

func (a *attemptRun) good() { a.verdict = true; a.t.Health.Success(time.Since(a.start)) }
func (a *attemptRun) bad()  { a.verdict = true; a.t.Health.Failure() }
func (a *attemptRun) fail(st ledger.Status, status int, msg string) {
	a.att.Status, a.att.HTTPStatus, a.att.Error = st, status, msg
}

// attempt sends the request to one target and relays its answer.
func (h *Handler) attempt(a *attemptRun) (attemptResult, error) {
	c, t := a.c, a.t
	up := t.Provider.Protocol()
	a.passthrough = (up == c.in.proto || (c.in.proto == provider.ProtocolResponses && up == provider.ProtocolOpenAI)) && !a.fs.translate
	c.entry.ServedModel, c.entry.Provider = t.Model, t.Provider.Name()
	a.att = ledger.Attempt{N: a.n, Provider: t.Provider.Name(), Model: t.Model}
	a.span = attemptSpan(a) // trace.go
	a.start = time.Now()
	a.keyIdx = -1
	t.Health.Begin()
	defer func() {
		t.Health.End()
		if a.probe && !a.verdict {
			t.Health.Release()
		}
		a.att.Latency = time.Since(a.start)
		c.entry.Attempts = append(c.entry.Attempts, a.att)
		a.span.End(a.att, &c.entry)
	}()
	// The three headers share one allocation (as Set, each replaces the
	// header; capped slices, so that an append cannot reach a neighbour).
	a.hdrVals = [...]string{t.Provider.Name(), t.Model, strconv.Itoa(a.n)}
	hv := a.hdrVals[:]
	hdr := a.w.Header()
	hdr["X-Sluice-Provider"], hdr["X-Sluice-Model"], hdr["X-Sluice-Attempts"] = hv[0:1:1], hv[1:2:2], hv[2:3:3]

	u, msg, err := h.buildUpstream(c, a.fs, t, a.passthrough)
	if err != nil {
		a.fail(ledger.StatusClientError, 400, msg)
		return answered, err
	}
	a.u = u
	// A stream's attempt is ended with a cause (no first byte in time, a
	// stall, an emergency stop); a whole answer has only its deadline, and
	// spares the context that carries the cause.
	if a.fs.stream {
		a.cctx, a.cancelCause = context.WithCancelCause(a.r.Context())
		defer a.cancelCause(nil)
	} else {
		a.cctx, a.cancelCause = a.r.Context(), func(error) {}
	}
	ctx, cancel := context.WithTimeout(a.cctx, t.Timeouts.Total)
	defer cancel()
	resp, err := h.send(provider.WithConnectTimeout(ctx, t.Timeouts.Connect), a)
	if err != nil {
		return a.sendFailed(err)
	}
	defer resp.Body.Close()
	a.att.HTTPStatus = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return h.upstreamFailed(a, resp)
	}
	a.good()
	if ex := bundles[t.Provider.Protocol()].exhausted; ex != nil {
		if until, ok := ex(resp.Header, time.Now()); ok {
			a.rest(until)
		}
	}
	if !a.fs.stream || !isEventStreamOrBinary(resp.Header) {
		return h.relayWhole(a, resp)
	}
	return h.relayStreamed(a, resp)
}

// send sends the attempt's upstream request, under the stream's
// first-byte deadline. A server that refuses stream_options is asked again
// without it; the stream is then billed by estimate.
func (h *Handler) send(ctx context.Context, a *attemptRun) (*http.Response, error) {
	c, fs, t := a.c, a.fs, a.t
	a.ureq = provider.Request{Op: a.u.op, Body: a.u.body, Header: upstreamHeaders(a.r.Header, c.in.proto, t.Provider.Protocol()),
		Model: t.Model, Stream: fs.stream}
	ureq := &a.ureq
	a.span.Inject(ureq.Header)
	if t.Keys != nil {
		a.keyIdx, ureq.APIKey = t.Keys.Pick()
	}
	if fs.stream {
		firstByte := time.AfterFunc(t.Timeouts.FirstByte, func() { a.cancelCause(errFirstByte) })
		defer firstByte.Stop()
	}
	resp, err := t.Provider.Do(ctx, ureq)
	if err == nil && a.u.injectUsage && resp.StatusCode == http.StatusBadRequest {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(data))
		if bytes.Contains(data, []byte("stream_options")) {
			a.u.injectUsage = false
			if ureq.Body = fs.body; !fs.pathModel {
				ureq.Body = rewriteModel(fs.body, fs.peek.model, t.Model)
			}
			resp, err = t.Provider.Do(ctx, ureq)
		}
	}
	return resp, err
}

// sendFailed records an attempt that got no answer (see doFailure) and
// says whether another target may be tried.
func (a *attemptRun) sendFailed(err error) (attemptResult, error) {
	c := a.c
	st, code, msg, perr := doFailure(a.r, a.cctx, err)
	a.fail(st, code, msg)
	switch st {
	case ledger.StatusCancelled:
		c.entry.Status, c.entry.HTTPStatus, c.entry.Error = st, 499, "client disconnected before the upstream answered"
		return answered, nil
	case ledger.StatusClientError:
		return answered, perr
	}
	a.bad()
	c.entry.Status, c.entry.Error = st, msg
	if a.more() {
		return retryable, perr
	}
	return answered, perr
}

// rest rests the attempt's key (or, without a key pool, its target) until
// the given time.
func (a *attemptRun) rest(until time.Time) {
	if a.keyIdx >= 0 {
		a.t.Keys.Cooldown(a.keyIdx, until)
	} else {
		a.t.Health.Cooldown(until)
	}
}

// upstreamFailed handles an upstream error answer: its body is read
// (bounded), and the request is retried elsewhere when the failure is the
// provider's and another target remains; else the error is relayed.
func (h *Handler) upstreamFailed(a *attemptRun, resp *http.Response) (attemptResult, error) {
	c, t := a.c, a.t
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if rerr != nil && a.r.Context().Err() != nil {
		a.fail(ledger.StatusCancelled, 499, "client disconnected")
		c.entry.Status, c.entry.HTTPStatus, c.entry.Error = ledger.StatusCancelled, 499, "client disconnected"
		return answered, nil
	}
	st := statusOf(resp.StatusCode)
	msg := upstreamErrorMessage(data, resp.StatusCode)
	a.fail(st, resp.StatusCode, msg)
	c.entry.Status, c.entry.HTTPStatus, c.entry.Error = st, resp.StatusCode, msg
	if t.RetryOn[resp.StatusCode] {
		if until, ok := retryAfter(resp.Header); ok && resp.StatusCode == http.StatusTooManyRequests {
			a.verdict = true
			// A resting key: the target answered, so a probe ends without
			// a verdict and the target is probed again.
			if a.keyIdx >= 0 && a.probe {
				t.Health.Release()
			}
			a.rest(until)
		} else {
			a.bad()
		}
		if a.more() {
			return retryable, nil
		}
	} else {
		a.good() // the provider is up; the request was refused
	}
	if a.passthrough {
		h.writeRaw(a.w, c, resp.StatusCode, resp.Header, data)
		return answered, nil
	}
	ue := a.u.uc.DecodeError(resp.StatusCode, data)
	return answered, &dialectError{status: resp.StatusCode, err: ue}
}

// relayWhole relays a non-streamed answer (see relayBody), records its
// outcome and bills it.
func (h *Handler) relayWhole(a *attemptRun, resp *http.Response) (attemptResult, error) {
	c, fs := a.c, a.fs
	o := h.relayBody(a, resp)
	a.att.Status, a.att.Error, a.att.TTFT = o.st, o.msg, c.entry.TTFT
	c.entry.Status, c.entry.HTTPStatus, c.entry.Error = o.st, resp.StatusCode, o.msg
	if o.st == ledger.StatusCancelled {
		c.entry.HTTPStatus = 499
	}
	if o.st == ledger.StatusTruncated || o.retryable {
		a.bad() // the provider sent a 200 it could not complete
	}
	if o.err != nil {
		c.entry.HTTPStatus = http.StatusBadGateway
		if o.st == ledger.StatusBlocked { // the upstream answered, and billed
			c.entry.HTTPStatus = http.StatusForbidden
			h.bill(c, fs.model, o.u)
		}
		if o.retryable && a.more() {
			return retryable, nil
		}
		return answered, o.err
	}
	h.bill(c, fs.model, o.u)
	return answered, nil
}

// relayStreamed relays a streamed answer (see relayStream), records its
// outcome and bills it.
func (h *Handler) relayStreamed(a *attemptRun, resp *http.Response) (attemptResult, error) {
	c := a.c
	s := h.newStreamer(c, a.passthrough, a.u)
	st, msg := h.relayStream(a, resp, s)
	a.att.Status, a.att.Error, a.att.TTFT = st, msg, c.entry.TTFT
	c.entry.Status, c.entry.HTTPStatus, c.entry.Error = st, resp.StatusCode, msg
	switch st {
	case ledger.StatusCancelled:
		c.entry.HTTPStatus = 499
	case ledger.StatusTruncated, ledger.StatusUpstreamError:
		a.bad() // the provider cut, stalled, broke or failed its stream
	}
	h.streamEnded(c, s, st)
	h.bill(c, a.fs.model, s.usage(a.fs.body))
	return answered, nil
}

// doFailure classifies an attempt that got no answer: the client left
// (cancelled, nothing to send), the provider cannot do the operation (the
// client's error), or the upstream was unreachable or too slow (retryable).
// It returns the attempt's ledger status, HTTP status and message, and the
// error for the client.
func doFailure(r *http.Request, cctx context.Context, err error) (ledger.Status, int, string, error) {
	if r.Context().Err() != nil {
		return ledger.StatusCancelled, 499, "client disconnected", nil
	}
	if errors.Is(err, provider.ErrUnsupported) {
		return ledger.StatusClientError, 400, "operation not supported",
			errBadRequest("unsupported_operation", "", "This model's provider does not support this operation.")
	}
	timeout := func() error {
		return &Error{Status: http.StatusGatewayTimeout, Type: oa.TypeUpstream, Code: "upstream_timeout",
			Msg: "The upstream provider did not answer in time.", Cause: err}
	}
	switch {
	case context.Cause(cctx) == errFirstByte:
		return ledger.StatusUpstreamError, 0, errFirstByte.Error(), timeout()
	case errors.Is(err, context.DeadlineExceeded):
		return ledger.StatusUpstreamError, 0, "the attempt's total deadline passed", timeout()
	}
	return ledger.StatusUpstreamError, 0, sanitizeErr(err), &Error{Status: http.StatusBadGateway, Type: oa.TypeUpstream,
		Code: "upstream_unreachable", Msg: "The upstream provider could not be reached.", Cause: err}
}

// streamEnded closes a relayed stream's output guardrails (recording the
// verdicts of blocks that never ended) and stores a complete answer in the
// cache.
func (h *Handler) streamEnded(c *Call, s streamer, st ledger.Status) {
	es, ok := s.(*eventStreamer)
	if !ok {
		return
	}
	if es.guard != nil {
		es.guard.done()
	}
	if es.collect != nil && st == ledger.StatusOK {
		h.storeAnswer(c, es.collect.response())
	}
}

// storeIfComplete stores a cache miss's streamed answer as soon as its
// terminal event has been read, before the bytes that end the stream reach
// the client: a client that asks again the moment its stream ends finds
// the answer stored. A reader that holds events until the body ends
// (ender) is stored by streamEnded instead.
func (h *Handler) storeIfComplete(c *Call, s streamer) {
	es, ok := s.(*eventStreamer)
	if !ok || es.collect == nil || !es.done() || es.blocked() != "" || es.upstreamErr() != "" || es.broken() != nil {
		return
	}
	if _, holds := es.reader.(ender); holds {
		return
	}
	h.storeAnswer(c, es.collect.response())
	es.collect = nil // stored once: streamEnded does not store it again
}

// upstreamReq is an attempt's request as its target reads it.
type upstreamReq struct {
	body []byte
	op   provider.Operation
	// ireq, cc and uc are the canonical request and the codecs of a
	// translated attempt (nil when passed through).
	ireq *llm.Request
	cc   llm.ClientCodec
	uc   llm.UpstreamCodec
	// injectUsage: Sluice asks an OpenAI upstream for the usage chunk that
	// the client did not ask for, so that the ledger holds the provider's
	// counts; the tap hides it.
	injectUsage bool
}

// buildUpstream builds an attempt's upstream body: the client's bytes with
// the model rewritten, or a translation through the canonical model. An
// error is the client's (400), with the message for the ledger.
func (h *Handler) buildUpstream(c *Call, fs *forwardSpec, t runtime.Target, passthrough bool) (upstreamReq, string, error) {
	up := t.Provider.Protocol()
	u := upstreamReq{op: c.in.op}
	u.injectUsage = passthrough && c.in.proto == provider.ProtocolOpenAI && up == provider.ProtocolOpenAI &&
		u.op == provider.OpChat && fs.stream && !fs.peek.includeUsage && t.StreamUsage
	if passthrough {
		u.body = fs.body
		if !fs.pathModel {
			u.body = rewriteModel(fs.body, fs.peek.model, t.Model)
		}
		if u.injectUsage {
			u.body = withIncludeUsage(u.body)
		}
		return u, "", nil
	}
	if c.in.proto == provider.ProtocolOpenAI && c.in.op == provider.OpEmbeddings {
		return u, "embeddings need an OpenAI-protocol provider", errBadRequest("unsupported_provider", "model",
			"Embeddings are served only by OpenAI-compatible providers; this model's provider speaks %s.", up)
	}
	u.cc, u.uc = h.opts.Codecs.Clients[c.in.proto], h.opts.Codecs.Upstreams[up]
	if u.cc == nil || u.uc == nil {
		return u, "no translation", errBadRequest("unsupported_translation", "model", "Sluice cannot translate %s requests to %s.", c.in.proto, up)
	}
	var err error
	if fs.decoded == nil {
		if fs.decoded, err = llm.DecodeChecked(u.cc, fs.body, nameFromPath(fs)); err != nil { // fs.body passed checkJSON
			return u, err.Error(), err
		}
	}
	perTarget := *fs.decoded // per attempt: the target's model
	u.ireq = &perTarget
	u.ireq.Model, u.ireq.Stream = t.Model, fs.stream
	if u.body, err = u.uc.EncodeRequest(u.ireq, t.Model); err != nil {
		return u, err.Error(), err
	}
	u.op = provider.OpChat
	return u, "", nil
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), capped
// at ten minutes.
func retryAfter(h http.Header) (time.Time, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return time.Time{}, false
	}
	now := time.Now()
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return now.Add(min(time.Duration(secs*float64(time.Second)), 10*time.Minute)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		if limit := now.Add(10 * time.Minute); t.After(limit) {
			return limit, true
		}
		return t, true
	}
	return time.Time{}, false
}

// writeRaw relays a complete upstream answer as it is.
func (h *Handler) writeRaw(w http.ResponseWriter, c *Call, status int, hdr http.Header, body []byte) {
	out := w.Header()
	copyResponseHeaders(out, hdr)
	out.Set("Content-Length", strconv.Itoa(len(body)))
	c.wrote = true
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
