// Package route decides which upstream targets serve a request and in what
// order, and keeps each target's health: consecutive-failure ejection with
// half-open probing, Retry-After cooldowns, time-to-first-token EWMA and
// in-flight counts. Health and routers (with their balancing state, the
// weighted round robin) outlive configuration reloads: runtime.Live keeps
// them by identity and each snapshot points at them.
package route

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// HealthOptions tune outlier detection.
type HealthOptions struct {
	// ConsecutiveFailures ejects a target (default 5).
	ConsecutiveFailures int
	// BaseEjection is the first ejection's length; each further ejection in
	// a row (its half-open probe failed) adds as much again, up to
	// MaxEjection (defaults 10 s and 5 min). A success ends the row: the
	// next ejection lasts BaseEjection again.
	BaseEjection time.Duration
	MaxEjection  time.Duration
	// Now is the clock (time.Now by default).
	Now func() time.Time
}

// Registry holds the health of every target, keyed by provider and model.
// It is safe for concurrent use.
type Registry struct {
	opts HealthOptions

	mu      sync.Mutex // guards targets
	targets map[string]*Health
}

// NewRegistry returns an empty registry.
func NewRegistry(opts HealthOptions) *Registry {
	if opts.ConsecutiveFailures <= 0 {
		opts.ConsecutiveFailures = 5
	}
	if opts.BaseEjection <= 0 {
		opts.BaseEjection = 10 * time.Second
	}
	if opts.MaxEjection <= 0 {
		opts.MaxEjection = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Registry{opts: opts, targets: map[string]*Health{}}
}

// Get returns the health record of provider/model, creating it.
func (r *Registry) Get(provider, model string) *Health {
	key := provider + "\x00" + model
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.targets[key]
	if h == nil {
		h = &Health{Provider: provider, Model: model, reg: r}
		r.targets[key] = h
	}
	return h
}

// Snapshot lists every target's state, for /admin/v1/health and metrics.
func (r *Registry) Snapshot() []Status {
	r.mu.Lock()
	hs := make([]*Health, 0, len(r.targets))
	for _, h := range r.targets {
		hs = append(hs, h)
	}
	r.mu.Unlock()
	out := make([]Status, 0, len(hs))
	for _, h := range hs {
		out = append(out, h.Status())
	}
	return out
}

// State is a target's availability.
type State string

// States.
const (
	Healthy  State = "healthy"
	Ejected  State = "ejected"   // too many consecutive failures; waiting
	HalfOpen State = "half_open" // ejection over; one probe at a time decides
	Cooling  State = "cooling"   // the provider asked to wait (Retry-After)
)

// Status is a target's health as shown to operators.
type Status struct {
	Provider            string    `json:"provider"`
	Model               string    `json:"model"`
	State               State     `json:"state"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	Ejections           int       `json:"ejections"`
	Until               time.Time `json:"until,omitzero"`
	InFlight            int64     `json:"in_flight"`
	TTFTMillis          float64   `json:"ttft_ewma_ms"`
	Samples             int64     `json:"samples"`
	Successes           int64     `json:"successes"`
	Failures            int64     `json:"failures"`
}

// Health is one target's record.
type Health struct {
	Provider, Model string
	reg             *Registry

	inflight  atomic.Int64
	ewmaBits  atomic.Uint64 // float64 nanoseconds
	samples   atomic.Int64
	successes atomic.Int64
	failures  atomic.Int64

	mu           sync.Mutex // guards the fields below; never held across I/O
	consecutive  int
	ejections    int
	ejectedUntil time.Time
	coolUntil    time.Time
	probing      bool
}

// Availability says whether a request may use the target now: ok, and
// probe when the request is the half-open probe (the caller must report
// its outcome).
func (h *Health) Availability() (ok, probe bool) {
	now := h.reg.opts.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if now.Before(h.coolUntil) {
		return false, false
	}
	if h.ejectedUntil.IsZero() {
		return true, false
	}
	if now.Before(h.ejectedUntil) || h.probing {
		return false, false
	}
	h.probing = true
	return true, true
}

// Ejected reports whether the target is out of rotation (ejected or
// cooling), without claiming a probe.
func (h *Health) Ejected() bool {
	now := h.reg.opts.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	return now.Before(h.coolUntil) || (!h.ejectedUntil.IsZero() && (now.Before(h.ejectedUntil) || h.probing))
}

// Begin counts a request in flight; End must follow.
func (h *Health) Begin() { h.inflight.Add(1) }

// End counts a request done.
func (h *Health) End() { h.inflight.Add(-1) }

// InFlight is the number of requests in flight to the target.
func (h *Health) InFlight() int64 { return h.inflight.Load() }

// TTFT is the EWMA of time to first token, and how many samples it has.
func (h *Health) TTFT() (time.Duration, int64) {
	return time.Duration(math.Float64frombits(h.ewmaBits.Load())), h.samples.Load()
}

const ewmaAlpha = 0.2

// Success records an answer that began well, with its time to first byte.
func (h *Health) Success(ttft time.Duration) {
	h.successes.Add(1)
	for {
		old := h.ewmaBits.Load()
		v := math.Float64frombits(old)
		nv := float64(ttft)
		if h.samples.Load() > 0 {
			nv = v + ewmaAlpha*(float64(ttft)-v)
		}
		if h.ewmaBits.CompareAndSwap(old, math.Float64bits(nv)) {
			break
		}
	}
	h.samples.Add(1)
	h.mu.Lock()
	h.consecutive, h.ejectedUntil, h.probing, h.ejections = 0, time.Time{}, false, 0
	h.mu.Unlock()
}

// Failure records a failure of the provider's (connect error, timeout,
// 5xx, 429). Client errors are not failures. ConsecutiveFailures in a row
// eject the target; while it is ejected, or half-open with no probe out,
// more failures (requests that were in flight when it was ejected) count
// but change nothing; while a probe is out, a failure is taken as the
// probe's and ejects the target again, for longer.
func (h *Health) Failure() {
	h.failures.Add(1)
	now := h.reg.opts.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.consecutive++
	switch {
	case h.probing:
	case !h.ejectedUntil.IsZero(), h.consecutive < h.reg.opts.ConsecutiveFailures:
		return
	}
	h.ejections++
	d := min(time.Duration(h.ejections)*h.reg.opts.BaseEjection, h.reg.opts.MaxEjection)
	h.ejectedUntil = now.Add(d)
	h.probing = false
}

// Release gives up a probe that ended without a verdict (the client left).
func (h *Health) Release() {
	h.mu.Lock()
	h.probing = false
	h.mu.Unlock()
}

// Cooldown keeps the target out of rotation until t (from Retry-After). It
// ends a half-open probe without a verdict, as Release does: the target
// answered but asked to wait, so it is probed again after the wait.
func (h *Health) Cooldown(until time.Time) {
	h.mu.Lock()
	if until.After(h.coolUntil) {
		h.coolUntil = until
	}
	h.probing = false
	h.mu.Unlock()
}

// Status returns the target's state.
func (h *Health) Status() Status {
	now := h.reg.opts.Now()
	ttft, n := h.TTFT()
	h.mu.Lock()
	defer h.mu.Unlock()
	s := Status{Provider: h.Provider, Model: h.Model, State: Healthy, ConsecutiveFailures: h.consecutive,
		Ejections: h.ejections, InFlight: h.inflight.Load(), TTFTMillis: float64(ttft.Microseconds()) / 1000, Samples: n,
		Successes: h.successes.Load(), Failures: h.failures.Load()}
	switch {
	case now.Before(h.coolUntil):
		s.State, s.Until = Cooling, h.coolUntil
	case !h.ejectedUntil.IsZero() && now.Before(h.ejectedUntil):
		s.State, s.Until = Ejected, h.ejectedUntil
	case !h.ejectedUntil.IsZero():
		s.State = HalfOpen
	}
	return s
}
