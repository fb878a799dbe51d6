package stats

import (
	"math"
	"testing"
)

func near(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol
}

// TestNormalQuantile checks z values against the standard normal table
// (for example Abramowitz and Stegun, table 26.5) and the round trip
// through NormalCDF across the range, tails included.
func TestNormalQuantile(t *testing.T) {
	tests := []struct {
		p, want float64
	}{
		{0.5, 0},
		{0.8413447460685429, 1},
		{0.95, 1.6448536269514722},
		{0.975, 1.959963984540054},
		{0.995, 2.5758293035489004},
		{0.9995, 3.2905267314918945},
		{0.025, -1.959963984540054},
	}
	for _, tc := range tests {
		if got := NormalQuantile(tc.p); !near(got, tc.want, 1e-9) {
			t.Errorf("NormalQuantile(%v) = %.12f, want %.12f", tc.p, got, tc.want)
		}
	}
	for _, p := range []float64{1e-300, 1e-12, 1e-6, 0.001, 0.02, 0.02425, 0.1, 0.3, 0.7, 0.97575, 0.99, 1 - 1e-9} {
		z := NormalQuantile(p)
		if got := NormalCDF(z); !near(got, p, 1e-12*math.Max(p, 1e-3)) && math.Abs(got/p-1) > 1e-9 {
			t.Errorf("NormalCDF(NormalQuantile(%g)) = %g", p, got)
		}
	}
	if !math.IsInf(NormalQuantile(0), -1) || !math.IsInf(NormalQuantile(1), 1) || !math.IsNaN(NormalQuantile(1.5)) {
		t.Errorf("edges: got %v %v %v", NormalQuantile(0), NormalQuantile(1), NormalQuantile(1.5))
	}
}

// TestStudentTQuantile checks two-sided 95% and 99% critical values against
// the t table (for example Abramowitz and Stegun table 26.10), printed to
// four decimals, and the closed forms for one and two degrees of freedom.
func TestStudentTQuantile(t *testing.T) {
	tests := []struct {
		p, df, want float64
	}{
		{0.975, 1, 12.7062},
		{0.975, 2, 4.3027},
		{0.975, 5, 2.5706},
		{0.975, 10, 2.2281},
		{0.975, 30, 2.0423},
		{0.975, 120, 1.9799},
		{0.975, math.Inf(1), 1.9600},
		{0.995, 1, 63.6567},
		{0.995, 10, 3.1693},
		{0.95, 20, 1.7247},
		{0.025, 10, -2.2281},
	}
	for _, tc := range tests {
		if got := StudentTQuantile(tc.p, tc.df); !near(got, tc.want, 1e-4) {
			t.Errorf("StudentTQuantile(%v, %v) = %.6f, want %.4f", tc.p, tc.df, got, tc.want)
		}
	}
	for _, p := range []float64{0.001, 0.1, 0.3, 0.6, 0.9, 0.99, 0.9999} {
		// df = 1 is the Cauchy distribution: tan(π(p - 1/2)).
		if got, want := StudentTQuantile(p, 1), math.Tan(math.Pi*(p-0.5)); math.Abs(got/want-1) > 1e-10 {
			t.Errorf("df=1, p=%v: got %.12g, want %.12g", p, got, want)
		}
		// df = 2: (2p - 1) / sqrt(2p(1 - p)).
		if got, want := StudentTQuantile(p, 2), (2*p-1)/math.Sqrt(2*p*(1-p)); math.Abs(got/want-1) > 1e-10 {
			t.Errorf("df=2, p=%v: got %.12g, want %.12g", p, got, want)
		}
	}
	// Fractional df (Welch) and large df meet the normal.
	if got := StudentTQuantile(0.975, 1e6); !near(got, 1.959963984540054, 1e-5) {
		t.Errorf("df=1e6: got %v", got)
	}
	if got := StudentTCDF(StudentTQuantile(0.9, 17.776), 17.776); !near(got, 0.9, 1e-12) {
		t.Errorf("round trip at df 17.776: got %v", got)
	}
}

// TestChiSquareSF checks the chi-square upper tail at the 0.999 quantiles
// of the chi-square table (10.828, 13.816, 16.266 to three decimals; the
// values below carry more digits: the df=1 value is z(0.9995)², the df=2
// value is exactly -2 ln 0.001) and the closed forms for one and two degrees
// of freedom.
func TestChiSquareSF(t *testing.T) {
	tests := []struct {
		x, df, want float64
	}{
		{10.827566170662733, 1, 0.001},
		{13.815510557964274, 2, 0.001},
		{16.26623619623813, 3, 0.001},
		{3.841458820694124, 1, 0.05},
		{11.070497693516351, 5, 0.05},
		{0, 3, 1},
	}
	for _, tc := range tests {
		if got := ChiSquareSF(tc.x, tc.df); !near(got, tc.want, 1e-9) {
			t.Errorf("ChiSquareSF(%v, %v) = %.12g, want %v", tc.x, tc.df, got, tc.want)
		}
	}
	// The table's own three-decimal values bracket 0.001 closely.
	for _, tc := range []struct{ x, df float64 }{{10.828, 1}, {13.816, 2}, {16.266, 3}} {
		if got := ChiSquareSF(tc.x, tc.df); !near(got, 0.001, 1e-6) {
			t.Errorf("ChiSquareSF(%v, %v) = %g, want about 0.001", tc.x, tc.df, got)
		}
	}
	for _, x := range []float64{0.01, 0.5, 1, 2.5, 7, 20, 60} {
		if got, want := ChiSquareSF(x, 1), math.Erfc(math.Sqrt(x/2)); math.Abs(got/want-1) > 1e-10 {
			t.Errorf("df=1, x=%v: got %.12g, want %.12g", x, got, want)
		}
		if got, want := ChiSquareSF(x, 2), math.Exp(-x/2); math.Abs(got/want-1) > 1e-10 {
			t.Errorf("df=2, x=%v: got %.12g, want %.12g", x, got, want)
		}
	}
}
