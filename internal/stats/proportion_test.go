package stats

import (
	"math"
	"testing"
)

// TestWilson checks the score interval against Newcombe RG, "Two-sided
// confidence intervals for the single proportion: comparison of seven
// methods", Statistics in Medicine 1998;17:857-872, Table I, method 3 (score
// interval without continuity correction), 95%, to four decimals.
func TestWilson(t *testing.T) {
	tests := []struct {
		s, n   int
		lo, hi float64
	}{
		{81, 263, 0.2553, 0.3662},
		{15, 148, 0.0624, 0.1605},
		{0, 20, 0.0000, 0.1611},
		{1, 29, 0.0061, 0.1718},
		// Complements, by symmetry of the score interval.
		{20, 20, 0.8389, 1.0000},
		{28, 29, 0.8282, 0.9939},
		// No information: the whole range.
		{0, 0, 0, 1},
	}
	for _, tc := range tests {
		lo, hi := Wilson(tc.s, tc.n, 0.95)
		if !near(lo, tc.lo, 1e-4) || !near(hi, tc.hi, 1e-4) {
			t.Errorf("Wilson(%d, %d) = (%.5f, %.5f), want (%.4f, %.4f)", tc.s, tc.n, lo, hi, tc.lo, tc.hi)
		}
	}
	// Exact bounds at the edges and clamping of impossible counts.
	if lo, hi := Wilson(10, 10, 0.95); hi != 1 || lo <= 0 {
		t.Errorf("Wilson(10, 10) = (%v, %v), want upper exactly 1", lo, hi)
	}
	if lo, _ := Wilson(-3, 10, 0.95); lo != 0 {
		t.Errorf("Wilson(-3, 10) lower = %v, want 0", lo)
	}
	if lo, hi := Wilson(5, 10, 1); !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("Wilson at conf 1 = (%v, %v), want NaN", lo, hi)
	}
	// A 99% interval is wider than a 95% one.
	l95, h95 := Wilson(81, 263, 0.95)
	l99, h99 := Wilson(81, 263, 0.99)
	if !(l99 < l95 && h99 > h95) {
		t.Errorf("99%% (%v, %v) not wider than 95%% (%v, %v)", l99, h99, l95, h95)
	}
}

// TestNewcombeDiff checks method 10 against Newcombe RG, "Interval
// estimation for the difference between independent proportions: comparison
// of eleven methods", Statistics in Medicine 1998;17:873-890, Table II,
// examples (a)-(h), 95%, to four decimals.
func TestNewcombeDiff(t *testing.T) {
	tests := []struct {
		name           string
		s1, n1, s2, n2 int
		diff, lo, hi   float64
	}{
		{"a", 56, 70, 48, 80, 0.2, 0.0524, 0.3339},
		{"b", 9, 10, 3, 10, 0.6, 0.1705, 0.8090},
		{"c", 6, 7, 2, 7, 4.0 / 7, 0.0582, 0.8062},
		{"d", 5, 56, 0, 29, 5.0 / 56, -0.0381, 0.1926},
		{"e", 0, 10, 0, 20, 0, -0.1611, 0.2775},
		{"f", 0, 10, 0, 10, 0, -0.2775, 0.2775},
		{"g", 10, 10, 0, 20, 1, 0.6791, 1.0000},
		{"h", 10, 10, 0, 10, 1, 0.6075, 1.0000},
		// Swapping the groups negates the difference and mirrors the interval.
		{"a swapped", 48, 80, 56, 70, -0.2, -0.3339, -0.0524},
		{"empty group", 3, 10, 0, 0, 0, -1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			diff, lo, hi := NewcombeDiff(tc.s1, tc.n1, tc.s2, tc.n2, 0.95)
			if !near(diff, tc.diff, 1e-12) || !near(lo, tc.lo, 1e-4) || !near(hi, tc.hi, 1e-4) {
				t.Errorf("NewcombeDiff(%d/%d, %d/%d) = %.4f (%.5f, %.5f), want %.4f (%.4f, %.4f)",
					tc.s1, tc.n1, tc.s2, tc.n2, diff, lo, hi, tc.diff, tc.lo, tc.hi)
			}
		})
	}
}

// TestIntervalsContainEstimates walks every count up to n = 40 and checks
// that each interval contains its point estimate, stays in range, and
// narrows as the confidence drops.
func TestIntervalsContainEstimates(t *testing.T) {
	for n := 1; n <= 40; n++ {
		for s := 0; s <= n; s++ {
			p := float64(s) / float64(n)
			lo, hi := Wilson(s, n, 0.95)
			lo90, hi90 := Wilson(s, n, 0.90)
			if !(0 <= lo && lo <= p && p <= hi && hi <= 1) || lo90 < lo || hi90 > hi {
				t.Fatalf("Wilson(%d, %d) = (%v, %v), 90%% (%v, %v)", s, n, lo, hi, lo90, hi90)
			}
			for s2 := 0; s2 <= 12; s2++ {
				d, dlo, dhi := NewcombeDiff(s, n, s2, 12, 0.95)
				if !(-1 <= dlo && dlo <= d && d <= dhi && dhi <= 1) {
					t.Fatalf("NewcombeDiff(%d/%d, %d/12) = %v (%v, %v)", s, n, s2, d, dlo, dhi)
				}
			}
		}
	}
}
