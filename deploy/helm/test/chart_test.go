package deploy

import (
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestChartRenders renders the chart with the default values, the full
// values file and a cluster on existing Secrets, decodes every document
// strictly and checks what Sluice needs of each.
func TestChartRenders(t *testing.T) {
	for _, tc := range []struct {
		name      string
		vals      map[string]any
		replicas  int32 // 0: left to the HorizontalPodAutoscaler
		shared    bool  // state in PostgreSQL
		kinds     []string
		secretRef map[string]string // env name -> Secret it reads
	}{
		{
			name: "default values", vals: map[string]any{}, replicas: 1,
			kinds: []string{"Deployment", "PersistentVolumeClaim", "Service", "ServiceAccount"},
		},
		{
			name: "full values", vals: readValues(t, fullValues), shared: true,
			kinds: []string{"ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Ingress", "PodDisruptionBudget",
				"PrometheusRule", "Secret", "Service", "ServiceAccount", "ServiceMonitor"},
			secretRef: map[string]string{"SLUICE_DATABASE_URL": "gw-sluice", "OPENAI_API_KEY": "gw-sluice", "SLUICE_KEK": "gw-sluice"},
		},
		{
			name: "three replicas on existing Secrets",
			vals: map[string]any{
				"replicaCount":      3,
				"database":          map[string]any{"existingSecret": "pg", "existingSecretKey": "url"},
				"redis":             map[string]any{"existingSecret": "valkey"},
				"secrets":           map[string]any{"existingSecret": "sluice-keys", "providerKeyNames": []any{"ANTHROPIC_API_KEY"}},
				"existingConfigMap": "sluice-config",
			},
			replicas: 3, shared: true,
			kinds: []string{"Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"},
			secretRef: map[string]string{"SLUICE_DATABASE_URL": "pg", "SLUICE_REDIS_ADDR": "valkey",
				"SLUICE_ADMIN_TOKEN": "sluice-keys", "SLUICE_KEK": "sluice-keys", "ANTHROPIC_API_KEY": "sluice-keys"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := render(tc.vals)
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			m := decode(t, files)
			if !slices.Equal(m.kinds, tc.kinds) {
				t.Errorf("rendered %v, want %v", m.kinds, tc.kinds)
			}
			checkPod(t, m, drainSeconds(t))
			checkRefs(t, m)
			d := m.deployment
			switch {
			case tc.replicas == 0 && (d.Spec.Replicas != nil || m.hpa == nil):
				t.Errorf("replicas %v with HPA %v: want the HPA to own the count", d.Spec.Replicas, m.hpa != nil)
			case tc.replicas != 0 && (d.Spec.Replicas == nil || *d.Spec.Replicas != tc.replicas):
				t.Errorf("replicas %v, want %d", d.Spec.Replicas, tc.replicas)
			}
			env := map[string]*corev1.EnvVarSource{}
			for _, e := range d.Spec.Template.Spec.Containers[0].Env {
				env[e.Name] = e.ValueFrom
			}
			for name, secret := range tc.secretRef {
				if src := env[name]; src == nil || src.SecretKeyRef == nil || src.SecretKeyRef.Name != secret {
					t.Errorf("$%s is not read from Secret %s: %+v", name, secret, src)
				}
			}
			_, hasDB := env["SLUICE_DATABASE_URL"]
			if hasDB != tc.shared {
				t.Errorf("$SLUICE_DATABASE_URL set %v, want %v", hasDB, tc.shared)
			}
			multi := m.hpa != nil || *d.Spec.Replicas > 1
			if multi && !hasDB {
				t.Error("more than one replica on the embedded SQLite")
			}
			if (m.pdb != nil) != multi {
				t.Errorf("PodDisruptionBudget rendered %v with more than one replica %v", m.pdb != nil, multi)
			}
			data := volume(d.Spec.Template.Spec.Volumes, "data")
			if hasDB {
				if data == nil || data.EmptyDir == nil || d.Spec.Strategy.Type != "RollingUpdate" {
					t.Errorf("on PostgreSQL: want /data an emptyDir and a rolling update, got %+v, %s", data, d.Spec.Strategy.Type)
				}
			} else if data == nil || data.PersistentVolumeClaim == nil || m.pvcs[data.PersistentVolumeClaim.ClaimName] == nil || d.Spec.Strategy.Type != "Recreate" {
				// Two pods on one SQLite directory: the second fails on its lock.
				t.Errorf("on SQLite: want /data on the chart's PVC and Recreate, got %+v, %s", data, d.Spec.Strategy.Type)
			}
		})
	}
}

func volume(vs []corev1.Volume, name string) *corev1.Volume {
	for i := range vs {
		if vs[i].Name == name {
			return &vs[i]
		}
	}
	return nil
}

// flagValue returns the value after flag in args, and whether it is there.
func flagValue(args []string, flag string) (string, bool) {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v, true
		}
	}
	return "", false
}

// checkPod checks the pod template: the listen address, the data directory,
// the probes, the security context, the resources and the grace period.
func checkPod(t *testing.T, m *manifests, drain int) {
	t.Helper()
	pod := m.deployment.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Fatalf("args %q do not run sluice serve", c.Args)
	}

	listen, _ := flagValue(c.Args, "--listen")
	host, port, err := net.SplitHostPort(listen)
	if err != nil || host != "0.0.0.0" {
		t.Fatalf("--listen %q: want 0.0.0.0:PORT (%v)", listen, err)
	}
	listenPort, _ := strconv.Atoi(port)
	portOf := func(p intstr.IntOrString) int {
		if p.Type == intstr.Int {
			return p.IntValue()
		}
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return int(cp.ContainerPort)
			}
		}
		return -1
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		// /healthz is 503 while the ledger cannot write: out of the Service, not restarted.
		{"readinessProbe", c.ReadinessProbe, "/healthz"},
		{"livenessProbe", c.LivenessProbe, "/livez"},
		{"startupProbe", c.StartupProbe, "/livez"},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || portOf(p.probe.HTTPGet.Port) != listenPort {
			t.Errorf("%s: GET %s on port %s (%d), want %s on the listen port %d",
				p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), portOf(p.probe.HTTPGet.Port), p.path, listenPort)
		}
	}

	dataDir, _ := flagValue(c.Args, "--data-dir")
	writable := map[string]bool{}
	for _, vm := range c.VolumeMounts {
		if !vm.ReadOnly {
			writable[vm.MountPath] = true
		}
		if volume(pod.Volumes, vm.Name) == nil {
			t.Errorf("mount %s: no volume %s", vm.MountPath, vm.Name)
		}
	}
	if dataDir != "/data" || len(writable) != 1 || !writable["/data"] {
		t.Errorf("--data-dir %q, writable mounts %v: want /data, and nothing else writable", dataDir, writable)
	}
	if cfg, ok := flagValue(c.Args, "--config"); ok {
		mounted := false
		for _, vm := range c.VolumeMounts {
			v := volume(pod.Volumes, vm.Name)
			if vm.MountPath == path.Dir(cfg) && v != nil && v.ConfigMap != nil {
				mounted = true
				if cm := m.configMaps[v.ConfigMap.Name]; cm != nil && cm.Data[path.Base(cfg)] == "" {
					t.Errorf("--config %s: ConfigMap %s has no key %s", cfg, cm.Name, path.Base(cfg))
				}
			}
		}
		if !mounted {
			t.Errorf("--config %s is not in a mounted ConfigMap", cfg)
		}
	}

	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatalf("pod securityContext %v, container securityContext %v: want both", psc, sc)
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	runtimeDefault := func(p *corev1.SeccompProfile) bool {
		return p != nil && p.Type == corev1.SeccompProfileTypeRuntimeDefault
	}
	switch {
	case !isTrue(psc.RunAsNonRoot) || !isTrue(sc.RunAsNonRoot):
		t.Error("runAsNonRoot is not true in the pod's and the container's securityContext")
	case (psc.RunAsUser != nil && *psc.RunAsUser == 0) || (sc.RunAsUser != nil && *sc.RunAsUser == 0):
		t.Error("runAsUser is 0")
	case !isTrue(sc.ReadOnlyRootFilesystem):
		t.Error("readOnlyRootFilesystem is not true")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || isTrue(sc.Privileged):
		t.Error("allowPrivilegeEscalation is not false, or the container is privileged")
	case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
		t.Errorf("capabilities %+v: want ALL dropped and none added", sc.Capabilities)
	case !runtimeDefault(psc.SeccompProfile) || !runtimeDefault(sc.SeccompProfile):
		t.Error("seccompProfile is not RuntimeDefault in the pod's and the container's securityContext")
	}

	for _, r := range []struct {
		list corev1.ResourceList
		name corev1.ResourceName
		what string
	}{
		{c.Resources.Requests, corev1.ResourceCPU, "requests.cpu"},
		{c.Resources.Requests, corev1.ResourceMemory, "requests.memory"},
		{c.Resources.Limits, corev1.ResourceMemory, "limits.memory"},
	} {
		if q, ok := r.list[r.name]; !ok || q.IsZero() {
			t.Errorf("resources.%s is not set", r.what)
		}
	}

	// The kubelet sends SIGKILL after the grace period, which counts from
	// the start of preStop: it must outlast the pause and Sluice's drain.
	pause := 0
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		if c.Lifecycle.PreStop.Sleep == nil {
			t.Errorf("preStop %+v: want a sleep (the image has no shell)", c.Lifecycle.PreStop)
		} else {
			pause = int(c.Lifecycle.PreStop.Sleep.Seconds)
		}
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || int(*g) <= pause+drain {
		got := "unset"
		if g != nil {
			got = strconv.FormatInt(*g, 10)
		}
		t.Errorf("terminationGracePeriodSeconds %s: want more than the preStop pause (%ds) plus the %ds drain of internal/app/serve.go", got, pause, drain)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the pod mounts a service account token; Sluice never calls the Kubernetes API")
	}
}

// checkRefs checks that the objects find each other: selectors, port
// names, Secret keys, the autoscaler's target.
func checkRefs(t *testing.T, m *manifests) {
	t.Helper()
	d := m.deployment
	podLabels := labels.Set(d.Spec.Template.Labels)
	selects := func(what string, sel *metav1.LabelSelector) {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil || s.Empty() || !s.Matches(podLabels) {
			t.Errorf("%s selector %v does not select the pods (%v)", what, sel, err)
		}
	}
	selects("Deployment", d.Spec.Selector)
	selects("Service", &metav1.LabelSelector{MatchLabels: m.service.Spec.Selector})
	if m.pdb != nil {
		selects("PodDisruptionBudget", m.pdb.Spec.Selector)
	}
	if m.serviceMonitor != nil {
		selects("ServiceMonitor", &m.serviceMonitor.Spec.Selector)
	}
	if m.hpa != nil && (m.hpa.Spec.ScaleTargetRef.Kind != "Deployment" || m.hpa.Spec.ScaleTargetRef.Name != d.Name) {
		t.Errorf("the HPA scales %+v, not Deployment %s", m.hpa.Spec.ScaleTargetRef, d.Name)
	}

	c := d.Spec.Template.Spec.Containers[0]
	servicePorts := map[string]bool{}
	for _, sp := range m.service.Spec.Ports {
		servicePorts[sp.Name] = true
		found := false
		for _, cp := range c.Ports {
			found = found || (sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal == cp.Name) || sp.TargetPort.IntValue() == int(cp.ContainerPort)
		}
		if !found {
			t.Errorf("Service port %s targets %s, which the container does not expose", sp.Name, sp.TargetPort.String())
		}
	}
	if m.ingress != nil {
		for _, rule := range m.ingress.Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				if b := p.Backend.Service; b == nil || b.Name != m.service.Name || !servicePorts[b.Port.Name] {
					t.Errorf("Ingress %s%s goes to %+v, not a port of Service %s", rule.Host, p.Path, b, m.service.Name)
				}
			}
		}
	}

	// A key that the chart's own Secret should hold must be in it.
	hasKey := func(what string, ref corev1.SecretKeySelector) {
		s := m.secrets[ref.Name]
		if s == nil {
			return // an existing Secret, or none (optional)
		}
		if _, ok := s.Data[ref.Key]; !ok && (ref.Optional == nil || !*ref.Optional) {
			t.Errorf("%s: Secret %s has no key %s", what, ref.Name, ref.Key)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			hasKey("$"+e.Name, *e.ValueFrom.SecretKeyRef)
		}
	}
	if sm := m.serviceMonitor; sm != nil {
		for _, ep := range sm.Spec.Endpoints {
			if !servicePorts[ep.Port] || ep.Path != "/metrics" || ep.Authorization == nil {
				t.Errorf("ServiceMonitor endpoint %+v: want /metrics on a Service port, with the admin token", ep)
				continue
			}
			hasKey("ServiceMonitor", ep.Authorization.Credentials)
			if s := m.secrets[ep.Authorization.Credentials.Name]; s != nil && len(s.Data[ep.Authorization.Credentials.Key]) == 0 {
				t.Error("ServiceMonitor: /metrics needs the admin token, and the chart's Secret has none")
			}
		}
	}
}

// TestChartRefuses checks that values that cannot work fail to render,
// with a message that says what to set.
func TestChartRefuses(t *testing.T) {
	db := map[string]any{"url": "postgres://sluice@pg:5432/sluice"}
	kek := map[string]any{"kek": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}
	for _, tc := range []struct {
		name string
		vals map[string]any
		want string // in the error; "" renders
	}{
		{"two replicas on SQLite", map[string]any{"replicaCount": 2, "secrets": kek}, "replicaCount is 2, but without database.url or database.existingSecret"},
		{"autoscaling on SQLite", map[string]any{"autoscaling": map[string]any{"enabled": true}, "secrets": kek}, "autoscaling.enabled runs more than one replica, but without database.url"},
		{"two replicas on PostgreSQL", map[string]any{"replicaCount": 2, "database": db, "secrets": kek}, ""},
		{"two replicas on an existing database Secret", map[string]any{"replicaCount": 2, "database": map[string]any{"existingSecret": "pg"}, "secrets": kek}, ""},
		{"two replicas without a shared KEK", map[string]any{"replicaCount": 2, "database": db}, "set secrets.kek or secrets.existingSecret"},
		{"no replica", map[string]any{"replicaCount": 0}, "replicaCount must be at least 1"},
		{"grace period within the drain", map[string]any{"terminationGracePeriodSeconds": 30, "preStopSleepSeconds": 0}, "must exceed Sluice's 30s shutdown drain"},
		{"grace period within the drain and the pause", map[string]any{"terminationGracePeriodSeconds": 40, "preStopSleepSeconds": 10}, "must exceed Sluice's 30s shutdown drain"},
		{"short admin token", map[string]any{"secrets": map[string]any{"adminToken": "short"}}, "at least 16 characters"},
		{"config twice", map[string]any{"config": map[string]any{"version": 1}, "existingConfigMap": "c"}, "config or existingConfigMap, not both"},
		{"database twice", map[string]any{"database": map[string]any{"url": "postgres://x", "existingSecret": "pg"}}, "database.url or database.existingSecret, not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(tc.vals)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("rendered; want an error with %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q, want %q", err, tc.want)
			}
		})
	}
}
