package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// recordStore is a scriptedStore that records what the Limiter sends it:
// admissions, settlements, and each call's time left before its deadline.
type recordStore struct {
	scriptedStore
	seedAnswer int64 // what Seed answers (0: the value sent)

	rec         sync.Mutex // guards the fields below
	admissions  []Admission
	settlements []Settlement
	timeLeft    []time.Duration
}

func (s *recordStore) record(ctx context.Context) {
	d, ok := ctx.Deadline()
	if !ok {
		d = time.Now().Add(time.Hour * 1000)
	}
	s.timeLeft = append(s.timeLeft, time.Until(d))
}

func (s *recordStore) AdmitAll(ctx context.Context, as []Admission) (int, []Verdict, error) {
	s.rec.Lock()
	s.record(ctx)
	s.admissions = append(s.admissions, as...)
	s.rec.Unlock()
	return s.scriptedStore.AdmitAll(ctx, as)
}

func (s *recordStore) SettleAll(ctx context.Context, ss []Settlement) ([]Counters, error) {
	s.rec.Lock()
	s.record(ctx)
	s.settlements = append(s.settlements, ss...)
	s.rec.Unlock()
	return s.scriptedStore.SettleAll(ctx, ss)
}

func (s *recordStore) Seed(ctx context.Context, key string, start time.Time, v int64) (int64, error) {
	s.rec.Lock()
	s.record(ctx)
	s.rec.Unlock()
	got, err := s.scriptedStore.Seed(ctx, key, start, v)
	if s.seedAnswer != 0 {
		got = s.seedAnswer
	}
	return got, err
}

// TestAdmissionsSentToTheStore: an admission carries its lease (Lease
// from now, 30 s by default), the budget period's start and how long its
// spend is kept (to the period's end and a day more; forever for Total),
// a reservation only under a budget, and a ticket name unique to it; every
// call has Timeout (250 ms by default) to answer.
func TestAdmissionsSentToTheStore(t *testing.T) {
	now := time.Date(2026, 3, 11, 18, 30, 0, 0, time.UTC) // a Wednesday
	day := 24 * time.Hour
	if DefaultTimeout != 250*time.Millisecond {
		t.Fatalf("DefaultTimeout is %v, documented as 250 ms", DefaultTimeout)
	}
	tests := []struct {
		name     string
		opts     Options
		lim      Limits
		lease    time.Duration
		timeout  time.Duration
		start    time.Time
		ttl      time.Duration
		reserved int64
	}{
		{"defaults, daily", Options{}, Limits{BudgetMicros: 100, BudgetPeriod: Daily}, 30 * time.Second, DefaultTimeout,
			time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC), 5*time.Hour + 30*time.Minute + day, 7},
		{"weekly", Options{Lease: time.Minute, Timeout: 50 * time.Millisecond}, Limits{BudgetMicros: 100, BudgetPeriod: Weekly},
			time.Minute, 50 * time.Millisecond, time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), 4*day + 5*time.Hour + 30*time.Minute + day, 7},
		{"monthly", Options{}, Limits{BudgetMicros: 100, BudgetPeriod: Monthly}, 30 * time.Second, DefaultTimeout,
			time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 20*day + 5*time.Hour + 30*time.Minute + day, 7},
		{"total", Options{}, Limits{BudgetMicros: 100, BudgetPeriod: Total}, 30 * time.Second, DefaultTimeout, time.Time{}, 0, 7},
		{"no budget: no reservation", Options{}, Limits{RPM: 5}, 30 * time.Second, DefaultTimeout, time.Time{}, 0, 0},
		{"the smallest budget reserves", Options{}, Limits{BudgetMicros: 1, BudgetPeriod: Total}, 30 * time.Second, DefaultTimeout, time.Time{}, 0, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &recordStore{}
			o := tc.opts
			o.FailFor, o.ProbeEvery, o.Logger = time.Hour, time.Hour, quiet(&lockedBuffer{}).Logger
			o.Now = func() time.Time { return now }
			l := NewShared(st, o)
			defer l.Close()
			for range 2 {
				ts, _, d := l.AdmitAll([]Subject{{ID: "k", Limits: tc.lim, WorstMicros: 7}})
				if d != nil {
					t.Fatal(d)
				}
				ts.Done(1, 0)
			}
			st.rec.Lock()
			defer st.rec.Unlock()
			if len(st.admissions) != 2 {
				t.Fatalf("%d admissions sent, want 2", len(st.admissions))
			}
			a := st.admissions[0]
			if a.Key != "k" || !a.Now.Equal(now) || a.LeaseUntil.Sub(now) != tc.lease || !a.PeriodStart.Equal(tc.start) ||
				a.PeriodTTL != tc.ttl || a.WorstMicros != tc.reserved || a.Ticket == "" || a.Ticket == st.admissions[1].Ticket {
				t.Fatalf("admission %+v\nwant lease %v, period from %v kept %v, %d reserved, unique tickets (next %q)",
					a, tc.lease, tc.start, tc.ttl, tc.reserved, st.admissions[1].Ticket)
			}
			if s := st.settlements[0]; s.Ticket != a.Ticket || s.CostMicros != 1 || !s.PeriodStart.Equal(tc.start) || s.PeriodTTL != tc.ttl {
				t.Fatalf("settlement %+v of admission %+v", s, a)
			}
			for _, left := range st.timeLeft {
				if left > tc.timeout || left < tc.timeout-tc.timeout/2 {
					t.Fatalf("a store call had %v to answer, want %v", left, tc.timeout)
				}
			}
		})
	}
}

// TestSeed: Seed sets the spend from the ledger and marks the key seeded;
// with a store, the store's answer (never lower) is what this node keeps
// for a fallback, and a store that fails counts a failure and keeps the
// ledger's spend.
func TestSeed(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	now := start.Add(48 * time.Hour)
	tests := []struct {
		name     string
		store    *recordStore // nil: in memory
		down     bool
		want     int64 // the spend seen once degraded (or in memory)
		failures uint64
	}{
		{"in memory", nil, false, 500, 0},
		{"the store keeps more", &recordStore{seedAnswer: 800}, false, 800, 0},
		{"the store takes it", &recordStore{}, false, 500, 0},
		{"the store is down", &recordStore{}, true, 500, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var l *Limiter
			if tc.store == nil {
				l = New(func() time.Time { return now })
			} else {
				o := quiet(&lockedBuffer{})
				o.Now = func() time.Time { return now }
				l = NewShared(tc.store, o)
				tc.store.down.Store(tc.down)
			}
			defer l.Close()
			if l.Seeded("k") {
				t.Fatal("seeded before Seed")
			}
			l.Seed("k", 500, start)
			if !l.Seeded("k") || l.Health().StoreFailures != tc.failures {
				t.Fatalf("after Seed: seeded %v, health %+v; want %d store failures", l.Seeded("k"), l.Health(), tc.failures)
			}
			if tc.store != nil {
				tc.store.down.Store(true)
				for range 5 {
					l.AdmitAll([]Subject{{ID: "other", Limits: Limits{RPM: 1000}}})
				}
				if l.Mode() != ModeDegraded {
					t.Fatalf("mode %s after 5 failures", l.Mode())
				}
			}
			u := l.Usage("k")
			if u.SpentMicros != tc.want {
				t.Fatalf("usage %+v, want %d spent", u, tc.want)
			}
			_, _, d := l.AdmitAll([]Subject{{ID: "k", Limits: Limits{BudgetMicros: tc.want + 10, BudgetPeriod: Monthly}, WorstMicros: 11}})
			if d == nil || d.Limit != "budget" || d.Message != fmt.Sprintf("Budget exhausted for this key: spent %s of %s this period.", dollars(tc.want), dollars(tc.want+10)) {
				t.Fatalf("denial %+v, want the seeded spend refusing", d)
			}
		})
	}
}

// TestStoreLostTheSpend: when the store reports that it started a key's
// spend afresh (it lost its data), the key needs the ledger again; an
// answer without Started leaves it seeded.
func TestStoreLostTheSpend(t *testing.T) {
	for _, started := range []bool{false, true} {
		st := &recordStore{}
		st.c = Counters{Started: started}
		l := NewShared(st, quiet(&lockedBuffer{}))
		l.Seed("k", 10, time.Time{})
		ts, _ := admit(l, "k", Limits{BudgetMicros: 100, BudgetPeriod: Total}, 1)
		ts.Done(1, 0)
		if got := l.Seeded("k"); got == started {
			t.Errorf("store answered Started %v: Seeded %v", started, got)
		}
		l.Close()
	}
}
