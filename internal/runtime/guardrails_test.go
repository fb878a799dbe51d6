package runtime

import (
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
)

// Every guardrail attached to the model, the key, its application, team
// and organisation applies, each once, in that order.
func TestGuardrailsFor(t *testing.T) {
	g := func(name string) config.Guardrail {
		return config.Guardrail{Name: name, Type: "words", Words: []string{name}, Action: "log"}
	}
	f := &config.File{
		Guardrails: []config.Guardrail{g("m"), g("k"), g("a"), g("t"), g("o"), g("shared"),
			{Name: "hook", Type: "webhook", URL: "https://x.example/check", Fail: "open"}},
		Models: []config.Model{{Name: "chat", Guardrails: []string{"m", "shared"}}, {Name: "bare"}},
		Keys:   []config.Key{{Name: "dev", Guardrails: []string{"k", "shared"}}},
		Orgs: []config.Org{{Name: "acme", Guardrails: []string{"o", "hook"}, Teams: []config.Team{{Name: "web", Guardrails: []string{"t"},
			Applications: []config.App{{Name: "shop", Guardrails: []string{"a"}}}}}}},
	}
	s := &Snapshot{}
	if err := s.compileGovernance(&config.File{}, tenancy); err != nil {
		t.Fatal(err)
	}
	gs, err := s.compileGuardrails(f)
	if err != nil {
		t.Fatal(err)
	}
	inApp := &Key{Name: "dev", Source: "config", OrgID: "org_1", TeamID: "team_1", AppID: "app_1"}
	tests := []struct {
		name  string
		k     *Key
		model string
		want  []string
	}{
		{"every level", inApp, "chat", []string{"m", "shared", "k", "a", "t", "o"}},
		{"model without guardrails", inApp, "bare", []string{"k", "shared", "a", "t", "o"}},
		{"stored key of the same name", &Key{Name: "dev", Source: "api", OrgID: "org_1"}, "bare", []string{"o"}},
		{"nothing attached", &Key{Name: "other", Source: "config"}, "bare", nil},
		{"no key", nil, "chat", []string{"m", "shared"}},
	}
	for _, tc := range tests {
		var names []string
		for _, x := range gs.For(tc.k, tc.model) {
			names = append(names, x.Name())
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, names, tc.want)
		}
	}
	if hs := gs.Webhooks(inApp, "chat"); len(hs) != 1 || hs[0].Name != "hook" || !hs[0].FailOpen || hs[0].Timeout != DefaultWebhookTimeout {
		t.Errorf("webhooks %+v", hs)
	}
	if hs := gs.Webhooks(&Key{Name: "other", Source: "config"}, "chat"); len(hs) != 0 {
		t.Errorf("webhooks of a key outside acme: %+v", hs)
	}
	f.Models[1].Guardrails = []string{"nope"}
	if _, err := s.compileGuardrails(f); err == nil {
		t.Error("an unknown guardrail name compiled")
	}
}

func TestCacheSettings(t *testing.T) {
	f := &config.File{Cache: config.Cache{Scope: "global"}, Models: []config.Model{
		{Name: "exact", Cache: &config.ModelCache{Mode: "exact", TTL: config.Duration(time.Minute)}},
		{Name: "default-ttl", Cache: &config.ModelCache{Mode: "exact"}},
		{Name: "off", Cache: &config.ModelCache{Mode: "off"}},
		{Name: "none"},
	}}
	c := compileCache(f)
	if !c.Global || c.MaxBytes != DefaultCacheBytes {
		t.Fatalf("settings %+v", c)
	}
	tests := []struct {
		model string
		ttl   time.Duration
		ok    bool
	}{{"exact", time.Minute, true}, {"default-ttl", DefaultCacheTTL, true}, {"off", 0, false}, {"none", 0, false}}
	for _, tc := range tests {
		if ttl, ok := c.For(tc.model); ttl != tc.ttl || ok != tc.ok {
			t.Errorf("%s: %v %v, want %v %v", tc.model, ttl, ok, tc.ttl, tc.ok)
		}
	}
}
