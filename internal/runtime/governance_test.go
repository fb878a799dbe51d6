package runtime

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/ratelimit"
	"github.com/sluicehq/sluice/internal/store"
)

func TestKeyAllowsEndpoint(t *testing.T) {
	open := &Key{}
	chatOnly := &Key{Endpoints: map[string]bool{"chat": true}}
	counting := &Key{Endpoints: map[string]bool{"count_tokens": true}}
	tests := []struct {
		name     string
		k        *Key
		endpoint string
		want     bool
	}{
		{"no restriction", open, "embeddings", true},
		{"listed family", chatOnly, "chat.completions", true},
		{"other family", chatOnly, "embeddings", false},
		{"models is always allowed", chatOnly, "models", true},
		{"usage is always allowed", chatOnly, "usage", true},
		{"count_tokens is its own family", chatOnly, "messages.count_tokens", false},
		{"count_tokens allowed in any dialect", counting, "messages.count_tokens", true},
		{"count_tokens allowed for gemini", counting, "gemini.count_tokens", true},
		{"count_tokens does not open the family", counting, "messages.create", false},
	}
	for _, tt := range tests {
		if got := tt.k.AllowsEndpoint(tt.endpoint); got != tt.want {
			t.Errorf("%s: AllowsEndpoint(%q) = %v, want %v", tt.name, tt.endpoint, got, tt.want)
		}
	}
}

func TestKeyAllowsAddr(t *testing.T) {
	k := &Key{Networks: networks([]string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.7", "not a network"})}
	if len(k.Networks) != 3 {
		t.Fatalf("networks %v: the malformed entry should be dropped", k.Networks)
	}
	tests := []struct {
		addr string
		want bool
	}{
		{"10.1.2.3", true},
		{"::ffff:10.1.2.3", true}, // IPv4 on a dual-stack listener
		{"11.0.0.1", false},
		{"2001:db8::1", true},
		{"2001:db9::1", false},
		{"192.0.2.7", true},
		{"192.0.2.8", false},
	}
	for _, tt := range tests {
		if got := k.AllowsAddr(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("AllowsAddr(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if !(&Key{}).AllowsAddr(netip.MustParseAddr("203.0.113.1")) {
		t.Error("a key without networks refused a client")
	}
	if networks(nil) != nil {
		t.Error("no networks must mean anywhere (nil)")
	}
}

func TestKeyHasTag(t *testing.T) {
	k := &Key{Tags: []string{"prod", "Team-A"}}
	tests := []struct {
		tags []string
		want bool
	}{
		{[]string{"team-a"}, true},
		{[]string{"dev", "PROD"}, true},
		{[]string{"dev"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := k.HasTag(tt.tags); got != tt.want {
			t.Errorf("HasTag(%v) = %v, want %v", tt.tags, got, tt.want)
		}
	}
}

func TestLimitsConversions(t *testing.T) {
	full := config.Limits{RPM: 1, TPM: 2, MaxConcurrent: 3,
		Budget: &config.Budget{AmountUSD: 1.2345675, Period: "daily", ReserveUSD: 0.0000015, AlertPercents: []int{50, 80}}}
	noPeriod := config.Limits{Budget: &config.Budget{AmountUSD: 2}}

	lim, reserve := limitsFromConfig(full)
	want := ratelimit.Limits{RPM: 1, TPM: 2, MaxConcurrent: 3, BudgetMicros: 1_234_568, BudgetPeriod: ratelimit.Daily,
		AlertPercents: alertArray([]int{50, 80})}
	if lim != want || reserve != 2 {
		t.Errorf("limitsFromConfig = %+v, %d; want %+v, 2", lim, reserve, want)
	}
	if lim, _ := limitsFromConfig(noPeriod); lim.BudgetPeriod != ratelimit.Monthly || lim.BudgetMicros != 2_000_000 {
		t.Errorf("a budget without a period: %+v", lim)
	}
	if lim, reserve := limitsFromConfig(config.Limits{RPM: 9}); lim != (ratelimit.Limits{RPM: 9}) || reserve != 0 {
		t.Errorf("no budget: %+v, %d", lim, reserve)
	}

	st := StoreLimits(full)
	if st.RPM != 1 || st.TPM != 2 || st.MaxConcurrent != 3 || st.BudgetMicros != 1_234_568 || st.BudgetPeriod != "daily" ||
		st.ReserveMicros != 2 || len(st.AlertPercents) != 2 || st.AlertPercents[1] != 80 {
		t.Errorf("StoreLimits = %+v", st)
	}
	if st := StoreLimits(noPeriod); st.BudgetPeriod != "monthly" {
		t.Errorf("StoreLimits without a period = %+v", st)
	}
	if st := StoreLimits(config.Limits{TPM: 4}); st.BudgetMicros != 0 || st.BudgetPeriod != "" || st.TPM != 4 {
		t.Errorf("StoreLimits without a budget = %+v", st)
	}

	// The store round trip gives what the file gives.
	back := LimitsFromStore(StoreLimits(config.Limits{TPM: 4}))
	if l, _ := limitsFromConfig(config.Limits{TPM: 4}); back != l {
		t.Errorf("LimitsFromStore(StoreLimits(x)) = %+v, want %+v", back, l)
	}
	if back := LimitsFromStore(StoreLimits(full)); back != want {
		t.Errorf("round trip = %+v, want %+v", back, want)
	}
	tests := []struct {
		name string
		in   store.Limits
		want ratelimit.Limits
	}{
		{"budget without period is monthly", store.Limits{BudgetMicros: 5}, ratelimit.Limits{BudgetMicros: 5, BudgetPeriod: ratelimit.Monthly}},
		{"period kept", store.Limits{BudgetMicros: 5, BudgetPeriod: "weekly"}, ratelimit.Limits{BudgetMicros: 5, BudgetPeriod: ratelimit.Weekly}},
		{"alerts without a budget are dropped", store.Limits{RPM: 3, AlertPercents: []int{50}}, ratelimit.Limits{RPM: 3}},
		{"alerts with the smallest budget", store.Limits{BudgetMicros: 1, AlertPercents: []int{90}},
			ratelimit.Limits{BudgetMicros: 1, BudgetPeriod: ratelimit.Monthly, AlertPercents: alertArray([]int{90})}},
		{"alerts with a budget", store.Limits{BudgetMicros: 5, AlertPercents: []int{90}},
			ratelimit.Limits{BudgetMicros: 5, BudgetPeriod: ratelimit.Monthly, AlertPercents: alertArray([]int{90})}},
	}
	for _, tt := range tests {
		if got := LimitsFromStore(tt.in); got != tt.want {
			t.Errorf("%s: LimitsFromStore = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// tenancy is an organisation "acme" with team "web" and application "shop",
// an orphaned team, and limits on some of them.
var tenancy = []store.Unit{
	{Kind: store.KindOrg, ID: "org_1", OrgID: "org_1", Name: "acme", Limits: store.Limits{BudgetMicros: 100, ReserveMicros: 7}},
	{Kind: store.KindTeam, ID: "team_1", OrgID: "org_1", TeamID: "team_1", Name: "web"},
	{Kind: store.KindApp, ID: "app_1", OrgID: "org_1", TeamID: "team_1", Name: "shop", Limits: store.Limits{RPM: 10}},
	{Kind: store.KindTeam, ID: "team_9", OrgID: "org_gone", TeamID: "team_9", Name: "orphan"},
	{Kind: store.KindApp, ID: "app_9", OrgID: "org_1", TeamID: "team_gone", Name: "lost"},
}

func TestGovernanceUnits(t *testing.T) {
	s := &Snapshot{}
	if err := s.compileGovernance(&config.File{}, tenancy); err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{"acme": "org_1", "acme/web": "team_1", "acme/web/shop": "app_1"}
	for path, id := range paths {
		if u := s.UnitByPath(path); u == nil || u.ID != id {
			t.Errorf("UnitByPath(%q) = %+v, want %s", path, u, id)
		}
	}
	for _, path := range []string{"orphan", "/orphan", "acme/orphan", "lost", "acme/lost", "nope"} {
		if u := s.UnitByPath(path); u != nil {
			t.Errorf("UnitByPath(%q) = %+v, want none", path, u)
		}
	}
	if u := s.Unit("org_1"); u == nil || u.Limits.BudgetMicros != 100 || u.Limits.BudgetPeriod != ratelimit.Monthly || u.ReserveMicros != 7 {
		t.Errorf("Unit(org_1) = %+v", u)
	}
	if s.Unit("") != nil || s.Unit("org_x") != nil {
		t.Error("Unit found a unit that does not exist")
	}
}

func TestGovernanceDenyRules(t *testing.T) {
	f := &config.File{Access: config.Access{
		Deny: []config.DenyRule{
			{Roles: []string{"developer"}, Org: "acme", Actions: []string{"keys.*"}},
			{Users: []string{"eve@example.com"}, Actions: []string{"*"}},
			{Roles: []string{"viewer"}, Actions: []string{"usage.read"}},
		},
		TrustedProxies: []string{"10.0.0.0/8", "bogus", "192.0.2.1"},
	}}
	s := &Snapshot{}
	if err := s.compileGovernance(f, tenancy); err != nil {
		t.Fatal(err)
	}
	dev := func(org string) *authz.Principal {
		return &authz.Principal{UserID: "u1", Bindings: []authz.Binding{{Role: authz.Developer, OrgID: org}}}
	}
	eve := &authz.Principal{UserID: "u2", Email: "eve@example.com", Bindings: []authz.Binding{{Role: authz.Owner, OrgID: "org_1"}}}
	viewer := &authz.Principal{UserID: "u3", Bindings: []authz.Binding{{Role: authz.Viewer, OrgID: "org_2"}}}
	tests := []struct {
		name string
		pr   *authz.Principal
		a    authz.Action
		org  string
		want bool
	}{
		{"keys.* denies key writes in the named organisation", dev("org_1"), authz.KeysWrite, "org_1", false},
		{"keys.* denies key reads there", dev("org_1"), authz.KeysRead, "org_1", false},
		{"keys.* leaves applications", dev("org_1"), authz.AppsWrite, "org_1", true},
		{"the rule stays in its organisation", dev("org_2"), authz.KeysWrite, "org_2", true},
		{"* denies a named user everything", eve, authz.OrgsRead, "org_1", false},
		{"* denies a named user's writes", eve, authz.UsersWrite, "org_1", false},
		{"* leaves the user itself", eve, authz.Self, "", true},
		{"a plain action", viewer, authz.UsageRead, "org_2", false},
		{"a plain action only", viewer, authz.KeysRead, "org_2", true},
	}
	for _, tt := range tests {
		if got := s.Policy.Allowed(tt.pr, tt.a, authz.Scope{OrgID: tt.org}); got != tt.want {
			t.Errorf("%s: Allowed = %v, want %v", tt.name, got, tt.want)
		}
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32")}
	if len(s.TrustedProxies) != 2 || s.TrustedProxies[0] != want[0] || s.TrustedProxies[1] != want[1] {
		t.Errorf("TrustedProxies = %v, want %v", s.TrustedProxies, want)
	}
}

func TestGovernanceErrors(t *testing.T) {
	tests := []struct {
		name string
		rule config.DenyRule
		want string
	}{
		{"unknown organisation", config.DenyRule{Roles: []string{"viewer"}, Org: "nope", Actions: []string{"*"}}, `access.deny: no organisation "nope"`},
		{"a team is not an organisation", config.DenyRule{Roles: []string{"viewer"}, Org: "acme/web/x", Actions: []string{"*"}}, "no organisation"},
		{"unknown action", config.DenyRule{Roles: []string{"viewer"}, Actions: []string{"keys.burn"}}, "access.deny: "},
		{"unknown role", config.DenyRule{Roles: []string{"root"}, Actions: []string{"*"}}, "access.deny: "},
	}
	for _, tt := range tests {
		s := &Snapshot{}
		err := s.compileGovernance(&config.File{Access: config.Access{Deny: []config.DenyRule{tt.rule}}}, tenancy)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}
