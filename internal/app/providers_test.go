package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// A provider created through the admin API serves a model of the file with
// its decrypted key, across a restart, and its key shows up nowhere else.
func TestStoredProviderServesFileModel(t *testing.T) {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	canary := "sk-CANARY-PROV-" + hex.EncodeToString(b)

	var mu sync.Mutex
	var auths []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c1","object":"chat.completion","created":1,"model":"up-model","choices":[{"index":0,
"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
	}))
	defer up.Close()

	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfg, []byte(demoConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLUICE_KEK", "")
	t.Setenv("SLUICE_KEK_FILE", "")
	// SSRF guard (S6): without --allow-private-upstreams an API-supplied
	// base_url on loopback is refused.
	guarded := start(t, "--config", cfg, "--data-dir", filepath.Join(dir, "guarded"))
	for _, bad := range []string{up.URL + "/v1", "http://169.254.169.254/latest", "http://[::1]/v1", "http://0x7f.1/v1", "http://10.0.0.8/v1"} {
		if code, out := call(t, "POST", guarded.base+"/admin/v1/providers", adminToken,
			`{"name":"x","type":"openai","base_url":"`+bad+`","api_key":"k"}`); code != 400 || !strings.Contains(fmt.Sprint(out), "invalid_base_url") {
			t.Fatalf("base_url %s: %d %v", bad, code, out)
		}
	}
	if err := guarded.stop(); err != nil {
		t.Fatal(err)
	}

	r := start(t, "--config", cfg, "--data-dir", data, "--allow-private-upstreams")
	if !strings.Contains(r.logs.String(), "generated a key-encryption key") {
		t.Fatalf("the generated KEK was not logged:\n%s", r.logs.String())
	}
	code, out := call(t, "POST", r.base+"/admin/v1/providers", adminToken,
		`{"name":"upstream","type":"openai","base_url":"`+up.URL+`/v1","api_key":"`+canary+`"}`)
	if code != 201 || out["api_key_last4"] != canary[len(canary)-4:] {
		t.Fatalf("create provider: %d %v", code, out)
	}

	// The file may now name it; a reload applies that.
	withModel := strings.Replace(demoConfig, "keys:", "  - {name: via-api, targets: [{provider: upstream, model: up-model}]}\nkeys:", 1)
	if err := os.WriteFile(cfg, []byte(withModel), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := call(t, "POST", r.base+"/admin/v1/reload", adminToken, ""); code != 200 {
		t.Fatalf("reload: %d %v", code, out)
	}
	chat := `{"model":"via-api","messages":[{"role":"user","content":"hi"}]}`
	if code, out := call(t, "POST", r.base+"/v1/chat/completions", "gw-test-app-key-000001", chat); code != 200 {
		t.Fatalf("chat through the stored provider: %d %v", code, out)
	}
	// A file provider may not take its name.
	clash := strings.Replace(withModel, "providers: [{name: demo, type: demo}]", "providers: [{name: demo, type: demo}, {name: upstream, type: demo}]", 1)
	if err := os.WriteFile(cfg, []byte(clash), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := call(t, "POST", r.base+"/admin/v1/reload", adminToken, ""); code != 422 || !strings.Contains(fmt.Sprint(out), "admin API") {
		t.Fatalf("reload with a clashing name: %d %v", code, out)
	}
	if err := os.WriteFile(cfg, []byte(withModel), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	// After a restart the key opens with the KEK from the data directory.
	r2 := start(t, "--config", cfg, "--data-dir", data, "--allow-private-upstreams")
	if code, out := call(t, "POST", r2.base+"/v1/chat/completions", "gw-test-app-key-000001", chat); code != 200 {
		t.Fatalf("chat after restart: %d %v", code, out)
	}
	if strings.Contains(r2.logs.String(), "generated a key-encryption key") {
		t.Fatal("a second start generated another KEK")
	}
	if err := r2.stop(); err != nil {
		t.Fatal(err)
	}
	// Without the flag, the stored provider's loopback URL is refused when
	// dialled: the upstream never sees the key.
	r3 := start(t, "--config", cfg, "--data-dir", data)
	if code, _ := call(t, "POST", r3.base+"/v1/chat/completions", "gw-test-app-key-000001", chat); code != 502 {
		t.Fatalf("chat to a loopback provider without the flag: %d, want 502", code)
	}
	if err := r3.stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(auths) != 2 || auths[0] != "Bearer "+canary || auths[1] != auths[0] {
		t.Fatalf("upstream saw Authorization %q, want the stored key twice", auths)
	}
	mu.Unlock()

	// Another KEK cannot open the stored key: the server refuses to start.
	t.Setenv("SLUICE_KEK", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	var logs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := Main(ctx, []string{"serve", "--listen", freeAddr(t), "--config", cfg, "--data-dir", data}, io.Discard, &logs)
	if err == nil || !strings.Contains(err.Error(), "key-encryption key") || !strings.Contains(err.Error(), `"upstream"`) {
		t.Fatalf("start with the wrong KEK: %v", err)
	}

	for where, s := range map[string]string{"logs": r.logs.String() + r2.logs.String() + logs.String() + err.Error()} {
		if strings.Contains(s, canary) {
			t.Fatalf("the provider key is in the %s", where)
		}
	}
	found := 0
	_ = filepath.WalkDir(data, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte(canary)) {
			t.Errorf("the provider key is in %s", path)
		}
		if bytes.Contains(b, []byte(`"upstream"`)) || bytes.Contains(b, []byte("upstream")) {
			found++
		}
		return nil
	})
	if found == 0 {
		t.Fatal("the scan found not even the provider's name: it cannot be trusted")
	}
}
