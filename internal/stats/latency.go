package stats

import "math"

// Bounds of the latency sketch: values are clamped to [sketchMin, sketchMax]
// milliseconds (one microsecond to about eleven days), so the sketch never
// holds more than about 1,400 buckets whatever it is fed.
const (
	sketchAlpha = 0.01 // relative accuracy of a quantile
	sketchMin   = 1e-3
	sketchMax   = 1e9
)

var (
	sketchLogGamma = math.Log((1 + sketchAlpha) / (1 - sketchAlpha))
	sketchOffset   = int(math.Ceil(math.Log(sketchMin) / sketchLogGamma))
)

// latencySketch estimates quantiles of positive values within a relative
// error of sketchAlpha in bounded memory: a value x falls in bucket
// ceil(log_γ x) with γ = (1+α)/(1-α), and a bucket reports the point of its
// range whose relative distance to either end is α (the DDSketch scheme of
// Masson, Rim and Lee, VLDB 2019). Zero and negative values count as zero.
type latencySketch struct {
	zeros   int
	buckets []int // buckets[i] counts values with index i+sketchOffset
	n       int
}

func (s *latencySketch) add(x float64) {
	if math.IsNaN(x) {
		return
	}
	s.n++
	if x <= 0 {
		s.zeros++
		return
	}
	x = min(max(x, sketchMin), sketchMax)
	i := int(math.Ceil(math.Log(x)/sketchLogGamma)) - sketchOffset
	if i >= len(s.buckets) {
		s.buckets = append(s.buckets, make([]int, i+1-len(s.buckets))...)
	}
	s.buckets[i]++
}

// quantile returns the value at rank ceil(q·n) (the lower median for
// q = 0.5), 0 when empty.
func (s *latencySketch) quantile(q float64) float64 {
	if s.n == 0 {
		return 0
	}
	rank := max(int(math.Ceil(q*float64(s.n))), 1)
	seen := s.zeros
	if seen >= rank {
		return 0
	}
	for i, c := range s.buckets {
		seen += c
		if seen >= rank {
			gamma := math.Exp(sketchLogGamma)
			return 2 * math.Exp(float64(i+sketchOffset)*sketchLogGamma) / (gamma + 1)
		}
	}
	return sketchMax // unreachable: the buckets hold n - zeros values
}
