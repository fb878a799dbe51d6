// Package bedrockfake is a test double of the AWS Bedrock Runtime Converse
// API. It serves POST /model/{modelId}/converse and
// /model/{modelId}/converse-stream in Bedrock's wire format (JSON answers;
// application/vnd.amazon.eventstream binary frames with CRCs for streams;
// errors typed by x-amzn-ErrorType), verifies AWS Signature Version 4 on
// every request (or a Bedrock API key), answers deterministically from the
// request (tool use when tools are offered, reasoning with a signature when
// thinking is asked for, usage with cache fields), can be scripted per
// request by x-fake-* headers or from Go, and records every request.
//
// The package is test code: it is imported by unit, end-to-end and fault
// tests, never by the gateway itself.
package bedrockfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	wire "github.com/sluicehq/sluice/internal/apischema/bedrock"
	"github.com/sluicehq/sluice/internal/fakeprovider/fakeserver"
)

// MaxBodyBytes is the largest request body the fake reads; larger bodies
// get a 413.
const MaxBodyBytes = 64 << 20

// Test credentials, the AWS documentation's example ones.
const (
	TestAccessKeyID     = "AKIDEXAMPLE"
	TestSecretAccessKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	TestRegion          = "us-east-1"
)

// Options configure a Server.
type Options struct {
	// AccessKeyID, SecretAccessKey and Region are the only credentials the
	// fake accepts: every request must carry a valid SigV4 signature for
	// them (service "bedrock"), or it gets a 403 as AWS sends it
	// (InvalidSignatureException, UnrecognizedClientException, ...). When
	// AccessKeyID is empty, SigV4 is not checked.
	AccessKeyID     string
	SecretAccessKey string
	Region          string
	// SessionToken, when set, must come as X-Amz-Security-Token.
	SessionToken string
	// APIKey, when set, is also accepted as "Authorization: Bearer <APIKey>"
	// (a Bedrock API key).
	APIKey string

	// Script, when set, is called for every API request after
	// authentication. A non-nil result is used as the request's Behavior and
	// the x-fake-* headers are ignored; nil falls back to the headers. The
	// request body can be read again from r.Body. Script must be safe for
	// concurrent use.
	Script func(r *http.Request) *Behavior

	// Now is the clock for signature expiry and the request log; time.Now
	// when nil.
	Now func() time.Time
}

// Server is the fake upstream. It is an http.Handler and safe for
// concurrent use.
type Server struct {
	opts            Options
	mux             *http.ServeMux
	fakeserver.Base // the request log (Requests, Count, Wait...) and Close
}

// New returns a fake configured by opts.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /model/{id}/converse", func(w http.ResponseWriter, r *http.Request) { s.handleConverse(w, r, false) })
	mux.HandleFunc("POST /model/{id}/converse-stream", func(w http.ResponseWriter, r *http.Request) { s.handleConverse(w, r, true) })
	mux.HandleFunc("/", s.handleNotFound)
	s.mux = mux
	return s
}

// Start serves a new fake on a loopback httptest server for the life of the
// test and returns it with its base URL (the adapter's base_url).
func Start(t testing.TB, opts Options) (*Server, string) {
	t.Helper()
	s := New(opts)
	return s, fakeserver.Start(t, s)
}

// ServeHTTP records the request, checks its signature and answers it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.Record(w, r, MaxBodyBytes, s.opts.Now, s.serve)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, rec *Request, early error) {
	setCommonHeaders(w, rec)

	switch {
	case errors.Is(early, fakeserver.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, wire.ErrValidation, "Request body too large.")
		return
	case errors.Is(early, fakeserver.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, wire.ErrServiceUnavailable, "fake: server closed")
		return
	case early != nil:
		writeError(w, http.StatusBadRequest, wire.ErrValidation, "fake: reading the request body: "+early.Error())
		return
	}
	if e := s.authenticate(r, rec.Body); e != nil {
		writeError(w, http.StatusForbidden, e.typ, e.msg)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authenticate(r *http.Request, body []byte) *sigError {
	if s.opts.APIKey != "" && r.Header.Get("Authorization") == "Bearer "+s.opts.APIKey {
		return nil
	}
	if s.opts.AccessKeyID == "" {
		if s.opts.APIKey != "" {
			return &sigError{wire.ErrUnrecognizedClient, "Invalid API Key format: Must start with pre-defined prefix"}
		}
		return nil
	}
	return s.verifySigV4(r, body)
}

// behavior resolves the script of one request: Options.Script first, then
// headers.
func (s *Server) behavior(r *http.Request) (*Behavior, error) {
	return fakeserver.Resolve(r, s.opts.Script, ParseHeaders)
}

// prelude applies the parts of a Behavior that come before any response
// byte: the delay, a hang before headers, a scripted error or body. It
// reports whether the handler should go on and answer normally.
func (s *Server) prelude(w http.ResponseWriter, r *http.Request, b *Behavior) bool {
	if !s.Prelude(r.Context(), b.Delay, b.Hang == HangBeforeHeaders) {
		return false
	}
	if b.Status >= 400 && b.Body == nil {
		typ := b.ErrorType
		if typ == "" {
			typ = errorTypeForStatus(b.Status)
		}
		writeError(w, b.Status, typ, "fake: scripted "+typ)
		return false
	}
	if b.Body != nil {
		w.Header().Set("Content-Type", "application/json")
		if b.Status >= 400 {
			typ := b.ErrorType
			if typ == "" {
				typ = errorTypeForStatus(b.Status)
			}
			w.Header().Set(wire.HeaderErrorType, typ)
		}
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
	// AWS answers unknown routes with an UnknownOperationException.
	writeError(w, http.StatusNotFound, "UnknownOperationException", fmt.Sprintf("fake: no operation for %s %s", r.Method, r.URL.Path))
}

// setCommonHeaders sets the headers Bedrock puts on every answer.
func setCommonHeaders(w http.ResponseWriter, rec *Request) {
	w.Header().Set(wire.HeaderRequestID, RequestID(rec.Seq))
}

// RequestID is the x-amzn-RequestId of the request with this arrival
// number.
func RequestID(seq int) string {
	return fmt.Sprintf("00000000-fake-4000-8000-%012d", seq)
}

// errorTypeForStatus is the Bedrock error type a scripted status comes with.
func errorTypeForStatus(status int) string {
	switch status {
	case http.StatusForbidden:
		return wire.ErrAccessDenied
	case http.StatusNotFound:
		return wire.ErrResourceNotFound
	case http.StatusRequestTimeout:
		return wire.ErrModelTimeout
	case http.StatusFailedDependency:
		return wire.ErrModelError
	case http.StatusTooManyRequests:
		return wire.ErrThrottling
	case http.StatusServiceUnavailable:
		return wire.ErrServiceUnavailable
	}
	if status >= 500 {
		return wire.ErrInternalServer
	}
	return wire.ErrValidation
}

// writeError writes a Bedrock error: the type in x-amzn-ErrorType, the body
// {"message": ...}.
func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set(wire.HeaderErrorType, typ)
	writeJSON(w, status, wire.ErrorBody{Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if _, err := w.Write(b); err == nil {
		fakeserver.MarkComplete(w)
	}
}
