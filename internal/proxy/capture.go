package proxy

import (
	"context"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/guard"
	"github.com/sluicehq/sluice/internal/ledger"
)

// The capture step keeps the request and response bodies of the requests
// that request_log names (off by default), for the admin API's request
// log. Bodies are cut to the size cap, then every built-in personal-data
// and secret detector of the guardrails masks what it finds (emails,
// phone numbers, cards, IBANs, provider and Sluice keys, tokens, private
// keys) before the capture leaves the step. Headers are never captured:
// no Authorization, x-api-key or provider key can reach the request log.

// Capture is one request's captured bodies, redacted and cut.
type Capture struct {
	RequestID                 string
	Time                      time.Time
	OrgID, TeamID, AppID      string
	KeyID, Model, Status      string
	HTTPStatus                int
	RequestBody, ResponseBody string
	Truncated                 bool
	TTL                       time.Duration
}

// CaptureSink takes captures off the request path; Capture must not block.
type CaptureSink interface {
	Capture(Capture)
}

// captureRedactor masks every built-in entity, secrets included.
var captureRedactor = func() *guard.Set {
	g, err := guard.Compile(guard.Spec{Name: "request_log", Type: "pii", Action: guard.Mask,
		On: []guard.Stage{guard.Input, guard.Output}})
	if err != nil {
		panic("capture redactor: " + err.Error())
	}
	return guard.NewSet(guard.Input, g)
}()

// Redact returns body as text, cut to limit bytes (on a rune boundary)
// and masked by the guardrails' detectors; cut says whether it was cut.
func Redact(body []byte, limit int) (text string, cut bool) {
	if len(body) > limit {
		body, cut = body[:limit], true
		for range utf8.UTFMax - 1 { // a rune cut in two goes
			if r, size := utf8.DecodeLastRune(body); len(body) == 0 || r != utf8.RuneError || size > 1 {
				break
			}
			body = body[:len(body)-1]
		}
	}
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	return captureRedactor.Apply(s, guard.NewMasker()).Text, cut
}

// captureStep wraps the client's writer to keep the response's first
// bytes, and hands the capture to the sink when the rest of the chain is
// done.
func (h *Handler) captureStep(ctx context.Context, c *Call, next Next) error {
	e, k := &c.entry, c.key
	if h.opts.Captures == nil || c.snap == nil || k == nil ||
		!c.snap.RequestLog.Captures(k.OrgID, k.AppID, k.ID, k.Name, e.Product) {
		return next(ctx, c)
	}
	limit := c.snap.RequestLog.MaxBody
	var reqBody []byte
	if c.fs != nil {
		reqBody = c.fs.body
	}
	reqText, reqCut := Redact(reqBody, limit)
	cw := &captureWriter{ResponseWriter: c.w, limit: limit}
	c.w = cw
	err := next(ctx, c)
	c.w = cw.ResponseWriter
	respText, respCut := Redact(cw.buf, limit)
	status, code := string(e.Status), e.HTTPStatus
	if code == 0 {
		code = cw.code
	}
	if status == "" {
		switch {
		case err != nil || code >= 500:
			status = string(ledger.StatusUpstreamError)
		case code >= 400:
			status = string(ledger.StatusClientError)
		default:
			status = string(ledger.StatusOK)
		}
	}
	h.opts.Captures.Capture(Capture{RequestID: c.id, Time: c.start, OrgID: k.OrgID, TeamID: k.TeamID, AppID: k.AppID,
		KeyID: k.ID, Model: e.Model, Status: status, HTTPStatus: code, RequestBody: reqText, ResponseBody: respText,
		Truncated: reqCut || respCut || cw.over, TTL: c.snap.RequestLog.TTL})
	return err
}

// captureWriter keeps the first limit bytes written through it.
type captureWriter struct {
	http.ResponseWriter
	limit int
	buf   []byte
	over  bool
	code  int
}

func (w *captureWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *captureWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if len(w.buf)+len(p) > w.limit {
		w.over = true
	}
	if room := w.limit - len(w.buf); room > 0 {
		w.buf = append(w.buf, p[:min(room, len(p))]...)
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach Flush and write deadlines.
func (w *captureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
