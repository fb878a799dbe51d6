// Package fakeserver is the skeleton shared by the fake providers: the request
// log and close channel every fake embeds (Base), the recording of each request
// around a provider's handler, the delay and hang helpers that honour Close, the
// httptest start-up, and the parsing of the x-fake-* headers whose meaning is the
// same in every fake. Wire formats stay in the provider packages. It is test code.
package fakeserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/fakeprovider/reqlog"
)

// ErrTooLarge is the early failure of a request whose body is over the limit.
var ErrTooLarge = errors.New("fake: request body too large")

// ErrClosed is the early failure of a request that arrives after Close.
var ErrClosed = errors.New("fake: server closed")

// Base is embedded by every fake server: the request log (its methods,
// Requests, Count, Wait..., are the server's) and the channel that Close
// closes to release hanging handlers. The zero value is ready to use.
type Base struct {
	reqlog.Log // the requests received

	initOnce  sync.Once
	closeOnce sync.Once
	closed    chan struct{} // closed by Close; made by done
}

func (b *Base) done() chan struct{} {
	b.initOnce.Do(func() { b.closed = make(chan struct{}) })
	return b.closed
}

// Close releases every handler that hangs or waits, so that the HTTP server that
// serves the fake can shut down. The fake answers 503 to requests after Close.
func (b *Base) Close() {
	c := b.done()
	b.closeOnce.Do(func() { close(c) })
}

// Sleep waits for d; it returns false when the client went away or the fake closed.
func (b *Base) Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	return b.wait(ctx, t.C)
}

// Hang blocks until the request ends or the fake closes.
func (b *Base) Hang(ctx context.Context) { b.wait(ctx, nil) }

// wait blocks until c fires (true) or the request ends or the fake closes (false).
func (b *Base) wait(ctx context.Context, c <-chan time.Time) bool {
	select {
	case <-c:
		return true
	case <-ctx.Done():
		return false
	case <-b.done():
		return false
	}
}

// Prelude applies the parts of a script that every fake handles alike before any
// response byte: the delay, then a hang before headers. It reports whether the
// handler should go on.
func (b *Base) Prelude(ctx context.Context, delay time.Duration, hangBeforeHeaders bool) bool {
	if delay > 0 && !b.Sleep(ctx, delay) {
		return false
	}
	if hangBeforeHeaders {
		b.Hang(ctx)
		return false
	}
	return true
}

// Record reads r's body (at most maxBody+1 bytes), records the request in the log
// and calls handle with a writer that records the status and completion, and with r
// carrying the record (reqlog.Record) and a body that can be read again. early is
// the read error, ErrTooLarge, ErrClosed, or nil, checked in that order; handle
// answers it in its wire format. The record is finished when handle returns.
func (b *Base) Record(w http.ResponseWriter, r *http.Request, maxBody int64, now func() time.Time,
	handle func(w http.ResponseWriter, r *http.Request, rec *reqlog.Request, early error)) {
	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	rec := b.Log.Begin(r, body, now())
	rw := &recordingWriter{ResponseWriter: w}
	// The request context ends before the handler returns only when the client goes
	// away. AfterFunc marks it as soon as that happens, for waiters; the deferred
	// check covers the case where the handler noticed first and returned.
	stop := context.AfterFunc(r.Context(), func() {
		if !rw.complete.Load() {
			b.Log.Cancelled(rec, now())
		}
	})
	defer func() {
		stop()
		cancelled := r.Context().Err() != nil && !rw.complete.Load()
		b.Log.Finish(rec, rw.status, rw.events, cancelled, now())
	}()
	r.Body = io.NopCloser(bytes.NewReader(body))
	r = r.WithContext(reqlog.WithRecord(r.Context(), rec))

	var early error
	switch {
	case readErr != nil:
		early = readErr
	case int64(len(body)) > maxBody:
		early = ErrTooLarge
	default:
		select {
		case <-b.done():
			early = ErrClosed
		default:
		}
	}
	handle(rw, r, rec, early)
}

// Resolve returns the script of one request: script's answer first (when script is
// set and answers non-nil), then parse of the x-fake-* headers. The body is made
// readable again after script.
func Resolve[B any](r *http.Request, script func(*http.Request) *B, parse func(http.Header) (*B, error)) (*B, error) {
	if script != nil {
		b := script(r)
		r.Body = io.NopCloser(bytes.NewReader(reqlog.Record(r).Body))
		if b != nil {
			return b, nil
		}
	}
	return parse(r.Header)
}

// Start serves h on a loopback httptest server for the life of the test and
// returns its URL. The cleanup closes h first, to release hanging handlers.
func Start(t testing.TB, h interface {
	http.Handler
	Close()
}) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close()
		ts.CloseClientConnections()
		ts.Close()
	})
	return ts.URL
}

// recordingWriter remembers the status and counts the stream events written.
type recordingWriter struct {
	http.ResponseWriter
	status int
	events int
	// complete is set once the whole response has been written, so that a client that
	// closes the connection right after the last byte does not count as cancelling.
	complete atomic.Bool
}

// MarkComplete records that w's response has been written in full.
func MarkComplete(w http.ResponseWriter) {
	if rw, ok := w.(*recordingWriter); ok {
		rw.complete.Store(true)
	}
}

// SetEvents records that n stream events have been written on w.
func SetEvents(w http.ResponseWriter, n int) {
	if rw, ok := w.(*recordingWriter); ok {
		rw.events = n
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
