package redislimit

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ratelimit"
)

// directStore is a Store on the test Redis under a prefix of its own.
func directStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(Options{Addr: redisAddr(t), Prefix: prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func admitOne(t *testing.T, s *Store, a ratelimit.Admission) (int, []ratelimit.Verdict) {
	t.Helper()
	denied, vs, err := s.AdmitAll(context.Background(), []ratelimit.Admission{a})
	if err != nil {
		t.Fatalf("AdmitAll: %v", err)
	}
	return denied, vs
}

func readNow(t *testing.T, s *Store, id string, now time.Time) ratelimit.Counters {
	t.Helper()
	c, err := s.Read(context.Background(), id, now, time.Time{})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return c
}

// TestStoreSettleFreesAndCounts: Settle (one ticket) frees the ticket's
// concurrency slot and reservation and adds its cost and tokens.
func TestStoreSettleFreesAndCounts(t *testing.T) {
	s := directStore(t)
	now := time.Now()
	a := ratelimit.Admission{Key: "k", Now: now, LeaseUntil: now.Add(time.Minute), Ticket: "a",
		Limits: ratelimit.Limits{MaxConcurrent: 1}, WorstMicros: 100}
	if d, vs := admitOne(t, s, a); d != -1 || vs[0].Concurrent != 1 || vs[0].ReservedMicros != 100 {
		t.Fatalf("admit = %d, %+v; want admitted with one slot and 100 reserved", d, vs)
	}
	c, err := s.Settle(context.Background(), ratelimit.Settlement{Key: "k", Ticket: "a", CostMicros: 40, Tokens: 7, Now: now})
	if err != nil {
		t.Fatalf("Settle: %v", err)
	}
	want := ratelimit.Counters{Requests: 1, Tokens: 7, SpentMicros: 40}
	if c != want {
		t.Fatalf("Settle = %+v, want %+v", c, want)
	}
	if got := readNow(t, s, "k", now); got != want {
		t.Fatalf("Read after Settle = %+v, want %+v", got, want)
	}
	a.Ticket = "b"
	if d, vs := admitOne(t, s, a); d != -1 {
		t.Fatalf("admit after Settle = %d, %+v; want the freed slot", d, vs)
	}
}

// TestStoreCancelFreesConcurrency: a cancelled ticket gives back its
// concurrency slot, its reservation and its request.
func TestStoreCancelFreesConcurrency(t *testing.T) {
	s := directStore(t)
	now := time.Now()
	a := ratelimit.Admission{Key: "k", Now: now, LeaseUntil: now.Add(time.Minute), Ticket: "a",
		Limits: ratelimit.Limits{MaxConcurrent: 1}, WorstMicros: 100}
	if d, vs := admitOne(t, s, a); d != -1 {
		t.Fatalf("admit = %d, %+v; want admitted", d, vs)
	}
	b := a
	b.Ticket = "b"
	if d, vs := admitOne(t, s, b); d != 0 || vs[0].Denied != "concurrency" {
		t.Fatalf("second admit = %d, %+v; want refused for concurrency", d, vs)
	}
	if err := s.Cancel(context.Background(), []ratelimit.Cancellation{{Key: "k", Ticket: "a", Admitted: now}}); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if got := readNow(t, s, "k", now); got != (ratelimit.Counters{}) {
		t.Fatalf("Read after Cancel = %+v, want all zero", got)
	}
	if d, vs := admitOne(t, s, b); d != -1 || vs[0].Concurrent != 1 {
		t.Fatalf("admit after Cancel = %d, %+v; want admitted into the freed slot", d, vs)
	}
}

// TestStoreAdmitAllArgumentsPerLevel: each subject's own limits, seed and
// ticket reach the script: a limit set on any one level refuses there, and
// every level reports its own seed.
func TestStoreAdmitAllArgumentsPerLevel(t *testing.T) {
	kinds := []struct {
		kind string
		lim  func(seed int64) ratelimit.Limits
	}{
		{"requests", func(int64) ratelimit.Limits { return ratelimit.Limits{RPM: 1} }},
		{"budget", func(seed int64) ratelimit.Limits { return ratelimit.Limits{BudgetMicros: seed + 50 - 1} }},
	}
	for _, k := range kinds {
		for level := range 3 {
			t.Run(k.kind+"/level"+strconv.Itoa(level), func(t *testing.T) {
				s := directStore(t)
				now := time.Now()
				start := now.Add(-time.Hour).Truncate(time.Second)
				as := make([]ratelimit.Admission, 3)
				for i := range as {
					seed := int64(1000 * (i + 1))
					as[i] = ratelimit.Admission{Key: "k" + strconv.Itoa(i), Now: now, LeaseUntil: now.Add(time.Minute),
						Ticket: "t" + strconv.Itoa(i), PeriodStart: start, PeriodTTL: time.Hour, SeedMicros: seed,
						WorstMicros: 50, Limits: ratelimit.Limits{RPM: 100, BudgetMicros: seed + 10_000}}
					if i == level {
						as[i].Limits = k.lim(seed)
					}
				}
				ctx := context.Background()
				if k.kind == "requests" {
					// Use up the level's one request first, alone.
					warm := as[level]
					warm.Ticket = "warm"
					if d, vs := admitOne(t, s, warm); d != -1 {
						t.Fatalf("warm-up admit = %d, %+v", d, vs)
					}
				}
				denied, vs, err := s.AdmitAll(ctx, as)
				if err != nil {
					t.Fatalf("AdmitAll: %v", err)
				}
				if denied != level || len(vs) != level+1 || vs[level].Denied != k.kind {
					t.Fatalf("AdmitAll = %d, %+v; want refused at %d for %s", denied, vs, level, k.kind)
				}
				for i, v := range vs {
					if v.SpentMicros != as[i].SeedMicros {
						t.Errorf("level %d spent = %d, want its seed %d", i, v.SpentMicros, as[i].SeedMicros)
					}
				}
				// All or none: the levels before the refusal hold nothing.
				for i := range level {
					if c := readNow(t, s, as[i].Key, now); c.Concurrent != 0 || c.Requests != 0 || c.ReservedMicros != 0 {
						t.Errorf("level %d after the refusal = %+v, want nothing held", i, c)
					}
				}
				// Without the tight limit every level is admitted and holds
				// its own ticket.
				as[level].Limits = ratelimit.Limits{}
				denied, vs, err = s.AdmitAll(ctx, as)
				if err != nil || denied != -1 || len(vs) != 3 {
					t.Fatalf("AdmitAll without the limit = %d, %+v, %v", denied, vs, err)
				}
				for i, v := range vs {
					want := int64(50)
					if k.kind == "requests" && i == level {
						want += 50 // the warm-up's ticket
					}
					if v.ReservedMicros != want {
						t.Errorf("level %d reserved = %d, want %d", i, v.ReservedMicros, want)
					}
				}
			})
		}
	}
}
