package stats

import "math"

// Moments accumulates the count, mean and variance of a stream of values
// with Welford's algorithm, which stays accurate where the textbook
// sum-of-squares formula cancels. The zero value is empty and ready to use.
// A Moments is not safe for concurrent use.
type Moments struct {
	n    int
	mean float64
	m2   float64 // sum of squared deviations from the running mean
}

// Add records one value. NaN and infinite values are ignored, so that one
// bad ledger row cannot poison a whole arm.
func (m *Moments) Add(x float64) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return
	}
	m.n++
	delta := x - m.mean
	m.mean += delta / float64(m.n)
	m.m2 += delta * (x - m.mean)
}

// Merge adds the values recorded in o, as if each had been passed to Add
// (Chan, Golub and LeVeque's pairwise update).
func (m *Moments) Merge(o Moments) {
	if o.n == 0 {
		return
	}
	if m.n == 0 {
		*m = o
		return
	}
	n := m.n + o.n
	delta := o.mean - m.mean
	m.mean += delta * float64(o.n) / float64(n)
	m.m2 += o.m2 + delta*delta*float64(m.n)*float64(o.n)/float64(n)
	m.n = n
}

// N returns the number of values recorded.
func (m *Moments) N() int { return m.n }

// Mean returns the arithmetic mean, 0 when empty.
func (m *Moments) Mean() float64 { return m.mean }

// Var returns the sample variance (divisor n-1), 0 with fewer than two
// values.
func (m *Moments) Var() float64 {
	if m.n < 2 {
		return 0
	}
	return m.m2 / float64(m.n-1)
}

// MeanCI returns the Student's t interval for a mean from n values with
// sample mean and sample variance variance: mean ± t(1-α/2, n-1)·sqrt(var/n).
// Both bounds are NaN when n < 2, variance is negative or conf is not
// strictly between 0 and 1.
func MeanCI(mean, variance float64, n int, conf float64) (lo, hi float64) {
	if n < 2 || variance < 0 || !(conf > 0 && conf < 1) {
		return math.NaN(), math.NaN()
	}
	q := StudentTQuantile(1-(1-conf)/2, float64(n-1))
	half := q * math.Sqrt(variance/float64(n))
	return mean - half, mean + half
}

// WelchT compares two means without assuming equal variances (Welch's
// unequal-variances t test). It returns diff = mean1 - mean2, its interval at
// two-sided confidence conf, the Welch–Satterthwaite degrees of freedom
//
//	df = (v1/n1 + v2/n2)² / ((v1/n1)²/(n1-1) + (v2/n2)²/(n2-1))
//
// and the two-sided p-value for diff = 0. Variances are sample variances
// (divisor n-1). When both variances are zero the interval collapses to
// diff, df is n1+n2-2 and p is 1 if the means are equal, else 0. Everything
// but diff is NaN when n1 or n2 is below 2, a variance is negative, or conf
// is not strictly between 0 and 1.
func WelchT(mean1, var1 float64, n1 int, mean2, var2 float64, n2 int, conf float64) (diff, lo, hi, df, p float64) {
	diff = mean1 - mean2
	nan := math.NaN()
	if n1 < 2 || n2 < 2 || var1 < 0 || var2 < 0 || !(conf > 0 && conf < 1) {
		return diff, nan, nan, nan, nan
	}
	a := var1 / float64(n1)
	b := var2 / float64(n2)
	se2 := a + b
	if se2 == 0 {
		p = 0
		if diff == 0 {
			p = 1
		}
		return diff, diff, diff, float64(n1 + n2 - 2), p
	}
	df = se2 * se2 / (a*a/float64(n1-1) + b*b/float64(n2-1))
	se := math.Sqrt(se2)
	q := StudentTQuantile(1-(1-conf)/2, df)
	t := diff / se
	p = min(2*studentTSF(math.Abs(t), df), 1)
	return diff, diff - q*se, diff + q*se, df, p
}
