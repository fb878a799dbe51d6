// Package anthropicfake is a test double of Anthropic's Messages API. It speaks
// Anthropic's wire format as the official SDK (anthropic-sdk-go v2) expects it:
// POST /v1/messages (JSON or SSE with message_start, ping, content blocks,
// message_delta and message_stop), POST /v1/messages/count_tokens, GET /v1/models,
// and Anthropic's error envelope. It validates requests the way the API does where
// translation bugs would show (unknown fields, max_tokens, tool_use / tool_result
// pairing, thinking signatures), answers deterministically from the request so that
// tests can assert on content and usage, can be scripted per request by x-fake-*
// headers or from Go, and records every request it receives.
//
// The package is test code: it is imported by unit, end-to-end and fault tests, never by
// the gateway itself.
package anthropicfake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/sluicehq/sluice/internal/fakeprovider/reqlog"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// MaxBodyBytes is the largest request body the fake reads; larger bodies get a 413.
const MaxBodyBytes = 32 << 20

// Version is the current anthropic-version; the fake also accepts the older 2023-01-01.
const Version = "2023-06-01"

// DefaultModels are the model IDs of GET /v1/models when Options.Models is empty.
var DefaultModels = []string{"claude-fake-1", "claude-fake-2"}

// Options configure a Server. The zero value is a working fake with no authentication.
type Options struct {
	// APIKey, when set, is the only credential accepted: requests without
	// "x-api-key: <APIKey>" get a 401 authentication_error.
	APIKey string

	// Script, when set, is called for every request to an API endpoint after
	// authentication. A non-nil result is used as the request's Behavior and the
	// x-fake-* headers are ignored; nil falls back to the headers. The request body can
	// be read again from r.Body. Script must be safe for concurrent use.
	Script func(r *http.Request) *Behavior

	// Models lists the model IDs of GET /v1/models; DefaultModels when empty.
	Models []string

	// Now is the clock of the request log; time.Now when nil.
	Now func() time.Time
}

// Server is the fake upstream. It is an http.Handler and safe for concurrent use.
type Server struct {
	opts       Options
	mux        *http.ServeMux
	reqlog.Log // the requests received; its methods (Requests, Count, Wait...) are the Server's

	closeOnce sync.Once
	closed    chan struct{} // closed by Close; releases hanging handlers
}

// New returns a fake upstream configured by opts.
func New(opts Options) *Server {
	if len(opts.Models) == 0 {
		opts.Models = DefaultModels
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, closed: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/messages", s.handleMessages)
	mux.HandleFunc("POST /v1/messages/count_tokens", s.handleCountTokens)
	mux.HandleFunc("GET /v1/models", s.handleModels)
	mux.HandleFunc("/", s.handleNotFound)
	s.mux = mux
	return s
}

// Start serves a new fake on a loopback httptest server for the life of the test and
// returns it with its base URL: the API root, as Anthropic documents
// https://api.anthropic.com (requests go to base + "/v1/messages").
func Start(t testing.TB, opts Options) (*Server, string) {
	t.Helper()
	s := New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		ts.CloseClientConnections()
		ts.Close()
	})
	return s, ts.URL
}

// Close releases every handler that hangs or waits, so that the HTTP server that
// serves the fake can shut down. The fake answers 503 to requests after Close.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

// ServeHTTP records the request and answers it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, readErr := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	rec := s.Log.Begin(r, body, s.opts.Now())
	rw := &recordingWriter{ResponseWriter: w}
	// The request context ends before ServeHTTP returns only when the client goes away.
	// AfterFunc marks it as soon as that happens, for waiters; the deferred check
	// covers the case where the handler noticed first and returned.
	stop := context.AfterFunc(r.Context(), func() {
		if !rw.complete.Load() {
			s.Log.Cancelled(rec, s.opts.Now())
		}
	})
	defer func() {
		stop()
		cancelled := r.Context().Err() != nil && !rw.complete.Load()
		s.Log.Finish(rec, rw.status, rw.events, cancelled, s.opts.Now())
	}()
	r.Body = io.NopCloser(bytes.NewReader(body))
	ctx := reqlog.WithRecord(r.Context(), rec)
	r = r.WithContext(ctx)
	rw.Header().Set("Request-Id", fmt.Sprintf("req_fake_%d", rec.Seq))

	switch {
	case readErr != nil:
		writeError(rw, http.StatusBadRequest, errInvalidRequest, "fake: reading the request body: "+readErr.Error())
		return
	case len(body) > MaxBodyBytes:
		writeError(rw, http.StatusRequestEntityTooLarge, errRequestTooLarge, "Request exceeds the maximum allowed number of bytes.")
		return
	}
	select {
	case <-s.closed:
		writeError(rw, http.StatusServiceUnavailable, errOverloaded, "fake: server closed")
		return
	default:
	}
	if s.opts.APIKey != "" {
		switch key := r.Header.Get("X-Api-Key"); {
		case key == "":
			writeError(rw, http.StatusUnauthorized, errAuthentication, "x-api-key header is required")
			return
		case key != s.opts.APIKey:
			writeError(rw, http.StatusUnauthorized, errAuthentication, "invalid x-api-key")
			return
		}
	}
	if r.Header.Get("Anthropic-Version") == "" {
		writeError(rw, http.StatusBadRequest, errInvalidRequest, "anthropic-version: header is required")
		return
	}
	if v := r.Header.Get("Anthropic-Version"); !validVersion(v) {
		writeError(rw, http.StatusBadRequest, errInvalidRequest, fmt.Sprintf("anthropic-version: %q is not a valid version", v))
		return
	}
	s.mux.ServeHTTP(rw, r)
}

// behavior resolves the script of one request: Options.Script first, then headers.
func (s *Server) behavior(r *http.Request) (*Behavior, error) {
	if s.opts.Script != nil {
		b := s.opts.Script(r)
		r.Body = io.NopCloser(bytes.NewReader(recordOf(r).Body))
		if b != nil {
			return b, nil
		}
	}
	return ParseHeaders(r.Header)
}

// prelude applies the parts of a Behavior that come before any response byte: the
// delay, a hang, a scripted error status and a scripted body. It reports whether the
// handler should go on and answer normally.
func (s *Server) prelude(w http.ResponseWriter, r *http.Request, b *Behavior) bool {
	if b.Delay > 0 && !s.sleep(r.Context(), b.Delay) {
		return false
	}
	if b.Hang == HangBeforeHeaders {
		s.wait(r.Context(), nil)
		return false
	}
	if b.Status >= 400 && b.RetryAfter != "" {
		w.Header().Set("Retry-After", b.RetryAfter)
	}
	if b.Body != nil {
		status := http.StatusOK
		if b.Status != 0 {
			status = b.Status
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if _, err := w.Write(b.Body); err == nil {
			markComplete(w)
		}
		return false
	}
	if b.Status >= 400 {
		writeError(w, b.Status, statusErrorType(b.Status), scriptedMessage(b.Status))
		return false
	}
	return true
}

// sleep waits for d; it returns false when the client went away or the fake closed.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	return s.wait(ctx, t.C)
}

// wait blocks until c fires (true) or the request ends or the fake closes (false).
func (s *Server) wait(ctx context.Context, c <-chan time.Time) bool {
	select {
	case <-c:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		return false
	}
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, errNotFound, fmt.Sprintf("Not Found: %s %s", r.Method, r.URL.Path))
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	b, err := s.behavior(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, errInvalidRequest, err.Error())
		return
	}
	if !s.prelude(w, r, b) {
		return
	}
	type model struct {
		Type        string `json:"type"`
		ID          string `json:"id"`
		DisplayName string `json:"display_name"`
		CreatedAt   string `json:"created_at"`
	}
	list := struct {
		Data    []model `json:"data"`
		HasMore bool    `json:"has_more"`
		FirstID *string `json:"first_id"`
		LastID  *string `json:"last_id"`
	}{Data: []model{}}
	for _, id := range s.opts.Models {
		list.Data = append(list.Data, model{Type: "model", ID: id, DisplayName: id, CreatedAt: "2025-01-01T00:00:00Z"})
	}
	if n := len(list.Data); n > 0 {
		list.FirstID, list.LastID = &list.Data[0].ID, &list.Data[n-1].ID
	}
	writeJSON(w, http.StatusOK, list)
}

// messageID returns an ID unique per request and stable for a given arrival order
// and body.
func messageID(r *http.Request) string {
	rec := recordOf(r)
	sum := sha256.Sum256(rec.Body)
	return "msg_fake" + strconv.Itoa(rec.Seq) + hex.EncodeToString(sum[:6])
}

// recordingWriter remembers the status and counts the SSE events written.
type recordingWriter struct {
	http.ResponseWriter
	status int
	events int
	// complete is set once the whole response has been written, so that a client that
	// closes the connection right after the last byte does not count as cancelling.
	complete atomic.Bool
}

// markComplete records that w's response has been written in full.
func markComplete(w http.ResponseWriter) {
	if rw, ok := w.(*recordingWriter); ok {
		rw.complete.Store(true)
	}
}

func (w *recordingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// validVersion accepts the versions Anthropic documents and the dated
// versions newer SDKs send (YYYY-MM-DD from 2023-01-01 on).
func validVersion(v string) bool {
	t, err := time.Parse("2006-01-02", v)
	return err == nil && !t.Before(time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC))
}
