package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/meter"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/sse"
)

// forwardSpec is a request ready to be sent upstream.
type forwardSpec struct {
	body []byte
	// decoded is the client request in canonical form, decoded once on the
	// first translated attempt and shared by the later ones.
	decoded *llm.Request
	peek    peeked // where "model" sits in the body (unset when the model is in the path)
	model   *runtime.Model
	stream  bool
	// pathModel: the client named the model in the URL (Gemini).
	pathModel bool
	// local: Sluice answers itself (a token count for a target that does
	// not speak the client's protocol); nothing is admitted or forwarded.
	local bool
	// translate: the request and its answer go through the canonical form
	// even when the upstream speaks the client's protocol (a guardrail
	// rewrote the request or reads the answer, or the answer is cached).
	translate bool
}

// attemptResult is how one upstream attempt ended.
type attemptResult int

const (
	// answered: a response (success or final error) reached the client.
	answered attemptResult = iota
	// retryable: nothing reached the client and another target may succeed.
	retryable
)

// forward picks the model's route and tries its targets in the routing
// policy's order until one answers. Failover happens only before the first
// byte reaches the client, and only within the retry budget.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, c *Call, fs *forwardSpec) error {
	rt := selectRoute(r, c, fs)
	plan := pinArm(r.Context(), rt.Targets, rt.Router.Plan(stickyValue(rt, r, c, fs))) // experiments.go
	// The plan's targets in order; max_attempts above their number cycles
	// through them again, after an exponential backoff with jitter. When
	// every target is down, one attempt only.
	order := make([]int, 0, rt.MaxAttempts)
	for len(order) < rt.MaxAttempts && !(plan.AllDown && len(order) == 1) {
		order = append(order, plan.Order[len(order)%len(plan.Order)])
	}
	w.Header().Set("X-Sluice-Route", fs.model.Name+":"+rt.Name+":"+string(rt.Router.Policy()))
	h.budget.inflight.Add(1)
	defer h.budget.inflight.Add(-1)
	holding := false
	defer func() {
		if holding {
			h.budget.retrying.Add(-1)
		}
	}()
	for i, idx := range order {
		if pass := i / len(plan.Order); pass > 0 && i%len(plan.Order) == 0 {
			if !sleepCtx(r.Context(), backoff(pass)) {
				return nil
			}
		}
		probe := i < len(plan.Probe) && plan.Probe[i]
		more := func() bool {
			if i == len(order)-1 || r.Context().Err() != nil {
				return false
			}
			if holding {
				return true // a retrying request keeps its slot for its next tries
			}
			holding = h.budget.acquire()
			return holding
		}
		res, err := h.attempt(w, r, c, fs, rt.Targets[idx], i+1, probe, more)
		if res == answered {
			return err
		}
	}
	return nil
}

// backoff is the wait before the pass-th extra round over a route's
// targets: 100 ms doubling per pass, at most 2 s, with ±50% jitter.
func backoff(pass int) time.Duration {
	d := min(100*time.Millisecond<<(pass-1), 2*time.Second)
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

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

// retryBudget bounds retries to a share of the requests in flight (Envoy's
// default: 20%, at least 3), so that an outage never becomes a retry storm.
type retryBudget struct {
	inflight atomic.Int64
	retrying atomic.Int64
}

func (b *retryBudget) acquire() bool {
	for {
		cur := b.retrying.Load()
		if cur >= max(3, b.inflight.Load()/5) {
			return false
		}
		if b.retrying.CompareAndSwap(cur, cur+1) {
			return true
		}
	}
}

// selectRoute returns the first conditional route whose match fits, or the
// model's default route.
func selectRoute(r *http.Request, c *Call, fs *forwardSpec) *runtime.Route {
	for _, rt := range fs.model.Routes {
		if matches(rt.Match, r, c, fs) {
			return rt
		}
	}
	return fs.model.Default
}

func matches(m *config.Match, r *http.Request, c *Call, fs *forwardSpec) bool {
	for k, v := range m.Headers {
		got := r.Header.Get(k)
		if got == "" || (v != "*" && got != v) {
			return false
		}
	}
	if len(m.Keys) > 0 && (c.key == nil || !slices.Contains(m.Keys, c.key.Name)) {
		return false
	}
	if len(m.KeyTags) > 0 && (c.key == nil || !c.key.HasTag(m.KeyTags)) {
		return false
	}
	if m.MinMaxTokens > 0 && fs.maxTokens() < int64(m.MinMaxTokens) {
		return false
	}
	if m.MinInputTokens > 0 && len(fs.body)/4 < m.MinInputTokens {
		return false
	}
	if m.HasTools != nil && hasTools(fs.body) != *m.HasTools {
		return false
	}
	if m.HasImages != nil && hasImages(fs.body) != *m.HasImages {
		return false
	}
	return true
}

// maxTokens is the request's output limit, 0 when it sets none: read by the
// body's one peek when the model is in the body, else scanned for.
func (fs *forwardSpec) maxTokens() int64 {
	if fs.peek.model.Exists() {
		for _, v := range fs.peek.limits {
			if v.Exists() {
				return v.Int()
			}
		}
		return 0
	}
	return requestedMaxTokens(fs.body)
}

func requestedMaxTokens(body []byte) int64 {
	// Gemini accepts both spellings of generationConfig and of its fields
	// (the ingress refuses a body that uses two of them).
	for _, v := range gjson.GetManyBytes(body, "max_tokens", "max_completion_tokens", "max_output_tokens",
		"generationConfig.maxOutputTokens", "generationConfig.max_output_tokens",
		"generation_config.maxOutputTokens", "generation_config.max_output_tokens") {
		if v.Exists() {
			return v.Int()
		}
	}
	return 0
}

func hasTools(body []byte) bool {
	t := gjson.GetBytes(body, "tools")
	return t.IsArray() && len(t.Array()) > 0
}

var imageMarkers = [][]byte{[]byte(`"image_url"`), []byte(`"input_image"`), []byte(`"inlineData"`), []byte(`"inline_data"`), []byte(`"type":"image"`), []byte(`"type": "image"`)}

func hasImages(body []byte) bool {
	for _, m := range imageMarkers {
		if bytes.Contains(body, m) {
			return true
		}
	}
	return false
}

// stickyValue is what pins a canary assignment: the key, the end user, or
// a session header, as the route says.
func stickyValue(rt *runtime.Route, r *http.Request, c *Call, fs *forwardSpec) string {
	switch {
	case rt.Sticky == "user":
		for _, v := range gjson.GetManyBytes(fs.body, "user", "metadata.user_id") {
			if v.Str != "" {
				return "u:" + v.Str
			}
		}
	case strings.HasPrefix(rt.Sticky, "header:"):
		if v := r.Header.Get(rt.Sticky[7:]); v != "" {
			return "h:" + v
		}
	}
	if c.key != nil {
		return "k:" + c.key.ID
	}
	return ""
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

	// Build the upstream body: the client's bytes with the model rewritten,
	// or a translation through the canonical model.
	var body []byte
	var ireq *llm.Request
	var uc llm.UpstreamCodec
	var cc llm.ClientCodec
	op := c.in.op
	// The usage chunk is asked for when the client did not ask for it, so
	// that the ledger holds the provider's counts; the tap hides it.
	injectUsage := passthrough && c.in.proto == provider.ProtocolOpenAI && up == provider.ProtocolOpenAI &&
		op == provider.OpChat && fs.stream && !fs.peek.includeUsage && t.StreamUsage
	if passthrough {
		body = fs.body
		if !fs.pathModel {
			body = rewriteModel(fs.body, fs.peek.model, t.Model)
		}
		if injectUsage {
			body = withIncludeUsage(body)
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
		if fs.decoded == nil {
			if fs.decoded, err = cc.DecodeRequest(fs.body, nameFromPath(fs)); err != nil {
				fail(ledger.StatusClientError, 400, err.Error())
				return answered, err
			}
		}
		perTarget := *fs.decoded // per attempt: the target's model
		ireq = &perTarget
		ireq.Model, ireq.Stream = t.Model, fs.stream
		if body, err = uc.EncodeRequest(ireq, t.Model); err != nil {
			fail(ledger.StatusClientError, 400, err.Error())
			return answered, err
		}
		op = provider.OpChat
	}

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
		if r.Context().Err() != nil {
			fail(ledger.StatusCancelled, 499, "client disconnected")
			c.entry.Status, c.entry.HTTPStatus, c.entry.Error = ledger.StatusCancelled, 499, "client disconnected before the upstream answered"
			return answered, nil
		}
		if errors.Is(err, provider.ErrUnsupported) {
			fail(ledger.StatusClientError, 400, "operation not supported")
			return answered, errBadRequest("unsupported_operation", "", "This model's provider does not support this operation.")
		}
		bad()
		perr := &Error{Status: http.StatusBadGateway, Type: oa.TypeUpstream, Code: "upstream_unreachable",
			Msg: "The upstream provider could not be reached.", Cause: err}
		msg := sanitizeErr(err)
		if context.Cause(cctx) == errFirstByte {
			msg = errFirstByte.Error()
			perr = &Error{Status: http.StatusGatewayTimeout, Type: oa.TypeUpstream, Code: "upstream_timeout",
				Msg: "The upstream provider did not answer in time.", Cause: err}
		} else if errors.Is(err, context.DeadlineExceeded) {
			msg = "the attempt's total deadline passed"
			perr = &Error{Status: http.StatusGatewayTimeout, Type: oa.TypeUpstream, Code: "upstream_timeout",
				Msg: "The upstream provider did not answer in time.", Cause: err}
		}
		fail(ledger.StatusUpstreamError, 0, msg)
		c.entry.Status, c.entry.Error = ledger.StatusUpstreamError, msg
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
	if es, ok := s.(*eventStreamer); ok {
		if es.guard != nil {
			es.guard.done()
		}
		if es.collect != nil && st == ledger.StatusOK {
			h.storeAnswer(c, es.collect.response())
		}
	}
	h.bill(c, fs.model, s.usage(fs.body))
	return answered, nil
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

// newStreamer picks the streamer of an attempt; strip says that Sluice
// asked an OpenAI upstream for the usage chunk the client did not ask for.
func (h *Handler) newStreamer(c *Call, passthrough, strip bool, cc llm.ClientCodec, uc llm.UpstreamCodec, ireq *llm.Request) streamer {
	if passthrough && c.in.proto == provider.ProtocolOpenAI {
		return newChatTap(strip)
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
func (h *Handler) relayStream(w http.ResponseWriter, r *http.Request, c *Call, resp *http.Response, s streamer,
	stall time.Duration, actx context.Context, cancel context.CancelCauseFunc) (ledger.Status, string) {
	hdr := w.Header()
	if es, ok := s.(*eventStreamer); ok && !es.forward {
		copyTranslatedHeaders(hdr, resp.Header)
		hdr.Set("Content-Type", "text/event-stream")
		hdr.Set("Cache-Control", "no-cache")
	} else {
		copyResponseHeaders(hdr, resp.Header)
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
	stallTimer := time.AfterFunc(stall, func() { cancel(errStall) })
	defer stallTimer.Stop()
	for {
		n, rerr := resp.Body.Read(buf)
		stallTimer.Reset(stall)
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
		if r.Context().Err() != nil {
			return ledger.StatusCancelled, "client disconnected during the stream"
		}
		msg := "the upstream stream ended before its terminal event"
		if rerr != nil && rerr != io.EOF {
			msg = "the upstream stream failed: " + sanitizeErr(rerr)
		}
		if context.Cause(actx) == errStall {
			msg = fmt.Sprintf("the upstream stream stalled for more than %s", stall)
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
