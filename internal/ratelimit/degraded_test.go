package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestDenialMessages: each refusal names the limit that refused and its
// value, in the words of the subject's level.
func TestDenialMessages(t *testing.T) {
	tests := []struct {
		name  string
		lim   Limits
		scope string
		fill  func(l *Limiter, s Subject) // takes the limit up to its value
		want  Denial
	}{
		{"concurrency", Limits{MaxConcurrent: 12}, "", func(l *Limiter, s Subject) {
			for range 12 {
				l.AdmitAll([]Subject{s})
			}
		}, Denial{Limit: "concurrency", Message: "Too many concurrent requests for this key (limit 12).", Max: 12}},
		{"requests", Limits{RPM: 12}, "team", func(l *Limiter, s Subject) {
			for range 12 {
				ts, _, _ := l.AdmitAll([]Subject{s})
				ts.Done(0, 0)
			}
		}, Denial{Limit: "requests", Message: "Rate limit reached: 12 requests per minute for this team.", Max: 12}},
		{"tokens", Limits{TPM: 1234}, "user", func(l *Limiter, s Subject) {
			ts, _, _ := l.AdmitAll([]Subject{s})
			ts.Done(0, 1234)
		}, Denial{Limit: "tokens", Message: "Rate limit reached: 1234 tokens per minute for this user.", Max: 1234}},
		{"budget", Limits{BudgetMicros: 2_500_000, BudgetPeriod: Total}, "", func(l *Limiter, s Subject) {
			ts, _, _ := l.AdmitAll([]Subject{s})
			ts.Done(2_000_000, 0)
		}, Denial{Limit: "budget", Message: "Budget exhausted for this key: spent $2.000000 of $2.500000 this period.", Max: 2_500_000, Remaining: 500_000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 1, 1, 0, 0, 15, 0, time.UTC)
			l := New(func() time.Time { return now })
			s := Subject{ID: "k", Limits: tc.lim, Scope: tc.scope, WorstMicros: 1_000_000}
			tc.fill(l, s)
			_, _, d := l.AdmitAll([]Subject{s})
			if d == nil {
				t.Fatal("admitted past the limit")
			}
			if d.Limit != tc.want.Limit || d.Message != tc.want.Message || d.Max != tc.want.Max || d.Remaining != tc.want.Remaining {
				t.Fatalf("denial %+v\nwant %+v", *d, tc.want)
			}
		})
	}
}

// flakyStore is a scriptedStore whose Renew alone can be made to fail.
type flakyStore struct {
	scriptedStore
	renewDown bool
	renews    chan struct{}
}

var errRenew = errors.New("renew failed")

func (s *flakyStore) Renew(context.Context, []Lease, time.Time, time.Time) error {
	select {
	case s.renews <- struct{}{}:
	default:
	}
	if s.renewDown {
		return errRenew
	}
	return nil
}

// TestStoreFailuresCounted: a failure of any store operation on a request's
// path, or of the lease renewal in the background, is counted and shown in
// Health, and only failures in a row open the breaker: an answer in between
// starts the count again.
func TestStoreFailuresCounted(t *testing.T) {
	lim := Limits{RPM: 1000}
	tests := []struct {
		name string
		// run does one operation with the store down (after admitting with it up).
		run      func(l *Limiter, st *scriptedStore)
		failures uint64
	}{
		{"admission", func(l *Limiter, st *scriptedStore) {
			st.down.Store(true)
			admit(l, "k", lim, 0)
		}, 1},
		{"settlement", func(l *Limiter, st *scriptedStore) {
			ts, _ := admit(l, "k", lim, 0)
			st.down.Store(true)
			ts.Done(0, 0)
		}, 1},
		{"cancellation", func(l *Limiter, st *scriptedStore) {
			ts, _ := admit(l, "k", lim, 0)
			st.down.Store(true)
			ts.Cancel()
		}, 1},
		{"read", func(l *Limiter, st *scriptedStore) {
			st.down.Store(true)
			l.Usage("k")
		}, 1},
		{"four in a row", func(l *Limiter, st *scriptedStore) {
			st.down.Store(true)
			for range 4 {
				admit(l, "k", lim, 0)
			}
		}, 4},
		{"an answer in between", func(l *Limiter, st *scriptedStore) {
			for range 2 {
				st.down.Store(true)
				for range 4 {
					admit(l, "k", lim, 0)
				}
				st.down.Store(false)
				ts, _ := admit(l, "k", lim, 0)
				ts.Cancel()
			}
		}, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &scriptedStore{}
			l := NewShared(st, quiet(&lockedBuffer{}))
			defer l.Close()
			tc.run(l, st)
			h := l.Health()
			if h.StoreFailures != tc.failures || h.LastError != errDown.Error() || h.Mode != ModeShared || h.Degradations != 0 {
				t.Fatalf("health %+v, want %d failures of %q, still shared", h, tc.failures, errDown)
			}
		})
	}
	t.Run("renewal", func(t *testing.T) {
		st := &flakyStore{renewDown: true, renews: make(chan struct{}, 1)}
		l := NewShared(st, Options{Lease: 30 * time.Millisecond, ProbeEvery: 40 * time.Millisecond, FailFor: time.Hour,
			Logger: slog.New(slog.DiscardHandler)})
		defer l.Close()
		ts, _ := admit(l, "k", lim, 0)
		defer ts.Done(0, 0)
		deadline := time.Now().Add(5 * time.Second)
		for l.Health().StoreFailures == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("failed renewals not counted: %+v", l.Health())
			}
			time.Sleep(5 * time.Millisecond)
		}
		if h := l.Health(); h.LastError != errRenew.Error() {
			t.Fatalf("health %+v, want the renewal's error", h)
		}
	})
}

// TestHealthDetail: Health says in words what each mode means for limits.
func TestHealthDetail(t *testing.T) {
	st := &scriptedStore{}
	l := NewShared(st, quiet(&lockedBuffer{}))
	defer l.Close()
	shared := l.Health().Detail
	st.down.Store(true)
	for range 5 {
		admit(l, "k", Limits{RPM: 10}, 0)
	}
	local := New(nil)
	defer local.Close()
	for _, tc := range []struct{ got, want string }{
		{local.Health().Detail, "limits are kept in this process's memory: each node enforces them alone"},
		{shared, "limits are shared by every node through the store"},
		{l.Health().Detail, "the shared store is unreachable: each node enforces every limit alone, so the cluster may admit " +
			"up to limit × nodes; shared limits resume when the store answers (probed every 1h0m0s)"},
	} {
		if tc.got != tc.want {
			t.Errorf("detail %q\nwant %q", tc.got, tc.want)
		}
	}
}

// TestCancelRereadsSharedUsage: a cancelled shared admission is no longer
// in the store's counts, so Usage asks the store again instead of showing
// the snapshot that still counts it.
func TestCancelRereadsSharedUsage(t *testing.T) {
	st := &scriptedStore{c: Counters{Requests: 1, Concurrent: 1}}
	l := NewShared(st, quiet(&lockedBuffer{}))
	defer l.Close()
	ts, _ := admit(l, "k", Limits{RPM: 10}, 0)
	local, _ := admit(New(nil), "local", Limits{RPM: 10}, 0)
	st.mu.Lock()
	st.c = Counters{}
	st.mu.Unlock()
	ts.Cancel()
	local.Cancel()
	if u := l.Usage("k"); u.RequestsThisMinute != 0 || u.Concurrent != 0 {
		t.Fatalf("usage after Cancel %+v, want the store's counts again", u)
	}
}

// seedStore records the spend each admission offers to seed the store with.
type seedStore struct {
	scriptedStore
	mu    sync.Mutex // guards seeds
	seeds []int64
}

func (s *seedStore) AdmitAll(ctx context.Context, as []Admission) (int, []Verdict, error) {
	s.mu.Lock()
	for _, a := range as {
		s.seeds = append(s.seeds, a.SeedMicros)
	}
	s.mu.Unlock()
	return s.scriptedStore.AdmitAll(ctx, as)
}

// TestLocalSpendSeedsTheStore: spend that this node settled alone while
// the store missed it is offered with the next admission, so that a store
// that lost the key's state starts from it rather than from zero.
func TestLocalSpendSeedsTheStore(t *testing.T) {
	for _, spend := range []int64{0, 1, 300_000} {
		t.Run(fmt.Sprint(spend), func(t *testing.T) {
			st := &seedStore{}
			l := NewShared(st, quiet(&lockedBuffer{}))
			defer l.Close()
			lim := Limits{BudgetMicros: 1_000_000, BudgetPeriod: Monthly}
			ts, _ := admit(l, "k", lim, 1000)
			st.down.Store(true)
			ts.Done(spend, 0) // the store misses the settlement: counted here
			st.down.Store(false)
			ts, _ = admit(l, "k", lim, 1000)
			ts.Done(0, 0)
			st.mu.Lock()
			defer st.mu.Unlock()
			if len(st.seeds) != 2 || st.seeds[0] != 0 || st.seeds[1] != spend {
				t.Fatalf("seeds offered %v, want [0 %d]", st.seeds, spend)
			}
		})
	}
}

// TestAlertsNeedABudget: alerts are percentages of a budget; a subject
// without one never alerts, whatever spend the store reports, and the
// smallest budget, one micro-dollar, alerts at every percentage at once.
func TestAlertsNeedABudget(t *testing.T) {
	tests := []struct {
		budget int64
		want   []int
	}{
		{0, nil},
		{-100, nil},
		{1, []int{1, 50, 100}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.budget), func(t *testing.T) {
			// The store reports 9 spent after a settlement of 9: from 0 to 9.
			st := &scriptedStore{c: Counters{SpentMicros: 9}}
			sink := newSink()
			o := quiet(&lockedBuffer{})
			o.OnAlert = sink.hook
			l := NewShared(st, o)
			lim := Limits{RPM: 100, BudgetMicros: tc.budget, BudgetPeriod: Total, AlertPercents: [8]int{1, 50, 100}}
			ts, _ := admit(l, "k", lim, 0)
			ts.Done(9, 0)
			// Without a budget, a spend the store reports as lower than the
			// settlement's cost (from -41 to 9) alerts nothing either.
			lt, _ := admit(l, "k", Limits{RPM: 100, BudgetMicros: min(tc.budget, 0), AlertPercents: [8]int{1, 50, 100}}, 0)
			lt.Done(50, 0)
			l.Close()
			var got []int
			for len(sink.ch) > 0 {
				got = append(got, (<-sink.ch).Percent)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("alerts at %v %%, want %v", got, tc.want)
			}
		})
	}
}
