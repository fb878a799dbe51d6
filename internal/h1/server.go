// Package h1 is a lean HTTP/1.1 server for the common, strictly specified
// case, with net/http as its fallback.
//
// A connection is served here while each request head is in the lean
// subset (see parseHead): a fixed set of methods, origin-form, HTTP/1.1,
// CRLF line ends, token names, one Host, at most one digits-only
// Content-Length, no Transfer-Encoding, Upgrade, Expect or HTTP2-Settings.
// Anything else, and anything the parser is unsure of, hands the whole
// connection, at a request boundary and with the bytes already read
// replayed first, to the Fallback net/http server, which answers as it
// always has (400, 431, 501, 100-continue, upgrades). The lean parser
// therefore never answers an error itself; the request smuggling surface
// stays net/http's.
package h1

import (
	"bufio"
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves HTTP/1.1 on plain TCP listeners.
type Server struct {
	Handler           http.Handler
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// MaxHeaderBytes: a head longer than it, or than the lean server's
	// 4 KiB buffer, goes to the Fallback, which enforces the limit (431).
	MaxHeaderBytes int
	ErrorLog       *log.Logger
	// Fallback serves every connection the lean server hands off. It must
	// have the same Handler and timeouts; it never sees the listener.
	Fallback *http.Server

	mu         sync.Mutex
	listeners  map[net.Listener]struct{}
	conns      map[*conn]struct{}
	handoff    *memListener
	fallbackOn bool
	shutdown   atomic.Bool
	fallbackWG sync.WaitGroup
}

// New returns a lean server with the handler, timeouts and error log of
// fallback, which serves whatever the lean server hands off.
func New(fallback *http.Server) *Server {
	return &Server{
		Handler:           fallback.Handler,
		ReadHeaderTimeout: fallback.ReadHeaderTimeout,
		IdleTimeout:       fallback.IdleTimeout,
		MaxHeaderBytes:    fallback.MaxHeaderBytes,
		ErrorLog:          fallback.ErrorLog,
		Fallback:          fallback,
	}
}

// Serve accepts connections on ln until Shutdown or Close, and then
// returns http.ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	if s.Fallback == nil {
		s.Fallback = &http.Server{Handler: s.Handler, ReadHeaderTimeout: s.ReadHeaderTimeout,
			IdleTimeout: s.IdleTimeout, MaxHeaderBytes: s.MaxHeaderBytes, ErrorLog: s.ErrorLog}
	}
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		_ = ln.Close()
		return http.ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
		s.conns = make(map[*conn]struct{})
	}
	s.listeners[ln] = struct{}{}
	if s.handoff == nil {
		s.handoff = newMemListener(ln.Addr())
	}
	if !s.fallbackOn {
		s.fallbackOn = true
		s.fallbackWG.Add(1)
		go func() {
			defer s.fallbackWG.Done()
			_ = s.Fallback.Serve(s.handoff)
		}()
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()

	var delay time.Duration
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logf("h1: Accept error: %v; retrying in %v", err, delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := newConn(s, rwc)
		s.mu.Lock()
		if s.shutdown.Load() {
			s.mu.Unlock()
			_ = rwc.Close()
			return http.ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go c.serve()
	}
}

// Shutdown stops accepting, closes idle connections, waits for in-flight
// requests to finish (or ctx to end), and shuts the Fallback down too.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeListeners()
	fallbackErr := make(chan error, 1)
	go func() { fallbackErr <- s.Fallback.Shutdown(ctx) }()

	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() {
			break
		}
		select {
		case <-ctx.Done():
			<-fallbackErr
			return ctx.Err()
		case <-tick.C:
		}
	}
	err := <-fallbackErr
	s.fallbackWG.Wait()
	return err
}

// Close closes the listeners and every connection at once, the Fallback's
// too.
func (s *Server) Close() error {
	s.closeListeners()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.rwc.Close()
	}
	s.mu.Unlock()
	err := s.Fallback.Close()
	return err
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown.Store(true)
	for ln := range s.listeners {
		_ = ln.Close()
	}
	if s.handoff == nil {
		// Never served: let the fallback's Shutdown and Close find nothing.
		s.handoff = newMemListener(nil)
	}
}

// closeIdle closes the connections waiting for a request and reports
// whether none is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			_ = c.rwc.Close()
		}
	}
	return len(s.conns) == 0
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

// bufs are a connection's buffers, pooled between connections.
type bufs struct {
	br *bufio.Reader
	bw *bufio.Writer
}

const bufSize = 4 << 10

var bufPool = sync.Pool{New: func() any {
	return &bufs{br: bufio.NewReaderSize(nil, bufSize), bw: bufio.NewWriterSize(nil, bufSize)}
}}

// memListener hands connections to the fallback http.Server.
type memListener struct {
	addr   net.Addr
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newMemListener(addr net.Addr) *memListener {
	return &memListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *memListener) Addr() net.Addr { return l.addr }

// give passes c to the fallback; false once the fallback stopped.
func (l *memListener) give(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

// replayConn is a connection handed to net/http: Read returns the bytes
// the lean server had buffered before reading the socket again.
type replayConn struct {
	net.Conn
	buf []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite lets net/http half-close after an error response, as it does
// on its own connections, so the client reads the response before a reset.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
