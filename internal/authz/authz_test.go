package authz

import (
	"strings"
	"testing"
)

func TestAllowed(t *testing.T) {
	p, err := Compile([]Rule{
		{Roles: []Role{Developer}, OrgID: "orgB", Prefixes: []string{"keys."}},
		{Users: []string{"Mallory@Example.com"}, Actions: []Action{AuditRead}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ownerA := &Principal{UserID: "u1", Bindings: []Binding{{Owner, "orgA", ""}}}
	devTeamA1 := &Principal{UserID: "u2", Bindings: []Binding{{Developer, "orgA", "teamA1"}}}
	devB := &Principal{UserID: "u3", Bindings: []Binding{{Developer, "orgB", ""}}}
	// An admin of orgB who is also a developer there: the developer deny on
	// keys wins over the admin's grant.
	adminDevB := &Principal{UserID: "u4", Bindings: []Binding{{Admin, "orgB", ""}, {Developer, "orgB", ""}}}
	mallory := &Principal{UserID: "u5", Email: "mallory@example.com", Bindings: []Binding{{Auditor, "orgA", ""}}}
	super := &Principal{Super: true}
	orgA, teamA1, teamA2, orgB := Scope{OrgID: "orgA"}, Scope{"orgA", "teamA1"}, Scope{"orgA", "teamA2"}, Scope{OrgID: "orgB"}
	tests := []struct {
		name string
		pr   *Principal
		a    Action
		s    Scope
		want bool
	}{
		{"nil principal", nil, OrgsRead, orgA, false},
		{"nil principal self", nil, Self, Scope{}, false},
		{"owner reads own org", ownerA, OrgsRead, orgA, true},
		{"owner writes team in own org", ownerA, TeamsWrite, teamA1, true},
		{"owner cross tenant", ownerA, OrgsRead, orgB, false},
		{"owner platform", ownerA, ProvidersWrite, Scope{}, false},
		{"owner provider read is platform", ownerA, ProvidersRead, orgA, false},
		{"dev writes keys in own team", devTeamA1, KeysWrite, teamA1, true},
		{"dev other team", devTeamA1, KeysRead, teamA2, false},
		{"dev org-level object", devTeamA1, TeamsWrite, orgA, false},
		{"dev sees own org", devTeamA1, OrgsRead, orgA, true},
		{"dev cannot set limits", devTeamA1, LimitsWrite, teamA1, false},
		{"dev no audit", devTeamA1, AuditRead, teamA1, false},
		{"dev self", devTeamA1, Self, Scope{}, true},
		{"deny rule on dev in orgB", devB, KeysWrite, Scope{"orgB", "t"}, false},
		{"deny rule leaves apps", devB, AppsWrite, Scope{"orgB", "t"}, true},
		{"deny wins over admin grant", adminDevB, KeysWrite, orgB, false},
		{"admin not denied elsewhere", adminDevB, TeamsWrite, orgB, true},
		{"user deny", mallory, AuditRead, orgA, false},
		{"user deny leaves other actions", mallory, UsageRead, orgA, true},
		{"super anything", super, ProvidersWrite, Scope{}, true},
		{"super in org", super, KeysWrite, teamA1, true},
	}
	for _, tt := range tests {
		if got := p.Allowed(tt.pr, tt.a, tt.s); got != tt.want {
			t.Errorf("%s: Allowed(%s, %+v) = %v, want %v", tt.name, tt.a, tt.s, got, tt.want)
		}
	}
}

func TestEveryRoleGrantsOnlyOrgActions(t *testing.T) {
	p, _ := Compile(nil)
	for _, r := range Roles {
		pr := &Principal{Bindings: []Binding{{r, "o", ""}}}
		for _, a := range Actions {
			if a.Platform() && p.Allowed(pr, a, Scope{OrgID: "o"}) {
				t.Errorf("role %s got platform action %s", r, a)
			}
		}
		if r != Owner && p.Allowed(pr, OrgsWrite, Scope{OrgID: "o"}) {
			t.Errorf("role %s may change the organisation", r)
		}
	}
}

func TestVisibleAndGrant(t *testing.T) {
	p, _ := Compile(nil)
	pr := &Principal{Bindings: []Binding{{Admin, "orgA", ""}, {Developer, "orgB", "teamB1"}, {Viewer, "orgC", "teamC1"}}}
	v := p.Visible(pr, KeysWrite)
	if !v.Orgs["orgA"] || !v.Teams["teamB1"] || v.Teams["teamC1"] || v.All {
		t.Fatalf("visibility %+v", v)
	}
	if !v.Shows(Scope{"orgA", "x"}) || v.Shows(Scope{"orgB", "teamB2"}) || !v.Shows(Scope{"orgB", "teamB1"}) {
		t.Fatal("Shows disagrees with the bindings")
	}
	if p.MayGrant(pr, Owner, Scope{OrgID: "orgA"}) {
		t.Fatal("an admin made an owner")
	}
	if !p.MayGrant(pr, Developer, Scope{"orgA", "t"}) {
		t.Fatal("an admin could not add a developer")
	}
	owner := &Principal{Bindings: []Binding{{Owner, "orgA", ""}}}
	if !p.MayGrant(owner, Owner, Scope{OrgID: "orgA"}) || p.MayGrant(owner, Owner, Scope{OrgID: "orgB"}) {
		t.Fatal("owner grants wrong")
	}
}

func TestCompileErrors(t *testing.T) {
	for _, r := range []Rule{
		{Actions: []Action{KeysRead}},
		{Roles: []Role{"root"}, Actions: []Action{KeysRead}},
		{Roles: []Role{Viewer}, Actions: []Action{"keys.*"}},
		{Roles: []Role{Viewer}},
	} {
		if _, err := Compile([]Rule{r}); err == nil {
			t.Errorf("rule %+v compiled", r)
		}
	}
}

// TestAllowedWithin: the decision about a collection (anywhere, in an
// organisation, in a team) before its items are filtered.
func TestAllowedWithin(t *testing.T) {
	p, err := Compile([]Rule{{Roles: []Role{Viewer}, OrgID: "orgB", Actions: []Action{KeysRead}}})
	if err != nil {
		t.Fatal(err)
	}
	devTeamA1 := &Principal{UserID: "u1", Bindings: []Binding{{Developer, "orgA", "teamA1"}}}
	adminA := &Principal{UserID: "u2", Bindings: []Binding{{Admin, "orgA", ""}}}
	viewerB := &Principal{UserID: "u3", Bindings: []Binding{{Viewer, "orgB", ""}}}
	none := &Principal{UserID: "u4"}
	any, orgA, teamA1, teamA2, orgB := Scope{}, Scope{OrgID: "orgA"}, Scope{"orgA", "teamA1"}, Scope{"orgA", "teamA2"}, Scope{OrgID: "orgB"}
	tests := []struct {
		name string
		pr   *Principal
		a    Action
		s    Scope
		want bool
	}{
		{"nil principal", nil, KeysRead, any, false},
		{"no bindings lists nothing", none, OrgsRead, any, false},
		{"super anywhere", &Principal{Super: true}, UsersRead, any, true},
		{"super platform", &Principal{Super: true}, ProvidersRead, any, true},
		{"admin platform", adminA, ProvidersRead, any, false},
		{"team dev lists keys anywhere", devTeamA1, KeysRead, any, true},
		{"team dev lists keys in its org", devTeamA1, KeysRead, orgA, true},
		{"team dev lists keys in its team", devTeamA1, KeysRead, teamA1, true},
		{"team dev not in another team", devTeamA1, KeysRead, teamA2, false},
		{"team dev not in another org", devTeamA1, KeysRead, orgB, false},
		{"dev has no users.read anywhere", devTeamA1, UsersRead, any, false},
		{"dev has no audit.read in its org", devTeamA1, AuditRead, orgA, false},
		{"org admin in any of its teams", adminA, KeysWrite, teamA2, true},
		{"deny refuses the collection", viewerB, KeysRead, orgB, false},
		{"deny refuses it anywhere", viewerB, KeysRead, any, false},
		{"deny leaves other actions", viewerB, AppsRead, orgB, true},
	}
	for _, tt := range tests {
		if got := p.AllowedWithin(tt.pr, tt.a, tt.s); got != tt.want {
			t.Errorf("%s: AllowedWithin(%s, %+v) = %v, want %v", tt.name, tt.a, tt.s, got, tt.want)
		}
	}
}

// TestTeamBindingStaysInItsTeam: a role bound to one team acts in that team
// only; the organisation's own objects (its settings, its teams' limits,
// org-level keys and applications) stay out of reach, except reading the
// organisation itself.
func TestTeamBindingStaysInItsTeam(t *testing.T) {
	p, err := Compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	devA1 := &Principal{UserID: "u1", Bindings: []Binding{{Developer, "orgA", "teamA1"}}}
	adminA1 := &Principal{UserID: "u2", Bindings: []Binding{{Admin, "orgA", "teamA1"}}}
	ownerA1 := &Principal{UserID: "u3", Bindings: []Binding{{Owner, "orgA", "teamA1"}}}
	orgA, teamA1, teamA2 := Scope{OrgID: "orgA"}, Scope{"orgA", "teamA1"}, Scope{"orgA", "teamA2"}
	tests := []struct {
		name string
		pr   *Principal
		a    Action
		s    Scope
		want bool
	}{
		{"developer writes keys in its team", devA1, KeysWrite, teamA1, true},
		{"developer cannot write org-level keys", devA1, KeysWrite, orgA, false},
		{"developer cannot write org-level applications", devA1, AppsWrite, orgA, false},
		{"developer cannot read org-level keys", devA1, KeysRead, orgA, false},
		{"developer cannot read org-wide usage", devA1, UsageRead, orgA, false},
		{"developer reads its organisation", devA1, OrgsRead, orgA, true},
		{"developer does not read the organisation through another team", devA1, OrgsRead, teamA2, false},
		{"team admin sets limits beneath its team", adminA1, LimitsWrite, teamA1, true},
		{"team admin cannot set its own team's limits", adminA1, LimitsWrite, orgA, false},
		{"team admin cannot manage org-level users", adminA1, UsersWrite, orgA, false},
		{"team admin cannot create teams", adminA1, TeamsWrite, orgA, false},
		{"team owner cannot change the organisation", ownerA1, OrgsWrite, orgA, false},
		{"team owner cannot read the org's audit log", ownerA1, AuditRead, orgA, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Allowed(tt.pr, tt.a, tt.s); got != tt.want {
				t.Errorf("Allowed(%s, %+v) = %v, want %v", tt.a, tt.s, got, tt.want)
			}
		})
	}
}

// TestPlatformIsSuperAdminOnly: the platform scope and the platform actions
// belong to the super-admin; a binding that names no organisation (a
// malformed row) must not reach them.
func TestPlatformIsSuperAdminOnly(t *testing.T) {
	p, err := Compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	noOrg := &Principal{UserID: "u1", Bindings: []Binding{{Owner, "", ""}}}
	for _, a := range Actions {
		if a == Self {
			continue
		}
		if p.Allowed(noOrg, a, Scope{}) {
			t.Errorf("a binding without an organisation was allowed %s on the platform", a)
		}
		if !p.Allowed(&Principal{Super: true}, a, Scope{}) {
			t.Errorf("the super-admin was refused %s", a)
		}
	}
	// Platform() marks exactly the actions that no role is given in its
	// own organisation (the admin API authorizes those up front).
	for _, a := range Actions {
		if a == Self {
			continue
		}
		granted := false
		for _, r := range Roles {
			if p.Allowed(&Principal{Bindings: []Binding{{r, "o", ""}}}, a, Scope{OrgID: "o"}) {
				granted = true
			}
		}
		if a.Platform() == granted {
			t.Errorf("%s: Platform() = %v, but some role granted it: %v", a, a.Platform(), granted)
		}
	}
	if Self.Platform() {
		t.Error("self is not a platform action")
	}
}

// TestVisible: what a list shows agrees with the single-object decision:
// nothing for nobody or a denied user, everything for the super-admin.
func TestVisible(t *testing.T) {
	p, err := Compile([]Rule{
		{Users: []string{"Mallory@Example.com"}, Actions: []Action{KeysRead}},
		{Users: []string{"root-user"}, Actions: []Action{UsersRead}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mallory := &Principal{UserID: "u5", Email: "mallory@example.com", Bindings: []Binding{{Admin, "orgA", ""}, {Developer, "orgB", "teamB1"}}}
	super := &Principal{Super: true}
	superUser := &Principal{Super: true, UserID: "root-user", Email: "root@example.com"}
	scopes := []Scope{{}, {OrgID: "orgA"}, {"orgA", "teamA1"}, {OrgID: "orgB"}, {"orgB", "teamB1"}, {"orgZ", "teamZ"}}
	tests := []struct {
		name string
		pr   *Principal
		a    Action
		want []bool // Shows, per scope above
	}{
		{"nobody sees nothing", nil, KeysRead, []bool{false, false, false, false, false, false}},
		{"the super-admin sees everything", super, KeysRead, []bool{true, true, true, true, true, true}},
		{"a super-admin user sees everything", superUser, KeysRead, []bool{true, true, true, true, true, true}},
		{"a deny naming the super-admin user hides the list", superUser, UsersRead, []bool{false, false, false, false, false, false}},
		{"a deny naming the user by email hides the list", mallory, KeysRead, []bool{false, false, false, false, false, false}},
		{"the user's other actions still list", mallory, AppsRead, []bool{false, true, true, false, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := p.Visible(tt.pr, tt.a)
			for i, s := range scopes {
				if got := v.Shows(s); got != tt.want[i] {
					t.Errorf("Shows(%+v) = %v, want %v", s, got, tt.want[i])
				}
				// A list never shows what the object decision refuses.
				if v.Shows(s) && s.OrgID != "" && !p.Allowed(tt.pr, tt.a, s) {
					t.Errorf("Shows(%+v) but Allowed refuses it", s)
				}
			}
		})
	}
}

// TestPrincipalName: the name the audit log records for each kind of
// principal.
func TestPrincipalName(t *testing.T) {
	tests := []struct {
		name string
		pr   *Principal
		want string
	}{
		{"no principal", nil, "anonymous"},
		{"bootstrap token", &Principal{Kind: "bootstrap", Super: true}, "bootstrap-token"},
		{"super-admin user by email", &Principal{Super: true, UserID: "u0", Email: "root@example.com"}, "root@example.com"},
		{"super-admin user without email", &Principal{Super: true, UserID: "u0"}, "u0"},
		{"user by email", &Principal{UserID: "u1", Email: "ann@example.com"}, "ann@example.com"},
		{"user without email", &Principal{UserID: "u1"}, "u1"},
		{"token of a user with no id", &Principal{Kind: "token", Email: "bob@example.com"}, "bob@example.com"},
	}
	for _, tt := range tests {
		if got := tt.pr.Name(); got != tt.want {
			t.Errorf("%s: Name() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestUnknownActionPanicsNamingIt: an action missing from Actions is a
// programming error; the panic names it so the route table can be fixed.
func TestUnknownActionPanicsNamingIt(t *testing.T) {
	p, err := Compile(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		r := recover()
		if s, _ := r.(string); !strings.Contains(s, "widgets.write") {
			t.Fatalf("panic %v does not name the action", r)
		}
	}()
	p.Allowed(&Principal{Bindings: []Binding{{Owner, "o", ""}}}, "widgets.write", Scope{OrgID: "o"})
	t.Fatal("an unknown action was decided")
}
