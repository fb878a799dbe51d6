package runtime

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/guard"
)

// Guardrails are the compiled guardrails and where they are attached.
type Guardrails struct {
	models map[string][]*guard.Guard // by model name
	keys   map[string][]*guard.Guard // by declared key name
	units  map[string][]*guard.Guard // by organisation, team or application id
}

// For returns the guardrails that apply to a request of key k for model:
// the model's, the key's, its application's, team's and organisation's, in
// that order, each once. nil when none applies.
func (g *Guardrails) For(k *Key, model string) []*guard.Guard {
	if g == nil {
		return nil
	}
	var out []*guard.Guard
	add := func(gs []*guard.Guard) {
		for _, x := range gs {
			dup := false
			for _, y := range out {
				dup = dup || x == y
			}
			if !dup {
				out = append(out, x)
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

// compileGuardrails compiles the file's guardrails and their attachments;
// units must be compiled already.
func (s *Snapshot) compileGuardrails(f *config.File) (*Guardrails, error) {
	byName := make(map[string]*guard.Guard, len(f.Guardrails))
	for _, gc := range f.Guardrails {
		g, err := guard.Compile(gc.Spec())
		if err != nil {
			return nil, err
		}
		byName[gc.Name] = g
	}
	g := &Guardrails{models: map[string][]*guard.Guard{}, keys: map[string][]*guard.Guard{}, units: map[string][]*guard.Guard{}}
	resolve := func(what string, names []string) ([]*guard.Guard, error) {
		var out []*guard.Guard
		for _, n := range names {
			x := byName[n]
			if x == nil {
				return nil, fmt.Errorf("%s: no guardrail %q", what, n)
			}
			out = append(out, x)
		}
		return out, nil
	}
	attach := func(m map[string][]*guard.Guard, id, what string, names []string) error {
		if len(names) == 0 {
			return nil
		}
		gs, err := resolve(what, names)
		m[id] = gs
		return err
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
	c := &Cache{MaxBytes: f.Cache.MaxBytes, Global: f.Cache.Scope == config.CacheScopeGlobal, TTL: map[string]time.Duration{}}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultCacheBytes
	}
	for _, m := range f.Models {
		if m.Cache == nil || m.Cache.Mode != config.CacheExact {
			continue
		}
		ttl := time.Duration(m.Cache.TTL)
		if ttl <= 0 {
			ttl = DefaultCacheTTL
		}
		c.TTL[m.Name] = ttl
	}
	return c
}
