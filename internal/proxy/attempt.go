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
)

// exhausted reads the provider's rate-limit headers on a successful answer:
// when it says no requests remain, the key (or target) rests until the
// reset it names. OpenAI-style (x-ratelimit-remaining-requests and a reset
// like "6m0s") and Anthropic-style (anthropic-ratelimit-requests-remaining
// and an RFC 3339 reset) are understood.
func exhausted(h http.Header, now time.Time) (time.Time, bool) {
	if h.Get("X-Ratelimit-Remaining-Requests") == "0" {
		if d, err := time.ParseDuration(h.Get("X-Ratelimit-Reset-Requests")); err == nil && d > 0 {
			return now.Add(min(d, 10*time.Minute)), true
		}
	}
	if h.Get("Anthropic-Ratelimit-Requests-Remaining") == "0" {
		if t, err := time.Parse(time.RFC3339, h.Get("Anthropic-Ratelimit-Requests-Reset")); err == nil && t.After(now) {
			return minTime(t, now.Add(10*time.Minute)), true
		}
	}
	return time.Time{}, false
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

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

// attempt sends the request to one target. more reports (and reserves)
// whether a further target may be tried after this one.
func (h *Handler) attempt(w http.ResponseWriter, r *http.Request, c *Call, fs *forwardSpec, t runtime.Target, n int, probe bool, more func() bool) (res attemptResult, retErr error) {
	up := t.Provider.Protocol()
	passthrough := (up == c.in.proto || (c.in.proto == provider.ProtocolResponses && up == provider.ProtocolOpenAI)) && !fs.translate
	c.entry.ServedModel, c.entry.Provider = t.Model, t.Provider.Name()
	att := ledger.Attempt{N: n, Provider: t.Provider.Name(), Model: t.Model}
	span := attemptSpan(r.Context(), c, t.Provider.Name(), string(up), t.Model, n) // trace.go
	start := time.Now()
	t.Health.Begin()
	verdict := false // whether the outcome was reported to the target's health
	defer func() {
		t.Health.End()
		if probe && !verdict {
			t.Health.Release()
		}
		att.Latency = time.Since(start)
		c.entry.Attempts = append(c.entry.Attempts, att)
		span.End(att, &c.entry)
	}()
	good := func() { verdict = true; t.Health.Success(time.Since(start)) }
	bad := func() { verdict = true; t.Health.Failure() }
	hdr := w.Header()
	hdr.Set("X-Sluice-Provider", t.Provider.Name())
	hdr.Set("X-Sluice-Model", t.Model)
	hdr.Set("X-Sluice-Attempts", strconv.Itoa(n))
	fail := func(st ledger.Status, status int, msg string) {
		att.Status, att.HTTPStatus, att.Error = st, status, msg
	}

	u, msg, err := h.buildUpstream(c, fs, t, passthrough)
	if err != nil {
		fail(ledger.StatusClientError, 400, msg)
		return answered, err
	}
	body, ireq, uc, cc, op, injectUsage := u.body, u.ireq, u.uc, u.cc, u.op, u.injectUsage

	cctx, cancelCause := context.WithCancelCause(r.Context())
	defer cancelCause(nil)
	ctx, cancel := context.WithTimeout(cctx, t.Timeouts.Total)
	defer cancel()
	ctx = provider.WithConnectTimeout(ctx, t.Timeouts.Connect)
	ureq := &provider.Request{Op: op, Body: body, Header: upstreamHeaders(r.Header, c.in.proto, up), Model: t.Model, Stream: fs.stream}
	span.Inject(ureq.Header)
	keyIdx := -1
	if t.Keys != nil {
		keyIdx, ureq.APIKey = t.Keys.Pick()
	}
	var firstByte *time.Timer
	if fs.stream {
		firstByte = time.AfterFunc(t.Timeouts.FirstByte, func() { cancelCause(errFirstByte) })
	}
	resp, err := t.Provider.Do(ctx, ureq)
	if err == nil && injectUsage && resp.StatusCode == http.StatusBadRequest {
		// A server that refuses stream_options is asked again without it;
		// the stream is then billed by estimate.
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(data))
		if bytes.Contains(data, []byte("stream_options")) {
			injectUsage = false
			if ureq.Body = fs.body; !fs.pathModel {
				ureq.Body = rewriteModel(fs.body, fs.peek.model, t.Model)
			}
			resp, err = t.Provider.Do(ctx, ureq)
		}
	}
	if firstByte != nil {
		firstByte.Stop()
	}
	if err != nil {
		st, code, msg, perr := doFailure(r, cctx, err)
		fail(st, code, msg)
		switch st {
		case ledger.StatusCancelled:
			c.entry.Status, c.entry.HTTPStatus, c.entry.Error = st, 499, "client disconnected before the upstream answered"
			return answered, nil
		case ledger.StatusClientError:
			return answered, perr
		}
		bad()
		c.entry.Status, c.entry.Error = st, msg
		if more() {
			return retryable, perr
		}
		return answered, perr
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
		if t.RetryOn[resp.StatusCode] {
			if until, ok := retryAfter(resp.Header); ok && resp.StatusCode == http.StatusTooManyRequests {
				verdict = true
				if keyIdx >= 0 {
					// The key rests; the target answered, so a probe ends
					// without a verdict and the target is probed again.
					t.Keys.Cooldown(keyIdx, until)
					if probe {
						t.Health.Release()
					}
				} else {
					t.Health.Cooldown(until)
				}
			} else {
				bad()
			}
			if more() {
				return retryable, nil
			}
		} else {
			good() // the provider is up; the request was refused
		}
		if passthrough {
			h.writeRaw(w, c, resp.StatusCode, resp.Header, data)
			return answered, nil
		}
		ue := uc.DecodeError(resp.StatusCode, data)
		return answered, &dialectError{status: resp.StatusCode, err: ue}
	}
	good()
	if until, ok := exhausted(resp.Header, time.Now()); ok {
		if keyIdx >= 0 {
			t.Keys.Cooldown(keyIdx, until)
		} else {
			t.Health.Cooldown(until)
		}
	}

	if !fs.stream || !isEventStreamOrBinary(resp.Header) {
		o := h.relayBody(w, r, c, resp, fs, passthrough, cc, uc, ireq)
		att.Status, att.Error, att.TTFT = o.st, o.msg, c.entry.TTFT
		c.entry.Status, c.entry.HTTPStatus, c.entry.Error = o.st, resp.StatusCode, o.msg
		if o.st == ledger.StatusCancelled {
			c.entry.HTTPStatus = 499
		}
		if o.st == ledger.StatusTruncated || o.retryable {
			bad() // the provider sent a 200 it could not complete
		}
		if o.err != nil {
			c.entry.HTTPStatus = http.StatusBadGateway
			if o.st == ledger.StatusBlocked { // the upstream answered, and billed
				c.entry.HTTPStatus = http.StatusForbidden
				h.bill(c, fs.model, o.u)
			}
			if o.retryable && more() {
				return retryable, nil
			}
			return answered, o.err
		}
		h.bill(c, fs.model, o.u)
		return answered, nil
	}
	s := h.newStreamer(c, passthrough, injectUsage, cc, uc, ireq)
	st, msg := h.relayStream(w, r, c, resp, s, t.Timeouts.Stall, cctx, cancelCause)
	att.Status, att.Error, att.TTFT = st, msg, c.entry.TTFT
	c.entry.Status, c.entry.HTTPStatus, c.entry.Error = st, resp.StatusCode, msg
	switch st {
	case ledger.StatusCancelled:
		c.entry.HTTPStatus = 499
	case ledger.StatusTruncated, ledger.StatusUpstreamError:
		bad() // the provider cut, stalled, broke or failed its stream
	}
	h.streamEnded(c, s, st)
	h.bill(c, fs.model, s.usage(fs.body))
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
		if fs.decoded, err = u.cc.DecodeRequest(fs.body, nameFromPath(fs)); err != nil {
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
