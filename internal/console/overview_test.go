package console

import (
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

func TestBuildSeries(t *testing.T) {
	end := time.Date(2026, 12, 7, 12, 0, 30, 0, time.UTC)
	at := func(ago time.Duration, st ledger.Status, tokens, cost int64, lat float64) entry {
		var e entry
		e.Time, e.Status, e.InputTokens, e.OutputTokens, e.CostMicros, e.LatencyMS = end.Add(-ago), st, tokens, tokens, cost, lat
		return e
	}
	es := []entry{
		at(10*time.Second, ledger.StatusOK, 5, 1_000_000, 10), // the last bucket (12:00)
		at(20*time.Second, ledger.StatusUpstreamError, 1, 0, 30),
		at(90*time.Second, ledger.StatusOK, 2, 500_000, 20), // 11:59
		at(2*time.Hour, ledger.StatusOK, 9, 9, 9),           // outside the hour
		at(-time.Second, ledger.StatusOK, 9, 9, 9),          // in the future
	}
	s := buildSeries(es, end, time.Hour, time.Minute)
	n := len(s.X)
	if n != 61 {
		t.Fatalf("%d buckets, want 61 (an hour of minutes and the current one)", n)
	}
	if s.X[0] != end.Add(-time.Hour).Truncate(time.Minute).Unix() || s.X[n-1]-s.X[n-2] != 60 {
		t.Fatalf("x %d..%d", s.X[0], s.X[n-1])
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"requests", s.Requests[n-2:], []int64{1, 2}},
		{"errors", s.Errors[n-2:], []int64{0, 1}},
		{"tokens", s.Tokens[n-2:], []int64{4, 12}},
		{"cost", s.CostUSD[n-2:], []float64{0.5, 1}},
		{"p50", s.P50[n-2:], []float64{20, 10}},
		{"p95", s.P95[n-2:], []float64{20, 30}},
		{"total requests", sum(s.Requests), int64(3)},
	} {
		if !equal(tc.got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func sum(v []int64) int64 {
	var n int64
	for _, x := range v {
		n += x
	}
	return n
}

func equal(a, b any) bool {
	switch x := a.(type) {
	case []int64:
		return slices.Equal(x, b.([]int64))
	case []float64:
		return slices.Equal(x, b.([]float64))
	}
	return a == b
}

func TestQuantile(t *testing.T) {
	for _, tc := range []struct {
		v    []float64
		q    float64
		want float64
	}{
		{nil, 0.95, 0},
		{[]float64{7}, 0.5, 7},
		{[]float64{4, 1, 3, 2}, 0.5, 2},
		{[]float64{4, 1, 3, 2}, 0.95, 4},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9, 9},
	} {
		if got := quantile(tc.v, tc.q); got != tc.want {
			t.Errorf("quantile(%v, %v) = %v, want %v", tc.v, tc.q, got, tc.want)
		}
	}
}

func TestTopBy(t *testing.T) {
	var es []entry
	for i, m := range []string{"b", "a", "b", "c", "a", "b", ""} {
		var e entry
		e.Model, e.CostMicros = m, int64(i)
		es = append(es, e)
	}
	got := topBy(es, func(e entry) string { return e.Model }, 3)
	var names []string
	for _, x := range got {
		names = append(names, x.Name)
	}
	if !slices.Equal(names, []string{"b", "a", "(none)"}) || got[0].Requests != 3 || got[0].CostMicros != 0+2+5 {
		t.Fatalf("top: %+v", got)
	}
}
