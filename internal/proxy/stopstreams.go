package proxy

// An emergency stop of a model or a product version ends the streams of
// it already running on this node, not only new requests: every relayed
// stream is registered with what it serves, and a watcher checks each
// against every new snapshot (a stop publishes one) a few times a second.
// A stopped stream's attempt is cancelled with a cause the relay renders
// as the dialect's error event, with no terminal event.

import (
	"context"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/runtime"
)

// stopPoll is how often the watcher looks for a new snapshot.
const stopPoll = 200 * time.Millisecond

// errStreamStopped is the cause of an attempt ended by an emergency stop;
// its text is the ledger's error and the client's message.
type errStreamStopped struct{ what, reason string }

func (e *errStreamStopped) Error() string {
	return "stopped by an operator: " + e.what + " is suspended: " + e.reason
}

// liveStream is a stream in flight: what it serves and how to end it.
type liveStream struct {
	snaps                   *runtime.Holder
	product, version, model string
	cancel                  context.CancelCauseFunc
	checked                 *runtime.Snapshot // the last snapshot it was checked against
}

// stopWatch is this process's registry of streams in flight; its watcher
// runs only while there are some.
var stopWatch struct {
	mu       sync.Mutex
	live     map[*liveStream]struct{}
	watching bool
}

// watchStop registers a's stream until the returned function is called.
func watchStop(h *Handler, a *attemptRun) func() {
	s := &liveStream{snaps: h.opts.Snapshots, product: a.c.entry.Product, version: a.c.entry.ProductVersion, cancel: a.cancelCause}
	if a.fs != nil && a.fs.model != nil {
		s.model = a.fs.model.Name
	}
	stopWatch.mu.Lock()
	if stopWatch.live == nil {
		stopWatch.live = map[*liveStream]struct{}{}
	}
	stopWatch.live[s] = struct{}{}
	if !stopWatch.watching {
		stopWatch.watching = true
		go watchStops()
	}
	stopWatch.mu.Unlock()
	return func() {
		stopWatch.mu.Lock()
		delete(stopWatch.live, s)
		stopWatch.mu.Unlock()
	}
}

// watchStops checks the streams in flight against each new snapshot until
// none is left.
func watchStops() {
	tick := time.NewTicker(stopPoll)
	defer tick.Stop()
	for range tick.C {
		stopWatch.mu.Lock()
		if len(stopWatch.live) == 0 {
			stopWatch.watching = false
			stopWatch.mu.Unlock()
			return
		}
		for s := range stopWatch.live {
			snap := s.snaps.Load()
			if snap == nil || snap == s.checked {
				continue
			}
			s.checked = snap
			if err := stopOf(snap.Products, s); err != nil {
				s.cancel(err)
				delete(stopWatch.live, s)
			}
		}
		stopWatch.mu.Unlock()
	}
}

// stopOf returns the stop that ends s under ps, or nil.
func stopOf(ps *runtime.Products, s *liveStream) error {
	if s.product != "" {
		if r := ps.StopReason(s.product, s.version, ""); r != "" {
			return &errStreamStopped{what: "Product " + s.product + " " + s.version, reason: r}
		}
	}
	if r := ps.StopReason("", "", s.model); s.model != "" && r != "" {
		return &errStreamStopped{what: "Model " + s.model, reason: r}
	}
	return nil
}

// stoppedBy returns the message of an attempt that a stop ended, or "".
func stoppedBy(cctx context.Context) string {
	if e, ok := context.Cause(cctx).(*errStreamStopped); ok {
		return e.Error()
	}
	return ""
}
