package config

import (
	"bytes"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sluicehq/sluice/internal/guard"
)

// Guardrail declares one guardrail (the fields of guard.Spec). Models, keys,
// applications, teams and organisations attach guardrails by name; every
// guardrail attached to anything a request involves runs.
type Guardrail struct {
	Name string `yaml:"name"`
	// Type is pii, regex, words, injection, max_size or webhook.
	Type string `yaml:"type"`
	// Entities selects the pii detectors (all when empty).
	Entities []string `yaml:"entities"`
	// Patterns are the regex guardrail's expressions (RE2 syntax).
	Patterns []string `yaml:"patterns"`
	// Words are the words guardrail's terms (whole words, any case).
	Words []string `yaml:"words"`
	// MaxBytes bounds each text for max_size.
	MaxBytes int `yaml:"max_bytes"`
	// MaxMatch caps the length of a match of an unbounded pattern, which is
	// what a stream holds back at most (default 256).
	MaxMatch int `yaml:"max_match"`
	// Action is mask, block or log.
	Action string `yaml:"action"`
	// On lists the stages: input, output (default input).
	On []string `yaml:"on"`
	// Reversible masking restores placeholders in the response (never for
	// secrets).
	Reversible bool `yaml:"reversible"`

	// URL is the webhook guardrail's endpoint: it receives the request's
	// texts (after the other guardrails masked them) as a JSON POST and
	// answers {"action": "allow"} or {"action": "block", "reason": "..."}.
	URL string `yaml:"url"`
	// Headers are sent with each call (an authorization header, say).
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds each call (default 2s, at most 30s).
	Timeout Duration `yaml:"timeout"`
	// Fail is what a call that fails or times out does: closed (default:
	// the request is refused, 503) or open (the request goes on).
	Fail string `yaml:"fail"`

	// Schema is the json_schema guardrail's JSON Schema (draft 2020-12):
	// the answer's text must be a JSON document that it accepts.
	Schema JSONValue `yaml:"schema"`
}

// GuardrailTypes lists the accepted values of guardrails[].type.
var GuardrailTypes = []string{"pii", "regex", "words", "injection", "max_size", "webhook", "json_schema"}

// Webhook guardrail failure modes.
const (
	FailClosed = "closed"
	FailOpen   = "open"
)

// Spec is the guardrail as the guard engine takes it.
func (g Guardrail) Spec() guard.Spec {
	s := guard.Spec{Name: g.Name, Type: g.Type, Entities: g.Entities, Patterns: g.Patterns, Words: g.Words,
		MaxBytes: g.MaxBytes, MaxMatch: g.MaxMatch, Action: guard.Action(g.Action), Reversible: g.Reversible}
	for _, o := range g.On {
		s.On = append(s.On, guard.Stage(o))
	}
	return s
}

// Cache modes.
const (
	CacheExact    = "exact"
	CacheSemantic = "semantic"
)

// ModelCache is a model's response cache.
type ModelCache struct {
	// Mode is exact or semantic ("" or off disables the cache). Semantic
	// looks up the exact cache first, then answers a prompt similar enough
	// to one already answered.
	Mode string `yaml:"mode"`
	// TTL is how long an answer is kept (default 5m, at most 24h).
	TTL Duration `yaml:"ttl"`
	// Threshold is a semantic hit's least cosine similarity, in (0, 1]
	// (default 0.95).
	Threshold *float64 `yaml:"threshold"`
	// EmbeddingModel names the declared model that embeds prompts for the
	// semantic cache (required with mode semantic).
	EmbeddingModel string `yaml:"embedding_model"`
}

// Cache is the cache's shared settings.
type Cache struct {
	// MaxBytes bounds the in-memory store (default 64 MiB); with Redis,
	// Redis's own memory policy applies.
	MaxBytes int64 `yaml:"max_bytes"`
	// Scope is org (default: an answer is shared only within the
	// organisation that asked for it) or global (shared by every key).
	Scope string `yaml:"scope"`
}

// Cache scopes.
const (
	CacheScopeOrg    = "org"
	CacheScopeGlobal = "global"
)

// validateGuardrails checks the guardrails, the names that attach them,
// and the cache settings.
func (f *File) validateGuardrails(add func(path, format string, args ...any)) {
	names := map[string]bool{}
	for i, g := range f.Guardrails {
		at := fmt.Sprintf("guardrails[%d]", i)
		switch {
		case !validName(g.Name):
			add(at+".name", "must be 1-64 characters of letters, digits, '-', '_' or '.'")
		case names[g.Name]:
			add(at+".name", "duplicate guardrail name %q", g.Name)
		}
		names[g.Name] = true
		if !slices.Contains(GuardrailTypes, g.Type) {
			add(at+".type", "must be one of %s", strings.Join(GuardrailTypes, ", "))
			continue
		}
		if g.Name == "" {
			continue
		}
		if g.Type == "webhook" {
			g.validateWebhook(at, add)
			continue
		}
		if g.Type == "json_schema" {
			g.validateSchema(at, add)
			continue
		}
		if _, err := guard.Compile(g.Spec()); err != nil {
			add(at, "%s", strings.TrimPrefix(err.Error(), "guardrail "+g.Name+": "))
		}
	}
	attached := func(at string, list []string) {
		for j, n := range list {
			if !names[n] {
				add(fmt.Sprintf("%s.guardrails[%d]", at, j), "no guardrail named %q", n)
			}
		}
	}
	for i, m := range f.Models {
		at := fmt.Sprintf("models[%d]", i)
		attached(at, m.Guardrails)
		if c := m.Cache; c != nil {
			switch c.Mode {
			case CacheExact, "", "off":
			case CacheSemantic:
				if t := c.Threshold; t != nil && (math.IsNaN(*t) || *t <= 0 || *t > 1) {
					add(at+".cache.threshold", "must be in (0, 1] (absent means 0.95)")
				}
				if !slices.ContainsFunc(f.Models, func(m Model) bool { return m.Name == c.EmbeddingModel }) {
					add(at+".cache.embedding_model", "no model named %q (name a declared model that serves embeddings)", c.EmbeddingModel)
				}
			default:
				add(at+".cache.mode", "must be exact, semantic or off")
			}
			if d := time.Duration(c.TTL); d < 0 || d > 24*time.Hour {
				add(at+".cache.ttl", "must be between 0 and 24h")
			}
		}
	}
	for i, k := range f.Keys {
		attached(fmt.Sprintf("keys[%d]", i), k.Guardrails)
	}
	for i, o := range f.Orgs {
		at := fmt.Sprintf("orgs[%d]", i)
		attached(at, o.Guardrails)
		for j, t := range o.Teams {
			at := fmt.Sprintf("%s.teams[%d]", at, j)
			attached(at, t.Guardrails)
			for k, a := range t.Applications {
				attached(fmt.Sprintf("%s.applications[%d]", at, k), a.Guardrails)
			}
		}
	}
	switch f.Cache.Scope {
	case "", CacheScopeOrg, CacheScopeGlobal:
	default:
		add("cache.scope", "must be org or global")
	}
	if f.Cache.MaxBytes < 0 {
		add("cache.max_bytes", "must not be negative")
	}
}

func (g Guardrail) validateWebhook(at string, add func(path, format string, args ...any)) {
	if u, err := url.Parse(g.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add(at+".url", "must be an absolute http:// or https:// URL")
	}
	if d := time.Duration(g.Timeout); d < 0 || d > 30*time.Second {
		add(at+".timeout", "must be between 0 and 30s")
	}
	switch g.Fail {
	case "", FailClosed, FailOpen:
	default:
		add(at+".fail", "must be open or closed")
	}
	switch g.Action {
	case "", "block", "log":
	default:
		add(at+".action", "a webhook blocks or logs (block or log)")
	}
	for j, o := range g.On {
		if o != "input" {
			add(fmt.Sprintf("%s.on[%d]", at, j), "a webhook runs on input only")
		}
	}
	for k, v := range g.Headers {
		if strings.ContainsAny(k+v, "\r\n\x00") {
			add(at+".headers", "must not contain control characters")
		}
	}
}

func (g Guardrail) validateSchema(at string, add func(path, format string, args ...any)) {
	if len(g.Schema) == 0 {
		add(at+".schema", "required for type json_schema")
	} else if _, err := CompileSchema(g.Schema); err != nil {
		add(at+".schema", "%v", err)
	}
	switch g.Action {
	case "", "block", "log":
	default:
		add(at+".action", "a json_schema guardrail blocks or logs (block or log)")
	}
	for j, o := range g.On {
		if o != "output" {
			add(fmt.Sprintf("%s.on[%d]", at, j), "a json_schema guardrail runs on output only")
		}
	}
}

// CompileSchema compiles a json_schema guardrail's schema (draft 2020-12
// unless it names another; no remote references).
func CompileSchema(raw []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("schema is not valid JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	if err := c.AddResource("sluice:guardrail-schema", doc); err != nil {
		return nil, err
	}
	return c.Compile("sluice:guardrail-schema")
}

// noLoader refuses every remote reference.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("remote schema %q is not loaded", url)
}
