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

// TestServeExperiment: an experiment created through the admin API
// applies to the data plane at once; requests carry their sticky arm to
// the ledger, feedback joins them, and the results and promotion follow.
func TestServeExperiment(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	file := `version: 1
providers: [{name: demo, type: demo}]
models:
  - {name: alpha, targets: [{provider: demo, model: demo-chat}, {provider: demo, model: demo-chat-b}]}
keys:
  - {name: dev, key: gw-test-app-key-000001}
feedback_metrics:
  - {name: helpful, type: boolean}
`
	if err := os.WriteFile(cfg, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "--config", cfg, "--data-dir", filepath.Join(dir, "data"))
	code, out := call(t, "POST", r.base+"/admin/v1/experiments", adminToken, `{"name":"ab","model":"alpha","unit":"header:X-Session","metric":"helpful",
		"arms":[{"name":"a","provider":"demo","model":"demo-chat","weight":1},{"name":"b","provider":"demo","model":"demo-chat-b","weight":1}]}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	id := out["id"].(string)
	const sessions = 30
	for s := range sessions {
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
		fb := fmt.Sprintf(`{"request_id":%q,"metric":"helpful","value":%v}`, resp.Header.Get("X-Request-Id"), s%3 == 0)
		if code, out := call(t, "POST", r.base+"/v1/sluice/feedback", "gw-test-app-key-000001", fb); code != 201 {
			t.Fatalf("feedback %d: %d %v", s, code, out)
		}
	}
	var res map[string]any
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, res = call(t, "GET", r.base+"/admin/v1/experiments/"+id+"/results", adminToken, "")
		if code != 200 {
			t.Fatalf("results: %d %v", code, res)
		}
		if res["rows"] == float64(sessions) && res["rows_without_feedback"] == 0.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("results %v, want %d rows all with feedback", res, sessions)
		}
	}
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
