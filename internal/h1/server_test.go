package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
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

// start serves h with a lean server on loopback.
func start(t *testing.T, h http.Handler, tune func(*http.Server)) (*Server, string, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	std := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second,
		MaxHeaderBytes: 64 << 10, ErrorLog: log.New(logs, "", 0)}
	if tune != nil {
		tune(std)
	}
	s := New(std)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close(); <-done })
	return s, ln.Addr().String(), logs
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func get(t *testing.T, c net.Conn, br *bufio.Reader, path string) *http.Response {
	t.Helper()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp
}

// closedWithin reports whether the server closes c within d.
func closedWithin(c net.Conn, br *bufio.Reader, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := br.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestResponses runs each handler on net/http and on the lean server and
// compares what a client sees, then checks the lean framing.
func TestResponses(t *testing.T) {
	big := strings.Repeat("x", 10<<10)
	cases := []struct {
		name    string
		h       http.HandlerFunc
		framing string // lean: "length", "chunked" or "none"
		close   bool
	}{
		{"small json", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":true}`)
		}, "length", false},
		{"sniffed html", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "<html><body>hi</body></html>")
		}, "length", false},
		{"sniff suppressed by empty type", func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = nil
			_, _ = io.WriteString(w, "<html></html>")
		}, "length", false},
		{"empty", func(w http.ResponseWriter, r *http.Request) {}, "length", false},
		{"status only", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }, "length", false},
		{"large body", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, big)
		}, "chunked", false},
		{"handler length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			_, _ = io.WriteString(w, big)
		}, "length", false},
		{"handler length short", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "10")
			_, _ = io.WriteString(w, "12345")
		}, "length", false}, // closed after, without saying so: the head is gone
		{"handler length invalid", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "abc")
			_, _ = io.WriteString(w, "12345")
		}, "length", false},
		{"flush then write", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "b")
		}, "chunked", false},
		{"no content", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			w.WriteHeader(http.StatusNoContent)
			_, _ = io.WriteString(w, "nope")
		}, "none", false},
		{"not modified", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusNotModified)
		}, "none", false},
		{"early hints", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			_, _ = io.WriteString(w, "after hints")
		}, "length", false},
		{"handler connection close", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "bye")
		}, "length", true},
		{"header after WriteHeader ignored", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusAccepted)
			w.Header().Set("X-Late", "1")
			_, _ = io.WriteString(w, "late")
		}, "length", false},
		{"value with newline", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Nl", "a\r\nInjected: yes")
			w.Header().Set("Bad Name", "x")
			_, _ = io.WriteString(w, "ok")
		}, "length", false},
		{"trailers", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", "X-Sum, X-Never")
			_, _ = io.WriteString(w, "body")
			w.Header().Set("X-Sum", "42")
			w.Header().Set(http.TrailerPrefix+"X-Late", "7")
		}, "chunked", false},
		{"trailer by prefix only", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "body")
			w.(http.Flusher).Flush()
			w.Header().Set(http.TrailerPrefix+"X-Late", "7")
		}, "chunked", false},
		{"identity transfer encoding", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Transfer-Encoding", "identity")
			_, _ = io.WriteString(w, "raw until close")
		}, "none", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			std := &http.Server{Handler: tc.h, ErrorLog: log.New(io.Discard, "", 0)}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = std.Serve(ln) }()
			defer std.Close()
			_, lean, _ := start(t, tc.h, nil)
			view := func(addr string) (string, *http.Response, []byte) {
				c, br := dial(t, addr)
				fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
				var sb strings.Builder
				var resp *http.Response
				for {
					resp, err = http.ReadResponse(br, nil)
					if err != nil {
						t.Fatal(err)
					}
					if resp.StatusCode >= 200 {
						break
					}
					fmt.Fprintf(&sb, "%s %v|", resp.Status, resp.Header)
				}
				body, err := io.ReadAll(resp.Body)
				h := resp.Header.Clone()
				h.Del("Date")
				h.Del("Content-Length")
				if len(body) > 64 {
					body = fmt.Appendf(body[:64], "...(%d bytes)", len(body))
				}
				fmt.Fprintf(&sb, "%s %v close=%v body=%q err=%v trailer=%v", resp.Status, h, resp.Close, body, err, resp.Trailer)
				return sb.String(), resp, body
			}
			want, _, _ := view(ln.Addr().String())
			got, resp, _ := view(lean)
			if got != want {
				t.Errorf("net/http: %s\nlean:     %s", want, got)
			}
			framing := "none"
			switch {
			case len(resp.TransferEncoding) > 0:
				framing = "chunked"
			case resp.ContentLength >= 0:
				framing = "length"
			}
			if resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified {
				framing = "none"
			}
			if framing != tc.framing || resp.Close != tc.close {
				t.Errorf("lean framing %s close=%v, want %s close=%v", framing, resp.Close, tc.framing, tc.close)
			}
			if resp.Header.Get("Date") == "" {
				t.Error("no Date")
			}
		})
	}
}

// TestWriteErrors checks the errors and panics handlers get, as net/http
// gives them.
func TestWriteErrors(t *testing.T) {
	cases := []struct {
		name string
		h    func(w http.ResponseWriter) error
		want error
	}{
		{"body on 204", func(w http.ResponseWriter) error {
			w.WriteHeader(http.StatusNoContent)
			_, err := io.WriteString(w, "x")
			return err
		}, http.ErrBodyNotAllowed},
		{"body on 304", func(w http.ResponseWriter) error {
			w.WriteHeader(http.StatusNotModified)
			_, err := io.WriteString(w, "x")
			return err
		}, http.ErrBodyNotAllowed},
		{"over content length", func(w http.ResponseWriter) error {
			w.Header().Set("Content-Length", "3")
			_, err := io.WriteString(w, "1234")
			return err
		}, http.ErrContentLength},
		{"invalid code panics", func(w http.ResponseWriter) (err error) {
			defer func() {
				if recover() != nil {
					err = errors.New("panicked")
				}
			}()
			w.WriteHeader(1000)
			return nil
		}, errors.New("panicked")},
		{"code 99 panics", func(w http.ResponseWriter) (err error) {
			defer func() {
				if recover() != nil {
					err = errors.New("panicked")
				}
			}()
			w.WriteHeader(99)
			return nil
		}, errors.New("panicked")},
		{"hijack unsupported", func(w http.ResponseWriter) error {
			_, _, err := http.NewResponseController(w).Hijack()
			return err
		}, http.ErrNotSupported},
		{"full duplex supported", func(w http.ResponseWriter) error {
			return http.NewResponseController(w).EnableFullDuplex()
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan error, 1)
			_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got <- tc.h(w)
			}), nil)
			c, br := dial(t, addr)
			resp := get(t, c, br, "/")
			resp.Body.Close()
			err := <-got
			if fmt.Sprint(err) != fmt.Sprint(tc.want) {
				t.Errorf("handler got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestKeepAliveAndPipelining(t *testing.T) {
	var mu sync.Mutex
	remotes := map[string]int{}
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		remotes[r.RemoteAddr]++
		mu.Unlock()
		_, _ = io.WriteString(w, r.URL.Path)
	}), nil)
	c, br := dial(t, addr)
	// Three pipelined requests in one write, then two sequential ones.
	fmt.Fprintf(c, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n")
	for i := 1; i <= 5; i++ {
		if i > 3 {
			fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != fmt.Sprintf("/%d", i) || resp.Close {
			t.Fatalf("response %d: %q close=%v", i, b, resp.Close)
		}
	}
	// Connection: close ends it after the response.
	fmt.Fprintf(c, "GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || !resp.Close {
		t.Fatalf("close: %v %v", resp, err)
	}
	_, _ = io.ReadAll(resp.Body)
	if !closedWithin(c, br, 2*time.Second) {
		t.Error("connection stayed open after Connection: close")
	}
	if len(remotes) != 1 {
		t.Errorf("requests came over %d connections, want 1", len(remotes))
	}
}

func TestTimeouts(t *testing.T) {
	cases := []struct {
		name    string
		send    string // before waiting
		tune    func(*http.Server)
		closeBy time.Duration
		openAt  time.Duration // still open this long after sending
	}{
		{"slow head", "GET / HTTP/1.1\r\nHost:", func(s *http.Server) {
			s.ReadHeaderTimeout = 300 * time.Millisecond
		}, 2 * time.Second, 100 * time.Millisecond},
		{"idle after a request", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(s *http.Server) {
			s.IdleTimeout = 300 * time.Millisecond
		}, 3 * time.Second, 250 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), tc.tune)
			c, br := dial(t, addr)
			fmt.Fprint(c, tc.send)
			if strings.HasSuffix(tc.send, "\r\n\r\n") {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			t0 := time.Now()
			if closedWithin(c, br, tc.openAt) {
				t.Fatalf("closed after %v, before %v", time.Since(t0), tc.openAt)
			}
			if !closedWithin(c, br, tc.closeBy) {
				t.Fatalf("still open after %v", tc.closeBy)
			}
		})
	}
}

func TestShutdown(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	s, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		_, _ = io.WriteString(w, "done")
	}), nil)
	idle, idleBR := dial(t, addr)
	get(t, idle, idleBR, "/").Body.Close()
	busy, busyBR := dial(t, addr)
	fmt.Fprintf(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	if !closedWithin(idle, idleBR, 2*time.Second) {
		t.Error("idle connection not closed by Shutdown")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	resp, err := http.ReadResponse(busyBR, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "done" || !resp.Close {
		t.Errorf("in-flight response %q close=%v", b, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

func TestClientGoneCancelsContext(t *testing.T) {
	cases := []struct {
		name string
		req  string
		rest string // sent after the watcher's delay: it must wait for the body's end
	}{
		{"no body", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", ""},
		{"body read", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody", ""},
		{"body ends late", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbo", "dy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			result := make(chan error, 1)
			entered := make(chan struct{})
			_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.ReadAll(r.Body)
				close(entered)
				select {
				case <-r.Context().Done():
					result <- r.Context().Err()
				case <-time.After(5 * time.Second):
					result <- errors.New("not cancelled")
				}
			}), nil)
			c, _ := dial(t, addr)
			fmt.Fprint(c, tc.req)
			if tc.rest != "" {
				time.Sleep(5 * watchDelay)
				fmt.Fprint(c, tc.rest)
			}
			<-entered
			time.Sleep(20 * time.Millisecond)
			c.Close()
			select {
			case err := <-result:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("handler saw %v", err)
				}
			case <-time.After(6 * time.Second):
				t.Fatal("handler never returned")
			}
		})
	}
}

// TestContextCancelledAfterHandler checks the request's context ends when
// the handler returns, and that bytes read while watching for the client
// (a pipelined request) are served.
func TestContextAfterHandlerAndPipelinedByte(t *testing.T) {
	ctxs := make(chan context.Context, 2)
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctxs <- r.Context()
		if r.URL.Path == "/slow" {
			time.Sleep(100 * time.Millisecond) // the watcher runs meanwhile
		}
		_, _ = io.WriteString(w, r.Method+" "+r.URL.Path)
	}), nil)
	c, br := dial(t, addr)
	fmt.Fprintf(c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	fmt.Fprintf(c, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
	for _, want := range []string{"GET /slow", "GET /next"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != want {
			t.Fatalf("got %q, want %q", b, want)
		}
		ctx := <-ctxs
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
			t.Fatalf("%s: context not cancelled after the handler returned", want)
		}
		if ctx.Value(http.LocalAddrContextKey) == nil || ctx.Value(http.ServerContextKey) == nil {
			t.Errorf("%s: context lacks the server's values", want)
		}
	}
}

func TestFlushStreams(t *testing.T) {
	next := make(chan struct{})
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Error(err)
				return
			}
			<-next
		}
	}), nil)
	c, br := dial(t, addr)
	resp := get(t, c, br, "/")
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("transfer encoding %v", resp.TransferEncoding)
	}
	events := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := events.ReadString('\n')
		if err != nil || line != fmt.Sprintf("data: %d\n", i) {
			t.Fatalf("event %d: %q %v", i, line, err)
		}
		_, _ = events.ReadString('\n')
		next <- struct{}{} // the handler writes the next event only now
	}
	if rest, err := io.ReadAll(events); err != nil || len(rest) != 0 {
		t.Fatalf("after the events: %q %v", rest, err)
	}
	go func() {
		for range 3 {
			next <- struct{}{}
		}
	}()
	get(t, c, br, "/again").Body.Close() // the terminating chunk kept the connection usable
}

func TestSetWriteDeadline(t *testing.T) {
	got := make(chan error, 1)
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
			got <- err
			return
		}
		chunk := make([]byte, 64<<10)
		for range 2048 { // 128 MiB: far more than the socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				got <- err
				return
			}
		}
		got <- nil
	}), nil)
	c, _ := dial(t, addr)
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n") // and never read
	select {
	case err := <-got:
		if !errors.Is(err, errTimeout) {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("Write returned %v, want a timeout", err)
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("write deadline did not interrupt the handler")
	}
}

var errTimeout = errors.New("timeout")

func TestPanicRecovery(t *testing.T) {
	cases := []struct {
		name   string
		value  any
		logged bool
	}{
		{"panic", "boom", true},
		{"abort handler", http.ErrAbortHandler, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, addr, logs := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/panic" {
					_, _ = io.WriteString(w, "partial")
					panic(tc.value)
				}
			}), nil)
			c, br := dial(t, addr)
			fmt.Fprintf(c, "GET /panic HTTP/1.1\r\nHost: a\r\n\r\n")
			if _, err := http.ReadResponse(br, nil); err == nil {
				t.Error("a response after the handler panicked")
			}
			if !closedWithin(c, br, time.Second) {
				t.Error("connection open after a panic")
			}
			if strings.Contains(logs.String(), "panic serving") != tc.logged {
				t.Errorf("log %q, want logged=%v", logs.String(), tc.logged)
			}
			c2, br2 := dial(t, addr)
			get(t, c2, br2, "/ok").Body.Close() // the server survives
		})
	}
}

func TestUnreadBody(t *testing.T) {
	cases := []struct {
		name  string
		size  int
		read  int
		close bool
	}{
		{"small unread", 10 << 10, 0, false},
		{"small half read", 10 << 10, 5 << 10, false},
		{"large unread", 1 << 20, 0, true},
		{"large mostly read", 1 << 20, 900 << 10, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.CopyN(io.Discard, r.Body, int64(tc.read))
				_, _ = io.WriteString(w, "ok")
			}), nil)
			c, br := dial(t, addr)
			go func() {
				fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", tc.size)
				_, _ = c.Write(make([]byte, tc.size))
				fmt.Fprintf(c, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
			}()
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.ReadAll(resp.Body)
			if resp.Close != tc.close {
				t.Errorf("Connection: close %v, want %v", resp.Close, tc.close)
			}
			if !tc.close {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("next request: %v", err)
				}
				resp.Body.Close()
			}
		})
	}
}

func TestBodyReadAfterHandler(t *testing.T) {
	bodies := make(chan io.Reader, 1)
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 2)
		_, _ = r.Body.Read(buf)
		bodies <- r.Body
	}), nil)
	c, br := dial(t, addr)
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := (<-bodies).Read(make([]byte, 2)); !errors.Is(err, http.ErrBodyReadAfterClose) {
		t.Errorf("read after the handler: %v", err)
	}
}

// countingListener counts, over all its connections, the calls the lean
// server makes that cost a system call or a runtime_pollSetDeadline.
type countingListener struct {
	net.Listener
	writes, readDeadlines atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, l: l}, nil
}

type countingConn struct {
	net.Conn
	l *countingListener
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.l.writes.Add(1)
	return c.Conn.Write(p)
}

func (c *countingConn) SetReadDeadline(t time.Time) error {
	c.l.readDeadlines.Add(1)
	return c.Conn.SetReadDeadline(t)
}

// TestCallsPerRequest checks that a small response is one write and that
// keep-alive requests do not set a read deadline each.
func TestCallsPerRequest(t *testing.T) {
	// A handler slowed past watchDelay by a loaded machine would start the
	// client-close watcher, which sets read deadlines of its own.
	defer func(d time.Duration) { watchDelay = d }(watchDelay)
	watchDelay = time.Minute
	const n = 20
	cases := []struct {
		name         string
		req          string
		size         int
		maxWrites    int64 // over n requests
		maxDeadlines int64
	}{
		{"get 1 KiB", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1 << 10, n, 2},
		{"post 1 KiB", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody", 1 << 10, n, 2},
		{"get 3 KiB", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 3 << 10, n, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Repeat("x", tc.size)
			std := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.ReadAll(r.Body)
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, body)
			}), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			cl := &countingListener{Listener: ln}
			s := New(std)
			go func() { _ = s.Serve(cl) }()
			defer s.Close()
			c, br := dial(t, ln.Addr().String())
			for range n {
				fmt.Fprint(c, tc.req)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				if b, _ := io.ReadAll(resp.Body); len(b) != tc.size {
					t.Fatalf("body %d bytes", len(b))
				}
			}
			if w := cl.writes.Load(); w > tc.maxWrites {
				t.Errorf("%d writes for %d responses, want at most %d", w, n, tc.maxWrites)
			}
			if d := cl.readDeadlines.Load(); d > tc.maxDeadlines {
				t.Errorf("%d read deadlines set for %d requests, want at most %d", d, n, tc.maxDeadlines)
			}
		})
	}
}

// TestSplitPipelinedHeadAfterSlowHandler: a head that began in the same
// read as a slow request (whose client-close watcher was stopped with a
// past read deadline) is read to its end after the response, with and
// without a header timeout.
func TestSplitPipelinedHeadAfterSlowHandler(t *testing.T) {
	for _, rht := range []time.Duration{0, 5 * time.Second} {
		t.Run(fmt.Sprint(rht), func(t *testing.T) {
			_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/slow" {
					time.Sleep(10 * watchDelay)
				}
				_, _ = io.WriteString(w, r.URL.Path)
			}), func(s *http.Server) { s.ReadHeaderTimeout = rht })
			c, br := dial(t, addr)
			fmt.Fprint(c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\n")
			for i, want := range []string{"/slow", "/next"} {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("response %d: %v", i, err)
				}
				b, _ := io.ReadAll(resp.Body)
				if string(b) != want {
					t.Fatalf("got %q, want %q", b, want)
				}
				if i == 0 {
					fmt.Fprint(c, "Host: a\r\n\r\n")
				}
			}
		})
	}
}

// TestBodyBufferHeldOnlyWhileBuffering: a streaming (flushed) response
// and an idle connection hold no response-body buffer.
func TestBodyBufferHeldOnlyWhileBuffering(t *testing.T) {
	held := make(chan bool, 2)
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := w.(*response).c
		_, _ = io.WriteString(w, "data: 1\n\n")
		held <- c.body != nil // buffering
		w.(http.Flusher).Flush()
		held <- c.body != nil // streaming
	}), nil)
	c, br := dial(t, addr)
	get(t, c, br, "/").Body.Close()
	if buffering, streaming := <-held, <-held; !buffering || streaming {
		t.Errorf("body buffer held while buffering %v, while streaming %v; want true, false", buffering, streaming)
	}
}

// TestEarlyAnswerToALargeBody: a handler that answers without reading a
// large body (413) closes the connection gracefully, as net/http does, so
// that a client still sending reads the answer instead of a reset.
func TestEarlyAnswerToALargeBody(t *testing.T) {
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	}), nil)
	const size = 8 << 20
	for i := range 10 {
		req, _ := http.NewRequest("POST", "http://"+addr+"/", io.LimitReader(zeros{}, size))
		req.ContentLength = size
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatalf("try %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("try %d: status %d", i, resp.StatusCode)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
