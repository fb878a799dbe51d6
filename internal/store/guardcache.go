package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

// VerdictCount is how many requests a guardrail acted on, by action and
// stage, and how many matches that was.
type VerdictCount struct {
	Guardrail string `json:"guardrail"`
	Action    string `json:"action"`
	Stage     string `json:"stage"`
	Requests  int64  `json:"requests"`
	Matches   int64  `json:"matches"`
}

// CacheCount is the ledger's requests of one cache result (hit, miss,
// bypass) and, for hits, what the answers cost when they were fetched.
type CacheCount struct {
	Result          string `json:"result"`
	Requests        int64  `json:"requests"`
	SavedCostMicros int64  `json:"saved_cost_micros"`
}

// GuardrailVerdicts counts the ledger's guardrail verdicts since since,
// by guardrail, action and stage (sorted). It reads only the rows that
// hold verdicts.
func (s *Store) GuardrailVerdicts(ctx context.Context, since time.Time) ([]VerdictCount, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT guardrails FROM requests WHERE ts >= $1 AND guardrails <> ''`, since.UnixMicro())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type k struct{ g, a, s string }
	sums := map[k]*VerdictCount{}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		var vs []ledger.Verdict
		if err := json.Unmarshal([]byte(raw), &vs); err != nil {
			return nil, fmt.Errorf("guardrail verdicts: %w", err)
		}
		for _, v := range vs {
			key := k{v.Guardrail, v.Action, v.Stage}
			c := sums[key]
			if c == nil {
				c = &VerdictCount{Guardrail: v.Guardrail, Action: v.Action, Stage: v.Stage}
				sums[key] = c
			}
			c.Requests++
			c.Matches += int64(v.Count)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]VerdictCount, 0, len(sums))
	for _, c := range sums {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b VerdictCount) int {
		return strings.Compare(a.Guardrail+"\x00"+a.Action+"\x00"+a.Stage, b.Guardrail+"\x00"+b.Action+"\x00"+b.Stage)
	})
	return out, nil
}

// CacheCounts counts the ledger's requests by cache result since since
// (sorted by result; requests of models without a cache are left out).
func (s *Store) CacheCounts(ctx context.Context, since time.Time) ([]CacheCount, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT cache, count(*), COALESCE(sum(saved_cost_micros), 0) FROM requests
		WHERE ts >= $1 AND cache <> '' GROUP BY cache ORDER BY cache`, since.UnixMicro())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []CacheCount{}
	for rows.Next() {
		var c CacheCount
		if err := rows.Scan(&c.Result, &c.Requests, &c.SavedCostMicros); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
