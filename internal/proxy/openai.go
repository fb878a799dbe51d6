package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/meter"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/sse"
)

// authenticate resolves the request's key against the current snapshot.
func (h *Handler) authenticate(r *http.Request, c *call) error {
	c.snap = h.opts.Snapshots.Load()
	key := auth.FromRequest(r.Header)
	if key == "" {
		return errNoKey
	}
	k := c.snap.Keys[auth.HashKey(key)]
	if k == nil {
		return errNoKey
	}
	c.key = k
	return nil
}

func (h *Handler) models(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := h.authenticate(r, c); err != nil {
		return err
	}
	list := oa.ModelList{Object: "list", Data: []oa.Model{}}
	created := c.snap.LoadedAt.Unix()
	for _, name := range c.snap.ModelNames {
		if c.key.Allows(name) {
			list.Data = append(list.Data, oa.Model{ID: name, Object: "model", Created: created, OwnedBy: "sluice"})
		}
	}
	body, _ := json.Marshal(list)
	w.Header().Set("Content-Type", "application/json")
	c.wrote = true
	c.entry.HTTPStatus = http.StatusOK
	_, _ = w.Write(body)
	return nil
}

// peeked is what the data plane reads from a request body without decoding it.
type peeked struct {
	model        gjson.Result
	stream       bool
	includeUsage bool
}

// peek validates body as a JSON object and reads its top-level "model" and
// "stream" fields. A duplicated "model" or "stream" key is refused: parsers
// disagree on which copy wins, and Sluice must authorise the model that the
// upstream will serve.
func peek(body []byte) (peeked, error) {
	var p peeked
	if !gjson.ValidBytes(body) {
		return p, errBadRequest("invalid_json", "", "The request body is not valid JSON.")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return p, errBadRequest("invalid_json", "", "The request body must be a JSON object.")
	}
	var models, streams int
	var err error
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			models++
			p.model = v
		case "stream":
			streams++
			switch v.Type {
			case gjson.True:
				p.stream = true
			case gjson.False, gjson.Null:
			default:
				err = errBadRequest("invalid_type", "stream", "'stream' must be a boolean.")
			}
		case "stream_options":
			p.includeUsage = v.Get("include_usage").Type == gjson.True
		}
		return true
	})
	if err != nil {
		return p, err
	}
	if models > 1 || streams > 1 {
		return p, errBadRequest("duplicate_key", "model", "The request body repeats a top-level key ('model' or 'stream').")
	}
	if !p.model.Exists() || p.model.Type == gjson.Null {
		return p, errBadRequest("missing_model", "model", "You must provide a model parameter.")
	}
	if p.model.Type != gjson.String || p.model.Str == "" || !utf8.ValidString(p.model.Str) {
		return p, errBadRequest("invalid_type", "model", "'model' must be a non-empty UTF-8 string.")
	}
	return p, nil
}

// readBody reads the whole request body before anything is written back:
// with HTTP/1.x a handler that answers before reading the body may lose it,
// and Go's server then truncates a share of streamed responses.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > h.opts.MaxBody {
		return nil, errTooLarge
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(60 * time.Second))
	defer rc.SetReadDeadline(time.Time{})
	size := 4096
	if r.ContentLength > 0 {
		size = int(r.ContentLength) + 1
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.opts.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge
		}
		return nil, &Error{Status: http.StatusBadRequest, Type: oa.TypeInvalidRequest, Code: "body_read_failed",
			Msg: "The request body could not be read.", Cause: err}
	}
	return buf.Bytes(), nil
}

// resolve authenticates, reads and peeks the body, and finds the model.
func (h *Handler) resolve(w http.ResponseWriter, r *http.Request, c *call) ([]byte, peeked, *runtime.Model, error) {
	if err := h.authenticate(r, c); err != nil {
		return nil, peeked{}, nil, err
	}
	body, err := h.readBody(w, r)
	if err != nil {
		return nil, peeked{}, nil, err
	}
	p, err := peek(body)
	if err != nil {
		return nil, p, nil, err
	}
	name := p.model.Str
	c.entry.Model = name
	c.entry.Stream = p.stream
	m := c.snap.Models[name]
	if m == nil {
		return nil, p, nil, &Error{Status: http.StatusNotFound, Type: oa.TypeInvalidRequest, Code: "model_not_found", Param: "model",
			Msg: fmt.Sprintf("The model %q does not exist or you do not have access to it.", truncate(name, 128))}
	}
	if !c.key.Allows(name) {
		return nil, p, nil, &Error{Status: http.StatusForbidden, Type: oa.TypePermission, Code: "model_not_allowed", Param: "model",
			Msg: fmt.Sprintf("This key is not allowed to use the model %q.", truncate(name, 128))}
	}
	return body, p, m, nil
}

func (h *Handler) chatCompletions(w http.ResponseWriter, r *http.Request, c *call) error {
	body, p, m, err := h.resolve(w, r, c)
	if err != nil {
		return err
	}
	return h.forward(w, r, c, forwardSpec{op: provider.OpChat, body: body, peek: p, model: m, chat: true})
}

func (h *Handler) embeddings(w http.ResponseWriter, r *http.Request, c *call) error {
	body, p, m, err := h.resolve(w, r, c)
	if err != nil {
		return err
	}
	if p.stream {
		return errBadRequest("invalid_value", "stream", "Embeddings cannot be streamed.")
	}
	return h.forward(w, r, c, forwardSpec{op: provider.OpEmbeddings, body: body, peek: p, model: m})
}

type forwardSpec struct {
	op    provider.Operation
	body  []byte
	peek  peeked
	model *runtime.Model
	chat  bool
}

// forward sends the request to the model's target and relays the answer.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, c *call, fs forwardSpec) error {
	t := fs.model.Targets[0]
	body := rewriteModel(fs.body, fs.peek.model, t.Model)
	c.entry.ServedModel, c.entry.Provider = t.Model, t.Provider.Name()
	att := ledger.Attempt{N: 1, Provider: t.Provider.Name(), Model: t.Model}
	attStart := time.Now()
	defer func() {
		att.Latency = time.Since(attStart)
		c.entry.Attempts = append(c.entry.Attempts, att)
	}()

	ctx, cancel := context.WithTimeout(r.Context(), t.Provider.Timeout())
	defer cancel()
	resp, err := t.Provider.Do(ctx, &provider.Request{
		Op: fs.op, Body: body, Header: forwardHeaders(r.Header), Model: t.Model, Stream: fs.peek.stream,
	})
	if err != nil {
		if r.Context().Err() != nil {
			att.Status, att.HTTPStatus, att.Error = ledger.StatusCancelled, 499, "client disconnected"
			c.entry.Status, c.entry.HTTPStatus, c.entry.Error = ledger.StatusCancelled, 499, "client disconnected before the upstream answered"
			return nil
		}
		att.Status, att.HTTPStatus, att.Error = ledger.StatusUpstreamError, 0, sanitizeErr(err)
		return &Error{Status: http.StatusBadGateway, Type: oa.TypeUpstream, Code: "upstream_unreachable",
			Msg: "The upstream provider could not be reached.", Cause: err}
	}
	defer resp.Body.Close()
	att.HTTPStatus = resp.StatusCode

	if resp.StatusCode < 200 || resp.StatusCode > 299 || !isEventStream(resp.Header) {
		st, err := h.relayBody(w, c, resp, fs)
		att.Status = st
		att.TTFT = c.entry.TTFT
		if st != ledger.StatusOK {
			att.Error = c.entry.Error
		}
		return err
	}
	tap := newChatTap(!fs.peek.includeUsage)
	st, msg := h.relayStream(w, r, c, resp, tap)
	att.Status, att.Error, att.TTFT = st, msg, c.entry.TTFT
	c.entry.Status, c.entry.HTTPStatus, c.entry.Error = st, resp.StatusCode, msg
	if st == ledger.StatusCancelled {
		c.entry.HTTPStatus = 499
	}
	u := tap.usage
	if !tap.haveUsage {
		u = meter.Usage{InputTokens: meter.EstimateChatInput(fs.body), Estimated: true}
		if tap.accumulate {
			u.OutputTokens = meter.CountText(string(tap.text))
		} else {
			u.OutputTokens = tap.chunks
		}
	}
	h.bill(c, fs.model, u)
	return nil
}

// relayBody copies a non-streamed upstream answer to the client and meters it.
func (h *Handler) relayBody(w http.ResponseWriter, c *call, resp *http.Response, fs forwardSpec) (ledger.Status, error) {
	buf := getBuffer()
	defer putBuffer(buf)
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, h.opts.MaxUpstreamBody+1))
	c.entry.TTFT = time.Since(c.start)
	if err != nil {
		if contextDone(resp) {
			c.entry.Status, c.entry.HTTPStatus, c.entry.Error = ledger.StatusCancelled, 499, "client disconnected"
			return ledger.StatusCancelled, nil
		}
		c.entry.Error = "upstream body read failed"
		return ledger.StatusUpstreamError, &Error{Status: http.StatusBadGateway, Type: oa.TypeUpstream, Code: "upstream_read_failed",
			Msg: "The upstream response could not be read.", Cause: err}
	}
	if int64(buf.Len()) > h.opts.MaxUpstreamBody {
		c.entry.Error = "upstream body too large"
		return ledger.StatusUpstreamError, &Error{Status: http.StatusBadGateway, Type: oa.TypeUpstream, Code: "upstream_too_large",
			Msg: "The upstream response is larger than this gateway accepts."}
	}
	out := buf.Bytes()
	hdr := w.Header()
	copyResponseHeaders(hdr, resp.Header)
	hdr.Set("Content-Length", strconv.Itoa(len(out)))
	c.wrote = true
	w.WriteHeader(resp.StatusCode)
	_, werr := w.Write(out)

	st := statusOf(resp.StatusCode)
	c.entry.Status, c.entry.HTTPStatus = st, resp.StatusCode
	if st != ledger.StatusOK {
		c.entry.Error = upstreamErrorMessage(out, resp.StatusCode)
		return st, nil
	}
	var u meter.Usage
	var ok bool
	if fs.chat {
		u, ok = usageOpenAI(gjson.GetBytes(out, "usage"))
		if !ok {
			u = meter.Usage{InputTokens: meter.EstimateChatInput(fs.body), Estimated: true}
			gjson.GetBytes(out, "choices.#.message.content").ForEach(func(_, v gjson.Result) bool {
				u.OutputTokens += meter.CountText(v.Str)
				return true
			})
		}
	} else {
		u, ok = usageOpenAI(gjson.GetBytes(out, "usage"))
		if !ok {
			u = meter.Usage{InputTokens: meter.EstimateEmbeddingInput(fs.body), Estimated: true}
		}
	}
	if werr != nil {
		// The upstream answered and billed; the client left while reading.
		c.entry.Status, c.entry.Error = ledger.StatusCancelled, "client disconnected while the response was written"
	}
	h.bill(c, fs.model, u)
	return ledger.StatusOK, nil
}

func contextDone(resp *http.Response) bool {
	return resp.Request != nil && resp.Request.Context().Err() != nil
}

// relayStream copies an SSE stream chunk by chunk, flushing each read, and
// feeds the bytes to tap. It returns the outcome for the ledger.
func (h *Handler) relayStream(w http.ResponseWriter, r *http.Request, c *call, resp *http.Response, tap *chatTap) (ledger.Status, string) {
	hdr := w.Header()
	copyResponseHeaders(hdr, resp.Header)
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
			if first {
				c.entry.TTFT = time.Since(c.start)
				first = false
			}
			tap.feed(buf[:n])
			_ = rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
			if _, werr := w.Write(buf[:n]); werr != nil {
				return ledger.StatusCancelled, "client disconnected during the stream"
			}
			if ferr := rc.Flush(); ferr != nil {
				return ledger.StatusCancelled, "client disconnected during the stream"
			}
		}
		if rerr == nil {
			continue
		}
		if r.Context().Err() != nil {
			return ledger.StatusCancelled, "client disconnected during the stream"
		}
		if rerr == io.EOF && tap.done {
			return ledger.StatusOK, ""
		}
		msg := "the upstream stream ended before its terminal event"
		if rerr != io.EOF {
			msg = "the upstream stream failed: " + sanitizeErr(rerr)
		}
		if tap.err != nil {
			msg = "the upstream stream was malformed: " + tap.err.Error()
		}
		h.writeStreamError(w, rc, tap, msg)
		return ledger.StatusTruncated, msg
	}
}

// writeStreamError ends a stream that the upstream cut with an explicit
// error event in the OpenAI dialect; never a fabricated finish or [DONE].
func (h *Handler) writeStreamError(w http.ResponseWriter, rc *http.ResponseController, tap *chatTap, msg string) {
	var out []byte
	if tap.parser.Pending() {
		out = append(out, "\n\n"...) // terminate the partial event first
	}
	out = sse.AppendEvent(out, "", oa.MarshalError(oa.TypeServer, "upstream_stream_truncated", "", "Sluice: "+msg+".", ""))
	_ = rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
	_, _ = w.Write(out)
	_ = rc.Flush()
}

// bill records usage and its cost on the entry.
func (h *Handler) bill(c *call, m *runtime.Model, u meter.Usage) {
	e := &c.entry
	e.InputTokens, e.OutputTokens, e.CachedTokens = u.InputTokens, u.OutputTokens, u.CachedTokens
	e.CacheWriteTokens, e.ReasoningTokens, e.Estimated = u.CacheWriteTokens, u.ReasoningTokens, u.Estimated
	e.CostMicros = m.Price.Cost(u)
}

// usageOpenAI reads an OpenAI usage object. Negative or absurd figures are
// rejected (ok=false) so that the caller estimates instead.
func usageOpenAI(u gjson.Result) (meter.Usage, bool) {
	if !u.IsObject() {
		return meter.Usage{}, false
	}
	in, out := u.Get("prompt_tokens"), u.Get("completion_tokens")
	if !in.Exists() && !out.Exists() {
		return meter.Usage{}, false
	}
	mu := meter.Usage{
		InputTokens:     in.Int(),
		OutputTokens:    out.Int(),
		CachedTokens:    u.Get("prompt_tokens_details.cached_tokens").Int(),
		ReasoningTokens: u.Get("completion_tokens_details.reasoning_tokens").Int(),
	}
	const absurd = 1 << 40
	for _, v := range [...]int64{mu.InputTokens, mu.OutputTokens, mu.CachedTokens, mu.ReasoningTokens} {
		if v < 0 || v > absurd {
			return meter.Usage{}, false
		}
	}
	return mu, true
}

// chatTap watches an OpenAI chat completion stream as it is forwarded.
type chatTap struct {
	parser    sse.Parser
	emit      func(sse.Event)
	done      bool
	usage     meter.Usage
	haveUsage bool
	chunks    int64
	err       error
	// accumulate keeps the generated text for an offline token count, when
	// the client did not ask for a usage chunk.
	accumulate bool
	text       []byte
}

const maxAccumulated = 4 << 20

func newChatTap(accumulate bool) *chatTap {
	t := &chatTap{accumulate: accumulate}
	t.emit = t.event
	return t
}

func (t *chatTap) feed(b []byte) {
	if t.err != nil {
		return
	}
	if err := t.parser.Feed(b, t.emit); err != nil {
		t.err = err
	}
}

var usageKey = []byte(`"usage"`)

func (t *chatTap) event(e sse.Event) {
	if sse.IsDone(e.Data) {
		t.done = true
		return
	}
	if bytes.Contains(e.Data, usageKey) {
		if u, ok := usageOpenAI(gjson.GetBytes(e.Data, "usage")); ok {
			t.usage, t.haveUsage = u, true
		}
	}
	t.chunks++
	if t.accumulate && len(t.text) < maxAccumulated {
		gjson.GetBytes(e.Data, "choices").ForEach(func(_, ch gjson.Result) bool {
			d := ch.Get("delta")
			if s := d.Get("content"); s.Type == gjson.String {
				t.text = append(t.text, s.Str...)
			}
			d.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
				t.text = append(t.text, tc.Get("function.name").Str...)
				t.text = append(t.text, tc.Get("function.arguments").Str...)
				return true
			})
			return true
		})
	}
}

// rewriteModel replaces the value of the top-level "model" field, and
// nothing else, leaving every other byte of the body as the client sent it.
func rewriteModel(body []byte, model gjson.Result, upstream string) []byte {
	if model.Str == upstream {
		return body
	}
	quoted, _ := json.Marshal(upstream)
	out := make([]byte, 0, len(body)+len(quoted))
	out = append(out, body[:model.Index]...)
	out = append(out, quoted...)
	return append(out, body[model.Index+len(model.Raw):]...)
}

func isEventStream(h http.Header) bool {
	ct := h.Get("Content-Type")
	return len(ct) >= 17 && ct[:17] == "text/event-stream"
}

func upstreamErrorMessage(body []byte, status int) string {
	if m := gjson.GetBytes(body, "error.message"); m.Type == gjson.String {
		return truncate(m.Str, 500)
	}
	return "upstream answered " + strconv.Itoa(status)
}

// sanitizeErr renders a transport error without its URL, which may carry
// a query-string credential.
func sanitizeErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

var streamBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { b := bodyBufs.Get().(*bytes.Buffer); b.Reset(); return b }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		bodyBufs.Put(b)
	}
}
