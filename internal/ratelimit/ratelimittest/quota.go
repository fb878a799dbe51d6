package ratelimittest

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ratelimit"
)

// quota: a budget that counts requests (a plan's request quota) admits
// exactly n requests per period whatever they cost, a request in flight
// holding one; the next is refused as "quota" with Retry-After until the
// period ends; a second before the boundary it still refuses, at the
// boundary it admits again (a total quota never does). The money budget
// beside it spends the real cost.
func quota(t *testing.T, newLimiter NewLimiter) {
	const n = 3
	const cost = 5_000 // more than the quota: a quota that spent it would refuse the second request
	for _, tc := range []struct {
		period ratelimit.Period
		at     time.Time // 2 s before the period's end (any time for total)
		again  bool      // admits once the boundary passes
	}{
		{ratelimit.Daily, time.Date(2026, 3, 2, 23, 59, 58, 0, time.UTC), true},
		{ratelimit.Weekly, time.Date(2026, 3, 8, 23, 59, 58, 0, time.UTC), true}, // a Sunday: the week ends Monday 00:00
		{ratelimit.Monthly, time.Date(2026, 2, 28, 23, 59, 58, 0, time.UTC), true},
		{ratelimit.Total, time.Date(2026, 3, 2, 23, 59, 58, 0, time.UTC), false},
	} {
		t.Run(string(tc.period), func(t *testing.T) {
			c := NewClock(tc.at)
			l := newLimiter(t, c.Now)
			q := ratelimit.Limits{BudgetMicros: n, BudgetPeriod: tc.period, CountsRequests: true}
			s := request(map[int]ratelimit.Limits{0: {BudgetMicros: 1_000_000, BudgetPeriod: ratelimit.Monthly}, 1: q})
			s[1].WorstMicros = worst // a quota reserves 1 whatever the caller says
			for i := range n - 1 {
				mustAdmit(t, l, s, "request %d of %d", i+1, n).Done(cost, 10)
			}
			held := mustAdmit(t, l, s, "request %d of %d, held", n, n)
			if u := usages(l); u[1].spent != n-1 || u[1].reserved != 1 || u[0].spent != (n-1)*cost {
				t.Fatalf("quota usage %+v, key %+v: want %d spent and 1 reserved at the quota, %d at the key",
					u[1], u[0], n-1, (n-1)*cost)
			}
			d := quotaRefused(t, l, s)
			if end := tc.period.End(tc.at); end.IsZero() != (d.RetryAfter == 0) || (!end.IsZero() && d.RetryAfter != end.Sub(tc.at)) {
				t.Fatalf("Retry-After %v, want until the period's end %v", d.RetryAfter, end)
			}
			held.Done(cost, 10)
			c.Add(time.Second)
			quotaRefused(t, l, s)
			c.Add(time.Second)
			if !tc.again {
				quotaRefused(t, l, s)
				return
			}
			mustAdmit(t, l, s, "the first request of the next period").Done(cost, 10)
			if u := usages(l)[1]; u.spent != 1 || u.reserved != 0 {
				t.Fatalf("the next period's quota shows %+v, want 1 spent", u)
			}
			healthy(t, l)
		})
	}
}

// quotaRefused checks that the next admission is refused by the quota at
// level 1, naming it, and returns the denial.
func quotaRefused(t *testing.T, l *ratelimit.Limiter, s []ratelimit.Subject) *ratelimit.Denial {
	t.Helper()
	ts, at, d := l.AdmitAll(s)
	if d == nil {
		ts.Done(0, 0)
		t.Fatalf("admitted past the request quota")
	}
	if at != 1 || d.Limit != "quota" || d.Max != s[1].Limits.BudgetMicros {
		t.Fatalf("refused by level %d with %+v, want the application's quota", at, d)
	}
	return d
}
