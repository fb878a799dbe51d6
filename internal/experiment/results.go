package experiment

import (
	"github.com/sluicehq/sluice/internal/stats"
)

// Row is one ledger row of an experiment, with its feedback on the
// experiment's metric (HasValue false when it got none).
type Row struct {
	Arm           string
	Provider      string // the provider and model that served it
	ServedModel   string
	PromptVersion int
	Failed        bool
	CostMicros    int64
	LatencyMS     float64
	Value         float64
	HasValue      bool
}

// Report is an experiment's results: the statistics of the compared rows,
// and the counts behind them.
type Report struct {
	Experiment string `json:"experiment"`
	MetricName string `json:"metric_name"`
	stats.Result
	// Rows counts every ledger row of the experiment; WithoutValue those
	// left out of the comparison for want of feedback on the metric.
	Rows         int `json:"rows"`
	WithoutValue int `json:"rows_without_feedback"`
}

// Results compares e's arms over rows. metricType is the feedback
// metric's type (boolean: a rate; float: a mean), "" for a built-in
// metric. A row served by another target than its arm's (a fallback) is
// counted but not compared; the sample-ratio check runs on every row
// that its own arm served, feedback or not, so that feedback given more
// often on one arm does not pass for a broken split.
func Results(e *Experiment, metricType string, rows []Row) (Report, error) {
	kind := stats.MetricMean
	if e.Metric == MetricSuccess || metricType == "boolean" {
		kind = stats.MetricRate
	}
	arms := make([]string, len(e.Arms))
	for i, a := range e.Arms {
		arms[i] = a.Name
	}
	b, err := stats.NewBuilder(stats.Config{Arms: arms, Weights: e.Weights(), Control: max(0, e.ArmIndex(e.Control)), Metric: kind})
	if err != nil {
		return Report{}, err
	}
	rep := Report{Experiment: e.ID, MetricName: e.Metric, Rows: len(rows)}
	served := make([]int, len(e.Arms))
	for _, r := range rows {
		i := e.ArmIndex(r.Arm)
		o := stats.Observation{Arm: i, Error: r.Failed, Cost: float64(r.CostMicros), LatencyMS: r.LatencyMS}
		if i >= 0 {
			a := e.Arms[i]
			o.Fallback = e.Model != "" && (r.Provider != a.Provider || r.ServedModel != a.Model)
			if !o.Fallback {
				served[i]++
			}
		}
		switch e.Metric {
		case MetricSuccess:
			o.Success = !r.Failed
		case MetricLatency:
			o.Value = r.LatencyMS
		case MetricCost:
			o.Value = float64(r.CostMicros)
		default:
			if !r.HasValue {
				rep.WithoutValue++
				continue
			}
			o.Success, o.Value = r.Value == 1, r.Value
		}
		b.Add(o)
	}
	rep.Result = b.Result()
	chi2, p, mismatch := stats.SRM(served, e.Weights())
	rep.SRM = stats.SRMResult{Chi2: chi2, P: p, Alpha: stats.SRMAlpha, Mismatch: mismatch}
	return rep, nil
}
