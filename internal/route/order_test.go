package route

import (
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"
)

// TestSmoothWeightedSequence: the smooth weighted round robin interleaves
// picks as nginx does (weights 5, 1, 1 give a a b a c a a), and breaks ties
// by configuration order.
func TestSmoothWeightedSequence(t *testing.T) {
	tests := []struct {
		weights []int
		want    []int
	}{
		{[]int{5, 1, 1}, []int{0, 0, 1, 0, 2, 0, 0}},
		{[]int{1, 1, 1}, []int{0, 1, 2, 0, 1, 2}},
		{[]int{1, 2}, []int{1, 0, 1, 1, 0, 1}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.weights), func(t *testing.T) {
			r, _ := NewRouter(Weighted, targets(NewRegistry(HealthOptions{}), tc.weights...))
			var got []int
			for range tc.want {
				got = append(got, r.Plan("").Order[0])
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("picks %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCanaryZeroWeights: an arm of weight 0 gets no first choices; when
// every arm weighs 0, the first arm takes them all.
func TestCanaryZeroWeights(t *testing.T) {
	tests := []struct {
		weights []int
		want    int
	}{
		{[]int{0, 0}, 0},
		{[]int{0, 0, 0}, 0},
		{[]int{0, 1}, 1},
		{[]int{0, 1, 0}, 1},
		{[]int{0, 0, 7}, 2},
		{[]int{-3, 5}, 1},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.weights), func(t *testing.T) {
			r, _ := NewRouter(Canary, targets(NewRegistry(HealthOptions{}), tc.weights...))
			for u := range 200 {
				sticky := fmt.Sprint("user-", u)
				if u%2 == 0 {
					sticky = "" // random
				}
				if got := r.Plan(sticky).Order[0]; got != tc.want {
					t.Fatalf("%q went first to %d, want %d", sticky, got, tc.want)
				}
			}
		})
	}
}

// TestSortingPoliciesAreStable: least-cost, least-in-flight and
// least-latency order the targets by their measure and keep configuration
// order among equals, for few targets and for many.
func TestSortingPoliciesAreStable(t *testing.T) {
	for _, n := range []int{3, 8, 25, 60} {
		for _, p := range []Policy{LowestCost, LeastInflight, LeastLatency} {
			t.Run(fmt.Sprint(p, n), func(t *testing.T) {
				reg := NewRegistry(HealthOptions{})
				ts := make([]Target, n)
				key := make([]int64, n) // the measure the policy sorts by
				for i := range ts {
					ts[i] = Target{Cost: int64((i * 7) % 4), Health: reg.Get(fmt.Sprint("p", i), "m")}
					switch p {
					case LowestCost:
						key[i] = ts[i].Cost
					case LeastInflight:
						for range (i * 5) % 3 {
							ts[i].Health.Begin()
						}
						key[i] = ts[i].Health.InFlight()
					case LeastLatency:
						if v := (i * 3) % 4; v > 0 { // 0: never measured, sorted first
							ts[i].Health.Success(time.Duration(v) * time.Millisecond)
							key[i] = int64(v)
						}
					}
				}
				want := make([]int, n)
				for i := range want {
					want[i] = i
				}
				sort.SliceStable(want, func(a, b int) bool { return key[want[a]] < key[want[b]] })
				r, _ := NewRouter(p, ts)
				r.explore = 0
				if got := r.Plan("").Order; !slices.Equal(got, want) {
					t.Fatalf("order %v, want %v", got, want)
				}
			})
		}
	}
}

// TestRouterBasics: a router keeps its policy, and needs targets.
func TestRouterBasics(t *testing.T) {
	for _, p := range Policies {
		r, err := NewRouter(p, targets(NewRegistry(HealthOptions{}), 1))
		if err != nil || r.Policy() != p {
			t.Fatalf("NewRouter(%s): %v, %v", p, r, err)
		}
		if got := r.Plan("x").Order; !slices.Equal(got, []int{0}) {
			t.Fatalf("%s with one target: %v", p, got)
		}
		if r, err := NewRouter(p, nil); err == nil || r != nil {
			t.Fatalf("NewRouter(%s) without targets: %v, %v", p, r, err)
		}
	}
}

// TestEjectedOnlyWhileOut: Ejected is true while the target is cooling or
// ejected, or half-open with its probe out, and false when it is healthy or
// half-open waiting for a probe, without claiming the probe.
func TestEjectedOnlyWhileOut(t *testing.T) {
	tests := []struct {
		name  string
		setup func(c *clock, h *Health)
		want  bool
	}{
		{"healthy", func(c *clock, h *Health) {}, false},
		{"failing below the threshold", func(c *clock, h *Health) { h.Failure(); h.Failure() }, false},
		{"ejected", func(c *clock, h *Health) { h.Failure(); h.Failure(); h.Failure() }, true},
		{"half-open, no probe", func(c *clock, h *Health) {
			h.Failure()
			h.Failure()
			h.Failure()
			c.add(10 * time.Second)
		}, false},
		{"half-open, probe out", func(c *clock, h *Health) {
			h.Failure()
			h.Failure()
			h.Failure()
			c.add(10 * time.Second)
			h.Availability()
		}, true},
		{"cooling", func(c *clock, h *Health) { h.Cooldown(c.t.Add(time.Second)) }, true},
		{"cooled down", func(c *clock, h *Health) { h.Cooldown(c.t.Add(time.Second)); c.add(time.Second) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			h := NewRegistry(lifecycleOptions(c)).Get("p", "m")
			tc.setup(c, h)
			if got := h.Ejected(); got != tc.want {
				t.Fatalf("Ejected() = %v, want %v", got, tc.want)
			}
			if got := h.Ejected(); got != tc.want {
				t.Fatalf("Ejected() changed on a second call to %v", got)
			}
		})
	}
}
