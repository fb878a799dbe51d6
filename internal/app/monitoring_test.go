package app

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/proxy"
	"github.com/sluicehq/sluice/internal/ratelimit"
	"github.com/sluicehq/sluice/internal/route"
	"github.com/sluicehq/sluice/internal/runtime"
)

type discardSink struct{}

func (discardSink) InsertEntries(context.Context, []ledger.Entry) error { return nil }

// servedMetricNames registers what serve registers, in the same calls,
// and returns every name a query can select.
func servedMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	s := &server{health: route.NewRegistry(route.HealthOptions{}), limiter: ratelimit.New(nil)}
	s.snaps.Store(&runtime.Snapshot{})
	lw, err := ledger.NewWriter(discardSink{}, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lw.Close(context.Background()) })
	reg := s.metrics(lw)
	lw.RegisterMetrics(reg)
	(&alerts{}).register(reg)
	proxy.NewMetrics(reg)
	names, err := reg.Names()
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	return set
}

// metricRef finds the metric names of Sluice and its runtime in PromQL.
var metricRef = regexp.MustCompile(`\b(?:sluice|go|process)_[a-zA-Z0-9_:]*`)

// checkExprs fails for an expression that names a metric Sluice does not
// export, or names none of Sluice's at all.
func checkExprs(t *testing.T, where string, exprs []string, exported map[string]bool) {
	t.Helper()
	if len(exprs) == 0 {
		t.Fatalf("%s: no expressions found", where)
	}
	for _, e := range exprs {
		refs := metricRef.FindAllString(e, -1)
		if len(refs) == 0 {
			t.Errorf("%s: %q names no Sluice metric", where, e)
		}
		for _, name := range refs {
			if !exported[name] {
				t.Errorf("%s: %q names %s, which Sluice does not export", where, e, name)
			}
		}
	}
}

// TestDashboardNamesExportedMetrics: every PromQL expression of the
// Grafana dashboard (panels and variables) selects metrics that /metrics
// serves.
func TestDashboardNamesExportedMetrics(t *testing.T) {
	exported := servedMetricNames(t)
	raw, err := os.ReadFile("../../deploy/monitoring/grafana/sluice.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || (k == "query" && s != "prometheus")) {
					exprs = append(exprs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(dash)
	slices.Sort(exprs)
	checkExprs(t, "sluice.json", exprs, exported)
}

// TestAlertRulesNameExportedMetrics: every alerting rule reads metrics
// that /metrics serves (promtool checks syntax and behaviour, not names).
func TestAlertRulesNameExportedMetrics(t *testing.T) {
	exported := servedMetricNames(t)
	raw, err := os.ReadFile("../../deploy/monitoring/prometheus/sluice-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	checkExprs(t, "sluice-rules.yaml", exprs, exported)
}

// TestModelTargetsHealthy: the gauge behind "every target of a model
// down" counts a model's distinct targets in rotation, over its default
// and conditional routes.
func TestModelTargetsHealthy(t *testing.T) {
	tests := []struct {
		name    string
		def     []string   // the default route's targets; nil: no default route
		routes  [][]string // conditional routes' targets
		cooling []string
		want    float64
	}{
		{"two up", []string{"a", "b"}, nil, nil, 2},
		{"one cooling", []string{"a", "b"}, nil, []string{"a"}, 1},
		{"all cooling", []string{"a", "b"}, nil, []string{"a", "b"}, 0},
		{"shared target counted once", []string{"a"}, [][]string{{"a", "b"}}, []string{"b"}, 1},
		{"no default route", nil, [][]string{{"b"}}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			health := route.NewRegistry(route.HealthOptions{})
			routeOf := func(targets []string) *runtime.Route {
				if targets == nil {
					return nil
				}
				r := &runtime.Route{}
				for _, name := range targets {
					r.Targets = append(r.Targets, runtime.Target{Model: name, Health: health.Get("p", name)})
				}
				return r
			}
			m := &runtime.Model{Name: "chat", Default: routeOf(tt.def)}
			for _, r := range tt.routes {
				m.Routes = append(m.Routes, routeOf(r))
			}
			for _, name := range tt.cooling {
				health.Get("p", name).Cooldown(time.Now().Add(time.Hour))
			}
			s := &server{health: health, limiter: ratelimit.New(nil)}
			s.snaps.Store(&runtime.Snapshot{Models: map[string]*runtime.Model{"chat": m}})
			lw, err := ledger.NewWriter(discardSink{}, ledger.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = lw.Close(context.Background()) }()
			got, ok := gaugeValue(t, s.metrics(lw), "sluice_model_targets_healthy", "model", "chat")
			if !ok || got != tt.want {
				t.Fatalf("sluice_model_targets_healthy{model=chat} = %v (present %v), want %v", got, ok, tt.want)
			}
		})
	}
}

func gaugeValue(t *testing.T, reg *metrics.Registry, name, label, value string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}
