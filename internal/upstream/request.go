package upstream

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// invalidRequestError is a request that cannot be written: a header name
// or value that would break the framing, or a bad method.
type invalidRequestError struct{ msg string }

func (e *invalidRequestError) Error() string { return "upstream: invalid request: " + e.msg }

// defaultUserAgent is what net/http sends when the request sets none.
const defaultUserAgent = "Go-http-client/1.1"

// skipHeader are request header fields the writer sets itself.
func skipHeader(k string) bool {
	switch k {
	case "Host", "Content-Length", "Transfer-Encoding", "Trailer", "Connection":
		return true
	}
	return false
}

// checkRequest refuses what would break the request's framing, before a
// byte is written.
func checkRequest(req *http.Request) error {
	if req.Method != "" && !validToken(req.Method) {
		return &invalidRequestError{"method " + strconv.Quote(req.Method)}
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !validValue(host) {
		return &invalidRequestError{"host " + strconv.Quote(host)}
	}
	for k, vv := range req.Header {
		if !validToken(k) {
			return &invalidRequestError{"header name " + strconv.Quote(k)}
		}
		for _, v := range vv {
			if !validValue(v) {
				return &invalidRequestError{"value of header " + k}
			}
		}
	}
	return nil
}

// writeRequest writes req's head and body to w (not flushed).
func writeRequest(w *bufio.Writer, req *http.Request) error {
	if err := checkRequest(req); err != nil {
		return err
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	w.WriteString(method)
	w.WriteByte(' ')
	w.WriteString(req.URL.RequestURI())
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	if _, ok := req.Header["User-Agent"]; !ok {
		w.WriteString("User-Agent: " + defaultUserAgent + "\r\n")
	}
	hasBody := req.Body != nil && req.Body != http.NoBody && req.ContentLength > 0
	if hasBody {
		w.WriteString("Content-Length: ")
		w.WriteString(strconv.FormatInt(req.ContentLength, 10))
		w.WriteString("\r\n")
	} else if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		w.WriteString("Content-Length: 0\r\n")
	}
	if wantsClose(req) {
		w.WriteString("Connection: close\r\n")
	}
	for k, vv := range req.Header {
		if skipHeader(k) {
			continue
		}
		for _, v := range vv {
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(trimOWS(v))
			w.WriteString("\r\n")
		}
	}
	if _, err := w.WriteString("\r\n"); err != nil {
		return err
	}
	if !hasBody {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil
	}
	n, err := io.Copy(w, io.LimitReader(req.Body, req.ContentLength))
	req.Body.Close()
	if err != nil {
		return err
	}
	if n != req.ContentLength {
		return &invalidRequestError{fmt.Sprintf("body is %d bytes, ContentLength %d", n, req.ContentLength)}
	}
	return nil
}

// validToken reports whether s is an RFC 9110 token (a field name or method).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

func isTokenByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// validValue reports whether s may be a field value: no control bytes but
// horizontal tab (so no CR or LF to smuggle a field or a request in).
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// trimOWS trims optional whitespace (spaces and tabs) at both ends.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// wantsClose reports whether req asks for its connection to be closed
// after the response.
func wantsClose(req *http.Request) bool {
	return req.Close || hasToken(req.Header["Connection"], "close")
}

// hasToken reports whether the comma-separated lists vv hold token, in any
// case.
func hasToken(vv []string, token string) bool {
	for _, v := range vv {
		for v != "" {
			var item string
			item, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(trimOWS(item), token) {
				return true
			}
		}
	}
	return false
}
