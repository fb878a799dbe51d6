package h1

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// response is the http.ResponseWriter of one lean request. Framing
// follows net/http: a handler-set Content-Length is honoured; otherwise
// the body is buffered (up to 4 KiB) and, if the handler returns without
// flushing, sent with a Content-Length; after a Flush or a larger body,
// chunked. It does not implement http.Hijacker: upgrades never reach the
// lean server (an Upgrade head goes to net/http), and ResponseController's
// Hijack answers http.ErrNotSupported.
type response struct {
	c    *conn
	req  *http.Request
	body *body

	handlerHeader http.Header
	frozen        http.Header // the header as of WriteHeader, when Header is called after it

	status        int
	wroteHeader   bool // the status is decided
	committed     bool // the head is in the write buffer
	chunked       bool
	bodyAllowed   bool
	contentLength int64 // handler-set, or -1
	written       int64
	closeAfter    bool
	fullDuplex    bool
	done          bool // the handler returned
	err           error
}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
)

// responseFields is the handler header's initial size.
const responseFields = 16

func (w *response) Header() http.Header {
	if w.handlerHeader == nil {
		// A proxied answer carries a dozen fields or more (request id,
		// x-ratelimit-*, X-Sluice-*, content type and length): sized
		// once, the map does not grow twice on the way.
		w.handlerHeader = make(http.Header, responseFields)
	}
	if w.wroteHeader && !w.committed && w.frozen == nil {
		w.frozen = w.handlerHeader.Clone()
	}
	return w.handlerHeader
}

func (w *response) WriteHeader(code int) {
	if w.done {
		w.c.srv.logf("h1: WriteHeader after the handler returned")
		return
	}
	if w.wroteHeader {
		w.c.srv.logf("http: superfluous response.WriteHeader call")
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	w.wroteHeader = true
	w.status = code
	w.bodyAllowed = bodyAllowedForStatus(code)
	if w.handlerHeader != nil {
		if cl := w.handlerHeader.Get("Content-Length"); cl != "" {
			v, err := strconv.ParseInt(cl, 10, 64)
			if err == nil && v >= 0 {
				w.contentLength = v
			} else {
				w.c.srv.logf("http: invalid Content-Length of %q", cl)
				w.handlerHeader.Del("Content-Length")
			}
		}
	}
}

// writeInformational sends a 1xx response at once, with the header as it
// stands (RFC 8297), and leaves the header in place.
func (w *response) writeInformational(code int) {
	bw := w.c.b.bw
	_, _ = bw.WriteString(statusLine(code))
	writeFields(bw, w.handlerHeader, func(k string) bool {
		return k == "Content-Length" || k == "Transfer-Encoding"
	})
	_, _ = bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		w.fail(err)
	}
}

func (w *response) Write(p []byte) (int, error) {
	if w.done {
		return 0, errWriteAfterHandler
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !w.bodyAllowed {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(len(p))
	if w.contentLength != -1 && w.written > w.contentLength {
		return 0, http.ErrContentLength
	}
	if w.err != nil {
		return 0, w.err
	}
	c := w.c
	if !w.committed {
		if c.body == nil && len(p) <= bufSize {
			c.holdBody()
		}
		if c.body != nil && len(c.body)+len(p) <= cap(c.body) {
			c.body = append(c.body, p...)
			return len(p), nil
		}
		w.writeHead(false, p)
		w.writeBody(c.body, p)
		c.releaseBody()
	} else {
		w.writeBody(p, nil)
	}
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

// writeBody writes p then q (either may be empty) as one piece of body,
// one chunk when chunked.
func (w *response) writeBody(p, q []byte) {
	n := len(p) + len(q)
	if n == 0 {
		return
	}
	bw := w.c.b.bw
	if w.chunked {
		var hex [20]byte
		_, _ = bw.Write(strconv.AppendInt(hex[:0], int64(n), 16))
		_, _ = bw.WriteString("\r\n")
	}
	_, _ = bw.Write(p)
	_, _ = bw.Write(q)
	if w.chunked {
		_, _ = bw.WriteString("\r\n")
	}
	if _, err := bw.Write(nil); err != nil {
		w.fail(err) // bufio.Writer keeps its first error
	}
}

func (w *response) fail(err error) {
	if w.err == nil {
		w.err = err
	}
	w.closeAfter = true
}

// writeHead puts the status line and fields in the write buffer. final:
// the handler returned, so the buffered body is the whole body.
func (w *response) writeHead(final bool, next []byte) {
	w.committed = true
	if w.req.ContentLength != 0 && !w.closeAfter && !w.fullDuplex && w.body.prepareForResponse() {
		w.closeAfter = true
	}
	h := w.frozen
	if h == nil {
		h = w.handlerHeader
	}
	if w.c.srv.shutdown.Load() {
		w.closeAfter = true
	}
	if hasToken(h["Connection"], "close") {
		w.closeAfter = true
	}
	code := w.status
	pending := w.c.body
	te := ""
	if v := h["Transfer-Encoding"]; len(v) > 0 {
		te = v[0]
	}
	_, hasCL := h["Content-Length"]
	trailers := len(h["Trailer"]) > 0
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			trailers = true
		}
	}
	setCL := int64(-1)
	switch {
	case !w.bodyAllowed || code == http.StatusNoContent:
	case w.contentLength != -1 || hasCL:
	case final && te == "" && !trailers:
		setCL = int64(len(pending))
	case te == "identity":
		w.closeAfter = true
	default:
		w.chunked = true
	}
	var contentType string
	if w.bodyAllowed {
		if _, ok := h["Content-Type"]; !ok && te == "" && len(pending)+len(next) > 0 && headerGet(h, "Content-Encoding") == "" {
			contentType = sniff(pending, next)
		}
	}

	bw := w.c.b.bw
	_, _ = bw.WriteString(statusLine(code))
	writeFields(bw, h, func(k string) bool {
		switch k {
		case "Transfer-Encoding":
			return true
		case "Connection":
			return w.closeAfter
		case "Content-Length":
			return !w.bodyAllowed
		case "Content-Type":
			return code == http.StatusNotModified
		}
		return strings.HasPrefix(k, http.TrailerPrefix)
	})
	if _, ok := h["Date"]; !ok {
		_, _ = bw.Write(dateLine())
	}
	if setCL >= 0 {
		_, _ = bw.WriteString("Content-Length: ")
		var num [20]byte
		_, _ = bw.Write(strconv.AppendInt(num[:0], setCL, 10))
		_, _ = bw.WriteString("\r\n")
	}
	if contentType != "" {
		_, _ = bw.WriteString("Content-Type: ")
		_, _ = bw.WriteString(contentType)
		_, _ = bw.WriteString("\r\n")
	}
	if w.closeAfter {
		_, _ = bw.WriteString("Connection: close\r\n")
	}
	if w.chunked {
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	_, _ = bw.WriteString("\r\n")
}

// finish completes the response after the handler returned.
func (w *response) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	b := w.c.b
	if !w.committed {
		w.writeHead(true, nil)
		if w.bodyAllowed {
			w.writeBody(w.c.body, nil)
		}
		w.c.releaseBody()
	}
	if w.chunked {
		_, _ = b.bw.WriteString("0\r\n")
		if w.handlerHeader != nil {
			writeFields(b.bw, w.finalTrailers(), func(string) bool { return false })
		}
		_, _ = b.bw.WriteString("\r\n")
	}
	if w.bodyAllowed && w.contentLength != -1 && w.written != w.contentLength {
		w.closeAfter = true // the client would wait for the rest
	}
	if err := b.bw.Flush(); err != nil {
		w.fail(err)
	}
	w.done = true
}

// Flush sends what the handler wrote so far; the response is chunked
// from then on unless the handler set a Content-Length.
func (w *response) Flush() { _ = w.FlushError() }

// FlushError is Flush, reporting a write error (for ResponseController).
func (w *response) FlushError() error {
	if w.done {
		return errWriteAfterHandler
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	b := w.c.b
	if !w.committed {
		w.writeHead(false, nil)
		w.writeBody(w.c.body, nil)
		w.c.releaseBody()
	}
	if w.err != nil {
		return w.err
	}
	if err := b.bw.Flush(); err != nil {
		w.fail(err)
		return err
	}
	return nil
}

// SetReadDeadline is for ResponseController: it holds until the handler
// returns.
func (w *response) SetReadDeadline(t time.Time) error {
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rdDeadline, c.rdDirty = t, true
	return c.rwc.SetReadDeadline(t)
}

// SetWriteDeadline is for ResponseController: it holds until the handler
// returns.
func (w *response) SetWriteDeadline(t time.Time) error {
	w.c.wrDirty = true
	return w.c.rwc.SetWriteDeadline(t)
}

// EnableFullDuplex is for ResponseController: the handler may read the
// body while writing the response; an unread rest is then not drained
// before the head is written.
func (w *response) EnableFullDuplex() error {
	w.fullDuplex = true
	return nil
}

func bodyAllowedForStatus(code int) bool {
	switch {
	case code >= 100 && code <= 199:
		return false
	case code == http.StatusNoContent, code == http.StatusNotModified:
		return false
	}
	return true
}

// writeFields writes h sorted by key as net/http does: invalid names are
// dropped, CR and LF in values become spaces, values are trimmed.
func writeFields(bw interface {
	WriteString(string) (int, error)
}, h http.Header, skip func(string) bool) {
	var arr [24]string
	keys := arr[:0]
	for k := range h {
		if !skip(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !validFieldName(k) {
			continue
		}
		for _, v := range h[k] {
			if strings.ContainsAny(v, "\r\n") {
				v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
			}
			v = strings.Trim(v, " \t")
			_, _ = bw.WriteString(k)
			_, _ = bw.WriteString(": ")
			_, _ = bw.WriteString(v)
			_, _ = bw.WriteString("\r\n")
		}
	}
}

func validFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isTokenByte(k[i]) {
			return false
		}
	}
	return true
}

func headerGet(h http.Header, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// hasToken reports whether a comma-separated list in vv holds token,
// ignoring case.
func hasToken(vv []string, token string) bool {
	for _, v := range vv {
		for part := range strings.SplitSeq(v, ",") {
			if equalFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

var statusLines = func() map[int]string {
	m := make(map[int]string)
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			m[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n"
		}
	}
	return m
}()

func statusLine(code int) string {
	if s, ok := statusLines[code]; ok {
		return s
	}
	return fmt.Sprintf("HTTP/1.1 %03d status code %d\r\n", code, code)
}

type dateEntry struct {
	sec  int64
	line []byte
}

var dateCache atomic.Pointer[dateEntry]

// dateLine is the Date field for now, formatted once a second.
func dateLine() []byte {
	now := time.Now()
	sec := now.Unix()
	if d := dateCache.Load(); d != nil && d.sec == sec {
		return d.line
	}
	line := now.UTC().AppendFormat([]byte("Date: "), http.TimeFormat)
	line = append(line, "\r\n"...)
	dateCache.Store(&dateEntry{sec: sec, line: line})
	return line
}

// sniff is http.DetectContentType of the body's start: the buffered bytes
// and then the bytes being written.
func sniff(pending, next []byte) string {
	const sniffLen = 512 // what DetectContentType reads
	if len(pending) >= sniffLen || len(next) == 0 {
		return http.DetectContentType(pending)
	}
	if len(pending) == 0 {
		return http.DetectContentType(next)
	}
	var buf [sniffLen]byte
	n := copy(buf[:], pending)
	n += copy(buf[n:], next)
	return http.DetectContentType(buf[:n])
}

// finalTrailers are the trailer fields to send after the last chunk, as
// net/http picks them: the names the Trailer field declared, and those set
// with http.TrailerPrefix.
func (w *response) finalTrailers() http.Header {
	h := w.handlerHeader
	var t http.Header
	for k, vv := range h {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			if t == nil {
				t = make(http.Header)
			}
			t[name] = vv
		}
	}
	declared := w.frozen
	if declared == nil {
		declared = h
	}
	for _, v := range declared["Trailer"] {
		for name := range strings.SplitSeq(v, ",") {
			name = http.CanonicalHeaderKey(strings.TrimSpace(name))
			switch name {
			case "", "Transfer-Encoding", "Trailer", "Content-Length":
				continue
			}
			if vv, ok := h[name]; ok {
				if t == nil {
					t = make(http.Header)
				}
				t[name] = vv
			}
		}
	}
	return t
}
