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

// TestServeFileExperiment: an experiment declared in the configuration
// file applies to the data plane (requests carry their sticky arm to the
// ledger and the results count them) and is read-only in the admin API.
func TestServeFileExperiment(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	file := `version: 1
providers: [{name: demo, type: demo}]
models:
  - {name: alpha, targets: [{provider: demo, model: demo-chat}, {provider: demo, model: demo-chat-b}]}
keys:
  - {name: dev, key: gw-test-app-key-000001}
experiments:
  - name: file-ab
    model: alpha
    unit: header:X-Session
    metric: success
    arms:
      - {name: a, provider: demo, model: demo-chat, weight: 1}
      - {name: b, provider: demo, model: demo-chat-b, weight: 1}
`
	if err := os.WriteFile(cfg, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "--config", cfg, "--data-dir", filepath.Join(dir, "data"))
	const sessions = 20
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
	}
	var res map[string]any
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var code int
		code, res = call(t, "GET", r.base+"/admin/v1/experiments/file-ab/results", adminToken, "")
		if code != 200 {
			t.Fatalf("results: %d %v", code, res)
		}
		if res["rows"] == float64(sessions) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("results %v, want %d rows", res, sessions)
		}
	}
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
