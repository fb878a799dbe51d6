package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scriptedStore is a Store whose answers the test sets: it admits
// everything and reports the counters in c, or fails while down is set. It
// tests the Limiter's breaker and fallback; redislimit tests the real store.
type scriptedStore struct {
	down  atomic.Bool
	calls atomic.Int64

	mu sync.Mutex // guards c
	c  Counters
}

var errDown = errors.New("store down")

func (s *scriptedStore) answer() (Counters, error) {
	s.calls.Add(1)
	if s.down.Load() {
		return Counters{}, errDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c, nil
}

func (s *scriptedStore) Settle(context.Context, Settlement) (Counters, error) { return s.answer() }
func (s *scriptedStore) AdmitAll(_ context.Context, as []Admission) (int, []Verdict, error) {
	c, err := s.answer()
	vs := make([]Verdict, len(as))
	for i := range vs {
		vs[i].Counters = c
	}
	return -1, vs, err
}
func (s *scriptedStore) SettleAll(_ context.Context, ss []Settlement) ([]Counters, error) {
	c, err := s.answer()
	cs := make([]Counters, len(ss))
	for i := range cs {
		cs[i] = c
	}
	return cs, err
}
func (s *scriptedStore) Cancel(context.Context, []Cancellation) error {
	_, err := s.answer()
	return err
}
func (s *scriptedStore) Seed(_ context.Context, _ string, _ time.Time, v int64) (int64, error) {
	_, err := s.answer()
	return v, err
}
func (s *scriptedStore) Read(context.Context, string, time.Time, time.Time) (Counters, error) {
	return s.answer()
}
func (s *scriptedStore) Renew(context.Context, []Lease, time.Time, time.Time) error {
	_, err := s.answer()
	return err
}
func (s *scriptedStore) Ping(context.Context) error { _, err := s.answer(); return err }

type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// quiet are options under which the Limiter's goroutine does nothing for
// the length of a test: only the test's calls reach the store.
func quiet(logs *lockedBuffer) Options {
	return Options{FailFor: time.Hour, ProbeEvery: time.Hour, Lease: time.Hour, Logger: slog.New(slog.NewTextHandler(logs, nil))}
}

// TestBreaker: five failures in a row switch to local decisions, logged
// once, and nothing more goes to the store.
func TestBreaker(t *testing.T) {
	st := &scriptedStore{}
	logs := &lockedBuffer{}
	l := NewShared(st, quiet(logs))
	defer l.Close()
	lim := Limits{RPM: 1000}
	if _, d := admit(l, "k", lim, 0); d != nil || l.Mode() != ModeShared {
		t.Fatalf("%+v %s", d, l.Mode())
	}
	st.down.Store(true)
	for i := range 4 {
		if _, d := admit(l, "k", lim, 0); d != nil {
			t.Fatal(d)
		}
		if l.Mode() != ModeShared {
			t.Fatalf("degraded after %d failures", i+1)
		}
	}
	if _, d := admit(l, "k", lim, 0); d != nil || l.Mode() != ModeDegraded {
		t.Fatalf("after 5 failures: %+v %s", d, l.Mode())
	}
	calls := st.calls.Load()
	for range 100 {
		if _, d := admit(l, "k", lim, 0); d != nil {
			t.Fatal(d)
		}
		l.Usage("k")
	}
	if extra := st.calls.Load() - calls; extra != 0 {
		t.Fatalf("an open breaker sent %d calls to the store", extra)
	}
	h := l.Health()
	if h.Degradations != 1 || h.StoreFailures != 5 || h.LocalDecisions != 105 || h.LastError != errDown.Error() {
		t.Fatalf("health %+v", h)
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Fatalf("%d error lines, want 1: %s", n, logs)
	}
}

// TestBreakerRecovers: with the default options, a store that stops
// answering is noticed without traffic, and a probe that succeeds switches
// back to shared limits and asks for the ledger again.
func TestBreakerRecovers(t *testing.T) {
	st := &scriptedStore{}
	logs := &lockedBuffer{}
	l := NewShared(st, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	defer l.Close()
	l.Seed("k", 0, time.Time{})
	st.down.Store(true)
	waitMode(t, l, ModeDegraded, 5*time.Second)
	st.down.Store(false)
	waitMode(t, l, ModeShared, 5*time.Second)
	if l.Seeded("k") {
		t.Fatal("after an outage the ledger must be read again")
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "shared again") {
		t.Fatalf("outage and recovery not logged: %s", logs)
	}
}

func waitMode(t *testing.T, l *Limiter, mode string, limit time.Duration) {
	t.Helper()
	start := time.Now()
	for l.Mode() != mode {
		if time.Since(start) > limit {
			t.Fatalf("not %s after %v", mode, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%s after %v", mode, time.Since(start).Round(time.Millisecond))
}

// TestBreakerSlowFailures: failures that last FailFor open the breaker
// even when fewer than five.
func TestBreakerSlowFailures(t *testing.T) {
	st := &scriptedStore{}
	l := NewShared(st, Options{FailFor: 100 * time.Millisecond, FailuresToOpen: 1000, ProbeEvery: time.Hour,
		Logger: slog.New(slog.DiscardHandler)})
	defer l.Close()
	st.down.Store(true)
	admit(l, "k", Limits{RPM: 10}, 0)
	time.Sleep(120 * time.Millisecond)
	admit(l, "k", Limits{RPM: 10}, 0)
	if l.Mode() != ModeDegraded {
		t.Fatalf("two failures 120 ms apart with FailFor 100 ms: %s", l.Mode())
	}
}

// TestFallbackStartsFromSharedCounts: a node that falls back admits only
// what the cluster had left when it last heard from the store, so the
// cluster stays within limit × nodes.
func TestFallbackStartsFromSharedCounts(t *testing.T) {
	st := &scriptedStore{c: Counters{Requests: 590, SpentMicros: 900}}
	now := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	o := quiet(&lockedBuffer{})
	o.Now = func() time.Time { return now }
	l := NewShared(st, o)
	defer l.Close()
	lim := Limits{RPM: 600, BudgetMicros: 1000, BudgetPeriod: Total}
	tk, d := admit(l, "k", lim, 50)
	if d != nil {
		t.Fatal(d)
	}
	st.down.Store(true)
	admitted := 0
	for range 50 {
		if tk, d := admit(l, "k", lim, 5); d == nil {
			admitted++
			tk.Done(5, 0)
		} else if d.Limit != "requests" && d.Limit != "budget" {
			t.Fatal(d)
		}
	}
	// 590 requests and 900 + 50 reserved were used: 10 requests, or
	// 50 / 5 = 10 budget units, remain; the shared ticket still holds its 50.
	if admitted != 10 {
		t.Fatalf("admitted %d locally, want 10", admitted)
	}
	tk.Done(50, 0) // the store is down: settled locally
	if u := l.Usage("k"); u.SpentMicros != 1000 || u.ReservedMicros != 0 || u.Concurrent != 0 {
		t.Fatalf("local usage %+v", u)
	}
}

// lostAnswers is a store that runs admissions but whose answers never
// arrive (a timeout after the script ran), and records cancellations.
type lostAnswers struct {
	scriptedStore
	mu        sync.Mutex // guards admitted and cancelled
	admitted  []string
	cancelled []string
}

func (s *lostAnswers) AdmitAll(_ context.Context, as []Admission) (int, []Verdict, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range as {
		s.admitted = append(s.admitted, a.Ticket)
	}
	return 0, nil, context.DeadlineExceeded
}

func (s *lostAnswers) Cancel(_ context.Context, cs []Cancellation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		s.cancelled = append(s.cancelled, c.Ticket)
	}
	return nil
}

// TestLostAdmissionsAreCancelled: an admission whose answer was lost is
// decided locally, and cancelled in the store in the background, so that
// if it ran there its slot and reservation do not wait out their lease.
func TestLostAdmissionsAreCancelled(t *testing.T) {
	st := &lostAnswers{}
	l := NewShared(st, quiet(&lockedBuffer{}))
	lim := Limits{RPM: 1000, BudgetMicros: 1000, BudgetPeriod: Total}
	if _, d := admit(l, "k", lim, 10); d != nil {
		t.Fatal(d)
	}
	if _, _, d := l.AdmitAll([]Subject{{ID: "k", Limits: lim, WorstMicros: 10}, {ID: "team", Limits: lim, WorstMicros: 10}}); d != nil {
		t.Fatal(d)
	}
	l.Close() // waits for the background cancellations
	st.mu.Lock()
	defer st.mu.Unlock()
	slices.Sort(st.admitted)
	slices.Sort(st.cancelled) // the cancellations run concurrently
	if len(st.admitted) != 3 || strings.Join(st.cancelled, ",") != strings.Join(st.admitted, ",") {
		t.Fatalf("admitted %v, cancelled %v: every lost admission must be cancelled", st.admitted, st.cancelled)
	}
}
