package redislimit

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ratelimit"
)

// BenchmarkAdmitDone is one request's limiter cost in shared mode: an
// AdmitAll at one subject and a Done, two round trips to Redis on loopback.
func BenchmarkAdmitDone(b *testing.B) {
	addr := benchAddr(b)
	s, err := New(Options{Addr: addr, Prefix: "sluicebench:"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	l := ratelimit.NewShared(s, ratelimit.Options{})
	defer l.Close()
	lim := ratelimit.Limits{RPM: 1 << 40, MaxConcurrent: 100, BudgetMicros: 1 << 50, BudgetPeriod: ratelimit.Monthly}
	b.ReportAllocs()
	for b.Loop() {
		tk, d := admit(l, "bench", lim, 10)
		if d != nil {
			b.Fatal(d)
		}
		tk.Done(10, 1)
	}
	if h := l.Health(); h.StoreFailures != 0 {
		b.Fatalf("%+v", h)
	}
}

// threeLevels are a request's key, team and organisation.
var threeLevels = []ratelimit.Subject{
	{ID: "key:k", Limits: ratelimit.Limits{RPM: 1 << 40, MaxConcurrent: 100, BudgetMicros: 1 << 50, BudgetPeriod: ratelimit.Monthly}, WorstMicros: 10},
	{ID: "team:t", Limits: ratelimit.Limits{RPM: 1 << 40, BudgetMicros: 1 << 50, BudgetPeriod: ratelimit.Monthly}, WorstMicros: 10},
	{ID: "org:o", Limits: ratelimit.Limits{BudgetMicros: 1 << 50, BudgetPeriod: ratelimit.Monthly}, WorstMicros: 10},
}

func benchLimiter(b *testing.B) *ratelimit.Limiter {
	s, err := New(Options{Addr: benchAddr(b), Prefix: "sluicebench:", Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	l := ratelimit.NewShared(s, ratelimit.Options{Timeout: time.Second})
	b.Cleanup(l.Close)
	return l
}

// BenchmarkAdmitAll3 is one request's limiter cost in shared mode at three
// levels: an AdmitAll and a Tickets.Done, two round trips.
func BenchmarkAdmitAll3(b *testing.B) {
	l := benchLimiter(b)
	b.ReportAllocs()
	for b.Loop() {
		ts, _, d := l.AdmitAll(threeLevels)
		if d != nil {
			b.Fatal(d)
		}
		ts.Done(10, 1)
	}
	if h := l.Health(); h.StoreFailures != 0 {
		b.Fatalf("%+v", h)
	}
}
