package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store/storetest"
)

const productKeyValue = "gw-test-product-bot-0001"

func productsServerConfig(t *testing.T) string {
	cfg := filepath.Join(t.TempDir(), "sluice.yaml")
	// Plan legacy (v1 only) is the target of plan changes.
	plans := strings.Replace(productsYAML, "      - {name: open, rpm: 100, approval: auto}\n",
		"      - {name: open, rpm: 100, approval: auto}\n      - {name: legacy, versions: [v1], approval: manual}\n", 1)
	body := plans + "keys:\n  - {name: bot, key: " + productKeyValue + ", application: acme/search/bot}\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// cli runs a sluice command with --json against SLUICE_SERVER and decodes
// what it prints.
func cli(t *testing.T, args ...string) any {
	t.Helper()
	var out, errb bytes.Buffer
	if err := Main(context.Background(), append(args, "--json"), &out, &errb); err != nil {
		t.Fatalf("sluice %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	var v any
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("sluice %s printed %q", strings.Join(args, " "), out.String())
	}
	return v
}

const productChat = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`

// TestProductCommands drives a subscription through the CLI against a
// running server: requested (403 pending), approved (200), the version
// stopped (503 with the reason) and resumed.
func TestProductCommands(t *testing.T) {
	r := start(t, "--config", productsServerConfig(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	t.Setenv("SLUICE_SERVER", r.base)
	url := r.base + "/products/support/v2/v1/chat/completions"
	expect := func(want int, code string) {
		t.Helper()
		got, out := call(t, "POST", url, productKeyValue, productChat)
		if got != want || (code != "" && !strings.Contains(mustMarshal(out), code)) {
			t.Fatalf("got %d %v, want %d %s", got, out, want, code)
		}
	}
	expect(403, "no_subscription")
	sub := cli(t, "subscriptions", "create", "--app", "acme/search/bot", "--product", "support", "--plan", "free", "--reason", "bot").(map[string]any)
	if sub["state"] != "pending" {
		t.Fatalf("create: %v", sub)
	}
	expect(403, "subscription_pending")
	if got := cli(t, "subscriptions", "approve", sub["id"].(string), "--note", "fine").(map[string]any); got["state"] != "active" || got["note"] != "fine" {
		t.Fatalf("approve: %v", got)
	}
	expect(200, "")
	cli(t, "products", "suspend", "support", "v2", "--reason", "bad answers")
	expect(503, "bad answers")
	cli(t, "products", "resume", "support", "v2")
	expect(200, "")
	// The plan changes with the same key: legacy does not include v2.
	if got := cli(t, "subscriptions", "plan", sub["id"].(string), "--plan", "legacy").(map[string]any); got["plan"] != "legacy" ||
		got["application_path"] != "acme/search/bot" {
		t.Fatalf("plan change: %v", got)
	}
	expect(403, "version_not_in_plan")
	cli(t, "subscriptions", "plan", sub["id"].(string), "--plan", "free")
	expect(200, "")
	cli(t, "subscriptions", "suspend", sub["id"].(string))
	expect(403, "subscription_suspended")
	if list := cli(t, "subscriptions", "list", "--product", "support").([]any); len(list) != 1 {
		t.Fatalf("list: %v", list)
	}
	if list := cli(t, "products", "list").([]any); len(list) != 1 {
		t.Fatalf("products: %v", list)
	}
	// Who still calls v2: the bot's key, with its successful requests.
	deadline := time.Now().Add(5 * time.Second)
	for {
		callers := cli(t, "products", "callers", "support", "--version", "v2").([]any)
		if len(callers) == 1 && callers[0].(map[string]any)["requests"].(float64) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("callers: %v", callers)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustMarshal(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestProductApprovalAcrossNodes: two nodes on one PostgreSQL; an approval
// made on one admits the application on the other within a second, and an
// emergency stop on one refuses on the other within a second.
func TestProductApprovalAcrossNodes(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	if dsn == "" {
		t.Skip("SLUICE_TEST_POSTGRES_DSN is not set")
	}
	cfg := productsServerConfig(t)
	a := start(t, "--config", cfg, "--data-dir", filepath.Join(t.TempDir(), "a"), "--db", dsn)
	b := start(t, "--config", cfg, "--data-dir", filepath.Join(t.TempDir(), "b"), "--db", dsn)
	t.Setenv("SLUICE_SERVER", a.base)
	sub := cli(t, "subscriptions", "create", "--app", "acme/search/bot", "--product", "support", "--plan", "free").(map[string]any)
	urlB := b.base + "/products/support/v2/v1/chat/completions"
	waitFor := func(want int) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			got, out := call(t, "POST", urlB, productKeyValue, productChat)
			if got == want {
				return time.Since(start)
			}
			if time.Since(start) > 3*time.Second {
				t.Fatalf("node B still answers %d %v", got, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor(403)
	cli(t, "subscriptions", "approve", sub["id"].(string))
	d := waitFor(200)
	t.Logf("approval on node A admitted on node B after %v", d)
	if d > time.Second {
		t.Fatalf("node B admitted the approval after %v, want within 1s", d)
	}
	// A plan change on node A applies on node B with the same key: plan
	// legacy allows v1 only.
	if got := cli(t, "subscriptions", "plan", sub["id"].(string), "--plan", "legacy").(map[string]any); got["plan"] != "legacy" {
		t.Fatalf("plan change: %v", got)
	}
	d = waitFor(403)
	t.Logf("plan change on node A applied on node B after %v", d)
	if d > time.Second {
		t.Fatalf("node B applied the plan change after %v, want within 1s", d)
	}
	cli(t, "products", "suspend", "support", "v2", "--reason", "incident")
	d = waitFor(503)
	t.Logf("stop on node A refused on node B after %v", d)
	if d > time.Second {
		t.Fatalf("node B stopped after %v, want within 1s", d)
	}
}

// TestEmergencyStopEndsStreamsAcrossNodes: two nodes on one PostgreSQL; a
// stream running on node B ends with the error event naming the stop
// within about a second of an emergency stop made on node A, with no
// [DONE].
func TestEmergencyStopEndsStreamsAcrossNodes(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	if dsn == "" {
		t.Skip("SLUICE_TEST_POSTGRES_DSN is not set")
	}
	cfg := productsServerConfig(t)
	a := start(t, "--config", cfg, "--data-dir", filepath.Join(t.TempDir(), "a"), "--db", dsn)
	b := start(t, "--config", cfg, "--data-dir", filepath.Join(t.TempDir(), "b"), "--db", dsn)
	t.Setenv("SLUICE_SERVER", a.base)
	cli(t, "subscriptions", "create", "--app", "acme/search/bot", "--product", "support", "--plan", "open")
	// The demo model echoes the prompt a word every 15 ms: 600 words stream
	// for about nine seconds.
	prompt := strings.Repeat("word ", 600)
	body := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"` + prompt + `"}]}`
	var resp *http.Response
	deadline := time.Now().Add(3 * time.Second)
	for {
		req, _ := http.NewRequest("POST", b.base+"/products/support/v2/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+productKeyValue)
		req.Header.Set("Content-Type", "application/json")
		var err error
		if resp, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 200 {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("node B did not admit the subscription: %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer resp.Body.Close()
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	if first, ok := <-lines; !ok || !strings.HasPrefix(first, "data: ") {
		t.Fatalf("the stream did not start: %q", first)
	}
	stoppedAt := time.Now()
	cli(t, "products", "suspend", "support", "v2", "--reason", "incident")
	var ended time.Duration
	var errEvent string
	for l := range lines {
		if l == "data: [DONE]" {
			t.Fatal("the stream finished with [DONE]: the stop on node A did not end it on node B")
		}
		if strings.Contains(l, `"error"`) {
			ended, errEvent = time.Since(stoppedAt), l
		}
	}
	t.Logf("stop on node A ended node B's stream after %v: %s", ended, errEvent)
	if errEvent == "" || !strings.Contains(errEvent, "Product support v2 is suspended: incident") {
		t.Fatalf("no error event naming the stop: %q", errEvent)
	}
	if ended > 1500*time.Millisecond {
		t.Fatalf("node B's stream ended %v after the stop on node A, want about 1s", ended)
	}
}

// TestProductQuotaSurvivesRestart: a plan's request quota held in memory
// (no Redis) is seeded from the ledger when the node starts again, so a
// restart does not give an exhausted quota back.
func TestProductQuotaSurvivesRestart(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "sluice.yaml")
	body := strings.Replace(productsYAML, "{name: open, rpm: 100, approval: auto}", "{name: open, quota: 2, quota_period: total, approval: auto}", 1) +
		"keys:\n  - {name: bot, key: " + productKeyValue + ", application: acme/search/bot}\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")
	r := start(t, "--config", cfg, "--data-dir", data)
	t.Setenv("SLUICE_SERVER", r.base)
	sub := cli(t, "subscriptions", "create", "--app", "acme/search/bot", "--product", "support", "--plan", "open").(map[string]any)
	url := "/products/support/v2/v1/chat/completions"
	var codes []int
	for range 3 {
		got, _ := call(t, "POST", r.base+url, productKeyValue, productChat)
		codes = append(codes, got)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 {
		t.Fatalf("quota 2: %v", codes)
	}
	// The subscription reads its standing against the quota (the refused
	// third request does not count), alone and in a list with usage=true.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, one := call(t, "GET", r.base+"/admin/v1/subscriptions/"+sub["id"].(string), adminToken, "")
		_, list := call(t, "GET", r.base+"/admin/v1/subscriptions?usage=true&app_id="+sub["application"].(string), adminToken, "")
		want := `{"left":0,"limit":2,"period":"total","used":2}`
		rows, _ := list["data"].([]any)
		if q := one["quota"]; mustMarshal(q) == want && len(rows) == 1 && mustMarshal(rows[0].(map[string]any)["quota"]) == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("quota standing: %v and %v, want %s in both", one, list, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	r2 := start(t, "--config", cfg, "--data-dir", data)
	got, out := call(t, "POST", r2.base+url, productKeyValue, productChat)
	if got != 429 || !strings.Contains(mustMarshal(out), "quota_exceeded") {
		t.Fatalf("after a restart: %d %v, want 429 quota_exceeded", got, out)
	}
}

// TestOrgWebhookCommands: an organisation's notification webhook through
// the CLI and the admin API: a loopback URL is refused (SSRF guard), the
// secret is never shown, every change is audited, and a plan name that
// the product lacks is refused.
func TestOrgWebhookCommands(t *testing.T) {
	r := start(t, "--config", productsServerConfig(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	t.Setenv("SLUICE_SERVER", r.base)
	var out, errb bytes.Buffer
	err := Main(context.Background(), []string{"org-webhook", "set", "acme", "--url", "http://127.0.0.1:9/hook", "--json"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "url is not allowed") {
		t.Fatalf("a loopback webhook: %v %s %s", err, out.String(), errb.String())
	}
	got := cli(t, "org-webhook", "set", "acme", "--url", "https://hooks.example.com/sluice", "--secret", "whsec-0123456789abcd").(map[string]any)
	if got["url"] != "https://hooks.example.com/sluice" || got["has_secret"] != true || got["secret_last4"] != "abcd" ||
		strings.Contains(mustMarshal(got), "whsec-0123456789") {
		t.Fatalf("set: %v", got)
	}
	// Without --secret the stored one stays.
	if got = cli(t, "org-webhook", "set", "acme", "--url", "https://hooks.example.com/other").(map[string]any); got["has_secret"] != true {
		t.Fatalf("set without a secret: %v", got)
	}
	if got = cli(t, "org-webhook", "show", "acme").(map[string]any); got["url"] != "https://hooks.example.com/other" || got["source"] != "api" {
		t.Fatalf("show: %v", got)
	}
	cli(t, "org-webhook", "delete", "acme")
	if err := Main(context.Background(), []string{"org-webhook", "show", "acme", "--json"}, &out, &errb); err == nil {
		t.Fatal("show after delete: no error")
	}
	org := got["org_id"].(string)
	code, audit := call(t, "GET", r.base+"/admin/v1/audit?org_id="+org+"&object_type=org", adminToken, "")
	var actions []string
	for _, e := range asList(audit["data"]) {
		actions = append(actions, str(e["action"]))
		if strings.Contains(mustMarshal(e), "whsec-") {
			t.Fatalf("the secret is in the audit log: %v", e)
		}
	}
	if code != 200 || strings.Join(actions, " ") != "org.notify_webhook.delete org.notify_webhook.set org.notify_webhook.set" {
		t.Fatalf("audit %d %v", code, actions)
	}
	sub := cli(t, "subscriptions", "create", "--app", "acme/search/bot", "--product", "support", "--plan", "free").(map[string]any)
	if err := Main(context.Background(), []string{"subscriptions", "plan", sub["id"].(string), "--plan", "nope", "--json"}, &out, &errb); err == nil {
		t.Fatal("a plan the product lacks: no error")
	}
}
