// Package chaos is a TCP proxy for fault tests: it sits in front of a fake
// provider (or any server) on 127.0.0.1 and injects latency, blackholes,
// resets after N bytes, and slices the upstream's answer into 1-byte
// segments. It is test code, never part of the gateway.
package chaos

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Mode is the fault applied to new connections.
type Mode struct {
	// Latency delays every chunk in both directions.
	Latency time.Duration
	// Blackhole accepts connections and never forwards or answers.
	Blackhole bool
	// ResetAfter, when > 0, aborts the connection (RST) after this many
	// bytes of the upstream's answer have been forwarded; -1 resets at once.
	ResetAfter int
	// Slice forwards the upstream's answer one byte per TCP write.
	Slice bool
}

// Proxy is a running chaos proxy.
type Proxy struct {
	ln     net.Listener
	target string
	mode   atomic.Pointer[Mode]
	conns  atomic.Int64 // connections accepted

	mu   sync.Mutex // guards open
	open map[net.Conn]struct{}
	wg   sync.WaitGroup
}

// Start listens on 127.0.0.1 and forwards to target ("host:port"). The proxy
// stops when the test ends.
func Start(t testing.TB, target string, m Mode) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, open: map[net.Conn]struct{}{}}
	p.mode.Store(&m)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's "host:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetMode changes the fault for new connections.
func (p *Proxy) SetMode(m Mode) { p.mode.Store(&m) }

// Accepted is the number of connections accepted so far.
func (p *Proxy) Accepted() int64 { return p.conns.Load() }

// Open is the number of client connections still open.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.open)
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.open {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.open[c] = struct{}{}
	} else {
		delete(p.open, c)
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.conns.Add(1)
		p.track(c, true)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.track(c, false)
			p.serve(c, *p.mode.Load())
		}()
	}
}

func (p *Proxy) serve(client net.Conn, m Mode) {
	defer client.Close()
	if m.ResetAfter < 0 {
		reset(client)
		return
	}
	if m.Blackhole {
		_, _ = io.Copy(io.Discard, client) // until the client gives up
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		reset(client)
		return
	}
	p.track(up, true)
	defer p.track(up, false)
	defer up.Close()
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				if m.Latency > 0 {
					time.Sleep(m.Latency)
				}
				if _, werr := up.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		_ = up.(*net.TCPConn).CloseWrite()
	}()
	buf := make([]byte, 32<<10)
	sent := 0
	for {
		n, err := up.Read(buf)
		for i := 0; i < n; {
			chunk := buf[i:n]
			if m.Slice {
				chunk = chunk[:1]
			}
			if m.ResetAfter > 0 && sent+len(chunk) > m.ResetAfter {
				chunk = chunk[:m.ResetAfter-sent]
				_, _ = client.Write(chunk)
				reset(client)
				return
			}
			if m.Latency > 0 {
				time.Sleep(m.Latency)
			}
			if _, werr := client.Write(chunk); werr != nil {
				return
			}
			sent += len(chunk)
			i += len(chunk)
		}
		if err != nil {
			return
		}
	}
}

// reset closes a connection with an RST instead of a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
