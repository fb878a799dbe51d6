package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
	"unsafe"

	"github.com/tidwall/gjson"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/jsonlimit"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/meter"
	"github.com/sluicehq/sluice/internal/provider"
)

// Memory bound of a non-streamed pass-through answer. An answer of up to
// wholeBody bytes is read whole, checked to be complete JSON and metered
// before a byte reaches the client (so a broken one can still fail over or
// be answered with a 502). A larger one is relayed as it arrives, through
// a copy buffer of relayChunk bytes, while a jsonChecker validates its
// framing and a tailWindow of its last bytes is kept to read the usage
// that providers put at the end of the object. A pass-through answer
// therefore holds at most wholeBody + relayChunk + tailWindow (352 KiB)
// whatever its size, so N concurrent answers hold at most N x 352 KiB.
// Translated answers are still decoded whole, bounded by MaxUpstreamBody.
const (
	wholeBody  = 256 << 10
	relayChunk = 32 << 10
	tailWindow = 64 << 10
)

// bodyOutcome is how a non-streamed answer's relay ended.
type bodyOutcome struct {
	st  ledger.Status
	msg string
	u   meter.Usage
	err error // the error to answer with, when nothing was relayed
	// retryable: the upstream failed before any byte reached the client,
	// so another target may still answer.
	retryable bool
}

// relayBody relays a non-streamed answer and returns its usage. A
// pass-through answer larger than wholeBody is streamed (see wholeBody for
// the memory bound); anything else is read whole, validated or translated,
// and written at once.
func (h *Handler) relayBody(a *attemptRun, resp *http.Response) bodyOutcome {
	w, r, c, fs, passthrough := a.w, a.r, a.c, a.fs, a.passthrough
	cc, uc, ireq := a.u.cc, a.u.uc, a.u.ireq
	buf := getBuffer()
	defer putBuffer(buf)
	limit := h.opts.MaxUpstreamBody
	if passthrough {
		limit = min(limit, wholeBody)
	}
	_, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1))
	c.entry.TTFT = time.Since(c.start)
	if err != nil {
		if r.Context().Err() != nil {
			return bodyOutcome{st: ledger.StatusCancelled, msg: "client disconnected"}
		}
		return bodyOutcome{st: ledger.StatusUpstreamError, msg: "upstream body read failed: " + sanitizeErr(err), retryable: true,
			err: &Error{Status: http.StatusBadGateway, Type: oa.TypeUpstream, Code: "upstream_read_failed", Msg: "The upstream response could not be read.", Cause: err}}
	}
	if int64(buf.Len()) > limit {
		if passthrough && limit < h.opts.MaxUpstreamBody {
			return h.streamBody(a, resp, buf.Bytes())
		}
		return bodyOutcome{st: ledger.StatusUpstreamError, msg: "upstream body too large",
			err: &Error{Status: http.StatusBadGateway, Type: oa.TypeUpstream, Code: "upstream_too_large", Msg: "The upstream response is larger than this gateway accepts."}}
	}
	data := buf.Bytes()
	var u meter.Usage
	var out []byte
	if passthrough {
		usage, valid := scanAnswer(data, usageKeyOf(c.in.proto))
		if !valid {
			msg := errIncompleteJSON.Error()
			var j jsonChecker
			if jerr := j.Feed(data); jerr != nil {
				msg = jerr.Error()
			}
			return bodyOutcome{st: ledger.StatusUpstreamError, msg: msg, retryable: true,
				err: &Error{Status: http.StatusBadGateway, Type: oa.TypeUpstream, Code: "upstream_invalid", Msg: "The upstream answer was not valid JSON."}}
		}
		out = data
		u = h.passthroughUsage(c, fs, data, usage)
	} else {
		ir, derr := uc.DecodeResponse(data)
		if derr == nil {
			if ir.Model == "" {
				ir.Model = c.entry.ServedModel
			}
			if name := c.guardResponse(ir); name != "" {
				return bodyOutcome{st: ledger.StatusBlocked, msg: "the answer was blocked by the guardrail " + name, u: ir.Usage,
					err: blockedError(name, "answer")}
			}
			c.restoreResponse(ir)
			out, derr = cc.EncodeResponse(ireq, ir)
			if derr == nil && resp.StatusCode == http.StatusOK {
				h.storeAnswer(c, ir)
			}
		}
		if derr != nil {
			return bodyOutcome{st: ledger.StatusUpstreamError, msg: "upstream answer could not be translated",
				err: &Error{Status: http.StatusBadGateway, Type: oa.TypeUpstream, Code: "upstream_invalid", Msg: "The upstream answer could not be translated.", Cause: derr}}
		}
		u = ir.Usage
		resp.Header.Set("Content-Type", "application/json")
	}
	hdr := w.Header()
	if passthrough {
		copyResponseHeaders(hdr, resp.Header)
	} else {
		copyTranslatedHeaders(hdr, resp.Header)
		hdr.Set("Content-Type", "application/json")
	}
	hdr["Content-Length"] = oneValue(&c.lenVal, strconv.Itoa(len(out)))
	c.wrote = true
	w.WriteHeader(resp.StatusCode)
	if _, werr := w.Write(out); werr != nil {
		// The upstream answered and billed; the client left while reading.
		return bodyOutcome{st: ledger.StatusCancelled, msg: "client disconnected while the response was written", u: u}
	}
	return bodyOutcome{st: ledger.StatusOK, u: u}
}

// streamBody relays a large pass-through answer as it arrives: head is
// what was read already. Its framing is validated on the way (an answer
// that is cut or is not JSON is recorded truncated, although its first
// bytes were relayed), and its usage is read from its last tailWindow
// bytes, or estimated when they hold none.
func (h *Handler) streamBody(a *attemptRun, resp *http.Response, head []byte) bodyOutcome {
	w, r, c, fs := a.w, a.r, a.c, a.fs
	var check jsonChecker
	var end tail
	copyResponseHeaders(w.Header(), resp.Header)
	if cl := resp.Header.Get("Content-Length"); cl != "" {
		w.Header().Set("Content-Length", cl)
	}
	c.wrote = true
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	total := int64(0)
	chunk := make([]byte, relayChunk)
	pending := head
	var out bodyOutcome
	for {
		if len(pending) > 0 {
			total += int64(len(pending))
			_ = check.Feed(pending)
			end.Write(pending)
			_ = rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
			if _, werr := w.Write(pending); werr != nil {
				out = bodyOutcome{st: ledger.StatusCancelled, msg: "client disconnected while the response was written"}
				break
			}
			if total > h.opts.MaxUpstreamBody {
				out = bodyOutcome{st: ledger.StatusUpstreamError, msg: "upstream body too large"}
				break
			}
		}
		n, rerr := resp.Body.Read(chunk)
		pending = chunk[:n]
		if rerr == nil {
			continue
		}
		if n > 0 {
			total += int64(n)
			_ = check.Feed(pending)
			end.Write(pending)
			if _, werr := w.Write(pending); werr != nil {
				out = bodyOutcome{st: ledger.StatusCancelled, msg: "client disconnected while the response was written"}
				break
			}
		}
		switch {
		case rerr != io.EOF && r.Context().Err() != nil:
			out = bodyOutcome{st: ledger.StatusCancelled, msg: "client disconnected"}
		case rerr != io.EOF:
			out = bodyOutcome{st: ledger.StatusTruncated, msg: "the upstream body failed: " + sanitizeErr(rerr)}
		default:
			if err := check.Close(); err != nil {
				out = bodyOutcome{st: ledger.StatusTruncated, msg: err.Error()}
			}
		}
		break
	}
	if out.st == "" {
		out.st = ledger.StatusOK
	}
	window := end.Bytes(nil)
	if u, ok := h.usageFromTail(c, window); ok {
		out.u = u
	} else if u, ok := h.usageOfDoc(c, head); ok {
		out.u = u // usage at the start of the object
	} else {
		out.u = h.estimateBody(c, fs)
	}
	return out
}

// estimateBody is the input estimate of an answer whose usage is unknown.
func (h *Handler) estimateBody(c *Call, fs *forwardSpec) meter.Usage {
	if c.in.op == provider.OpCountTokens {
		return meter.Usage{}
	}
	if c.in.op == provider.OpEmbeddings {
		return meter.Usage{InputTokens: meter.EstimateEmbeddingInput(fs.body), Estimated: true}
	}
	return meter.Usage{InputTokens: meter.EstimateChatInput(fs.body), Estimated: true}
}

// passthroughUsage meters a same-protocol non-streamed answer: by its
// protocol's bundle, or by estimate.
func (h *Handler) passthroughUsage(c *Call, fs *forwardSpec, data []byte, usage gjson.Result) meter.Usage {
	if f := bundles[c.in.proto].answerUsage; f != nil {
		if u, ok := f(h, c, fs, data, usage); ok {
			return u
		}
	}
	return meter.Usage{InputTokens: meter.EstimateChatInput(fs.body), Estimated: true}
}

// tail keeps the last tailWindow bytes written to it, in a ring.
type tail struct {
	buf  []byte
	pos  int // next write position in buf
	full bool
}

func (t *tail) Write(p []byte) {
	if t.buf == nil {
		t.buf = make([]byte, tailWindow)
	}
	if len(p) >= len(t.buf) {
		copy(t.buf, p[len(p)-len(t.buf):])
		t.pos, t.full = 0, true
		return
	}
	n := copy(t.buf[t.pos:], p)
	if n < len(p) {
		copy(t.buf, p[n:])
		t.full = true
	}
	t.pos = (t.pos + len(p)) % len(t.buf)
	if t.pos == 0 && len(p) > 0 {
		t.full = true
	}
}

// Bytes returns the window in order; it reuses dst.
func (t *tail) Bytes(dst []byte) []byte {
	if !t.full {
		return append(dst[:0], t.buf[:t.pos]...)
	}
	dst = append(dst[:0], t.buf[t.pos:]...)
	return append(dst, t.buf[:t.pos]...)
}

// scanAnswer reports whether a complete answer is valid JSON, as
// gjson.ValidBytes does, and finds its top-level member key, as
// gjson.GetBytes(data, key) does, in the same pass (jsonlimit.CheckMembers).
// The member points into data. An answer nested deeper than the pass
// tracks without allocating is left to gjson, as before.
func scanAnswer(data []byte, key string) (gjson.Result, bool) {
	const depth = 256 // jsonlimit allocates nothing up to this depth
	var found gjson.Result
	err := jsonlimit.CheckMembers(data, depth, func(k, v []byte, at int) {
		if found.Exists() || !keyIs(k, key) {
			return
		}
		found = gjson.Parse(unsafe.String(unsafe.SliceData(v), len(v)))
		found.Index = at
	})
	if jsonlimit.TooDeep(err) {
		if !gjson.ValidBytes(data) {
			return gjson.Result{}, false
		}
		return gjson.GetBytes(data, key), true
	}
	return found, err == nil
}

// keyIs reports whether the raw (quoted) key k names key, escapes undone.
func keyIs(k []byte, key string) bool {
	if bytes.IndexByte(k, '\\') < 0 {
		return len(k) == len(key)+2 && string(k[1:len(k)-1]) == key
	}
	return gjson.ParseBytes(k).Str == key
}

// usageKey is the key under which a protocol's non-streamed answer carries
// its usage, at the end of the top-level object.
func usageKeyOf(p provider.Protocol) string {
	if k := bundles[p].usageKey; k != "" {
		return k
	}
	return "usage"
}

// usageFromTail reads the usage object from the last bytes of a
// non-streamed answer: the last unescaped "key": followed by an object.
func (h *Handler) usageFromTail(c *Call, window []byte) (meter.Usage, bool) {
	key := usageKeyOf(c.in.proto)
	quoted := []byte(`"` + key + `"`)
	for end := len(window); end > 0; {
		i := bytes.LastIndex(window[:end], quoted)
		if i < 0 {
			return meter.Usage{}, false
		}
		end = i
		if i > 0 && window[i-1] == '\\' {
			continue
		}
		rest := bytes.TrimLeft(window[i+len(quoted):], " \t\r\n")
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		// gjson bounds the value: wrap it as the only member of an object.
		doc := append([]byte(`{"u"`), rest...)
		obj := gjson.GetBytes(doc, "u")
		if !obj.IsObject() {
			continue
		}
		synth := []byte(`{"` + key + `":` + obj.Raw + `}`)
		return h.usageOfDoc(c, synth)
	}
	return meter.Usage{}, false
}

// usageOfDoc reads a protocol's usage from a (possibly partial) answer
// document holding at least its usage member.
func (h *Handler) usageOfDoc(c *Call, doc []byte) (meter.Usage, bool) {
	if f := bundles[c.in.proto].usageOfDoc; f != nil {
		return f(h, c.in.proto, doc)
	}
	return meter.Usage{}, false
}

// errIncompleteJSON is a body that ended inside its JSON value.
var errIncompleteJSON = errors.New("the upstream body ended before its JSON was complete")

// jsonChecker validates JSON syntax incrementally, fed in pieces cut
// anywhere, in constant memory apart from one bit per nesting level (at
// most maxDepth). It checks the whole grammar: strings and their escapes,
// numbers, literals, commas and colons, and that one value fills the body.
type jsonChecker struct {
	state jstate
	stack []bool // true: object, false: array
	key   bool   // the string being read is an object key
	hex   int    // hex digits left in a \u escape
	// A literal (true, false, null) is kept to be compared; a number is
	// checked by a small automaton (num), whatever its length.
	lit  bool
	tok  [5]byte
	ntok int
	num  uint8
	err  error
}

type jstate uint8

const (
	jValue      jstate = iota // a value is expected
	jValueOrEnd               // after '[': a value or ']'
	jKeyOrEnd                 // after '{': a key or '}'
	jKey                      // after ',' in an object: a key
	jColon                    // after a key
	jAfter                    // after a value: ',' or a closer, or the end
	jString                   // inside a string
	jEscape                   // after '\' in a string
	jToken                    // inside a number or literal
	jDone                     // the top-level value is complete
)

const maxDepth = 10000

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// Feed checks the next piece; the first error is sticky.
func (j *jsonChecker) Feed(b []byte) error {
	for i := 0; i < len(b) && j.err == nil; i++ {
		// Fast paths: the plain bytes of a string, and of a number.
		switch j.state {
		case jString:
			for i < len(b) && b[i] != '"' && b[i] != '\\' && b[i] >= 0x20 {
				i++
			}
		case jToken:
			for i < len(b) && j.err == nil {
				c := b[i]
				if c >= '0' && c <= '9' && (j.num == numInt || j.num == numFrac || j.num == numExp) && !j.lit {
					i++ // more digits: the state stays
					continue
				}
				if !isTokenByte(c) {
					break
				}
				j.tokenByte(c)
				i++
			}
		}
		if i == len(b) {
			break
		}
		j.step(b[i])
	}
	return j.err
}

func isTokenByte(b byte) bool {
	return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || b == '.' || b == '+' || b == '-' || b == 'E'
}

// Close reports whether what was fed is one complete JSON value.
func (j *jsonChecker) Close() error {
	if j.err != nil {
		return j.err
	}
	if j.state == jToken && len(j.stack) == 0 {
		j.endToken()
		if j.err == nil {
			j.state = jDone
		}
	}
	if j.state != jDone {
		return errIncompleteJSON
	}
	return nil
}

func (j *jsonChecker) fail(b byte) {
	j.err = errors.New("the upstream body is not valid JSON (unexpected " + strconv.QuoteRune(rune(b)) + ")")
}

func (j *jsonChecker) step(b byte) {
	switch j.state {
	case jString:
		switch {
		case b == '"':
			if j.key {
				j.state = jColon
			} else {
				j.after()
			}
		case b == '\\':
			j.state = jEscape
		case b < 0x20:
			j.fail(b)
		}
		return
	case jEscape:
		if j.hex > 0 {
			if !isHex(b) {
				j.fail(b)
				return
			}
			if j.hex--; j.hex == 0 {
				j.state = jString
			}
			return
		}
		switch b {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			j.state = jString
		case 'u':
			j.hex = 4
		default:
			j.fail(b)
		}
		return
	case jToken:
		if isTokenByte(b) {
			j.tokenByte(b)
			return
		}
		j.endToken()
		if j.err != nil {
			return
		}
		j.after()
		j.step(b)
		return
	}
	if isSpace(b) {
		return
	}
	switch j.state {
	case jValue, jValueOrEnd:
		if j.state == jValueOrEnd && b == ']' {
			j.pop(false, b)
			return
		}
		switch {
		case b == '{':
			j.push(true, b)
			j.state = jKeyOrEnd
		case b == '[':
			j.push(false, b)
			j.state = jValueOrEnd
		case b == '"':
			j.key, j.state = false, jString
		case b == 't' || b == 'f' || b == 'n':
			j.state, j.lit, j.ntok = jToken, true, 0
			j.tokenByte(b)
		case b == '-' || (b >= '0' && b <= '9'):
			j.state, j.lit, j.num = jToken, false, numStart
			j.tokenByte(b)
		default:
			j.fail(b)
		}
	case jKeyOrEnd, jKey:
		switch {
		case b == '"':
			j.key, j.state = true, jString
		case b == '}' && j.state == jKeyOrEnd:
			j.pop(true, b)
		default:
			j.fail(b)
		}
	case jColon:
		if b != ':' {
			j.fail(b)
			return
		}
		j.state = jValue
	case jAfter:
		top := j.stack[len(j.stack)-1]
		switch {
		case b == ',' && top:
			j.state = jKey
		case b == ',':
			j.state = jValue
		case b == '}' || b == ']':
			j.pop(b == '}', b)
		default:
			j.fail(b)
		}
	case jDone:
		j.fail(b)
	}
}

func (j *jsonChecker) push(obj bool, b byte) {
	if len(j.stack) >= maxDepth {
		j.fail(b)
		return
	}
	j.stack = append(j.stack, obj)
}

func (j *jsonChecker) pop(obj bool, b byte) {
	if len(j.stack) == 0 || j.stack[len(j.stack)-1] != obj {
		j.fail(b)
		return
	}
	j.stack = j.stack[:len(j.stack)-1]
	j.after()
}

// after moves past a complete value.
func (j *jsonChecker) after() {
	if len(j.stack) == 0 {
		j.state = jDone
		return
	}
	j.state = jAfter
}

// Number automaton states; numInt, numZero, numFrac and numExp may end.
const (
	numStart uint8 = iota // nothing yet
	numMinus              // after '-'
	numZero               // a leading 0
	numInt                // integer digits
	numDot                // after '.'
	numFrac               // fraction digits
	numE                  // after 'e'
	numESign              // after the exponent's sign
	numExp                // exponent digits
	numBad
)

func (j *jsonChecker) tokenByte(b byte) {
	if j.lit {
		if j.ntok == len(j.tok) {
			j.err = errors.New("the upstream body is not valid JSON (bad literal)")
			return
		}
		j.tok[j.ntok] = b
		j.ntok++
		return
	}
	digit := b >= '0' && b <= '9'
	switch j.num {
	case numStart:
		switch {
		case b == '-':
			j.num = numMinus
		case b == '0':
			j.num = numZero
		case digit:
			j.num = numInt
		default:
			j.num = numBad
		}
	case numMinus:
		switch {
		case b == '0':
			j.num = numZero
		case digit:
			j.num = numInt
		default:
			j.num = numBad
		}
	case numZero, numInt:
		switch {
		case digit && j.num == numInt:
		case b == '.':
			j.num = numDot
		case b == 'e' || b == 'E':
			j.num = numE
		default:
			j.num = numBad
		}
	case numDot, numFrac:
		switch {
		case digit:
			j.num = numFrac
		case (b == 'e' || b == 'E') && j.num == numFrac:
			j.num = numE
		default:
			j.num = numBad
		}
	case numE:
		switch {
		case b == '+' || b == '-':
			j.num = numESign
		case digit:
			j.num = numExp
		default:
			j.num = numBad
		}
	case numESign, numExp:
		if !digit {
			j.num = numBad
		} else {
			j.num = numExp
		}
	}
	if j.num == numBad {
		j.err = errors.New("the upstream body is not valid JSON (bad number)")
	}
}

// endToken checks that a number or literal is complete.
func (j *jsonChecker) endToken() {
	if j.lit {
		if t := string(j.tok[:j.ntok]); t != "true" && t != "false" && t != "null" {
			j.err = errors.New("the upstream body is not valid JSON (bad literal)")
		}
		return
	}
	switch j.num {
	case numZero, numInt, numFrac, numExp:
	default:
		j.err = errors.New("the upstream body is not valid JSON (bad number)")
	}
}

func isHex(b byte) bool {
	return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F')
}
