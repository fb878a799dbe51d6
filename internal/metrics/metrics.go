// Package metrics keeps Sluice's counters and renders them in the
// Prometheus text exposition format. Labels are bounded by configuration
// (endpoints, statuses, providers, models): never a key, a user or a
// request id.
package metrics

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Counter is a monotonically increasing value.
type Counter struct{ v atomic.Int64 }

// Add adds n (n ≥ 0).
func (c *Counter) Add(n int64) { c.v.Add(n) }

// Family is a named counter with labels.
type Family struct {
	name, help string
	labels     []string

	mu     sync.Mutex // guards series: created rarely, read on scrape
	series map[string]*Counter
}

// With returns the counter for the label values, in the family's order.
func (f *Family) With(values ...string) *Counter {
	key := strings.Join(values, "\x00")
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.series[key]
	if c == nil {
		c = &Counter{}
		f.series[key] = c
	}
	return c
}

// Registry holds counter families and gauge callbacks.
type Registry struct {
	mu       sync.Mutex // guards the slices
	families []*Family
	gauges   []gauge
}

type gauge struct {
	name, help string
	collect    func(emit func(labels map[string]string, v float64))
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Counter registers a counter family.
func (r *Registry) Counter(name, help string, labels ...string) *Family {
	f := &Family{name: name, help: help, labels: labels, series: map[string]*Counter{}}
	r.mu.Lock()
	r.families = append(r.families, f)
	r.mu.Unlock()
	return f
}

// Gauge registers a gauge whose values are collected at scrape time.
func (r *Registry) Gauge(name, help string, collect func(emit func(labels map[string]string, v float64))) {
	r.mu.Lock()
	r.gauges = append(r.gauges, gauge{name, help, collect})
	r.mu.Unlock()
}

// Write renders every metric in the Prometheus text format.
func (r *Registry) Write(w io.Writer) error {
	r.mu.Lock()
	families := slices.Clone(r.families)
	gauges := slices.Clone(r.gauges)
	r.mu.Unlock()
	var b strings.Builder
	for _, f := range families {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n", f.name, f.help, f.name)
		f.mu.Lock()
		keys := make([]string, 0, len(f.series))
		for k := range f.series {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			vals := strings.Split(k, "\x00")
			b.WriteString(f.name)
			writeLabels(&b, f.labels, vals)
			fmt.Fprintf(&b, " %d\n", f.series[k].v.Load())
		}
		f.mu.Unlock()
	}
	for _, g := range gauges {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", g.name, g.help, g.name)
		g.collect(func(labels map[string]string, v float64) {
			names := make([]string, 0, len(labels))
			for n := range labels {
				names = append(names, n)
			}
			slices.Sort(names)
			vals := make([]string, len(names))
			for i, n := range names {
				vals[i] = labels[n]
			}
			b.WriteString(g.name)
			writeLabels(&b, names, vals)
			fmt.Fprintf(&b, " %g\n", v)
		})
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeLabels(b *strings.Builder, names, vals []string) {
	if len(names) == 0 {
		return
	}
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		v := ""
		if i < len(vals) {
			v = vals[i]
		}
		fmt.Fprintf(b, "%s=%q", n, escape(v))
	}
	b.WriteByte('}')
}

// escape keeps label values printable; %q adds the quoting.
func escape(v string) string {
	if len(v) > 128 {
		v = v[:128]
	}
	return v
}
