package h1

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// view is what the echo handler saw of a request.
type view struct {
	Method, URL, Path, RawPath, RawQuery, Proto, Host, RequestURI string
	ProtoMajor, ProtoMinor                                        int
	Header                                                        http.Header
	ContentLength                                                 int64
	Close                                                         bool
	TransferEncoding                                              []string
	Body, BodyErr                                                 string
	RemoteIP                                                      string
	// Writer names the ResponseWriter: which server answered. It is not
	// compared; the table says which cases the lean server must serve.
	Writer string `json:"-"`
}

func echo(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	v := view{Method: r.Method, URL: r.URL.String(), Path: r.URL.Path, RawPath: r.URL.RawPath,
		RawQuery: r.URL.RawQuery, Proto: r.Proto, Host: r.Host, RequestURI: r.RequestURI,
		ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor, Header: r.Header,
		ContentLength: r.ContentLength, Close: r.Close, TransferEncoding: r.TransferEncoding,
		Body: string(b)}
	if err != nil {
		v.BodyErr = err.Error()
	}
	v.RemoteIP, _, _ = net.SplitHostPort(r.RemoteAddr)
	out, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Writer", fmt.Sprintf("%T", w))
	_, _ = w.Write(out)
}

type pair struct{ net, lean string }

var (
	pairOnce sync.Once
	pairAddr pair
)

// servers starts, once per test binary, a plain net/http server and a
// lean one with the same echo handler and limits.
func servers(t testing.TB) pair {
	pairOnce.Do(func() {
		quiet := log.New(io.Discard, "", 0)
		mk := func() *http.Server {
			return &http.Server{Handler: http.HandlerFunc(echo), ReadHeaderTimeout: 2 * time.Second,
				IdleTimeout: 5 * time.Second, MaxHeaderBytes: 8 << 10, ErrorLog: quiet}
		}
		ln1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		ln2, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		go func() { _ = mk().Serve(ln1) }()
		go func() { _ = New(mk()).Serve(ln2) }()
		pairAddr = pair{ln1.Addr().String(), ln2.Addr().String()}
	})
	return pairAddr
}

// outcome is what a client saw: each response in order, then how the
// connection ended.
type outcome struct {
	Responses []respView
	End       string // "closed" or "open"
	// Lean says whether the lean server wrote the first response.
	Lean bool `json:"-"`
}

type respView struct {
	Status      string
	Close       bool
	ContentType string
	Body        string
}

// roundTrip sends raw over a fresh connection, half-closes, and reads
// every response until the server closes (or 5 s pass).
func roundTrip(t testing.TB, addr string, raw []byte) outcome {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		// Half the inputs arrive in two reads, split where a hash of the
		// bytes says, so that heads cut anywhere are parsed too.
		h := fnv.New32a()
		_, _ = h.Write(raw)
		if sum := h.Sum32(); sum%2 == 1 && len(raw) > 1 {
			split := 1 + int(sum/2)%(len(raw)-1)
			_, _ = c.Write(raw[:split])
			time.Sleep(time.Millisecond)
			raw = raw[split:]
		}
		_, _ = c.Write(raw)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	data, err := io.ReadAll(c)
	var o outcome
	o.End = "closed"
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		o.End = "open"
	}
	br := bufio.NewReader(bytes.NewReader(data))
	for i := 0; ; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		b, _ := io.ReadAll(resp.Body)
		if i == 0 {
			o.Lean = resp.Header.Get("X-Writer") == "*h1.response"
		}
		o.Responses = append(o.Responses, respView{Status: resp.Status, Close: resp.Close,
			ContentType: resp.Header.Get("Content-Type"), Body: string(b)})
	}
	return o
}

func compare(t testing.TB, raw []byte) (lean bool) {
	p := servers(t)
	want := roundTrip(t, p.net, raw)
	got := roundTrip(t, p.lean, raw)
	wj, _ := json.MarshalIndent(want, "", " ")
	gj, _ := json.MarshalIndent(got, "", " ")
	if !bytes.Equal(wj, gj) {
		t.Errorf("request %q:\nnet/http: %s\nlean:     %s", raw, wj, gj)
	}
	return got.Lean
}

const okHost = "Host: a.example:8080\r\n"

// diffCases are raw requests; lean says whether the lean server must serve
// the first request itself (false: it must hand off).
var diffCases = []struct {
	name string
	raw  string
	lean bool
}{
	{"get", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"get query escapes", "GET /a%2Fb/c%20d?x=1&y=%20#frag HTTP/1.1\r\n" + okHost + "User-Agent: t\r\nX-Multi: 1\r\nx-multi: 2\r\n\r\n", true},
	{"double slash target", "GET //evil.example/p HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"dot segments", "GET /a/../b/./c HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"escaped nul", "GET /%00?q=%zz HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"post body", "POST /v1/chat/completions HTTP/1.1\r\n" + okHost + "Content-Length: 5\r\ncontent-TYPE: application/json\r\n\r\nhello", true},
	{"all methods", "PUT /p HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nxPATCH /p HTTP/1.1\r\nHost: a\r\n\r\nDELETE /p HTTP/1.1\r\nHost: a\r\n\r\nOPTIONS /p HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"ows and empty values", "GET / HTTP/1.1\r\nHost:a\r\nX-A:   v  \t\r\nX-E:\r\nX-T:\tt\t\r\n\r\n", true},
	{"token names", "GET / HTTP/1.1\r\nHost: a\r\nx!#$%&'*+.^_`|~-k: v\r\nx-weird_KEY: w\r\n\r\n", true},
	{"long name", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("ab-", 30) + "z: v\r\n\r\n", true},
	{"obs-text value", "GET / HTTP/1.1\r\nHost: a\r\nX-U: h\xc3\xa9\xff\r\n\r\n", true},
	{"pragma", "GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n", true},
	{"pragma with cache-control", "GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\nCache-Control: max-age=1\r\n\r\n", true},
	{"connection close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"connection CLOSE", "GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\nGET /never HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"connection keep-alive", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"connection list", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"connection upgrade", "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", false},
	{"two connection fields", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"cl on get", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", true},
	{"cl zero", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", true},
	{"cl leading zeros", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 003\r\n\r\nabc", true},
	{"cl ows", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  3 \r\n\r\nabc", true},

	// Framing that goes to net/http.
	{"cl and te", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"te and cl", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"te chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false},
	{"te Chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false},
	{"te identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc", false},
	{"te gzip chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", false},
	{"te lower name", "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n", false},
	{"two cl same", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", false},
	{"two cl different", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde", false},
	{"cl list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc", false},
	{"cl plus", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", false},
	{"cl minus", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\nabc", false},
	{"cl inner space", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\nabc", false},
	{"cl empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\nabc", false},
	{"cl hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc", false},
	{"cl 20 digits", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 00000000000000000003\r\n\r\nabc", false},
	{"cl huge", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\nabc", false},
	{"cl truncated body", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", true},
	{"body longer than cl", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /next HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"body overruns into bad request", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nabcGET /next HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"pipelined gets", "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"pipelined post get", "POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbodyGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"pipelined lean then fallback", "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"crlf after post", "POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"crlf after get", "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", true},
	{"two bytes after a request", "GET / HTTP/1.1\r\nHost: a\r\n\r\n0\n", true},
	{"four bytes after a request", "GET / HTTP/1.1\r\nHost: a\r\n\r\n1.1\"", true},
	{"expect continue", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc", false},
	{"expect other", "POST / HTTP/1.1\r\nHost: a\r\nExpect: nonsense\r\nContent-Length: 3\r\n\r\nabc", false},
	{"upgrade h2c", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", false},
	{"upgrade alone", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", false},
	{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false},
	{"trailer field", "POST / HTTP/1.1\r\nHost: a\r\nTrailer: X-T\r\nContent-Length: 1\r\n\r\nx", false},

	// Heads that go to net/http.
	{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n", false},
	{"obs-fold tab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n\tb\r\n\r\n", false},
	{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", false},
	{"space before colon cl", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 3\r\n\r\nabc", false},
	{"nul in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n", false},
	{"cr in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n", false},
	{"lf in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\nb\r\n\r\n", false},
	{"del in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x7fb\r\n\r\n", false},
	{"bare lf", "GET / HTTP/1.1\nHost: a\n\n", false},
	{"bare lf last", "GET / HTTP/1.1\r\nHost: a\r\n\n", false},
	{"bare cr", "GET / HTTP/1.1\rHost: a\r\n\r\n", false},
	{"lowercase proto", "GET / http/1.1\r\nHost: a\r\n\r\n", false},
	{"http 1.0", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", false},
	{"http 1.0 no host keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n", false},
	{"http 0.9", "GET /\r\n\r\n", false},
	{"http 1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", false},
	{"http 2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", false},
	{"absolute form", "GET http://b.example/x?y HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"authority form", "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", false},
	{"head", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"other token method", "PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"lowercase method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"invalid method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"method prefix", "GETX / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"double space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", false},
	{"space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"8-bit target", "GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"bad escape", "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"missing host", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", false},
	{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false},
	{"two hosts same", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", false},
	{"empty host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", false},
	{"host slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", false},
	{"host space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", false},
	{"bad name", "GET / HTTP/1.1\r\nHost: a\r\nX(a): b\r\n\r\n", false},
	{"8-bit name", "GET / HTTP/1.1\r\nHost: a\r\nX\xe9: b\r\n\r\n", false},
	{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", false},
	{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nFoo\r\n\r\n", false},
	{"leading empty line", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", false},
	{"oversize head", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("a", 20<<10) + "\r\n\r\n", false},
	{"head over 4 KiB under the limit", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("a", 5<<10) + "\r\n\r\n", false},
	{"many headers", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-N: 1\r\n", 2000) + "\r\n", false},
	{"partial head", "GET / HTTP/1.1\r\nHost: a\r\n", false},
	{"partial request line", "GET / HT", false},
	{"empty", "", false},
	{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", false},
}

func TestDifferential(t *testing.T) {
	for _, tc := range diffCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lean := compare(t, []byte(tc.raw))
			if lean != tc.lean {
				t.Errorf("lean server served the first request: %v, want %v", lean, tc.lean)
			}
		})
	}
}

func FuzzServe(f *testing.F) {
	for _, tc := range diffCases {
		f.Add([]byte(tc.raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 16<<10 {
			return
		}
		compare(t, raw)
	})
}
