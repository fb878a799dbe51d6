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
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/sluicehq/sluice/internal/fakeprovider/reqlog"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	wire "github.com/sluicehq/sluice/internal/apischema/bedrock"
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
	opts       Options
	mux        *http.ServeMux
	reqlog.Log // the requests received; its methods (Requests, Count, Wait...) are the Server's

	closeOnce sync.Once
	closed    chan struct{} // closed by Close; releases hanging handlers
}

// New returns a fake configured by opts.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, closed: make(chan struct{})}
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
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		ts.CloseClientConnections()
		ts.Close()
	})
	return s, ts.URL
}

// Close releases every handler that hangs or waits, so that the HTTP
// server that serves the fake can shut down. The fake answers 503 to
// requests after Close.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

// ServeHTTP records the request, checks its signature and answers it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, readErr := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	rec := s.Log.Begin(r, body, s.opts.Now())
	rw := &recordingWriter{ResponseWriter: w}
	// The request context ends before ServeHTTP returns only when the client
	// goes away. AfterFunc marks it as soon as that happens, for waiters;
	// the deferred check covers the case where the handler noticed first.
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
	r = r.WithContext(reqlog.WithRecord(r.Context(), rec))
	setCommonHeaders(rw, rec)

	switch {
	case readErr != nil:
		writeError(rw, http.StatusBadRequest, wire.ErrValidation, "fake: reading the request body: "+readErr.Error())
		return
	case len(body) > MaxBodyBytes:
		writeError(rw, http.StatusRequestEntityTooLarge, wire.ErrValidation, "Request body too large.")
		return
	}
	select {
	case <-s.closed:
		writeError(rw, http.StatusServiceUnavailable, wire.ErrServiceUnavailable, "fake: server closed")
		return
	default:
	}
	if e := s.authenticate(r, body); e != nil {
		writeError(rw, http.StatusForbidden, e.typ, e.msg)
		return
	}
	s.mux.ServeHTTP(rw, r)
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
	if s.opts.Script != nil {
		b := s.opts.Script(r)
		r.Body = io.NopCloser(bytes.NewReader(recordOf(r).Body))
		if b != nil {
			return b, nil
		}
	}
	return ParseHeaders(r.Header)
}

// prelude applies the parts of a Behavior that come before any response
// byte: the delay, a hang before headers, a scripted error or body. It
// reports whether the handler should go on and answer normally.
func (s *Server) prelude(w http.ResponseWriter, r *http.Request, b *Behavior) bool {
	if b.Delay > 0 && !s.sleep(r.Context(), b.Delay) {
		return false
	}
	if b.Hang == HangBeforeHeaders {
		s.wait(r.Context(), nil)
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
			markComplete(w)
		}
		return false
	}
	return true
}

// sleep waits for d; it returns false when the client went away or the fake
// closed.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	return s.wait(ctx, t.C)
}

// wait blocks until c fires (true) or the request ends or the fake closes
// (false).
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
		markComplete(w)
	}
}

// recordingWriter remembers the status and counts the messages written.
type recordingWriter struct {
	http.ResponseWriter
	status int
	events int
	// complete is set once the whole response has been written, so that a
	// client that closes the connection right after the last byte does not
	// count as cancelling.
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
