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

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/meter"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/ratelimit"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/throttle"
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
	// Throttle, when set, refuses a client address (429) that presented
	// too many invalid keys; the key lookup itself is in memory.
	Throttle *throttle.Throttle
	// SecurityLogEvery is the interval over which refusals before
	// authentication are aggregated into one log line per source and
	// reason (default 10 s).
	SecurityLogEvery time.Duration
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
	return &Handler{opts: opts, log: opts.Logger, refusals: newRefusalLog(opts.Logger, opts.SecurityLogEvery, time.Now)}
}

// FlushSecurityLog writes the refusals before authentication counted
// since the last line; the server calls it on shutdown.
func (h *Handler) FlushSecurityLog() { h.refusals.flush() }

// Register adds the data-plane routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	for _, rt := range h.Routes() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
}

// Route is a data-plane route.
type Route struct {
	Pattern string
	Handler http.Handler
}

// Routes lists every data-plane route: the one table that tests check
// against, so that no route escapes authentication.
func (h *Handler) Routes() []Route {
	return []Route{
		{"POST /v1/chat/completions", h.endpoint(inChat, h.chatCompletions)},
		{"POST /v1/embeddings", h.endpoint(inEmb, h.embeddings)},
		{"GET /v1/models", h.endpoint(inModels, h.models)},
		{"POST /v1/responses", h.endpoint(inResponses, h.responses)},
		{"POST /v1/messages", h.endpoint(inMessages, h.messages)},
		{"POST /v1/messages/count_tokens", h.endpoint(inCount, h.messages)},
		{"POST /v1beta/models/{rest...}", h.endpoint(inGemini, h.gemini)},
		{"GET /v1/sluice/usage", h.endpoint(&ingress{endpoint: "usage", proto: provider.ProtocolOpenAI, keyFrom: headerKey}, h.selfUsage)},
		{"/v1/", h.endpoint(&ingress{endpoint: "unknown", proto: provider.ProtocolOpenAI, keyFrom: headerKey}, h.notFound)},
	}
}

// call is the state of one client request.
type call struct {
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
}

type endpointFunc func(w http.ResponseWriter, r *http.Request, c *call) error

// endpoint wraps a handler with the per-request chain, in this order:
// recover -> request id -> handler (which authenticates first) -> error
// rendering -> ledger entry. Exactly one entry is recorded per request
// that authenticated; refusals before authentication are counted and
// logged in aggregate instead (refusedUnauthenticated).
func (h *Handler) endpoint(in *ingress, fn endpointFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{in: in, id: newRequestID(), start: time.Now()}
		c.entry.Endpoint = in.endpoint
		w.Header().Set("X-Request-Id", c.id)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler { // the client connection is gone
					c.entry.Status, c.entry.HTTPStatus, c.entry.Error = ledger.StatusCancelled, 499, "client connection aborted"
					h.finish(c)
					panic(p)
				}
				h.log.Error("panic in handler", "request_id", c.id, "panic", p) // the body is never logged
				if !c.wrote {
					h.writeError(w, c, asError(nil))
				}
				c.entry.Status, c.entry.HTTPStatus, c.entry.Error = ledger.StatusUpstreamError, 500, "internal error"
				h.finish(c)
			}
		}()
		err := fn(w, r, c)
		if err != nil {
			status, msg := http.StatusInternalServerError, "internal error"
			if !c.wrote {
				status, msg = h.writeError(w, c, err)
			}
			if c.entry.HTTPStatus == 0 {
				c.entry.HTTPStatus = status
			}
			if c.entry.Status == "" {
				c.entry.Status = statusOf(status)
			}
			if c.entry.Error == "" {
				c.entry.Error = msg
			}
			if c.key == nil {
				c.refusal = asError(err).Code
			}
			if status >= 500 {
				h.log.Warn("request failed", "request_id", c.id, "status", status, "err", err)
			}
		}
		h.finish(c)
	})
}

func (h *Handler) finish(c *call) {
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

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := h.authenticate(r, c); err != nil {
		return err
	}
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
	return idPrefix + strconv.FormatUint(idCounter.Add(1)+1<<40, 36)
}

func sanitizePath(p string) string {
	if len(p) > 200 {
		p = p[:200]
	}
	return p
}
