package redislimit

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ratelimit"
)

// read returns the shared counters of id.
func read(t *testing.T, n *node, id string, now, periodStart time.Time) ratelimit.Counters {
	t.Helper()
	c, err := n.store.Read(context.Background(), id, now, periodStart)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSharedAdmitAllBudgetExact is K1 at several levels across two nodes:
// two keys whose budgets allow 100 requests each share a team whose budget
// allows 60; 200 requests released together, spread over both keys and both
// nodes, admit exactly 60, and the shared spend settles exactly at every
// level, wave after wave.
func TestSharedAdmitAllBudgetExact(t *testing.T) {
	addr, pfx := redisAddr(t), prefix(t)
	nodes := []*node{newNode(t, addr, pfx, exact), newNode(t, addr, pfx, exact)}
	for rep := range 10 {
		r := strconv.Itoa(rep)
		keys := []string{"key:a" + r, "key:b" + r}
		subjects := func(k int) []ratelimit.Subject {
			return []ratelimit.Subject{
				{ID: keys[k], Limits: ratelimit.Limits{BudgetMicros: 1_000_000, BudgetPeriod: ratelimit.Total}, WorstMicros: 10_000},
				{ID: "team:" + r, Limits: ratelimit.Limits{BudgetMicros: 600_000, BudgetPeriod: ratelimit.Total}, WorstMicros: 10_000},
			}
		}
		var admitted atomic.Int64
		perKey := make([]atomic.Int64, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ts, at, d := nodes[i%2].lim.AdmitAll(subjects(i / 2 % 2))
				if d != nil {
					if d.Limit != "budget" || at != 1 {
						t.Errorf("refused by subject %d's %s", at, d.Limit)
					}
					return
				}
				admitted.Add(1)
				perKey[i/2%2].Add(1)
				time.Sleep(time.Millisecond)
				ts.Done(10_000, 1)
			}()
		}
		close(start)
		wg.Wait()
		if admitted.Load() != 60 {
			t.Fatalf("rep %d: admitted %d, want exactly 60", rep, admitted.Load())
		}
		if c := read(t, nodes[0], "team:"+r, time.Now(), time.Time{}); c.SpentMicros != 600_000 || c.ReservedMicros != 0 || c.Concurrent != 0 {
			t.Fatalf("rep %d: team counters %+v", rep, c)
		}
		for k, key := range keys {
			c := read(t, nodes[1], key, time.Now(), time.Time{})
			if c.SpentMicros != perKey[k].Load()*10_000 || c.ReservedMicros != 0 || c.Concurrent != 0 {
				t.Fatalf("rep %d: %s admitted %d, counters %+v", rep, key, perKey[k].Load(), c)
			}
		}
		for i, n := range nodes {
			if _, at, d := n.lim.AdmitAll(subjects(i)); d == nil || at != 1 || d.Limit != "budget" {
				t.Fatalf("rep %d: node %d admitted past the team's budget: %d %+v", rep, i, at, d)
			}
		}
	}
	noFailures(t, nodes...)
}

// TestSharedAdmitAllRPMLevels is K2 at three levels across two nodes with
// an injected clock: 64 goroutines are admitted exactly the smallest
// limit's count per window, and the levels that allowed more count only the
// admitted requests (a refusal takes nothing anywhere).
func TestSharedAdmitAllRPMLevels(t *testing.T) {
	addr, pfx := redisAddr(t), prefix(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC).UnixNano())
	o := exact
	o.Now = func() time.Time { return time.Unix(0, now.Load()) }
	nodes := []*node{newNode(t, addr, pfx, o), newNode(t, addr, pfx, o)}
	subjects := []ratelimit.Subject{
		{ID: "key:k", Limits: ratelimit.Limits{RPM: 500}},
		{ID: "team:t", Limits: ratelimit.Limits{RPM: 300}},
		{ID: "org:o", Limits: ratelimit.Limits{RPM: 400}},
	}
	for window := range 3 {
		perNode := make([]atomic.Int64, 2)
		var wg sync.WaitGroup
		for g := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 8 {
					ts, at, d := nodes[g%2].lim.AdmitAll(subjects)
					if d != nil {
						if d.Limit != "requests" || at != 1 || d.RetryAfter <= 0 || d.RetryAfter > time.Minute {
							t.Errorf("refused by %d: %+v", at, d)
						}
						continue
					}
					perNode[g%2].Add(1)
					ts.Done(0, 0)
				}
			}()
		}
		wg.Wait()
		a, b := perNode[0].Load(), perNode[1].Load()
		if a+b != 300 || a == 0 || b == 0 {
			t.Fatalf("window %d: admitted %d + %d, want 300 in total from both nodes", window, a, b)
		}
		at := time.Unix(0, now.Load())
		for _, s := range subjects {
			if c := read(t, nodes[0], s.ID, at, time.Time{}); c.Requests != 300 || c.Concurrent != 0 {
				t.Fatalf("window %d: %s counters %+v", window, s.ID, c)
			}
		}
		now.Add(int64(time.Minute))
	}
	noFailures(t, nodes...)
}

// TestSharedCancel: Cancel gives back the shared request slot, concurrency
// slot and reservation, so that another node can use them at once; and
// Tickets.Cancel does so at every level in one round trip.
func TestSharedCancel(t *testing.T) {
	addr, pfx := redisAddr(t), prefix(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC).UnixNano())
	o := exact
	o.Now = func() time.Time { return time.Unix(0, now.Load()) }
	a, b := newNode(t, addr, pfx, o), newNode(t, addr, pfx, o)
	lim := ratelimit.Limits{RPM: 1, MaxConcurrent: 1, BudgetMicros: 100, BudgetPeriod: ratelimit.Total}
	tk, d := admit(a.lim, "k", lim, 100)
	if d != nil {
		t.Fatal(d)
	}
	if _, d := admit(b.lim, "k", lim, 0); d == nil || d.Limit != "concurrency" {
		t.Fatalf("%+v", d)
	}
	tk.Cancel()
	tk.Done(100, 5) // Cancel came first: nothing
	tk.Cancel()
	at := time.Unix(0, now.Load())
	if c := read(t, a, "k", at, time.Time{}); c.Requests != 0 || c.Concurrent != 0 || c.ReservedMicros != 0 || c.SpentMicros != 0 || c.Tokens != 0 {
		t.Fatalf("after Cancel: %+v", c)
	}
	if u := a.lim.Usage("k"); u.RequestsThisMinute != 0 || u.Concurrent != 0 {
		t.Fatalf("usage after Cancel: %+v", u)
	}
	tk, d = admit(b.lim, "k", lim, 100)
	if d != nil {
		t.Fatalf("the other node after Cancel: %+v", d)
	}
	tk.Done(100, 0)
	tk.Cancel() // Done came first: the spend stays
	if c := read(t, a, "k", at, time.Time{}); c.Requests != 1 || c.SpentMicros != 100 || c.Concurrent != 0 {
		t.Fatalf("after Done then Cancel: %+v", c)
	}

	subjects := []ratelimit.Subject{
		{ID: "x", Limits: ratelimit.Limits{RPM: 1}},
		{ID: "y", Limits: ratelimit.Limits{MaxConcurrent: 1}},
		{ID: "z", Limits: ratelimit.Limits{BudgetMicros: 10, BudgetPeriod: ratelimit.Total}, WorstMicros: 10},
	}
	ts, _, d := a.lim.AdmitAll(subjects)
	if d != nil {
		t.Fatal(d)
	}
	if _, at, d := b.lim.AdmitAll(subjects); d == nil || at != 0 {
		t.Fatalf("%d %+v", at, d)
	}
	ts.Cancel()
	for _, s := range subjects {
		if c := read(t, b, s.ID, at, time.Time{}); c.Requests != 0 || c.Concurrent != 0 || c.ReservedMicros != 0 || c.SpentMicros != 0 {
			t.Fatalf("%s after Tickets.Cancel: %+v", s.ID, c)
		}
	}
	ts, _, d = b.lim.AdmitAll(subjects)
	if d != nil {
		t.Fatalf("the other node after Tickets.Cancel: %+v", d)
	}
	ts.Done(10, 0)
	if c := read(t, a, "z", at, time.Time{}); c.SpentMicros != 10 || c.ReservedMicros != 0 {
		t.Fatalf("%+v", c)
	}
	noFailures(t, a, b)
}

// TestSharedAlerts: 100 settlements at once over two nodes cross each
// threshold of a shared budget once between them (judged on the spend that
// the store's settlement returns); the next period crosses them again.
func TestSharedAlerts(t *testing.T) {
	addr, pfx := redisAddr(t), prefix(t)
	var now atomic.Int64
	day1 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	now.Store(day1.UnixNano())
	alerts := make(chan ratelimit.Alert, 1024)
	o := exact
	o.Now = func() time.Time { return time.Unix(0, now.Load()) }
	o.OnAlert = func(a ratelimit.Alert) { alerts <- a }
	nodes := []*node{newNode(t, addr, pfx, o), newNode(t, addr, pfx, o)}
	subjects := []ratelimit.Subject{
		{ID: "key:k", Limits: ratelimit.Limits{RPM: 1 << 30}},
		{ID: "team:t", Limits: ratelimit.Limits{BudgetMicros: 1000, BudgetPeriod: ratelimit.Daily,
			AlertPercents: [ratelimit.MaxAlerts]int{50, 80, 100}}, WorstMicros: 10},
	}
	expect := func(day time.Time) {
		t.Helper()
		var got []int
		for len(got) < 3 {
			select {
			case a := <-alerts:
				if a.ID != "team:t" || a.BudgetMicros != 1000 || !a.PeriodStart.Equal(day) || a.SpentMicros < int64(a.Percent)*10 {
					t.Fatalf("alert %+v", a)
				}
				got = append(got, a.Percent)
			case <-time.After(5 * time.Second):
				t.Fatalf("alerts within 5 s: %v", got)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, []int{50, 80, 100}) {
			t.Fatalf("alerts %v, want each threshold once", got)
		}
	}
	for day := range 2 {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ts, _, d := nodes[i%2].lim.AdmitAll(subjects)
				if d != nil {
					t.Error(d)
					return
				}
				ts.Done(10, 0)
			}()
		}
		close(start)
		wg.Wait()
		expect(day1.Truncate(24*time.Hour).AddDate(0, 0, day))
		if c := read(t, nodes[0], "team:t", time.Unix(0, now.Load()), day1.Truncate(24*time.Hour).AddDate(0, 0, day)); c.SpentMicros != 1000 {
			t.Fatalf("day %d: %+v", day, c)
		}
		now.Add(int64(24 * time.Hour))
	}
	noFailures(t, nodes...)
	for _, n := range nodes {
		n.lim.Close() // waits for the hooks
	}
	if len(alerts) != 0 {
		t.Fatalf("%d alerts too many, first %+v", len(alerts), <-alerts)
	}
}

// TestCancelUnknownTicketGivesNothingBack: cancelling an admission the
// store never ran (its answer was lost before it arrived) must not give
// back a request slot someone else holds.
func TestCancelUnknownTicketGivesNothingBack(t *testing.T) {
	addr := redisAddr(t)
	n := newNode(t, addr, prefix(t), exact)
	lim := ratelimit.Limits{RPM: 2}
	if _, d := admit(n.lim, "k", lim, 0); d != nil {
		t.Fatal(d)
	}
	if err := n.store.Cancel(context.Background(), []ratelimit.Cancellation{{Key: "k", Ticket: "never-admitted", Admitted: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if _, d := admit(n.lim, "k", lim, 0); d != nil {
		t.Fatal(d)
	}
	if _, d := admit(n.lim, "k", lim, 0); d == nil {
		t.Fatal("a third request was admitted under rpm 2: the cancel of an unknown ticket gave a slot back")
	}
}
