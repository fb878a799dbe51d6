package proxy

import (
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/runtime"
)

// Bucket upper bounds, in seconds, from the OpenTelemetry GenAI semantic
// conventions (gen_ai.server.request.duration,
// gen_ai.server.time_to_first_token, gen_ai.server.time_per_output_token),
// so that Sluice's histograms line up with other GenAI servers'.
var (
	durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	ttftBuckets     = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0}
	tpotBuckets     = []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5}
)

// Label values for what configuration does not name: a model the
// snapshot does not know (whatever the client sent) and a request that
// reached no provider.
const (
	otherModel = "other"
	noProvider = "none"
)

// Metrics are the data plane's counters and histograms. Labels are
// bounded: endpoints, statuses, and the configured providers and models.
type Metrics struct {
	Requests *metrics.Family // endpoint, status
	Attempts *metrics.Family // provider, status
	Tokens   *metrics.Family // provider, model, class (input, output, cached, reasoning)
	Cost     *metrics.Family // provider, model
	// Unauthenticated counts refusals before authentication, which leave
	// no ledger entry.
	Unauthenticated *metrics.Family // endpoint, reason

	// Duration, TTFT and TPOT are labelled endpoint, provider, model
	// (the configured model the client asked for, or "other").
	Duration *metrics.HistogramFamily
	TTFT     *metrics.HistogramFamily
	TPOT     *metrics.HistogramFamily

	// Guardrails counts verdicts; Cache counts cache lookups by result.
	Guardrails *metrics.Family // guardrail, action, stage
	Cache      *metrics.Family // result: hit, miss, bypass
}

// NewMetrics registers the data plane's metrics in r.
func NewMetrics(r *metrics.Registry) *Metrics {
	return &Metrics{
		Requests: r.Counter("sluice_requests_total", "Client requests by endpoint and outcome.", "endpoint", "status"),
		Attempts: r.Counter("sluice_upstream_attempts_total", "Upstream attempts by provider and outcome.", "provider", "status"),
		Tokens:   r.Counter("sluice_tokens_total", "Tokens billed, by class.", "provider", "model", "class"),
		Cost:     r.Counter("sluice_cost_micros_total", "Cost billed, in micro-dollars.", "provider", "model"),
		Unauthenticated: r.Counter("sluice_unauthenticated_refusals_total",
			"Requests refused before authentication (no ledger entry), by endpoint and reason.", "endpoint", "reason"),
		Duration: r.Histogram("sluice_request_duration_seconds",
			"Client request duration, to the last byte, by endpoint, provider and configured model.", durationBuckets,
			"endpoint", "provider", "model"),
		TTFT: r.Histogram("sluice_time_to_first_token_seconds",
			"Time to the first streamed byte of successful streamed responses.", ttftBuckets, "endpoint", "provider", "model"),
		TPOT: r.Histogram("sluice_time_per_output_token_seconds",
			"Time per output token after the first, for successful streamed responses.", tpotBuckets, "endpoint", "provider", "model"),
		Guardrails: r.Counter("sluice_guardrail_verdicts_total",
			"Guardrail verdicts (a guardrail that matched a request or answer), by guardrail, action and stage.", "guardrail", "action", "stage"),
		Cache: r.Counter("sluice_cache_requests_total", "Requests to cached models, by cache result (hit, miss, bypass).", "result"),
	}
}

// observe counts one finished request from its ledger entry. snap names
// the configured models; a nil snap knows none.
func (m *Metrics) observe(e *ledger.Entry, snap *runtime.Snapshot) {
	m.Requests.With(e.Endpoint, string(e.Status)).Add(1)
	for _, v := range e.Guardrails {
		if m.Guardrails != nil {
			m.Guardrails.With(v.Guardrail, v.Action, v.Stage).Add(1)
		}
	}
	if e.Cache != "" && m.Cache != nil {
		m.Cache.With(e.Cache).Add(1)
	}
	for _, a := range e.Attempts {
		m.Attempts.With(a.Provider, string(a.Status)).Add(1)
	}
	provider := e.Provider
	if provider == "" {
		provider = noProvider
	}
	model := modelLabel(snap, e.Model)
	// Until requests carry a trace id, the exemplar points at the ledger
	// row by its request id.
	exName, exValue := "request_id", e.RequestID
	if e.TraceID != "" {
		exName, exValue = "trace_id", e.TraceID
	}
	m.Duration.With(e.Endpoint, provider, model).ObserveWithExemplarLabel(e.Latency.Seconds(), exName, exValue)
	if e.Stream && e.Status == ledger.StatusOK && e.TTFT > 0 {
		m.TTFT.With(e.Endpoint, provider, model).ObserveWithExemplarLabel(e.TTFT.Seconds(), exName, exValue)
		if e.OutputTokens > 1 && e.Latency > e.TTFT {
			perToken := (e.Latency - e.TTFT) / time.Duration(e.OutputTokens-1)
			m.TPOT.With(e.Endpoint, provider, model).ObserveWithExemplarLabel(perToken.Seconds(), exName, exValue)
		}
	}
	if e.Provider == "" {
		return
	}
	for _, t := range [...]struct {
		class string
		n     int64
	}{{"input", e.InputTokens}, {"output", e.OutputTokens}, {"cached", e.CachedTokens}, {"reasoning", e.ReasoningTokens}} {
		if t.n > 0 {
			m.Tokens.With(e.Provider, e.ServedModel, t.class).Add(t.n)
		}
	}
	if e.CostMicros > 0 {
		m.Cost.With(e.Provider, e.ServedModel).Add(e.CostMicros)
	}
}

// modelLabel is name when the configuration defines that model, and
// "other" otherwise: a client's junk model names never become series.
func modelLabel(snap *runtime.Snapshot, name string) string {
	if snap == nil || snap.Models[name] == nil {
		return otherModel
	}
	return name
}
