package app

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// experimentConfig is a demo install with model alpha over two demo
// targets and the key dev; extra is appended to it.
const experimentConfig = `version: 1
providers: [{name: demo, type: demo}]
models:
  - {name: alpha, targets: [{provider: demo, model: demo-chat}, {provider: demo, model: demo-chat-b}]}
keys:
  - {name: dev, key: gw-test-app-key-000001}
`

// startExperimentServer starts Sluice on experimentConfig plus extra.
func startExperimentServer(t *testing.T, extra string) *running {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfg, []byte(experimentConfig+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	return start(t, "--config", cfg, "--data-dir", filepath.Join(dir, "data"))
}

// chatSessions sends one chat request to alpha for each of n sessions
// (X-Session s0, s1, ...) and hands each answer to each (which may be nil).
func chatSessions(t *testing.T, r *running, n int, each func(s int, resp *http.Response)) {
	t.Helper()
	for s := range n {
		req, _ := http.NewRequest("POST", r.base+"/v1/chat/completions", strings.NewReader(`{"model":"alpha","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer gw-test-app-key-000001")
		req.Header.Set("X-Session", fmt.Sprint("s", s))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("chat %d: %d", s, resp.StatusCode)
		}
		if each != nil {
			each(s, resp)
		}
	}
}

// waitResults polls an experiment's results until done says they are
// complete, for up to 10 seconds.
func waitResults(t *testing.T, r *running, id string, done func(map[string]any) bool) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, res := call(t, "GET", r.base+"/admin/v1/experiments/"+id+"/results", adminToken, "")
		if code != 200 {
			t.Fatalf("results: %d %v", code, res)
		}
		if done(res) {
			return res
		}
		if time.Now().After(deadline) {
			t.Fatalf("results incomplete after 10 s: %v", res)
		}
	}
}

// TestServeExperiment: an experiment created through the admin API
// applies to the data plane at once; requests carry their sticky arm to
// the ledger, feedback joins them, and the results and promotion follow.
func TestServeExperiment(t *testing.T) {
	r := startExperimentServer(t, `feedback_metrics:
  - {name: helpful, type: boolean}
`)
	code, out := call(t, "POST", r.base+"/admin/v1/experiments", adminToken, `{"name":"ab","model":"alpha","unit":"header:X-Session","metric":"helpful",
		"arms":[{"name":"a","provider":"demo","model":"demo-chat","weight":1},{"name":"b","provider":"demo","model":"demo-chat-b","weight":1}]}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	id := out["id"].(string)
	const sessions = 30
	chatSessions(t, r, sessions, func(s int, resp *http.Response) {
		fb := fmt.Sprintf(`{"request_id":%q,"metric":"helpful","value":%v}`, resp.Header.Get("X-Request-Id"), s%3 == 0)
		if code, out := call(t, "POST", r.base+"/v1/sluice/feedback", "gw-test-app-key-000001", fb); code != 201 {
			t.Fatalf("feedback %d: %d %v", s, code, out)
		}
	})
	res := waitResults(t, r, id, func(res map[string]any) bool {
		return res["rows"] == float64(sessions) && res["rows_without_feedback"] == 0.0
	})
	total := 0.0
	for _, a := range res["arms"].([]any) {
		arm := a.(map[string]any)
		if arm["n"] == 0.0 || arm["excluded_fallback"] != 0.0 {
			t.Fatalf("arm %v: each arm serves some sessions and no fallback", arm)
		}
		total += arm["n"].(float64)
	}
	if total != sessions {
		t.Fatalf("arms hold %v rows, want %d", total, sessions)
	}
	if code, out := call(t, "POST", r.base+"/admin/v1/experiments/"+id+"/promote", adminToken, `{"arm":"b"}`); code != 200 || out["status"] != "promoted" {
		t.Fatalf("promote: %d %v", code, out)
	}
}

// TestServeFileExperiment: an experiment declared in the configuration
// file applies to the data plane (requests carry their sticky arm to the
// ledger and the results count them) and is read-only in the admin API.
func TestServeFileExperiment(t *testing.T) {
	r := startExperimentServer(t, `experiments:
  - name: file-ab
    model: alpha
    unit: header:X-Session
    metric: success
    arms:
      - {name: a, provider: demo, model: demo-chat, weight: 1}
      - {name: b, provider: demo, model: demo-chat-b, weight: 1}
`)
	const sessions = 20
	chatSessions(t, r, sessions, nil)
	res := waitResults(t, r, "file-ab", func(res map[string]any) bool { return res["rows"] == float64(sessions) })
	for _, a := range res["arms"].([]any) {
		if arm := a.(map[string]any); arm["n"] == 0.0 {
			t.Fatalf("arm %v serves no session", arm)
		}
	}
	if code, out := call(t, "GET", r.base+"/admin/v1/experiments/file-ab", adminToken, ""); code != 200 || out["source"] != "config" || out["read_only"] != true {
		t.Fatalf("get: %d %v", code, out)
	}
	if code, out := call(t, "POST", r.base+"/admin/v1/experiments/file-ab/promote", adminToken, `{"arm":"b"}`); code != 409 {
		t.Fatalf("promote: %d %v, want 409", code, out)
	}
}
