package app

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeAnalyticsAndRequestLog: through a running server, the analytics
// API's request count per model equals the ledger's, the request log holds
// the captured key's bodies with the pasted secret masked, and the server
// stops cleanly with its background jobs.
func TestServeAnalyticsAndRequestLog(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	file := demoConfig + "request_log:\n  capture: [{key: dev}]\nalert_rules:\n  - {name: errors, kind: error_rate, threshold: 0.5}\n"
	if err := os.WriteFile(cfg, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "--config", cfg, "--data-dir", filepath.Join(dir, "data"))
	const secret = "sk-proj-CANARYcanaryCANARYcanaryCANARY77"
	from := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	for range 3 {
		chat := `{"model":"alpha","messages":[{"role":"user","content":"my key is ` + secret + `"}]}`
		if code, out := call(t, "POST", r.base+"/v1/chat/completions", "gw-test-app-key-000001", chat); code != 200 {
			t.Fatalf("chat: %d %v", code, out)
		}
	}
	to := time.Now().UTC().Add(2 * time.Minute).Format(time.RFC3339)
	q := "?from=" + url.QueryEscape(from) + "&to=" + url.QueryEscape(to)
	var ledger, analytics float64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, reqs := call(t, "GET", r.base+"/admin/v1/requests", adminToken, "")
		data, _ := reqs["data"].([]any)
		ledger = float64(len(data))
		code, out := call(t, "GET", r.base+"/admin/v1/analytics"+q+"&interval=1h&group_by=model", adminToken, "")
		if code != 200 {
			t.Fatalf("analytics: %d %v", code, out)
		}
		analytics = 0
		series, _ := out["series"].([]any)
		for _, s := range series {
			s := s.(map[string]any)
			if s["group"].(map[string]any)["model"] != "alpha" {
				t.Fatalf("a series of another model: %v", s)
			}
			for _, p := range s["points"].([]any) {
				analytics += p.(map[string]any)["requests"].(float64)
			}
		}
		if (ledger == 3 && analytics == 3) || time.Now().After(deadline) {
			break
		}
	}
	if ledger != 3 || analytics != 3 {
		t.Fatalf("ledger %v requests, analytics %v", ledger, analytics)
	}
	var captured string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, out := call(t, "GET", r.base+"/admin/v1/request-log", adminToken, "")
		if code != 200 {
			t.Fatalf("request log: %d %v", code, out)
		}
		captured = fmt.Sprint(out["data"])
		if strings.Count(captured, "request_body") == 3 || time.Now().After(deadline) {
			break
		}
	}
	if strings.Count(captured, "request_body") != 3 || strings.Contains(captured, secret) || !strings.Contains(captured, "<API_KEY_") {
		t.Fatalf("captures: %.600s", captured)
	}
	if code, out := call(t, "GET", r.base+"/admin/v1/alerts", adminToken, ""); code != 200 {
		t.Fatalf("alerts: %d %v", code, out)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}
