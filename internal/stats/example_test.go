package stats_test

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/stats"
)

// Newcombe (1998), Table II, example (a).
func ExampleNewcombeDiff() {
	diff, lo, hi := stats.NewcombeDiff(56, 70, 48, 80, 0.95)
	fmt.Printf("%.4f (%.4f, %.4f)\n", diff, lo, hi)
	// Output: 0.2000 (0.0524, 0.3339)
}

// An experiment over two targets, compared on success rate. The data plane
// calls Assign per request; the admin API folds ledger rows into a Result.
func ExampleBuilder() {
	weights := []uint32{50, 50}
	b, err := stats.NewBuilder(stats.Config{
		Arms:    []string{"gpt-small", "gpt-large"},
		Weights: weights,
		Control: 0,
		Metric:  stats.MetricRate,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range 2000 {
		arm := stats.Assign("exp-1", fmt.Sprintf("user-%d", i), weights)
		b.Add(stats.Observation{Arm: arm, Success: i%(3+arm) != 0, Cost: 0.01, LatencyMS: 300})
	}
	r := b.Result()
	for _, a := range r.Arms {
		fmt.Printf("%s: n=%d rate=%.3f\n", a.Arm, a.N, a.Estimate)
	}
	d := r.Differences[0]
	fmt.Printf("%s - %s: %.3f (%.3f, %.3f); SRM mismatch: %v\n", d.Arm, d.Control, d.Estimate, d.CI.Lo, d.CI.Hi, r.SRM.Mismatch)
}
