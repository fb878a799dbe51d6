package authz

import "testing"

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
