// Package authz decides every administrative request. Role definitions and
// the configuration's deny rules are compiled once into an immutable Policy;
// the admin API asks it, before a handler runs, whether a principal may
// perform an action on an object in a scope, and which organisations and
// teams a list may show.
//
// Rules:
//   - A binding gives a role on an organisation (TeamID "") or on one team.
//     It applies to an object in organisation O and team T when its
//     organisation is O and it is org-wide or its team is T.
//   - The platform scope (no organisation: providers, models, reload) belongs
//     to the super-admin only.
//   - Deny wins: if a deny rule matches any applicable binding of the
//     principal (or the principal itself), the action is refused whatever
//     the other bindings allow.
package authz

import (
	"fmt"
	"slices"
	"strings"
)

// Role is a named set of actions.
type Role string

// Roles.
const (
	Owner     Role = "owner"
	Admin     Role = "admin"
	Developer Role = "developer"
	Viewer    Role = "viewer"
	Auditor   Role = "auditor"
)

// Roles lists every role, strongest first.
var Roles = []Role{Owner, Admin, Developer, Viewer, Auditor}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Action is something a principal does to a kind of object.
type Action string

// Actions. ".write" covers create, update and delete; LimitsWrite is the
// right to set limits and budgets on the level below (a team's limits are
// set in the organisation's scope, an application's in its team's scope, a
// key's in its team's scope), so nobody raises their own budget.
const (
	OrgsRead       Action = "orgs.read"
	OrgsWrite      Action = "orgs.write"
	TeamsRead      Action = "teams.read"
	TeamsWrite     Action = "teams.write"
	AppsRead       Action = "apps.read"
	AppsWrite      Action = "apps.write"
	KeysRead       Action = "keys.read"
	KeysWrite      Action = "keys.write"
	LimitsWrite    Action = "limits.write"
	UsersRead      Action = "users.read"
	UsersWrite     Action = "users.write"
	UsageRead      Action = "usage.read"
	AuditRead      Action = "audit.read"
	ProvidersRead  Action = "providers.read"
	ProvidersWrite Action = "providers.write"
	GatewayRead    Action = "gateway.read"
	GatewayWrite   Action = "gateway.write"
	// API products: products.write (create, publish, deprecate, stop) in
	// the product's owning team; subscriptions.write (request, cancel) in
	// the subscribing application's team; subscriptions.approve (approve,
	// reject, suspend, resume) in the product's team.
	ProductsRead         Action = "products.read"
	ProductsWrite        Action = "products.write"
	SubscriptionsRead    Action = "subscriptions.read"
	SubscriptionsWrite   Action = "subscriptions.write"
	SubscriptionsApprove Action = "subscriptions.approve"
	// Self is allowed to every authenticated principal: reading who it is
	// and managing its own admin API tokens.
	Self Action = "self"
)

// Actions lists every action.
var Actions = []Action{OrgsRead, OrgsWrite, TeamsRead, TeamsWrite, AppsRead, AppsWrite, KeysRead, KeysWrite,
	LimitsWrite, UsersRead, UsersWrite, UsageRead, AuditRead, ProvidersRead, ProvidersWrite, GatewayRead,
	GatewayWrite, Self,
	ProductsRead, ProductsWrite, SubscriptionsRead, SubscriptionsWrite, SubscriptionsApprove}

// platform actions concern objects outside every organisation.
var platform = map[Action]bool{ProvidersRead: true, ProvidersWrite: true, GatewayRead: true, GatewayWrite: true}

// Platform reports whether a is a platform action (super-admin only).
func (a Action) Platform() bool { return platform[a] }

type actionSet uint64

func bit(a Action) actionSet {
	i := slices.Index(Actions, a)
	if i < 0 {
		panic("authz: unknown action " + string(a))
	}
	return 1 << i
}

func (s actionSet) has(a Action) bool { return s&bit(a) != 0 }

// grants are the built-in role definitions.
var grants = map[Role][]Action{
	Owner: {OrgsRead, OrgsWrite, TeamsRead, TeamsWrite, AppsRead, AppsWrite, KeysRead, KeysWrite, LimitsWrite,
		UsersRead, UsersWrite, UsageRead, AuditRead,
		ProductsRead, ProductsWrite, SubscriptionsRead, SubscriptionsWrite, SubscriptionsApprove},
	Admin: {OrgsRead, TeamsRead, TeamsWrite, AppsRead, AppsWrite, KeysRead, KeysWrite, LimitsWrite, UsersRead,
		UsersWrite, UsageRead, AuditRead,
		ProductsRead, ProductsWrite, SubscriptionsRead, SubscriptionsWrite, SubscriptionsApprove},
	Developer: {OrgsRead, TeamsRead, AppsRead, AppsWrite, KeysRead, KeysWrite, UsageRead,
		ProductsRead, SubscriptionsRead, SubscriptionsWrite},
	Viewer: {OrgsRead, TeamsRead, AppsRead, KeysRead, UsersRead, UsageRead,
		ProductsRead, SubscriptionsRead},
	Auditor: {OrgsRead, TeamsRead, AppsRead, KeysRead, UsersRead, UsageRead, AuditRead,
		ProductsRead, SubscriptionsRead},
}

// Binding gives a role on an organisation, or on one of its teams.
type Binding struct {
	Role   Role
	OrgID  string
	TeamID string // "" for the whole organisation
}

// Principal is who makes an admin request.
type Principal struct {
	Kind    string // "bootstrap", "token" or "session"
	UserID  string
	Email   string
	TokenID string
	// Super is the platform administrator (the bootstrap admin token).
	Super    bool
	Bindings []Binding
}

// Name identifies the principal in the audit log.
func (p *Principal) Name() string {
	switch {
	case p == nil:
		return "anonymous"
	case p.Super && p.UserID == "":
		return "bootstrap-token"
	case p.Email != "":
		return p.Email
	}
	return p.UserID
}

// Scope is where an object lives. The zero Scope is the platform.
type Scope struct {
	OrgID  string
	TeamID string // "" for objects of the organisation itself
}

// Rule is a deny rule from the configuration. Each field that is set must
// match: a rule with Roles applies to bindings with those roles (in OrgID,
// when set); a rule with Users applies to those users (by id or email)
// whatever their roles.
type Rule struct {
	Roles   []Role
	Users   []string
	OrgID   string
	Actions []Action // "*" is not an Action: use Prefix rules below
	// Prefixes deny every action that starts with one, e.g. "keys." or "".
	Prefixes []string
}

type compiledRule struct {
	roles   map[Role]bool
	users   map[string]bool
	orgID   string
	actions actionSet
}

// Policy is a compiled, immutable access-control object.
type Policy struct {
	allow map[Role]actionSet
	deny  []compiledRule
}

// Compile builds a Policy from the built-in roles and the deny rules.
func Compile(deny []Rule) (*Policy, error) {
	p := &Policy{allow: map[Role]actionSet{}}
	for r, as := range grants {
		var s actionSet
		for _, a := range as {
			s |= bit(a)
		}
		p.allow[r] = s
	}
	for i, r := range deny {
		cr := compiledRule{orgID: r.OrgID}
		if len(r.Roles) == 0 && len(r.Users) == 0 {
			return nil, fmt.Errorf("deny rule %d: name roles or users", i)
		}
		if len(r.Roles) > 0 {
			cr.roles = map[Role]bool{}
			for _, role := range r.Roles {
				if !role.Valid() {
					return nil, fmt.Errorf("deny rule %d: unknown role %q", i, role)
				}
				cr.roles[role] = true
			}
		}
		if len(r.Users) > 0 {
			cr.users = map[string]bool{}
			for _, u := range r.Users {
				cr.users[strings.ToLower(u)] = true
			}
		}
		for _, a := range r.Actions {
			if !slices.Contains(Actions, a) {
				return nil, fmt.Errorf("deny rule %d: unknown action %q", i, a)
			}
			cr.actions |= bit(a)
		}
		for _, pre := range r.Prefixes {
			for _, a := range Actions {
				if strings.HasPrefix(string(a), pre) && a != Self {
					cr.actions |= bit(a)
				}
			}
		}
		if cr.actions == 0 {
			return nil, fmt.Errorf("deny rule %d: no actions", i)
		}
		p.deny = append(p.deny, cr)
	}
	return p, nil
}

// applies reports whether binding b covers an object in scope s for action
// a. Members of a team see their organisation itself (OrgsRead).
func applies(b Binding, a Action, s Scope) bool {
	if b.OrgID != s.OrgID {
		return false
	}
	return b.TeamID == "" || b.TeamID == s.TeamID || (a == OrgsRead && s.TeamID == "")
}

// Allowed reports whether the principal may perform a in scope s.
func (p *Policy) Allowed(pr *Principal, a Action, s Scope) bool {
	if pr == nil {
		return false
	}
	if p.userDenied(pr, a) {
		return false
	}
	if a == Self {
		return true
	}
	if pr.Super {
		return true
	}
	if a.Platform() || s.OrgID == "" {
		return false
	}
	allowed := false
	for _, b := range pr.Bindings {
		if !applies(b, a, s) {
			continue
		}
		if p.roleDenied(b, a) {
			return false // deny wins
		}
		if p.allow[b.Role].has(a) {
			allowed = true
		}
	}
	return allowed
}

// AllowedWithin reports whether the principal may perform a on at least
// one object in scope s or beneath it: the decision about a collection
// (may it list keys in this organisation?), made before the collection is
// read; its items are then filtered with Allowed. The zero Scope asks
// "anywhere": the super-admin, or any binding that grants a.
func (p *Policy) AllowedWithin(pr *Principal, a Action, s Scope) bool {
	if pr == nil || p.userDenied(pr, a) {
		return false
	}
	if a == Self || pr.Super {
		return true
	}
	if a.Platform() {
		return false
	}
	for _, b := range pr.Bindings {
		if s.OrgID != "" && b.OrgID != s.OrgID {
			continue
		}
		// The narrowest scope both the binding and s cover.
		c := Scope{OrgID: b.OrgID, TeamID: b.TeamID}
		switch {
		case s.TeamID != "" && b.TeamID == "":
			c.TeamID = s.TeamID
		case s.TeamID != "" && b.TeamID != s.TeamID:
			continue
		}
		if p.Allowed(pr, a, c) {
			return true
		}
	}
	return false
}

func (p *Policy) userDenied(pr *Principal, a Action) bool {
	for _, r := range p.deny {
		if r.users != nil && r.actions.has(a) && (r.users[pr.UserID] || r.users[strings.ToLower(pr.Email)]) {
			return true
		}
	}
	return false
}

func (p *Policy) roleDenied(b Binding, a Action) bool {
	for _, r := range p.deny {
		if r.roles != nil && r.roles[b.Role] && r.actions.has(a) && (r.orgID == "" || r.orgID == b.OrgID) {
			return true
		}
	}
	return false
}

// Visibility says which objects a list may show for an action.
type Visibility struct {
	All   bool            // the super-admin: everything
	Orgs  map[string]bool // organisations visible whole
	Teams map[string]bool // single teams visible (in organisations not visible whole)
}

// Visible returns what a list of objects guarded by action a may show. An
// organisation whose role allows a but a deny refuses it is not shown.
func (p *Policy) Visible(pr *Principal, a Action) Visibility {
	v := Visibility{Orgs: map[string]bool{}, Teams: map[string]bool{}}
	if pr == nil || p.userDenied(pr, a) {
		return v
	}
	if pr.Super {
		v.All = true
		return v
	}
	for _, b := range pr.Bindings {
		s := Scope{OrgID: b.OrgID, TeamID: b.TeamID}
		if !p.Allowed(pr, a, s) {
			continue
		}
		if b.TeamID == "" {
			v.Orgs[b.OrgID] = true
		} else {
			v.Teams[b.TeamID] = true
		}
	}
	return v
}

// Shows reports whether an object in scope s is in the visibility.
func (v Visibility) Shows(s Scope) bool {
	return v.All || v.Orgs[s.OrgID] || (s.TeamID != "" && v.Teams[s.TeamID])
}

// MayGrant reports whether the principal may give role r in scope s: it
// needs UsersWrite there, and only owners (and the super-admin) make owners.
func (p *Policy) MayGrant(pr *Principal, r Role, s Scope) bool {
	if !p.Allowed(pr, UsersWrite, s) {
		return false
	}
	if r != Owner || pr.Super {
		return true
	}
	for _, b := range pr.Bindings {
		if b.Role == Owner && b.OrgID == s.OrgID && b.TeamID == "" && !p.roleDenied(b, UsersWrite) {
			return true
		}
	}
	return false
}
