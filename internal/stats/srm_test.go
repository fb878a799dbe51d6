package stats

import (
	"math"
	"testing"
)

// TestSRM checks the chi-square goodness-of-fit statistic and its p-value.
// For two arms the p-value has the closed form erfc(sqrt(chi2/2)), which the
// table rows use as their reference.
func TestSRM(t *testing.T) {
	tests := []struct {
		name     string
		observed []int
		weights  []uint32
		chi2     float64
		p        float64
		mismatch bool
	}{
		// 50/50: expected 10,150 each; chi2 = 2·150²/10,150.
		{"small drift", []int{10000, 10300}, []uint32{50, 50}, 2 * 150.0 * 150 / 10150, math.Erfc(math.Sqrt(150.0 * 150 / 10150)), false},
		// Expected 10,300 each; chi2 = 2·300²/10,300 = 17.476, p = 2.9e-5.
		{"large drift", []int{10000, 10600}, []uint32{50, 50}, 2 * 300.0 * 300 / 10300, math.Erfc(math.Sqrt(300.0 * 300 / 10300)), true},
		// 90/10 honoured exactly.
		{"exact split", []int{9000, 1000}, []uint32{90, 10}, 0, 1, false},
		// 90/10 expected 18,000/2,000, observed 17,800/2,200:
		// 200²/18,000 + 200²/2,000 = 22.2222 on 1 df.
		{"skewed split", []int{17800, 2200}, []uint32{90, 10}, 200.0*200/18000 + 200.0*200/2000, math.Erfc(math.Sqrt((200.0*200/18000 + 200.0*200/2000) / 2)), true},
		// Three arms 1:1:2, expected 250/250/500, chi2 = 4+4+0 on 2 df:
		// p = exp(-chi2/2).
		{"three arms", []int{280, 220, 500}, []uint32{1, 1, 2}, 7.2, math.Exp(-3.6), false},
		{"unit in a zero-weight arm", []int{500, 500, 1}, []uint32{1, 1, 0}, 0, 0, true},
		{"no units", []int{0, 0}, []uint32{1, 1}, 0, 1, false},
		{"one arm", []int{70}, []uint32{5}, 0, 1, false},
		{"missing count is zero", []int{100}, []uint32{1, 1}, 100, math.Erfc(math.Sqrt(50)), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chi2, p, mismatch := SRM(tc.observed, tc.weights)
			if !near(chi2, tc.chi2, 1e-9) || math.Abs(p-tc.p) > 1e-9*math.Max(tc.p, 1e-300)+1e-300 || mismatch != tc.mismatch {
				t.Errorf("SRM(%v, %v) = %.6f, %.6g, %v; want %.6f, %.6g, %v",
					tc.observed, tc.weights, chi2, p, mismatch, tc.chi2, tc.p, tc.mismatch)
			}
		})
	}
}
