package h1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Connection states, for Shutdown.
const (
	stateActive int32 = iota
	stateIdle
	stateClosed
)

// Watcher states: whether a goroutine is reading the socket to notice the
// client closing while the handler runs.
const (
	watchOff     = iota // no handler running, or it returned
	watchArmed          // handler running, timer set
	watchWaitEOF        // timer fired before the body was read to its end
	watchReading        // a goroutine is reading the socket
)

// watchDelay is how long a handler runs before a goroutine starts watching
// for the client closing the connection. Most requests finish sooner and
// never pay for it; a client that leaves is noticed within this delay.
// (A variable so that the benchmark can measure a watcher per request.)
var watchDelay = 5 * time.Millisecond

// slack is added to the idle deadline so that it needs setting again only
// once it is that much older, not on every request.
const slack = time.Second

var aLongTimeAgo = time.Unix(1, 0)

type conn struct {
	srv *Server
	rwc net.Conn
	cr  connReader
	b   *bufs
	// body holds a response body until it is known whole or flushed; it
	// comes from bodyPool only while a response is being buffered, so that
	// idle and streaming connections do not hold it.
	body  []byte
	bodyp *[]byte
	state atomic.Int32
	ctx   context.Context // carries ServerContextKey and LocalAddrContextKey

	// rdDeadline is the read deadline last set on rwc (zero: none);
	// rdDirty says it is unknown (a handler set one).
	rdDeadline time.Time
	rdDirty    bool
	wrDirty    bool
	served     int
	linger     bool // close gracefully: the client may still be sending a body
	lastPOST   bool

	// The client-close watcher, guarded by mu.
	mu        sync.Mutex
	watch     int
	bodyEOF   bool
	extra     bool // a watcher goroutine was started from the body's EOF
	eager     bool // the watcher started with the handler (watchDelay 0)
	cancel    context.CancelFunc
	timer     *time.Timer
	watchDone chan struct{}
	watchByte [1]byte
}

func newConn(s *Server, rwc net.Conn) *conn {
	c := &conn{srv: s, rwc: rwc}
	c.state.Store(stateIdle)
	c.cr.c = c
	return c
}

// connReader is what the bufio.Reader reads: a byte the watcher read
// first, then the socket. While a request body is read it drops the
// head's read deadline, as net/http does without a ReadTimeout.
type connReader struct {
	c       *conn
	pending []byte
	inBody  bool
}

func (r *connReader) Read(p []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	c := r.c
	if r.inBody && !c.rdDirty && !c.rdDeadline.IsZero() {
		c.setReadDeadline(time.Time{})
	}
	return c.rwc.Read(p)
}

func (c *conn) setReadDeadline(t time.Time) {
	_ = c.rwc.SetReadDeadline(t)
	c.rdDeadline = t
	c.rdDirty = false
}

func (c *conn) serve() {
	handedOff := false
	defer func() {
		if !handedOff {
			if c.linger {
				c.lingerClose()
			}
			_ = c.rwc.Close()
		}
		if c.timer != nil {
			c.timer.Stop()
		}
		if c.b != nil {
			c.b.br.Reset(nil)
			c.b.bw.Reset(nil)
			bufPool.Put(c.b)
			c.b = nil
		}
		c.releaseBody()
		c.srv.forget(c)
	}()
	c.b = bufPool.Get().(*bufs)
	c.b.br.Reset(&c.cr)
	c.b.bw.Reset(c.rwc)
	c.ctx = context.WithValue(context.WithValue(context.Background(),
		http.ServerContextKey, c.srv.Fallback), http.LocalAddrContextKey, c.rwc.LocalAddr())
	remote := c.rwc.RemoteAddr().String()

	for {
		h, ok, err := c.readHead()
		if err != nil {
			return
		}
		if !ok {
			handedOff = c.handOff()
			return
		}
		c.served++
		c.lastPOST = h.method == "POST"
		if !c.serveRequest(&h, remote) {
			return
		}
		if c.srv.shutdown.Load() {
			return
		}
	}
}

// readHead waits for the next request head (within IdleTimeout, then
// ReadHeaderTimeout once it has started) and parses it. ok false: hand
// the connection off at this boundary. err: close the connection.
func (c *conn) readHead() (h head, ok bool, err error) {
	br := c.b.br
	c.cr.inBody = false
	// Between requests net/http waits for 4 bytes and closes silently
	// without them; the lean server does the same so that the two agree.
	need := 1
	if c.served > 0 {
		need = 4
	}
	if br.Buffered()+len(c.cr.pending) < need {
		c.state.Store(stateIdle)
		if c.srv.shutdown.Load() {
			return h, false, net.ErrClosed
		}
		now := time.Now()
		if d := c.idleTimeout(); d > 0 {
			if c.rdDirty || c.rdDeadline.IsZero() || c.rdDeadline.Before(now.Add(d)) {
				c.setReadDeadline(now.Add(d + slack))
			}
		} else if c.rdDirty || !c.rdDeadline.IsZero() {
			c.setReadDeadline(time.Time{})
		}
		if _, err := br.Peek(need); err != nil {
			return h, false, err
		}
		if !c.state.CompareAndSwap(stateIdle, stateActive) {
			return h, false, net.ErrClosed
		}
	} else {
		c.state.Store(stateActive)
	}
	if c.lastPOST {
		// RFC 9112 section 2.2 tolerance for a CRLF after a POST body, as
		// net/http has it.
		b, _ := br.Peek(4)
		n := 0
		for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
			n++
		}
		_, _ = br.Discard(n)
	}
	scanned := 0
	headerDeadline := false
	for {
		buf, _ := br.Peek(br.Buffered())
		end, n := headEnd(buf, scanned)
		scanned = n
		if end < 0 {
			return h, false, nil
		}
		if end > 0 {
			h, ok = parseHead(string(buf[:end]))
			if !ok {
				return h, false, nil
			}
			_, _ = br.Discard(end)
			return h, true, nil
		}
		if len(buf) >= bufSize || (c.srv.MaxHeaderBytes > 0 && len(buf) >= c.srv.MaxHeaderBytes) {
			return h, false, nil // net/http decides: 431 or a larger head
		}
		if !headerDeadline {
			headerDeadline = true
			if d := c.srv.ReadHeaderTimeout; d > 0 {
				c.setReadDeadline(time.Now().Add(d))
			} else if c.rdDirty || !c.rdDeadline.IsZero() {
				// No header timeout: drop what the watcher or the idle
				// wait left.
				c.setReadDeadline(time.Time{})
			}
		}
		if _, err := br.Peek(len(buf) + 1); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return h, false, err // net/http does not answer a timed-out head either
			}
			if err == io.EOF {
				return h, false, nil // net/http answers a truncated head as it sees fit
			}
			return h, false, err
		}
	}
}

func (c *conn) idleTimeout() time.Duration {
	if c.srv.IdleTimeout > 0 {
		return c.srv.IdleTimeout
	}
	return c.srv.ReadHeaderTimeout
}

// handOff gives the connection, with what is buffered, to the fallback.
func (c *conn) handOff() bool {
	br := c.b.br
	var replay []byte
	if n := br.Buffered(); n > 0 || len(c.cr.pending) > 0 {
		replay = make([]byte, 0, n+len(c.cr.pending))
		b, _ := br.Peek(n)
		replay = append(append(replay, b...), c.cr.pending...)
	}
	if !c.rdDeadline.IsZero() || c.rdDirty {
		c.setReadDeadline(time.Time{})
	}
	c.srv.mu.Lock()
	l := c.srv.handoff
	c.srv.mu.Unlock()
	if c.srv.shutdown.Load() && len(replay) == 0 {
		return false
	}
	return l.give(&replayConn{Conn: c.rwc, buf: replay})
}

// exchange is one request's state, allocated once.
type exchange struct {
	w    response
	body body
}

// serveRequest runs the handler for h and writes its response. It
// reports whether the connection may serve another request.
func (c *conn) serveRequest(h *head, remote string) (keep bool) {
	x := &exchange{}
	w := &x.w
	w.c = c
	w.contentLength = -1
	w.closeAfter = h.close

	var tmpl http.Request
	tmpl.Method = h.method
	tmpl.URL = h.url
	tmpl.Proto, tmpl.ProtoMajor, tmpl.ProtoMinor = "HTTP/1.1", 1, 1
	tmpl.Header = h.header
	tmpl.Host = h.host
	tmpl.RemoteAddr = remote
	tmpl.RequestURI = h.requestURI
	tmpl.ContentLength = h.contentLength
	tmpl.Close = h.close
	if h.contentLength > 0 {
		x.body.c = c
		x.body.remaining = h.contentLength
		tmpl.Body = &x.body
		c.cr.inBody = true
	} else {
		tmpl.Body = http.NoBody
		x.body.sawEOF = true
	}
	ctx, cancel := context.WithCancel(c.ctx)
	r := tmpl.WithContext(ctx)
	w.req = r
	w.body = &x.body

	c.mu.Lock()
	c.watch = watchArmed
	c.bodyEOF = h.contentLength == 0
	c.cancel = cancel
	c.mu.Unlock()
	if c.watchDone == nil {
		c.watchDone = make(chan struct{}, 1)
	}
	switch {
	case watchDelay <= 0:
		c.eager = true
		go c.watchFired()
	case c.timer == nil:
		c.timer = time.AfterFunc(watchDelay, c.watchFired)
	default:
		c.timer.Reset(watchDelay)
	}

	panicked, watching := true, true
	defer func() {
		if watching {
			c.stopWatch()
		}
		cancel()
		if panicked {
			err := recover()
			if err != nil && err != http.ErrAbortHandler {
				const size = 64 << 10
				buf := make([]byte, size)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.logf("http: panic serving %v: %v\n%s", remote, err, buf)
			}
			w.done = true
			x.body.closeAfterHandler()
			keep = false
		}
	}()
	c.srv.Handler.ServeHTTP(w, r)
	panicked = false

	// The watcher stops before the connection's deadlines are looked at
	// again; it may have set them.
	c.stopWatch()
	watching = false
	x.body.closeAfterHandler()
	w.finish()
	if c.rdDirty {
		c.setReadDeadline(time.Time{})
	}
	if c.wrDirty {
		_ = c.rwc.SetWriteDeadline(time.Time{})
		c.wrDirty = false
	}
	// A client that went away while the handler ran does not end the
	// connection here: like net/http, the lean server answers what is
	// buffered and the next read from the socket ends it.
	keep = !w.closeAfter && w.err == nil
	if !keep && x.body.c != nil && !x.body.ended() {
		c.linger = true
	}
	return keep
}

// watchFired runs watchDelay after a handler started.
func (c *conn) watchFired() {
	c.mu.Lock()
	switch {
	case c.watch != watchArmed:
		c.mu.Unlock()
	case !c.bodyEOF:
		c.watch = watchWaitEOF
		c.mu.Unlock()
	default:
		c.watch = watchReading
		c.mu.Unlock()
		c.readForClose()
	}
	c.watchDone <- struct{}{}
}

// sawBodyEOF is called when the handler has read the body to its end:
// a watcher that was waiting for it starts now.
func (c *conn) sawBodyEOF() {
	c.mu.Lock()
	c.bodyEOF = true
	if c.watch == watchWaitEOF {
		c.watch = watchReading
		c.extra = true
		c.mu.Unlock()
		go func() {
			c.readForClose()
			c.watchDone <- struct{}{}
		}()
		return
	}
	c.mu.Unlock()
}

// readForClose reads one byte from the socket: an error means the client
// went away (cancel the request's context); a byte is the start of a
// pipelined request, kept for it.
func (c *conn) readForClose() {
	c.mu.Lock()
	if c.watch != watchReading {
		c.mu.Unlock()
		return
	}
	if !c.rdDeadline.IsZero() || c.rdDirty {
		c.setReadDeadline(time.Time{})
	}
	c.mu.Unlock()
	n, err := c.rwc.Read(c.watchByte[:])
	c.mu.Lock()
	defer c.mu.Unlock()
	if n == 1 {
		c.cr.pending = c.watchByte[:1]
	}
	if err != nil {
		var ne net.Error
		if c.watch == watchOff && errors.As(err, &ne) && ne.Timeout() {
			return // stopWatch interrupted the read
		}
		c.cancel()
	}
}

// stopWatch ends the watcher for the request whose handler returned, and
// waits for its goroutines.
func (c *conn) stopWatch() {
	c.mu.Lock()
	reading := c.watch == watchReading
	extra := c.extra
	c.watch = watchOff
	c.extra = false
	if reading {
		c.setReadDeadline(aLongTimeAgo)
	}
	c.mu.Unlock()
	if c.eager {
		c.eager = false
		<-c.watchDone
	} else if !c.timer.Stop() {
		<-c.watchDone
	}
	if extra {
		<-c.watchDone
	}
}

// maxPostHandlerReadBytes is how much of an unread body is read and
// dropped to keep the connection, as net/http does.
const maxPostHandlerReadBytes = 256 << 10

// body is a request body of known length read from the connection.
type body struct {
	c         *conn
	mu        sync.Mutex
	remaining int64
	sawEOF    bool
	closed    bool
	err       error
	// handlerDone: the handler returned; its reads fail from now on, while
	// the server may still drain the rest.
	handlerDone bool
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.handlerDone {
		return 0, http.ErrBodyReadAfterClose
	}
	return b.readLocked(p)
}

func (b *body) readLocked(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.remaining == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.c.b.br.Read(p)
	b.remaining -= int64(n)
	if b.remaining == 0 {
		b.sawEOF = true
		b.c.cr.inBody = false
		b.c.sawBodyEOF()
		return n, io.EOF
	}
	if err != nil {
		if err == io.EOF {
			// The client half-closed: like net/http, the connection is
			// not marked for closing; the next read ends it.
			err = io.ErrUnexpectedEOF
			b.sawEOF = true
		}
		b.err = err
	}
	return n, err
}

// Close discards a small remainder so that the connection can be kept, as
// net/http does; a larger one closes the connection after the response.
func (b *body) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	if !b.sawEOF && b.err == nil && b.remaining <= maxPostHandlerReadBytes {
		b.discardLocked()
	}
	b.closed = true
	return nil
}

func (b *body) discardLocked() {
	var scratch [512]byte
	for b.remaining > 0 && b.err == nil {
		if _, err := b.readLocked(scratch[:]); err != nil && err != io.EOF {
			return
		}
	}
}

// prepareForResponse settles the body before the response head is
// written, as net/http does: a small unread rest is read and dropped, a
// large one (or a broken one) closes the connection after the response.
// It reports whether the connection must close.
func (b *body) prepareForResponse() (mustClose bool) {
	if b.c == nil { // no body
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.sawEOF:
		return false
	case b.closed || b.err != nil:
		return true
	case b.remaining >= maxPostHandlerReadBytes:
		return true
	}
	b.discardLocked()
	return !b.sawEOF
}

// closeAfterHandler makes the handler's later reads fail, as net/http
// does.
func (b *body) closeAfterHandler() {
	if b.c == nil {
		return
	}
	b.mu.Lock()
	b.handlerDone = true
	b.mu.Unlock()
}

var errWriteAfterHandler = fmt.Errorf("h1: write after the handler returned")

var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, bufSize); return &b }}

// holdBody takes a body buffer from the pool.
func (c *conn) holdBody() {
	c.bodyp = bodyPool.Get().(*[]byte)
	c.body = (*c.bodyp)[:0]
}

func (c *conn) releaseBody() {
	if c.bodyp != nil {
		*c.bodyp = c.body[:0]
		bodyPool.Put(c.bodyp)
		c.bodyp, c.body = nil, nil
	}
}

// lingerTime is how long a connection closed with a request body unread
// keeps reading (and dropping) what the client still sends, after the
// response, so that the client reads the response rather than a reset;
// net/http waits as long (rstAvoidanceDelay).
const lingerTime = 500 * time.Millisecond

func (c *conn) lingerClose() {
	if cw, ok := c.rwc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.rwc.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.Copy(io.Discard, c.rwc)
}

// ended reports whether the body was read to its end.
func (b *body) ended() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sawEOF
}
