package route

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// wantPermutation fails t unless order holds each of n targets once.
func wantPermutation(t *testing.T, order []int, n int) {
	t.Helper()
	if len(order) != n {
		t.Fatalf("order %v, want each of %d targets once", order, n)
	}
	seen := make([]bool, n)
	for _, i := range order {
		if i < 0 || i >= n || seen[i] {
			t.Fatalf("order %v, want each of %d targets once", order, n)
		}
		seen[i] = true
	}
}

// TestFailoverOrder: whatever a policy picks first, the plan goes on to
// every other target once; a weighted router falls over to the heavier
// targets first, a canary to the other arms in their configured order.
func TestFailoverOrder(t *testing.T) {
	tests := []struct {
		policy  Policy
		weights []int
	}{
		{Weighted, []int{1, 2, 3}},
		{Weighted, []int{3, 1, 2, 5}},
		{Weighted, []int{2, 2}},
		{Canary, []int{50, 50}},
		{Canary, []int{10, 20, 70}},
		{Canary, []int{0, 1, 0}},
		{Priority, []int{1, 1, 1}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.policy, tc.weights), func(t *testing.T) {
			r, err := NewRouter(tc.policy, targets(NewRegistry(HealthOptions{}), tc.weights...))
			if err != nil {
				t.Fatal(err)
			}
			for u := range 40 {
				order := r.Plan(fmt.Sprint("user-", u)).Order
				wantPermutation(t, order, len(tc.weights))
				rest := order[1:]
				var want []int
				for i := range tc.weights {
					if i != order[0] {
						want = append(want, i)
					}
				}
				if tc.policy == Weighted {
					slices.SortStableFunc(want, func(a, b int) int { return max(tc.weights[b], 1) - max(tc.weights[a], 1) })
				}
				if !slices.Equal(rest, want) {
					t.Fatalf("plan %v: after %d, want %v", order, order[0], want)
				}
			}
		})
	}
}

// TestCanaryAssignmentIsStable: a sticky value lands on the same arm in
// every process and every release (restarts and upgrades must not move
// users between arms), so the assignment of known values is pinned.
func TestCanaryAssignmentIsStable(t *testing.T) {
	tests := []struct {
		weights []int
		prefix  string
		want    string // the arm of prefix-0, prefix-1, ...
	}{
		{[]int{30, 70}, "user-", "10111011110110110010101111011111"},
		{[]int{1, 1, 1}, "key-", "00202110101100000000222120022022"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.weights), func(t *testing.T) {
			r, _ := NewRouter(Canary, targets(NewRegistry(HealthOptions{}), tc.weights...))
			got := ""
			for u := range len(tc.want) {
				got += fmt.Sprint(r.Plan(fmt.Sprint(tc.prefix, u)).Order[0])
			}
			if got != tc.want {
				t.Fatalf("arms %s, want %s", got, tc.want)
			}
		})
	}
}

// TestLeastLatencyOrder: targets never measured are tried first, so that
// each gets measured; the others go by their TTFT moving average, not by
// their last sample.
func TestLeastLatencyOrder(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		samples [][]time.Duration // per target
		want    []int
	}{
		{"an unmeasured target first", [][]time.Duration{{10 * ms}, nil}, []int{1, 0}},
		{"unmeasured before a zero average", [][]time.Duration{{0}, nil, {5 * ms}}, []int{1, 0, 2}},
		{"one sample is a measurement", [][]time.Duration{{50 * ms}, {10 * ms, 10 * ms}}, []int{1, 0}},
		{"by average, not last sample", [][]time.Duration{{10 * ms, 100 * ms}, {40 * ms}}, []int{0, 1}},
		{"slowest last", [][]time.Duration{{30 * ms}, {20 * ms, 20 * ms}, {10 * ms}}, []int{2, 1, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := make([]int, len(tc.samples))
			ts := targets(NewRegistry(HealthOptions{}), ws...)
			for i, ss := range tc.samples {
				for _, s := range ss {
					ts[i].Health.Success(s)
				}
			}
			r, _ := NewRouter(LeastLatency, ts)
			r.explore = 0
			if got := r.Plan("").Order; !slices.Equal(got, tc.want) {
				t.Fatalf("order %v, want %v", got, tc.want)
			}
		})
	}
}

// TestLeastLatencyExplores: a share of requests goes first to a random
// target, and the plan still holds every target once.
func TestLeastLatencyExplores(t *testing.T) {
	ts := targets(NewRegistry(HealthOptions{}), 1, 1, 1)
	for i, d := range []time.Duration{time.Millisecond, time.Second, time.Second} {
		ts[i].Health.Success(d)
	}
	r, _ := NewRouter(LeastLatency, ts)
	r.explore = 1
	firsts := make([]int, 3)
	for range 300 {
		order := r.Plan("").Order
		wantPermutation(t, order, 3)
		firsts[order[0]]++
	}
	for i, n := range firsts {
		if n < 50 {
			t.Fatalf("exploring, target %d came first %d times in 300: %v", i, n, firsts)
		}
	}
}
