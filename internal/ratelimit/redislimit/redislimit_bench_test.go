package redislimit

import (
	"sync/atomic"
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

// BenchmarkFrozenRedis measures what TestRedisFrozen and TestFrozenBurst
// bound by counting: how long a request waits on a Redis that accepts
// connections and never answers, 64 requests at a time. With the breaker
// held closed every request waits out its 50 ms deadline, the most a
// request may wait; with it open every request is decided here. Each
// reports its slowest request (max-ms); no Redis is needed.
func BenchmarkFrozenRedis(b *testing.B) {
	for _, bc := range []struct {
		name           string
		failuresToOpen int
	}{{"breaker-closed", 1 << 30}, {"breaker-open", 5}} {
		b.Run(bc.name, func(b *testing.B) {
			o := frozenOptions
			o.FailuresToOpen = bc.failuresToOpen
			l, _ := frozenNode(b, newFrozenRedis(b), o)
			lim := ratelimit.Limits{RPM: 1 << 40}
			for l.Mode() != ratelimit.ModeDegraded && bc.failuresToOpen == 5 {
				ts, _ := admit(l, "k", lim, 0)
				ts.Done(0, 0)
			}
			var slowest atomic.Int64
			b.SetParallelism(32) // 64 goroutines on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					t0 := time.Now()
					ts, d := admit(l, "k", lim, 0)
					if d != nil {
						b.Error(d)
						return
					}
					ts.Done(0, 0)
					took := int64(time.Since(t0))
					for old := slowest.Load(); took > old; old = slowest.Load() {
						if slowest.CompareAndSwap(old, took) {
							break
						}
					}
				}
			})
			b.ReportMetric(float64(slowest.Load())/1e6, "max-ms")
		})
	}
}
