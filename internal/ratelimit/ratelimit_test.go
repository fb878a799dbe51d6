package ratelimit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// admit admits a request at one subject through AdmitAll, the data plane's
// path.
func admit(l *Limiter, id string, lim Limits, worst int64) (*Tickets, *Denial) {
	ts, _, d := l.AdmitAll([]Subject{{ID: id, Limits: lim, WorstMicros: worst}})
	return ts, d
}

// TestBudgetExactUnderConcurrency is K1 at the limiter: 200 requests
// released together against a budget for 100 admit exactly 100, and the
// settled spend equals the budget, wave after wave.
func TestBudgetExactUnderConcurrency(t *testing.T) {
	for rep := range 20 {
		l := New(nil)
		lim := Limits{BudgetMicros: 1_000_000, BudgetPeriod: Total}
		var admitted atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				tk, d := admit(l, "k", lim, 10_000)
				if d != nil {
					if d.Limit != "budget" {
						t.Errorf("denied by %s", d.Limit)
					}
					return
				}
				admitted.Add(1)
				time.Sleep(time.Millisecond)
				tk.Done(10_000, 1)
			}()
		}
		close(start)
		wg.Wait()
		if admitted.Load() != 100 {
			t.Fatalf("rep %d: admitted %d, want exactly 100", rep, admitted.Load())
		}
		if u := l.Usage("k"); u.SpentMicros != 1_000_000 || u.ReservedMicros != 0 || u.Concurrent != 0 {
			t.Fatalf("rep %d: usage %+v", rep, u)
		}
		if _, d := admit(l, "k", lim, 1); d == nil {
			t.Fatal("a request past the budget was admitted")
		}
	}
}

// TestRPMWindow is K2 with an injected clock: 64 goroutines hammering a key
// limited to 600 requests per minute are admitted 600 times per window.
func TestRPMWindow(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	l := New(func() time.Time { return time.Unix(0, now.Load()) })
	lim := Limits{RPM: 600}
	for window := range 3 {
		var admitted atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 50 {
					if tk, d := admit(l, "k", lim, 0); d == nil {
						admitted.Add(1)
						tk.Done(0, 0)
					} else if d.RetryAfter <= 0 || d.RetryAfter > time.Minute {
						t.Errorf("retry after %v", d.RetryAfter)
					}
				}
			}()
		}
		wg.Wait()
		if admitted.Load() != 600 {
			t.Fatalf("window %d: admitted %d, want 600", window, admitted.Load())
		}
		now.Add(int64(time.Minute))
	}
}

func TestConcurrencyAndTokens(t *testing.T) {
	l := New(nil)
	lim := Limits{MaxConcurrent: 2, TPM: 100}
	a, _ := admit(l, "k", lim, 0)
	b, _ := admit(l, "k", lim, 0)
	if _, d := admit(l, "k", lim, 0); d == nil || d.Limit != "concurrency" {
		t.Fatalf("third concurrent request: %+v", d)
	}
	a.Done(0, 60)
	b.Done(0, 60)
	b.Done(0, 60) // a second Done is a no-op
	if _, d := admit(l, "k", lim, 0); d == nil || d.Limit != "tokens" {
		t.Fatalf("past the token limit: %+v", d)
	}
	if u := l.Usage("k"); u.TokensThisMinute != 120 || u.Concurrent != 0 {
		t.Fatalf("usage %+v", u)
	}
}

func TestPeriods(t *testing.T) {
	at := time.Date(2026, 11, 27, 15, 4, 5, 0, time.UTC) // a Friday
	tests := []struct {
		p          Period
		start, end time.Time
	}{
		{Daily, time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)},
		{Weekly, time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)},
		{Monthly, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		{Total, time.Time{}, time.Time{}},
	}
	for _, tc := range tests {
		if s, e := tc.p.Start(at), tc.p.End(at); !s.Equal(tc.start) || !e.Equal(tc.end) {
			t.Errorf("%s: %v..%v, want %v..%v", tc.p, s, e, tc.start, tc.end)
		}
	}
	// A new period resets the spend.
	var now atomic.Int64
	now.Store(at.UnixNano())
	l := New(func() time.Time { return time.Unix(0, now.Load()) })
	lim := Limits{BudgetMicros: 100, BudgetPeriod: Daily}
	tk, _ := admit(l, "k", lim, 100)
	tk.Done(100, 0)
	if _, d := admit(l, "k", lim, 1); d == nil {
		t.Fatal("spent budget admitted a request")
	}
	now.Add(int64(24 * time.Hour))
	if _, d := admit(l, "k", lim, 1); d != nil {
		t.Fatalf("the next day must start a new budget: %+v", d)
	}
}
