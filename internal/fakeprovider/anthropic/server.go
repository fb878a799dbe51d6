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
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/fakeprovider/fakeserver"
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
	opts            Options
	mux             *http.ServeMux
	fakeserver.Base // the request log (Requests, Count, Wait...) and Close
}

// New returns a fake upstream configured by opts.
func New(opts Options) *Server {
	if len(opts.Models) == 0 {
		opts.Models = DefaultModels
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts}
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
	return s, fakeserver.Start(t, s)
}

// ServeHTTP records the request and answers it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.Record(w, r, MaxBodyBytes, s.opts.Now, s.serve)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, rec *Request, early error) {
	w.Header().Set("Request-Id", fmt.Sprintf("req_fake_%d", rec.Seq))

	switch {
	case errors.Is(early, fakeserver.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, errRequestTooLarge, "Request exceeds the maximum allowed number of bytes.")
		return
	case errors.Is(early, fakeserver.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, errOverloaded, "fake: server closed")
		return
	case early != nil:
		writeError(w, http.StatusBadRequest, errInvalidRequest, "fake: reading the request body: "+early.Error())
		return
	}
	if s.opts.APIKey != "" {
		switch key := r.Header.Get("X-Api-Key"); {
		case key == "":
			writeError(w, http.StatusUnauthorized, errAuthentication, "x-api-key header is required")
			return
		case key != s.opts.APIKey:
			writeError(w, http.StatusUnauthorized, errAuthentication, "invalid x-api-key")
			return
		}
	}
	if r.Header.Get("Anthropic-Version") == "" {
		writeError(w, http.StatusBadRequest, errInvalidRequest, "anthropic-version: header is required")
		return
	}
	if v := r.Header.Get("Anthropic-Version"); !validVersion(v) {
		writeError(w, http.StatusBadRequest, errInvalidRequest, fmt.Sprintf("anthropic-version: %q is not a valid version", v))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// behavior resolves the script of one request: Options.Script first, then headers.
func (s *Server) behavior(r *http.Request) (*Behavior, error) {
	return fakeserver.Resolve(r, s.opts.Script, ParseHeaders)
}

// prelude applies the parts of a Behavior that come before any response byte: the
// delay, a hang, a scripted error status and a scripted body. It reports whether the
// handler should go on and answer normally.
func (s *Server) prelude(w http.ResponseWriter, r *http.Request, b *Behavior) bool {
	if !s.Prelude(r.Context(), b.Delay, b.Hang == HangBeforeHeaders) {
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
			fakeserver.MarkComplete(w)
		}
		return false
	}
	if b.Status >= 400 {
		writeError(w, b.Status, statusErrorType(b.Status), scriptedMessage(b.Status))
		return false
	}
	return true
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

// validVersion accepts the versions Anthropic documents and the dated
// versions newer SDKs send (YYYY-MM-DD from 2023-01-01 on).
func validVersion(v string) bool {
	t, err := time.Parse("2006-01-02", v)
	return err == nil && !t.Before(time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC))
}
