// Package runtime compiles a configuration into an immutable Snapshot that
// the data plane reads without locks. A new configuration is compiled whole
// and swapped in atomically; if compiling fails the running snapshot stays.
package runtime

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/meter"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/ratelimit"
	"github.com/sluicehq/sluice/internal/route"
	"github.com/sluicehq/sluice/internal/store"
)

// Snapshot is a compiled, immutable configuration. Never modify one that
// has been published. It is data: the live objects it points at (routers,
// target and key health, key pools) belong to a Live and are shared by
// every snapshot compiled with it, so two snapshots compiled from the same
// inputs are equal (reflect.DeepEqual) apart from Version and LoadedAt.
type Snapshot struct {
	Version  int64
	LoadedAt time.Time
	Source   string // the config file, or "" for the built-in default

	Models     map[string]*Model
	ModelNames []string // sorted
	Keys       map[auth.Hash]*Key
	// Providers maps each provider's name to where it was declared:
	// "config" (the file) or "api" (stored through the admin API).
	Providers map[string]string
	// Units are the organisations, teams and applications by id.
	Units map[string]*Unit
	// Policy decides administrative requests (built-in roles plus the
	// file's deny rules).
	Policy *authz.Policy
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Guardrails and Cache are the request chain's guardrails and response
	// cache settings (guardrails.go).
	Guardrails *Guardrails
	Cache      *Cache
	// Products are the API products, their versions, plans, open
	// subscriptions and emergency stops (products.go).
	Products *Products
	// Prompts are the stored prompts, compiled, and their labels (prompts.go).
	Prompts *Prompts
	// RequestLog says which requests have their bodies captured (requestlog.go).
	RequestLog *RequestLog
}

// Model is a name clients ask for.
type Model struct {
	Name string
	// Default serves requests that match no conditional route.
	Default *Route
	// Routes are the conditional routes, in order.
	Routes []*Route
	Price  meter.Price
	// Limits apply to all traffic to the model ("model:<name>" in the limiter).
	Limits        ratelimit.Limits
	ReserveMicros int64
	// Level is the model's own level, nil when it has no limits.
	Level *Level
	// Lifecycle is the model's deprecation and sunset, nil when it has none.
	Lifecycle *ModelLifecycle
}

// Route is a list of targets under a routing policy.
type Route struct {
	Name    string
	Match   *config.Match // nil for the default route
	Targets []Target
	// Router orders Targets; it belongs to the Live the snapshot was
	// compiled with (keyed by the route's model, name, policy and targets).
	Router      *route.Router
	Sticky      string // "key", "user" or "header:<name>"
	MaxAttempts int
}

// Target is an upstream model at a provider.
type Target struct {
	Provider provider.Adapter
	Model    string
	// Health is the target's record in the Live health registry (keyed by
	// provider and model), kept across reloads.
	Health *route.Health
	// Keys belongs to the Live too (keyed by provider and keys); nil when
	// the provider has one key (or none).
	Keys     *KeyPool
	Timeouts Timeouts
	// RetryOn holds the upstream statuses that fail over.
	RetryOn map[int]bool
	// StreamUsage: ask the upstream for the usage chunk of an OpenAI chat
	// stream when the client did not (config inject_stream_usage).
	StreamUsage bool
}

// Timeouts are a target's per-attempt deadlines, defaults applied.
type Timeouts struct {
	Connect, FirstByte, Stall, Total time.Duration
}

// Default deadlines.
const (
	DefaultConnect   = 5 * time.Second
	DefaultFirstByte = 60 * time.Second
	DefaultStall     = 120 * time.Second
	DefaultTotal     = 10 * time.Minute
)

// DefaultRetryOn are the statuses that fail over when retry_on is unset.
var DefaultRetryOn = map[int]bool{408: true, 409: true, 429: true, 500: true, 502: true, 503: true, 504: true,
	520: true, 522: true, 524: true, 529: true}

// Key is an active virtual key.
type Key struct {
	ID     string
	Name   string
	Source string // "config" or "api"
	Tags   []string
	// Allowed is the model allow-list; nil allows every model.
	Allowed map[string]bool
	// Limits are the key's rate limits and budget.
	Limits ratelimit.Limits
	// ReserveMicros, when positive, is the budget reserved per request.
	ReserveMicros int64
	// ExpiresAt is when the key stops working (zero: never).
	ExpiresAt time.Time
	// OrgID, TeamID and AppID place the key; "" when it belongs to none.
	OrgID, TeamID, AppID string
	// Endpoints, when non-nil, are the endpoint families the key may call.
	Endpoints map[string]bool
	// Networks, when non-nil, are the client networks the key may come from.
	Networks []netip.Prefix
	// Levels are the key's own, its application's, team's and
	// organisation's limits, compiled (see compileLevels).
	Levels []Level
}

// Expired reports whether the key has expired at now.
func (k *Key) Expired(now time.Time) bool { return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) }

func keyFromConfig(k config.Key, id string) *Key {
	ck := &Key{ID: id, Name: k.Name, Source: "config", Tags: k.Tags, Allowed: allowSet(k.Models),
		Endpoints: allowSet(k.Endpoints), Networks: networks(k.SourceNetworks)}
	ck.Limits, ck.ReserveMicros = limitsFromConfig(k.Limits)
	if k.ExpiresAt != nil {
		ck.ExpiresAt = *k.ExpiresAt
	}
	return ck
}

func keyFromStore(k store.KeyRecord) *Key {
	ck := &Key{ID: k.ID, Name: k.Name, Source: "api", Allowed: allowSet(k.Models), ReserveMicros: k.ReserveMicros,
		Limits: ratelimit.Limits{RPM: k.RPM, TPM: k.TPM, MaxConcurrent: k.MaxConcurrent, BudgetMicros: k.BudgetMicros,
			BudgetPeriod: ratelimit.Period(k.BudgetPeriod)},
		Tags: k.Tags, OrgID: k.OrgID, TeamID: k.TeamID, AppID: k.AppID, Endpoints: allowSet(k.Endpoints),
		Networks: networks(k.SourceCIDRs)}
	if ck.Limits.BudgetMicros > 0 {
		ck.Limits.AlertPercents = alertArray(k.AlertPercents)
	}
	if ck.Limits.BudgetMicros > 0 && ck.Limits.BudgetPeriod == "" {
		ck.Limits.BudgetPeriod = ratelimit.Monthly
	}
	if k.ExpiresAt != nil {
		ck.ExpiresAt = *k.ExpiresAt
	}
	return ck
}

// Allows reports whether the key may use model.
func (k *Key) Allows(model string) bool { return k.Allowed == nil || k.Allowed[model] }

// Inputs are what a snapshot is compiled from.
type Inputs struct {
	File       *config.File
	Source     string
	StoredKeys []store.KeyRecord
	// Units are the stored organisations, teams and applications (those
	// the file declares included, already upserted).
	Units []store.Unit
	// PreviousHashes are rotated keys' previous values, valid until their
	// overlap window ends.
	PreviousHashes []store.PreviousHash
	// StoredProviders are the providers created through the admin API,
	// credentials already decrypted. Models may target them by name; a
	// name declared in the file too is an error.
	StoredProviders []config.Provider
	// Products are the stored products and subscriptions (products.go).
	Products ProductInputs
	// StoredPrompts are every stored prompt with its versions and labels.
	StoredPrompts []store.StoredPrompt
	Registry      provider.Registry
	Provider      func(config.Provider) provider.Spec // fills in the shared client
	// Live holds the data plane's long-lived state (routers, health, key
	// pools) that the snapshot points into; nil gives a new one around Health.
	Live *Live
	// Health is the target health registry of a new Live when Live is nil
	// (a new registry if nil too).
	Health *route.Registry
}

var versions atomic.Int64

type compiledProvider struct {
	adapter  provider.Adapter
	keys     []string
	timeouts Timeouts
	retryOn  map[int]bool
	// streamUsage: inject_stream_usage, default true.
	streamUsage bool
}

// Compile builds a snapshot. It fails without side effects.
func Compile(in Inputs) (*Snapshot, error) {
	f := in.File
	if in.Live == nil {
		in.Live = NewLive(in.Health)
	}
	s := &Snapshot{
		Version:   versions.Add(1),
		LoadedAt:  time.Now(),
		Source:    in.Source,
		Models:    make(map[string]*Model, len(f.Models)),
		Keys:      make(map[auth.Hash]*Key, len(f.Keys)+len(in.StoredKeys)),
		Providers: make(map[string]string, len(f.Providers)+len(in.StoredProviders)),
	}
	providers := make(map[string]*compiledProvider, len(f.Providers)+len(in.StoredProviders))
	for i, p := range slices.Concat(f.Providers, in.StoredProviders) {
		source := "config"
		if i >= len(f.Providers) {
			source = "api"
		}
		if _, dup := providers[p.Name]; dup {
			return nil, fmt.Errorf("provider %q is declared in the configuration file and also stored through the admin API; rename one of them", p.Name)
		}
		s.Providers[p.Name] = source
		spec := in.Provider(p)
		spec.Timeout = orDefault(time.Duration(p.Timeouts.Total), DefaultTotal)
		a, err := in.Registry.Build(spec)
		if err != nil {
			return nil, err
		}
		cp := &compiledProvider{adapter: a, keys: p.APIKeys, timeouts: Timeouts{
			Connect:   orDefault(time.Duration(p.Timeouts.Connect), DefaultConnect),
			FirstByte: orDefault(time.Duration(p.Timeouts.FirstByte), DefaultFirstByte),
			Stall:     orDefault(time.Duration(p.Timeouts.Stall), DefaultStall),
			Total:     spec.Timeout,
		}, retryOn: DefaultRetryOn, streamUsage: p.InjectStreamUsage == nil || *p.InjectStreamUsage}
		if len(p.RetryOn) > 0 {
			cp.retryOn = map[int]bool{}
			for _, c := range p.RetryOn {
				cp.retryOn[c] = true
			}
		}
		providers[p.Name] = cp
	}
	for _, m := range f.Models {
		cm := &Model{Name: m.Name, Price: meter.PriceFromDollars(m.Pricing.InputPerMTok, m.Pricing.OutputPerMTok, m.Pricing.CachedInputPerMTok)}
		cm.Limits, cm.ReserveMicros = limitsFromConfig(m.Limits)
		cm.Lifecycle = compileModelLifecycle(m)
		var err error
		if cm.Default, err = compileRoute(in.Live, providers, m, "default", nil, m.Targets, m.Routing); err != nil {
			return nil, err
		}
		for i, r := range m.Routes {
			name := r.Name
			if name == "" {
				name = fmt.Sprintf("route-%d", i)
			}
			match := r.Match
			cr, err := compileRoute(in.Live, providers, m, name, &match, r.Targets, r.Routing)
			if err != nil {
				return nil, err
			}
			cm.Routes = append(cm.Routes, cr)
		}
		s.Models[m.Name] = cm
		s.ModelNames = append(s.ModelNames, m.Name)
	}
	slices.Sort(s.ModelNames)
	if err := s.compileGovernance(f, in.Units); err != nil {
		return nil, err
	}
	guardrails, err := s.compileGuardrails(f)
	if err != nil {
		return nil, err
	}
	s.Guardrails, s.Cache = guardrails, compileCache(f)
	s.Products = compileProducts(in.Products)
	s.Prompts = compilePrompts(in.StoredPrompts)
	s.RequestLog = compileRequestLog(f)
	for _, k := range f.Keys {
		h := auth.HashKey(k.Key)
		ck := keyFromConfig(k, "cfg_"+hex.EncodeToString(h[:6]))
		if k.Application != "" {
			u := s.UnitByPath(k.Application)
			if u == nil {
				return nil, fmt.Errorf("key %q: no application %q", k.Name, k.Application)
			}
			ck.OrgID, ck.TeamID, ck.AppID = u.OrgID, u.TeamID, u.ID
		}
		s.Keys[h] = ck
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
		s.Keys[h] = keyFromStore(k)
	}
	s.compileLevels()
	byID := make(map[string]*Key, len(in.StoredKeys))
	for _, k := range s.Keys {
		byID[k.ID] = k
	}
	for _, p := range in.PreviousHashes {
		raw, err := hex.DecodeString(p.Hash)
		k := byID[p.KeyID]
		if err != nil || len(raw) != len(auth.Hash{}) || k == nil {
			continue
		}
		var h auth.Hash
		copy(h[:], raw)
		if _, dup := s.Keys[h]; dup {
			continue
		}
		prev := *k // the same id: limits, spend and ledger are shared
		if prev.ExpiresAt.IsZero() || p.Until.Before(prev.ExpiresAt) {
			prev.ExpiresAt = p.Until
		}
		s.Keys[h] = &prev
	}
	return s, nil
}

func compileRoute(live *Live, providers map[string]*compiledProvider, m config.Model, name string,
	match *config.Match, targets []config.Target, r config.Routing) (*Route, error) {
	cr := &Route{Name: name, Match: match, Sticky: r.Sticky, MaxAttempts: r.MaxAttempts}
	if cr.Sticky == "" {
		cr.Sticky = "key"
	}
	if cr.MaxAttempts <= 0 {
		cr.MaxAttempts = min(len(targets), 5)
	}
	policy := route.Policy(r.Policy)
	if policy == "" {
		policy = route.Priority
	}
	price := meter.PriceFromDollars(m.Pricing.InputPerMTok, m.Pricing.OutputPerMTok, m.Pricing.CachedInputPerMTok)
	rts := make([]route.Target, 0, len(targets))
	id := []string{m.Name, name, string(policy)}
	for _, t := range targets {
		p, ok := providers[t.Provider]
		if !ok {
			return nil, fmt.Errorf("model %q: no provider %q", m.Name, t.Provider)
		}
		h := live.health.Get(t.Provider, t.Model)
		ct := Target{Provider: p.adapter, Model: t.Model, Health: h, Timeouts: p.timeouts, RetryOn: p.retryOn, StreamUsage: p.streamUsage}
		if len(p.keys) > 0 {
			ct.Keys = live.keyPool(t.Provider, p.keys)
		}
		cr.Targets = append(cr.Targets, ct)
		rts = append(rts, route.Target{Weight: t.Weight, Cost: price.Input + price.Output, Health: h})
		id = append(id, t.Provider, t.Model, strconv.Itoa(t.Weight), strconv.FormatInt(price.Input+price.Output, 10))
	}
	router, err := live.router(identity(id...), policy, rts)
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", m.Name, err)
	}
	cr.Router = router
	return cr, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
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

// KeyPool rotates through a provider's upstream keys, skipping keys that
// the provider asked to rest (429 with Retry-After) or that it refused.
type KeyPool struct {
	keys   []string
	health []*route.Health
	next   atomic.Uint32
}

func newKeyPool(reg *route.Registry, providerName string, keys []string) *KeyPool {
	p := &KeyPool{keys: keys}
	for i := range keys {
		p.health = append(p.health, reg.Get(providerName, fmt.Sprintf("#key%d", i)))
	}
	return p
}

// Pick returns the next usable key and its index; when every key rests it
// returns the next one anyway.
func (p *KeyPool) Pick() (int, string) {
	n := len(p.keys)
	start := int(p.next.Add(1)-1) % n
	for i := range n {
		j := (start + i) % n
		if !p.health[j].Ejected() {
			return j, p.keys[j]
		}
	}
	return start, p.keys[start]
}

// Cooldown rests key i until t.
func (p *KeyPool) Cooldown(i int, until time.Time) { p.health[i].Cooldown(until) }

// HasTag reports whether the key carries any of tags.
func (k *Key) HasTag(tags []string) bool {
	for _, t := range k.Tags {
		for _, u := range tags {
			if strings.EqualFold(t, u) {
				return true
			}
		}
	}
	return false
}

// Holder publishes the current snapshot.
type Holder struct{ p atomic.Pointer[Snapshot] }

// Load returns the current snapshot.
func (h *Holder) Load() *Snapshot { return h.p.Load() }

// Store publishes s.
func (h *Holder) Store(s *Snapshot) { h.p.Store(s) }
