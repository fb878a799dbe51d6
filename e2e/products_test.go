package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"
)

var productKey = "gw-test-CANARY-product-" + randHex(8)

// productsConfig is the suite's configuration with an application, its key
// and the products block exactly as docs/products.md gives it.
func productsConfig() string {
	return configYAML(fakeURL) + fmt.Sprintf(`  - name: bot
    key: %s
    application: acme/search/bot
orgs:
  - name: acme
    teams:
      - name: search
        applications: [{name: bot}]
products:
  - name: support
    team: acme/search
    visibility: internal
    versions:
      - {version: v1, models: [gpt-4o-mini], deprecated_at: 2026-12-01T00:00:00Z, sunset_at: 2030-01-01T00:00:00Z, successor: v2}
      - {version: v2, models: [gpt-4o-mini]}
    plans:
      - {name: free, rpm: 10, approval: manual}
      - {name: open, rpm: 100, approval: auto}
`, productKey)
}

// adminJSON sends an admin request with the bootstrap token and returns the
// status and the body.
func adminJSON(t *testing.T, g *gateway, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, g.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestProducts walks the contract with the official OpenAI SDK on a
// product base URL: 403 before approval, 200 after, the deprecation
// headers on v1, the ledger's product columns, an emergency stop and the
// version's OpenAPI document.
func TestProducts(t *testing.T) {
	cfg := strings.Replace(productsConfig(), "models:\n", "models:\n  - name: gpt-4o-mini\n    targets: [{provider: up, model: fake-model-1}]\n", 1)
	g, err := newGatewayWithConfig("products", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log tail:\n%s", g.log.tail(6000))
		}
		g.kill()
	})
	client := func(version string) *openai.Client {
		c := openai.NewClient(option.WithBaseURL(g.URL+"/products/support/"+version+"/v1"), option.WithAPIKey(productKey),
			option.WithMaxRetries(0), option.WithRequestTimeout(30*time.Second))
		return &c
	}
	chat := func(version string) (*http.Response, error) {
		var resp *http.Response
		_, err := client(version).Chat.Completions.New(ctxTimeout(t, 10*time.Second), openai.ChatCompletionNewParams{
			Model:    "gpt-4o-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello product")},
		}, option.WithResponseInto(&resp))
		return resp, err
	}
	refused := func(err error, status int, code string) {
		t.Helper()
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != status || apiErr.Code != code || !strings.Contains(apiErr.Message, "support") {
			t.Fatalf("want %d %s naming the product, got %v", status, code, err)
		}
	}

	// No subscription, then a pending one.
	_, err = chat("v2")
	refused(err, 403, "no_subscription")
	code, body := adminJSON(t, g, "POST", "/admin/v1/subscriptions", `{"application":"acme/search/bot","product":"support","plan":"free","reason":"support bot"}`)
	if code != 201 || gjson.Get(body, "state").String() != "pending" {
		t.Fatalf("subscribe: %d %s", code, body)
	}
	id := gjson.Get(body, "id").String()
	_, err = chat("v2")
	refused(err, 403, "subscription_pending")

	// Approved: admitted at once on this node.
	code, body = adminJSON(t, g, "POST", "/admin/v1/subscriptions/"+id+"/approve", `{"note":"ok"}`)
	if code != 200 || gjson.Get(body, "state").String() != "active" {
		t.Fatalf("approve: %d %s", code, body)
	}
	resp, err := chat("v2")
	if err != nil {
		t.Fatalf("after approval: %v", err)
	}
	if resp.Header.Get("Deprecation") != "" {
		t.Fatalf("v2 is not deprecated: %v", resp.Header)
	}
	reqID := resp.Header.Get("X-Request-Id")

	// v1 is deprecated: Deprecation, Sunset and Link headers.
	resp, err = chat("v1")
	if err != nil {
		t.Fatalf("v1: %v", err)
	}
	links := strings.Join(resp.Header.Values("Link"), ", ")
	if resp.Header.Get("Deprecation") != "@1796083200" || resp.Header.Get("Sunset") != "Tue, 01 Jan 2030 00:00:00 GMT" ||
		!strings.Contains(links, `rel="deprecation"`) || !strings.Contains(links, `rel="sunset"`) ||
		!strings.Contains(links, `/products/support/v2/v1>; rel="successor-version"`) {
		t.Fatalf("v1 headers: %v", resp.Header)
	}

	// The ledger row names the product, version, plan and subscription.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body = adminJSON(t, g, "GET", "/admin/v1/requests?limit=20", "")
		row := ""
		for _, r := range gjson.Get(body, "data").Array() {
			if r.Get("request_id").String() == reqID {
				row = r.Raw
			}
		}
		if row != "" {
			if gjson.Get(row, "product").String() != "support" || gjson.Get(row, "product_version").String() != "v2" ||
				gjson.Get(row, "plan").String() != "free" || gjson.Get(row, "subscription_id").String() != id {
				t.Fatalf("ledger row %s", row)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ledger row %s in %s", reqID, body)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Emergency stop of v2: 503 naming the reason; resumed: 200.
	if code, body = adminJSON(t, g, "POST", "/admin/v1/products/support/versions/v2/suspend", `{"reason":"leaking the system prompt"}`); code != 200 {
		t.Fatalf("suspend: %d %s", code, body)
	}
	_, err = chat("v2")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || !strings.Contains(apiErr.Message, "leaking the system prompt") {
		t.Fatalf("stopped: %v", err)
	}
	if code, body = adminJSON(t, g, "POST", "/admin/v1/products/support/versions/v2/resume", ""); code != 200 {
		t.Fatalf("resume: %d %s", code, body)
	}
	if _, err = chat("v2"); err != nil {
		t.Fatalf("resumed: %v", err)
	}

	// The version's models and OpenAPI document.
	page, err := client("v2").Models.List(ctxTimeout(t, 10*time.Second))
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != "gpt-4o-mini" {
		t.Fatalf("models: %+v %v", page, err)
	}
	req, _ := http.NewRequest("GET", g.URL+"/products/support/v2/openapi.json", nil)
	req.Header.Set("Authorization", "Bearer "+productKey)
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	var parsed map[string]any
	if hr.StatusCode != 200 || json.Unmarshal(doc, &parsed) != nil || parsed["openapi"] != "3.1.0" || !bytes.Contains(doc, []byte(`"gpt-4o-mini"`)) {
		t.Fatalf("openapi.json: %d %s", hr.StatusCode, doc)
	}

	// The file's product is read-only through the API; its subscriptions are not.
	if code, body = adminJSON(t, g, "PATCH", "/admin/v1/products/support", `{"title":"x"}`); code != 409 || !strings.Contains(body, "read_only") {
		t.Fatalf("patch a declared product: %d %s", code, body)
	}
}
