// Package upstream is a lean HTTP/1.1 client transport for Sluice's calls
// to model providers.
//
// Transport writes the request and reads the response head on the
// caller's goroutine, and the caller reads the body straight from the
// connection: no goroutines per connection, no channel hand-offs per
// request. Keep-alive connections are pooled per scheme and host, at most
// MaxIdlePerHost idle each, closed after IdleTimeout unused.
//
// What it does and does not do, on purpose:
//   - HTTP/1.1 only; TLS offers ALPN "http/1.1" alone. No HTTP/2.
//   - Response bodies framed by Content-Length, chunked transfer coding
//     (extensions ignored, trailers read into Response.Trailer), or the
//     connection's close. A connection goes back to the pool only after
//     its body was read to the end (or when it had none).
//   - No automatic decompression and no redirects (the http.Client's
//     CheckRedirect decides those; Sluice's returns the 3xx as it is).
//   - 1xx informational responses are skipped (at most 5); 101 is an error.
//   - The response head is bounded: MaxHeaderBytes in all and
//     MaxHeaderCount fields, for the head and again for the trailers.
//   - Cancelling the request's context closes its connection, at any point.
//   - An idle connection is checked before reuse with one non-blocking
//     peek at its socket: one the server closed (or wrote to) while it was
//     idle is dropped, and the request goes on another. Without a reader
//     goroutine per connection, that is how a closed idle connection is
//     found before a request is written to it.
//   - A request on a reused connection that still fails before the first
//     byte of a response is sent once more on a fresh connection when its
//     body can be replayed (Request.GetBody, or no body) and either the
//     request never left whole (its write failed) or it is idempotent: a
//     GET, HEAD, OPTIONS or TRACE, or one carrying Idempotency-Key or
//     X-Idempotency-Key. As with net/http, a POST the server may have read
//     is never sent twice here: a model call costs money; Sluice's own
//     retry and failover decide what happens next.
//   - Requests it does not handle go to Fallback (net/http's Transport in
//     Sluice): schemes other than http and https, request bodies of
//     unknown length, "Expect: 100-continue", Upgrade and CONNECT, and
//     every request when Proxy names a proxy for it.
package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults for Options' zero values.
const (
	DefaultMaxIdlePerHost      = 1024
	DefaultIdleTimeout         = 90 * time.Second
	DefaultTLSHandshakeTimeout = 10 * time.Second
	DefaultMaxHeaderBytes      = 64 << 10
	DefaultMaxHeaderCount      = 256
)

// max1xx bounds the informational responses skipped before the final one.
const max1xx = 5

// Options configure a Transport.
type Options struct {
	// DialContext opens the TCP connection (TLS is layered on top). Nil
	// uses a net.Dialer with a 30 s timeout.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig is the base TLS configuration; ServerName and NextProtos
	// are set per connection. Nil uses the defaults.
	TLSConfig           *tls.Config
	TLSHandshakeTimeout time.Duration
	MaxIdlePerHost      int           // idle connections kept per scheme+host
	IdleTimeout         time.Duration // an idle connection older than this is closed
	MaxHeaderBytes      int           // bound on the response head (status line + fields)
	MaxHeaderCount      int           // bound on the response's header fields
	// Proxy, when it returns a URL for a request, sends that request
	// through Fallback.
	Proxy func(*http.Request) (*url.URL, error)
	// Fallback carries the requests this transport does not handle. Nil
	// refuses them with an error.
	Fallback http.RoundTripper
}

// Transport is an http.RoundTripper for HTTP/1.1 upstreams. It is safe for
// concurrent use; the zero value is not: use New.
type Transport struct {
	opts Options

	mu sync.Mutex // guards idle and closed
	// idle holds each host's idle connections, most recently used last.
	idle   map[string]*hostPool
	closed bool
}

type hostPool struct {
	conns []*conn
	timer *time.Timer // sweeps expired idle connections; nil when unarmed
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport for opts, with defaults for its zero fields.
func New(opts Options) *Transport {
	if opts.DialContext == nil {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		opts.DialContext = d.DialContext
	}
	if opts.TLSHandshakeTimeout <= 0 {
		opts.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if opts.MaxIdlePerHost <= 0 {
		opts.MaxIdlePerHost = DefaultMaxIdlePerHost
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if opts.MaxHeaderCount <= 0 {
		opts.MaxHeaderCount = DefaultMaxHeaderCount
	}
	return &Transport{opts: opts, idle: make(map[string]*hostPool)}
}

// Errors a caller may check with errors.Is.
var (
	// ErrHeaderTooLarge: the response head passed MaxHeaderBytes or
	// MaxHeaderCount.
	ErrHeaderTooLarge = errors.New("upstream: response header too large")
	// ErrMalformedResponse: the response is not valid HTTP/1.x.
	ErrMalformedResponse = errors.New("upstream: malformed response")
	// ErrUnsupported: the request needs the fallback and none is set.
	ErrUnsupported = errors.New("upstream: request not supported without a fallback transport")
	errBodyClosed  = errors.New("upstream: read on closed response body")
)

// handles reports whether t serves req itself rather than Fallback.
func (t *Transport) handles(req *http.Request) (bool, error) {
	if req.URL == nil || req.URL.Host == "" {
		return false, errors.New("upstream: request URL has no host")
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return false, nil
	}
	if req.Method == http.MethodConnect || req.Header.Get("Upgrade") != "" ||
		strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
		return false, nil
	}
	if req.Body != nil && req.Body != http.NoBody && req.ContentLength <= 0 {
		return false, nil // length unknown: chunked request body
	}
	if len(req.TransferEncoding) > 0 {
		return false, nil
	}
	if t.opts.Proxy != nil {
		u, err := t.opts.Proxy(req)
		if err != nil {
			return false, err
		}
		if u != nil {
			return false, nil
		}
	}
	return true, nil
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ok, err := t.handles(req)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	if !ok {
		if t.opts.Fallback == nil {
			closeBody(req)
			return nil, ErrUnsupported
		}
		return t.opts.Fallback.RoundTrip(req)
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		closeBody(req)
		return nil, err
	}
	key := req.URL.Scheme + "://" + req.URL.Host
	for try := 0; ; try++ {
		c, err := t.getConn(ctx, req, key, try > 0)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, err := t.roundTrip(ctx, c, req)
		if err == nil {
			return resp, nil
		}
		if try == 0 && c.reused && errors.Is(err, errStaleConn) && ctx.Err() == nil &&
			(errors.Is(err, errNotSent) || idempotent(req)) {
			if body, ok := rewind(req); ok {
				r2 := *req
				r2.Body = body
				req = &r2
				continue
			}
		}
		closeBody(req)
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// rewind returns a fresh copy of req's body, and whether there is one.
func rewind(req *http.Request) (io.ReadCloser, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, true
	}
	if req.GetBody == nil {
		return nil, false
	}
	b, err := req.GetBody()
	if err != nil {
		return nil, false
	}
	return b, true
}

// errStaleConn marks a failure on a connection before any response byte:
// the request may be sent again if it is idempotent or errNotSent.
var errStaleConn = errors.New("upstream: connection closed before the response")

// errNotSent marks a stale connection whose request failed to be written
// whole, so the server cannot have acted on it.
var errNotSent = errors.New("upstream: the request was not sent whole")

// idempotent reports whether req may be sent twice (RFC 9110 section
// 9.2.2, and the idempotency-key headers that net/http honours too).
func idempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

// CloseIdleConnections closes every idle connection (http.Client calls it).
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	var all []*conn
	for k, p := range t.idle {
		all = append(all, p.conns...)
		if p.timer != nil {
			p.timer.Stop()
		}
		delete(t.idle, k)
	}
	t.mu.Unlock()
	for _, c := range all {
		c.nc.Close()
	}
	if ci, ok := t.opts.Fallback.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// IdleConns returns the number of idle connections for key, a scheme and
// host such as "http://127.0.0.1:8000"; for tests and metrics.
func (t *Transport) IdleConns(key string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.idle[key]; p != nil {
		return len(p.conns)
	}
	return 0
}

// conn is one connection to an upstream. It is used by one request at a
// time: taken from the pool (or dialed), then put back or closed.
type conn struct {
	t      *Transport
	key    string
	nc     net.Conn
	br     *bufio.Reader
	tls    *tls.ConnectionState
	reused bool      // served a request before
	idleAt time.Time // when it was put in the pool
}

// getConn returns an idle connection to key, or a new one. fresh skips the
// pool.
func (t *Transport) getConn(ctx context.Context, req *http.Request, key string, fresh bool) (*conn, error) {
	if !fresh {
		if c := t.takeIdle(key); c != nil {
			return c, nil
		}
	}
	return t.dial(ctx, req, key)
}

// takeIdle returns the newest idle connection to key that is still open,
// closing those the server closed (or wrote to) while they were idle; the
// check is a system call, made outside the pool's lock.
func (t *Transport) takeIdle(key string) *conn {
	for {
		c := t.popIdle(key)
		if c == nil || (c.br.Buffered() == 0 && idleAlive(c.nc)) {
			return c
		}
		c.nc.Close()
	}
}

// popIdle takes the newest idle connection to key off the pool, closing
// the expired ones.
func (t *Transport) popIdle(key string) *conn {
	now := time.Now()
	var expired []*conn
	defer func() {
		for _, c := range expired {
			c.nc.Close()
		}
	}()
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.idle[key]
	if p == nil {
		return nil
	}
	if n := len(p.conns); n > 0 {
		c := p.conns[n-1]
		p.conns[n-1] = nil
		p.conns = p.conns[:n-1]
		if now.Sub(c.idleAt) < t.opts.IdleTimeout {
			c.reused = true
			return c
		}
		// Expired, and the rest are older still.
		expired = append(append(expired, c), p.conns...)
		clear(p.conns)
		p.conns = p.conns[:0]
	}
	return nil
}

// putIdle returns c to the pool, or closes it when the pool is full or the
// transport closed its idle connections since.
func (t *Transport) putIdle(c *conn) {
	c.idleAt = time.Now()
	t.mu.Lock()
	p := t.idle[c.key]
	if p == nil {
		p = &hostPool{}
		t.idle[c.key] = p
	}
	if len(p.conns) >= t.opts.MaxIdlePerHost {
		t.mu.Unlock()
		c.nc.Close()
		return
	}
	p.conns = append(p.conns, c)
	if p.timer == nil {
		key := c.key
		p.timer = time.AfterFunc(t.opts.IdleTimeout, func() { t.sweep(key) })
	}
	t.mu.Unlock()
}

// sweep closes key's expired idle connections and re-arms its timer while
// any remain.
func (t *Transport) sweep(key string) {
	now := time.Now()
	var expired []*conn
	t.mu.Lock()
	p := t.idle[key]
	if p == nil {
		t.mu.Unlock()
		return
	}
	i := 0
	for i < len(p.conns) && now.Sub(p.conns[i].idleAt) >= t.opts.IdleTimeout {
		i++
	}
	expired = append(expired, p.conns[:i]...)
	n := copy(p.conns, p.conns[i:])
	clear(p.conns[n:])
	p.conns = p.conns[:n]
	if n == 0 {
		p.timer = nil
		delete(t.idle, key)
	} else {
		p.timer.Reset(t.opts.IdleTimeout - now.Sub(p.conns[0].idleAt))
	}
	t.mu.Unlock()
	for _, c := range expired {
		c.nc.Close()
	}
}

// dial opens a connection for key: TCP, then TLS for https.
func (t *Transport) dial(ctx context.Context, req *http.Request, key string) (*conn, error) {
	host, port := req.URL.Hostname(), req.URL.Port()
	if port == "" {
		port = "80"
		if req.URL.Scheme == "https" {
			port = "443"
		}
	}
	nc, err := t.opts.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, err
	}
	c := &conn{t: t, key: key, nc: nc}
	if req.URL.Scheme == "https" {
		var cfg *tls.Config
		if t.opts.TLSConfig != nil {
			cfg = t.opts.TLSConfig.Clone()
		} else {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(nc, cfg)
		hctx, cancel := context.WithTimeout(ctx, t.opts.TLSHandshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("upstream: TLS handshake with %s: %w", host, err)
		}
		st := tc.ConnectionState()
		c.tls = &st
		c.nc = tc
	}
	c.br = bufio.NewReaderSize(c.nc, 4<<10)
	return c, nil
}

// writers buffer request heads and bodies: a connection holds none while
// it waits for its response, so that open streams cost less memory, and a
// request of up to 32 KB leaves in one write (net/http's 4 KB buffer takes
// two for a 4 KB body).
var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 32<<10) }}

// roundTrip sends req on c and reads the response head. On error c is
// closed; errors before any response byte on a reused connection wrap
// errStaleConn.
func (t *Transport) roundTrip(ctx context.Context, c *conn, req *http.Request) (*http.Response, error) {
	stop := context.AfterFunc(ctx, func() { c.nc.Close() })
	bw := writers.Get().(*bufio.Writer)
	bw.Reset(c.nc)
	werr := writeRequest(bw, req)
	if werr == nil {
		werr = bw.Flush()
	}
	bw.Reset(nil)
	writers.Put(bw)
	if werr != nil {
		var ve *invalidRequestError
		if errors.As(werr, &ve) {
			stop()
			c.nc.Close()
			return nil, werr
		}
		// The server may have answered early (a 413, say) and closed:
		// try to read that answer below; report the write error if none.
	}
	resp, rerr := readResponse(c, req, &t.opts)
	if rerr != nil {
		stop()
		c.nc.Close()
		stale := c.reused && errors.Is(rerr, errNoResponseByte)
		if werr != nil {
			rerr = werr
		}
		if stale && werr != nil {
			return nil, fmt.Errorf("%w: %w: %w", errStaleConn, errNotSent, rerr)
		}
		if stale {
			return nil, fmt.Errorf("%w: %w", errStaleConn, rerr)
		}
		return nil, rerr
	}
	keep := werr == nil && !resp.Close && !wantsClose(req)
	b := resp.Body.(*body)
	b.c, b.stop, b.keep, b.ctx = c, stop, keep, ctx
	if b.done() {
		// No body to read: the connection is free now.
		resp.Body = http.NoBody
		b.release()
	}
	return resp, nil
}
