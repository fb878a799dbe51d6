package runtime

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/ratelimit"
	"github.com/sluicehq/sluice/internal/route"
	"github.com/sluicehq/sluice/internal/store"
)

func hashHex(key string) string {
	h := auth.HashKey(key)
	return hex.EncodeToString(h[:])
}

func oneModel(targets ...config.Target) *config.File {
	return &config.File{Version: 1,
		Providers: []config.Provider{{Name: "p", Type: "openai", BaseURL: "https://p.example/v1"}},
		Models:    []config.Model{{Name: "m", Targets: targets}},
	}
}

// TestStoredKeys: keys made through the admin API join the snapshot with
// their limits and place; revoked ones do not; a declared key wins.
func TestStoredKeys(t *testing.T) {
	f := oneModel(config.Target{Provider: "p", Model: "x"})
	f.Keys = []config.Key{{Name: "declared", Key: "gw-same-value-0000000000", Application: "acme/web/shop"}}
	expires := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	revoked := time.Now()
	in := stubInputs(f)
	in.Units = tenancy
	in.StoredKeys = []store.KeyRecord{
		{ID: "key_b", Name: "budgeted", Hash: hashHex("gw-budgeted-000000000000"), BudgetMicros: 5, AlertPercents: []int{80},
			ExpiresAt: &expires, OrgID: "org_1", TeamID: "team_1", AppID: "app_1", Tags: []string{"t"},
			Endpoints: []string{"chat"}, SourceCIDRs: []string{"10.0.0.0/8"}, Models: []string{"m"}, ReserveMicros: 3},
		{ID: "key_r", Name: "rpm-only", Hash: hashHex("gw-rpm-only-000000000000"), RPM: 4, AlertPercents: []int{80}},
		{ID: "key_w", Name: "weekly", Hash: hashHex("gw-weekly-00000000000000"), BudgetMicros: 5, BudgetPeriod: "weekly"},
		{ID: "key_x", Name: "revoked", Hash: hashHex("gw-revoked-0000000000000"), RevokedAt: &revoked},
		{ID: "key_s", Name: "same value", Hash: hashHex("gw-same-value-0000000000")},
	}
	s, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Keys) != 4 {
		t.Fatalf("%d keys, want 4 (the revoked one out, the duplicate once)", len(s.Keys))
	}
	b := s.Keys[auth.HashKey("gw-budgeted-000000000000")]
	if b == nil || b.ID != "key_b" || b.Source != "api" || b.Limits.BudgetPeriod != ratelimit.Monthly ||
		b.Limits.AlertPercents[0] != 80 || !b.ExpiresAt.Equal(expires) || b.AppID != "app_1" || b.TeamID != "team_1" ||
		b.OrgID != "org_1" || !b.HasTag([]string{"t"}) || !b.AllowsEndpoint("chat.completions") || b.AllowsEndpoint("embeddings") ||
		len(b.Networks) != 1 || !b.Allows("m") || b.Allows("n") || b.ReserveMicros != 3 {
		t.Errorf("budgeted key %+v", b)
	}
	if r := s.Keys[auth.HashKey("gw-rpm-only-000000000000")]; r == nil || r.Limits.AlertPercents != ([ratelimit.MaxAlerts]int{}) ||
		r.Limits.BudgetPeriod != "" || !r.ExpiresAt.IsZero() || r.Limits.RPM != 4 {
		t.Errorf("a key without a budget has alerts or a period: %+v", r)
	}
	if w := s.Keys[auth.HashKey("gw-weekly-00000000000000")]; w == nil || w.Limits.BudgetPeriod != ratelimit.Weekly {
		t.Errorf("weekly key %+v", w)
	}
	d := s.Keys[auth.HashKey("gw-same-value-0000000000")]
	if d == nil || d.Source != "config" || d.Name != "declared" || d.AppID != "app_1" || d.TeamID != "team_1" || d.OrgID != "org_1" {
		t.Errorf("the declared key did not win or was not placed: %+v", d)
	}
	if !strings.HasPrefix(d.ID, "cfg_") || len(d.ID) != len("cfg_")+12 {
		t.Errorf("declared key id %q", d.ID)
	}
	// Levels: the key's application (rpm) and organisation (budget); the
	// team has no limits.
	if got := levelNames(b.Levels); got != "key_id:key_b app_id:app_1 org_id:org_1" {
		t.Errorf("levels of the budgeted key: %s", got)
	}
	if got := levelNames(d.Levels); got != "app_id:app_1 org_id:org_1" {
		t.Errorf("levels of the declared key: %s", got)
	}
	if b.Levels[0].Reserve != 3 || b.Levels[0].Subject.Scope != "key" || b.Levels[2].Reserve != 7 ||
		b.Levels[2].Subject.Scope != "organisation" || b.Levels[1].Subject.Scope != "application" || b.Levels[1].Subject.Limits.RPM != 10 {
		t.Errorf("levels %+v", b.Levels)
	}
	if r := s.Keys[auth.HashKey("gw-rpm-only-000000000000")]; len(r.Levels) != 1 || r.Levels[0].Subject.ID != "key_r" {
		t.Errorf("levels of an unplaced key %+v", r.Levels)
	}
}

func levelNames(lv []Level) string {
	var out []string
	for _, l := range lv {
		out = append(out, l.Column+":"+l.LedgerID)
	}
	return strings.Join(out, " ")
}

func TestCompileRefuses(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Inputs)
		want string
	}{
		{"malformed stored hash", func(in *Inputs) {
			in.StoredKeys = []store.KeyRecord{{ID: "k", Name: "bad", Hash: "zz"}}
		}, `stored key "bad": malformed hash`},
		{"short stored hash", func(in *Inputs) {
			in.StoredKeys = []store.KeyRecord{{ID: "k", Name: "short", Hash: "abcd"}}
		}, `stored key "short": malformed hash`},
		{"key in an unknown application", func(in *Inputs) {
			in.File.Keys = []config.Key{{Name: "k", Key: "gw-x", Application: "acme/web/none"}}
		}, `key "k": no application "acme/web/none"`},
		{"target on an unknown provider", func(in *Inputs) {
			in.File.Models[0].Targets = []config.Target{{Provider: "q", Model: "x"}}
		}, `model "m": no provider "q"`},
		{"unknown routing policy", func(in *Inputs) {
			in.File.Models[0].Routing.Policy = "random"
		}, `model "m": unknown routing policy`},
		{"conditional route on an unknown provider", func(in *Inputs) {
			in.File.Models[0].Routes = []config.Route{{Targets: []config.Target{{Provider: "q", Model: "y"}}}}
		}, `no provider "q"`},
		{"bad deny rule", func(in *Inputs) {
			in.File.Access.Deny = []config.DenyRule{{Roles: []string{"viewer"}, Org: "none", Actions: []string{"*"}}}
		}, "access.deny"},
		{"provider type not built", func(in *Inputs) {
			in.File.Providers[0].Type = "bedrock"
		}, "bedrock"},
	}
	for _, tt := range tests {
		in := stubInputs(oneModel(config.Target{Provider: "p", Model: "x"}))
		in.Units = tenancy
		tt.edit(&in)
		s, err := Compile(in)
		if err == nil || !strings.Contains(err.Error(), tt.want) || s != nil {
			t.Errorf("%s: Compile = %v, %v; want an error with %q", tt.name, s, err, tt.want)
		}
	}
}

// TestPreviousHashes: a rotated key's previous value keeps working, as the
// same key, until its overlap window ends (or the key expires first).
func TestPreviousHashes(t *testing.T) {
	soon := time.Now().Add(time.Hour)
	later := soon.Add(time.Hour)
	f := oneModel(config.Target{Provider: "p", Model: "x"})
	f.Keys = []config.Key{{Name: "declared", Key: "gw-declared-000000000000"}}
	in := stubInputs(f)
	in.StoredKeys = []store.KeyRecord{
		{ID: "key_1", Name: "forever", Hash: hashHex("gw-new-1"), RPM: 3},
		{ID: "key_2", Name: "expiring", Hash: hashHex("gw-new-2"), ExpiresAt: &soon},
		{ID: "key_3", Name: "long", Hash: hashHex("gw-new-3"), ExpiresAt: &later},
	}
	in.PreviousHashes = []store.PreviousHash{
		{KeyID: "key_1", Hash: hashHex("gw-old-1"), Until: soon},
		{KeyID: "key_2", Hash: hashHex("gw-old-2"), Until: later},
		{KeyID: "key_3", Hash: hashHex("gw-old-3"), Until: soon},
		{KeyID: "key_9", Hash: hashHex("gw-old-9"), Until: soon},                 // no such key
		{KeyID: "key_1", Hash: "zz", Until: soon},                                // malformed
		{KeyID: "key_1", Hash: hashHex("gw-old-1")[:10], Until: soon},            // short
		{KeyID: "key_1", Hash: hashHex("gw-declared-000000000000"), Until: soon}, // another key's value
	}
	s, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Keys) != 7 {
		t.Fatalf("%d keys, want 4 current and 3 previous", len(s.Keys))
	}
	tests := []struct {
		old, id string
		until   time.Time
	}{
		{"gw-old-1", "key_1", soon},        // the key never expires: the window ends it
		{"gw-old-2", "key_2", soon},        // the key expires before the window ends
		{"gw-old-3", "key_3", soon},        // the window ends before the key expires
		{"gw-new-1", "key_1", time.Time{}}, // the current value is untouched
		{"gw-new-3", "key_3", later},
	}
	for _, tt := range tests {
		k := s.Keys[auth.HashKey(tt.old)]
		if k == nil || k.ID != tt.id || !k.ExpiresAt.Equal(tt.until) {
			t.Errorf("%s: %+v, want id %s until %v", tt.old, k, tt.id, tt.until)
		}
	}
	if k := s.Keys[auth.HashKey("gw-old-1")]; k.Limits.RPM != 3 || len(k.Levels) != 1 {
		t.Errorf("the previous value lost the key's limits: %+v", k)
	}
	if d := s.Keys[auth.HashKey("gw-declared-000000000000")]; d.Name != "declared" {
		t.Errorf("a previous value replaced another key: %+v", d)
	}
}

// TestRouteDefaults: what an unset routing block means.
func TestRouteDefaults(t *testing.T) {
	off := false
	targets := func(n int) []config.Target {
		var ts []config.Target
		for i := range n {
			ts = append(ts, config.Target{Provider: "p", Model: string(rune('a' + i))})
		}
		return ts
	}
	f := &config.File{Version: 1,
		Providers: []config.Provider{
			{Name: "p", Type: "openai", BaseURL: "https://p.example/v1"},
			{Name: "q", Type: "openai", BaseURL: "https://q.example/v1", InjectStreamUsage: &off, RetryOn: []int{418},
				Timeouts: config.Timeouts{Connect: config.Duration(time.Second), FirstByte: config.Duration(time.Nanosecond), Stall: config.Duration(2 * time.Second), Total: config.Duration(3 * time.Second)}},
		},
		Models: []config.Model{
			{Name: "two", Targets: targets(2), Routes: []config.Route{
				{Targets: targets(1)},
				{Name: "named", Targets: targets(1), Routing: config.Routing{Policy: "weighted", Sticky: "user", MaxAttempts: 9}},
				{Targets: []config.Target{{Provider: "q", Model: "z"}}},
			}},
			{Name: "seven", Targets: targets(7), Routing: config.Routing{MaxAttempts: -1}},
			{Name: "once", Targets: targets(3), Routing: config.Routing{MaxAttempts: 1}},
			{Name: "limited", Targets: targets(1), Limits: config.Limits{RPM: 5, Budget: &config.Budget{AmountUSD: 1, ReserveUSD: 0.5}}},
		},
	}
	s, err := Compile(stubInputs(f))
	if err != nil {
		t.Fatal(err)
	}
	two := s.Models["two"]
	if d := two.Default; d.Sticky != "key" || d.MaxAttempts != 2 || d.Router.Policy() != route.Priority || d.Match != nil || d.Name != "default" {
		t.Errorf("default route %+v", d)
	}
	if len(two.Routes) != 3 || two.Routes[0].Name != "route-0" || two.Routes[1].Name != "named" || two.Routes[2].Name != "route-2" || two.Routes[0].Match == nil {
		t.Fatalf("routes %+v", two.Routes)
	}
	if r := two.Routes[1]; r.Sticky != "user" || r.MaxAttempts != 9 || r.Router.Policy() != route.Weighted {
		t.Errorf("explicit routing lost: %+v", r)
	}
	if m := s.Models["seven"].Default; m.MaxAttempts != 5 {
		t.Errorf("seven targets: MaxAttempts %d, want 5", m.MaxAttempts)
	}
	if m := s.Models["once"].Default; m.MaxAttempts != 1 {
		t.Errorf("max_attempts 1 with three targets: MaxAttempts %d, want 1", m.MaxAttempts)
	}
	if got := strings.Join(s.ModelNames, ","); got != "limited,once,seven,two" {
		t.Errorf("ModelNames %s", got)
	}
	p := two.Default.Targets[0]
	if p.Timeouts != (Timeouts{DefaultConnect, DefaultFirstByte, DefaultStall, DefaultTotal}) || !p.StreamUsage || !p.RetryOn[429] || p.RetryOn[418] {
		t.Errorf("defaults of provider p: %+v", p)
	}
	q := two.Routes[2].Targets[0]
	if q.Timeouts != (Timeouts{time.Second, time.Nanosecond, 2 * time.Second, 3 * time.Second}) || q.StreamUsage || !q.RetryOn[418] || q.RetryOn[429] ||
		q.Provider.Timeout() != 3*time.Second {
		t.Errorf("provider q: %+v", q)
	}
	if two.Level != nil {
		t.Error("a model without limits has a level")
	}
	lm := s.Models["limited"]
	if lm.Level == nil || lm.Level.Subject.ID != "model:limited" || lm.Level.Column != "model" || lm.Level.LedgerID != "limited" ||
		lm.Level.Reserve != 500_000 || lm.Level.Subject.Limits.RPM != 5 || lm.ReserveMicros != 500_000 {
		t.Errorf("model level %+v", lm.Level)
	}
}

func TestSnapshotVersionsGrow(t *testing.T) {
	f := oneModel(config.Target{Provider: "p", Model: "x"})
	in := stubInputs(f)
	in.Source = "/etc/sluice.yaml"
	a, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Compile(in)
	if b.Version <= a.Version || a.Source != "/etc/sluice.yaml" || a.LoadedAt.IsZero() {
		t.Errorf("versions %d then %d, source %q", a.Version, b.Version, a.Source)
	}
	var h Holder
	if h.Load() != nil {
		t.Fatal("an empty holder has a snapshot")
	}
	h.Store(a)
	h.Store(b)
	if h.Load() != b {
		t.Error("the holder does not give the last snapshot")
	}
}

// TestKeyPool: keys rotate; a resting key is skipped; when all rest, the
// pool still answers.
func TestKeyPool(t *testing.T) {
	reg := route.NewRegistry(route.HealthOptions{})
	p := newKeyPool(reg, "prov", []string{"k0", "k1", "k2"})
	var got []string
	for range 4 {
		_, k := p.Pick()
		got = append(got, k)
	}
	if strings.Join(got, ",") != "k0,k1,k2,k0" {
		t.Fatalf("rotation %v", got)
	}
	p.Cooldown(2, time.Now().Add(time.Hour)) // the next pick would be k1, then k2
	got = got[:0]
	var idx []int
	for range 3 {
		i, k := p.Pick()
		got = append(got, k)
		idx = append(idx, i)
	}
	if strings.Join(got, ",") != "k1,k0,k0" || idx[0] != 1 || idx[1] != 0 {
		t.Fatalf("with k2 resting: %v %v", got, idx)
	}
	p.Cooldown(0, time.Now().Add(time.Hour))
	p.Cooldown(1, time.Now().Add(time.Hour))
	i, k := p.Pick()
	if k != p.keys[i] {
		t.Fatalf("Pick returned index %d with key %s", i, k)
	}
	// Another provider's pool has its own health.
	other := newKeyPool(reg, "prov2", []string{"k0"})
	if _, k := other.Pick(); k != "k0" || other.health[0].Ejected() {
		t.Error("resting keys leaked to another provider")
	}
}

func TestKeyExpiredEdges(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	k := &Key{ExpiresAt: at}
	tests := []struct {
		now  time.Time
		want bool
	}{
		{at.Add(-time.Nanosecond), false},
		{at, true},
		{at.Add(time.Second), true},
	}
	for _, tt := range tests {
		if got := k.Expired(tt.now); got != tt.want {
			t.Errorf("Expired(%v) = %v, want %v", tt.now, got, tt.want)
		}
	}
	if (&Key{}).Expired(at) {
		t.Error("a key without expiry expired")
	}
}

// TestProviderDefaults: what a provider without timeouts or retry_on gets,
// as documented (docs/providers-and-audit.md, config.Provider.RetryOn),
// and a one-key api_keys pool still supplies its key.
func TestProviderDefaults(t *testing.T) {
	f := oneModel(config.Target{Provider: "p", Model: "x"}, config.Target{Provider: "single", Model: "y"})
	f.Providers = append(f.Providers, config.Provider{Name: "single", Type: "openai", BaseURL: "https://s.example/v1", APIKeys: []string{"sk-only"}})
	s, err := Compile(stubInputs(f))
	if err != nil {
		t.Fatal(err)
	}
	tg := s.Models["m"].Default.Targets[0]
	want := Timeouts{Connect: 5 * time.Second, FirstByte: 60 * time.Second, Stall: 120 * time.Second, Total: 10 * time.Minute}
	if tg.Timeouts != want || tg.Provider.Timeout() != 10*time.Minute {
		t.Errorf("default timeouts %+v, want %+v", tg.Timeouts, want)
	}
	failover := []int{408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529}
	for _, code := range failover {
		if !tg.RetryOn[code] {
			t.Errorf("status %d does not fail over by default", code)
		}
	}
	for _, code := range []int{200, 400, 401, 403, 404, 413, 422, 501, 505, 521, 523, 525, 530} {
		if tg.RetryOn[code] {
			t.Errorf("status %d fails over by default", code)
		}
	}
	if len(tg.RetryOn) != len(failover) {
		t.Errorf("default retry_on %v", tg.RetryOn)
	}
	if tg.Keys != nil {
		t.Error("a provider without api_keys has a key pool")
	}
	one := s.Models["m"].Default.Targets[1]
	if one.Keys == nil {
		t.Fatal("a one-key api_keys pool was dropped: the upstream would get no key")
	}
	if _, k := one.Keys.Pick(); k != "sk-only" {
		t.Errorf("Pick = %q, want sk-only", k)
	}
}

// TestStoredKeyAlertsNeedABudget: alerts are kept with any budget, however
// small, and dropped without one.
func TestStoredKeyAlertsNeedABudget(t *testing.T) {
	tests := []struct {
		budget int64
		alerts bool
	}{
		{0, false},
		{1, true},
		{1_000_000, true},
	}
	for _, tt := range tests {
		k := keyFromStore(store.KeyRecord{ID: "k", BudgetMicros: tt.budget, AlertPercents: []int{75}})
		if got := k.Limits.AlertPercents[0] == 75; got != tt.alerts {
			t.Errorf("budget %d: alerts kept = %v, want %v", tt.budget, got, tt.alerts)
		}
		if got := k.Limits.BudgetPeriod == ratelimit.Monthly; got != tt.alerts {
			t.Errorf("budget %d: period %q", tt.budget, k.Limits.BudgetPeriod)
		}
	}
}
