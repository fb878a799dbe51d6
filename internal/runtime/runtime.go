// Package runtime compiles a configuration into an immutable Snapshot that
// the data plane reads without locks. A new configuration is compiled whole
// and swapped in atomically; if compiling fails the running snapshot stays.
package runtime

import (
	"encoding/hex"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/meter"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/store"
)

// Snapshot is a compiled, immutable configuration. Never modify one that
// has been published.
type Snapshot struct {
	Version  int64
	LoadedAt time.Time
	Source   string // the config file, or "" for the built-in default

	Models     map[string]*Model
	ModelNames []string // sorted
	Keys       map[auth.Hash]*Key
}

// Model is a name clients ask for.
type Model struct {
	Name    string
	Targets []Target
	Price   meter.Price
}

// Target is an upstream model at a provider.
type Target struct {
	Provider provider.Adapter
	Model    string
}

// Key is an active virtual key.
type Key struct {
	ID     string
	Name   string
	Source string // "config" or "api"
	// Allowed is the model allow-list; nil allows every model.
	Allowed map[string]bool
}

// Allows reports whether the key may use model.
func (k *Key) Allows(model string) bool { return k.Allowed == nil || k.Allowed[model] }

// Inputs are what a snapshot is compiled from.
type Inputs struct {
	File       *config.File
	Source     string
	StoredKeys []store.KeyRecord
	Registry   provider.Registry
	Provider   func(config.Provider) provider.Spec // fills in the shared client
}

var versions atomic.Int64

// Compile builds a snapshot. It fails without side effects.
func Compile(in Inputs) (*Snapshot, error) {
	f := in.File
	s := &Snapshot{
		Version:  versions.Add(1),
		LoadedAt: time.Now(),
		Source:   in.Source,
		Models:   make(map[string]*Model, len(f.Models)),
		Keys:     make(map[auth.Hash]*Key, len(f.Keys)+len(in.StoredKeys)),
	}
	adapters := make(map[string]provider.Adapter, len(f.Providers))
	for _, p := range f.Providers {
		a, err := in.Registry.Build(in.Provider(p))
		if err != nil {
			return nil, err
		}
		adapters[p.Name] = a
	}
	for _, m := range f.Models {
		cm := &Model{Name: m.Name, Price: meter.PriceFromDollars(m.Pricing.InputPerMTok, m.Pricing.OutputPerMTok, m.Pricing.CachedInputPerMTok)}
		for _, t := range m.Targets {
			a, ok := adapters[t.Provider]
			if !ok {
				return nil, fmt.Errorf("model %q: no provider %q", m.Name, t.Provider)
			}
			cm.Targets = append(cm.Targets, Target{Provider: a, Model: t.Model})
		}
		s.Models[m.Name] = cm
		s.ModelNames = append(s.ModelNames, m.Name)
	}
	slices.Sort(s.ModelNames)
	for _, k := range f.Keys {
		h := auth.HashKey(k.Key)
		s.Keys[h] = &Key{ID: "cfg_" + hex.EncodeToString(h[:6]), Name: k.Name, Source: "config", Allowed: allowSet(k.Models)}
	}
	for _, k := range in.StoredKeys {
		if k.RevokedAt != nil {
			continue
		}
		raw, err := hex.DecodeString(k.Hash)
		if err != nil || len(raw) != len(auth.Hash{}) {
			return nil, fmt.Errorf("stored key %q: malformed hash", k.Name)
		}
		var h auth.Hash
		copy(h[:], raw)
		if _, dup := s.Keys[h]; dup {
			continue // a declared key wins over a stored one with the same value
		}
		s.Keys[h] = &Key{ID: k.ID, Name: k.Name, Source: "api", Allowed: allowSet(k.Models)}
	}
	return s, nil
}

func allowSet(models []string) map[string]bool {
	if len(models) == 0 {
		return nil
	}
	m := make(map[string]bool, len(models))
	for _, n := range models {
		m[n] = true
	}
	return m
}

// Holder publishes the current snapshot.
type Holder struct{ p atomic.Pointer[Snapshot] }

// Load returns the current snapshot.
func (h *Holder) Load() *Snapshot { return h.p.Load() }

// Store publishes s.
func (h *Holder) Store(s *Snapshot) { h.p.Store(s) }
