// Package proxy is Sluice's data plane: it reads a client request, checks
// its key, resolves the model, forwards the request upstream, streams the
// response back and leaves one ledger entry per request.
//
// The hot path decodes no more of the body than it must (it peeks "model"
// and "stream"), makes no database call (keys and models come from the
// runtime snapshot), and holds no lock across I/O.
package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/runtime"
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
}

// Handler serves the OpenAI-compatible API.
type Handler struct {
	opts Options
	log  *slog.Logger
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
	return &Handler{opts: opts, log: opts.Logger}
}

// Register adds the data-plane routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("POST /v1/chat/completions", h.endpoint("chat.completions", h.chatCompletions))
	mux.Handle("POST /v1/embeddings", h.endpoint("embeddings", h.embeddings))
	mux.Handle("GET /v1/models", h.endpoint("models", h.models))
	mux.Handle("/v1/", h.endpoint("unknown", h.notFound))
}

// call is the state of one client request.
type call struct {
	id    string
	start time.Time
	entry ledger.Entry
	key   *runtime.Key
	snap  *runtime.Snapshot
	// wrote is set once response headers have been sent.
	wrote bool
}

type endpointFunc func(w http.ResponseWriter, r *http.Request, c *call) error

// endpoint wraps a handler with the per-request chain, in this order:
// recover -> request id -> handler (which authenticates first) -> error
// rendering -> ledger entry. Exactly one entry is recorded per request.
func (h *Handler) endpoint(name string, fn endpointFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{id: newRequestID(), start: time.Now()}
		c.entry.Endpoint = name
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
					writeError(w, asError(nil), c.id)
				}
				c.entry.Status, c.entry.HTTPStatus, c.entry.Error = ledger.StatusUpstreamError, 500, "internal error"
				h.finish(c)
			}
		}()
		err := fn(w, r, c)
		if err != nil {
			e := asError(err)
			if !c.wrote {
				writeError(w, e, c.id)
			}
			if c.entry.HTTPStatus == 0 {
				c.entry.HTTPStatus = e.Status
			}
			if c.entry.Status == "" {
				c.entry.Status = statusOf(e.Status)
			}
			if c.entry.Error == "" {
				c.entry.Error = e.Msg
			}
			if e.Status >= 500 {
				h.log.Warn("request failed", "request_id", c.id, "status", e.Status, "err", e)
			}
		}
		h.finish(c)
	})
}

func (h *Handler) finish(c *call) {
	e := &c.entry
	e.RequestID = c.id
	e.Time = c.start
	e.Latency = time.Since(c.start)
	if c.key != nil {
		e.KeyID, e.KeyName = c.key.ID, c.key.Name
	}
	if e.Status == "" {
		e.Status = statusOf(e.HTTPStatus)
	}
	if e.Attempts == nil {
		e.Attempts = []ledger.Attempt{}
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
