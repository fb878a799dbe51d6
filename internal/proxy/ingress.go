package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/meter"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/runtime"
)

// An ingress is one client-facing API: the protocol its clients speak and
// the name its requests carry in the ledger.
type ingress struct {
	endpoint string
	proto    provider.Protocol
	// op is the operation forwarded when the upstream speaks proto.
	op provider.Operation
	// keyFrom extracts the client's key.
	keyFrom func(r *http.Request) string
	// resolve and serve are the ingress's own stages (see the list above).
	resolve func(h *Handler, c *Call) error
	serve   func(h *Handler, c *Call) error
}

// The ingresses. resolve reads the request and resolves its model (nil:
// the endpoint names none); serve answers once every step before it has
// passed (nil: route_and_attempt forwards the request upstream).
var (
	inChat        = &ingress{endpoint: "chat.completions", proto: provider.ProtocolOpenAI, op: provider.OpChat, keyFrom: headerKey, resolve: (*Handler).resolveBody}
	inEmb         = &ingress{endpoint: "embeddings", proto: provider.ProtocolOpenAI, op: provider.OpEmbeddings, keyFrom: headerKey, resolve: (*Handler).resolveEmbeddings}
	inModels      = &ingress{endpoint: "models", proto: provider.ProtocolOpenAI, keyFrom: headerKey, serve: (*Handler).models}
	inResponses   = &ingress{endpoint: "responses", proto: provider.ProtocolResponses, op: provider.OpResponses, keyFrom: headerKey, resolve: (*Handler).resolveBody}
	inMessages    = &ingress{endpoint: "messages", proto: provider.ProtocolAnthropic, op: provider.OpChat, keyFrom: headerKey, resolve: (*Handler).resolveMessages}
	inCount       = &ingress{endpoint: "messages.count_tokens", proto: provider.ProtocolAnthropic, op: provider.OpCountTokens, keyFrom: headerKey, resolve: (*Handler).resolveMessages, serve: (*Handler).countTokens}
	inGemini      = &ingress{endpoint: "gemini.generate_content", proto: provider.ProtocolGemini, op: provider.OpChat, keyFrom: geminiKey, resolve: (*Handler).resolveGemini}
	inGeminiCount = &ingress{endpoint: "gemini.count_tokens", proto: provider.ProtocolGemini, op: provider.OpCountTokens, keyFrom: geminiKey, serve: (*Handler).countTokens}
	inUsage       = &ingress{endpoint: "usage", proto: provider.ProtocolOpenAI, keyFrom: headerKey, serve: (*Handler).selfUsage}
	inUnknown     = &ingress{endpoint: "unknown", proto: provider.ProtocolOpenAI, keyFrom: headerKey, serve: (*Handler).notFound}
)

func headerKey(r *http.Request) string { return auth.FromRequest(r.Header) }

// geminiKey reads the key as Google's SDKs send it: the x-goog-api-key
// header or the key query parameter (which is never logged).
func geminiKey(r *http.Request) string {
	if k := r.Header.Get("X-Goog-Api-Key"); k != "" {
		if len(r.Header.Values("X-Goog-Api-Key")) > 1 {
			return ""
		}
		return k
	}
	if k := r.URL.Query().Get("key"); k != "" {
		return k
	}
	return auth.FromRequest(r.Header)
}

// authenticate resolves the request's key against the current snapshot.
func (h *Handler) authenticate(r *http.Request, c *Call) error {
	c.snap = h.opts.Snapshots.Load()
	peer := peerAddr(r)
	key := c.in.keyFrom(r)
	var k *runtime.Key
	if key != "" && len(key) <= auth.MaxKeyLen {
		k = c.snap.Keys[auth.HashKey(key)] // in memory: a guess costs no database query
	}
	if k == nil {
		c.source = clientAddr(r, peer, c.snap.TrustedProxies)
		// An address that keeps guessing is answered 429 for a while;
		// valid keys from it still pass (they never reach this branch).
		if t := h.opts.Throttle; t != nil && key != "" {
			if ok, retry := t.Allow(peer.String()); !ok {
				c.entry.Status = ledger.StatusLimited
				return &Error{Status: http.StatusTooManyRequests, Type: oa.TypeRateLimit, Code: "too_many_invalid_keys",
					Msg: "Too many requests with invalid API keys from this address; try again later.", RetryAfter: retry}
			}
			t.Fail(peer.String())
		}
		return errNoKey
	}
	c.source = clientAddr(r, peer, c.snap.TrustedProxies)
	if k.Expired(time.Now()) {
		return &Error{Status: http.StatusUnauthorized, Type: oa.TypeInvalidRequest, Code: "expired_api_key", Msg: "This API key has expired."}
	}
	c.key = k
	if !k.AllowsEndpoint(c.in.endpoint) {
		return &Error{Status: http.StatusForbidden, Type: oa.TypePermission, Code: "endpoint_not_allowed",
			Msg: "This API key may not call this endpoint."}
	}
	if k.Networks != nil && !k.AllowsAddr(c.source) {
		return &Error{Status: http.StatusForbidden, Type: oa.TypePermission, Code: "source_not_allowed",
			Msg: "This API key may not be used from this network."}
	}
	return nil
}

// peerAddr is the address of the connection's other end.
func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// clientAddr is the client's address: the peer, or, when the peer is a
// trusted proxy, the rightmost X-Forwarded-For address that is not one.
func clientAddr(r *http.Request, peer netip.Addr, trusted []netip.Prefix) netip.Addr {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if !isTrusted(peer) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	addr := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{} // a malformed chain matches no network
		}
		addr = a.Unmap()
		if !isTrusted(addr) {
			return addr
		}
	}
	return addr
}

// readBody reads the whole request body (readUnchecked) and checks it
// (checkJSON) before any other parser sees it.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := h.readUnchecked(w, r)
	if err != nil {
		return nil, err
	}
	if err := checkJSON(body); err != nil {
		return nil, err
	}
	return body, nil
}

// readUnchecked reads the whole request body before anything is written
// back: with HTTP/1.x a handler that answers before reading the body may
// lose it, and Go's server then truncates a share of streamed responses.
// The caller checks the body (checkJSON, or peek or checkObject, which
// check it in the pass that reads it) before any other parser sees it.
func (h *Handler) readUnchecked(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > h.opts.MaxBody {
		return nil, errTooLarge
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(60 * time.Second))
	defer rc.SetReadDeadline(time.Time{})
	size := 4096
	if r.ContentLength > 0 {
		// bytes.Buffer.ReadFrom grows the buffer (doubling it) when less
		// than MinRead bytes are free, even at the end of the body.
		size = int(r.ContentLength) + bytes.MinRead
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

// lookupModel finds the model and checks the key's allow-list.
func lookupModel(c *Call, name string) (*runtime.Model, error) {
	c.entry.Model = name
	m := c.snap.Models[name]
	if m == nil {
		return nil, &Error{Status: http.StatusNotFound, Type: oa.TypeInvalidRequest, Code: "model_not_found", Param: "model",
			Msg: fmt.Sprintf("The model %q does not exist or you do not have access to it.", truncate(name, 128))}
	}
	if !c.key.Allows(name) {
		return nil, &Error{Status: http.StatusForbidden, Type: oa.TypePermission, Code: "model_not_allowed", Param: "model",
			Msg: fmt.Sprintf("This key is not allowed to use the model %q.", truncate(name, 128))}
	}
	return m, nil
}

// resolveBody reads and peeks the body and resolves the model named in it:
// the resolve stage of every endpoint whose body names its model.
func (h *Handler) resolveBody(c *Call) error {
	body, err := h.readUnchecked(c.w, c.r)
	if err != nil {
		return err
	}
	p, err := peek(body) // checks the body as it reads it
	if err != nil {
		return err
	}
	c.entry.Stream = p.stream
	// The name outlives the request (the ledger, the metrics): a copy, not
	// a string into the body (see peek).
	m, err := lookupModel(c, strings.Clone(p.model.Str))
	if err != nil {
		return err
	}
	c.spec = forwardSpec{body: body, peek: p, model: m, stream: p.stream}
	c.fs = &c.spec
	return nil
}

// resolveEmbeddings is resolveBody for embeddings, which never stream.
func (h *Handler) resolveEmbeddings(c *Call) error {
	if err := h.resolveBody(c); err != nil {
		return err
	}
	if c.fs.stream {
		return errBadRequest("invalid_value", "stream", "Embeddings cannot be streamed.")
	}
	return nil
}

// resolveMessages resolves Anthropic's Messages API. Anthropic requires
// the anthropic-version header; Sluice does too, so that clients that work
// here work against Anthropic.
func (h *Handler) resolveMessages(c *Call) error {
	if c.r.Header.Get("Anthropic-Version") == "" {
		// Anthropic's own wording; the header is not a body parameter, so
		// no Param (the Anthropic dialect would prefix it again).
		return errBadRequest("missing_header", "", "anthropic-version: header is required")
	}
	if err := h.resolveBody(c); err != nil {
		return err
	}
	c.fs.local = localCount(c)
	return nil
}

// resolveGemini resolves /v1beta/models/{model}:{method} for
// generateContent, streamGenerateContent (alt=sse) and countTokens.
func (h *Handler) resolveGemini(c *Call) error {
	r := c.r
	rest := r.PathValue("rest")
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return &Error{Status: http.StatusNotFound, Type: "NOT_FOUND", Code: "unknown_url", Msg: "Expected /v1beta/models/{model}:{method}."}
	}
	name, method := strings.TrimPrefix(rest[:i], "models/"), rest[i+1:]
	fs := &forwardSpec{pathModel: true}
	switch method {
	case "generateContent":
	case "streamGenerateContent":
		if r.URL.Query().Get("alt") != "sse" {
			return errBadRequest("invalid_value", "alt", "Sluice streams Gemini responses as server-sent events: add ?alt=sse.")
		}
		fs.stream = true
	case "countTokens":
		c.in = inGeminiCount
		c.entry.Endpoint = inGeminiCount.endpoint
	default:
		return &Error{Status: http.StatusNotFound, Type: "NOT_FOUND", Code: "unknown_url", Msg: fmt.Sprintf("Unknown method %q.", truncate(method, 64))}
	}
	c.entry.Stream = fs.stream
	body, err := h.readUnchecked(c.w, r)
	if err != nil {
		return err
	}
	if err := checkObject(body); err != nil {
		return err
	}
	m, err := lookupModel(c, name)
	if err != nil {
		return err
	}
	fs.body, fs.model = body, m
	c.fs = fs
	fs.local = localCount(c)
	return nil
}

// localCount reports a token count that Sluice answers itself, because the
// model's first target does not speak the client's protocol.
func localCount(c *Call) bool {
	return c.in.op == provider.OpCountTokens && c.fs.model.Default.Targets[0].Provider.Protocol() != c.in.proto
}

// countTokens answers a token count: from the upstream when it speaks the
// client's protocol, otherwise from Sluice's offline tokenizer.
func (h *Handler) countTokens(c *Call) error {
	fs := c.fs
	if !fs.local {
		return h.forward(c.w, c.r, c, fs)
	}
	t := fs.model.Default.Targets[0]
	decode := h.opts.Codecs.CountTokensRequest[c.in.proto]
	if decode == nil {
		return errBadRequest("unsupported", "", "Token counting is not available for this protocol.")
	}
	req, err := decode(fs.body, nameFromPath(fs))
	if err != nil {
		return err
	}
	n := estimateRequest(req)
	var out []byte
	if c.in.proto == provider.ProtocolGemini {
		out = fmt.Appendf(nil, `{"totalTokens":%d}`, n)
	} else {
		out = fmt.Appendf(nil, `{"input_tokens":%d}`, n)
	}
	w := c.w
	w.Header().Set("Content-Type", "application/json")
	c.wrote = true
	c.entry.HTTPStatus, c.entry.Status, c.entry.InputTokens, c.entry.Estimated = 200, "ok", n, true
	c.entry.ServedModel, c.entry.Provider = t.Model, "sluice"
	_, _ = w.Write(out)
	return nil
}

func nameFromPath(fs *forwardSpec) string {
	if fs.pathModel {
		return fs.model.Name
	}
	return ""
}

// estimateRequest counts a canonical request's input tokens offline.
func estimateRequest(req *llm.Request) int64 {
	var b strings.Builder
	var n int64 = 3
	add := func(parts []llm.Part) {
		for _, p := range parts {
			switch p.Type {
			case llm.PartImage:
				n += 85
			case llm.PartToolCall:
				b.WriteString(p.ToolName)
				b.Write(p.Arguments)
			case llm.PartToolResult:
				for _, q := range p.Content {
					b.WriteString(q.Text)
				}
			default:
				b.WriteString(p.Text)
			}
		}
	}
	add(req.System)
	for _, m := range req.Messages {
		n += 3
		add(m.Content)
	}
	for _, t := range req.Tools {
		b.WriteString(t.Name)
		b.WriteString(t.Description)
		b.Write(t.Parameters)
	}
	return n + meter.CountText(b.String())
}

// refusalReasons are the metric and log labels of refusals before
// authentication; any other code counts as "other", so that the label
// stays bounded.
var refusalReasons = map[string]bool{"invalid_api_key": true, "too_many_invalid_keys": true, "expired_api_key": true}

// refusedUnauthenticated counts a refusal before authentication in the
// metrics and the aggregated security log, instead of the ledger.
func (h *Handler) refusedUnauthenticated(c *Call) {
	reason := c.refusal
	if !refusalReasons[reason] {
		reason = "other"
	}
	if m := h.opts.Metrics; m != nil {
		m.Requests.With(c.entry.Endpoint, string(c.entry.Status)).Add(1)
		m.Unauthenticated.With(c.entry.Endpoint, reason).Add(1)
	}
	h.refusals.add(c.source, reason)
}

// maxRefusalSources bounds the security log's map of sources per
// interval; further sources are counted together.
const maxRefusalSources = 256

type refusalKey struct {
	source netip.Addr
	reason string
}

// refusalLog writes one line per source address and reason per interval,
// with a count, rather than one per request. It starts no goroutine: an
// interval's lines are written by the first refusal after it ends, or by
// flush.
type refusalLog struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu       sync.Mutex // guards the fields below
	start    time.Time
	counts   map[refusalKey]int64
	overflow int64 // refusals from sources beyond maxRefusalSources
}

func newRefusalLog(log *slog.Logger, every time.Duration, now func() time.Time) *refusalLog {
	return &refusalLog{log: log, every: every, now: now}
}

func (l *refusalLog) add(source netip.Addr, reason string) {
	now := l.now()
	l.mu.Lock()
	var counts map[refusalKey]int64
	var overflow int64
	var since time.Time
	if !l.start.IsZero() && now.Sub(l.start) >= l.every {
		counts, overflow, since = l.counts, l.overflow, l.start
		l.counts, l.overflow, l.start = nil, 0, time.Time{}
	}
	if l.start.IsZero() {
		l.start = now
	}
	if l.counts == nil {
		l.counts = make(map[refusalKey]int64)
	}
	k := refusalKey{source, reason}
	if _, ok := l.counts[k]; ok || len(l.counts) < maxRefusalSources {
		l.counts[k]++
	} else {
		l.overflow++
	}
	l.mu.Unlock()
	l.write(counts, overflow, since, now)
}

func (l *refusalLog) flush() {
	l.mu.Lock()
	counts, overflow, since := l.counts, l.overflow, l.start
	l.counts, l.overflow, l.start = nil, 0, time.Time{}
	l.mu.Unlock()
	l.write(counts, overflow, since, l.now())
}

func (l *refusalLog) write(counts map[refusalKey]int64, overflow int64, since, now time.Time) {
	for k, n := range counts {
		l.log.Warn("requests refused before authentication", "source", k.source.String(), "reason", k.reason,
			"count", n, "since", since, "seconds", int64(now.Sub(since)/time.Second))
	}
	if overflow > 0 {
		l.log.Warn("requests refused before authentication", "source", "other", "reason", "any",
			"count", overflow, "since", since, "sources_over", maxRefusalSources)
	}
}
