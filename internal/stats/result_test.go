package stats

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// rows returns n observations for arm, the first k with Success set.
func rows(arm, n, k int, o Observation) []Observation {
	out := make([]Observation, n)
	for i := range out {
		out[i] = o
		out[i].Arm = arm
		out[i].Success = i < k
	}
	return out
}

func build(t *testing.T, cfg Config, obs ...[]Observation) Result {
	t.Helper()
	b, err := NewBuilder(cfg)
	if err != nil {
		t.Fatalf("NewBuilder: %v", err)
	}
	for _, os := range obs {
		for _, o := range os {
			b.Add(o)
		}
	}
	return b.Result()
}

// TestResultRate rebuilds Newcombe's example (a), 56/70 against 48/80, from
// rows, with fallback rows that would change every figure if they were
// compared.
func TestResultRate(t *testing.T) {
	cfg := Config{Arms: []string{"control", "candidate"}, Weights: []uint32{1, 1}, Metric: MetricRate}
	r := build(t, cfg,
		rows(0, 80, 48, Observation{Cost: 0.5, LatencyMS: 100}),
		rows(1, 70, 56, Observation{Cost: 1, LatencyMS: 200}),
		rows(1, 30, 30, Observation{Fallback: true, Cost: 9, LatencyMS: 9000}),
		rows(0, 8, 0, Observation{Error: true, Cost: 0, LatencyMS: 100}),
		[]Observation{{Arm: 7}, {Arm: -1}},
	)
	c, a := r.Arms[0], r.Arms[1]
	if c.N != 88 || a.N != 70 || a.Excluded != 30 || c.Excluded != 0 || r.Unassigned != 2 {
		t.Fatalf("counts: control n=%d, candidate n=%d excluded=%d, unassigned=%d", c.N, a.N, a.Excluded, r.Unassigned)
	}
	// The 8 error rows are failures of the control: 48/88.
	if !near(c.Estimate, 48.0/88, 1e-12) || !near(c.ErrorRate, 8.0/88, 1e-12) || !near(a.Estimate, 0.8, 1e-12) {
		t.Errorf("estimates: control %v (errors %v), candidate %v", c.Estimate, c.ErrorRate, a.Estimate)
	}
	if lo, hi := Wilson(56, 70, 0.95); a.CI == nil || a.CI.Lo != lo || a.CI.Hi != hi {
		t.Errorf("candidate CI = %+v, want Wilson (%v, %v)", a.CI, lo, hi)
	}
	if !near(a.CostTotal, 70, 1e-9) || !near(a.CostMean, 1, 1e-12) || !near(c.CostMean, 40.0/88, 1e-12) {
		t.Errorf("cost: candidate %v (mean %v), control mean %v", a.CostTotal, a.CostMean, c.CostMean)
	}
	if !near(a.LatencyP50, 200, 2) || !near(c.LatencyP50, 100, 1) {
		t.Errorf("latency p50: candidate %v, control %v", a.LatencyP50, c.LatencyP50)
	}
	if len(r.Differences) != 1 {
		t.Fatalf("differences: %+v", r.Differences)
	}
	d := r.Differences[0]
	wd, wlo, whi := NewcombeDiff(56, 70, 48, 88, 0.95)
	if d.Arm != "candidate" || d.Control != "control" || d.Estimate != wd || d.CI == nil || d.CI.Lo != wlo || d.CI.Hi != whi || d.P != nil {
		t.Errorf("difference = %+v, want %v (%v, %v)", d, wd, wlo, whi)
	}

	// Without the error rows the control is Newcombe's 48/80.
	r = build(t, cfg, rows(0, 80, 48, Observation{}), rows(1, 70, 56, Observation{}),
		rows(0, 50, 0, Observation{Fallback: true}))
	d = r.Differences[0]
	if !near(d.Estimate, 0.2, 1e-12) || !near(d.CI.Lo, 0.0524, 1e-4) || !near(d.CI.Hi, 0.3339, 1e-4) {
		t.Errorf("56/70 - 48/80 = %v (%v, %v), want 0.2 (0.0524, 0.3339)", d.Estimate, d.CI.Lo, d.CI.Hi)
	}
	if r.SRM.Mismatch || r.SRM.Alpha != SRMAlpha {
		t.Errorf("SRM = %+v, want no mismatch", r.SRM)
	}
}

// TestResultMean compares Student's sleep data as two arms, the control
// first: the difference is mean2 - mean1 = 1.58 with R's Welch interval
// mirrored, (-0.2054832, 3.3654832). Error rows and fallback rows carry
// values that would move it.
func TestResultMean(t *testing.T) {
	var obs []Observation
	for i := range sleep1 {
		obs = append(obs, Observation{Arm: 0, Value: sleep1[i]}, Observation{Arm: 1, Value: sleep2[i]})
	}
	obs = append(obs,
		Observation{Arm: 1, Value: 100, Fallback: true},
		Observation{Arm: 1, Value: 100, Error: true},
		Observation{Arm: 0, Value: math.NaN()},
	)
	r := build(t, Config{Arms: []string{"a", "b"}, Weights: []uint32{1, 1}, Metric: MetricMean}, obs)
	if r.Arms[1].N != 11 || r.Arms[1].ValueN != 10 || r.Arms[1].Excluded != 1 || r.Arms[0].ValueN != 10 {
		t.Errorf("counts: %+v", r.Arms)
	}
	if !near(r.Arms[0].Estimate, 0.75, 1e-12) || r.Arms[0].CI == nil || !near(r.Arms[0].CI.Lo, -0.5297804, 1e-6) {
		t.Errorf("arm a = %+v, want mean 0.75 with lower bound -0.5297804", r.Arms[0])
	}
	d := r.Differences[0]
	if !near(d.Estimate, 1.58, 1e-12) || d.CI == nil || !near(d.CI.Lo, -0.2054832, 1e-6) || !near(d.CI.Hi, 3.3654832, 1e-6) ||
		d.DF == nil || !near(*d.DF, 17.77647, 1e-5) || d.P == nil || !near(*d.P, 0.07939, 1e-5) {
		t.Errorf("difference = %+v", d)
	}
}

// TestResultSRM checks that the Result carries the SRM flag computed on
// compared rows, so that an arm that loses rows to fallback is flagged.
func TestResultSRM(t *testing.T) {
	cfg := Config{Arms: []string{"a", "b"}, Weights: []uint32{50, 50}, Metric: MetricRate}
	r := build(t, cfg, rows(0, 10000, 0, Observation{}), rows(1, 10600, 0, Observation{}))
	if !r.SRM.Mismatch || !near(r.SRM.Chi2, 2*300.0*300/10300, 1e-9) {
		t.Errorf("10,000 vs 10,600: SRM = %+v, want mismatch", r.SRM)
	}
	// Both arms got 10,000 rows, but 600 of b's fell back: the comparison
	// holds 10,000 against 9,400, and the survivors of b are a selected
	// population. The check must say so.
	r = build(t, cfg, rows(0, 10000, 0, Observation{}), rows(1, 9400, 0, Observation{}),
		rows(1, 600, 0, Observation{Fallback: true}))
	if !r.SRM.Mismatch {
		t.Errorf("fallback-depleted arm: SRM = %+v, want mismatch", r.SRM)
	}
	// Fallback spread evenly leaves the compared rows balanced.
	r = build(t, cfg, rows(0, 9700, 0, Observation{}), rows(1, 9700, 0, Observation{}),
		rows(0, 300, 0, Observation{Fallback: true}), rows(1, 300, 0, Observation{Fallback: true}))
	if r.SRM.Mismatch || r.SRM.Chi2 != 0 || r.SRM.P != 1 {
		t.Errorf("balanced: SRM = %+v", r.SRM)
	}
}

// TestResultEmptyJSON checks that a Result with empty arms and single
// values serializes: undefined intervals are absent, never NaN.
func TestResultEmptyJSON(t *testing.T) {
	for _, m := range []MetricKind{MetricRate, MetricMean} {
		r := build(t, Config{Arms: []string{"a", "b", "c"}, Weights: []uint32{1, 1, 0}, Metric: m},
			[]Observation{{Arm: 1, Value: 3, Success: true}})
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("%s: json.Marshal: %v", m, err)
		}
		if r.Arms[0].CI != nil || r.Differences[0].CI != nil || r.Differences[0].P != nil {
			t.Errorf("%s: undefined intervals present: %s", m, b)
		}
		if m == MetricRate && r.Arms[1].CI == nil {
			t.Errorf("rate arm with one row has no interval: %s", b)
		}
	}
}

func TestNewBuilderRefusesBadConfig(t *testing.T) {
	ok := Config{Arms: []string{"a", "b"}, Weights: []uint32{1, 1}, Metric: MetricRate}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"one arm", func(c *Config) { c.Arms, c.Weights = []string{"a"}, []uint32{1} }, "at least 2"},
		{"duplicate", func(c *Config) { c.Arms = []string{"a", "a"} }, "duplicate"},
		{"empty name", func(c *Config) { c.Arms = []string{"a", ""} }, "empty name"},
		{"weights", func(c *Config) { c.Weights = []uint32{1} }, "weights"},
		{"control", func(c *Config) { c.Control = 2 }, "control"},
		{"metric", func(c *Config) { c.Metric = "median" }, "metric"},
		{"confidence", func(c *Config) { c.Confidence = 95 }, "confidence"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.change(&cfg)
			_, err := NewBuilder(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewBuilder error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	b, err := NewBuilder(ok)
	if err != nil || b.Result().Confidence != DefaultConfidence {
		t.Errorf("default confidence: err=%v", err)
	}
}

// TestLatencySketch checks the median against exact values within the
// sketch's 1% relative accuracy, and that memory stays bounded.
func TestLatencySketch(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		want   float64
	}{
		{"empty", nil, 0},
		{"one", []float64{42}, 42},
		{"1 to 1001", seq(1, 1001), 501},
		{"zeros", []float64{0, 0, 0, 5, 7}, 0},
		{"lower median", []float64{10, 20, 30, 1000}, 20},
		{"tiny", []float64{1e-9, 1e-9, 1e-9}, 1e-3},
	}
	for _, tc := range tests {
		var s latencySketch
		for _, v := range tc.values {
			s.add(v)
		}
		if got := s.quantile(0.5); math.Abs(got-tc.want) > 0.01*tc.want {
			t.Errorf("%s: p50 = %v, want %v within 1%%", tc.name, got, tc.want)
		}
	}
	var s latencySketch
	for _, v := range []float64{1e300, math.Inf(1), math.NaN(), -5, 1e-300} {
		s.add(v)
	}
	if len(s.buckets) > 1500 || s.n != 4 {
		t.Errorf("sketch holds %d buckets, n=%d", len(s.buckets), s.n)
	}
}

func seq(from, to int) []float64 {
	var out []float64
	for i := from; i <= to; i++ {
		out = append(out, float64(i))
	}
	return out
}
