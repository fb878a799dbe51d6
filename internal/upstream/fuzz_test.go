package upstream

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
)

// FuzzReadResponse feeds arbitrary bytes to the response parser and body
// framing: no panic, no read past the bounds, and a parsed response always
// has a valid status and a readable body.
func FuzzReadResponse(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-A\r\n\r\n5;e=1\r\nhello\r\n0\r\nX-A: 1\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
		"HTTP/1.1 999 Whatever\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		opts := Options{MaxHeaderBytes: 1024, MaxHeaderCount: 16}
		client, server := net.Pipe()
		defer client.Close()
		defer server.Close()
		c := &conn{nc: client, br: bufio.NewReaderSize(bytes.NewReader(data), 64)}
		method := http.MethodPost
		if head {
			method = http.MethodHead
		}
		req, _ := http.NewRequest(method, "http://x/", nil)
		resp, err := readResponse(c, req, &opts)
		if err != nil {
			return
		}
		if resp.StatusCode < 200 || resp.StatusCode > 999 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		b := resp.Body.(*body)
		b.c, b.stop = c, func() bool { return false }
		n, _ := io.Copy(io.Discard, b)
		if n > int64(len(data)) {
			t.Fatalf("read %d body bytes from %d input bytes", n, len(data))
		}
		if resp.ContentLength >= 0 && !head && n > resp.ContentLength {
			t.Fatalf("read %d bytes past Content-Length %d", n, resp.ContentLength)
		}
	})
}
