package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const adminToken = "test-admin-token-0123456789"

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type running struct {
	base string
	logs *syncBuffer
	stop func() error
}

func start(t *testing.T, args ...string) *running {
	t.Helper()
	t.Setenv("SLUICE_ADMIN_TOKEN", adminToken)
	return startServer(t, args...)
}

// startServer starts `sluice serve` with the environment as it is.
func startServer(t *testing.T, args ...string) *running {
	t.Helper()
	addr := freeAddr(t)
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Main(ctx, append([]string{"serve", "--listen", addr}, args...), io.Discard, logs) }()
	base := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("not ready in time:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(40 * time.Second):
			return fmt.Errorf("serve did not stop")
		}
	}
	t.Cleanup(func() { _ = stop() })
	return &running{base: base, logs: logs, stop: stop}
}

func call(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

const demoConfig = `version: 1
providers: [{name: demo, type: demo}]
models:
  - {name: alpha, targets: [{provider: demo, model: demo-chat}], pricing: {input_per_mtok: 1, output_per_mtok: 1}}
keys:
  - {name: dev, key: gw-test-app-key-000001}
`

func TestServeReloadAndLedger(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfg, []byte(demoConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "--config", cfg, "--data-dir", filepath.Join(dir, "data"))
	chat := `{"model":"alpha","messages":[{"role":"user","content":"hi"}]}`
	if code, out := call(t, "POST", r.base+"/v1/chat/completions", "gw-test-app-key-000001", chat); code != 200 {
		t.Fatalf("chat: %d %v", code, out)
	}

	// A bad file is rejected with its problems, and the running config stays.
	bad := strings.Replace(demoConfig, "type: demo", "type: nonsense", 1)
	if err := os.WriteFile(cfg, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := call(t, "POST", r.base+"/admin/v1/reload", adminToken, "")
	if code != 422 || !strings.Contains(fmt.Sprint(out), "providers[0].type") {
		t.Fatalf("bad reload: %d %v", code, out)
	}
	if code, _ := call(t, "POST", r.base+"/v1/chat/completions", "gw-test-app-key-000001", chat); code != 200 {
		t.Fatalf("after a rejected reload the old config must still serve: %d", code)
	}

	// A good file is applied.
	good := demoConfig + "  - {name: ops, key: gw-test-app-key-000002, models: [beta]}\n"
	good = strings.Replace(good, "keys:", "  - {name: beta, targets: [{provider: demo, model: demo-chat}]}\nkeys:", 1)
	if err := os.WriteFile(cfg, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := call(t, "POST", r.base+"/admin/v1/reload", adminToken, ""); code != 200 {
		t.Fatalf("reload: %d %v", code, out)
	}
	if code, _ := call(t, "POST", r.base+"/v1/chat/completions", "gw-test-app-key-000002", strings.Replace(chat, "alpha", "beta", 1)); code != 200 {
		t.Fatalf("new key and model after reload: %d", code)
	}
	if code, _ := call(t, "POST", r.base+"/v1/chat/completions", "gw-test-app-key-000002", chat); code != 403 {
		t.Fatalf("allow-list after reload: %d", code)
	}

	// Keys made through the API work at once and stop at once when revoked.
	code, out = call(t, "POST", r.base+"/admin/v1/keys", adminToken, `{"name":"api-made","models":["alpha"]}`)
	key, _ := out["key"].(string)
	if code != 201 || !strings.HasPrefix(key, "gw-live-") {
		t.Fatalf("create key: %d %v", code, out)
	}
	if code, _ := call(t, "POST", r.base+"/v1/chat/completions", key, chat); code != 200 {
		t.Fatalf("new key: %d", code)
	}
	if code, _ := call(t, "DELETE", r.base+"/admin/v1/keys/api-made", adminToken, ""); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	if code, _ := call(t, "POST", r.base+"/v1/chat/completions", key, chat); code != 401 {
		t.Fatalf("revoked key: %d", code)
	}
	if code, _ := call(t, "GET", r.base+"/admin/v1/requests", "wrong-token", ""); code != 401 {
		t.Fatalf("admin with a wrong token: %d", code)
	}

	// Metrics need the admin token and count by endpoint and status.
	if code, _ := call(t, "GET", r.base+"/metrics", "wrong-token", ""); code != 401 {
		t.Fatalf("metrics without the admin token: %d", code)
	}
	mreq, _ := http.NewRequest("GET", r.base+"/metrics", nil)
	mreq.Header.Set("Authorization", "Bearer "+adminToken)
	mresp, err := http.DefaultClient.Do(mreq)
	if err != nil {
		t.Fatal(err)
	}
	mbody, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, want := range []string{`sluice_requests_total{endpoint="chat.completions",status="ok"} 4`, `sluice_requests_total{endpoint="chat.completions",status="client_error"} 2`,
		`sluice_tokens_total{class="input",model="demo-chat",provider="demo"}`, "sluice_ledger_queue_entries"} {
		if !strings.Contains(string(mbody), want) && !strings.Contains(string(mbody), strings.Replace(want, `model="demo-chat",provider="demo",class="input"}`, `provider="demo",model="demo-chat",class="input"}`, 1)) {
			t.Errorf("metrics lack %s:\n%s", want, mbody)
		}
	}
	if strings.Contains(string(mbody), "gw-test-app-key") || strings.Contains(string(mbody), "api-made") {
		t.Fatal("a key reached the metrics")
	}

	// A graceful stop flushes the ledger: every request is there.
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	r2 := start(t, "--config", cfg, "--data-dir", filepath.Join(dir, "data"))
	code, out = call(t, "GET", r2.base+"/admin/v1/requests?limit=100", adminToken, "")
	data, _ := out["data"].([]any)
	// Five entries: the revoked key's 401 is a refusal before
	// authentication, counted in metrics but never billed.
	if code != 200 || len(data) != 5 {
		t.Fatalf("ledger after restart: %d entries (status %d), want 5", len(data), code)
	}
	newest := data[0].(map[string]any)
	if newest["status"] != "ok" || newest["key_name"] != "api-made" {
		t.Fatalf("newest entry %v", newest)
	}
	oldest := data[len(data)-1].(map[string]any)
	if oldest["status"] != "ok" || oldest["cost_micros"].(float64) <= 0 || oldest["key_name"] != "dev" || len(oldest["attempts"].([]any)) != 1 {
		t.Fatalf("oldest entry %v", oldest)
	}
	if strings.Contains(r.logs.String(), "gw-test-app-key") || strings.Contains(r.logs.String(), adminToken) {
		t.Fatalf("a secret reached the logs:\n%s", r.logs.String())
	}
}

func TestFirstStartPrintsTokenOnce(t *testing.T) {
	dir := t.TempDir()
	os.Unsetenv("SLUICE_ADMIN_TOKEN")
	run := func() string {
		addr := freeAddr(t)
		logs := &syncBuffer{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Main(ctx, []string{"serve", "--listen", addr, "--data-dir", dir}, io.Discard, logs) }()
		for i := 0; i < 500; i++ {
			if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
				resp.Body.Close()
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return logs.String()
	}
	first := run()
	if !strings.Contains(first, "admin token") || !strings.Contains(first, "gw-demo-") {
		t.Fatalf("first start did not print the admin token and demo key:\n%s", first)
	}
	if second := run(); strings.Contains(second, "sla-") || strings.Contains(second, "gw-demo-") {
		t.Fatalf("a later start printed a secret again:\n%s", second)
	}
}

func TestConfigValidateCommand(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("version: 1\nmodels: [{name: m, targets: [{provider: none, model: x}]}]\nbogus: 1\n"), 0o600)
	var out bytes.Buffer
	err := Main(context.Background(), []string{"config", "validate", bad}, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "models[0].targets[0].provider") || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("validate bad: %v", err)
	}
	good := filepath.Join(dir, "good.yaml")
	_ = os.WriteFile(good, []byte(demoConfig), 0o600)
	if err := Main(context.Background(), []string{"config", "validate", good}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := Main(context.Background(), []string{"frobnicate"}, &out, io.Discard); ExitCode(err) != 2 {
		t.Fatalf("unknown command: %v", err)
	}
}
