package redislimit

import (
	"testing"

	"github.com/sluicehq/sluice/internal/ratelimit"
)

// BenchmarkAdmitDone is one request's limiter cost in shared mode: an Admit
// and a Done, two round trips to Redis on loopback.
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
		tk, d := l.Admit("bench", lim, 10)
		if d != nil {
			b.Fatal(d)
		}
		tk.Done(10, 1)
	}
	if h := l.Health(); h.StoreFailures != 0 {
		b.Fatalf("%+v", h)
	}
}
