// Package proxy is Sluice's data plane: it reads a client request, checks
// its key, resolves the model, forwards the request upstream, streams the
// response back and leaves one ledger entry per authenticated request.
//
// The hot path decodes no more of the body than it must (it peeks "model"
// and "stream"), makes no database call (keys and models come from the
// runtime snapshot), and holds no lock across I/O.
package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/cache"
	"github.com/sluicehq/sluice/internal/experiment"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/meter"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/ratelimit"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/throttle"
	"github.com/sluicehq/sluice/internal/trace"
)

// Recorder receives ledger entries; *ledger.Writer in production.
type Recorder interface {
	Record(ledger.Entry) bool
}

// Options configure a Handler.
type Options struct {
	Snapshots *runtime.Holder
	Ledger    Recorder
	Logger    *slog.Logger
	// MaxBody bounds request bodies (default 10 MiB); larger ones get 413.
	MaxBody int64
	// MaxUpstreamBody bounds non-streamed upstream bodies (default 32 MiB).
	MaxUpstreamBody int64
	// WriteTimeout bounds each write to a client (default 60 s), so that a
	// client that stops reading cannot hold a stream open.
	WriteTimeout time.Duration
	// Codecs translate between protocols.
	Codecs Codecs
	// Limiter enforces keys' rate limits and budgets (nil: no limits).
	Limiter *ratelimit.Limiter
	// Metrics, when set, counts requests, attempts, tokens and cost.
	Metrics *Metrics
	// SpendSince reads settled spend from the ledger, to seed a budget on
	// its first request after a start: column is key_id, app_id, team_id or
	// org_id.
	SpendSince func(ctx context.Context, column, id string, since time.Time) (int64, error)

	RequestsSince func(ctx context.Context, subscriptionID string, since time.Time) (int64, error) // products.go: seeds a plan's request quota
	// Throttle, when set, refuses a client address (429) that presented
	// too many invalid keys; the key lookup itself is in memory.
	Throttle *throttle.Throttle
	// Cache stores answers of models with a cache (nil: in memory,
	// runtime.DefaultCacheBytes).
	Cache cache.Store
	// Semantic, when set, serves models with cache mode semantic (semanticcache.go).
	Semantic *cache.Semantic
	// SecurityLogEvery is the interval over which refusals before
	// authentication are aggregated into one log line per source and
	// reason (default 10 s).
	SecurityLogEvery time.Duration
	// Tracer, when set, exports a span per request and per attempt (trace.go).
	Tracer *trace.Tracer
	// Captures, when set, takes the bodies that request_log captures (capture.go).
	Captures CaptureSink
	// Feedback, when set, serves POST /v1/sluice/feedback (feedback.go).
	Feedback FeedbackStore
	// Experiments, when set, puts requests on experiment arms (experiments.go).
	Experiments *experiment.Set
}

// Codecs are the protocol translators, by protocol.
type Codecs struct {
	Clients   map[provider.Protocol]llm.ClientCodec
	Upstreams map[provider.Protocol]llm.UpstreamCodec
	// ResponsesTap and ResponsesUsage meter OpenAI Responses traffic passed
	// through to an OpenAI upstream (Responses has no upstream codec).
	ResponsesTap   func() llm.StreamReader
	ResponsesUsage func(body []byte) (meter.Usage, bool)
	// CountTokensRequest decodes a count-tokens body, by client protocol.
	CountTokensRequest map[provider.Protocol]func(body []byte, model string) (*llm.Request, error)
}

// Handler serves the OpenAI-compatible API.
type Handler struct {
	opts   Options
	log    *slog.Logger
	budget retryBudget
	seeds  sync.Map // key id -> *sync.Mutex: one ledger read per key to seed its budget
	// refusals aggregates the security log of refusals before
	// authentication.
	refusals *refusalLog
	// chain is the request chain (chain.go), composed once.
	chain Next

	// recent remembers who made this process's recent requests (feedback.go).
	recent recentOwners

	cache cache.Store
}

// New returns a data-plane handler.
func New(opts Options) *Handler {
	if opts.MaxBody <= 0 {
		opts.MaxBody = 10 << 20
	}
	if opts.MaxUpstreamBody <= 0 {
		opts.MaxUpstreamBody = 32 << 20
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 60 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.SecurityLogEvery <= 0 {
		opts.SecurityLogEvery = 10 * time.Second
	}
	h := &Handler{opts: opts, log: opts.Logger, refusals: newRefusalLog(opts.Logger, opts.SecurityLogEvery, time.Now)}
	h.cache = opts.Cache
	if h.cache == nil {
		h.cache = cache.NewMemory(runtime.DefaultCacheBytes)
	}
	h.chain = compose(h.steps())
	return h
}

// FlushSecurityLog writes the refusals before authentication counted
// since the last line; the server calls it on shutdown.
func (h *Handler) FlushSecurityLog() { h.refusals.flush() }

// Call is the state of one client request, as the chain's steps read and
// change it.
type Call struct {
	in    *ingress
	id    string
	start time.Time
	entry ledger.Entry
	key   *runtime.Key
	snap  *runtime.Snapshot
	// wrote is set once response headers have been sent.
	wrote bool
	// source is the client's address (X-Forwarded-For from a trusted
	// proxy), set by authenticate; refusal is the error code of a
	// refusal before authentication.
	source  netip.Addr
	refusal string
	// tickets are the request's admissions at every level; settled when
	// the request ends.
	tickets *ratelimit.Tickets

	// w is the response writer as the steps so far have wrapped it, and r
	// the client's request; fs is the request ready to forward, set by
	// resolve (nil for an endpoint that names no model).
	w  http.ResponseWriter
	r  *http.Request
	fs *forwardSpec
	// spec is fs's storage when resolveBody sets it (one allocation less
	// per request).
	spec forwardSpec
	// guard is the request's guardrails (guard_input), nil when none
	// applies; cacheWrite is a cache miss to store (cache_lookup).
	guard      *guardState
	cacheWrite *cacheWrite

	// idVal, routeVal, lenVal and limitVals hold the values of
	// X-Request-Id, X-Sluice-Route, a whole answer's Content-Length and
	// the x-ratelimit-* headers: the header map gets
	// capped one-element slices of them (see oneValue), so that setting
	// them costs no allocation beyond their strings. They are the call's
	// own, never shared with another request.
	idVal     [1]string
	routeVal  [1]string
	lenVal    [1]string
	limitVals [4]string
}

// oneValue stores v in slot and returns it as a header value: a capped
// slice, as Set makes, so that an append to it cannot write into the
// call's other fields.
func oneValue(slot *[1]string, v string) []string {
	slot[0] = v
	return slot[:]
}

func (h *Handler) finish(c *Call) {
	e := &c.entry
	if c.key == nil && e.HTTPStatus >= 400 {
		// Refused before authentication: not usage of any key, and one
		// ledger row per request would let anyone without a key fill
		// the disk. Counted and logged in aggregate instead.
		h.refusedUnauthenticated(c)
		return
	}
	e.RequestID = c.id
	e.Time = c.start
	e.Latency = time.Since(c.start)
	if c.key != nil {
		e.KeyID, e.KeyName = c.key.ID, c.key.Name
		e.OrgID, e.TeamID, e.AppID = c.key.OrgID, c.key.TeamID, c.key.AppID
	}
	if e.Status == "" {
		e.Status = statusOf(e.HTTPStatus)
	}
	if e.Attempts == nil {
		e.Attempts = []ledger.Attempt{}
	}
	c.tickets.Done(e.CostMicros, e.InputTokens+e.OutputTokens)
	if m := h.opts.Metrics; m != nil {
		m.observe(e, c.snap)
	}
	h.opts.Ledger.Record(*e)
}

func (h *Handler) notFound(c *Call) error {
	r := c.r
	return &Error{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "unknown_url",
		Msg: "Unknown request URL: " + r.Method + " " + sanitizePath(r.URL.Path) + "."}
}

// Request ids are a per-process random prefix and a counter: unique across
// restarts, and cheap.
var (
	idPrefix  = func() string { var b [6]byte; _, _ = rand.Read(b[:]); return "req_" + hex.EncodeToString(b[:]) }()
	idCounter atomic.Uint64
)

// NewRequestID returns a new request id.
func NewRequestID() string { return newRequestID() }

func newRequestID() string {
	var b [48]byte // one allocation: the string
	return string(strconv.AppendUint(append(b[:0], idPrefix...), idCounter.Add(1)+1<<40, 36))
}

func sanitizePath(p string) string {
	if len(p) > 200 {
		p = p[:200]
	}
	return p
}
