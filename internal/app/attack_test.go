package app

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAttackFileWebhookTokenNotAudited: an organisation's notify_webhook
// declared in the file is audited when it is synced; the audit log is read
// by auditors, who may not read the webhook, so it must not carry the
// URL's token (the admin API records scheme and host only, as
// admin.AuditWebhookURL writes them).
func TestAttackFileWebhookTokenNotAudited(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "sluice.yaml")
	withHook := strings.Replace(productsYAML, "  - name: acme\n",
		"  - name: acme\n    notify_webhook: {url: \"https://hooks.example.com/acme?token=CANARY-file-tok\", secret: whsec-file-0123456789}\n", 1)
	if withHook == productsYAML {
		t.Fatal("no acme organisation in productsYAML")
	}
	if err := os.WriteFile(cfg, []byte(withHook), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "--config", cfg, "--data-dir", filepath.Join(t.TempDir(), "data"))
	req, _ := http.NewRequest("GET", r.base+"/admin/v1/audit?limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(b), "notify_webhook") {
		t.Fatalf("audit lacks the webhook's sync: %d %s", res.StatusCode, b)
	}
	if strings.Contains(string(b), "CANARY-file-tok") {
		t.Errorf("the audit log shows the webhook URL's token:\n%s", b)
	}
}
