package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestNodeSDK runs e2e/node/openai.test.mjs (the official openai@6 Node SDK) against
// the shared gateway.
func TestNodeSDK(t *testing.T) {
	if os.Getenv("SLUICE_E2E_SKIP_NODE") == "1" {
		t.Skip("SLUICE_E2E_SKIP_NODE=1")
	}
	if _, err := os.Stat(filepath.Join("node", "node_modules", "openai")); err != nil {
		t.Fatal("e2e/node/node_modules is missing: run `npm ci --prefix e2e/node` (or set SLUICE_E2E_SKIP_NODE=1)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed (set SLUICE_E2E_SKIP_NODE=1 to skip)")
	}
	g := sharedGateway(t)
	cmd := exec.CommandContext(ctxTimeout(t, 60*time.Second), node, "--test", "openai.test.mjs")
	cmd.Dir = "node"
	cmd.Env = append(os.Environ(),
		"SLUICE_BASE_URL="+g.URL+"/v1",
		"SLUICE_API_KEY="+devKey,
		"SLUICE_CHAT_MODEL=chat-small",
		"SLUICE_EMBED_MODEL=embed-small",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	t.Logf("node --test:\n%s", tail(string(out), 1500))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
