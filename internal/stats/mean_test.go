package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Student's sleep data (R's datasets::sleep): extra hours of sleep under
// two drugs, ten patients each.
var (
	sleep1 = []float64{0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0}
	sleep2 = []float64{1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4}
)

func moments(xs []float64) Moments {
	var m Moments
	for _, x := range xs {
		m.Add(x)
	}
	return m
}

// TestWelchT checks the sleep data against R's
// t.test(extra ~ group, data = sleep) (Welch is R's default): t = -1.8608,
// df = 17.776 (17.77647), p-value = 0.07939, 95 percent confidence interval
// -3.3654832 0.2054832. With a pooled variance the interval would be
// (-3.3639, 0.2039) on 18 df, outside the tolerance.
func TestWelchT(t *testing.T) {
	a, b := moments(sleep1), moments(sleep2)
	diff, lo, hi, df, p := WelchT(a.Mean(), a.Var(), a.N(), b.Mean(), b.Var(), b.N(), 0.95)
	checks := []struct {
		name      string
		got, want float64
		tol       float64
	}{
		{"diff", diff, -1.58, 1e-12},
		{"lo", lo, -3.3654832, 1e-6},
		{"hi", hi, 0.2054832, 1e-6},
		{"df", df, 17.77647, 1e-5},
		{"p", p, 0.07939, 1e-5},
	}
	for _, c := range checks {
		if !near(c.got, c.want, c.tol) {
			t.Errorf("%s = %.7f, want %.7f", c.name, c.got, c.want)
		}
	}

	edges := []struct {
		name          string
		m1, v1        float64
		n1            int
		m2, v2        float64
		n2            int
		lo, hi, df, p float64
		nanInterval   bool
	}{
		{name: "no spread, equal", m1: 2, n1: 5, m2: 2, n2: 5, lo: 0, hi: 0, df: 8, p: 1},
		{name: "no spread, apart", m1: 3, n1: 5, m2: 2, n2: 5, lo: 1, hi: 1, df: 8, p: 0},
		{name: "one value", m1: 3, v1: 1, n1: 1, m2: 2, v2: 1, n2: 5, nanInterval: true},
	}
	for _, tc := range edges {
		t.Run(tc.name, func(t *testing.T) {
			_, lo, hi, df, p := WelchT(tc.m1, tc.v1, tc.n1, tc.m2, tc.v2, tc.n2, 0.95)
			if tc.nanInterval {
				if !math.IsNaN(lo) || !math.IsNaN(hi) || !math.IsNaN(p) {
					t.Errorf("got (%v, %v) p=%v, want NaN", lo, hi, p)
				}
				return
			}
			if lo != tc.lo || hi != tc.hi || df != tc.df || p != tc.p {
				t.Errorf("got (%v, %v) df=%v p=%v, want (%v, %v) df=%v p=%v", lo, hi, df, p, tc.lo, tc.hi, tc.df, tc.p)
			}
		})
	}
}

// TestMeanCI checks one-sample t intervals: R's t.test(1:5) gives
// 1.036757 4.963243, and t.test(sleep$extra[1:10]) gives
// -0.5297804 2.0297804.
func TestMeanCI(t *testing.T) {
	tests := []struct {
		name   string
		xs     []float64
		lo, hi float64
	}{
		{"1 to 5", []float64{1, 2, 3, 4, 5}, 1.036757, 4.963243},
		{"sleep group 1", sleep1, -0.5297804, 2.0297804},
	}
	for _, tc := range tests {
		m := moments(tc.xs)
		lo, hi := MeanCI(m.Mean(), m.Var(), m.N(), 0.95)
		if !near(lo, tc.lo, 1e-6) || !near(hi, tc.hi, 1e-6) {
			t.Errorf("%s: got (%.7f, %.7f), want (%.7f, %.7f)", tc.name, lo, hi, tc.lo, tc.hi)
		}
	}
	if lo, hi := MeanCI(3, 1, 1, 0.95); !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("n=1: got (%v, %v), want NaN", lo, hi)
	}
}

// TestMoments compares Welford's running values with the two-pass formula,
// on data offset far from zero where the one-pass sum of squares cancels,
// and checks that Merge equals adding everything to one accumulator.
func TestMoments(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, 10000)
	for i := range xs {
		xs[i] = 1e9 + r.NormFloat64()*3
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(len(xs))
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	want := ss / float64(len(xs)-1)

	m := moments(xs)
	if m.N() != len(xs) || math.Abs(m.Mean()/mean-1) > 1e-14 || math.Abs(m.Var()/want-1) > 1e-6 {
		t.Errorf("got n=%d mean=%v var=%v, want n=%d mean=%v var=%v", m.N(), m.Mean(), m.Var(), len(xs), mean, want)
	}

	left, right := moments(xs[:3000]), moments(xs[3000:])
	left.Merge(right)
	if left.N() != m.N() || math.Abs(left.Mean()/m.Mean()-1) > 1e-14 || math.Abs(left.Var()/m.Var()-1) > 1e-7 {
		t.Errorf("merged n=%d mean=%v var=%v, want %d %v %v", left.N(), left.Mean(), left.Var(), m.N(), m.Mean(), m.Var())
	}
	var empty Moments
	empty.Merge(right)
	if empty != right {
		t.Errorf("merge into empty: got %+v, want %+v", empty, right)
	}

	var small Moments
	small.Add(4)
	small.Add(math.NaN())
	small.Add(math.Inf(1))
	if small.N() != 1 || small.Mean() != 4 || small.Var() != 0 {
		t.Errorf("one value and two bad ones: got n=%d mean=%v var=%v", small.N(), small.Mean(), small.Var())
	}
}
