package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"syscall"
)

// errNoResponseByte: the connection failed before the first byte of a
// response arrived.
var errNoResponseByte = errors.New("upstream: connection closed before any response byte")

// readResponse reads the response head for req from c, skipping 1xx
// responses, and frames its body. The body's connection fields are set by
// the caller.
func readResponse(c *conn, req *http.Request, o *Options) (*http.Response, error) {
	if _, err := c.br.Peek(1); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
			return nil, fmt.Errorf("%w: %w", errNoResponseByte, err)
		}
		return nil, err
	}
	budget := o.MaxHeaderBytes
	var scratch []byte
	for n1xx := 0; ; n1xx++ {
		resp, err := readHead(c.br, &budget, o.MaxHeaderCount, &scratch)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 {
			resp.Request = req
			resp.TLS = c.tls
			if err := frame(resp, c.br, req, o); err != nil {
				return nil, err
			}
			return resp, nil
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return nil, fmt.Errorf("%w: 101 Switching Protocols to a request that asked for no upgrade", ErrMalformedResponse)
		}
		if n1xx >= max1xx {
			return nil, fmt.Errorf("%w: more than %d informational responses", ErrMalformedResponse, max1xx)
		}
	}
}

// readHead reads a status line and header fields.
func readHead(br *bufio.Reader, budget *int, maxCount int, scratch *[]byte) (*http.Response, error) {
	line, err := readLine(br, budget, scratch)
	if err != nil {
		return nil, err
	}
	resp, err := parseStatusLine(line)
	if err != nil {
		return nil, err
	}
	resp.Header = make(http.Header, 8)
	if err := readFields(br, budget, maxCount, scratch, resp.Header); err != nil {
		return nil, err
	}
	return resp, nil
}

// parseStatusLine parses "HTTP/1.1 200 OK".
func parseStatusLine(line []byte) (*http.Response, error) {
	resp := &http.Response{ProtoMajor: 1}
	switch {
	case bytes.HasPrefix(line, []byte("HTTP/1.1 ")):
		resp.Proto, resp.ProtoMinor = "HTTP/1.1", 1
	case bytes.HasPrefix(line, []byte("HTTP/1.0 ")):
		resp.Proto = "HTTP/1.0"
	default:
		return nil, fmt.Errorf("%w: status line %q", ErrMalformedResponse, truncate(line))
	}
	rest := bytes.TrimLeft(line[len("HTTP/1.1 "):], " ")
	if len(rest) < 3 || (len(rest) > 3 && rest[3] != ' ') {
		return nil, fmt.Errorf("%w: status line %q", ErrMalformedResponse, truncate(line))
	}
	code := 0
	for _, d := range rest[:3] {
		if d < '0' || d > '9' {
			return nil, fmt.Errorf("%w: status code %q", ErrMalformedResponse, truncate(rest[:3]))
		}
		code = code*10 + int(d-'0')
	}
	if code < 100 {
		return nil, fmt.Errorf("%w: status code %d", ErrMalformedResponse, code)
	}
	if !validValue(string(rest)) {
		return nil, fmt.Errorf("%w: control byte in the status line", ErrMalformedResponse)
	}
	resp.StatusCode = code
	resp.Status = statusText(rest)
	return resp, nil
}

// statusText is Response.Status ("200 OK"), without an allocation for
// the most frequent one.
func statusText(rest []byte) string {
	if string(rest) == "200 OK" {
		return "200 OK"
	}
	return string(rest)
}

// readFields reads header (or trailer) fields into h up to the empty line.
func readFields(br *bufio.Reader, budget *int, maxCount int, scratch *[]byte, h http.Header) error {
	for count := 0; ; count++ {
		line, err := readLine(br, budget, scratch)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		if count >= maxCount {
			return fmt.Errorf("%w: more than %d fields", ErrHeaderTooLarge, maxCount)
		}
		if line[0] == ' ' || line[0] == '\t' {
			return fmt.Errorf("%w: folded header line", ErrMalformedResponse)
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			return fmt.Errorf("%w: header line %q", ErrMalformedResponse, truncate(line))
		}
		name, value := line[:i], trimOWSBytes(line[i+1:])
		for _, c := range name {
			if !isTokenByte(c) {
				return fmt.Errorf("%w: header name %q", ErrMalformedResponse, truncate(name))
			}
		}
		for _, c := range value {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return fmt.Errorf("%w: control byte in header %q", ErrMalformedResponse, truncate(name))
			}
		}
		key := canonicalKey(name)
		h[key] = append(h[key], internValue(value))
	}
}

// readLine returns the next line without its line ending, charging its
// length to *budget. The slice is valid until the next read of br.
func readLine(br *bufio.Reader, budget *int, scratch *[]byte) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		buf := append((*scratch)[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(buf) > *budget {
				return nil, ErrHeaderTooLarge
			}
			line, err = br.ReadSlice('\n')
			buf = append(buf, line...)
		}
		*scratch = buf
		line = buf
	}
	if len(line) > *budget {
		return nil, ErrHeaderTooLarge
	}
	*budget -= len(line)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// frame decides how resp's body is delimited and sets Body, ContentLength,
// TransferEncoding, Close and Trailer as net/http does.
func frame(resp *http.Response, br *bufio.Reader, req *http.Request, o *Options) error {
	h := resp.Header
	conn := h["Connection"]
	resp.Close = hasToken(conn, "close") || (resp.ProtoMinor == 0 && !hasToken(conn, "keep-alive"))
	b := &body{br: br, resp: resp, opts: o}
	resp.Body = b
	resp.ContentLength = -1
	code := resp.StatusCode
	if req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified {
		b.mode = bodyNone
		resp.ContentLength = 0
		if req.Method == http.MethodHead {
			if n, err := parseContentLength(h["Content-Length"]); err == nil && n >= 0 {
				resp.ContentLength = n
			}
		}
		return nil
	}
	if te := h["Transfer-Encoding"]; len(te) > 0 && resp.ProtoMinor >= 1 {
		if len(te) != 1 || !equalFoldASCII(trimOWS(te[0]), "chunked") {
			return fmt.Errorf("%w: unsupported transfer encoding %q", ErrMalformedResponse, te)
		}
		delete(h, "Transfer-Encoding")
		delete(h, "Content-Length")
		resp.TransferEncoding = []string{"chunked"}
		b.mode = bodyChunked
		b.chunks = newChunkReader(br)
		if names := h["Trailer"]; len(names) > 0 {
			resp.Trailer = make(http.Header)
			for _, v := range names {
				for _, n := range splitList(v) {
					if validToken(n) {
						resp.Trailer[canonicalKey([]byte(n))] = nil
					}
				}
			}
		}
		return nil
	}
	n, err := parseContentLength(h["Content-Length"])
	if err != nil {
		return err
	}
	if n >= 0 {
		resp.ContentLength = n
		b.mode, b.remaining = bodyLength, n
		if n == 0 {
			b.mode = bodyNone
		}
		return nil
	}
	b.mode = bodyUntilClose
	resp.Close = true
	return nil
}

// parseContentLength returns the length the fields state, -1 when there
// are none; repeated fields must agree.
func parseContentLength(vv []string) (int64, error) {
	if len(vv) == 0 {
		return -1, nil
	}
	first := trimOWS(vv[0])
	for _, v := range vv[1:] {
		if trimOWS(v) != first {
			return 0, fmt.Errorf("%w: conflicting Content-Length %q", ErrMalformedResponse, vv)
		}
	}
	if first == "" || len(first) > 18 {
		return 0, fmt.Errorf("%w: Content-Length %q", ErrMalformedResponse, first)
	}
	var n int64
	for i := 0; i < len(first); i++ {
		c := first[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: Content-Length %q", ErrMalformedResponse, first)
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

func trimOWSBytes(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

func equalFoldASCII(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		a, b := s[i], t[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// splitList splits a comma-separated field value, trimming each item.
func splitList(v string) []string {
	var out []string
	for v != "" {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		if item := trimOWS(v[:i]); item != "" {
			out = append(out, item)
		}
		if i == len(v) {
			break
		}
		v = v[i+1:]
	}
	return out
}

// canonicalKey is textproto's canonical form of a field name, without an
// allocation for the names upstreams usually send.
func canonicalKey(name []byte) string {
	if k, ok := commonKeys[string(name)]; ok {
		return k
	}
	return textproto.CanonicalMIMEHeaderKey(string(name))
}

var commonKeys = func() map[string]string {
	m := make(map[string]string)
	for _, k := range []string{
		"Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Alt-Svc", "Cache-Control",
		"Cf-Cache-Status", "Cf-Ray", "Connection", "Content-Encoding", "Content-Length", "Content-Type",
		"Date", "Etag", "Keep-Alive", "Openai-Model", "Openai-Organization", "Openai-Processing-Ms",
		"Openai-Version", "Request-Id", "Retry-After", "Server", "Set-Cookie", "Strict-Transport-Security",
		"Trailer", "Transfer-Encoding", "Vary", "Via", "X-Content-Type-Options", "X-Request-Id",
		"X-Ratelimit-Limit-Requests", "X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Requests",
		"X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Requests", "X-Ratelimit-Reset-Tokens",
		"Anthropic-Ratelimit-Requests-Limit", "Anthropic-Ratelimit-Requests-Remaining",
		"Anthropic-Ratelimit-Requests-Reset", "Anthropic-Ratelimit-Tokens-Limit",
		"Anthropic-Ratelimit-Tokens-Remaining", "Anthropic-Ratelimit-Tokens-Reset",
		"Anthropic-Organization-Id", "X-Envoy-Upstream-Service-Time", "Server-Timing",
	} {
		m[k] = k
		lower := []byte(k)
		for i, c := range lower {
			if 'A' <= c && c <= 'Z' {
				lower[i] = c + 'a' - 'A'
			}
		}
		m[string(lower)] = k
	}
	return m
}()

// internValue returns v as a string, shared for a few frequent values.
func internValue(v []byte) string {
	switch string(v) {
	case "application/json":
		return "application/json"
	case "text/event-stream":
		return "text/event-stream"
	case "keep-alive":
		return "keep-alive"
	case "close":
		return "close"
	case "chunked":
		return "chunked"
	case "no-cache":
		return "no-cache"
	case "nosniff":
		return "nosniff"
	}
	return string(v)
}
