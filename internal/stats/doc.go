// Package stats holds the statistics behind Sluice's experiments: sticky
// assignment of units to arms, and the intervals and checks that compare
// arms. It is a pure library: no I/O, no clocks, no goroutines, the standard
// library only.
//
// # Assignment
//
// Assign hashes the experiment id and the unit (user, key or header value)
// with SHA-256 and maps the first 64 bits onto the cumulative weights with
// Lemire's multiply-shift reduction, (h·total) >> 64. The same unit always
// lands in the same arm; a new experiment id reshuffles units independently.
// Each unit is an independent draw, so at n units an arm with share w shows
// a share within about 2·sqrt(w(1-w)/n) of w (one percentage point at 10,000
// units and 50/50) in 95% of experiments, not in all of them.
//
// # Rates
//
// Wilson gives the score interval for one proportion (Wilson 1927; method 3
// of Newcombe, "Two-sided confidence intervals for the single proportion",
// Statistics in Medicine 1998;17:857-872). It stays inside [0, 1] and keeps
// its coverage near 0 and 1, where the Wald interval collapses.
// NewcombeDiff gives the difference of two independent proportions with
// Newcombe's hybrid score interval, method 10 of "Interval estimation for
// the difference between independent proportions", Statistics in Medicine
// 1998;17:873-890, which combines the two Wilson intervals by square and add.
// The tests carry that paper's Table II.
//
// # Means
//
// Moments accumulates count, mean and variance in one pass (Welford 1962;
// Chan, Golub and LeVeque for Merge). MeanCI is the Student's t interval for
// one mean. WelchT compares two means without assuming equal variances:
// Welch's t with Welch–Satterthwaite degrees of freedom, which are
// fractional. The tests carry R's t.test output for Student's sleep data.
//
// # Sample-ratio mismatch
//
// SRM runs Pearson's chi-square goodness-of-fit test of the counts per arm
// against the weights and flags p < 0.001 (SRMAlpha). A mismatch means the
// arms no longer hold comparable populations (assignment, logging or
// exclusion is broken), so their comparison should not be trusted.
//
// # Distributions
//
// NormalQuantile is Acklam's rational approximation refined by one Halley
// step. StudentTCDF uses the regularized incomplete beta function and
// ChiSquareSF the regularized incomplete gamma function, both evaluated by
// series and continued fractions as in Numerical Recipes (Press et al., 2nd
// ed., sections 6.2 and 6.4); StudentTQuantile inverts the CDF by
// bisection. Accuracy is about 1e-12 in the tested ranges, far beyond the
// four decimals that results are reported to.
//
// # Results
//
// Builder folds ledger rows into a Result: per arm the count, the metric's
// estimate with its interval, cost, median latency (a bounded log-bucket
// sketch, within 1%) and error rate; each arm's difference from the control
// arm; and the SRM check. Rows served by a fallback target are counted but
// left out of the comparison, since they measure the fallback, not the arm;
// the SRM check runs on the compared rows, so an arm that loses more rows to
// fallback than the others is flagged. A Result holds no NaN or infinity:
// undefined intervals are nil.
package stats
