package app

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeHTTPServerFlag serves with each --http-server and checks a
// chat completion (lean path), a chunked upload (handed to net/http by the
// lean server) and a clean stop; an unknown value is refused.
func TestServeHTTPServerFlag(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "sluice.yaml")
	if err := os.WriteFile(cfg, []byte(demoConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	const body = `{"model":"alpha","messages":[{"role":"user","content":"hi"}]}`
	for _, server := range []string{"lean", "net"} {
		t.Run(server, func(t *testing.T) {
			r := start(t, "--config", cfg, "--data-dir", filepath.Join(t.TempDir(), "data"), "--http-server", server)
			for _, chunked := range []bool{false, true} {
				var rd io.Reader = strings.NewReader(body)
				if chunked {
					rd = io.MultiReader(rd) // no length: the client sends it chunked
				}
				req, _ := http.NewRequest("POST", r.base+"/v1/chat/completions", rd)
				req.Header.Set("Authorization", "Bearer gw-test-app-key-000001")
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(b), "chat.completion") {
					t.Fatalf("chunked %v: %d %s", chunked, resp.StatusCode, b)
				}
			}
			if err := r.stop(); err != nil {
				t.Fatalf("stop: %v", err)
			}
		})
	}
	t.Setenv("SLUICE_ADMIN_TOKEN", adminToken)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := Main(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data-dir",
		filepath.Join(t.TempDir(), "data"), "--http-server", "h2"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--http-server") {
		t.Fatalf("--http-server h2: %v", err)
	}
}
