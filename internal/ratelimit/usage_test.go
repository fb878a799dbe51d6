package ratelimit

import (
	"context"
	"testing"
	"time"
)

// readStore is a recordStore that records the period start of each Read.
type readStore struct {
	recordStore
	reads []time.Time
}

func (s *readStore) Read(ctx context.Context, key string, now, start time.Time) (Counters, error) {
	s.rec.Lock()
	s.reads = append(s.reads, start)
	s.rec.Unlock()
	return s.scriptedStore.Read(ctx, key, now, start)
}

// TestSharedUsage: Usage answers from the snapshot of the key's last store
// operation while it is under 100 ms old, and from this node's memory
// right after a store failure; otherwise it reads the store, for the
// budget period that the key's limits (or its Seed) named.
func TestSharedUsage(t *testing.T) {
	now := time.Date(2026, 3, 11, 18, 30, 0, 0, time.UTC)
	month := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	seeded := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		setup func(l *Limiter, st *readStore)
		reads []time.Time // the period starts read, in order
		want  int64       // requests Usage reports
	}{
		{"a fresh snapshot", func(l *Limiter, st *readStore) {
			admit(l, "k", Limits{RPM: 10, BudgetMicros: 5, BudgetPeriod: Monthly}, 0)
		}, nil, 3},
		{"a stale snapshot is read again", func(l *Limiter, st *readStore) {
			admit(l, "k", Limits{RPM: 10, BudgetMicros: 5, BudgetPeriod: Monthly}, 0)
			time.Sleep(usageFresh + 10*time.Millisecond)
		}, []time.Time{month}, 4},
		{"a key never seen, after its Seed", func(l *Limiter, st *readStore) {
			l.Seed("k", 0, seeded)
		}, []time.Time{seeded}, 4},
		{"a key never seen", func(l *Limiter, st *readStore) {}, []time.Time{{}}, 4},
		{"right after a failure", func(l *Limiter, st *readStore) {
			admit(l, "k", Limits{RPM: 10}, 0)
			st.down.Store(true)
			admit(l, "other", Limits{RPM: 10}, 0)
			st.down.Store(false)
		}, nil, 3},
		{"degraded", func(l *Limiter, st *readStore) {
			admit(l, "k", Limits{RPM: 10}, 0)
			st.down.Store(true)
			for range 5 {
				admit(l, "other", Limits{RPM: 10}, 0)
			}
			st.down.Store(false)
			time.Sleep(usageFresh + 10*time.Millisecond)
		}, nil, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &readStore{}
			st.c = Counters{Requests: 3}
			o := quiet(&lockedBuffer{})
			o.Now = func() time.Time { return now }
			l := NewShared(st, o)
			defer l.Close()
			began := time.Now()
			tc.setup(l, st)
			st.mu.Lock()
			st.c = Counters{Requests: 4}
			st.mu.Unlock()
			u := l.Usage("k")
			st.rec.Lock()
			reads := st.reads
			st.rec.Unlock()
			if tc.reads == nil && tc.name != "degraded" && time.Since(began) >= usageFresh {
				t.Skip("the machine took longer than the snapshot lives: nothing to judge")
			}
			if u.RequestsThisMinute != tc.want || len(reads) != len(tc.reads) {
				t.Fatalf("usage %+v after reads %v; want %d requests after reads %v", u, reads, tc.want, tc.reads)
			}
			for i := range reads {
				if !reads[i].Equal(tc.reads[i]) {
					t.Fatalf("reads at %v, want %v", reads, tc.reads)
				}
			}
		})
	}
}
