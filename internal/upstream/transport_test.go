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
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer accepts connections and runs serve on each; it counts them.
type rawServer struct {
	ln    net.Listener
	conns atomic.Int32
	wg    sync.WaitGroup

	mu   sync.Mutex // guards open
	open []net.Conn
}

func newRawServer(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.mu.Lock()
			s.open = append(s.open, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) url() string { return "http://" + s.ln.Addr().String() }

// readRequest reads one request (head and Content-Length body) from br.
func readRequest(br *bufio.Reader) (*http.Request, []byte, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(req.Body)
	return req, body, err
}

// answerEach answers every request on a connection with resp.
func answerEach(resp string) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		for {
			if _, _, err := readRequest(br); err != nil {
				return
			}
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	}
}

// answerOnce answers the first request with resp, then closes.
func answerOnce(resp string) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		if _, _, err := readRequest(br); err != nil {
			return
		}
		io.WriteString(c, resp)
	}
}

func newTransport(opts Options) *Transport {
	return New(opts)
}

func post(t *testing.T, tr http.RoundTripper, url, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return tr.RoundTrip(req)
}

func TestResponses(t *testing.T) {
	big := strings.Repeat("a", 2000)
	cases := []struct {
		name    string
		serve   func(net.Conn, *bufio.Reader)
		opts    Options
		method  string
		status  int
		header  map[string][]string // expected exact values
		noKey   []string            // fields that must be absent
		body    string
		trailer map[string]string
		headErr error // expected from RoundTrip
		bodyErr error // expected from reading the body
		pooled  bool  // the connection is idle after the body was read
		length  int64
	}{
		{name: "content-length", serve: answerEach("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: application/json\r\n\r\nhello"),
			status: 200, body: "hello", pooled: true, length: 5,
			header: map[string][]string{"Content-Type": {"application/json"}, "Content-Length": {"5"}}},
		{name: "content-length zero", serve: answerEach("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
			status: 200, body: "", pooled: true, length: 0},
		{name: "content-length shorter than the body", serve: answerOnce("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"),
			status: 200, body: "ok", length: 2},
		{name: "truncated content-length", serve: answerOnce("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"),
			status: 200, body: "hello", bodyErr: io.ErrUnexpectedEOF, length: 10},
		{name: "chunked with extensions and trailers",
			serve: answerEach("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Usage\r\n\r\n" +
				"5;ext=1\r\nhello\r\n6;name=\"v\"\r\n world\r\n0\r\nX-Usage: 42\r\nx-other: b\r\n\r\n"),
			status: 200, body: "hello world", pooled: true, length: -1,
			trailer: map[string]string{"X-Usage": "42", "X-Other": "b"}, noKey: []string{"Transfer-Encoding"}},
		{name: "chunked without trailers", serve: answerEach("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
			status: 200, body: "abc", pooled: true, length: -1},
		{name: "chunked wins over content-length",
			serve:  answerEach("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
			status: 200, body: "abc", pooled: true, length: -1, noKey: []string{"Content-Length"}},
		{name: "truncated chunked", serve: answerOnce("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"),
			status: 200, body: "hel", bodyErr: io.ErrUnexpectedEOF, length: -1},
		{name: "truncated trailers", serve: answerOnce("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-A: 1\r\n"),
			status: 200, body: "abc", bodyErr: io.ErrUnexpectedEOF, length: -1},
		{name: "bad chunk size", serve: answerOnce("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
			status: 200, body: "", bodyErr: errAny, length: -1},
		{name: "trailers too many", opts: Options{MaxHeaderCount: 3},
			serve:  answerOnce("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n"),
			status: 200, body: "", bodyErr: ErrHeaderTooLarge, length: -1},
		{name: "close-delimited", serve: answerOnce("HTTP/1.1 200 OK\r\n\r\nuntil the end"),
			status: 200, body: "until the end", length: -1},
		{name: "connection close", serve: answerOnce("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"),
			status: 200, body: "ok", length: 2},
		{name: "http/1.0 without keep-alive", serve: answerOnce("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"),
			status: 200, body: "ok", length: 2},
		{name: "http/1.0 keep-alive", serve: answerEach("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"),
			status: 200, body: "ok", pooled: true, length: 2},
		{name: "http/1.0 ignores transfer-encoding", serve: answerOnce("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"),
			status: 200, body: "3\r\nabc\r\n", length: -1},
		{name: "no content", serve: answerEach("HTTP/1.1 204 No Content\r\n\r\n"), status: 204, pooled: true, length: 0},
		{name: "head keeps content-length", method: http.MethodHead, serve: answerEach("HTTP/1.1 200 OK\r\nContent-Length: 123\r\n\r\n"),
			status: 200, pooled: true, length: 123},
		{name: "1xx skipped",
			serve:  answerEach("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
			status: 200, body: "ok", pooled: true, length: 2, noKey: []string{"Link"}},
		{name: "too many 1xx", serve: answerOnce(strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 6) + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
			headErr: ErrMalformedResponse},
		{name: "101 refused", serve: answerOnce("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"), headErr: ErrMalformedResponse},
		{name: "duplicate equal content-length", serve: answerEach("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"),
			status: 200, body: "ok", pooled: true, length: 2},
		{name: "conflicting content-length", serve: answerOnce("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"),
			headErr: ErrMalformedResponse},
		{name: "signed content-length", serve: answerOnce("HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok"), headErr: ErrMalformedResponse},
		{name: "negative content-length", serve: answerOnce("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok"), headErr: ErrMalformedResponse},
		{name: "overflowing content-length", serve: answerOnce("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\nok"), headErr: ErrMalformedResponse},
		{name: "list content-length", serve: answerOnce("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok"), headErr: ErrMalformedResponse},
		{name: "unknown transfer-encoding", serve: answerOnce("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), headErr: ErrMalformedResponse},
		{name: "header line too large", opts: Options{MaxHeaderBytes: 1024},
			serve: answerOnce("HTTP/1.1 200 OK\r\nX-Big: " + big + "\r\nContent-Length: 0\r\n\r\n"), headErr: ErrHeaderTooLarge},
		{name: "endless header line", opts: Options{MaxHeaderBytes: 64 << 10},
			serve: func(c net.Conn, br *bufio.Reader) {
				readRequest(br)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: ")
				chunk := []byte(strings.Repeat("b", 4096))
				for i := 0; i < 10000; i++ { // 40 MB unless the client gives up
					if _, err := c.Write(chunk); err != nil {
						return
					}
					endlessWritten.Add(int64(len(chunk)))
				}
			}, headErr: ErrHeaderTooLarge},
		{name: "header total too large", opts: Options{MaxHeaderBytes: 4096},
			serve: answerOnce("HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: "+big[:100]+"\r\n", 50) + "\r\n"), headErr: ErrHeaderTooLarge},
		{name: "too many fields", opts: Options{MaxHeaderCount: 10},
			serve: answerOnce("HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: 1\r\n", 11) + "\r\n"), headErr: ErrHeaderTooLarge},
		{name: "duplicate fields kept", serve: answerEach("HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\nx-custom-thing:  v \r\nContent-Length: 0\r\n\r\n"),
			status: 200, pooled: true, length: 0,
			header: map[string][]string{"Set-Cookie": {"a=1", "b=2"}, "X-Custom-Thing": {"v"}}},
		{name: "folded header", serve: answerOnce("HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\n\r\n"), headErr: ErrMalformedResponse},
		{name: "space before colon", serve: answerOnce("HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n"), headErr: ErrMalformedResponse},
		{name: "no colon", serve: answerOnce("HTTP/1.1 200 OK\r\nX-A\r\n\r\n"), headErr: ErrMalformedResponse},
		{name: "control byte in value", serve: answerOnce("HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n"), headErr: ErrMalformedResponse},
		{name: "bad status line", serve: answerOnce("HTTP/2 200 OK\r\n\r\n"), headErr: ErrMalformedResponse},
		{name: "bad status code", serve: answerOnce("HTTP/1.1 2x0 OK\r\n\r\n"), headErr: ErrMalformedResponse},
		{name: "status without reason", serve: answerEach("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n"), status: 404, pooled: true, length: 0},
		{name: "bare LF line endings", serve: answerEach("HTTP/1.1 200 OK\nContent-Length: 2\n\nok"), status: 200, body: "ok", pooled: true, length: 2},
		{name: "truncated head", serve: answerOnce("HTTP/1.1 200 OK\r\nContent-Le"), headErr: io.ErrUnexpectedEOF},
		{name: "closed without answer", serve: answerOnce(""), headErr: errNoResponseByte},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawServer(t, tc.serve)
			tr := newTransport(tc.opts)
			defer tr.CloseIdleConnections()
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req, _ := http.NewRequest(method, srv.url()+"/v1/x", strings.NewReader(`{"a":1}`))
			if method == http.MethodHead {
				req.Body, req.ContentLength = nil, 0
			}
			resp, err := tr.RoundTrip(req)
			if tc.headErr != nil {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("RoundTrip: no error, want %v", tc.headErr)
				}
				if !errors.Is(err, tc.headErr) {
					t.Fatalf("RoundTrip: %v, want %v", err, tc.headErr)
				}
				srv.ln.Close()
				srv.wg.Wait()
				if n := endlessWritten.Load(); n > 16<<20 {
					t.Fatalf("the client read %d bytes of an endless header before giving up", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if resp.ContentLength != tc.length {
				t.Errorf("ContentLength %d, want %d", resp.ContentLength, tc.length)
			}
			for k, want := range tc.header {
				if got := resp.Header[k]; fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			for _, k := range tc.noKey {
				if _, ok := resp.Header[k]; ok {
					t.Errorf("header %s present: %q", k, resp.Header[k])
				}
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(got) != tc.body {
				t.Errorf("body %q, want %q", got, tc.body)
			}
			switch {
			case tc.bodyErr == errAny && err == nil:
				t.Errorf("body read: no error, want one")
			case tc.bodyErr != nil && tc.bodyErr != errAny && !errors.Is(err, tc.bodyErr):
				t.Errorf("body read: %v, want %v", err, tc.bodyErr)
			case tc.bodyErr == nil && err != nil:
				t.Errorf("body read: %v", err)
			}
			for k, want := range tc.trailer {
				if got := resp.Trailer.Get(k); got != want {
					t.Errorf("trailer %s = %q, want %q", k, got, want)
				}
			}
			idle := tr.IdleConns("http://" + srv.ln.Addr().String())
			if tc.pooled != (idle == 1) {
				t.Errorf("idle connections %d, want pooled=%v", idle, tc.pooled)
			}
			if tc.pooled {
				// The pooled connection serves the next request.
				req, _ := http.NewRequest(method, srv.url()+"/again", nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatalf("second request: %v", err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if n := srv.conns.Load(); n != 1 {
					t.Errorf("server saw %d connections, want 1 (reuse)", n)
				}
			}
		})
	}
}

// endlessWritten counts what the "endless header line" server wrote.
var endlessWritten atomic.Int64

// errAny stands for "some error" in TestResponses.
var errAny = errors.New("any error")

func TestRequestWriting(t *testing.T) {
	cases := []struct {
		name   string
		build  func(url string) *http.Request
		check  func(t *testing.T, r *http.Request, body []byte)
		errSub string // RoundTrip fails with this, nothing sent
	}{
		{name: "post with body", build: func(u string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, u+"/v1/chat/completions?x=1&y=%20", strings.NewReader(`{"m":1}`))
			r.Header.Set("Authorization", "Bearer k")
			r.Header["X-Multi"] = []string{"a", "b"}
			return r
		}, check: func(t *testing.T, r *http.Request, body []byte) {
			if r.Method != "POST" || r.RequestURI != "/v1/chat/completions?x=1&y=%20" {
				t.Errorf("request line %s %s", r.Method, r.RequestURI)
			}
			if r.ContentLength != 7 || string(body) != `{"m":1}` {
				t.Errorf("body %q length %d", body, r.ContentLength)
			}
			if r.Header.Get("Authorization") != "Bearer k" || fmt.Sprint(r.Header["X-Multi"]) != "[a b]" {
				t.Errorf("headers %v", r.Header)
			}
			if r.Header.Get("User-Agent") != defaultUserAgent {
				t.Errorf("User-Agent %q", r.Header.Get("User-Agent"))
			}
		}},
		{name: "host override and own user agent", build: func(u string) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, u+"/", nil)
			r.Host = "example.test"
			r.Header.Set("User-Agent", "mine")
			return r
		}, check: func(t *testing.T, r *http.Request, body []byte) {
			if r.Host != "example.test" || r.Header.Get("User-Agent") != "mine" || r.ContentLength != 0 {
				t.Errorf("host %q ua %q length %d", r.Host, r.Header.Get("User-Agent"), r.ContentLength)
			}
		}},
		{name: "post without body says length 0", build: func(u string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, u+"/", nil)
			return r
		}, check: func(t *testing.T, r *http.Request, body []byte) {
			if fmt.Sprint(r.Header["Content-Length"]) != "[0]" {
				t.Errorf("Content-Length %q", r.Header["Content-Length"])
			}
		}},
		{name: "client framing headers replaced", build: func(u string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, u+"/", strings.NewReader("abc"))
			r.Header.Set("Content-Length", "999")
			r.Header.Set("Transfer-Encoding", "chunked")
			r.Header.Set("Host", "evil")
			return r
		}, check: func(t *testing.T, r *http.Request, body []byte) {
			if string(body) != "abc" || r.ContentLength != 3 || len(r.TransferEncoding) != 0 || strings.Contains(r.Host, "evil") {
				t.Errorf("body %q length %d te %v host %q", body, r.ContentLength, r.TransferEncoding, r.Host)
			}
		}},
		{name: "CRLF in a value refused", build: func(u string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, u+"/", strings.NewReader("abc"))
			r.Header["X-A"] = []string{"v\r\nX-Injected: 1"}
			return r
		}, errSub: "invalid request"},
		{name: "bad header name refused", build: func(u string) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, u+"/", nil)
			r.Header["X A"] = []string{"v"}
			return r
		}, errSub: "invalid request"},
		{name: "bad method refused", build: func(u string) *http.Request {
			r, _ := http.NewRequest(http.MethodGet, u+"/", nil)
			r.Method = "GET /x HTTP/1.1\r\n"
			return r
		}, errSub: "invalid request"},
		{name: "short body refused", build: func(u string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, u+"/", strings.NewReader("abc"))
			r.ContentLength = 10
			return r
		}, errSub: "invalid request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan *http.Request, 1)
			gotBody := make(chan []byte, 1)
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				r, b, err := readRequest(br)
				if err != nil {
					return
				}
				got <- r
				gotBody <- b
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
			})
			tr := New(Options{})
			defer tr.CloseIdleConnections()
			resp, err := tr.RoundTrip(tc.build(srv.url()))
			if tc.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSub) {
					t.Fatalf("RoundTrip: %v, want %q", err, tc.errSub)
				}
				select {
				case r := <-got:
					t.Fatalf("server received %s %s", r.Method, r.RequestURI)
				case <-time.After(50 * time.Millisecond):
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			tc.check(t, <-got, <-gotBody)
		})
	}
}

func TestReuseAndConcurrency(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Query().Get("stream") != "" {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "data: %s %d\n\n", b, i)
				w.(http.Flusher).Flush()
			}
			return
		}
		w.Write(b)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	tr := New(Options{})
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	// Sequential requests share one connection.
	for i := 0; i < 20; i++ {
		resp, err := client.Post(srv.URL+"/", "text/plain", strings.NewReader(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != fmt.Sprint(i) {
			t.Fatalf("body %q, want %d", b, i)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 20 sequential requests, want 1", n)
	}

	// Concurrent requests, plain and chunked, each answer its own.
	const workers, each = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				msg := fmt.Sprintf("w%d-%d", w, i)
				u := srv.URL + "/"
				want := msg
				if i%2 == 1 {
					u += "?stream=1"
					want = fmt.Sprintf("data: %s 0\n\ndata: %s 1\n\ndata: %s 2\n\n", msg, msg, msg)
				}
				resp, err := client.Post(u, "text/plain", strings.NewReader(msg))
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != want {
					errs <- fmt.Errorf("body %q (%v), want %q", b, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := conns.Load(); n > workers+1 {
		t.Fatalf("%d connections for %d workers", n, workers)
	}
}

func TestStaleConnections(t *testing.T) {
	ok := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	cases := []struct {
		name string
		// closeIdle: the server closes each connection right after its
		// answer (found by the peek before reuse); else it reads the next
		// request's first bytes and closes without answering (the race a
		// peek cannot see).
		closeIdle bool
		method    string
		header    string // an idempotency header to send, if any
		replay    bool   // the request body can be replayed
		wantErr   bool
		wantConns int32
	}{
		{name: "idle connection closed by the server: found before use", closeIdle: true, method: "POST", replay: true, wantConns: 2},
		{name: "idle connection closed, body not replayable: still fine", closeIdle: true, method: "POST", wantConns: 2},
		{name: "POST read and dropped: never sent twice", method: "POST", replay: true, wantErr: true, wantConns: 1},
		{name: "POST with Idempotency-Key read and dropped: retried", method: "POST", header: "Idempotency-Key", replay: true, wantConns: 2},
		{name: "POST with X-Idempotency-Key read and dropped: retried", method: "POST", header: "X-Idempotency-Key", replay: true, wantConns: 2},
		{name: "idempotent POST whose body cannot be replayed: not retried", method: "POST", header: "Idempotency-Key", wantErr: true, wantConns: 1},
		{name: "GET read and dropped: retried", method: "GET", replay: true, wantConns: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var gotTwo atomic.Int32 // requests carrying "two" that reached the server
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				_, body, err := readRequest(br)
				if err != nil {
					return
				}
				if strings.Contains(string(body), "two") {
					gotTwo.Add(1)
				}
				io.WriteString(c, ok)
				if !tc.closeIdle {
					br.Peek(1)
				}
			})
			tr := New(Options{})
			defer tr.CloseIdleConnections()
			resp, err := post(t, tr, srv.url(), "one")
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
			if tc.closeIdle {
				time.Sleep(50 * time.Millisecond) // the server's FIN arrives
			}
			var rb io.Reader
			if tc.method == "POST" {
				rb = strings.NewReader("two")
			}
			req, _ := http.NewRequest(tc.method, srv.url(), rb)
			if tc.method == "GET" {
				req.Header.Set("X-Body", "two")
			}
			if tc.header != "" {
				req.Header.Set(tc.header, "k1")
			}
			if !tc.replay {
				req.GetBody = nil
			}
			resp, err = tr.RoundTrip(req)
			if tc.wantErr {
				if err == nil {
					resp.Body.Close()
					t.Fatal("no error")
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "ok" {
					t.Fatalf("body %q", b)
				}
			}
			if n := srv.conns.Load(); n != tc.wantConns {
				t.Fatalf("%d connections, want %d", n, tc.wantConns)
			}
			if tc.method == "POST" && tc.header == "" && gotTwo.Load() > 1 {
				t.Fatalf("a POST without an idempotency key reached the server %d times", gotTwo.Load())
			}
		})
	}
}

func TestFreshConnectionFailureNotRetried(t *testing.T) {
	srv := newRawServer(t, answerOnce(""))
	tr := New(Options{})
	_, err := post(t, tr, srv.url(), "x")
	if err == nil {
		t.Fatal("no error")
	}
	if n := srv.conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1: a fresh connection's failure is not retried", n)
	}
}

func TestIdlePool(t *testing.T) {
	t.Run("idle timeout", func(t *testing.T) {
		srv := newRawServer(t, answerEach("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
		tr := New(Options{IdleTimeout: 50 * time.Millisecond})
		key := "http://" + srv.ln.Addr().String()
		roundTrip := func() {
			resp, err := post(t, tr, srv.url(), "x")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		roundTrip()
		if n := tr.IdleConns(key); n != 1 {
			t.Fatalf("idle %d, want 1", n)
		}
		deadline := time.Now().Add(2 * time.Second)
		for tr.IdleConns(key) != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := tr.IdleConns(key); n != 0 {
			t.Fatalf("idle %d after the timeout, want 0 (swept)", n)
		}
		roundTrip()
		if n := srv.conns.Load(); n != 2 {
			t.Fatalf("%d connections, want 2 (the expired one not reused)", n)
		}
	})
	t.Run("expired connection not taken", func(t *testing.T) {
		srv := newRawServer(t, answerEach("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
		tr := New(Options{IdleTimeout: time.Hour})
		key := "http://" + srv.ln.Addr().String()
		resp, err := post(t, tr, srv.url(), "x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		tr.mu.Lock()
		tr.idle[key].conns[0].idleAt = time.Now().Add(-2 * time.Hour)
		tr.mu.Unlock()
		resp, err = post(t, tr, srv.url(), "x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if n := srv.conns.Load(); n != 2 {
			t.Fatalf("%d connections, want 2", n)
		}
		tr.CloseIdleConnections()
	})
	t.Run("max idle per host", func(t *testing.T) {
		release := make(chan struct{})
		srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
			for {
				if _, _, err := readRequest(br); err != nil {
					return
				}
				<-release
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
			}
		})
		tr := New(Options{MaxIdlePerHost: 2})
		defer tr.CloseIdleConnections()
		var wg sync.WaitGroup
		for i := 0; i < 5; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, srv.url(), strings.NewReader("x"))
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}()
		}
		for srv.conns.Load() < 5 {
			time.Sleep(5 * time.Millisecond)
		}
		close(release)
		wg.Wait()
		if n := tr.IdleConns("http://" + srv.ln.Addr().String()); n != 2 {
			t.Fatalf("idle %d, want 2", n)
		}
	})
}

func TestCancellation(t *testing.T) {
	cases := []struct {
		name  string
		serve func(net.Conn, *bufio.Reader)
		// cancelAfterHead cancels once the head is read, then reads.
		cancelAfterHead bool
	}{
		{name: "slow headers", serve: func(c net.Conn, br *bufio.Reader) {
			readRequest(br)
			io.WriteString(c, "HTTP/1.1 200 OK\r\n")
			io.Copy(io.Discard, br)
		}},
		{name: "mid body", cancelAfterHead: true, serve: func(c net.Conn, br *bufio.Reader) {
			readRequest(br)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
			io.Copy(io.Discard, br)
		}},
		{name: "mid chunked stream", cancelAfterHead: true, serve: func(c net.Conn, br *bufio.Reader) {
			readRequest(br)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\npartial\r\n")
			io.Copy(io.Discard, br)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRawServer(t, tc.serve)
			tr := New(Options{})
			defer tr.CloseIdleConnections()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.url(), strings.NewReader("x"))
			start := time.Now()
			if !tc.cancelAfterHead {
				time.AfterFunc(50*time.Millisecond, cancel)
				errc := make(chan error, 1)
				go func() {
					_, err := tr.RoundTrip(req)
					errc <- err
				}()
				var err error
				select {
				case err = <-errc:
				case <-time.After(3 * time.Second):
					t.Fatal("RoundTrip still blocked 3 s after the context was cancelled")
				}
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("RoundTrip: %v, want context.Canceled", err)
				}
			} else {
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 7)
				if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "partial" {
					t.Fatalf("first read %q %v", buf, err)
				}
				time.AfterFunc(50*time.Millisecond, cancel)
				errc := make(chan error, 1)
				go func() {
					_, err := io.ReadAll(resp.Body)
					errc <- err
				}()
				select {
				case err = <-errc:
				case <-time.After(3 * time.Second):
					resp.Body.Close()
					t.Fatal("body read still blocked 3 s after the context was cancelled")
				}
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("body read: %v, want context.Canceled", err)
				}
				resp.Body.Close()
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("cancellation took %v", d)
			}
			if n := tr.IdleConns("http://" + srv.ln.Addr().String()); n != 0 {
				t.Fatalf("%d idle connections after cancellation, want 0", n)
			}
		})
	}
	t.Run("context done before the request", func(t *testing.T) {
		srv := newRawServer(t, answerEach("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
		tr := New(Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.url(), strings.NewReader("x"))
		if _, err := tr.RoundTrip(req); !errors.Is(err, context.Canceled) {
			t.Fatalf("RoundTrip: %v", err)
		}
	})
	t.Run("cancel after a pooled body does not close the pooled connection", func(t *testing.T) {
		srv := newRawServer(t, answerEach("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
		tr := New(Options{})
		defer tr.CloseIdleConnections()
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.url(), strings.NewReader("x"))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		resp, err = post(t, tr, srv.url(), "y")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != "ok" {
			t.Fatalf("body %q %v", b, err)
		}
		if n := srv.conns.Load(); n != 1 {
			t.Fatalf("%d connections, want 1", n)
		}
	})
}

func TestEarlyCloseClosesConnection(t *testing.T) {
	closed := make(chan struct{})
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		readRequest(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
		for {
			if _, err := c.Write(make([]byte, 32<<10)); err != nil {
				close(closed)
				return
			}
		}
	})
	tr := New(Options{})
	resp, err := post(t, tr, srv.url(), "x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Read(make([]byte, 10))
	resp.Body.Close()
	if _, err := resp.Body.Read(make([]byte, 10)); err == nil {
		t.Fatal("read after Close succeeded")
	}
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("server still writing: connection not closed")
	}
	if n := tr.IdleConns("http://" + srv.ln.Addr().String()); n != 0 {
		t.Fatalf("idle %d, want 0", n)
	}
}

func TestFallback(t *testing.T) {
	var used atomic.Int32
	fb := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used.Add(1)
		return &http.Response{StatusCode: 299, Body: http.NoBody, Request: r}, nil
	})
	cases := []struct {
		name     string
		build    func() *http.Request
		proxy    bool
		fallback bool
	}{
		{name: "plain post", build: func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", strings.NewReader("x"))
			return r
		}},
		{name: "unknown length body", fallback: true, build: func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", io.NopCloser(strings.NewReader("x")))
			return r
		}},
		{name: "expect continue", fallback: true, build: func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", strings.NewReader("x"))
			r.Header.Set("Expect", "100-continue")
			return r
		}},
		{name: "upgrade", fallback: true, build: func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/", nil)
			r.Header.Set("Upgrade", "websocket")
			return r
		}},
		{name: "other scheme", fallback: true, build: func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, "ftp://127.0.0.1:1/", nil)
			return r
		}},
		{name: "through a proxy", proxy: true, fallback: true, build: func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/", nil)
			return r
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			used.Store(0)
			opts := Options{Fallback: fb, DialContext: func(context.Context, string, string) (net.Conn, error) {
				return nil, errors.New("dialed")
			}}
			if tc.proxy {
				opts.Proxy = func(*http.Request) (*url.URL, error) { return url.Parse("http://proxy:3128") }
			}
			resp, err := New(opts).RoundTrip(tc.build())
			if tc.fallback {
				if err != nil || resp.StatusCode != 299 || used.Load() != 1 {
					t.Fatalf("want the fallback: %v %v", resp, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "dialed") || used.Load() != 0 {
				t.Fatalf("want the lean transport: %v", err)
			}
		})
	}
	t.Run("no fallback", func(t *testing.T) {
		r, _ := http.NewRequest(http.MethodGet, "ftp://127.0.0.1:1/", nil)
		if _, err := New(Options{}).RoundTrip(r); !errors.Is(err, ErrUnsupported) {
			t.Fatalf("%v, want ErrUnsupported", err)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %d", r.Proto, r.ContentLength)
	}))
	defer srv.Close()
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	var dials atomic.Int32
	tr := New(Options{TLSConfig: &tls.Config{RootCAs: pool}, DialContext: func(ctx context.Context, n, a string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, n, a)
	}})
	defer tr.CloseIdleConnections()
	for i := 0; i < 3; i++ {
		resp, err := post(t, tr, srv.URL+"/", "hello")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "HTTP/1.1 5" {
			t.Fatalf("body %q", b)
		}
		if resp.TLS == nil || resp.TLS.NegotiatedProtocol != "http/1.1" {
			t.Fatalf("TLS state %+v", resp.TLS)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("%d dials, want 1", n)
	}
	// A certificate the pool does not trust is refused.
	bad := New(Options{})
	if _, err := post(t, bad, srv.URL+"/", "x"); err == nil || !strings.Contains(err.Error(), "TLS handshake") {
		t.Fatalf("untrusted certificate: %v", err)
	}
}

func TestWithHTTPClient(t *testing.T) {
	// http.Client on top: redirects not followed, bodies not decompressed.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		if r.Header.Get("Accept-Encoding") != "" {
			t.Errorf("Accept-Encoding %q sent", r.Header.Get("Accept-Encoding"))
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Write([]byte("not really gzip"))
	}))
	defer srv.Close()
	c := &http.Client{Transport: New(Options{}), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(srv.URL + "/redirect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d", resp.StatusCode)
	}
	resp, err = c.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "not really gzip" || resp.Uncompressed {
		t.Fatalf("body %q uncompressed %v", b, resp.Uncompressed)
	}
}

// countingConn counts the Write calls on a connection.
type countingConn struct {
	net.Conn
	writes *atomic.Int32
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func TestRequestLeavesInOneWrite(t *testing.T) {
	srv := newRawServer(t, answerEach("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	for _, size := range []int{0, 100, 4 << 10, 16 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			var writes atomic.Int32
			tr := New(Options{DialContext: func(ctx context.Context, n, a string) (net.Conn, error) {
				var d net.Dialer
				c, err := d.DialContext(ctx, n, a)
				return countingConn{c, &writes}, err
			}})
			defer tr.CloseIdleConnections()
			resp, err := post(t, tr, srv.url()+"/v1/chat/completions", strings.Repeat("x", size))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if n := writes.Load(); n != 1 {
				t.Fatalf("%d writes for a %d-byte body, want 1", n, size)
			}
		})
	}
}

func TestEarlyAnswerToALargeBody(t *testing.T) {
	// The server answers 413 after the head and closes without reading the
	// 8 MB body: the client must not block writing it, and reads the answer
	// that arrived before its write failed.
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbig")
		c.(*net.TCPConn).CloseWrite()
		time.Sleep(100 * time.Millisecond)
	})
	tr := New(Options{})
	done := make(chan struct{})
	var resp *http.Response
	var err error
	go func() {
		defer close(done)
		resp, err = post(t, tr, srv.url(), strings.Repeat("x", 8<<20))
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RoundTrip still writing 5 s after the server answered and closed")
	}
	if err != nil {
		t.Fatalf("RoundTrip: %v, want the server's 413", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
}
