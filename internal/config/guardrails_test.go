package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// guarded is the contract the external checks use, with attachments at
// every level.
const guarded = `
version: 1
providers: [{name: up, type: openai, base_url: "https://api.example.com/v1", api_key: x}]
guardrails:
  - {name: pii, type: pii, entities: [email, credit_card], action: mask, on: [input, output]}
  - {name: no-secrets, type: regex, patterns: ["sk-[A-Za-z0-9]{20,}"], action: block, on: [input]}
  - {name: banned, type: words, words: [frobnicate], action: log}
  - {name: hook, type: webhook, url: "https://hooks.example.com/check", timeout: 1s, fail: open, action: block}
  - {name: shape, type: json_schema, on: [output], schema: {type: object, required: [answer]}}
models:
  - name: gpt-4o-mini
    targets: [{provider: up, model: gpt-4o-mini}]
    guardrails: [pii, no-secrets]
    cache: {mode: exact, ttl: 60s}
  - name: paraphrased
    targets: [{provider: up, model: gpt-4o-mini}]
    cache: {mode: semantic, threshold: 0.95, embedding_model: embed, ttl: 60s}
  - name: embed
    targets: [{provider: up, model: text-embedding-3-small}]
orgs:
  - name: acme
    guardrails: [banned]
    teams:
      - name: search
        guardrails: [pii]
        applications:
          - {name: web, guardrails: [pii]}
keys:
  - {name: dev, key: gw-test-0123456789abcdef, guardrails: [banned]}
cache: {max_bytes: 1048576, scope: org}
`

func TestGuardrailsParse(t *testing.T) {
	f, err := Parse([]byte(guarded), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	g := f.Guardrails[0]
	if g.Name != "pii" || g.Action != "mask" || len(g.On) != 2 || g.Entities[1] != "credit_card" || f.Guardrails[1].Patterns[0] != "sk-[A-Za-z0-9]{20,}" {
		t.Fatalf("guardrails %+v", f.Guardrails)
	}
	m := f.Models[0]
	if m.Guardrails[1] != "no-secrets" || m.Cache.Mode != "exact" || time.Duration(m.Cache.TTL) != time.Minute {
		t.Fatalf("model %+v", m)
	}
	if c := f.Models[1].Cache; c.Mode != CacheSemantic || c.Threshold == nil || *c.Threshold != 0.95 || c.EmbeddingModel != "embed" || time.Duration(c.TTL) != time.Minute {
		t.Fatalf("semantic cache %+v", c)
	}
	if h := f.Guardrails[3]; h.URL != "https://hooks.example.com/check" || h.Fail != "open" || time.Duration(h.Timeout) != time.Second {
		t.Fatalf("webhook %+v", h)
	}
	if f.Cache.MaxBytes != 1<<20 || f.Cache.Scope != "org" || f.Keys[0].Guardrails[0] != "banned" || f.Orgs[0].Teams[0].Applications[0].Guardrails[0] != "pii" {
		t.Fatalf("cache %+v keys %+v", f.Cache, f.Keys)
	}
}

func TestGuardrailsProblems(t *testing.T) {
	tests := []struct{ old, new, path string }{
		{"guardrails: [pii, no-secrets]", "guardrails: [pii, nope]", "models[0].guardrails[1]"},
		{"type: words", "type: webhok", "guardrails[2].type"},
		{"{name: banned, type: words", "{name: pii, type: words", "guardrails[2].name"},
		{`"sk-[A-Za-z0-9]{20,}"`, `"sk-[A-Z"`, "guardrails[1]"},
		{"entities: [email, credit_card]", "entities: [email, blood_type]", "guardrails[0]"},
		{"action: log", "action: shout", "guardrails[2]"},
		{"on: [input]}", "on: [sideways]}", "guardrails[1]"},
		{"    guardrails: [banned]", "    guardrails: [nope]", "orgs[0].guardrails[0]"},
		{"        guardrails: [pii]", "        guardrails: [nope]", "orgs[0].teams[0].guardrails[0]"},
		{"{name: web, guardrails: [pii]}", "{name: web, guardrails: [nope]}", "orgs[0].teams[0].applications[0].guardrails[0]"},
		{"guardrails: [banned]}", "guardrails: [nope]}", "keys[0].guardrails[0]"},
		{"threshold: 0.95", "threshold: 0", "models[1].cache.threshold"},
		{"threshold: 0.95", "threshold: -0.5", "models[1].cache.threshold"},
		{"threshold: 0.95", "threshold: 1.01", "models[1].cache.threshold"},
		{"threshold: 0.95", "threshold: .nan", "models[1].cache.threshold"},
		{"embedding_model: embed,", "embedding_model: nope,", "models[1].cache.embedding_model"},
		{"threshold: 0.95, embedding_model: embed, ", "", "models[1].cache.embedding_model"},
		{"mode: semantic, threshold: 0.95, embedding_model: embed, ttl: 60s", "mode: semantic, embedding_model: embed, ttl: 25h", "models[1].cache.ttl"},
		{"mode: exact", "mode: fuzzy", "models[0].cache.mode"},
		{"ttl: 60s", "ttl: 48h", "models[0].cache.ttl"},
		{"scope: org", "scope: planet", "cache.scope"},
		{"max_bytes: 1048576", "max_bytes: -1", "cache.max_bytes"},
		{`url: "https://hooks.example.com/check"`, `url: "ftp://hooks.example.com"`, "guardrails[3].url"},
		{"fail: open", "fail: sideways", "guardrails[3].fail"},
		{"schema: {type: object,", "schema: {type: 5,", "guardrails[4].schema"},
		{"type: json_schema, on: [output]", "type: json_schema, on: [input]", "guardrails[4].on[0]"},
		{", schema: {type: object, required: [answer]}}", "}", "guardrails[4].schema"},
		{"timeout: 1s", "timeout: 60s", "guardrails[3].timeout"},
		{"fail: open, action: block}", "fail: open, action: mask}", "guardrails[3].action"},
		{"fail: open, action: block}", "fail: open, action: block, on: [input, output]}", "guardrails[3].on[1]"},
	}
	for _, tt := range tests {
		src := strings.Replace(guarded, tt.old, tt.new, 1)
		if src == guarded {
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
