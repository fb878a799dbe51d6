package store

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

func TestGuardrailAndCacheCounts(t *testing.T) { forEach(t, testGuardrailAndCacheCounts) }

// Verdicts and cache results are counted over the window only, by
// guardrail, action and stage, and by result with the saved cost.
func testGuardrailAndCacheCounts(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	pii := ledger.Verdict{Guardrail: "pii", Action: "mask", Stage: "input", Count: 2}
	secret := ledger.Verdict{Guardrail: "no-secrets", Action: "block", Stage: "input", Count: 1}
	entry := func(id string, age time.Duration, cache string, saved int64, vs ...ledger.Verdict) ledger.Entry {
		return ledger.Entry{RequestID: id, Time: now.Add(-age), Endpoint: "chat.completions", Status: ledger.StatusOK,
			HTTPStatus: 200, Cache: cache, SavedCostMicros: saved, Guardrails: vs, Attempts: []ledger.Attempt{}}
	}
	batch := []ledger.Entry{
		entry("gc-1", time.Minute, "hit", 300, pii),
		entry("gc-2", time.Hour, "hit", 200, pii, secret),
		entry("gc-3", 2*time.Hour, "miss", 0),
		entry("gc-4", 3*time.Hour, "", 0, secret),
		entry("gc-old", 30*time.Hour, "hit", 9999, pii, secret), // outside the window
	}
	if err := s.InsertEntries(ctx, batch); err != nil {
		t.Fatal(err)
	}
	since := now.Add(-24 * time.Hour)
	for _, tc := range []struct {
		name string
		got  func() (any, error)
		want any
	}{
		{"verdicts", func() (any, error) { return s.GuardrailVerdicts(ctx, since) }, []VerdictCount{
			{Guardrail: "no-secrets", Action: "block", Stage: "input", Requests: 2, Matches: 2},
			{Guardrail: "pii", Action: "mask", Stage: "input", Requests: 2, Matches: 4},
		}},
		{"cache", func() (any, error) { return s.CacheCounts(ctx, since) }, []CacheCount{
			{Result: "hit", Requests: 2, SavedCostMicros: 500},
			{Result: "miss", Requests: 1},
		}},
		{"empty window", func() (any, error) { return s.CacheCounts(ctx, now.Add(time.Hour)) }, []CacheCount{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.got()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
