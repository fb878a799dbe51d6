package h1

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// head is one request head in the lean subset, parsed.
type head struct {
	method     string
	requestURI string
	url        *url.URL
	header     http.Header
	host       string
	// contentLength is the declared body length, 0 when absent.
	contentLength int64
	close         bool
}

// maxContentLengthDigits bounds Content-Length to 15 digits (under 1 PB):
// the value always fits an int64 and a longer one goes to net/http.
const maxContentLengthDigits = 15

// headEnd reports where the head in b ends (the index just past its empty
// line), 0 when b does not hold a whole head yet, or -1 when b shows a line
// end outside the lean subset (a bare LF, or a CR not followed by LF). from
// is where the previous scan of the same bytes stopped.
func headEnd(b []byte, from int) (end, scanned int) {
	for i := from; i < len(b); i++ {
		switch b[i] {
		case '\r':
			if i+1 == len(b) {
				return 0, i
			}
			if b[i+1] != '\n' {
				return -1, i
			}
		case '\n':
			if i == 0 || b[i-1] != '\r' {
				return -1, i
			}
			if i >= 3 && b[i-2] == '\n' && b[i-3] == '\r' {
				return i + 1, i + 1
			}
			if i == 1 {
				// An empty first line: net/http decides what it means.
				return -1, i
			}
		}
	}
	return 0, len(b)
}

// parseHead parses a whole head (ending in CRLF CRLF, every line end a
// CRLF, as headEnd checked). ok is false for anything outside the lean
// subset; the caller then hands the connection to net/http, which answers
// as it always has.
func parseHead(s string) (h head, ok bool) {
	// Request line: METHOD SP origin-form SP HTTP/1.1 CRLF.
	method, rest, ok := cutMethod(s)
	if !ok {
		return h, false
	}
	i := 0
	for i < len(rest) && rest[i] != ' ' {
		c := rest[i]
		if c <= ' ' || c >= 0x7f {
			return h, false
		}
		i++
	}
	if i == 0 || rest[0] != '/' || i == len(rest) {
		return h, false
	}
	target := rest[:i]
	rest = rest[i+1:]
	const proto = "HTTP/1.1\r\n"
	if len(rest) < len(proto) || rest[:len(proto)] != proto {
		return h, false
	}
	rest = rest[len(proto):]
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return h, false
	}
	h.method, h.requestURI, h.url = method, target, u

	// Fields: token ":" OWS value OWS CRLF, up to the empty line.
	n := 0
	for j := 0; j+1 < len(rest); j++ {
		if rest[j] == '\r' {
			n++
		}
	}
	h.header = make(http.Header, n)
	values := make([]string, n)
	var hosts, lengths, conns int
	var clValue, connValue string
	for len(rest) > 2 {
		end := indexCRLF(rest)
		line := rest[:end]
		rest = rest[end+2:]
		colon := -1
		for k := 0; k < len(line); k++ {
			c := line[k]
			if c == ':' {
				colon = k
				break
			}
			if !isTokenByte(c) {
				return h, false
			}
		}
		if colon <= 0 {
			return h, false
		}
		value := strings.Trim(line[colon+1:], " \t") // OWS
		for k := 0; k < len(value); k++ {
			if c := value[k]; (c < ' ' && c != '\t') || c == 0x7f {
				return h, false
			}
		}
		key := canonicalKey(line[:colon])
		switch key {
		case "Host":
			hosts++
			if !validHost(value) {
				return h, false
			}
			h.host = value
			continue // net/http's server removes Host from the header
		case "Content-Length":
			lengths++
			clValue = value
		case "Connection":
			conns++
			connValue = value
		case "Transfer-Encoding", "Upgrade", "Expect", "Http2-Settings", "Trailer":
			return h, false
		}
		vv := h.header[key]
		if vv == nil {
			values[0] = value
			h.header[key] = values[:1:1]
			values = values[1:]
		} else {
			h.header[key] = append(vv, value)
		}
	}
	if hosts != 1 || lengths > 1 || conns > 1 {
		return h, false
	}
	if lengths == 1 {
		if len(clValue) == 0 || len(clValue) > maxContentLengthDigits {
			return h, false
		}
		var v int64
		for k := 0; k < len(clValue); k++ {
			c := clValue[k]
			if c < '0' || c > '9' {
				return h, false
			}
			v = v*10 + int64(c-'0')
		}
		h.contentLength = v
	}
	if conns == 1 {
		switch {
		case equalFold(connValue, "close"):
			h.close = true // net/http's server keeps the field
		case equalFold(connValue, "keep-alive"):
		default:
			return h, false
		}
	}
	// net/http's fixPragmaCacheControl.
	if hp := h.header["Pragma"]; len(hp) > 0 && hp[0] == "no-cache" {
		if _, ok := h.header["Cache-Control"]; !ok {
			h.header["Cache-Control"] = []string{"no-cache"}
		}
	}
	return h, true
}

// cutMethod splits the method and its space off s, for the methods the
// lean server serves. HEAD goes to net/http: its response framing differs.
func cutMethod(s string) (method, rest string, ok bool) {
	for _, m := range [...]string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		if len(s) > len(m) && s[len(m)] == ' ' && s[:len(m)] == m {
			return m, s[len(m)+1:], true
		}
	}
	return "", "", false
}

func indexCRLF(s string) int {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '\r' {
			return i // headEnd guaranteed the LF after it
		}
	}
	return len(s)
}

// equalFold reports whether s equals the lower-case ASCII word t, ignoring
// case.
func equalFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != t[i] {
			return false
		}
	}
	return true
}

// validHost is stricter than net/http's check (a subset of its bytes, and
// not empty), so a Host the lean server accepts net/http accepts too.
func validHost(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == ':', c == '[', c == ']', c == '_':
		default:
			return false
		}
	}
	return true
}

// isTokenByte reports whether c is a tchar (RFC 9110 section 5.6.2).
func isTokenByte(c byte) bool {
	return c < 0x80 && tokenTable[c]
}

var tokenTable = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// canonicalKey is textproto.CanonicalMIMEHeaderKey for a name of token
// bytes: upper case after the start and each '-', lower case elsewhere.
// It allocates only for a name that is neither frequent nor already
// canonical.
func canonicalKey(name string) string {
	var buf [64]byte
	if len(name) > len(buf) {
		return textproto.CanonicalMIMEHeaderKey(name) // token bytes: the same rule
	}
	b := buf[:len(name)]
	same := true
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		upper = c == '-'
		b[i] = c
		if c != name[i] {
			same = false
		}
	}
	if k, ok := commonKeys[string(b)]; ok {
		return k
	}
	if same {
		return name
	}
	return string(b)
}

var commonKeys = func() map[string]string {
	m := make(map[string]string)
	for _, k := range []string{
		"Accept", "Accept-Encoding", "Accept-Language", "Anthropic-Beta", "Anthropic-Version",
		"Authorization", "Cache-Control", "Connection", "Content-Encoding", "Content-Length",
		"Content-Type", "Cookie", "Host", "If-Match", "If-None-Match", "Openai-Organization",
		"Openai-Project", "Origin", "Pragma", "Referer", "Traceparent", "User-Agent",
		"X-Api-Key", "X-Forwarded-For", "X-Goog-Api-Key", "X-Request-Id", "X-Stainless-Arch",
		"X-Stainless-Lang", "X-Stainless-Os", "X-Stainless-Package-Version",
		"X-Stainless-Retry-Count", "X-Stainless-Runtime", "X-Stainless-Runtime-Version",
		"X-Stainless-Timeout", "Transfer-Encoding", "Upgrade", "Expect", "Http2-Settings", "Trailer",
	} {
		m[k] = k
	}
	return m
}()
