package config

import (
	"errors"
	"strings"
	"testing"
)

const governed = `
version: 1
providers: [{name: demo, type: demo}]
models:
  - name: demo
    targets: [{provider: demo, model: demo-chat}]
    rpm: 1000
orgs:
  - name: acme
    budget: {amount_usd: 1000, period: monthly, alert_percents: [50, 80, 100]}
    teams:
      - name: search
        tpm: 100000
        applications:
          - {name: web, rpm: 60}
keys:
  - name: web-prod
    key: gw-test-0123456789abcdef
    application: acme/search/web
    endpoints: [chat, embeddings]
    source_networks: [10.0.0.0/8, 192.168.1.7]
alerts:
  webhook_url: https://hooks.example.com/sluice
access:
  trusted_proxies: [127.0.0.1/32]
  deny:
    - {roles: [developer], org: acme, actions: [keys.write]}
  oidc:
    issuer: https://idp.example.com
    client_id: sluice
    redirect_url: https://sluice.example.com/admin/v1/auth/oidc/callback
    role_claim: groups
    role_map:
      - {value: platform, role: owner, org: acme}
      - {value: search-devs, role: developer, org: acme, team: search}
`

func TestGovernanceParses(t *testing.T) {
	f, err := Parse([]byte(governed), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if f.Orgs[0].Budget.AlertPercents[1] != 80 || f.Orgs[0].Teams[0].Applications[0].RPM != 60 || f.Models[0].RPM != 1000 {
		t.Fatalf("decoded %+v", f.Orgs)
	}
	if f.Keys[0].Application != "acme/search/web" || f.Keys[0].SourceNetworks[1] != "192.168.1.7" {
		t.Fatalf("key %+v", f.Keys[0])
	}
}

func TestGovernanceProblems(t *testing.T) {
	tests := []struct{ old, new, path string }{
		{"application: acme/search/web", "application: acme/search/nope", "keys[0].application"},
		{"endpoints: [chat, embeddings]", "endpoints: [chat, admin]", "keys[0].endpoints[1]"},
		{"192.168.1.7]", "192.168.1.300]", "keys[0].source_networks[1]"},
		{"alert_percents: [50, 80, 100]", "alert_percents: [0]", "orgs[0].budget.alert_percents[0]"},
		{"{name: web, rpm: 60}", "{name: web, rpm: -1}", "orgs[0].teams[0].applications[0]"},
		{"roles: [developer]", "roles: [root]", "access.deny[0].roles[0]"},
		{"role: owner", "role: god", "access.oidc.role_map[0].role"},
		{"team: search}", "team: nope}", "access.oidc.role_map[1]"},
		{"trusted_proxies: [127.0.0.1/32]", "trusted_proxies: [localhost]", "access.trusted_proxies[0]"},
		{"    rpm: 1000", "    rpm: -5", "models[0]"},
		{"role_claim: groups", "role_claim: ''", "access.oidc.role_claim"},
		{"webhook_url: https://hooks.example.com/sluice", "webhook_url: ftp://x", "alerts.webhook_url"},
	}
	for _, tt := range tests {
		src := strings.Replace(governed, tt.old, tt.new, 1)
		if src == governed {
			t.Fatalf("%q not found", tt.old)
		}
		_, err := Parse([]byte(src), env(nil))
		var ps Problems
		if !errors.As(err, &ps) {
			t.Errorf("%s: want problems, got %v", tt.new, err)
			continue
		}
		found := false
		for _, p := range ps {
			found = found || p.Path == tt.path
		}
		if !found {
			t.Errorf("%s: want a problem at %s, got %v", tt.new, tt.path, ps)
		}
	}
}
