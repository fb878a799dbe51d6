package route

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// TestHealthOptionDefaults: options left at zero take the documented
// defaults (5 failures, 10 s growing by 10 s per ejection in a row, capped
// at 5 min), and the smallest positive values are kept as given.
func TestHealthOptionDefaults(t *testing.T) {
	tests := []struct {
		name      string
		opts      HealthOptions
		threshold int
		base, max time.Duration
		ejections int // how many ejections in a row to follow
	}{
		{"zero values take the defaults", HealthOptions{}, 5, 10 * time.Second, 5 * time.Minute, 33},
		{"negative values take the defaults", HealthOptions{ConsecutiveFailures: -1, BaseEjection: -1, MaxEjection: -1}, 5, 10 * time.Second, 5 * time.Minute, 33},
		{"the smallest positive values are kept", HealthOptions{ConsecutiveFailures: 1, BaseEjection: 1, MaxEjection: 1}, 1, 1, 1, 3},
		{"the smallest base is kept under a larger cap", HealthOptions{ConsecutiveFailures: 1, BaseEjection: 1, MaxEjection: 2}, 1, 1, 2, 3},
		{"a cap below the base caps the first ejection", HealthOptions{ConsecutiveFailures: 2, BaseEjection: time.Minute, MaxEjection: time.Second}, 2, time.Minute, time.Second, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			opts := tc.opts
			opts.Now = c.now
			h := NewRegistry(opts).Get("p", "m")
			for range tc.threshold - 1 {
				h.Failure()
			}
			wantStatus(t, c, h, Healthy, 0, tc.threshold-1, 0)
			h.Failure()
			backoff := min(tc.base, tc.max)
			wantStatus(t, c, h, Ejected, 1, tc.threshold, backoff)
			for k := 2; k <= tc.ejections; k++ {
				probeAt(t, c, h, backoff)
				h.Failure()
				backoff = min(time.Duration(k)*tc.base, tc.max)
				wantStatus(t, c, h, Ejected, k, tc.threshold+k-1, backoff)
			}
		})
	}
}

// TestDefaultClock: without a clock the registry uses the real time, so a
// fresh ejection ends about BaseEjection from now.
func TestDefaultClock(t *testing.T) {
	h := NewRegistry(HealthOptions{ConsecutiveFailures: 1, BaseEjection: time.Hour, MaxEjection: 2 * time.Hour}).Get("p", "m")
	before := time.Now()
	h.Failure()
	s := h.Status()
	if s.State != Ejected || s.Until.Before(before.Add(time.Hour)) || s.Until.After(time.Now().Add(time.Hour)) {
		t.Fatalf("status %+v, want ejected until an hour from %v", s, before)
	}
}

// TestTTFTMovingAverage: the first sample is taken as is, each later one
// moves the average a fifth of the way towards it.
func TestTTFTMovingAverage(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		samples []time.Duration
		want    time.Duration
	}{
		{"no samples", nil, 0},
		{"the first sample is the average", []time.Duration{100 * ms}, 100 * ms},
		{"a slower sample moves it a fifth of the way", []time.Duration{100 * ms, 200 * ms}, 120 * ms},
		{"a faster sample too", []time.Duration{100 * ms, 50 * ms}, 90 * ms},
		{"three samples", []time.Duration{100 * ms, 200 * ms, 200 * ms}, 136 * ms},
		{"a zero first sample counts", []time.Duration{0, 100 * ms}, 20 * ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := NewRegistry(HealthOptions{}).Get("p", "m")
			for _, s := range tc.samples {
				h.Success(s)
			}
			got, n := h.TTFT()
			if n != int64(len(tc.samples)) || math.Abs(float64(got-tc.want)) > float64(time.Microsecond) {
				t.Fatalf("TTFT %v over %d samples, want %v over %d", got, n, tc.want, len(tc.samples))
			}
			s := h.Status()
			if s.Samples != n || math.Abs(s.TTFTMillis-float64(tc.want)/float64(ms)) > 0.001 || s.Successes != n {
				t.Fatalf("status %+v, want %v ms over %d samples and successes", s, float64(tc.want)/float64(ms), n)
			}
		})
	}
}

// TestCounters: the in-flight gauge follows Begin and End, and the
// success and failure totals count every outcome.
func TestCounters(t *testing.T) {
	tests := []struct {
		begins, ends, successes, failures int
	}{
		{0, 0, 0, 0},
		{3, 1, 2, 1},
		{5, 5, 1, 3},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			h := NewRegistry(HealthOptions{}).Get("p", "m")
			for range tc.begins {
				h.Begin()
			}
			for range tc.ends {
				h.End()
			}
			for range tc.successes {
				h.Success(time.Millisecond)
			}
			for range tc.failures {
				h.Failure()
			}
			want := int64(tc.begins - tc.ends)
			s := h.Status()
			if h.InFlight() != want || s.InFlight != want || s.Successes != int64(tc.successes) || s.Failures != int64(tc.failures) {
				t.Fatalf("in flight %d, status %+v; want %d in flight, %d successes, %d failures", h.InFlight(), s, want, tc.successes, tc.failures)
			}
		})
	}
}

// TestRegistryKeys: one record per provider and model, shared by every
// Get of the same pair, and listed once each by Snapshot.
func TestRegistryKeys(t *testing.T) {
	reg := NewRegistry(HealthOptions{})
	pairs := [][2]string{{"a", "bc"}, {"ab", "c"}, {"a", "b"}, {"b", "a"}, {"", "ab"}, {"ab", ""}}
	for _, p := range pairs {
		h := reg.Get(p[0], p[1])
		if h.Provider != p[0] || h.Model != p[1] {
			t.Fatalf("Get(%q, %q) returned the record of %q/%q", p[0], p[1], h.Provider, h.Model)
		}
		if again := reg.Get(p[0], p[1]); again != h {
			t.Fatalf("Get(%q, %q) twice returned two records", p[0], p[1])
		}
	}
	reg.Get("a", "bc").Failure()
	snap := reg.Snapshot()
	if len(snap) != len(pairs) {
		t.Fatalf("snapshot of %d targets: %+v", len(pairs), snap)
	}
	seen := map[[2]string]Status{}
	for _, s := range snap {
		seen[[2]string{s.Provider, s.Model}] = s
	}
	for _, p := range pairs {
		s, ok := seen[p]
		if !ok {
			t.Fatalf("snapshot lacks %q/%q: %+v", p[0], p[1], snap)
		}
		if want := map[bool]int64{true: 1}[p == [2]string{"a", "bc"}]; s.Failures != want {
			t.Fatalf("%q/%q has %d failures, want %d", p[0], p[1], s.Failures, want)
		}
	}
}
