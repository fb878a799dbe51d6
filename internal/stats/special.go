package stats

import "math"

// Iteration limits for the series and continued fractions below. The
// continued fractions converge in O(sqrt(max(a, b))) steps; the limits cover
// degrees of freedom far beyond the point (1e7) where StudentTCDF switches to
// the normal distribution.
const (
	maxIter = 100000
	epsilon = 1e-15
	tiny    = 1e-300
)

// regIncBeta returns the regularized incomplete beta function I_x(a, b) for
// a, b > 0 and 0 <= x <= 1, evaluated with the continued fraction of
// Numerical Recipes (2nd ed., section 6.4) by the modified Lentz method, and
// the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges
// slowly.
func regIncBeta(a, b, x float64) float64 {
	switch {
	case math.IsNaN(x) || math.IsNaN(a) || math.IsNaN(b) || a <= 0 || b <= 0:
		return math.NaN()
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(lab - la - lb + a*math.Log(x) + b*math.Log1p(-x))
	if x < (a+1)/(a+b+2) {
		return front * betaCF(a, b, x) / a
	}
	return 1 - front*betaCF(b, a, 1-x)/b
}

// betaCF evaluates the continued fraction for the incomplete beta function.
func betaCF(a, b, x float64) float64 {
	qab, qap, qam := a+b, a+1, a-1
	c := 1.0
	d := 1 - qab*x/qap
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= maxIter; m++ {
		fm := float64(m)
		m2 := 2 * fm
		// Even step.
		aa := fm * (b - fm) * x / ((qam + m2) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		// Odd step.
		aa = -(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < epsilon {
			break
		}
	}
	return h
}

// regIncGammaQ returns the upper regularized incomplete gamma function
// Q(a, x) = Γ(a, x)/Γ(a) for a > 0 and x >= 0: the series for P(a, x) when
// x < a+1, otherwise the continued fraction for Q(a, x) (Numerical Recipes,
// 2nd ed., section 6.2, with the modified Lentz method).
func regIncGammaQ(a, x float64) float64 {
	switch {
	case math.IsNaN(a) || math.IsNaN(x) || a <= 0:
		return math.NaN()
	case x <= 0:
		return 1
	case math.IsInf(x, 1):
		return 0
	}
	lga, _ := math.Lgamma(a)
	if x < a+1 {
		// Series: P(a, x) = e^-x x^a / Γ(a+1) * Σ x^n / ((a+1)...(a+n)).
		ap, sum := a, 1/a
		del := sum
		for n := 0; n < maxIter; n++ {
			ap++
			del *= x / ap
			sum += del
			if math.Abs(del) < math.Abs(sum)*epsilon {
				break
			}
		}
		return 1 - sum*math.Exp(-x+a*math.Log(x)-lga)
	}
	// Continued fraction for Q(a, x).
	b := x + 1 - a
	c := 1 / tiny
	d := 1 / b
	h := d
	for i := 1; i <= maxIter; i++ {
		fi := float64(i)
		an := -fi * (fi - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < epsilon {
			break
		}
	}
	return math.Exp(-x+a*math.Log(x)-lga) * h
}

// normalDF is the number of degrees of freedom above which Student's t is
// replaced by the normal distribution; the quantiles then differ by about
// (z^3+z)/(4 df), below 1e-6 at any confidence used here.
const normalDF = 1e7

// StudentTCDF returns P(T <= t) for Student's t distribution with df > 0
// degrees of freedom (df may be fractional, as Welch's test produces, or
// +Inf). It uses P(|T| > |t|) = I_{df/(df+t^2)}(df/2, 1/2).
func StudentTCDF(t, df float64) float64 {
	switch {
	case math.IsNaN(t) || math.IsNaN(df) || df <= 0:
		return math.NaN()
	case df > normalDF:
		return NormalCDF(t)
	case math.IsInf(t, 1):
		return 1
	case math.IsInf(t, -1):
		return 0
	}
	tail := 0.5 * regIncBeta(df/2, 0.5, df/(df+t*t))
	if t > 0 {
		return 1 - tail
	}
	return tail
}

// studentTSF returns P(T > t), computed without the cancellation of
// 1 - StudentTCDF(t) for large t.
func studentTSF(t, df float64) float64 {
	return StudentTCDF(-t, df)
}

// StudentTQuantile returns t such that StudentTCDF(t, df) = p, found by
// bracketing and bisection on the CDF (to a relative width of 1e-13), so it
// inherits the CDF's accuracy. It returns ∓Inf at p = 0 and 1 and NaN for p
// outside [0, 1] or df <= 0.
func StudentTQuantile(p, df float64) float64 {
	switch {
	case math.IsNaN(p) || math.IsNaN(df) || p < 0 || p > 1 || df <= 0:
		return math.NaN()
	case p == 0:
		return math.Inf(-1)
	case p == 1:
		return math.Inf(1)
	case p == 0.5:
		return 0
	case df > normalDF:
		return NormalQuantile(p)
	case p < 0.5:
		return -StudentTQuantile(1-p, df)
	}
	// p > 0.5: the quantile is positive and at least the normal one.
	lo := 0.0
	hi := math.Max(1, NormalQuantile(p))
	for StudentTCDF(hi, df) < p {
		lo = hi
		hi *= 2
		if math.IsInf(hi, 1) {
			return hi
		}
	}
	for i := 0; i < 400 && hi-lo > 1e-13*hi; i++ {
		mid := lo + (hi-lo)/2
		if StudentTCDF(mid, df) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + (hi-lo)/2
}

// ChiSquareSF returns the survival function P(X > x) of the chi-square
// distribution with df > 0 degrees of freedom, Q(df/2, x/2).
func ChiSquareSF(x, df float64) float64 {
	if math.IsNaN(x) || math.IsNaN(df) || df <= 0 {
		return math.NaN()
	}
	return regIncGammaQ(df/2, x/2)
}
