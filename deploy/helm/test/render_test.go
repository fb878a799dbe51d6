// Tests of the deployment artifacts: the Helm chart in ../sluice, the
// Dockerfile and make release. They live in their own module so that the
// gateway's module does not depend on Helm or Kubernetes; `make chart` runs them.
package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir   = "../sluice"
	repoRoot   = "../../.."
	release    = "gw"
	namespace  = "ai"
	fullValues = chartDir + "/ci/full-values.yaml"
)

// serviceMonitor holds the fields of the Prometheus Operator's
// monitoring.coreos.com/v1 ServiceMonitor that the chart sets, named as its
// CRD names them, so that a misspelt field fails the strict decode.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
			Authorization *struct {
				Type        string                   `json:"type"`
				Credentials corev1.SecretKeySelector `json:"credentials"`
			} `json:"authorization,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// prometheusRule holds the fields of the Prometheus Operator's
// monitoring.coreos.com/v1 PrometheusRule, named as its CRD names them,
// and rulesFile the same groups as a Prometheus rules file: a misspelt
// field fails the strict decode.
type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              rulesFile `json:"spec"`
}

type rulesFile struct {
	Groups []struct {
		Name     string `json:"name"`
		Interval string `json:"interval,omitempty"`
		Rules    []struct {
			Alert       string            `json:"alert,omitempty"`
			Record      string            `json:"record,omitempty"`
			Expr        string            `json:"expr"`
			For         string            `json:"for,omitempty"`
			Labels      map[string]string `json:"labels,omitempty"`
			Annotations map[string]string `json:"annotations,omitempty"`
		} `json:"rules"`
	} `json:"groups"`
}

// manifests is one rendering of the chart, decoded.
type manifests struct {
	deployment     *appsv1.Deployment
	service        *corev1.Service
	secrets        map[string]*corev1.Secret
	configMaps     map[string]*corev1.ConfigMap
	pvcs           map[string]*corev1.PersistentVolumeClaim
	serviceAccount *corev1.ServiceAccount
	ingress        *networkingv1.Ingress
	pdb            *policyv1.PodDisruptionBudget
	hpa            *autoscalingv2.HorizontalPodAutoscaler
	serviceMonitor *serviceMonitor
	prometheusRule *prometheusRule
	notes          string
	kinds          []string // every document's kind, sorted
}

// readValues reads a values file as helm -f does.
func readValues(t *testing.T, path string) map[string]any {
	t.Helper()
	v, err := common.ReadValuesFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return v.AsMap()
}

// render renders the chart with vals as `helm template gw ../sluice -n ai`
// does, without a cluster.
func render(vals map[string]any) (map[string]string, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, err
	}
	rv, err := util.ToRenderValues(ch, vals, common.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}, common.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, rv)
}

// decode splits the rendered files into documents and decodes each one
// strictly into its Kubernetes type: an unknown or misspelt field fails.
func decode(t *testing.T, files map[string]string) *manifests {
	t.Helper()
	m := &manifests{secrets: map[string]*corev1.Secret{}, configMaps: map[string]*corev1.ConfigMap{}, pvcs: map[string]*corev1.PersistentVolumeClaim{}}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.HasSuffix(name, "NOTES.txt") {
			m.notes = files[name]
			continue
		}
		if strings.HasSuffix(name, ".tpl") {
			continue
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(files[name], -1) {
			if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(doc, "")) == "" {
				continue
			}
			where := fmt.Sprintf("%s (document %d)", name, i)
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s: %v\n%s", where, err, doc)
			}
			var obj any
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 Deployment":
				obj = &appsv1.Deployment{}
			case "v1 Service":
				obj = &corev1.Service{}
			case "v1 Secret":
				obj = &corev1.Secret{}
			case "v1 ConfigMap":
				obj = &corev1.ConfigMap{}
			case "v1 PersistentVolumeClaim":
				obj = &corev1.PersistentVolumeClaim{}
			case "v1 ServiceAccount":
				obj = &corev1.ServiceAccount{}
			case "networking.k8s.io/v1 Ingress":
				obj = &networkingv1.Ingress{}
			case "policy/v1 PodDisruptionBudget":
				obj = &policyv1.PodDisruptionBudget{}
			case "autoscaling/v2 HorizontalPodAutoscaler":
				obj = &autoscalingv2.HorizontalPodAutoscaler{}
			case "monitoring.coreos.com/v1 ServiceMonitor":
				obj = &serviceMonitor{}
			case "monitoring.coreos.com/v1 PrometheusRule":
				obj = &prometheusRule{}
			default:
				t.Fatalf("%s: unexpected %s %s; add its type to decode", where, tm.APIVersion, tm.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s: %s does not decode strictly: %v\n%s", where, tm.Kind, err, doc)
			}
			switch o := obj.(type) {
			case *appsv1.Deployment:
				m.deployment = o
			case *corev1.Service:
				m.service = o
			case *corev1.Secret:
				m.secrets[o.Name] = o
			case *corev1.ConfigMap:
				m.configMaps[o.Name] = o
			case *corev1.PersistentVolumeClaim:
				m.pvcs[o.Name] = o
			case *corev1.ServiceAccount:
				m.serviceAccount = o
			case *networkingv1.Ingress:
				m.ingress = o
			case *policyv1.PodDisruptionBudget:
				m.pdb = o
			case *autoscalingv2.HorizontalPodAutoscaler:
				m.hpa = o
			case *serviceMonitor:
				m.serviceMonitor = o
			case *prometheusRule:
				m.prometheusRule = o
			}
			m.kinds = append(m.kinds, tm.Kind)
		}
	}
	sort.Strings(m.kinds)
	if m.deployment == nil || m.service == nil {
		t.Fatalf("rendered no Deployment or no Service: %v", m.kinds)
	}
	return m
}

// drainSeconds reads Sluice's shutdown drain from internal/app/serve.go:
// the timeout of the context that srv.Shutdown and the ledger drain share.
func drainSeconds(t *testing.T) int {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot, "internal/app/serve.go"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`draining in-flight requests"\)\s*\n\s*sctx, cancel := context\.WithTimeout\(context\.Background\(\), (\d+) ?\* ?time\.Second\)`).FindSubmatch(src)
	if m == nil {
		t.Fatal("internal/app/serve.go: the shutdown drain (context.WithTimeout after \"draining in-flight requests\") was not found; update drainSeconds")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestChartLint runs helm lint's rules, strictly (warnings fail too), over
// the default values and the full values file.
func TestChartLint(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string]any
	}{
		{"default values", map[string]any{}},
		{"full values", readValues(t, fullValues)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := lint.RunAll(chartDir, tc.vals, namespace)
			for _, msg := range res.Messages {
				if msg.Severity >= support.WarningSev {
					t.Errorf("helm lint: %v", msg)
				} else {
					t.Logf("helm lint: %v", msg)
				}
			}
		})
	}
}
