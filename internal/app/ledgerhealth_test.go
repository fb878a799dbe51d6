package app

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeWhenTheDiskIsFull runs the gateway with its data directory on a
// real 5 MB disk that fills up, then gets space back.
func TestServeWhenTheDiskIsFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	disk := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", disk).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { // runs after the server stops
		if out, err := exec.Command("umount", disk).CombinedOutput(); err != nil {
			t.Logf("umount: %v %s; detaching", err, out)
			if out, err := exec.Command("umount", "-l", disk).CombinedOutput(); err != nil {
				t.Errorf("umount -l: %v %s", err, out)
			}
		}
	})
	cfg := filepath.Join(t.TempDir(), "sluice.yaml")
	if err := os.WriteFile(cfg, []byte(demoConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "--config", cfg, "--data-dir", filepath.Join(disk, "data"))
	const key = "gw-test-app-key-000001"
	chat := `{"model":"alpha","messages":[{"role":"user","content":"` + strings.Repeat("hello ", 50) + `"}]}`
	do := func(method, path, token, body string) (*http.Response, string, time.Duration) {
		t.Helper()
		req, _ := http.NewRequest(method, r.base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b), time.Since(start)
	}

	// Fill the disk.
	f, err := os.Create(filepath.Join(disk, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for buf := make([]byte, 64<<10); ; {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()

	answered := map[string]bool{}
	for {
		resp, body, took := do("POST", "/v1/chat/completions", key, chat)
		if resp.StatusCode == 200 {
			answered[resp.Header.Get("X-Request-Id")] = true
			if len(answered) > 800 {
				t.Fatalf("%d billable requests served on a full disk", len(answered))
			}
			continue
		}
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "ledger_unavailable") || took > time.Second {
			t.Fatalf("billable request on a full disk: %d after %v, %v %s", resp.StatusCode, took, resp.Header, body)
		}
		break
	}
	t.Logf("%d billable requests served before the full disk stopped the ledger", len(answered))
	for _, tc := range []struct {
		name, path, token string
		status            int
		want              string
	}{
		{"readiness", "/healthz", "", 503, "ledger"},
		{"liveness", "/livez", "", 200, "ok"},
		{"models", "/v1/models", key, 200, "alpha"},
		{"no key", "/v1/models", "", 401, "invalid_api_key"},
		{"admin health", "/admin/v1/health", adminToken, 200, `"journal_bytes"`},
		{"metrics", "/metrics", adminToken, 200, "sluice_ledger_ready 0"},
	} {
		resp, body, took := do("GET", tc.path, tc.token, "")
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) || took > 500*time.Millisecond {
			t.Errorf("%s on a full disk: %d after %v, want %d with %q: %s", tc.name, resp.StatusCode, took, tc.status, tc.want, body)
		}
	}
	_, body, _ := do("GET", "/admin/v1/health", adminToken, "")
	var health struct {
		Ledger struct {
			Ready     bool   `json:"ready"`
			LastError string `json:"last_error"`
		} `json:"ledger"`
	}
	if err := json.Unmarshal([]byte(body), &health); err != nil || health.Ledger.Ready || !diskFull(health.Ledger.LastError) {
		t.Errorf("admin health on a full disk: %v %s", err, body)
	}

	if err := os.Remove(filepath.Join(disk, "filler")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		resp, _, _ := do("GET", "/healthz", "", "")
		if resp.StatusCode == 200 {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("/healthz still 503 10s after space returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("/healthz 200 %v after space returned", time.Since(start))
	if resp, body, _ := do("POST", "/v1/chat/completions", key, chat); resp.StatusCode != 200 {
		t.Fatalf("billable request after space returned: %d %s", resp.StatusCode, body)
	} else {
		answered[resp.Header.Get("X-Request-Id")] = true
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body, _ := do("GET", "/admin/v1/requests?limit=1000", adminToken, "")
		var list struct {
			Data []struct {
				RequestID string `json:"request_id"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, e := range list.Data {
			seen[e.RequestID]++
		}
		missing := 0
		for id := range answered {
			if seen[id] != 1 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d answered requests are not in the ledger exactly once", missing, len(answered))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// diskFull reports an error that names a full disk: SQLite says "database
// or disk is full", a failed write of the database or journal "no space
// left on device", whichever failed last.
func diskFull(msg string) bool {
	return strings.Contains(msg, "full") || strings.Contains(msg, "no space left on device")
}
