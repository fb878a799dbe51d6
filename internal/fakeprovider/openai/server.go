// Package openaifake is a test double of an OpenAI-compatible upstream. It speaks the
// OpenAI wire format (chat completions, streaming chunks, tool calls, embeddings, models
// and error objects) as the official SDKs expect it, answers deterministically from the
// request so that tests can assert on content and usage, can be scripted per request by
// x-fake-* headers or from Go, and records every request it receives.
//
// The package is test code: it is imported by unit, end-to-end and fault tests, never by
// the gateway itself.
package openaifake

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/fakeprovider/fakeserver"
)

// MaxBodyBytes is the largest request body the fake reads; larger bodies get a 413.
const MaxBodyBytes = 64 << 20

// DefaultModels are the model IDs listed by GET /v1/models when Options.Models is empty.
var DefaultModels = []string{"fake-model-1", "fake-model-2", "fake-embed-1"}

// Options configure a Server. The zero value is a working fake with no authentication.
type Options struct {
	// APIKey, when set, is the only credential accepted: requests without
	// "Authorization: Bearer <APIKey>" get a 401 in OpenAI's error shape.
	APIKey string

	// Script, when set, is called for every request to an API endpoint after
	// authentication. A non-nil result is used as the request's Behavior and the
	// x-fake-* headers are ignored; nil falls back to the headers. The request body can
	// be read again from r.Body. Script must be safe for concurrent use.
	Script func(r *http.Request) *Behavior

	// Models lists the model IDs of GET /v1/models; DefaultModels when empty.
	Models []string

	// Now is the clock for "created" fields and the request log; time.Now when nil.
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
	mux.HandleFunc("POST /v1/chat/completions", s.handleChat)
	mux.HandleFunc("POST /v1/embeddings", s.handleEmbeddings)
	mux.HandleFunc("POST /v1/responses", s.handleResponses)
	mux.HandleFunc("GET /v1/models", s.handleModels)
	mux.HandleFunc("GET /v1/models/{id}", s.handleModel)
	mux.HandleFunc("/", s.handleNotFound)
	s.mux = mux
	return s
}

// Start serves a new fake on a loopback httptest server for the life of the test and
// returns it with its base URL, which ends in "/v1" as OpenAI clients expect.
func Start(t testing.TB, opts Options) (*Server, string) {
	t.Helper()
	s := New(opts)
	return s, fakeserver.Start(t, s) + "/v1"
}

// ServeHTTP records the request and answers it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.Record(w, r, MaxBodyBytes, s.opts.Now, s.serve)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, _ *Request, early error) {
	switch {
	case errors.Is(early, fakeserver.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "Request body too large.", "invalid_request_error", "", "")
		return
	case errors.Is(early, fakeserver.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "fake: server closed", "server_error", "", "")
		return
	case early != nil:
		writeError(w, http.StatusBadRequest, "fake: reading the request body: "+early.Error(), "invalid_request_error", "", "")
		return
	}
	if s.opts.APIKey != "" {
		if err := s.checkAuth(r); err != nil {
			writeAPIError(w, err)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) checkAuth(r *http.Request) *apiError {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return &apiError{status: http.StatusUnauthorized, typ: "invalid_request_error",
			msg: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."}
	}
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || token != s.opts.APIKey {
		// OpenAI echoes a redacted key; the fake never echoes any part of it.
		return &apiError{status: http.StatusUnauthorized, typ: "invalid_request_error", code: "invalid_api_key",
			msg: "Incorrect API key provided."}
	}
	return nil
}

// behavior resolves the script of one request: Options.Script first, then headers.
func (s *Server) behavior(r *http.Request) (*Behavior, error) {
	return fakeserver.Resolve(r, s.opts.Script, ParseHeaders)
}

// prelude applies the parts of a Behavior that come before any response byte: the
// delay, a hang, and a scripted error status. It reports whether the handler should go
// on and answer normally.
func (s *Server) prelude(w http.ResponseWriter, r *http.Request, b *Behavior) bool {
	if !s.Prelude(r.Context(), b.Delay, b.Hang == HangBeforeHeaders) {
		return false
	}
	if b.Status >= 400 {
		if b.RetryAfter != "" {
			w.Header().Set("Retry-After", b.RetryAfter)
		}
		if b.Body != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(b.Status)
			if _, err := w.Write(b.Body); err == nil {
				fakeserver.MarkComplete(w)
			}
			return false
		}
		writeAPIError(w, statusError(b.Status))
		return false
	}
	if b.Body != nil {
		w.Header().Set("Content-Type", "application/json")
		if b.Status != 0 {
			w.WriteHeader(b.Status)
		}
		if _, err := w.Write(b.Body); err == nil {
			fakeserver.MarkComplete(w)
		}
		return false
	}
	return true
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path), "invalid_request_error", "", "")
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	b, err := s.behavior(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), "invalid_request_error", "", "")
		return
	}
	if !s.prelude(w, r, b) {
		return
	}
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, id := range s.opts.Models {
		list.Data = append(list.Data, model{ID: id, Object: "model", Created: 1700000000, OwnedBy: "sluice-fake"})
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, m := range s.opts.Models {
		if m == id {
			writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "model", "created": 1700000000, "owned_by": "sluice-fake"})
			return
		}
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("The model '%s' does not exist", id), "invalid_request_error", "model", "model_not_found")
}

// setCommonHeaders sets the headers OpenAI puts on every API response.
func setCommonHeaders(w http.ResponseWriter, r *http.Request, model string) {
	rec := recordOf(r)
	h := w.Header()
	h.Set("X-Request-Id", fmt.Sprintf("req_fake_%d", rec.Seq))
	h.Set("Openai-Processing-Ms", "1")
	h.Set("Openai-Version", "2020-10-01")
	if model != "" {
		h.Set("Openai-Model", model)
	}
	h.Set("X-Ratelimit-Limit-Requests", "10000")
	h.Set("X-Ratelimit-Remaining-Requests", "9999")
}

// responseID returns an ID unique per request and stable for a given arrival order and body.
func responseID(prefix string, r *http.Request) string {
	rec := recordOf(r)
	sum := sha256.Sum256(rec.Body)
	return prefix + strconv.Itoa(rec.Seq) + hex.EncodeToString(sum[:6])
}
