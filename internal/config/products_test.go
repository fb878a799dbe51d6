package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// productsFile carries the products block exactly as the documentation
// gives it.
const productsFile = `
version: 1
providers: [{name: demo, type: demo}]
models:
  - name: gpt-4o-mini
    targets: [{provider: demo, model: demo-chat}]
  - name: big
    targets: [{provider: demo, model: demo-chat}]
orgs:
  - name: acme
    notify_webhook: {url: "https://hooks.acme.example/sluice", secret: whsec-0123456789}
    teams:
      - name: search
products:
  - name: support
    team: acme/search
    visibility: internal
    versions:
      - {version: v1, models: [gpt-4o-mini], deprecated_at: 2026-12-01T00:00:00Z, sunset_at: 2030-01-01T00:00:00Z, successor: v2}
      - {version: v2, models: [gpt-4o-mini], aliases: {smart: big}, endpoints: [chat, messages]}
    plans:
      - {name: free, rpm: 10, approval: manual}
      - {name: open, rpm: 100, approval: auto, quota: 1000, quota_period: daily, versions: [v2], duration: 720h}
`

func TestProductsParse(t *testing.T) {
	f, err := Parse([]byte(productsFile), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	p := f.Products[0]
	if p.Name != "support" || p.Team != "acme/search" || p.Visibility != "internal" || len(p.Versions) != 2 || len(p.Plans) != 2 {
		t.Fatalf("decoded %+v", p)
	}
	v1 := p.Versions[0]
	if !v1.DeprecatedAt.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) || !v1.SunsetAt.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) || v1.Successor != "v2" {
		t.Fatalf("v1 %+v", v1)
	}
	if h := f.Orgs[0].NotifyWebhook; h == nil || h.URL != "https://hooks.acme.example/sluice" || h.Secret != "whsec-0123456789" {
		t.Fatalf("notify_webhook %+v", h)
	}
	if p.Plans[0].RPM != 10 || p.Plans[0].Approval != "manual" || p.Plans[1].Approval != "auto" || time.Duration(p.Plans[1].Duration) != 720*time.Hour {
		t.Fatalf("plans %+v", p.Plans)
	}
}

func TestProductsProblems(t *testing.T) {
	tests := []struct{ old, new, path string }{
		{"team: acme/search", "team: acme/nope", "products[0].team"},
		{"visibility: internal", "visibility: world", "products[0].visibility"},
		{"sunset_at: 2030-01-01T00:00:00Z", "sunset_at: 2026-11-30T00:00:00Z", "products[0].versions[0].sunset_at"},
		{"successor: v2}", "successor: v9}", "products[0].versions[0].successor"},
		{"successor: v2}", "successor: v1}", "products[0].versions[0].successor"},
		{"{version: v2, models: [gpt-4o-mini]", "{version: v1, models: [gpt-4o-mini]", "products[0].versions[1].version"},
		{"{version: v1, models: [gpt-4o-mini]", "{version: v1, models: [nope]", "products[0].versions[0].models[0]"},
		{"{version: v1, models: [gpt-4o-mini]", "{version: v1, models: []", "products[0].versions[0].models"},
		{"aliases: {smart: big}", "aliases: {smart: nope}", "products[0].versions[1].aliases.smart"},
		{"endpoints: [chat, messages]", "endpoints: [chat, embeddings]", "products[0].versions[1].endpoints[1]"},
		{"approval: manual", "approval: sometimes", "products[0].plans[0].approval"},
		{"{name: free, rpm: 10", "{name: free, rpm: -10", "products[0].plans[0]"},
		{"{name: open", "{name: free", "products[0].plans[1].name"},
		{"quota_period: daily", "quota_period: hourly", "products[0].plans[1].quota_period"},
		{"versions: [v2], duration", "versions: [v3], duration", "products[0].plans[1].versions[0]"},
		{"  - name: support", "  - name: sup/port", "products[0].name"},
		{"url: \"https://hooks.acme.example/sluice\"", "url: \"ftp://hooks.acme.example/x\"", "orgs[0].notify_webhook.url"},
		{"url: \"https://hooks.acme.example/sluice\"", "url: \"https:///nohost\"", "orgs[0].notify_webhook.url"},
		{"secret: whsec-0123456789", "secret: " + strings.Repeat("s", 513), "orgs[0].notify_webhook.secret"},
	}
	for _, tt := range tests {
		t.Run(tt.new, func(t *testing.T) {
			src := strings.Replace(productsFile, tt.old, tt.new, 1)
			if src == productsFile {
				t.Fatalf("%q not found", tt.old)
			}
			_, err := Parse([]byte(src), env(nil))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("want problems, got %v", err)
			}
			for _, p := range ps {
				if p.Path == tt.path {
					return
				}
			}
			t.Fatalf("want a problem at %s, got %v", tt.path, ps)
		})
	}
}
