package throttle

import (
	"strconv"
	"testing"
)

// BenchmarkThrottleAllow is the data plane's cost per request with a bad-key throttle in
// front: one lookup of a key that has failed before.
func BenchmarkThrottleAllow(b *testing.B) {
	th := New(20, nil)
	th.Fail("203.0.113.7")
	b.ReportAllocs()
	for b.Loop() {
		th.Allow("203.0.113.7")
	}
}

// BenchmarkThrottleAllowMiss is a key the throttle has never seen (the common case).
func BenchmarkThrottleAllowMiss(b *testing.B) {
	th := New(20, nil)
	b.ReportAllocs()
	for b.Loop() {
		th.Allow("198.51.100.23")
	}
}

// BenchmarkThrottleAllowParallel spreads lookups over 10k tracked keys from all Ps.
func BenchmarkThrottleAllowParallel(b *testing.B) {
	th := New(20, nil)
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = "10.0." + strconv.Itoa(i>>8) + "." + strconv.Itoa(i&255)
		th.Fail(keys[i])
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			th.Allow(keys[i%len(keys)])
			i++
		}
	})
}

// BenchmarkThrottleFailFlood is S7's flood: a new key every call, at the 100k cap.
func BenchmarkThrottleFailFlood(b *testing.B) {
	th := New(20, nil)
	keys := make([]string, 1<<17)
	for i := range keys {
		keys[i] = "gw-bad-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		th.Fail(keys[i&(len(keys)-1)])
		i++
	}
	b.ReportMetric(float64(th.Len()), "keys")
}
