// Package reqlog is the request log shared by the fake providers: every
// request a fake receives is recorded (headers, body, arrival, whether the
// client went away, how it ended) so that tests can count upstream calls
// and wait for cancellations. It is test code.
package reqlog

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Request is what the fake recorded about one request it received.
type Request struct {
	// Seq is the arrival order, from 1.
	Seq    int
	Method string
	// Path is the URL path (unescaped); RawPath the path as sent, escaped;
	// RawQuery the query string without "?".
	Path     string
	RawPath  string
	RawQuery string
	Header   http.Header
	Body     []byte
	// Received is when the handler started; Finished when it returned (zero while in
	// flight).
	Received time.Time
	Finished time.Time
	// Cancelled reports that the request's context ended (the client went away) before
	// the handler finished; CancelledAt is when the fake noticed.
	Cancelled   bool
	CancelledAt time.Time
	// Status is the HTTP status the fake sent, 0 if it sent none.
	Status int
	// Events is the number of stream events written.
	Events int
}

// InFlight reports whether the handler had not returned when the record was copied.
func (r Request) InFlight() bool { return r.Finished.IsZero() }

type recKey struct{}

// WithRecord returns ctx carrying the live record of a request.
func WithRecord(ctx context.Context, rec *Request) context.Context {
	return context.WithValue(ctx, recKey{}, rec)
}

// Record returns the live record of a request that a fake is handling.
func Record(r *http.Request) *Request {
	rec, _ := r.Context().Value(recKey{}).(*Request)
	if rec == nil {
		return &Request{}
	}
	return rec
}

// Log is the goroutine-safe list of requests a fake received. The zero
// value is ready to use.
type Log struct {
	// mu guards reqs and changed.
	mu   sync.Mutex
	reqs []*Request
	// changed is closed and replaced on every change, waking waiters.
	changed chan struct{}
}

func (l *Log) notifyLocked() {
	if l.changed != nil {
		close(l.changed)
	}
	l.changed = make(chan struct{})
}

// Begin records a request as it arrives.
func (l *Log) Begin(r *http.Request, body []byte, now time.Time) *Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := &Request{
		Seq:      len(l.reqs) + 1,
		Method:   r.Method,
		Path:     r.URL.Path,
		RawPath:  rawPath(r),
		RawQuery: r.URL.RawQuery,
		Header:   r.Header.Clone(),
		Body:     body,
		Received: now,
	}
	l.reqs = append(l.reqs, rec)
	l.notifyLocked()
	return rec
}

// Cancelled marks a request whose client went away.
func (l *Log) Cancelled(rec *Request, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !rec.Finished.IsZero() || rec.Cancelled {
		return
	}
	rec.Cancelled = true
	rec.CancelledAt = now
	l.notifyLocked()
}

// Finish records how a request ended.
func (l *Log) Finish(rec *Request, status, events int, cancelled bool, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cancelled && !rec.Cancelled {
		rec.Cancelled = true
		rec.CancelledAt = now
	}
	rec.Status = status
	rec.Events = events
	rec.Finished = now
	l.notifyLocked()
}

// snapshot returns copies of the records and the channel closed at the next change.
func (l *Log) snapshot() ([]Request, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	out := make([]Request, len(l.reqs))
	for i, r := range l.reqs {
		out[i] = *r
		out[i].Header = r.Header.Clone()
	}
	return out, l.changed
}

// Requests returns a copy of every request received so far, in arrival order.
func (s *Log) Requests() []Request {
	reqs, _ := s.snapshot()
	return reqs
}

// Count returns the number of requests received so far.
func (s *Log) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// Last returns the most recent request and false when there is none.
func (s *Log) Last() (Request, bool) {
	reqs, _ := s.snapshot()
	if len(reqs) == 0 {
		return Request{}, false
	}
	return reqs[len(reqs)-1], true
}

// Reset forgets every recorded request; sequence numbers start again from 1.
func (s *Log) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = nil
	s.notifyLocked()
}

// Wait blocks until cond, called with a copy of the log after every change, returns
// true, or until timeout; it reports whether cond was met.
func (s *Log) Wait(timeout time.Duration, cond func([]Request) bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		reqs, changed := s.snapshot()
		if cond(reqs) {
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return false
		}
	}
}

// WaitCount waits until at least n requests have arrived.
func (s *Log) WaitCount(n int, timeout time.Duration) bool {
	return s.Wait(timeout, func(reqs []Request) bool { return len(reqs) >= n })
}

// WaitCancelled waits until some request has been cancelled by its client and returns
// the first such request.
func (s *Log) WaitCancelled(timeout time.Duration) (Request, bool) {
	return s.WaitRequest(timeout, func(r Request) bool { return r.Cancelled })
}

// WaitFinished waits until no request is in flight.
func (s *Log) WaitFinished(timeout time.Duration) bool {
	return s.Wait(timeout, func(reqs []Request) bool {
		for _, r := range reqs {
			if r.InFlight() {
				return false
			}
		}
		return true
	})
}

// WaitRequest waits until some request satisfies match and returns the first one.
func (s *Log) WaitRequest(timeout time.Duration, match func(Request) bool) (Request, bool) {
	var found Request
	ok := s.Wait(timeout, func(reqs []Request) bool {
		for _, r := range reqs {
			if match(r) {
				found = r
				return true
			}
		}
		return false
	})
	return found, ok
}

// rawPath is the request target's path exactly as the client sent it.
func rawPath(r *http.Request) string {
	p := r.RequestURI
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if u, err := url.Parse(p); err == nil && u.Scheme != "" { // absolute-form target
		p = u.EscapedPath()
	}
	if p == "" {
		p = r.URL.EscapedPath()
	}
	return p
}
