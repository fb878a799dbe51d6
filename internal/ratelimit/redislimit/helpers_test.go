package redislimit

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ratelimit"
)

// redisAddr returns the Redis that scripts/test-services.sh started. Tests
// skip without one, unless SLUICE_TEST_REQUIRE_REDIS=1 (CI) makes that a
// failure.
func redisAddr(t *testing.T) string {
	t.Helper()
	if a := os.Getenv("SLUICE_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	if os.Getenv("SLUICE_TEST_REQUIRE_REDIS") == "1" {
		t.Fatal("SLUICE_TEST_REQUIRE_REDIS=1 but SLUICE_TEST_REDIS_ADDR is unset: run scripts/test-services.sh start DIR")
	}
	t.Skip("SLUICE_TEST_REDIS_ADDR is unset (scripts/test-services.sh starts a Redis)")
	return ""
}

// admit admits a request at one subject through AdmitAll, the data plane's
// path.
func admit(l *ratelimit.Limiter, id string, lim ratelimit.Limits, worst int64) (*ratelimit.Tickets, *ratelimit.Denial) {
	ts, _, d := l.AdmitAll([]ratelimit.Subject{{ID: id, Limits: lim, WorstMicros: worst}})
	return ts, d
}

// prefix returns a key prefix no other test uses, on a Redis that other
// runs may share.
func prefix(t *testing.T) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "sluicetest:" + t.Name() + ":" + hex.EncodeToString(b[:]) + ":"
}

// node is one simulated Sluice node: its own Redis client and limiter.
type node struct {
	store *Store
	lim   *ratelimit.Limiter
	logs  *syncBuffer
}

// newNode makes a node on addr; o.Logger is replaced by a buffer.
func newNode(t *testing.T, addr, pfx string, o ratelimit.Options) *node {
	t.Helper()
	s, err := New(Options{Addr: addr, Prefix: pfx, Timeout: o.Timeout})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	n := &node{store: s, lim: ratelimit.NewShared(s, o), logs: logs}
	t.Cleanup(func() {
		n.lim.Close()
		_ = s.Close()
	})
	return n
}

type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// redisProc is a redis-server that the test started and may stop.
type redisProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startRedis starts redis-server on port as a child process, waits until it
// answers, and stops it when the test ends.
func startRedis(t *testing.T, port int) *redisProc {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed (scripts/test-services.sh installs it)")
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--loglevel", "warning")
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &redisProc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.stop(t) })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			b := make([]byte, 7)
			n, _ := c.Read(b)
			_ = c.Close()
			if string(b[:n]) == "+PONG\r\n" {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer within 5 s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM to the redis-server this test started (SIGKILL after
// 5 s) and waits for it to exit.
func (p *redisProc) stop(t *testing.T) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Log("redis-server ignored SIGTERM for 5 s; killed")
	}
}

// frozenRedis accepts connections, reads every byte sent to it and never
// answers: a frozen Redis. It counts the commands it received by script.
type frozenRedis struct {
	addr string

	mu   sync.Mutex // guards recv
	recv [][]byte   // the bytes received on each connection
}

func newFrozenRedis(tb testing.TB) *frozenRedis {
	f := &frozenRedis{}
	f.addr = listenFake(tb, func(c net.Conn) {
		f.mu.Lock()
		i := len(f.recv)
		f.recv = append(f.recv, nil)
		f.mu.Unlock()
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			f.mu.Lock()
			f.recv[i] = append(f.recv[i], buf[:n]...)
			f.mu.Unlock()
			if err != nil {
				return
			}
		}
	})
	return f
}

// listenFake serves a fake Redis on a loopback port, calling serve for each
// connection on its own goroutine, and closes the listener and every
// connection, waiting for the goroutines, when the test ends.
func listenFake(tb testing.TB, serve func(net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var (
		mu    sync.Mutex // guards conns
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				serve(c)
			}()
		}
	}()
	tb.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// commands returns how many commands the frozen Redis received in all. The
// client opens each connection with HELLO, which a frozen Redis never
// answers, so a call on a new connection sends that command only.
func (f *frozenRedis) commands() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, b := range f.recv {
		n += countCommands(b)
	}
	return n
}

// countCommands counts the complete RESP commands (arrays of bulk
// strings) at the start of b.
func countCommands(b []byte) int {
	n := 0
	for {
		args, rest, ok := respHeader(b, '*')
		if !ok {
			return n
		}
		for range args {
			size, after, ok := respHeader(rest, '$')
			if !ok || len(after) < size+2 {
				return n
			}
			rest = after[size+2:]
		}
		b = rest
		n++
	}
}

// respHeader reads a RESP header line "<kind><n>\r\n" from b.
func respHeader(b []byte, kind byte) (int, []byte, bool) {
	end := bytes.Index(b, []byte("\r\n"))
	if len(b) == 0 || b[0] != kind || end < 0 {
		return 0, nil, false
	}
	v, err := strconv.Atoi(string(b[1:end]))
	if err != nil || v < 0 {
		return 0, nil, false
	}
	return v, b[end+2:], true
}

// waitFor polls cond every 5 ms until it holds or limit passes, and returns
// how long it took.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func benchAddr(b *testing.B) string {
	if a := os.Getenv("SLUICE_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	b.Skip("SLUICE_TEST_REDIS_ADDR is unset")
	return ""
}
