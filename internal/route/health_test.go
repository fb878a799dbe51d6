package route

import (
	"testing"
	"time"
)

// lifecycleOptions: three failures in a row eject, for 10 s, 20 s, 30 s,
// then 35 s (the cap).
func lifecycleOptions(c *clock) HealthOptions {
	return HealthOptions{ConsecutiveFailures: 3, BaseEjection: 10 * time.Second, MaxEjection: 35 * time.Second, Now: c.now}
}

// wantStatus fails t unless h's state, ejection count, consecutive
// failures and end of ejection are as given (until relative to the clock;
// 0: none).
func wantStatus(t *testing.T, c *clock, h *Health, state State, ejections, consecutive int, until time.Duration) {
	t.Helper()
	s := h.Status()
	var wantUntil time.Time
	if until != 0 {
		wantUntil = c.t.Add(until)
	}
	if s.State != state || s.Ejections != ejections || s.ConsecutiveFailures != consecutive || !s.Until.Equal(wantUntil) {
		t.Fatalf("status %+v, want %s, %d ejections, %d consecutive failures, until %v", s, state, ejections, consecutive, wantUntil)
	}
}

// probeAt moves the clock to the end of the ejection and checks that the
// target is out until then, and that exactly one request then probes it.
func probeAt(t *testing.T, c *clock, h *Health, backoff time.Duration) {
	t.Helper()
	c.add(backoff - time.Nanosecond)
	if ok, _ := h.Availability(); ok || !h.Ejected() {
		t.Fatalf("available 1 ns before the end of a %v ejection", backoff)
	}
	c.add(time.Nanosecond)
	if ok, probe := h.Availability(); !ok || !probe {
		t.Fatalf("after a %v ejection: available %v, probe %v; want the probe", backoff, ok, probe)
	}
	if ok, _ := h.Availability(); ok {
		t.Fatal("a second request was let through while the probe is out")
	}
}

// TestEjectionLifecycle drives a target's health through the whole cycle
// on a fake clock: the back-off grows by the base with each consecutive
// ejection up to the cap, a good probe recovers the target and resets the
// ejection count and the failures, and the next ejection is the base again.
func TestEjectionLifecycle(t *testing.T) {
	c := newClock()
	h := NewRegistry(lifecycleOptions(c)).Get("p", "m")
	h.Failure()
	h.Failure()
	wantStatus(t, c, h, Healthy, 0, 2, 0)
	h.Failure()
	wantStatus(t, c, h, Ejected, 1, 3, 10*time.Second)
	for i, backoff := range []time.Duration{10 * time.Second, 20 * time.Second, 30 * time.Second, 35 * time.Second} {
		probeAt(t, c, h, backoff)
		h.Failure() // the probe fails: ejected again, for longer
		next := min(time.Duration(i+2)*10*time.Second, 35*time.Second)
		wantStatus(t, c, h, Ejected, i+2, 4+i, next)
	}
	probeAt(t, c, h, 35*time.Second)
	h.Success(time.Millisecond) // the probe succeeds
	wantStatus(t, c, h, Healthy, 0, 0, 0)
	if ok, probe := h.Availability(); !ok || probe {
		t.Fatalf("recovered: available %v, probe %v", ok, probe)
	}

	// The count starts again: two failures do not eject, the third ejects
	// for the base back-off, not the last one.
	h.Failure()
	h.Failure()
	wantStatus(t, c, h, Healthy, 0, 2, 0)
	h.Failure()
	wantStatus(t, c, h, Ejected, 1, 3, 10*time.Second)
	probeAt(t, c, h, 10*time.Second)
	h.Failure()
	wantStatus(t, c, h, Ejected, 2, 4, 20*time.Second)
}

// outcome is one attempt's outcome as internal/proxy reports it to the
// target's health (see attempt in internal/proxy/forward.go).
type outcome int

const (
	// failed: no answer (connect error, timeout), or a status the route
	// retries on (5xx, 429 without Retry-After).
	failed outcome = iota
	// answered: a 2xx, or a status the route does not retry on (a client
	// error): the provider is up.
	answered
	// coolDown: a 429 with Retry-After.
	coolDown
	// released: the client left before the attempt had an outcome.
	released
)

// report tells h an attempt's outcome as the proxy does.
func report(c *clock, h *Health, o outcome) {
	switch o {
	case failed:
		h.Failure()
	case answered:
		h.Success(time.Millisecond)
	case coolDown:
		h.Cooldown(c.t.Add(5 * time.Second))
	case released:
		h.Release()
	}
}

// TestOutcomesCount: only failures count against a target, and only in a
// row; an answered request resets the count, a Retry-After cooldown and a
// released attempt neither count nor reset.
func TestOutcomesCount(t *testing.T) {
	tests := []struct {
		name        string
		outcomes    []outcome
		state       State
		ejections   int
		consecutive int
	}{
		{"threshold failures eject", []outcome{failed, failed, failed}, Ejected, 1, 3},
		{"fewer do not", []outcome{failed, failed}, Healthy, 0, 2},
		{"an answer resets the count", []outcome{failed, failed, answered, failed, failed}, Healthy, 0, 2},
		{"failures after an answer eject at the threshold", []outcome{failed, answered, failed, failed, failed}, Ejected, 1, 3},
		{"a client error is an answer", []outcome{failed, failed, answered, failed}, Healthy, 0, 1},
		{"cooldowns do not count", []outcome{coolDown, coolDown, coolDown, coolDown}, Cooling, 0, 0},
		{"a cooldown does not reset", []outcome{failed, failed, coolDown, failed}, Cooling, 1, 3}, // cooling shows first
		{"releases neither count nor reset", []outcome{failed, released, failed, released, failed}, Ejected, 1, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			h := NewRegistry(lifecycleOptions(c)).Get("p", "m")
			for _, o := range tc.outcomes {
				report(c, h, o)
			}
			s := h.Status()
			if s.State != tc.state || s.Ejections != tc.ejections || s.ConsecutiveFailures != tc.consecutive {
				t.Fatalf("status %+v, want %s with %d ejections and %d consecutive failures", s, tc.state, tc.ejections, tc.consecutive)
			}
		})
	}
}

// TestFailuresWhileEjected: requests that were in flight when the target
// was ejected and fail afterwards count as failures but do not eject it
// again: a burst of failures is one ejection at the base back-off, not one
// per failure.
func TestFailuresWhileEjected(t *testing.T) {
	c := newClock()
	h := NewRegistry(lifecycleOptions(c)).Get("p", "m")
	for range 3 {
		h.Failure()
	}
	for range 60 { // the rest of a burst of 63 requests in flight
		h.Failure()
	}
	wantStatus(t, c, h, Ejected, 1, 63, 10*time.Second)
	c.add(10 * time.Second)
	h.Failure() // half-open, before the probe: a straggler
	wantStatus(t, c, h, HalfOpen, 1, 64, 0)
	c.add(-10 * time.Second)
	probeAt(t, c, h, 10*time.Second)
	h.Failure() // the probe
	wantStatus(t, c, h, Ejected, 2, 65, 20*time.Second)
	if s := h.Status(); s.Failures != 65 {
		t.Fatalf("%d failures counted, want 65", s.Failures)
	}
}

// TestProbeEndedByCooldown: a probe answered with Retry-After ends the
// probe (the target asked to wait, it did not fail): after the wait the
// target is probed again, and the ejection count stays.
func TestProbeEndedByCooldown(t *testing.T) {
	c := newClock()
	h := NewRegistry(lifecycleOptions(c)).Get("p", "m")
	for range 3 {
		h.Failure()
	}
	probeAt(t, c, h, 10*time.Second)
	h.Cooldown(c.t.Add(5 * time.Second))
	wantStatus(t, c, h, Cooling, 1, 3, 5*time.Second)
	probeAt(t, c, h, 5*time.Second)
	h.Release() // the client left: no verdict, the next request probes
	if ok, probe := h.Availability(); !ok || !probe {
		t.Fatalf("after a released probe: available %v, probe %v", ok, probe)
	}
	h.Success(time.Millisecond)
	wantStatus(t, c, h, Healthy, 0, 0, 0)
}
