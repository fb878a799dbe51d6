// Package metrics keeps Sluice's counters, gauges and histograms on
// github.com/prometheus/client_golang and serves them in the Prometheus
// text or OpenMetrics format. Labels are bounded by configuration
// (endpoints, statuses, providers, models): never a key, a user or a
// request id. A request id may ride along only as a histogram exemplar,
// which is one sample per bucket, not a series.
package metrics

import (
	"errors"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// maxLabelValue bounds one label value, in bytes: a bug that passes a
// body where a model name belongs costs a short string, not a scrape.
const maxLabelValue = 128

// Registry holds Sluice's metrics and the Go runtime and process
// collectors.
type Registry struct {
	reg *prometheus.Registry

	mu       sync.Mutex          // guards declared
	declared map[string][]string // family name -> the sample names PromQL sees
}

// NewRegistry returns a registry with the Go runtime and process
// collectors already in it.
func NewRegistry() *Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Registry{reg: r, declared: map[string][]string{}}
}

func (r *Registry) declare(name string, samples ...string) {
	r.mu.Lock()
	r.declared[name] = samples
	r.mu.Unlock()
}

// Names lists, sorted, every metric name a query can select from this
// registry: a histogram's _bucket, _sum and _count, a summary's _sum and
// _count, and families registered but not yet observed (which Gather
// leaves out).
func (r *Registry) Names() ([]string, error) {
	families, err := r.reg.Gather()
	set := map[string]bool{}
	for _, f := range families {
		for _, n := range sampleNames(f.GetName(), f.GetType()) {
			set[n] = true
		}
	}
	r.mu.Lock()
	for _, samples := range r.declared {
		for _, n := range samples {
			set[n] = true
		}
	}
	r.mu.Unlock()
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, err
}

func sampleNames(name string, t dto.MetricType) []string {
	switch t {
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		return []string{name + "_bucket", name + "_sum", name + "_count"}
	case dto.MetricType_SUMMARY:
		return []string{name, name + "_sum", name + "_count"}
	}
	return []string{name}
}

// register adds c, or returns the collector already registered under the
// same description, so that registering a family twice shares it.
func register[C prometheus.Collector](r *Registry, c C) C {
	err := r.reg.Register(c)
	if err == nil {
		return c
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic("metrics: " + err.Error()) // a programming error: two metrics with one name
}

// Counter is a monotonically increasing value.
type Counter struct{ c prometheus.Counter }

// Add adds n; a negative n is ignored (a counter never goes down).
func (c *Counter) Add(n int64) {
	if n > 0 {
		c.c.Add(float64(n))
	}
}

// Family is a named counter with labels.
type Family struct {
	vec    *prometheus.CounterVec
	labels int
	series seriesCache[*Counter]
}

// With returns the counter for the label values, in the family's order.
// Missing values are empty, extra ones dropped, long ones cut.
func (f *Family) With(values ...string) *Counter {
	return f.series.get(values, func() *Counter { return &Counter{f.vec.WithLabelValues(fit(values, f.labels)...)} })
}

// Counter registers a counter family.
func (r *Registry) Counter(name, help string, labels ...string) *Family {
	vec := register(r, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
	r.declare(name, sampleNames(name, dto.MetricType_COUNTER)...)
	return &Family{vec: vec, labels: len(labels)}
}

// maxCachedSeries bounds a family's cache of series by label values: the
// labels are bounded by configuration, and a family asked for more (a bug
// that passes unbounded values) still works, through the vector's own
// lookup, without growing the cache.
const maxCachedSeries = 4096

// maxCachedLabels is the most label values a cached lookup takes; a
// longer list goes through the vector's own lookup.
const maxCachedLabels = 4

// seriesCache maps label values, as the caller passed them, to their
// series, so that a request's metrics cost a map lookup instead of the
// values' validation, a slice and the vector's hashing. The vector never
// drops a series, so a cached one stays the vector's.
type seriesCache[S any] struct {
	mu sync.RWMutex
	m  map[[maxCachedLabels]string]S
}

func (c *seriesCache[S]) get(values []string, build func() S) S {
	if len(values) > maxCachedLabels {
		return build()
	}
	var k [maxCachedLabels]string
	copy(k[:], values)
	c.mu.RLock()
	s, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return s
	}
	s = build()
	c.mu.Lock()
	if c.m == nil {
		c.m = map[[maxCachedLabels]string]S{}
	}
	if len(c.m) < maxCachedSeries {
		c.m[k] = s
	}
	c.mu.Unlock()
	return s
}

// ExemplarEvery bounds how often a bucket's exemplar is replaced. A
// histogram keeps one exemplar per bucket, the latest, and a scrape reads
// it every few seconds; replacing it on every observation costs several
// allocations each. A bucket's first exemplar is always kept; a later one
// replaces it once the kept one is ExemplarEvery old.
const ExemplarEvery = time.Second

// Histogram is one series of a histogram family.
type Histogram struct {
	o      prometheus.Observer
	bounds []float64 // the family's bucket upper bounds (+Inf not listed)
	// replaced holds, per bucket (+Inf last), when its exemplar was last
	// replaced, in Unix nanoseconds (0: never).
	replaced []atomic.Int64
	now      func() time.Time
}

// Observe records v.
func (h *Histogram) Observe(v float64) { h.o.Observe(v) }

// ObserveWithExemplar records v with an exemplar (for example a trace or
// request id), which replaces its bucket's at most once per ExemplarEvery.
// An exemplar that Prometheus would refuse (over 128 runes of names and
// values together, or not UTF-8) is dropped; v is still recorded.
func (h *Histogram) ObserveWithExemplar(v float64, exemplar map[string]string) {
	eo, ok := h.o.(prometheus.ExemplarObserver)
	if !ok || !validExemplar(exemplar) || !h.exemplarDue(v) {
		h.o.Observe(v)
		return
	}
	eo.ObserveWithExemplar(v, exemplar)
}

// ObserveWithExemplarLabel is ObserveWithExemplar with the exemplar
// {name: value}, built only when it is kept.
func (h *Histogram) ObserveWithExemplarLabel(v float64, name, value string) {
	eo, ok := h.o.(prometheus.ExemplarObserver)
	if !ok || !validLabel(name, value, 0) || !h.exemplarDue(v) {
		h.o.Observe(v)
		return
	}
	eo.ObserveWithExemplar(v, prometheus.Labels{name: value})
}

// exemplarDue reports whether v's bucket takes an exemplar now, and if so
// marks it replaced.
func (h *Histogram) exemplarDue(v float64) bool {
	if h.replaced == nil {
		return true
	}
	slot := &h.replaced[sort.SearchFloat64s(h.bounds, v)] // the first bound >= v, as Prometheus files it
	now := h.now().UnixNano()
	last := slot.Load()
	return (last == 0 || now-last >= int64(ExemplarEvery)) && slot.CompareAndSwap(last, now)
}

// validLabel reports whether one exemplar label keeps the exemplar within
// what Prometheus accepts, given the runes of the labels before it.
func validLabel(name, value string, runes int) bool {
	if name == "" || !utf8.ValidString(name) || !utf8.ValidString(value) {
		return false
	}
	return runes+utf8.RuneCountInString(name)+utf8.RuneCountInString(value) <= prometheus.ExemplarMaxRunes
}

func validExemplar(labels map[string]string) bool {
	if len(labels) == 0 {
		return false
	}
	runes := 0
	for n, v := range labels {
		if n == "" || !utf8.ValidString(n) || !utf8.ValidString(v) {
			return false
		}
		runes += utf8.RuneCountInString(n) + utf8.RuneCountInString(v)
	}
	return runes <= prometheus.ExemplarMaxRunes
}

// HistogramFamily is a named histogram with labels.
type HistogramFamily struct {
	vec    *prometheus.HistogramVec
	labels int
	series seriesCache[*Histogram]
	bounds []float64        // the bucket upper bounds, as Prometheus keeps them
	now    func() time.Time // the clock of exemplarDue
}

// With returns the histogram for the label values, in the family's order.
func (f *HistogramFamily) With(values ...string) *Histogram {
	return f.series.get(values, func() *Histogram {
		return &Histogram{o: f.vec.WithLabelValues(fit(values, f.labels)...), bounds: f.bounds,
			replaced: make([]atomic.Int64, len(f.bounds)+1), now: f.now}
	})
}

// Histogram registers a histogram family with fixed bucket upper bounds.
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) *HistogramFamily {
	vec := register(r, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels))
	r.declare(name, sampleNames(name, dto.MetricType_HISTOGRAM)...)
	bounds := buckets
	if len(bounds) == 0 {
		bounds = prometheus.DefBuckets
	}
	bounds = slices.Clone(bounds)
	if n := len(bounds); n > 0 && math.IsInf(bounds[n-1], +1) {
		bounds = bounds[:n-1] // Prometheus drops a +Inf bound: its own bucket is last
	}
	return &HistogramFamily{vec: vec, labels: len(labels), bounds: bounds, now: time.Now}
}

// Gauge registers a gauge whose values are collected at scrape time. The
// callback may emit any number of series, each with its own labels.
func (r *Registry) Gauge(name, help string, collect func(emit func(labels map[string]string, v float64))) {
	register(r, &gaugeFunc{name: name, help: help, collect: collect})
	r.declare(name, name)
}

// gaugeFunc is an unchecked collector (it describes nothing up front):
// its label names are known only when the callback runs.
type gaugeFunc struct {
	name, help string
	collect    func(emit func(labels map[string]string, v float64))
}

func (g *gaugeFunc) Describe(chan<- *prometheus.Desc) {}

func (g *gaugeFunc) Collect(ch chan<- prometheus.Metric) {
	g.collect(func(labels map[string]string, v float64) {
		names := make([]string, 0, len(labels))
		for n := range labels {
			names = append(names, n)
		}
		slices.Sort(names)
		values := make([]string, len(names))
		for i, n := range names {
			values[i] = labels[n]
		}
		desc := prometheus.NewDesc(g.name, g.help, names, nil)
		m, err := prometheus.NewConstMetric(desc, prometheus.GaugeValue, v, fit(values, len(names))...)
		if err != nil {
			m = prometheus.NewInvalidMetric(desc, err)
		}
		ch <- m
	})
}

// Gather returns every metric family, sorted by name; a collector that
// failed is reported in the error and the rest are still returned.
func (r *Registry) Gather() ([]*dto.MetricFamily, error) { return r.reg.Gather() }

// Handler serves the registry: OpenMetrics (with exemplars) to a scraper
// that asks for it, the Prometheus text format otherwise. A collector
// that fails leaves its metric out rather than failing the scrape.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorHandling: promhttp.ContinueOnError})
}

// Write renders every metric in the Prometheus text format.
func (r *Registry) Write(w io.Writer) error {
	families, gerr := r.reg.Gather()
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return gerr
}

// fit returns exactly n label values, each valid UTF-8 and at most
// maxLabelValue bytes, so that client_golang never panics on them.
func fit(values []string, n int) []string {
	out := make([]string, n)
	for i := range min(n, len(values)) {
		v := values[i]
		if len(v) > maxLabelValue {
			v = v[:maxLabelValue]
		}
		out[i] = strings.ToValidUTF8(v, "\uFFFD")
	}
	return out
}
