// Package ratelimittest is the conformance suite that every limiter backend
// passes: each limit kind (requests and tokens per minute, concurrent
// requests, budget) at each level of a request (key, application, team,
// organisation, model) alone at its exact edge, then two levels together,
// then settlement, all through Limiter.AdmitAll as the data plane calls it.
// The in-memory limiter runs it in package ratelimit, the Redis one in
// package redislimit.
package ratelimittest

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ratelimit"
)

// NewLimiter returns a fresh limiter for one test whose clock is now, with
// no state from any other test; it closes the limiter when t ends.
type NewLimiter func(t *testing.T, now func() time.Time) *ratelimit.Limiter

// Clock is a settable clock, safe for concurrent use.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.ns.Store(t.UnixNano())
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// level is one level of a request, in the data plane's order (see
// runtime.Level): the scope is what a denial names.
type level struct{ scope, id string }

var levels = []level{
	{"key", "key_1"},
	{"application", "app_1"},
	{"team", "team_1"},
	{"organisation", "org_1"},
	{"model", "model:gpt-x"},
}

// start is 10 s into a minute of a Monday, so that no test crosses a minute
// or a day unless it moves the clock.
var start = time.Date(2026, 3, 2, 10, 0, 10, 0, time.UTC)

// worst is the budget reservation of every request of the edge tests.
const worst = 1_000

// kind is one limit kind: how to set it to n, how to use it up, and what a
// refusal by it says.
type kind struct {
	name  string // as in the configuration
	limit string // Denial.Limit
	// limits returns the limits that allow n units.
	limits func(n int64) ratelimit.Limits
	// max is what a refusal by limits(n) reports as Denial.Max.
	max func(n int64) int64
	// used returns how many units a level's usage shows.
	used func(c counts) int64
	// fill uses up n units at every level of subjects through admissions
	// that each must be admitted, and returns the tickets that hold units.
	fill func(t *testing.T, l *ratelimit.Limiter, subjects []ratelimit.Subject, n int64) []*ratelimit.Tickets
}

var kinds = []kind{
	{
		name: "rpm", limit: "requests",
		limits: func(n int64) ratelimit.Limits { return ratelimit.Limits{RPM: n} },
		max:    func(n int64) int64 { return n },
		used:   func(c counts) int64 { return c.requests },
		fill: func(t *testing.T, l *ratelimit.Limiter, s []ratelimit.Subject, n int64) []*ratelimit.Tickets {
			for i := range n {
				mustAdmit(t, l, s, "request %d of %d", i+1, n).Done(0, 0)
			}
			return nil
		},
	},
	{
		// Tokens are counted when a request ends; a request is admitted
		// while the minute's tokens are under the limit.
		name: "tpm", limit: "tokens",
		limits: func(n int64) ratelimit.Limits { return ratelimit.Limits{TPM: n} },
		max:    func(n int64) int64 { return n },
		used:   func(c counts) int64 { return c.tokens },
		fill: func(t *testing.T, l *ratelimit.Limiter, s []ratelimit.Subject, n int64) []*ratelimit.Tickets {
			mustAdmit(t, l, s, "the first request").Done(0, n-1)
			mustAdmit(t, l, s, "a request at %d of %d tokens", n-1, n).Done(0, 1)
			return nil
		},
	},
	{
		name: "max_concurrent", limit: "concurrency",
		limits: func(n int64) ratelimit.Limits { return ratelimit.Limits{MaxConcurrent: n} },
		max:    func(n int64) int64 { return n },
		used:   func(c counts) int64 { return c.concurrent },
		fill: func(t *testing.T, l *ratelimit.Limiter, s []ratelimit.Subject, n int64) []*ratelimit.Tickets {
			var held []*ratelimit.Tickets
			for i := range n {
				held = append(held, mustAdmit(t, l, s, "request %d of %d in flight", i+1, n))
			}
			return held
		},
	},
	{
		// A request reserves its worst case; spent + reserved + worst may
		// reach the budget, not pass it.
		name: "budget", limit: "budget",
		limits: func(n int64) ratelimit.Limits {
			return ratelimit.Limits{BudgetMicros: n * worst, BudgetPeriod: ratelimit.Daily}
		},
		max:  func(n int64) int64 { return n * worst },
		used: func(c counts) int64 { return (c.spent + c.reserved) / worst },
		fill: func(t *testing.T, l *ratelimit.Limiter, s []ratelimit.Subject, n int64) []*ratelimit.Tickets {
			var held []*ratelimit.Tickets
			for i := range n {
				held = append(held, mustAdmit(t, l, s, "reservation %d of %d", i+1, n))
			}
			return held
		},
	},
}

// request returns the subjects of a request at every level, with lims[i]
// at level i (a level without limits is skipped, as the data plane's are)
// and every level reserving worst.
func request(lims map[int]ratelimit.Limits) []ratelimit.Subject {
	s := make([]ratelimit.Subject, len(levels))
	for i, lv := range levels {
		s[i] = ratelimit.Subject{ID: lv.id, Limits: lims[i], WorstMicros: worst, Scope: lv.scope}
	}
	return s
}

func mustAdmit(t *testing.T, l *ratelimit.Limiter, s []ratelimit.Subject, format string, args ...any) *ratelimit.Tickets {
	t.Helper()
	ts, at, d := l.AdmitAll(s)
	if d != nil || at != -1 {
		t.Fatalf(format+": refused by level %d: %+v", append(args, at, d)...)
	}
	return ts
}

// refused checks that the next admission is refused by level want's limit
// (Denial.Limit) whose value is ceiling, with remaining budget left
// (budget refusals), and that the refusal took nothing at any level.
func refused(t *testing.T, l *ratelimit.Limiter, s []ratelimit.Subject, want int, limit string, ceiling, remaining int64) {
	t.Helper()
	before := usages(l)
	ts, at, d := l.AdmitAll(s)
	if d == nil {
		ts.Done(0, 0)
		t.Fatalf("admitted past the %s's %s limit of %d", levels[want].scope, limit, ceiling)
	}
	if at != want || ts != nil {
		t.Fatalf("refused by level %d (tickets %v), want %d (the %s): %+v", at, ts, want, levels[want].scope, d)
	}
	if d.Limit != limit || d.Max != ceiling || !strings.Contains(d.Message, "for this "+levels[want].scope) || d.RetryAfter <= 0 ||
		(limit == "budget" && d.Remaining != remaining) {
		t.Fatalf("the %s's %s limit of %d refused with %+v", levels[want].scope, limit, ceiling, d)
	}
	if after := usages(l); after != before {
		t.Fatalf("the refusal changed the levels' usage:\nbefore %+v\nafter  %+v", before, after)
	}
}

// counts are the counters of a Usage, without its period.
type counts struct{ requests, tokens, concurrent, spent, reserved int64 }

// usages returns every level's counters, in the order of levels.
func usages(l *ratelimit.Limiter) (out [5]counts) {
	for i, lv := range levels {
		u := l.Usage(lv.id)
		out[i] = counts{u.RequestsThisMinute, u.TokensThisMinute, u.Concurrent, u.SpentMicros, u.ReservedMicros}
	}
	return out
}

// Run runs the suite against the limiters that newLimiter makes.
func Run(t *testing.T, newLimiter NewLimiter) {
	t.Run("Alone", func(t *testing.T) { alone(t, newLimiter) })
	t.Run("TwoLevels", func(t *testing.T) { twoLevels(t, newLimiter) })
	t.Run("Settlement", func(t *testing.T) { settlement(t, newLimiter) })
	t.Run("Quota", func(t *testing.T) { quota(t, newLimiter) })
}

// healthy fails t when a shared limiter decided anything locally: its
// answers would not be the store's.
func healthy(t *testing.T, l *ratelimit.Limiter) {
	t.Helper()
	if h := l.Health(); h.StoreFailures != 0 || h.LocalDecisions != 0 {
		t.Fatalf("the limiter decided locally: %+v", h)
	}
}

// alone: each kind at each level, the only limit that binds, admits exactly
// n and refuses the next, naming the level and the kind, taking nothing.
// The other levels are either unlimited (skipped: the level is the store's
// only subject) or limited far above n in the same kind (all five levels
// go to the store, the level at its own position). Then the next window,
// the freed slot or the next period admits again.
func alone(t *testing.T, newLimiter NewLimiter) {
	const n = 3
	for _, k := range kinds {
		for li, lv := range levels {
			for _, loose := range []bool{false, true} {
				name := k.name + "/" + lv.scope + "/others-unlimited"
				lims := map[int]ratelimit.Limits{li: k.limits(n)}
				if loose {
					name = k.name + "/" + lv.scope + "/others-loose"
					for i := range levels {
						if i != li {
							lims[i] = k.limits(100 * n)
						}
					}
				}
				t.Run(name, func(t *testing.T) { aloneAt(t, newLimiter, k, li, lims, n) })
			}
		}
	}
}

func aloneAt(t *testing.T, newLimiter NewLimiter, k kind, li int, lims map[int]ratelimit.Limits, n int64) {
	c := NewClock(start)
	l := newLimiter(t, c.Now)
	s := request(lims)
	held := k.fill(t, l, s, n)
	for i, u := range usages(l) {
		switch {
		case lims[i].IsZero() && u != (counts{}):
			t.Fatalf("the unlimited %s counted %+v", levels[i].scope, u)
		case !lims[i].IsZero() && k.used(u) != n:
			t.Fatalf("the %s shows %d of %d used: %+v", levels[i].scope, k.used(u), n, u)
		}
	}
	refused(t, l, s, li, k.limit, k.max(n), 0)
	switch k.limit {
	case "requests", "tokens":
		c.Add(time.Minute)
	case "concurrency":
		held[0].Done(0, 0)
		held = held[1:]
	case "budget":
		for _, ts := range held {
			ts.Done(worst, 0) // the real cost is the worst case: the budget is spent
		}
		held = nil
		if u := usages(l)[li]; u.spent != n*worst || u.reserved != 0 {
			t.Fatalf("settled at the worst case: %+v", u)
		}
		refused(t, l, s, li, k.limit, k.max(n), 0)
		c.Add(24 * time.Hour)
	}
	mustAdmit(t, l, s, "after the %s frees a unit", k.name).Done(0, 0)
	for _, ts := range held {
		ts.Done(0, 0)
	}
	healthy(t, l)
}

// pairs are (stricter, looser) levels: each level is stricter once and
// looser once, before and after the other in the request's order.
var pairs = [][2]int{{0, 2}, {2, 0}, {1, 4}, {4, 3}, {3, 1}}

// twoLevels: two levels limit the same kind; the stricter decides, the
// refusal names it, and takes nothing at the looser one. Then two levels
// with different kinds, and two at their limit at once (the first in the
// request's order is named).
func twoLevels(t *testing.T, newLimiter NewLimiter) {
	const strict, loose = 2, 3
	for _, k := range kinds {
		for _, p := range pairs {
			t.Run(k.name+"/"+levels[p[0]].scope+"<"+levels[p[1]].scope, func(t *testing.T) {
				l := newLimiter(t, NewClock(start).Now)
				s := request(map[int]ratelimit.Limits{p[0]: k.limits(strict), p[1]: k.limits(loose)})
				held := k.fill(t, l, s, strict)
				refused(t, l, s, p[0], k.limit, k.max(strict), 0)
				if u := usages(l)[p[1]]; k.used(u) != strict {
					t.Fatalf("the looser %s shows %d used, want %d: %+v", levels[p[1]].scope, k.used(u), strict, u)
				}
				for _, ts := range held {
					ts.Done(0, 0)
				}
				healthy(t, l)
			})
		}
	}
	t.Run("mixed", func(t *testing.T) {
		// The key allows 3 requests a minute, the team 2 at a time: with
		// two in flight the team refuses; the key counted only those two.
		l := newLimiter(t, NewClock(start).Now)
		s := request(map[int]ratelimit.Limits{0: {RPM: 3}, 2: {MaxConcurrent: 2}})
		a, b := mustAdmit(t, l, s, "first"), mustAdmit(t, l, s, "second")
		refused(t, l, s, 2, "concurrency", 2, 0)
		if u := usages(l)[0]; u.requests != 2 || u.concurrent != 2 {
			t.Fatalf("key usage %+v, want the 2 admitted requests", u)
		}
		a.Done(0, 0)
		mustAdmit(t, l, s, "third, a slot freed").Done(0, 0)
		refused(t, l, s, 0, "requests", 3, 0)
		b.Done(0, 0)
		healthy(t, l)
	})
	t.Run("both at the limit", func(t *testing.T) {
		l := newLimiter(t, NewClock(start).Now)
		s := request(map[int]ratelimit.Limits{1: {RPM: 2}, 3: {RPM: 2}})
		kinds[0].fill(t, l, s, 2)
		refused(t, l, s, 1, "requests", 2, 0)
		healthy(t, l)
	})
}

// settlement: Done frees the concurrency slot at every level, settles each
// level's reservation to the real cost and counts the tokens; a second Done
// does nothing; Cancel gives everything back with no spend.
func settlement(t *testing.T, newLimiter NewLimiter) {
	l := newLimiter(t, NewClock(start).Now)
	s := request(map[int]ratelimit.Limits{
		0: {BudgetMicros: 10_000, BudgetPeriod: ratelimit.Daily},
		2: {BudgetMicros: 20_000, BudgetPeriod: ratelimit.Monthly, MaxConcurrent: 1},
		4: {TPM: 1_000, MaxConcurrent: 1},
	})
	s[0].WorstMicros, s[2].WorstMicros = 3_000, 5_000 // each level its own reservation
	want := func(what string, want [5]counts) {
		t.Helper()
		if got := usages(l); got != want {
			t.Fatalf("%s: usage by level\n got %+v\nwant %+v", what, got, want)
		}
	}
	ts := mustAdmit(t, l, s, "the first request")
	want("in flight", [5]counts{
		0: {requests: 1, concurrent: 1, reserved: 3_000},
		2: {requests: 1, concurrent: 1, reserved: 5_000},
		4: {requests: 1, concurrent: 1},
	})
	refused(t, l, s, 2, "concurrency", 1, 0)
	ts.Done(1_200, 40)
	ts.Done(1_200, 40) // a second Done does nothing
	settled := [5]counts{
		0: {requests: 1, tokens: 40, spent: 1_200},
		2: {requests: 1, tokens: 40, spent: 1_200},
		4: {requests: 1, tokens: 40, spent: 1_200}, // spend is counted without a budget too
	}
	want("settled", settled)

	// The key's budget has exactly 8,800 left: a reservation of 8,800 is
	// admitted, one of 8,801 refused.
	s[0].WorstMicros = 8_800
	ts = mustAdmit(t, l, s, "a reservation of the key's whole remaining budget")
	ts.Cancel()
	ts.Done(8_800, 10) // Cancel came first: no spend
	want("cancelled", settled)
	s[0].WorstMicros = 8_801
	refused(t, l, s, 0, "budget", 10_000, 8_800)
	healthy(t, l)
}
