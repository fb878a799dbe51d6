package deploy

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestPrometheusRuleIsTheMonitoringRules checks that the chart's optional
// PrometheusRule is off by default and, switched on, carries exactly the
// groups of deploy/monitoring/prometheus/sluice-rules.yaml (the file make
// rules checks with promtool), with their {{ $labels }} templates left for
// Prometheus: the chart's copy in files/ cannot drift from it unnoticed.
func TestPrometheusRuleIsTheMonitoringRules(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "deploy/monitoring/prometheus/sluice-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want rulesFile
	if err := yaml.UnmarshalStrict(raw, &want); err != nil {
		t.Fatalf("sluice-rules.yaml: %v", err)
	}
	if len(want.Groups) == 0 {
		t.Fatal("sluice-rules.yaml has no groups")
	}
	for _, tc := range []struct {
		name string
		vals map[string]any
		on   bool
	}{
		{"default values", map[string]any{}, false},
		{"enabled", map[string]any{"prometheusRule": map[string]any{"enabled": true, "labels": map[string]any{"release": "prom"}}}, true},
		{"full values", readValues(t, fullValues), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := render(tc.vals)
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			pr := decode(t, files).prometheusRule
			if (pr != nil) != tc.on {
				t.Fatalf("PrometheusRule rendered %v, want %v", pr != nil, tc.on)
			}
			if pr == nil {
				return
			}
			if !reflect.DeepEqual(pr.Spec, want) {
				t.Errorf("the PrometheusRule's groups differ from deploy/monitoring/prometheus/sluice-rules.yaml (copy it to deploy/helm/sluice/files/):\n got %+v\nwant %+v", pr.Spec, want)
			}
			if pr.Labels["app.kubernetes.io/name"] == "" {
				t.Errorf("PrometheusRule labels %v: want the chart's labels", pr.Labels)
			}
		})
	}
}
