package stats

import "math"

// Wilson returns the Wilson score interval for a binomial proportion,
// successes out of n, at two-sided confidence conf (0.95 for 95%), without
// continuity correction (method 3 of Newcombe 1998, "Two-sided confidence
// intervals for the single proportion"):
//
//	(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)
//
// The interval always lies in [0, 1]; it is (0, 1) when n <= 0 (no
// information). Successes are clamped to [0, n]. Both bounds are NaN when
// conf is not strictly between 0 and 1.
func Wilson(successes, n int, conf float64) (lo, hi float64) {
	z := twoSidedZ(conf)
	if math.IsNaN(z) {
		return math.NaN(), math.NaN()
	}
	if n <= 0 {
		return 0, 1
	}
	s := min(max(successes, 0), n)
	nf := float64(n)
	p := float64(s) / nf
	z2 := z * z
	denom := 1 + z2/nf
	centre := (p + z2/(2*nf)) / denom
	half := z / denom * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	lo, hi = centre-half, centre+half
	// At p = 0 and p = 1 the bound is exactly 0 or 1; rounding may miss it.
	if s == 0 {
		lo = 0
	}
	if s == n {
		hi = 1
	}
	return max(lo, 0), min(hi, 1)
}

// NewcombeDiff returns the difference of two independent proportions,
// diff = s1/n1 - s2/n2, and its interval by Newcombe's hybrid score method
// (method 10 of Newcombe 1998, "Interval estimation for the difference
// between independent proportions"): with Wilson intervals (l1, u1) and
// (l2, u2) for each proportion,
//
//	lo = diff - sqrt((p1-l1)² + (u2-p2)²)
//	hi = diff + sqrt((u1-p1)² + (p2-l2)²)
//
// When either n is zero the difference is undefined: it returns 0 with the
// interval (-1, 1). Successes are clamped to [0, n].
func NewcombeDiff(s1, n1, s2, n2 int, conf float64) (diff, lo, hi float64) {
	l1, u1 := Wilson(s1, n1, conf)
	l2, u2 := Wilson(s2, n2, conf)
	if math.IsNaN(l1) {
		return math.NaN(), math.NaN(), math.NaN()
	}
	if n1 <= 0 || n2 <= 0 {
		return 0, -1, 1
	}
	p1 := float64(min(max(s1, 0), n1)) / float64(n1)
	p2 := float64(min(max(s2, 0), n2)) / float64(n2)
	diff = p1 - p2
	lo = diff - math.Hypot(p1-l1, u2-p2)
	hi = diff + math.Hypot(u1-p1, p2-l2)
	return diff, max(lo, -1), min(hi, 1)
}
