package ratelimit

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// levels are a two-key team: each key's budget allows 100 requests of
// 10,000 micro-dollars, the team's 60.
func levels(key string) []Subject {
	return []Subject{
		{ID: "key:" + key, Limits: Limits{BudgetMicros: 1_000_000, BudgetPeriod: Total}, WorstMicros: 10_000},
		{ID: "team:t", Limits: Limits{BudgetMicros: 600_000, BudgetPeriod: Total}, WorstMicros: 10_000, Scope: "team"},
	}
}

// TestAdmitAllBudgetExact is K1 at several levels: 200 requests released
// together, half on each of two keys under one team, admit exactly the
// team's 60; the spend settles exactly at both levels, wave after wave.
func TestAdmitAllBudgetExact(t *testing.T) {
	for rep := range 20 {
		l := New(nil)
		var admitted atomic.Int64
		perKey := make([]atomic.Int64, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				key := []string{"a", "b"}[i%2]
				ts, at, d := l.AdmitAll(levels(key))
				if d != nil {
					if d.Limit != "budget" || at != 1 || ts != nil {
						t.Errorf("refused by subject %d's %s (tickets %v)", at, d.Limit, ts)
					}
					return
				}
				if at != -1 || ts.Len() != 2 {
					t.Errorf("admitted with index %d, %d tickets", at, ts.Len())
				}
				admitted.Add(1)
				perKey[i%2].Add(1)
				time.Sleep(time.Millisecond)
				ts.Done(10_000, 1)
			}()
		}
		close(start)
		wg.Wait()
		if admitted.Load() != 60 {
			t.Fatalf("rep %d: admitted %d, want exactly 60", rep, admitted.Load())
		}
		if u := l.Usage("team:t"); u.SpentMicros != 600_000 || u.ReservedMicros != 0 || u.Concurrent != 0 {
			t.Fatalf("rep %d: team usage %+v", rep, u)
		}
		for i, key := range []string{"key:a", "key:b"} {
			u := l.Usage(key)
			if u.SpentMicros != perKey[i].Load()*10_000 || u.ReservedMicros != 0 || u.Concurrent != 0 ||
				u.RequestsThisMinute != perKey[i].Load() {
				t.Fatalf("rep %d: %s admitted %d, usage %+v", rep, key, perKey[i].Load(), u)
			}
		}
		_, at, d := l.AdmitAll(levels("a"))
		if d == nil || at != 1 || d.Message != "Budget exhausted for this team: spent $0.600000 of $0.600000 this period." {
			t.Fatalf("rep %d: past the team's budget: %d %+v", rep, at, d)
		}
	}
}

// TestAdmitAllRPMLevels is K2 at three levels with an injected clock: 64
// goroutines are admitted exactly the smallest limit's count per window,
// and the levels that allowed more count only the admitted requests.
func TestAdmitAllRPMLevels(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	l := New(func() time.Time { return time.Unix(0, now.Load()) })
	subjects := []Subject{
		{ID: "key:k", Limits: Limits{RPM: 500}},
		{ID: "app:p"}, // no limits: skipped
		{ID: "team:t", Limits: Limits{RPM: 300}},
		{ID: "org:o", Limits: Limits{RPM: 400}},
	}
	for window := range 3 {
		var admitted atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 10 {
					ts, at, d := l.AdmitAll(subjects)
					if d != nil {
						if d.Limit != "requests" || at != 2 || d.RetryAfter <= 0 || d.RetryAfter > time.Minute {
							t.Errorf("refused by %d: %+v", at, d)
						}
						continue
					}
					admitted.Add(1)
					ts.Done(0, 0)
				}
			}()
		}
		wg.Wait()
		if admitted.Load() != 300 {
			t.Fatalf("window %d: admitted %d, want 300", window, admitted.Load())
		}
		for _, id := range []string{"key:k", "team:t", "org:o"} {
			if u := l.Usage(id); u.RequestsThisMinute != 300 || u.Concurrent != 0 {
				t.Fatalf("window %d: %s %+v", window, id, u)
			}
		}
		now.Add(int64(time.Minute))
	}
	l.mem.mu.Lock()
	_, made := l.mem.state["app:p"]
	l.mem.mu.Unlock()
	if made {
		t.Fatal("a subject without limits got state")
	}
}

// TestAdmitAllNothingTakenOnRefusal: a refusal by a later subject leaves
// the earlier ones as they were, and a subject listed twice counts twice.
func TestAdmitAllNothingTakenOnRefusal(t *testing.T) {
	l := New(nil)
	key := Subject{ID: "key:k", Limits: Limits{RPM: 1, MaxConcurrent: 1, BudgetMicros: 100, BudgetPeriod: Total}, WorstMicros: 60}
	team := Subject{ID: "team:t", Limits: Limits{BudgetMicros: 50, BudgetPeriod: Total}, WorstMicros: 60}
	if _, at, d := l.AdmitAll([]Subject{key, team}); d == nil || at != 1 || d.Limit != "budget" {
		t.Fatalf("%d %+v", at, d)
	}
	if u := l.Usage("key:k"); u != (Usage{}) {
		t.Fatalf("the refused admission left %+v at the key", u)
	}
	ts, at, d := l.AdmitAll([]Subject{key, {ID: "none"}})
	if d != nil || at != -1 || ts.Len() != 1 {
		t.Fatalf("%d %+v", at, d)
	}
	ts.Done(60, 0)
	twice := Subject{ID: "x", Limits: Limits{RPM: 1}}
	if _, at, d := l.AdmitAll([]Subject{twice, twice}); d == nil || at != 1 || d.Limit != "requests" {
		t.Fatalf("a subject listed twice against RPM 1: %d %+v", at, d)
	}
	if ts, _, d := l.AdmitAll([]Subject{twice}); d != nil {
		t.Fatalf("the refusal took the slot: %+v", d)
	} else {
		ts.Done(0, 0)
	}
	if ts, at, d := l.AdmitAll(nil); d != nil || at != -1 || ts.Len() != 0 {
		t.Fatalf("no subjects: %v %d %+v", ts, at, d)
	} else {
		ts.Done(1, 1) // nothing to settle
	}
}

// TestCancel: Cancel gives back the request slot, the concurrency slot and
// the reservation, with no spend; whichever of Done and Cancel comes first
// wins.
func TestCancel(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC).UnixNano())
	l := New(func() time.Time { return time.Unix(0, now.Load()) })
	lim := Limits{RPM: 1, MaxConcurrent: 1, BudgetMicros: 100, BudgetPeriod: Daily}
	tk, d := admit(l, "k", lim, 100)
	if d != nil {
		t.Fatal(d)
	}
	if _, d := admit(l, "k", lim, 0); d == nil || d.Limit != "concurrency" {
		t.Fatalf("%+v", d)
	}
	tk.Cancel()
	tk.Done(100, 10) // Cancel came first: no spend
	tk.Cancel()      // and no second give-back
	if u := l.Usage("k"); u.RequestsThisMinute != 0 || u.Concurrent != 0 || u.ReservedMicros != 0 || u.SpentMicros != 0 {
		t.Fatalf("after Cancel: %+v", u)
	}
	// All of it is usable again: the request, the slot, the whole budget.
	tk, d = admit(l, "k", lim, 100)
	if d != nil {
		t.Fatalf("after Cancel: %+v", d)
	}
	tk.Done(100, 10)
	tk.Cancel() // Done came first: spend stays
	if u := l.Usage("k"); u.RequestsThisMinute != 1 || u.SpentMicros != 100 || u.Concurrent != 0 {
		t.Fatalf("after Done then Cancel: %+v", u)
	}
	// A Cancel in a later minute leaves that minute's count alone.
	now.Add(int64(time.Minute))
	lim.BudgetMicros, lim.MaxConcurrent = 0, 0
	tk, _ = admit(l, "k", lim, 0)
	now.Add(int64(time.Minute))
	other, _ := admit(l, "k", lim, 0)
	tk.Cancel()
	if u := l.Usage("k"); u.RequestsThisMinute != 1 || u.Concurrent != 1 {
		t.Fatalf("a Cancel gave back another minute's request: %+v", u)
	}
	other.Done(0, 0)

	// Tickets.Cancel gives back every level.
	subjects := []Subject{{ID: "a", Limits: Limits{RPM: 1}}, {ID: "b", Limits: Limits{MaxConcurrent: 1}},
		{ID: "c", Limits: Limits{BudgetMicros: 10, BudgetPeriod: Total}, WorstMicros: 10}}
	ts, _, d := l.AdmitAll(subjects)
	if d != nil {
		t.Fatal(d)
	}
	ts.Cancel()
	ts.Done(10, 0)
	for _, id := range []string{"a", "b", "c"} {
		if u := l.Usage(id); u.RequestsThisMinute != 0 || u.Concurrent != 0 || u.ReservedMicros != 0 || u.SpentMicros != 0 {
			t.Fatalf("%s after Tickets.Cancel: %+v", id, u)
		}
	}
	if ts, _, d = l.AdmitAll(subjects); d != nil {
		t.Fatalf("after Tickets.Cancel: %+v", d)
	}
	ts.Done(10, 0)
	if u := l.Usage("c"); u.SpentMicros != 10 {
		t.Fatalf("%+v", u)
	}
}

// alertSink collects alerts.
type alertSink struct {
	ch chan Alert
}

func newSink() *alertSink { return &alertSink{ch: make(chan Alert, 1024)} }

func (s *alertSink) hook(a Alert) { s.ch <- a }

// expect waits for n alerts and returns their percents, sorted.
func (s *alertSink) expect(t *testing.T, n int) []Alert {
	t.Helper()
	var got []Alert
	for len(got) < n {
		select {
		case a := <-s.ch:
			got = append(got, a)
		case <-time.After(5 * time.Second):
			t.Fatalf("%d alerts within 5 s, want %d: %+v", len(got), n, got)
		}
	}
	slices.SortFunc(got, func(a, b Alert) int { return a.Percent - b.Percent })
	return got
}

func percents(as []Alert) []int {
	var ps []int
	for _, a := range as {
		ps = append(ps, a.Percent)
	}
	return ps
}

// TestAlerts: each threshold fires once when a settlement crosses it, not
// again in the same period, and again in the next period; one settlement
// that crosses several fires each.
func TestAlerts(t *testing.T) {
	var now atomic.Int64
	day1 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	now.Store(day1.UnixNano())
	l := New(func() time.Time { return time.Unix(0, now.Load()) })
	sink := newSink()
	l.SetAlertHook(sink.hook)
	lim := Limits{BudgetMicros: 1000, BudgetPeriod: Daily, AlertPercents: [MaxAlerts]int{80, 50, 100}}
	settle := func(cost int64) {
		t.Helper()
		tk, d := admit(l, "k", lim, cost)
		if d != nil {
			t.Fatal(d)
		}
		tk.Done(cost, 0)
	}
	settle(499)
	settle(1) // 500: 50 %
	if got := sink.expect(t, 1); got[0] != (Alert{ID: "k", Percent: 50, SpentMicros: 500, BudgetMicros: 1000, PeriodStart: day1.Truncate(24 * time.Hour)}) {
		t.Fatalf("%+v", got)
	}
	settle(100)
	settle(199) // 799: none
	settle(1)   // 800: 80 %
	if got := sink.expect(t, 1); got[0].Percent != 80 || got[0].SpentMicros != 800 {
		t.Fatalf("%+v", got)
	}
	settle(200) // 1000: 100 %
	if got := sink.expect(t, 1); got[0].Percent != 100 {
		t.Fatalf("%+v", got)
	}
	settle(0) // nothing moves
	// The next day: one settlement from 0 to 100 % crosses all three.
	now.Add(int64(24 * time.Hour))
	settle(1000)
	got := sink.expect(t, 3)
	if !slices.Equal(percents(got), []int{50, 80, 100}) || !got[0].PeriodStart.Equal(day1.Add(14*time.Hour)) {
		t.Fatalf("the next day: %+v", got)
	}
	l.Close()
	if len(sink.ch) != 0 {
		t.Fatalf("%d alerts too many, first %+v", len(sink.ch), <-sink.ch)
	}
}

// TestAlertsConcurrent: 100 settlements at once cross each threshold once
// in total, at several levels.
func TestAlertsConcurrent(t *testing.T) {
	l := New(nil)
	sink := newSink()
	l.SetAlertHook(sink.hook)
	pcts := [MaxAlerts]int{25, 50, 75, 100}
	subjects := []Subject{
		{ID: "key:k", Limits: Limits{BudgetMicros: 2000, BudgetPeriod: Monthly, AlertPercents: pcts}, WorstMicros: 10},
		{ID: "team:t", Limits: Limits{BudgetMicros: 1000, BudgetPeriod: Monthly, AlertPercents: pcts}, WorstMicros: 10},
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ts, _, d := l.AdmitAll(subjects)
			if d != nil {
				t.Error(d)
				return
			}
			ts.Done(10, 0)
		}()
	}
	close(start)
	wg.Wait()
	got := sink.expect(t, 6)
	byID := map[string][]int{}
	for _, a := range got {
		byID[a.ID] = append(byID[a.ID], a.Percent)
	}
	if !slices.Equal(byID["key:k"], []int{25, 50}) || !slices.Equal(byID["team:t"], []int{25, 50, 75, 100}) {
		t.Fatalf("%v", byID)
	}
	l.Close()
	if len(sink.ch) != 0 {
		t.Fatalf("%d alerts too many", len(sink.ch))
	}
}

func TestThreshold(t *testing.T) {
	for _, tc := range []struct {
		p      int
		budget int64
		want   int64
	}{
		{50, 1000, 500}, {80, 1001, 801}, {100, 7, 7}, {33, 10, 4}, {1, 1, 1}, {100, 1 << 62, 1 << 62}, {150, 200, 300},
	} {
		if got := threshold(tc.p, tc.budget); got != tc.want {
			t.Errorf("threshold(%d, %d) = %d, want %d", tc.p, tc.budget, got, tc.want)
		}
	}
}

// TestAdmitAllStoreDown: AdmitAll in shared mode is one store call, none
// for subjects without limits, and decides locally when the store fails.
func TestAdmitAllStoreDown(t *testing.T) {
	st := &scriptedStore{}
	l := NewShared(st, quiet(&lockedBuffer{}))
	defer l.Close()
	subjects := []Subject{{ID: "a", Limits: Limits{RPM: 2}}, {ID: "b"}, {ID: "c", Limits: Limits{MaxConcurrent: 5}}}
	ts, _, d := l.AdmitAll(subjects)
	if d != nil || ts.Len() != 2 || st.calls.Load() != 1 {
		t.Fatalf("%+v %d tickets, %d calls", d, ts.Len(), st.calls.Load())
	}
	ts.Done(0, 0)
	if st.calls.Load() != 2 {
		t.Fatalf("Tickets.Done made %d calls, want 1", st.calls.Load()-1)
	}
	if ts, _, _ := l.AdmitAll([]Subject{{ID: "b"}}); ts.Len() != 0 || st.calls.Load() != 2 {
		t.Fatal("subjects without limits went to the store")
	}
	st.down.Store(true)
	ts, _, d = l.AdmitAll(subjects)
	if d != nil || l.Health().LocalDecisions != 1 {
		t.Fatalf("%+v %+v", d, l.Health())
	}
	ts.Cancel() // gives the local request back
	for range 2 {
		if ts, _, d = l.AdmitAll(subjects); d != nil {
			t.Fatal(d)
		}
		ts.Done(0, 0)
	}
	if _, at, d := l.AdmitAll(subjects); d == nil || at != 0 || d.Limit != "requests" {
		t.Fatalf("the local fallback must count: %d %+v", at, d)
	}
}
