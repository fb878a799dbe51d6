package runtime

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/provider/openai"
	"github.com/sluicehq/sluice/internal/route"
	"github.com/sluicehq/sluice/internal/store"
)

func compile(t *testing.T, f *config.File, stored []store.KeyRecord, reg *route.Registry) (*Snapshot, error) {
	t.Helper()
	return Compile(Inputs{File: f, StoredKeys: stored, Health: reg,
		Registry: provider.Registry{"openai": func(s provider.Spec) (provider.Adapter, error) {
			return openai.New(openai.Options{Name: s.Name, BaseURL: s.BaseURL, Timeout: s.Timeout}), nil
		}},
		Provider: func(p config.Provider) provider.Spec {
			return provider.Spec{Name: p.Name, Type: p.Type, BaseURL: p.BaseURL, APIKey: p.APIKey}
		}})
}

func TestCompile(t *testing.T) {
	budget := 2.5
	f := &config.File{Version: 1,
		Providers: []config.Provider{
			{Name: "a", Type: "openai", BaseURL: "http://a/v1", Timeouts: config.Timeouts{FirstByte: config.Duration(time.Second)}, RetryOn: []int{500}},
			{Name: "b", Type: "openai", BaseURL: "http://b/v1", APIKeys: []string{"k1", "k2"}},
		},
		Models: []config.Model{{Name: "m", Routing: config.Routing{Policy: "weighted"},
			Targets: []config.Target{{Provider: "a", Model: "x", Weight: 3}, {Provider: "b", Model: "y", Weight: 1}},
			Routes:  []config.Route{{Name: "long", Match: config.Match{MinInputTokens: 10}, Targets: []config.Target{{Provider: "b", Model: "z"}}}}}},
		Keys: []config.Key{{Name: "dev", Key: "gw-test-0123456789abcdef", Models: []string{"m"},
			Limits: config.Limits{RPM: 5, Budget: &config.Budget{AmountUSD: budget}}}},
	}
	reg := route.NewRegistry(route.HealthOptions{})
	revoked := time.Now()
	h := auth.HashKey("gw-live-stored-key-000000")
	s, err := compile(t, f, []store.KeyRecord{
		{ID: "key_1", Name: "api", Hash: hex.EncodeToString(h[:]), TPM: 7},
		{ID: "key_2", Name: "gone", Hash: hex.EncodeToString(make([]byte, 32)), RevokedAt: &revoked},
	}, reg)
	if err != nil {
		t.Fatal(err)
	}
	m := s.Models["m"]
	if m.Default.Router.Policy() != route.Weighted || len(m.Default.Targets) != 2 || len(m.Routes) != 1 || m.Routes[0].Name != "long" {
		t.Fatalf("model %+v", m)
	}
	ta, tb := m.Default.Targets[0], m.Default.Targets[1]
	if ta.Timeouts.FirstByte != time.Second || ta.Timeouts.Stall != DefaultStall || !ta.RetryOn[500] || ta.RetryOn[503] {
		t.Fatalf("target a %+v", ta)
	}
	if tb.Keys == nil || !tb.RetryOn[503] || ta.Keys != nil {
		t.Fatal("key pool or default retry_on missing")
	}
	if m.Default.MaxAttempts != 2 || m.Default.Sticky != "key" {
		t.Fatalf("route defaults %+v", m.Default)
	}
	k := s.Keys[auth.HashKey("gw-test-0123456789abcdef")]
	if k == nil || !k.Allows("m") || k.Allows("other") || k.Limits.RPM != 5 || k.Limits.BudgetMicros != 2_500_000 || k.Limits.BudgetPeriod != "monthly" {
		t.Fatalf("declared key %+v", k)
	}
	if sk := s.Keys[h]; sk == nil || sk.Limits.TPM != 7 || !sk.Allows("anything") {
		t.Fatalf("stored key %+v", sk)
	}
	if len(s.Keys) != 2 {
		t.Fatalf("a revoked key was compiled in: %d keys", len(s.Keys))
	}
	// Health survives a recompile: the same registry gives the same record.
	s2, _ := compile(t, f, nil, reg)
	if s2.Models["m"].Default.Targets[0].Health != ta.Health {
		t.Fatal("health was not kept across compiles")
	}
	// The key pool rotates.
	seen := map[string]bool{}
	for range 4 {
		_, key := tb.Keys.Pick()
		seen[key] = true
	}
	if !seen["k1"] || !seen["k2"] {
		t.Fatalf("pool picked %v", seen)
	}
}

func TestKeyExpiry(t *testing.T) {
	exp := time.Now().Add(time.Hour)
	k := keyFromConfig(config.Key{Name: "e", Key: "x", ExpiresAt: &exp}, "id")
	if k.Expired(time.Now()) || !k.Expired(exp) {
		t.Fatal("expiry")
	}
}
