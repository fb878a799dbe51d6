// Package geminifake is a test double of Google's Gemini API (the Developer
// API at generativelanguage.googleapis.com). It speaks Gemini's wire format
// (generateContent, streamGenerateContent as SSE with alt=sse or as a JSON
// array without, countTokens, models, and Google's error envelope) as the
// official SDKs expect it; it checks requests the way the real API does
// where a translating gateway could get them wrong (unknown fields, ids on
// function calls, nameless function responses, bad base64, missing thought
// signatures on Gemini 3); it answers deterministically from the request;
// it can be scripted per request by x-fake-* headers or from Go; and it
// records every request it receives.
//
// The package is test code: it is imported by unit, end-to-end and fault
// tests, never by the gateway itself.
package geminifake

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/fakeprovider/fakeserver"
)

// MaxBodyBytes is the largest request body the fake reads; larger bodies
// get a 413.
const MaxBodyBytes = 64 << 20

// DefaultModels are the models of GET /v1beta/models when Options.Models is
// empty. Any model name is answered, listed or not.
var DefaultModels = []string{"gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-pro-preview"}

// Options configure a Server. The zero value is a working fake with no
// authentication.
type Options struct {
	// APIKey, when set, is the only credential accepted, in the
	// x-goog-api-key header or the key query parameter (real clients use
	// both). A request without one gets Google's 403; a wrong one its 400
	// API_KEY_INVALID.
	APIKey string

	// Script, when set, is called for every API request after
	// authentication. A non-nil result is used as the request's Behavior
	// and the x-fake-* headers are ignored; nil falls back to the headers.
	// The request body can be read again from r.Body. Script must be safe
	// for concurrent use.
	Script func(r *http.Request) *Behavior

	// Models lists the models of GET /{version}/models; DefaultModels when
	// empty.
	Models []string

	// Now is the clock of the request log; time.Now when nil.
	Now func() time.Time
}

// Server is the fake Gemini API. It is an http.Handler and safe for
// concurrent use.
type Server struct {
	opts            Options
	mux             *http.ServeMux
	fakeserver.Base // the request log (Requests, Count, Wait...) and Close
}

// New returns a fake configured by opts.
func New(opts Options) *Server {
	if len(opts.Models) == 0 {
		opts.Models = DefaultModels
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{version}/models/{action}", s.handleModelAction)
	mux.HandleFunc("GET /{version}/models", s.handleModels)
	mux.HandleFunc("GET /{version}/models/{model}", s.handleModel)
	mux.HandleFunc("/", s.handleNotFound)
	s.mux = mux
	return s
}

// Start serves a new fake on a loopback httptest server for the life of
// the test and returns it with its base URL: the API root without a
// version, as a provider's base_url would be
// (https://generativelanguage.googleapis.com).
func Start(t testing.TB, opts Options) (*Server, string) {
	t.Helper()
	s := New(opts)
	return s, fakeserver.Start(t, s)
}

// ServeHTTP records the request and answers it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.Record(w, r, MaxBodyBytes, s.opts.Now, s.serve)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, _ *Request, early error) {
	switch {
	case errors.Is(early, fakeserver.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "Request payload size exceeds the limit: 67108864 bytes.")
		return
	case errors.Is(early, fakeserver.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "fake: server closed")
		return
	case early != nil:
		writeError(w, http.StatusBadRequest, "fake: reading the request body: "+early.Error())
		return
	}
	if s.opts.APIKey != "" {
		if e := s.checkAuth(r); e != nil {
			writeAPIError(w, e)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) checkAuth(r *http.Request) *apiError {
	key := r.Header.Get("X-Goog-Api-Key")
	if key == "" {
		key = r.URL.Query().Get("key")
	}
	switch {
	case key == "":
		return &apiError{status: http.StatusForbidden,
			msg: "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."}
	case key != s.opts.APIKey:
		// Google never echoes the key; neither does the fake.
		return &apiError{status: http.StatusBadRequest, msg: "API key not valid. Please pass a valid API key.", reason: "API_KEY_INVALID"}
	}
	return nil
}

// behavior resolves the script of one request: Options.Script first, then
// the headers.
func (s *Server) behavior(r *http.Request) (*Behavior, error) {
	return fakeserver.Resolve(r, s.opts.Script, ParseHeaders)
}

// prelude applies the parts of a Behavior that come before any response
// byte: the delay, a hang, a scripted status or body. It reports whether
// the handler should go on and answer normally.
func (s *Server) prelude(w http.ResponseWriter, r *http.Request, b *Behavior) bool {
	if !s.Prelude(r.Context(), b.Delay, b.Hang == HangBeforeHeaders) {
		return false
	}
	if b.Status >= 400 || b.Body != nil {
		if b.RetryAfter != "" {
			w.Header().Set("Retry-After", b.RetryAfter)
		}
		status := b.Status
		if status == 0 {
			status = http.StatusOK
		}
		if b.Body == nil {
			writeAPIError(w, statusError(status))
			return false
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(status)
		if _, err := w.Write(b.Body); err == nil {
			fakeserver.MarkComplete(w)
		}
		return false
	}
	return true
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, fmt.Sprintf("fake: no such endpoint: %s %s", r.Method, r.URL.Path))
}

func validVersion(v string) bool { return v == "v1beta" || v == "v1" || v == "v1alpha" }

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	if !validVersion(r.PathValue("version")) {
		s.handleNotFound(w, r)
		return
	}
	type model struct {
		Name                       string   `json:"name"`
		DisplayName                string   `json:"displayName"`
		InputTokenLimit            int      `json:"inputTokenLimit"`
		OutputTokenLimit           int      `json:"outputTokenLimit"`
		SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
	}
	list := struct {
		Models []model `json:"models"`
	}{Models: []model{}}
	for _, m := range s.opts.Models {
		list.Models = append(list.Models, model{Name: "models/" + m, DisplayName: m, InputTokenLimit: 1048576, OutputTokenLimit: 65536,
			SupportedGenerationMethods: []string{"generateContent", "countTokens"}})
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("model")
	for _, m := range s.opts.Models {
		if m == id {
			writeJSON(w, http.StatusOK, map[string]any{"name": "models/" + id, "displayName": id,
				"supportedGenerationMethods": []string{"generateContent", "countTokens"}})
			return
		}
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("models/%s is not found for API version %s, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.", id, r.PathValue("version")))
}

// handleModelAction serves models/{model}:{method}.
func (s *Server) handleModelAction(w http.ResponseWriter, r *http.Request) {
	version := r.PathValue("version")
	action := r.PathValue("action")
	i := strings.LastIndexByte(action, ':')
	if !validVersion(version) || i <= 0 {
		s.handleNotFound(w, r)
		return
	}
	model, method := action[:i], action[i+1:]
	if model == "" {
		s.handleNotFound(w, r)
		return
	}
	switch method {
	case "generateContent":
		s.handleGenerate(w, r, model, false)
	case "streamGenerateContent":
		s.handleGenerate(w, r, model, true)
	case "countTokens":
		s.handleCountTokens(w, r, model)
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("fake: method %q is not served", method))
	}
}

// responseID is unique per request and stable for a given arrival order and
// body, in the style of Gemini's ids.
func responseID(r *http.Request) string {
	rec := recordOf(r)
	sum := sha256.Sum256(append([]byte(fmt.Sprintf("%d:", rec.Seq)), rec.Body...))
	return "fake" + base64.RawURLEncoding.EncodeToString(sum[:12])
}
