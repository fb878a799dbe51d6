package proxy

import (
	"context"

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
	w := c.w
	defer func() {
		e := c.entry
		if e.RequestID == "" {
			e.RequestID = c.id // a refusal before authentication is not in the ledger
		}
		q.End(&e, w.Header().Get("X-Sluice-Route"), nil)
	}()
	return next(ctx, c)
}

// attemptSpan starts the CLIENT span of attempt n against t; a no-op
// without tracing.
func attemptSpan(ctx context.Context, c *Call, provider, protocol, model string, n int) *trace.Attempt {
	return trace.StartAttempt(ctx, n, provider, protocol, model, trace.Operation(c.entry.Endpoint))
}
