package stats

import "math"

// SRMAlpha is the p-value below which SRM reports a sample-ratio mismatch.
// It is strict on purpose: the check runs on every look at an experiment,
// and a true mismatch at scale gives p-values far below it.
const SRMAlpha = 0.001

// SRM tests whether the observed counts per arm fit the split the weights
// promise, with Pearson's chi-square goodness-of-fit test on k-1 degrees of
// freedom (k arms with positive weight). It returns the statistic, its
// p-value and whether p < SRMAlpha.
//
// An arm beyond the end of weights has weight zero, and one beyond the end
// of observed has count zero. Any unit counted in a zero-weight arm is a
// mismatch by itself: SRM then reports p = 0 and mismatch = true, with chi2
// computed over the positive-weight arms. With no units, or fewer than two
// positive-weight arms, there is nothing to test: chi2 = 0, p = 1.
func SRM(observed []int, weights []uint32) (chi2, p float64, mismatch bool) {
	var total uint64
	arms := 0
	for _, w := range weights {
		total += uint64(w)
		if w > 0 {
			arms++
		}
	}
	units, stray := 0, false
	for i, o := range observed {
		if o < 0 {
			o = 0
		}
		if i >= len(weights) || weights[i] == 0 {
			stray = stray || o > 0
			continue
		}
		units += o
	}
	for i, w := range weights {
		if w == 0 {
			continue
		}
		o := 0
		if i < len(observed) {
			o = max(observed[i], 0)
		}
		e := float64(units) * float64(w) / float64(total)
		if e > 0 {
			d := float64(o) - e
			chi2 += d * d / e
		}
	}
	if stray {
		return chi2, 0, true
	}
	if units == 0 || arms < 2 {
		return 0, 1, false
	}
	p = ChiSquareSF(chi2, float64(arms-1))
	if math.IsNaN(p) {
		return chi2, 1, false
	}
	return chi2, p, p < SRMAlpha
}
