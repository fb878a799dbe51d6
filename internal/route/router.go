package route

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sync"
)

// Policy is a load-balancing policy.
type Policy string

// Policies.
const (
	Weighted      Policy = "weighted"       // smooth weighted round robin
	Priority      Policy = "priority"       // targets in order; the next on failure
	LeastLatency  Policy = "least-latency"  // lowest EWMA time to first token, with exploration
	LeastInflight Policy = "least-inflight" // fewest requests in flight
	LowestCost    Policy = "lowest-cost"    // cheapest by pricing
	Canary        Policy = "canary"         // sticky percentage split by key, user or header
)

// Policies lists the accepted policy names.
var Policies = []Policy{Weighted, Priority, LeastLatency, LeastInflight, LowestCost, Canary}

// Target is one candidate of a router.
type Target struct {
	Weight int
	// Cost orders targets for LowestCost (price per million tokens, any unit).
	Cost   int64
	Health *Health
}

// Router orders the targets of one model (or one conditional route).
type Router struct {
	policy  Policy
	targets []Target
	// explore is the share of least-latency requests sent to a random target.
	explore float64

	mu      sync.Mutex // guards current: the smooth weighted round robin state
	current []int
}

// NewRouter returns a router. Weights below 1 count as 1, except for
// Canary, where a weight of 0 gives a target no share of first choices.
func NewRouter(p Policy, targets []Target) (*Router, error) {
	if !slices.Contains(Policies, p) {
		return nil, fmt.Errorf("unknown routing policy %q", p)
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("no targets")
	}
	r := &Router{policy: p, targets: targets, explore: 0.1, current: make([]int, len(targets))}
	return r, nil
}

// Policy returns the router's policy.
func (r *Router) Policy() Policy { return r.policy }

// Plan is the order in which to try targets, by index, with the probe flag
// for a target taken as a half-open probe.
type Plan struct {
	Order []int
	Probe []bool
	// AllDown is set when every target is ejected or cooling; the plan then
	// holds one target, tried alone so that an outage does not multiply
	// upstream attempts.
	AllDown bool
}

// Plan orders the targets for one request. sticky is the value that pins
// a Canary assignment (a key, user or session id); "" picks at random.
func (r *Router) Plan(sticky string) Plan {
	order := r.policyOrder(sticky)
	var p Plan
	for _, i := range order {
		ok, probe := r.targets[i].Health.Availability()
		if ok {
			p.Order = append(p.Order, i)
			p.Probe = append(p.Probe, probe)
		}
	}
	if len(p.Order) == 0 {
		p.Order, p.Probe, p.AllDown = order[:1], []bool{false}, true
	}
	return p
}

func (r *Router) policyOrder(sticky string) []int {
	n := len(r.targets)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if n == 1 {
		return order
	}
	switch r.policy {
	case Priority:
	case Weighted:
		first := r.nextWeighted()
		order = moveFirst(order, first)
		rest := order[1:]
		slices.SortStableFunc(rest, func(a, b int) int { return r.weight(b) - r.weight(a) })
	case Canary:
		first := r.arm(sticky)
		order = moveFirst(order, first)
	case LeastLatency:
		if rand.Float64() < r.explore {
			return moveFirst(order, rand.IntN(n))
		}
		slices.SortStableFunc(order, func(a, b int) int {
			ta, na := r.targets[a].Health.TTFT()
			tb, nb := r.targets[b].Health.TTFT()
			switch { // targets with no samples first, so that each gets measured
			case na == 0 && nb != 0:
				return -1
			case nb == 0 && na != 0:
				return 1
			}
			return cmpInt64(int64(ta), int64(tb))
		})
	case LeastInflight:
		slices.SortStableFunc(order, func(a, b int) int {
			return cmpInt64(r.targets[a].Health.InFlight(), r.targets[b].Health.InFlight())
		})
	case LowestCost:
		slices.SortStableFunc(order, func(a, b int) int { return cmpInt64(r.targets[a].Cost, r.targets[b].Cost) })
	}
	return order
}

func (r *Router) weight(i int) int { return max(r.targets[i].Weight, 1) }

// nextWeighted is nginx's smooth weighted round robin: over any window of
// sum(weights) picks, each target is chosen exactly weight times, spread out.
func (r *Router) nextWeighted() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	total, best := 0, -1
	for i := range r.targets {
		w := r.weight(i)
		r.current[i] += w
		total += w
		if best < 0 || r.current[i] > r.current[best] {
			best = i
		}
	}
	r.current[best] -= total
	return best
}

// arm assigns a sticky value to a target by its weight: the same value
// always lands on the same target while the weights stay the same.
func (r *Router) arm(sticky string) int {
	total := 0
	for _, t := range r.targets {
		total += max(t.Weight, 0)
	}
	if total == 0 {
		return 0
	}
	var point int
	if sticky == "" {
		point = rand.IntN(total)
	} else {
		h := fnv.New64a()
		_, _ = h.Write([]byte(sticky))
		point = int(mix(h.Sum64()) % uint64(total))
	}
	for i, t := range r.targets {
		if point < max(t.Weight, 0) {
			return i
		}
		point -= max(t.Weight, 0)
	}
	return 0
}

// mix is a 64-bit finaliser (splitmix64) that spreads FNV's low bits.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func moveFirst(order []int, first int) []int {
	out := make([]int, 0, len(order))
	out = append(out, first)
	for _, i := range order {
		if i != first {
			out = append(out, i)
		}
	}
	return out
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
