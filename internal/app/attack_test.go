package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
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

// TestAttackNoticeFailureLogsNoWebhookToken: a failed post to an
// organisation's webhook is logged and recorded on the notice; neither
// may carry the URL's query, which often holds the receiver's token
// (net/http's error quotes the whole URL).
func TestAttackNoticeFailureLogsNoWebhookToken(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateUnit(ctx, store.Unit{ID: "org_1", Kind: store.KindOrg, Name: "acme"}, store.AuditEntry{Actor: "t", Action: "org.create"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutOrgWebhook(ctx, store.OrgWebhook{OrgID: "org_1", URL: "http://127.0.0.1:1/hook?token=CANARY-notice-tok"}, 0, nil); err != nil {
		t.Fatal(err)
	}
	var logb bytes.Buffer
	s := &server{store: st, log: slog.New(slog.NewTextHandler(&logb, nil)), client: http.DefaultClient, allowPrivate: true}
	s.deliverNotice(ctx, store.Notice{SubscriptionID: "sub_1", Notice: "deprecated", OrgID: "org_1", Body: []byte(`{}`)}, time.Now())
	if !strings.Contains(logb.String(), "notice webhook failed") {
		t.Fatalf("no failure logged:\n%s", logb.String())
	}
	if strings.Contains(logb.String(), "CANARY-notice-tok") {
		t.Errorf("the log quotes the webhook's token:\n%s", logb.String())
	}
}
