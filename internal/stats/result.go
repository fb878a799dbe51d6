package stats

import (
	"errors"
	"fmt"
	"math"
)

// MetricKind says how an experiment's metric is summarized.
type MetricKind string

const (
	// MetricRate is a proportion of rows with Observation.Success, with
	// Wilson intervals per arm and Newcombe intervals for differences.
	MetricRate MetricKind = "rate"
	// MetricMean is the mean of Observation.Value, with Student's t
	// intervals per arm and Welch intervals for differences.
	MetricMean MetricKind = "mean"
)

// DefaultConfidence is the confidence of intervals when Config leaves it 0.
const DefaultConfidence = 0.95

// Config describes one experiment for a Builder.
type Config struct {
	// Arms names the arms, at least two, in the order Assign indexes them.
	Arms []string
	// Weights is the split Assign was given, one per arm; SRM tests the
	// observed counts against it.
	Weights []uint32
	// Control is the index of the arm the others are compared with.
	Control int
	// Metric is MetricRate or MetricMean.
	Metric MetricKind
	// Confidence is the two-sided confidence of every interval, strictly
	// between 0 and 1; 0 means DefaultConfidence.
	Confidence float64
}

// Observation is one ledger row of an experiment.
type Observation struct {
	Arm      int  // index into Config.Arms; other values count as Unassigned
	Fallback bool // served by a fallback target: counted, not compared
	Error    bool // the request failed
	Success  bool // the rate metric's event happened (MetricRate)
	// Value is the mean metric's measurement (MetricMean); rows with Error
	// set or a NaN or infinite Value do not contribute to it.
	Value     float64
	Cost      float64 // in the ledger's currency unit
	LatencyMS float64
}

// Interval is a two-sided confidence interval.
type Interval struct {
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
}

// ArmResult summarizes one arm over the rows in the comparison.
type ArmResult struct {
	Arm    string `json:"arm"`
	Weight uint32 `json:"weight"`
	// N counts the rows in the comparison; Excluded the fallback rows left
	// out of it.
	N        int `json:"n"`
	Excluded int `json:"excluded_fallback"`
	// ValueN counts the rows with a value (MetricMean); it is N for rates.
	ValueN int `json:"value_n"`
	// Estimate is the rate or the mean; CI is nil where it is undefined
	// (no rows for a rate, fewer than two values for a mean).
	Estimate   float64   `json:"estimate"`
	CI         *Interval `json:"ci,omitempty"`
	CostTotal  float64   `json:"cost_total"`
	CostMean   float64   `json:"cost_mean"`
	LatencyP50 float64   `json:"latency_p50_ms"` // within 1% (relative)
	ErrorRate  float64   `json:"error_rate"`
}

// Difference compares one arm with the control: Estimate is the arm's rate
// or mean minus the control's. For means, DF and P are Welch's degrees of
// freedom and two-sided p-value; they are absent for rates.
type Difference struct {
	Arm      string    `json:"arm"`
	Control  string    `json:"control"`
	Estimate float64   `json:"estimate"`
	CI       *Interval `json:"ci,omitempty"`
	DF       *float64  `json:"df,omitempty"`
	P        *float64  `json:"p,omitempty"`
}

// SRMResult is the sample-ratio-mismatch check on the compared rows.
type SRMResult struct {
	Chi2     float64 `json:"chi2"`
	P        float64 `json:"p"`
	Alpha    float64 `json:"alpha"`
	Mismatch bool    `json:"mismatch"`
}

// Result is an experiment's comparison, ready to serialize: it holds no NaN
// or infinity, which encoding/json refuses.
type Result struct {
	Metric      MetricKind   `json:"metric"`
	Confidence  float64      `json:"confidence"`
	Control     string       `json:"control"`
	Arms        []ArmResult  `json:"arms"`
	Differences []Difference `json:"differences"`
	SRM         SRMResult    `json:"srm"`
	// Unassigned counts rows whose Arm is outside Config.Arms.
	Unassigned int `json:"unassigned"`
}

type armAcc struct {
	n, excluded, successes, errors int
	value                          Moments
	cost                           float64
	latency                        latencySketch
}

// Builder folds observations into a Result. It is not safe for concurrent
// use; memory stays bounded whatever the number of rows.
type Builder struct {
	cfg        Config
	arms       []armAcc
	unassigned int
}

// NewBuilder checks cfg and returns an empty Builder for it.
func NewBuilder(cfg Config) (*Builder, error) {
	var errs []error
	if len(cfg.Arms) < 2 {
		errs = append(errs, fmt.Errorf("arms: need at least 2, have %d", len(cfg.Arms)))
	}
	seen := make(map[string]bool, len(cfg.Arms))
	for i, a := range cfg.Arms {
		if a == "" {
			errs = append(errs, fmt.Errorf("arms[%d]: empty name", i))
		} else if seen[a] {
			errs = append(errs, fmt.Errorf("arms[%d]: duplicate name %q", i, a))
		}
		seen[a] = true
	}
	if len(cfg.Weights) != len(cfg.Arms) {
		errs = append(errs, fmt.Errorf("weights: have %d for %d arms", len(cfg.Weights), len(cfg.Arms)))
	}
	if cfg.Control < 0 || cfg.Control >= len(cfg.Arms) {
		errs = append(errs, fmt.Errorf("control: %d is not an arm", cfg.Control))
	}
	if cfg.Metric != MetricRate && cfg.Metric != MetricMean {
		errs = append(errs, fmt.Errorf("metric: %q is neither %q nor %q", cfg.Metric, MetricRate, MetricMean))
	}
	if cfg.Confidence == 0 {
		cfg.Confidence = DefaultConfidence
	}
	if !(cfg.Confidence > 0 && cfg.Confidence < 1) {
		errs = append(errs, fmt.Errorf("confidence: %v is not between 0 and 1", cfg.Confidence))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("stats: experiment config: %w", err)
	}
	return &Builder{cfg: cfg, arms: make([]armAcc, len(cfg.Arms))}, nil
}

// Add records one observation.
func (b *Builder) Add(o Observation) {
	if o.Arm < 0 || o.Arm >= len(b.arms) {
		b.unassigned++
		return
	}
	a := &b.arms[o.Arm]
	if o.Fallback {
		a.excluded++
		return
	}
	a.n++
	if o.Error {
		a.errors++
	}
	if o.Success {
		a.successes++
	}
	if !o.Error {
		a.value.Add(o.Value)
	}
	if !math.IsNaN(o.Cost) && !math.IsInf(o.Cost, 0) {
		a.cost += o.Cost
	}
	a.latency.add(o.LatencyMS)
}

// Result computes the comparison from the observations added so far.
func (b *Builder) Result() Result {
	cfg := b.cfg
	r := Result{
		Metric:     cfg.Metric,
		Confidence: cfg.Confidence,
		Control:    cfg.Arms[cfg.Control],
		Arms:       make([]ArmResult, len(b.arms)),
		Unassigned: b.unassigned,
	}
	counts := make([]int, len(b.arms))
	for i := range b.arms {
		a := &b.arms[i]
		counts[i] = a.n
		ar := ArmResult{
			Arm:        cfg.Arms[i],
			Weight:     cfg.Weights[i],
			N:          a.n,
			Excluded:   a.excluded,
			CostTotal:  a.cost,
			LatencyP50: a.latency.quantile(0.5),
		}
		if a.n > 0 {
			ar.CostMean = a.cost / float64(a.n)
			ar.ErrorRate = float64(a.errors) / float64(a.n)
		}
		switch cfg.Metric {
		case MetricRate:
			ar.ValueN = a.n
			if a.n > 0 {
				ar.Estimate = float64(a.successes) / float64(a.n)
				lo, hi := Wilson(a.successes, a.n, cfg.Confidence)
				ar.CI = interval(lo, hi)
			}
		case MetricMean:
			ar.ValueN = a.value.N()
			ar.Estimate = a.value.Mean()
			ar.CI = interval(MeanCI(a.value.Mean(), a.value.Var(), a.value.N(), cfg.Confidence))
		}
		r.Arms[i] = ar
	}
	c := &b.arms[cfg.Control]
	for i := range b.arms {
		if i == cfg.Control {
			continue
		}
		a := &b.arms[i]
		d := Difference{Arm: cfg.Arms[i], Control: r.Control}
		switch cfg.Metric {
		case MetricRate:
			d.Estimate = r.Arms[i].Estimate - r.Arms[cfg.Control].Estimate
			if a.n > 0 && c.n > 0 {
				var lo, hi float64
				d.Estimate, lo, hi = NewcombeDiff(a.successes, a.n, c.successes, c.n, cfg.Confidence)
				d.CI = interval(lo, hi)
			}
		case MetricMean:
			diff, lo, hi, df, p := WelchT(a.value.Mean(), a.value.Var(), a.value.N(),
				c.value.Mean(), c.value.Var(), c.value.N(), cfg.Confidence)
			d.Estimate = diff
			d.CI = interval(lo, hi)
			d.DF, d.P = finite(df), finite(p)
		}
		r.Differences = append(r.Differences, d)
	}
	chi2, p, mismatch := SRM(counts, cfg.Weights)
	r.SRM = SRMResult{Chi2: chi2, P: p, Alpha: SRMAlpha, Mismatch: mismatch}
	return r
}

// interval returns nil unless both bounds are finite.
func interval(lo, hi float64) *Interval {
	if finite(lo) == nil || finite(hi) == nil {
		return nil
	}
	return &Interval{Lo: lo, Hi: hi}
}

func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}
