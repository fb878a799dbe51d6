package proxy

import (
	"bytes"
	"context"
	"net/http"
	"slices"

	"github.com/sluicehq/sluice/internal/trace"
)

// traceStep starts the request's SERVER span, continuing the client's
// W3C traceparent, and puts the trace id into the ledger entry. It runs
// before settle_and_record and ends the span after it, so the span
// carries the entry as recorded: status, usage, cost, and what every
// step decided. Attempts open CLIENT spans under it (forward.go) and send
// their own traceparent upstream.
//
// With tracing off, a client's traceparent still names the trace in the
// ledger entry, and is forwarded upstream unchanged.
func (h *Handler) traceStep(ctx context.Context, c *Call, next Next) error {
	t := h.opts.Tracer
	if t == nil {
		c.entry.TraceID = trace.HeaderTraceID(c.r.Header)
		return next(ctx, c)
	}
	pattern := c.r.Pattern
	if pattern == "" {
		pattern = c.r.Method
	}
	ctx, q := t.StartRequest(c.r.WithContext(ctx), pattern)
	c.entry.TraceID = q.TraceID()
	fw := &finishWriter{ResponseWriter: c.w}
	c.w = fw
	defer func() {
		e := c.entry
		if e.RequestID == "" {
			e.RequestID = c.id // a refusal before authentication is not in the ledger
		}
		q.End(&e, fw.Header().Get("X-Sluice-Route"), fw.reasons)
	}()
	return next(ctx, c)
}

// finishWriter notes the finish reasons an answer carries, in any
// client protocol ("finish_reason" of OpenAI, "stop_reason" of
// Anthropic, "finishReason" of Gemini), as it passes to the client: a
// bounded scan of the bytes written, never a decode.
type finishWriter struct {
	http.ResponseWriter
	tail    []byte   // the end of the previous write, for a key cut in two
	reasons []string // distinct, at most maxReasons
}

const (
	maxReasons      = 8
	maxReasonLength = 32
	finishTail      = 64
)

var finishKeys = [][]byte{[]byte(`"finish_reason"`), []byte(`"stop_reason"`), []byte(`"finishReason"`)}

func (w *finishWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *finishWriter) Write(p []byte) (int, error) {
	if len(w.reasons) < maxReasons {
		w.scan(p)
	}
	return w.ResponseWriter.Write(p)
}

func (w *finishWriter) scan(p []byte) {
	if len(w.tail) > 0 { // a key or value cut between two writes
		w.find(append(w.tail, p[:min(len(p), finishTail)]...))
	}
	w.find(p)
	if len(p) >= finishTail {
		w.tail = append(w.tail[:0], p[len(p)-finishTail:]...)
	} else {
		w.tail = append(w.tail, p...)
		w.tail = w.tail[max(0, len(w.tail)-finishTail):]
	}
}

// find adds the finish reasons named in b.
func (w *finishWriter) find(b []byte) {
	for _, key := range finishKeys {
		for rest := b; ; {
			i := bytes.Index(rest, key)
			if i < 0 {
				break
			}
			rest = rest[i+len(key):]
			v := bytes.TrimLeft(rest, " \t")
			if len(v) == 0 || v[0] != ':' {
				continue
			}
			v = bytes.TrimLeft(v[1:], " \t")
			if len(v) == 0 || v[0] != '"' {
				continue // null, or cut: the next write's tail holds it
			}
			end := bytes.IndexByte(v[1:], '"')
			if end < 0 || end > maxReasonLength {
				continue
			}
			if r := string(v[1 : 1+end]); r != "" && !slices.Contains(w.reasons, r) && len(w.reasons) < maxReasons {
				w.reasons = append(w.reasons, r)
			}
		}
	}
}

// attemptSpan starts the CLIENT span of the attempt against its target; a
// no-op without tracing.
func attemptSpan(a *attemptRun) *trace.Attempt {
	p := a.t.Provider
	return trace.StartAttempt(a.r.Context(), a.n, p.Name(), trace.ProviderName(p), a.t.Model, trace.Operation(a.c.entry.Endpoint))
}
