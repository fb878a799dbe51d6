package runtime

import (
	"fmt"
	"slices"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/guard"
)

// Guardrails are the compiled guardrails and where they are attached.
type Guardrails struct {
	byName   map[string]*guard.Guard
	webhooks map[string]*Webhook
	schemas  map[string]*SchemaGuard
	models   map[string][]string // by model name
	keys     map[string][]string // by declared key name
	units    map[string][]string // by organisation, team or application id
}

// Webhook is a guardrail that asks an external service.
type Webhook struct {
	Name    string
	URL     string
	Headers map[string]string
	Timeout time.Duration
	// FailOpen lets a request go on when the call fails.
	FailOpen bool
	// LogOnly records the service's block without refusing.
	LogOnly bool
}

// SchemaGuard is a guardrail that checks an answer's text against a JSON
// Schema.
type SchemaGuard struct {
	Name   string
	Schema *jsonschema.Schema
	// LogOnly records a mismatch without refusing the answer.
	LogOnly bool
}

// DefaultWebhookTimeout bounds a webhook call when the file gives none.
const DefaultWebhookTimeout = 2 * time.Second

// names lists the guardrail names that apply to a request of key k for
// model: the model's, the key's, its application's, team's and
// organisation's, in that order, each once.
func (g *Guardrails) names(k *Key, model string) []string {
	if g == nil {
		return nil
	}
	var out []string
	add := func(ns []string) {
		for _, n := range ns {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	add(g.models[model])
	if k != nil {
		if k.Source == "config" {
			add(g.keys[k.Name])
		}
		for _, id := range [...]string{k.AppID, k.TeamID, k.OrgID} {
			if id != "" {
				add(g.units[id])
			}
		}
	}
	return out
}

// Applying are the guardrails that apply to one request, by kind.
type Applying struct {
	Guards   []*guard.Guard // built-in checks
	Webhooks []*Webhook
	Schemas  []*SchemaGuard // json_schema checks of the answer
}

// Empty reports that no guardrail applies.
func (a Applying) Empty() bool {
	return len(a.Guards) == 0 && len(a.Webhooks) == 0 && len(a.Schemas) == 0
}

// Applying returns the guardrails that apply to a request of key k for
// model (see names), each kind in the same order; the names are worked
// out once per request.
func (g *Guardrails) Applying(k *Key, model string) Applying {
	var a Applying
	for _, n := range g.names(k, model) {
		if x := g.byName[n]; x != nil {
			a.Guards = append(a.Guards, x)
		}
		if x := g.webhooks[n]; x != nil {
			a.Webhooks = append(a.Webhooks, x)
		}
		if x := g.schemas[n]; x != nil {
			a.Schemas = append(a.Schemas, x)
		}
	}
	return a
}

// For returns the built-in guardrails that apply (Applying's Guards).
func (g *Guardrails) For(k *Key, model string) []*guard.Guard { return g.Applying(k, model).Guards }

// Webhooks returns the webhook guardrails that apply (Applying's Webhooks).
func (g *Guardrails) Webhooks(k *Key, model string) []*Webhook { return g.Applying(k, model).Webhooks }

// Schemas returns the json_schema guardrails that apply (Applying's Schemas).
func (g *Guardrails) Schemas(k *Key, model string) []*SchemaGuard {
	return g.Applying(k, model).Schemas
}

// compileGuardrails compiles the file's guardrails and their attachments;
// units must be compiled already.
func (s *Snapshot) compileGuardrails(f *config.File) (*Guardrails, error) {
	g := &Guardrails{byName: map[string]*guard.Guard{}, webhooks: map[string]*Webhook{}, schemas: map[string]*SchemaGuard{},
		models: map[string][]string{}, keys: map[string][]string{}, units: map[string][]string{}}
	for _, gc := range f.Guardrails {
		if gc.Type == "webhook" {
			g.webhooks[gc.Name] = &Webhook{Name: gc.Name, URL: gc.URL, Headers: gc.Headers,
				Timeout: orDefault(time.Duration(gc.Timeout), DefaultWebhookTimeout), FailOpen: gc.Fail == config.FailOpen, LogOnly: gc.Action == "log"}
			continue
		}
		if gc.Type == "json_schema" {
			sc, err := config.CompileSchema(gc.Schema)
			if err != nil {
				return nil, fmt.Errorf("guardrail %s: %w", gc.Name, err)
			}
			g.schemas[gc.Name] = &SchemaGuard{Name: gc.Name, Schema: sc, LogOnly: gc.Action == "log"}
			continue
		}
		x, err := guard.Compile(gc.Spec())
		if err != nil {
			return nil, err
		}
		g.byName[gc.Name] = x
	}
	attach := func(m map[string][]string, id, what string, names []string) error {
		for _, n := range names {
			if g.byName[n] == nil && g.webhooks[n] == nil && g.schemas[n] == nil {
				return fmt.Errorf("%s: no guardrail %q", what, n)
			}
		}
		if len(names) > 0 {
			m[id] = names
		}
		return nil
	}
	for _, m := range f.Models {
		if err := attach(g.models, m.Name, "model "+m.Name, m.Guardrails); err != nil {
			return nil, err
		}
	}
	for _, k := range f.Keys {
		if err := attach(g.keys, k.Name, "key "+k.Name, k.Guardrails); err != nil {
			return nil, err
		}
	}
	unit := func(path string, names []string) error {
		if len(names) == 0 {
			return nil
		}
		u := s.UnitByPath(path)
		if u == nil {
			return fmt.Errorf("guardrails of %q: no such unit", path)
		}
		return attach(g.units, u.ID, path, names)
	}
	for _, o := range f.Orgs {
		if err := unit(o.Name, o.Guardrails); err != nil {
			return nil, err
		}
		for _, t := range o.Teams {
			if err := unit(o.Name+"/"+t.Name, t.Guardrails); err != nil {
				return nil, err
			}
			for _, a := range t.Applications {
				if err := unit(o.Name+"/"+t.Name+"/"+a.Name, a.Guardrails); err != nil {
					return nil, err
				}
			}
		}
	}
	return g, nil
}

// DefaultCacheTTL and DefaultCacheBytes apply when the file gives none.
const (
	DefaultCacheTTL   = 5 * time.Minute
	DefaultCacheBytes = 64 << 20
)

// Cache is the response cache's compiled settings.
type Cache struct {
	// MaxBytes bounds the in-memory store.
	MaxBytes int64
	// Global shares answers across organisations (scope: global).
	Global bool
	// TTL is each cached model's time to live; a model without an entry is
	// not cached.
	TTL map[string]time.Duration
	// Semantic holds the models with a semantic cache (looked up after an
	// exact miss; such a model has a TTL entry too).
	Semantic map[string]SemanticCache
}

// SemanticCache is one model's semantic cache settings.
type SemanticCache struct {
	// Threshold is a hit's least cosine similarity.
	Threshold float64
	// Embedding names the model that embeds prompts.
	Embedding string
}

// For returns the model's time to live, and whether it is cached at all.
func (c *Cache) For(model string) (time.Duration, bool) {
	if c == nil {
		return 0, false
	}
	ttl, ok := c.TTL[model]
	return ttl, ok
}

func compileCache(f *config.File) *Cache {
	c := &Cache{MaxBytes: f.Cache.MaxBytes, Global: f.Cache.Scope == config.CacheScopeGlobal, TTL: map[string]time.Duration{},
		Semantic: map[string]SemanticCache{}}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultCacheBytes
	}
	for _, m := range f.Models {
		if m.Cache == nil || (m.Cache.Mode != config.CacheExact && m.Cache.Mode != config.CacheSemantic) {
			continue
		}
		if m.Cache.Mode == config.CacheSemantic {
			sc := SemanticCache{Threshold: 0.95, Embedding: m.Cache.EmbeddingModel}
			if m.Cache.Threshold != nil {
				sc.Threshold = *m.Cache.Threshold
			}
			c.Semantic[m.Name] = sc
		}
		ttl := time.Duration(m.Cache.TTL)
		if ttl <= 0 {
			ttl = DefaultCacheTTL
		}
		c.TTL[m.Name] = ttl
	}
	return c
}
