package route

import (
	"fmt"
	"math"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Unix(1_700_000_000, 0)} }
func targets(reg *Registry, weights ...int) []Target {
	out := make([]Target, len(weights))
	for i, w := range weights {
		out[i] = Target{Weight: w, Cost: int64(10 - i), Health: reg.Get(fmt.Sprint("p", i), "m")}
	}
	return out
}

// TestWeightedConverges is a property test: for many weight vectors, every
// window of sum(weights) picks holds each target exactly weight times.
func TestWeightedConverges(t *testing.T) {
	for _, ws := range [][]int{{1}, {3, 1}, {5, 1, 1}, {2, 3, 7}, {1, 1, 1, 1}, {10, 0, 1}} {
		t.Run(fmt.Sprint(ws), func(t *testing.T) {
			r, err := NewRouter(Weighted, targets(NewRegistry(HealthOptions{}), ws...))
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for i := range ws {
				total += r.weight(i)
			}
			for window := range 20 {
				counts := make([]int, len(ws))
				for range total {
					counts[r.Plan("").Order[0]]++
				}
				for i := range ws {
					if counts[i] != r.weight(i) {
						t.Fatalf("window %d: counts %v, want weights %v", window, counts, ws)
					}
				}
			}
		})
	}
}

// TestCanaryIsStickyAndSplits checks that each user stays on one arm and
// that 10,000 users split within 2 percentage points of the configured share.
func TestCanaryIsStickyAndSplits(t *testing.T) {
	for _, share := range []int{1, 10, 25, 50} {
		t.Run(fmt.Sprintf("%d%%", share), func(t *testing.T) {
			r, _ := NewRouter(Canary, targets(NewRegistry(HealthOptions{}), 100-share, share))
			const users = 10_000
			onCanary := 0
			for u := range users {
				id := fmt.Sprintf("user-%d", u)
				arm := r.Plan(id).Order[0]
				for range 3 {
					if again := r.Plan(id).Order[0]; again != arm {
						t.Fatalf("%s moved from arm %d to %d", id, arm, again)
					}
				}
				if arm == 1 {
					onCanary++
				}
			}
			got := float64(onCanary) * 100 / users
			if math.Abs(got-float64(share)) > 2 {
				t.Fatalf("canary got %.2f%% of users, want %d%% ± 2", got, share)
			}
		})
	}
}

func TestEjectionProbeAndRecovery(t *testing.T) {
	c := newClock()
	reg := NewRegistry(HealthOptions{Now: c.now})
	r, _ := NewRouter(Priority, targets(reg, 1, 1))
	a := r.targets[0].Health
	for range 4 {
		a.Failure()
	}
	if got := r.Plan("").Order; got[0] != 0 {
		t.Fatalf("4 failures must not eject: %v", got)
	}
	a.Failure()
	if got := r.Plan("").Order; len(got) != 1 || got[0] != 1 {
		t.Fatalf("after 5 failures A must be out: %v", got)
	}
	if s := a.Status(); s.State != Ejected {
		t.Fatalf("state %s", s.State)
	}
	c.add(10 * time.Second)
	p := r.Plan("")
	if p.Order[0] != 0 || !p.Probe[0] {
		t.Fatalf("after the ejection A must be probed first: %+v", p)
	}
	if p2 := r.Plan(""); p2.Order[0] != 1 {
		t.Fatalf("only one probe at a time: %+v", p2)
	}
	a.Failure() // the probe fails: ejected again, for longer
	c.add(15 * time.Second)
	if p := r.Plan(""); p.Order[0] != 1 {
		t.Fatalf("second ejection lasts 20 s: %+v", p)
	}
	c.add(5 * time.Second)
	p = r.Plan("")
	if !p.Probe[0] {
		t.Fatalf("probe expected: %+v", p)
	}
	a.Success(time.Millisecond)
	if s := a.Status(); s.State != Healthy || s.ConsecutiveFailures != 0 {
		t.Fatalf("after a good probe A is healthy: %+v", s)
	}
}

func TestCooldownAndAllDown(t *testing.T) {
	c := newClock()
	reg := NewRegistry(HealthOptions{Now: c.now})
	r, _ := NewRouter(Priority, targets(reg, 1, 1))
	r.targets[0].Health.Cooldown(c.t.Add(2 * time.Second))
	if p := r.Plan(""); len(p.Order) != 1 || p.Order[0] != 1 {
		t.Fatalf("cooling target must be skipped: %+v", p)
	}
	r.targets[1].Health.Cooldown(c.t.Add(time.Second))
	if p := r.Plan(""); !p.AllDown || len(p.Order) != 1 {
		t.Fatalf("all down: one attempt, flagged: %+v", p)
	}
	c.add(2 * time.Second)
	if p := r.Plan(""); len(p.Order) != 2 || p.AllDown {
		t.Fatalf("after Retry-After both are back: %+v", p)
	}
}

func TestPolicies(t *testing.T) {
	reg := NewRegistry(HealthOptions{})
	ts := targets(reg, 1, 1, 1)
	lc, _ := NewRouter(LowestCost, ts)
	if got := lc.Plan("").Order; got[0] != 2 {
		t.Fatalf("lowest cost first: %v", got)
	}
	li, _ := NewRouter(LeastInflight, ts)
	ts[0].Health.Begin()
	ts[1].Health.Begin()
	if got := li.Plan("").Order; got[0] != 2 {
		t.Fatalf("least in flight first: %v", got)
	}
	ll, _ := NewRouter(LeastLatency, ts)
	ll.explore = 0
	ts[0].Health.Success(50 * time.Millisecond)
	ts[1].Health.Success(10 * time.Millisecond)
	ts[2].Health.Success(30 * time.Millisecond)
	if got := ll.Plan("").Order; got[0] != 1 || got[1] != 2 || got[2] != 0 {
		t.Fatalf("least latency order: %v", got)
	}
	if _, err := NewRouter("random", ts); err == nil {
		t.Fatal("unknown policy accepted")
	}
}
