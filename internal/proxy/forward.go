package proxy

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/runtime"
)

// forwardSpec is a request ready to be sent upstream.
type forwardSpec struct {
	body []byte
	// decoded is the client request in canonical form, decoded once on the
	// first translated attempt and shared by the later ones.
	decoded *llm.Request
	peek    peeked // where "model" sits in the body (unset when the model is in the path)
	model   *runtime.Model
	stream  bool
	// pathModel: the client named the model in the URL (Gemini).
	pathModel bool
	// local: Sluice answers itself (a token count for a target that does
	// not speak the client's protocol); nothing is admitted or forwarded.
	local bool
	// translate: the request and its answer go through the canonical form
	// even when the upstream speaks the client's protocol (a guardrail
	// rewrote the request or reads the answer, or the answer is cached).
	translate bool
}

// attemptResult is how one upstream attempt ended.
type attemptResult int

const (
	// answered: a response (success or final error) reached the client.
	answered attemptResult = iota
	// retryable: nothing reached the client and another target may succeed.
	retryable
)

// forward picks the model's route and tries its targets in the routing
// policy's order until one answers. Failover happens only before the first
// byte reaches the client, and only within the retry budget.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, c *Call, fs *forwardSpec) error {
	rt := selectRoute(r, c, fs)
	plan := pinArm(r.Context(), rt.Targets, rt.Router.Plan(stickyValue(rt, r, c, fs))) // experiments.go
	// The plan's targets in order; max_attempts above their number cycles
	// through them again, after an exponential backoff with jitter. When
	// every target is down, one attempt only.
	var stack [8]int // the order stays on the stack for up to 8 attempts
	order := stack[:0]
	for len(order) < rt.MaxAttempts && !(plan.AllDown && len(order) == 1) {
		order = append(order, plan.Order[len(order)%len(plan.Order)])
	}
	last := len(order) - 1
	w.Header()["X-Sluice-Route"] = oneValue(&c.routeVal, fs.model.Name+":"+rt.Name+":"+string(rt.Router.Policy()))
	h.budget.inflight.Add(1)
	defer h.budget.inflight.Add(-1)
	// Whether the request holds a retry slot: carried from attempt to
	// attempt, and given back when the request ends, a panic included.
	var a *attemptRun
	holding := false
	defer func() {
		if a != nil {
			holding = a.holding
		}
		if holding {
			h.budget.retrying.Add(-1)
		}
	}()
	for i, idx := range order {
		if pass := i / len(plan.Order); pass > 0 && i%len(plan.Order) == 0 {
			if !sleepCtx(r.Context(), backoff(pass)) {
				return nil
			}
		}
		probe := i < len(plan.Probe) && plan.Probe[i]
		a = &attemptRun{h: h, w: w, r: r, c: c, fs: fs, t: rt.Targets[idx], n: i + 1, probe: probe, last: i == last, holding: holding}
		res, err := h.attempt(a)
		holding = a.holding
		if res == answered {
			return err
		}
	}
	return nil
}

// backoff is the wait before the pass-th extra round over a route's
// targets: 100 ms doubling per pass, at most 2 s, with ±50% jitter.
func backoff(pass int) time.Duration {
	d := min(100*time.Millisecond<<(pass-1), 2*time.Second)
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// retryBudget bounds retries to a share of the requests in flight (Envoy's
// default: 20%, at least 3), so that an outage never becomes a retry storm.
type retryBudget struct {
	inflight atomic.Int64
	retrying atomic.Int64
}

func (b *retryBudget) acquire() bool {
	for {
		cur := b.retrying.Load()
		if cur >= max(3, b.inflight.Load()/5) {
			return false
		}
		if b.retrying.CompareAndSwap(cur, cur+1) {
			return true
		}
	}
}
