package ratelimit

import (
	"testing"
	"time"
)

// TestAnswersEndAFailureStreak: every kind of store operation that
// answers starts the breaker's count of failures in a row again, so 4
// failures, an answer and 4 more failures leave shared limits on.
func TestAnswersEndAFailureStreak(t *testing.T) {
	lim := Limits{RPM: 1000}
	tests := []struct {
		name   string
		answer func(l *Limiter, ts *Tickets)
	}{
		{"admission", func(l *Limiter, ts *Tickets) { admit(l, "k", lim, 0) }},
		{"settlement", func(l *Limiter, ts *Tickets) { ts.Done(0, 0) }},
		{"one ticket's settlement", func(l *Limiter, ts *Tickets) { ts.Ticket(0).Done(0, 0) }},
		{"cancellation", func(l *Limiter, ts *Tickets) { ts.Cancel() }},
		{"read", func(l *Limiter, ts *Tickets) {
			time.Sleep(usageFresh + 10*time.Millisecond) // past the failure's grace
			l.Usage("k")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &scriptedStore{}
			l := NewShared(st, quiet(&lockedBuffer{}))
			defer l.Close()
			ts, _ := admit(l, "k", lim, 0)
			fail := func() {
				st.down.Store(true)
				for range 4 {
					admit(l, "other", lim, 0)
				}
				st.down.Store(false)
			}
			fail()
			calls := st.calls.Load()
			tc.answer(l, ts)
			if st.calls.Load() == calls {
				t.Fatal("the answer did not reach the store")
			}
			fail()
			if h := l.Health(); h.Mode != ModeShared || h.StoreFailures != 8 {
				t.Fatalf("health %+v, want shared after 8 failures in two streaks", h)
			}
		})
	}
}
