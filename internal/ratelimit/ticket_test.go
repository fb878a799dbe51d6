package ratelimit

import (
	"context"
	"testing"
	"time"
)

// settleStore is a recordStore that records single settlements too.
type settleStore struct {
	recordStore
}

func (s *settleStore) Settle(ctx context.Context, st Settlement) (Counters, error) {
	s.rec.Lock()
	s.record(ctx)
	s.settlements = append(s.settlements, st)
	s.rec.Unlock()
	return s.scriptedStore.Settle(ctx, st)
}

// TestSingleTicket: each subject's ticket of a request can be settled or
// cancelled on its own; the first Done or Cancel wins. In shared mode the
// settlement goes to the store with its ticket and period; when the store
// misses it, this node counts the spend and the store failure.
func TestSingleTicket(t *testing.T) {
	now := time.Date(2026, 3, 11, 18, 30, 0, 0, time.UTC)
	tests := []struct {
		name   string
		store  bool
		down   bool // the store fails at settlement
		settle int  // settlements the store saw
		fails  uint64
	}{
		{"in memory", false, false, 0, 0},
		{"shared", true, false, 1, 0},
		{"the store misses the settlement and the cancel", true, true, 1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &settleStore{}
			l := New(func() time.Time { return now })
			if tc.store {
				o := quiet(&lockedBuffer{})
				o.Now = func() time.Time { return now }
				l = NewShared(st, o)
			}
			defer l.Close()
			lim := Limits{RPM: 10, MaxConcurrent: 5, BudgetMicros: 1000, BudgetPeriod: Daily}
			ts, _, d := l.AdmitAll([]Subject{{ID: "a", Limits: lim, WorstMicros: 100}, {ID: "b", Limits: lim, WorstMicros: 100}})
			if d != nil {
				t.Fatal(d)
			}
			st.down.Store(tc.down)
			ts.Ticket(0).Done(40, 7)
			ts.Ticket(0).Done(40, 7) // no-op
			ts.Ticket(0).Cancel()    // no-op: Done came first
			ts.Ticket(1).Cancel()
			ts.Ticket(1).Done(40, 7) // no-op: Cancel came first
			ts.Done(40, 7)           // no-op: both are claimed
			var none *Ticket
			none.Done(1, 1)
			none.Cancel()
			st.down.Store(false)
			st.rec.Lock()
			settled := st.settlements
			st.rec.Unlock()
			if len(settled) != tc.settle {
				t.Fatalf("%d settlements sent, want %d", len(settled), tc.settle)
			}
			if tc.settle > 0 {
				st.rec.Lock()
				a := st.admissions[0]
				st.rec.Unlock()
				if s := settled[0]; s.Key != "a" || s.Ticket != a.Ticket || s.CostMicros != 40 || s.Tokens != 7 ||
					!s.PeriodStart.Equal(time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)) || s.PeriodTTL != 29*time.Hour+30*time.Minute {
					t.Fatalf("settlement %+v of admission %+v", s, a)
				}
			}
			if h := l.Health(); h.StoreFailures != tc.fails {
				t.Fatalf("health %+v, want %d store failures", h, tc.fails)
			}
			// What this node counts, as a fallback would see it.
			for id, want := range map[string]Usage{"a": {SpentMicros: 40, TokensThisMinute: 7}, "b": {}} {
				if tc.store && !tc.down {
					want.SpentMicros, want.TokensThisMinute = 0, 0 // the store has them
				}
				u := l.mem.usage(id, now)
				if u.Concurrent != 0 || u.ReservedMicros != 0 || u.SpentMicros != want.SpentMicros || u.TokensThisMinute != want.TokensThisMinute {
					t.Fatalf("%s: this node's usage %+v, want none in flight, %d spent, %d tokens", id, u, want.SpentMicros, want.TokensThisMinute)
				}
			}
		})
	}
}
