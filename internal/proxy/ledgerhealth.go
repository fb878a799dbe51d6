package proxy

import (
	"context"
	"net/http"
	"time"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
)

// ledgerGate is a Recorder that can say that it cannot record: the
// *ledger.Writer, whose store may fail or whose disk may be full.
type ledgerGate interface {
	// Admit returns nil when a new billable request can be recorded; else
	// it returns an error after a short bounded wait.
	Admit(ctx context.Context) error
	// RetryAfter is the pause to tell a refused client.
	RetryAfter() time.Duration
}

// admitLedger refuses a new billable request with 503 and Retry-After, in
// the client's dialect, while the ledger cannot record it: Sluice does not
// serve usage that it cannot bill. Requests that reach no upstream (401,
// 404, /v1/models, self-usage) never come here, and a request admitted
// before the ledger failed is served to its end.
func (h *Handler) admitLedger(r *http.Request) error {
	g, ok := h.opts.Ledger.(ledgerGate)
	if !ok {
		return nil
	}
	if err := g.Admit(r.Context()); err != nil {
		return &Error{Status: http.StatusServiceUnavailable, Type: oa.TypeServer, Code: "ledger_unavailable",
			Msg: "The gateway cannot record usage right now; try again shortly.", Cause: err, RetryAfter: g.RetryAfter()}
	}
	return nil
}
