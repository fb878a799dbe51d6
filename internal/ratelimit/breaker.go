package ratelimit

import (
	"sync"
	"time"
)

// breaker is the circuit breaker in front of the shared store. It opens
// after failuresToOpen failures in a row, or when failures have lasted
// failFor with no success; while open, nothing is sent to the store except
// the Limiter's probe, whose success closes it. It keeps real time (not the
// Limiter's clock, which tests move).
type breaker struct {
	failuresToOpen int
	failFor        time.Duration

	mu          sync.Mutex // guards everything below
	open        bool
	failures    int       // in a row
	streakStart time.Time // first failure of the current streak
	lastOK      time.Time
	lastFail    time.Time
	since       time.Time // when open last changed
	lastErr     string
}

// allow reports whether an operation may go to the store.
func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.open
}

// success records an answered operation. It does not close an open breaker
// (only the probe does, see closeIfOpen), so that one slow reply from before
// the outage cannot flip the mode back and forth.
func (b *breaker) success(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastOK = now
	if !b.open {
		b.failures = 0
	}
}

// failure records a failed operation and reports whether it opened the
// breaker.
func (b *breaker) failure(now time.Time, err error) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastErr, b.lastFail = err.Error(), now
	if b.open {
		return false
	}
	b.failures++
	if b.failures == 1 {
		b.streakStart = now
	}
	if b.failures >= b.failuresToOpen || now.Sub(b.streakStart) >= b.failFor {
		b.open, b.since = true, now
		return true
	}
	return false
}

// closeIfOpen closes the breaker after a successful probe and reports
// whether it was open, and for how long.
func (b *breaker) closeIfOpen(now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastOK, b.failures = now, 0
	if !b.open {
		return false, 0
	}
	d := now.Sub(b.since)
	b.open, b.since = false, now
	return true, d
}

type breakerState struct {
	open     bool
	failures int
	since    time.Time
	lastOK   time.Time
	lastFail time.Time
	lastErr  string
}

func (b *breaker) state() breakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return breakerState{open: b.open, failures: b.failures, since: b.since, lastOK: b.lastOK, lastFail: b.lastFail, lastErr: b.lastErr}
}
