package ratelimit

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBreakerStateMachine drives the breaker on a clock of its own: it
// opens at FailuresToOpen failures in a row or when a streak has lasted
// FailFor, ignores successes while open, and a probe closes it with its
// streak reset.
func TestBreakerStateMachine(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		failures []time.Duration // offsets from t0 of the failures
		open     bool            // after the last one
	}{
		{"fewer than the count, within the window", []time.Duration{0, time.Millisecond}, false},
		{"the count", []time.Duration{0, 1, 2}, true},
		{"the streak lasts exactly FailFor", []time.Duration{0, time.Second}, true},
		{"the streak lasts just under FailFor", []time.Duration{0, time.Second - 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &breaker{failuresToOpen: 3, failFor: time.Second}
			opened := 0
			for _, d := range tc.failures {
				if b.failure(t0.Add(d), errDown) {
					opened++
				}
			}
			if st := b.state(); st.open != tc.open || opened != map[bool]int{false: 0, true: 1}[tc.open] {
				t.Fatalf("open %v after %d reports of opening, want %v", st.open, opened, tc.open)
			}
		})
	}

	b := &breaker{failuresToOpen: 3, failFor: time.Second}
	b.failure(t0, errDown)
	b.success(t0.Add(time.Millisecond)) // ends the streak
	if st := b.state(); st.failures != 0 || st.open {
		t.Fatalf("after a success: %+v", st)
	}
	for i := range 3 {
		b.failure(t0.Add(time.Duration(i)), errDown)
	}
	b.success(t0.Add(time.Millisecond)) // a late answer: stays open
	if !b.allow() {
		// expected: open
	} else {
		t.Fatal("a success closed an open breaker; only the probe may")
	}
	was, d := b.closeIfOpen(t0.Add(5 * time.Second))
	if !was || d != 5*time.Second-2 {
		t.Fatalf("closeIfOpen: %v %v, want true and the 5 s the breaker was open", was, d)
	}
	if st := b.state(); st.open || st.failures != 0 || !b.allow() {
		t.Fatalf("after the probe: %+v, want closed with no failures", st)
	}
	// The streak starts again from nothing: two failures do not open it.
	later := t0.Add(10 * time.Second)
	if b.failure(later, errDown) || b.failure(later.Add(1), errDown) {
		t.Fatal("two failures after recovery opened the breaker: the old streak was kept")
	}
	if was, _ := b.closeIfOpen(later); was {
		t.Fatal("closeIfOpen reported a closed breaker as open")
	}
}

// TestSharedDefaults: each zero option takes its default, and any positive
// value, however small, is kept.
func TestSharedDefaults(t *testing.T) {
	l := NewShared(&scriptedStore{}, Options{})
	got := l.opt
	l.Close()
	if got.Timeout != DefaultTimeout || got.FailuresToOpen != 5 || got.FailFor != time.Second ||
		got.ProbeEvery != time.Second || got.Lease != 30*time.Second || got.Now == nil || got.Logger == nil {
		t.Fatalf("defaults: %+v", got)
	}
	if l.br.failuresToOpen != 5 || l.br.failFor != time.Second {
		t.Fatalf("the breaker has %d and %v, want the defaults", l.br.failuresToOpen, l.br.failFor)
	}
	for _, v := range []time.Duration{1, 2 * time.Hour} {
		o := Options{Timeout: v, FailuresToOpen: int(v), FailFor: v, ProbeEvery: v, Lease: v,
			Logger: slog.New(slog.NewTextHandler(&lockedBuffer{}, nil))}
		l := NewShared(&scriptedStore{}, o)
		got := l.opt
		l.Close()
		if got.Timeout != v || got.FailuresToOpen != int(v) || got.FailFor != v || got.ProbeEvery != v || got.Lease != v {
			t.Fatalf("explicit %v: %+v", v, got)
		}
	}
}

// renewStore records the leases that each Renew extends and the time it
// had to answer.
type renewStore struct {
	scriptedStore
	mu       sync.Mutex // guards the fields below
	leases   [][]Lease
	timeLeft []time.Duration
}

func (s *renewStore) Renew(ctx context.Context, ls []Lease, _, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, _ := ctx.Deadline()
	s.leases = append(s.leases, ls)
	s.timeLeft = append(s.timeLeft, time.Until(d))
	return nil
}

func (s *renewStore) renewed() [][]Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leases
}

// TestFinishedTicketsNotRenewed: the leases renewed are those of the
// shared tickets in flight; a ticket that is done or cancelled, by either
// API, is renewed no more. Renewal has 4 × Timeout to answer.
func TestFinishedTicketsNotRenewed(t *testing.T) {
	lim := Limits{RPM: 1000}
	for _, tc := range []struct {
		name   string
		finish func(*Tickets)
	}{
		{"Tickets.Done", func(ts *Tickets) { ts.Done(0, 0) }},
		{"Tickets.Cancel", func(ts *Tickets) { ts.Cancel() }},
		{"Ticket.Done", func(ts *Tickets) { ts.Ticket(0).Done(0, 0) }},
		{"Ticket.Cancel", func(ts *Tickets) { ts.Ticket(0).Cancel() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &renewStore{}
			o := quiet(&lockedBuffer{})
			o.Timeout = time.Second
			l := NewShared(st, o)
			defer l.Close()
			a, d := admit(l, "a", lim, 0)
			if d != nil {
				t.Fatal(d)
			}
			if _, d := admit(l, "b", lim, 0); d != nil {
				t.Fatal(d)
			}
			tc.finish(a)
			l.renew()
			got := st.renewed()
			if len(got) != 1 || len(got[0]) != 1 || got[0][0].Key != "b" {
				t.Fatalf("renewed %+v, want only b's lease", got)
			}
			if left := st.timeLeft[0]; left <= 3*time.Second || left > 4*time.Second {
				t.Fatalf("renewal had %v to answer, want 4 × the 1 s timeout", left)
			}
		})
	}
	// Nothing in flight: no call at all.
	st := &renewStore{}
	l := NewShared(st, quiet(&lockedBuffer{}))
	defer l.Close()
	l.renew()
	if got := st.renewed(); len(got) != 0 {
		t.Fatalf("renewed %+v with nothing in flight", got)
	}
}

// undoStore loses every admission's answer and records the time each
// background cancellation had.
type undoStore struct {
	lostAnswers
	left chan time.Duration
}

func (s *undoStore) Cancel(ctx context.Context, cs []Cancellation) error {
	d, _ := ctx.Deadline()
	s.left <- time.Until(d)
	return s.lostAnswers.Cancel(ctx, cs)
}

// TestUndoDeadline: the background cancellation of a lost admission has
// 2 s to reach the store, not a request's Timeout.
func TestUndoDeadline(t *testing.T) {
	st := &undoStore{left: make(chan time.Duration, 1)}
	l := NewShared(st, quiet(&lockedBuffer{}))
	if _, d := admit(l, "k", Limits{RPM: 10}, 0); d != nil {
		t.Fatal(d)
	}
	l.Close()
	if left := <-st.left; left <= time.Second || left > 2*time.Second {
		t.Fatalf("the cancellation had %v, want 2 s", left)
	}
}

// readCounter is a scriptedStore that counts Reads.
type readCounter struct {
	scriptedStore
	reads atomic.Int64
}

func (s *readCounter) Read(ctx context.Context, id string, now, start time.Time) (Counters, error) {
	s.reads.Add(1)
	return s.scriptedStore.Read(ctx, id, now, start)
}

func (s *readCounter) set(c Counters) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c = c
}

// TestUsageAfterStoreAnswers: the counters that a settlement or a Read
// returns are what Usage answers right after, with no second Read.
func TestUsageAfterStoreAnswers(t *testing.T) {
	st := &readCounter{}
	l := NewShared(st, quiet(&lockedBuffer{}))
	defer l.Close()
	lim := Limits{RPM: 100, BudgetMicros: 1000, BudgetPeriod: Total}
	st.set(Counters{Requests: 1, Concurrent: 1, ReservedMicros: 10})
	ts, d := admit(l, "k", lim, 10)
	if d != nil {
		t.Fatal(d)
	}
	st.set(Counters{Requests: 1, SpentMicros: 7})
	ts.Ticket(0).Done(7, 0)
	if u := l.Usage("k"); u.SpentMicros != 7 || u.Concurrent != 0 || u.ReservedMicros != 0 || st.reads.Load() != 0 {
		t.Fatalf("after the settlement: %+v, %d reads; want the settlement's counters", u, st.reads.Load())
	}

	st.set(Counters{Requests: 3, SpentMicros: 40})
	if u := l.Usage("other"); u.SpentMicros != 40 || st.reads.Load() != 1 {
		t.Fatalf("%+v after %d reads", u, st.reads.Load())
	}
	st.set(Counters{Requests: 4, SpentMicros: 50})
	if u := l.Usage("other"); u.SpentMicros != 40 || u.RequestsThisMinute != 3 || st.reads.Load() != 1 {
		t.Fatalf("right after a Read: %+v after %d reads; want the same counters, no second Read", u, st.reads.Load())
	}
}

// TestAlertHookFailures: a hook that panics is logged and the Limiter goes
// on; an alert after Close is logged, not delivered; a nil hook removes
// the one set; a threshold of 1 % is a threshold.
func TestAlertHookFailures(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).UnixNano())
	logs := &lockedBuffer{}
	o := quiet(logs)
	o.Now = func() time.Time { return time.Unix(0, now.Load()) }
	st := &scriptedStore{}
	st.down.Store(true) // admits and settles locally
	l := NewShared(st, o)
	lim := Limits{BudgetMicros: 1000, BudgetPeriod: Total, AlertPercents: [MaxAlerts]int{1, 50, 80}}
	settle := func(cost int64) {
		t.Helper()
		tk, d := admit(l, "k", lim, cost)
		if d != nil {
			t.Fatal(d)
		}
		tk.Done(cost, 0)
	}
	sink := newSink()
	l.SetAlertHook(sink.hook)
	settle(10) // 1 %
	if got := sink.expect(t, 1); got[0].Percent != 1 {
		t.Fatalf("%+v", got)
	}
	l.SetAlertHook(nil)
	settle(500) // 51 %: no hook
	l.SetAlertHook(func(Alert) { panic("hook bug") })
	settle(300) // 81 %: 80 % panics
	settle(1)   // the Limiter goes on
	l.Close()
	if len(sink.ch) != 0 {
		t.Fatalf("an alert after SetAlertHook(nil): %+v", <-sink.ch)
	}
	if s := logs.String(); !strings.Contains(s, "budget alert hook panicked") || !strings.Contains(s, "hook bug") {
		t.Fatalf("the panic was not logged:\n%s", s)
	}
	lim.AlertPercents = [MaxAlerts]int{100}
	l.SetAlertHook(sink.hook)
	settle(189) // 100 % after Close
	if len(sink.ch) != 0 {
		t.Fatalf("an alert after Close was delivered: %+v", <-sink.ch)
	}
	if s := logs.String(); !strings.Contains(s, "budget alert after the limiter closed") || !strings.Contains(s, "percent=100") {
		t.Fatalf("the alert after Close was not logged:\n%s", s)
	}
}

// blockingPing is a scriptedStore whose Ping waits for release.
type blockingPing struct {
	scriptedStore
	pinged  chan struct{}
	release chan struct{}
}

func (s *blockingPing) Ping(context.Context) error {
	select {
	case s.pinged <- struct{}{}:
	default:
	}
	<-s.release
	return nil
}

// TestCloseWaitsForTheLoop: Close returns only once the background loop
// has finished its store call.
func TestCloseWaitsForTheLoop(t *testing.T) {
	st := &blockingPing{pinged: make(chan struct{}, 1), release: make(chan struct{})}
	o := quiet(&lockedBuffer{})
	o.FailFor = 20 * time.Millisecond // no answer yet: the loop pings at once
	l := NewShared(st, o)
	<-st.pinged
	closed := make(chan struct{})
	go func() { l.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while the loop's Ping was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(st.release)
	<-closed
}

// TestSettlementInANewPeriod: a request admitted in one budget period and
// settled in the next counts in the next.
func TestSettlementInANewPeriod(t *testing.T) {
	var now atomic.Int64
	day1 := time.Date(2026, 3, 2, 23, 59, 59, 0, time.UTC)
	now.Store(day1.UnixNano())
	l := New(func() time.Time { return time.Unix(0, now.Load()) })
	lim := Limits{BudgetMicros: 1000, BudgetPeriod: Daily}
	tk, d := admit(l, "k", lim, 100)
	if d != nil {
		t.Fatal(d)
	}
	now.Add(int64(2 * time.Second))
	tk.Done(60, 0)
	if u := l.Usage("k"); u.SpentMicros != 60 || !u.PeriodStart.Equal(day1.Add(time.Second)) {
		t.Fatalf("%+v, want 60 spent in the day that started at %v", u, day1.Add(time.Second))
	}
}

// TestStoreFailureFallsBack: an admission the store fails is decided in
// this node's memory and counted there; the first failure that opens the
// breaker logs the whole warning; Usage after a failed Read answers from
// memory.
func TestStoreFailureFallsBack(t *testing.T) {
	st := &scriptedStore{}
	logs := &lockedBuffer{}
	o := quiet(logs)
	o.FailuresToOpen = 2
	l := NewShared(st, o)
	defer l.Close()
	lim := Limits{RPM: 10}
	if _, d := admit(l, "k", lim, 0); d != nil { // shared: held in memory too
		t.Fatal(d)
	}
	st.down.Store(true)
	ts, d := admit(l, "k", lim, 0)
	if d != nil || ts == nil || ts.Len() != 1 || ts.Ticket(0) == nil {
		t.Fatalf("admission while the store fails: %+v %v, want one local ticket", ts, d)
	}
	if h := l.Health(); h.StoreFailures != 1 || h.LocalDecisions != 1 || h.Mode != ModeShared {
		t.Fatalf("health %+v", h)
	}
	l.mu.Lock()
	l.info("k").snapAt = time.Time{} // no snapshot to answer from
	l.mu.Unlock()
	l.br.mu.Lock()
	l.br.lastFail = time.Time{} // as if the failure were long ago: Usage reads
	l.br.mu.Unlock()
	if u := l.Usage("k"); u.Concurrent != 2 || u.RequestsThisMinute != 1 {
		t.Fatalf("usage after a failed Read: %+v, want this node's 2 in flight and 1 local request", u)
	}
	want := "rate limits degraded to per-node: the shared store is unreachable; until it answers, each node " +
		"enforces every limit alone, so the cluster may admit up to limit × nodes"
	if s := logs.String(); !strings.Contains(s, want) {
		t.Fatalf("log:\n%s\nwant %q", s, want)
	}
}

// TestBackgroundPingEndsAStreak: after a failure, the Limiter's own ping
// finds the store answering again and ends the streak, even though the
// last answer is recent.
func TestBackgroundPingEndsAStreak(t *testing.T) {
	st := &scriptedStore{}
	o := quiet(&lockedBuffer{})
	o.ProbeEvery = 20 * time.Millisecond // ticks every 5 ms
	o.FailuresToOpen = 1000              // the breaker stays closed
	l := NewShared(st, o)
	defer l.Close()
	if _, d := admit(l, "k", Limits{RPM: 10}, 0); d != nil {
		t.Fatal(d)
	}
	st.down.Store(true)
	admit(l, "k", Limits{RPM: 10}, 0)
	if f := l.br.state().failures; f == 0 {
		t.Fatal("the failure was not counted")
	}
	st.down.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for l.br.state().failures != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the streak did not end: %+v", l.br.state())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDegradedOnlyProbes: an idle node finds the store down by itself and
// degrades; while degraded, only the probe (every ProbeEvery) goes to the
// store, and a failed probe is not counted again as a store failure.
func TestDegradedOnlyProbes(t *testing.T) {
	st := &scriptedStore{}
	st.down.Store(true)
	o := quiet(&lockedBuffer{})
	o.FailFor = 20 * time.Millisecond // ticks every 5 ms
	o.FailuresToOpen = 1
	l := NewShared(st, o)
	defer l.Close()
	waitMode(t, l, ModeDegraded, 5*time.Second)
	failures, calls := l.Health().StoreFailures, st.calls.Load()
	time.Sleep(60 * time.Millisecond) // a dozen ticks
	if h := l.Health(); h.StoreFailures != failures || h.Mode != ModeDegraded {
		t.Fatalf("health %+v, want still %d failures, degraded", h, failures)
	}
	if c := st.calls.Load(); c > calls+1 {
		t.Fatalf("%d calls to the store while degraded, want at most the one probe", c-calls)
	}
}

// renewTimes is a scriptedStore that records when each Renew came.
type renewTimes struct {
	scriptedStore
	at chan time.Time
}

func (s *renewTimes) Renew(context.Context, []Lease, time.Time, time.Time) error {
	select {
	case s.at <- time.Now():
	default:
	}
	return nil
}

// TestRenewEveryThirdOfALease: the leases in flight are renewed every
// Lease/3, not more often.
func TestRenewEveryThirdOfALease(t *testing.T) {
	st := &renewTimes{at: make(chan time.Time, 16)}
	o := quiet(&lockedBuffer{})
	o.Lease = 600 * time.Millisecond
	o.ProbeEvery = 8 * time.Millisecond // ticks every 2 ms
	l := NewShared(st, o)
	defer l.Close()
	ts, d := admit(l, "k", Limits{RPM: 10}, 0)
	if d != nil {
		t.Fatal(d)
	}
	defer ts.Done(0, 0)
	prev := <-st.at
	for range 2 {
		at := <-st.at
		// 25 ms of slack for the scheduling between the loop's clock
		// reading and the store's.
		if gap := at.Sub(prev); gap < o.Lease/3-25*time.Millisecond {
			t.Fatalf("renewals %v apart, want every %v", gap, o.Lease/3)
		}
		prev = at
	}
}

// pingTimes is a scriptedStore that records when each Ping came.
type pingTimes struct {
	scriptedStore
	at chan time.Time
}

func (s *pingTimes) Ping(context.Context) error {
	select {
	case s.at <- time.Now():
	default:
	}
	return nil
}

// TestIdlePingEveryHalfFailFor: a healthy idle node pings the store once
// FailFor/2 has passed with no answer, not more often.
func TestIdlePingEveryHalfFailFor(t *testing.T) {
	st := &pingTimes{at: make(chan time.Time, 16)}
	o := quiet(&lockedBuffer{})
	o.FailFor = 600 * time.Millisecond
	o.ProbeEvery = 8 * time.Millisecond // ticks every 2 ms
	l := NewShared(st, o)
	defer l.Close()
	prev := <-st.at
	for range 2 {
		at := <-st.at
		// 25 ms of slack for the scheduling between the loop's clock
		// reading and the store's.
		if gap := at.Sub(prev); gap < o.FailFor/2-25*time.Millisecond {
			t.Fatalf("pings %v apart, want every %v", gap, o.FailFor/2)
		}
		prev = at
	}
}

// TestSharedCancelGivesBackTheLocalSlot: a shared admission raises this
// node's request count to the store's; its Cancel gives that slot back
// here too (not below zero), so that a fallback right after admits exactly
// the limit.
func TestSharedCancelGivesBackTheLocalSlot(t *testing.T) {
	for _, storeRequests := range []int64{0, 1} {
		st := &readCounter{}
		o := quiet(&lockedBuffer{})
		o.FailuresToOpen = 1
		now := time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC)
		o.Now = func() time.Time { return now }
		l := NewShared(&st.scriptedStore, o)
		lim := Limits{RPM: 1}
		st.set(Counters{Requests: storeRequests, Concurrent: 1})
		ts, d := admit(l, "k", lim, 0)
		if d != nil {
			t.Fatal(d)
		}
		ts.Cancel()
		st.down.Store(true)
		if _, d := admit(l, "k", lim, 0); d != nil { // decided here: the slot is free
			t.Fatalf("store counted %d: after the cancelled admission: %v", storeRequests, d)
		}
		if _, d := admit(l, "k", lim, 0); d == nil || d.Limit != "requests" {
			t.Fatalf("store counted %d: a second local admission under an RPM of 1: %+v, want refused", storeRequests, d)
		}
		if h := l.Health(); h.LocalDecisions != 2 {
			t.Fatalf("health %+v, want two local decisions", h)
		}
		l.Close()
	}
}

// TestLimitsOfOne: a limit of 1 is a limit: one token a minute, or a
// budget of one micro-dollar that a request in flight reserves.
func TestLimitsOfOne(t *testing.T) {
	t.Run("TPM", func(t *testing.T) {
		l := New(func() time.Time { return time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) })
		lim := Limits{TPM: 1}
		ts, d := admit(l, "k", lim, 0)
		if d != nil {
			t.Fatal(d)
		}
		ts.Done(0, 1)
		if _, d := admit(l, "k", lim, 0); d == nil || d.Limit != "tokens" {
			t.Fatalf("after 1 token of a TPM of 1: %+v, want a tokens refusal", d)
		}
	})
	t.Run("budget", func(t *testing.T) {
		l := New(nil)
		lim := Limits{BudgetMicros: 1, BudgetPeriod: Total}
		if _, d := admit(l, "k", lim, 1); d != nil {
			t.Fatal(d)
		}
		if _, d := admit(l, "k", lim, 1); d == nil || d.Limit != "budget" {
			t.Fatalf("with the only micro-dollar reserved: %+v, want a budget refusal", d)
		}
	})
}

// TestSubjectsInAnyOrder: admissions that name the same subjects in
// opposite orders, at once, do not deadlock.
func TestSubjectsInAnyOrder(t *testing.T) {
	l := New(nil)
	lim := Limits{RPM: 1 << 40}
	a, b := Subject{ID: "a", Limits: lim}, Subject{ID: "b", Limits: lim}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 8 {
		order := []Subject{a, b}
		if i%2 == 1 {
			order = []Subject{b, a}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20000 {
				ts, _, d := l.AdmitAll(order)
				if d != nil {
					t.Error(d)
					return
				}
				ts.Done(0, 0)
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("admissions deadlocked")
	}
}

// stuckCancels loses every admission's answer; its Cancel waits for
// release and counts the calls that came.
type stuckCancels struct {
	lostAnswers
	in      atomic.Int64
	release chan struct{}
}

func (s *stuckCancels) Cancel(context.Context, []Cancellation) error {
	s.in.Add(1)
	<-s.release
	return nil
}

// TestUndoBounded: at most 64 background cancellations run at once; the
// lost admissions beyond them are left to their leases.
func TestUndoBounded(t *testing.T) {
	st := &stuckCancels{release: make(chan struct{})}
	o := quiet(&lockedBuffer{})
	o.FailuresToOpen = 1 << 30 // every admission goes to the store
	l := NewShared(st, o)
	for range 100 {
		if _, d := admit(l, "k", Limits{RPM: 1 << 30}, 0); d != nil {
			t.Fatal(d)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for st.in.Load() < 64 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // time for any more to arrive
	n := st.in.Load()
	close(st.release)
	l.Close()
	if n != 64 {
		t.Fatalf("%d cancellations at once, want 64", n)
	}
}
