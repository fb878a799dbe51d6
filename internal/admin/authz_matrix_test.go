package admin_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/route"
	"github.com/sluicehq/sluice/internal/store/storetest"
)

// The authorization matrix is generated: every route of admin.Routes(),
// every role of authz.Roles bound on a whole organisation and on one team
// (plus anonymous, a virtual key, the super-admin, and an owner with each
// action denied by a rule of the file), on objects in the principal's own
// team, in another team of its organisation and in another tenant, first
// on an empty store, then on a populated one. The expected status comes
// from what follows, written from the role table in docs/governance.md and
// not from internal/authz or the handlers: a route guarded by the wrong
// action, or a role granted an action the table does not give it, fails.

const (
	owner, adminRole, developer, viewer, auditor = authz.Owner, authz.Admin, authz.Developer, authz.Viewer, authz.Auditor
)

// may is docs/governance.md's role table: which roles may do each action
// where their binding applies. Platform actions belong to the super-admin
// alone.
var may = map[authz.Action][]authz.Role{
	authz.OrgsRead:       {owner, adminRole, developer, viewer, auditor},
	authz.OrgsWrite:      {owner},
	authz.TeamsRead:      {owner, adminRole, developer, viewer, auditor},
	authz.TeamsWrite:     {owner, adminRole},
	authz.AppsRead:       {owner, adminRole, developer, viewer, auditor},
	authz.AppsWrite:      {owner, adminRole, developer},
	authz.KeysRead:       {owner, adminRole, developer, viewer, auditor},
	authz.KeysWrite:      {owner, adminRole, developer},
	authz.LimitsWrite:    {owner, adminRole},
	authz.UsersRead:      {owner, adminRole, viewer, auditor},
	authz.UsersWrite:     {owner, adminRole},
	authz.UsageRead:      {owner, adminRole, developer, viewer, auditor},
	authz.AuditRead:      {owner, adminRole, auditor},
	authz.ProvidersRead:  nil,
	authz.ProvidersWrite: nil,
	authz.GatewayRead:    nil,
	authz.GatewayWrite:   nil,
	authz.Self:           {owner, adminRole, developer, viewer, auditor},
	// API products: the product's team publishes and approves, the
	// application's team requests.
	authz.ProductsRead:         {owner, adminRole, developer, viewer, auditor},
	authz.ProductsWrite:        {owner, adminRole},
	authz.SubscriptionsRead:    {owner, adminRole, developer, viewer, auditor},
	authz.SubscriptionsWrite:   {owner, adminRole, developer},
	authz.SubscriptionsApprove: {owner, adminRole},
}

// Principals that are not role bindings.
const (
	anonymous  = "anonymous"
	virtualKey = "virtual-key"
	superAdmin = "super-admin"
)

// where is an object's place: an organisation, and a team in it ("" for
// the organisation itself). The zero where is the platform; in a list's
// need it means "anywhere".
type where struct{ org, team string }

// bound is a user principal's one role binding (in tenant A), and the one
// action a deny rule of the file refuses it ("" for none).
type bound struct {
	role authz.Role
	where
	denied authz.Action
}

// check is one question the intended policy answers.
type check struct {
	action authz.Action
	at     where
	within bool // a collection: the action on anything at or below at
	owners bool // giving or taking the owner role: only an owner of the organisation
}

// probe is one request and what should decide it.
type probe struct {
	name               string
	method, path, body string
	hdr                []string
	public             bool    // no credential needed: every principal gets ok
	see                []check // each must hold, else 404 (not discoverable)
	need               []check // each must hold, else 403
	ok                 int     // the answer when allowed
	users              int     // when set, what every signed-in user gets instead (the route needs no right)
	super              int     // when set, what the super-admin gets instead of ok
}

// intent states, for one route, the action that guards it and the probes
// that exercise it on target x ("A": the principals' own team, "A2":
// another team of their organisation, "B": another tenant).
type intent struct {
	action  authz.Action
	targets string // which of A, A2, B the route is run on
	probes  func(m *mworld, x string) []probe
}

func read(a authz.Action, at where) check   { return check{action: a, at: at} }
func within(a authz.Action, at where) check { return check{action: a, at: at, within: true} }

var platform = where{}

// intents is every admin route's row. A route without one, or a row
// without a route, fails.
var intents = map[string]intent{
	// Public.
	"POST /admin/v1/auth/login": {"", "A", func(m *mworld, x string) []probe {
		return []probe{{public: true, body: `{"email":"nobody@example.com","password":"wrong password here"}`, ok: 401}}
	}},
	"GET /admin/v1/auth/oidc/login":    {"", "A", publicProbe(404)},
	"GET /admin/v1/auth/oidc/callback": {"", "A", publicProbe(404)},
	"GET /admin/v1/openapi.json":       {"", "A", publicProbe(200)},
	"GET /admin/openapi.json":          {"", "A", publicProbe(200)},
	// Self: every signed-in principal; tokens belong to users, which the
	// bootstrap token is not.
	"POST /admin/v1/auth/logout": {authz.Self, "A", selfProbe(200, 0)},
	"GET /admin/v1/me":           {authz.Self, "A", selfProbe(200, 0)},
	"GET /admin/v1/tokens":       {authz.Self, "A", selfProbe(200, 400)},
	"POST /admin/v1/tokens": {authz.Self, "A", func(m *mworld, x string) []probe {
		return []probe{{body: fmt.Sprintf(`{"name":%q}`, m.uniq("t")), ok: 201, super: 400}}
	}},
	"DELETE /admin/v1/tokens/{id}": {authz.Self, "A", func(m *mworld, x string) []probe {
		return []probe{{name: "another user's", path: "/admin/v1/tokens/" + m.ids["tok:A"], ok: 404, super: 400}}
	}},
	// Organisations: created and deleted on the platform.
	"GET /admin/v1/orgs": {authz.OrgsRead, "A", func(m *mworld, x string) []probe {
		return []probe{{need: []check{within(authz.OrgsRead, platform)}, ok: 200}}
	}},
	"POST /admin/v1/orgs": {authz.OrgsWrite, "A", func(m *mworld, x string) []probe {
		return []probe{{body: fmt.Sprintf(`{"name":%q}`, m.uniq("org")), need: []check{read(authz.OrgsWrite, platform)}, ok: 201}}
	}},
	"GET /admin/v1/orgs/{id}": {authz.OrgsRead, "A B", func(m *mworld, x string) []probe {
		return []probe{{path: m.ref("org", x), see: []check{read(authz.OrgsRead, m.org(x))}, ok: 200}}
	}},
	"PATCH /admin/v1/orgs/{id}": {authz.OrgsWrite, "A B", func(m *mworld, x string) []probe {
		return []probe{stale(m.ref("org", x), read(authz.OrgsRead, m.org(x)), read(authz.OrgsWrite, m.org(x)))}
	}},
	"DELETE /admin/v1/orgs/{id}": {authz.OrgsWrite, "A B", func(m *mworld, x string) []probe {
		return []probe{stale(m.ref("org", x), read(authz.OrgsRead, m.org(x)), read(authz.OrgsWrite, platform))}
	}},
	// Teams: created and deleted in their organisation.
	"GET /admin/v1/teams": {authz.TeamsRead, "A B", func(m *mworld, x string) []probe {
		ps := []probe{{name: "?org_id", path: "?org_id=" + m.ids["org:"+x], see: []check{read(authz.OrgsRead, m.org(x))},
			need: []check{within(authz.TeamsRead, m.org(x))}, ok: 200}}
		if x == "A" {
			ps = append(ps, probe{need: []check{within(authz.TeamsRead, platform)}, ok: 200})
		}
		return ps
	}},
	"POST /admin/v1/teams": {authz.TeamsWrite, "A B", func(m *mworld, x string) []probe {
		return []probe{{body: fmt.Sprintf(`{"name":%q,"org_id":%q}`, m.uniq("team"), m.ids["org:"+x]),
			see: []check{read(authz.OrgsRead, m.org(x))}, need: []check{read(authz.TeamsWrite, m.org(x))}, ok: 201}}
	}},
	"GET /admin/v1/teams/{id}": {authz.TeamsRead, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{{path: m.ref("team", x), see: []check{read(authz.TeamsRead, m.team(x))}, ok: 200}}
	}},
	"PATCH /admin/v1/teams/{id}": {authz.TeamsWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{stale(m.ref("team", x), read(authz.TeamsRead, m.team(x)), read(authz.TeamsWrite, m.team(x)))}
	}},
	"DELETE /admin/v1/teams/{id}": {authz.TeamsWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{stale(m.ref("team", x), read(authz.TeamsRead, m.team(x)), read(authz.TeamsWrite, m.org(x)))}
	}},
	// Applications: created and deleted in their team.
	"GET /admin/v1/apps": {authz.AppsRead, "A A2 B", func(m *mworld, x string) []probe {
		ps := []probe{{name: "?team_id", path: "?team_id=" + m.ids["team:"+x], see: []check{read(authz.TeamsRead, m.team(x))},
			need: []check{within(authz.AppsRead, m.team(x))}, ok: 200}}
		if x != "A2" {
			ps = append(ps, probe{name: "?org_id", path: "?org_id=" + m.ids["org:"+x], see: []check{read(authz.OrgsRead, m.org(x))},
				need: []check{within(authz.AppsRead, m.org(x))}, ok: 200})
		}
		if x == "A" {
			ps = append(ps, probe{need: []check{within(authz.AppsRead, platform)}, ok: 200})
		}
		return ps
	}},
	"POST /admin/v1/apps": {authz.AppsWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{{body: fmt.Sprintf(`{"name":%q,"team_id":%q}`, m.uniq("app"), m.ids["team:"+x]),
			see: []check{read(authz.TeamsRead, m.team(x))}, need: []check{read(authz.AppsWrite, m.team(x))}, ok: 201}}
	}},
	"GET /admin/v1/apps/{id}": {authz.AppsRead, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{{path: m.ref("app", x), see: []check{read(authz.AppsRead, m.team(x))}, ok: 200}}
	}},
	"PATCH /admin/v1/apps/{id}": {authz.AppsWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{stale(m.ref("app", x), read(authz.AppsRead, m.team(x)), read(authz.AppsWrite, m.team(x)))}
	}},
	"DELETE /admin/v1/apps/{id}": {authz.AppsWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{stale(m.ref("app", x), read(authz.AppsRead, m.team(x)), read(authz.AppsWrite, m.team(x)))}
	}},
	// Keys live in their application's team; limits are set from the level
	// above (team admins and up).
	"GET /admin/v1/keys": {authz.KeysRead, "A A2 B", func(m *mworld, x string) []probe {
		ps := []probe{
			{name: "?app_id", path: "?app_id=" + m.ids["app:"+x], see: []check{read(authz.AppsRead, m.team(x))},
				need: []check{within(authz.KeysRead, m.team(x))}, ok: 200},
			{name: "?team_id", path: "?team_id=" + m.ids["team:"+x], see: []check{read(authz.TeamsRead, m.team(x))},
				need: []check{within(authz.KeysRead, m.team(x))}, ok: 200},
		}
		if x != "A2" {
			ps = append(ps, probe{name: "?org_id", path: "?org_id=" + m.ids["org:"+x], see: []check{read(authz.OrgsRead, m.org(x))},
				need: []check{within(authz.KeysRead, m.org(x))}, ok: 200})
		}
		if x == "A" {
			ps = append(ps, probe{need: []check{within(authz.KeysRead, platform)}, ok: 200})
		}
		return ps
	}},
	"POST /admin/v1/keys": {authz.KeysWrite, "A A2 B", func(m *mworld, x string) []probe {
		see := []check{read(authz.AppsRead, m.team(x))}
		return []probe{
			{body: fmt.Sprintf(`{"name":%q,"app_id":%q}`, m.uniq("key"), m.ids["app:"+x]), see: see,
				need: []check{read(authz.KeysWrite, m.team(x))}, ok: 201},
			{name: "with limits", body: fmt.Sprintf(`{"name":%q,"app_id":%q,"rpm":10}`, m.uniq("key"), m.ids["app:"+x]), see: see,
				need: []check{read(authz.KeysWrite, m.team(x)), read(authz.LimitsWrite, m.team(x))}, ok: 201},
		}
	}},
	"GET /admin/v1/keys/{id}": {authz.KeysRead, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{{path: m.ref("key", x), see: []check{read(authz.KeysRead, m.team(x))}, ok: 200}}
	}},
	"PATCH /admin/v1/keys/{id}": {authz.KeysWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{stale(m.ref("key", x), read(authz.KeysRead, m.team(x)), read(authz.KeysWrite, m.team(x)))}
	}},
	"DELETE /admin/v1/keys/{id}": {authz.KeysWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{{path: "/admin/v1/keys/" + m.freshKey(x), see: []check{read(authz.KeysRead, m.team(x))},
			need: []check{read(authz.KeysWrite, m.team(x))}, ok: 200}}
	}},
	"POST /admin/v1/keys/{id}/rotate": {authz.KeysWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{{path: "/admin/v1/keys/" + m.freshKey(x) + "/rotate", body: `{"overlap_seconds":0}`,
			see: []check{read(authz.KeysRead, m.team(x))}, need: []check{read(authz.KeysWrite, m.team(x))}, ok: 200}}
	}},
	// Users are visible where they hold a role; changing one needs
	// users.write there; only owners make (and unmake) owners.
	"GET /admin/v1/users": {authz.UsersRead, "A", func(m *mworld, x string) []probe {
		return []probe{{need: []check{within(authz.UsersRead, platform)}, ok: 200}}
	}},
	"POST /admin/v1/users": {authz.UsersWrite, "A A2 B", func(m *mworld, x string) []probe {
		var ps []probe
		if x != "A2" {
			ps = append(ps, probe{name: "viewer of the organisation",
				body: fmt.Sprintf(`{"email":%q,"bindings":[{"role":"viewer","org_id":%q}]}`, m.uniq("n")+"@example.com", m.ids["org:"+x]),
				see:  []check{read(authz.OrgsRead, m.org(x))}, need: []check{read(authz.UsersWrite, m.org(x))}, ok: 201})
		}
		return append(ps, probe{name: "developer of a team",
			body: fmt.Sprintf(`{"email":%q,"bindings":[{"role":"developer","org_id":%q,"team_id":%q}]}`, m.uniq("n")+"@example.com", m.ids["org:"+x], m.ids["team:"+x]),
			see:  []check{read(authz.OrgsRead, m.org(x)), read(authz.TeamsRead, m.team(x))}, need: []check{read(authz.UsersWrite, m.team(x))}, ok: 201})
	}},
	"GET /admin/v1/users/{id}": {authz.UsersRead, "A A2 B", func(m *mworld, x string) []probe {
		return userProbes(m, x, func(path string, at where) probe {
			return probe{path: path, see: []check{read(authz.UsersRead, at)}, ok: 200}
		})
	}},
	"PATCH /admin/v1/users/{id}": {authz.UsersWrite, "A A2 B", func(m *mworld, x string) []probe {
		return userProbes(m, x, func(path string, at where) probe {
			return stale(path, read(authz.UsersRead, at), read(authz.UsersWrite, at))
		})
	}},
	"GET /admin/v1/role-bindings": {authz.UsersRead, "A B", func(m *mworld, x string) []probe {
		ps := []probe{{name: "?org_id", path: "?org_id=" + m.ids["org:"+x], see: []check{read(authz.OrgsRead, m.org(x))},
			need: []check{within(authz.UsersRead, m.org(x))}, ok: 200}}
		if x == "A" {
			ps = append(ps, probe{need: []check{within(authz.UsersRead, platform)}, ok: 200})
		}
		return ps
	}},
	"POST /admin/v1/role-bindings": {authz.UsersWrite, "A A2 B", func(m *mworld, x string) []probe {
		org, team := m.ids["org:"+x], m.ids["team:"+x]
		ps := []probe{{name: "developer of a team",
			body: fmt.Sprintf(`{"user_id":%q,"role":"developer","org_id":%q,"team_id":%q}`, m.freshUser(x, "viewer", false), org, team),
			see:  []check{read(authz.OrgsRead, m.org(x)), read(authz.TeamsRead, m.team(x))}, need: []check{read(authz.UsersWrite, m.team(x))}, ok: 201}}
		if x != "A2" {
			ps = append(ps, probe{name: "owner of the organisation",
				body: fmt.Sprintf(`{"user_id":%q,"role":"owner","org_id":%q}`, m.freshUser(x, "viewer", false), org),
				see:  []check{read(authz.OrgsRead, m.org(x))}, need: []check{read(authz.UsersWrite, m.org(x)), {at: m.org(x), owners: true}}, ok: 201})
		}
		return ps
	}},
	"DELETE /admin/v1/role-bindings/{id}": {authz.UsersWrite, "A A2 B", func(m *mworld, x string) []probe {
		ps := []probe{{name: "developer of a team", path: "/admin/v1/role-bindings/" + m.freshBinding(x, "developer", true),
			see: []check{read(authz.UsersRead, m.team(x))}, need: []check{read(authz.UsersWrite, m.team(x))}, ok: 200}}
		if x != "A2" {
			ps = append(ps, probe{name: "owner of the organisation", path: "/admin/v1/role-bindings/" + m.freshBinding(x, "owner", false),
				see: []check{read(authz.UsersRead, m.org(x))}, need: []check{read(authz.UsersWrite, m.org(x)), {at: m.org(x), owners: true}}, ok: 200})
		}
		return ps
	}},
	// Usage, ledger and audit: read in the narrowest unit named.
	"GET /admin/v1/usage":         {authz.UsageRead, "A A2 B", ledgerProbes(authz.UsageRead, true)},
	"GET /admin/v1/requests":      {authz.UsageRead, "A A2 B", ledgerProbes(authz.UsageRead, true)},
	"GET /admin/v1/budget-alerts": {authz.UsageRead, "A B", ledgerProbes(authz.UsageRead, false)},
	"GET /admin/v1/audit":         {authz.AuditRead, "A B", ledgerProbes(authz.AuditRead, false)},
	// Analytics, alerts and the request log.
	"GET /admin/v1/analytics":                   {authz.UsageRead, "A A2 B", ledgerProbes(authz.UsageRead, true)},
	"GET /admin/v1/request-log":                 {authz.UsageRead, "A A2 B", ledgerProbes(authz.UsageRead, true)},
	"GET /admin/v1/alerts":                      {authz.GatewayRead, "A", platformProbe(authz.GatewayRead, "", 200)},
	"GET /admin/v1/alert-rules":                 {authz.GatewayRead, "A", platformProbe(authz.GatewayRead, "", 200)},
	"POST /admin/v1/alert-rules":                {authz.GatewayWrite, "A", platformProbe(authz.GatewayWrite, `{"name":"r","kind":"nope"}`, 400)},
	"DELETE /admin/v1/alert-rules/{id}":         {authz.GatewayWrite, "A", platformProbe(authz.GatewayWrite, "", 404)},
	"POST /admin/v1/alert-channels/{id}/enable": {authz.GatewayWrite, "A", platformProbe(authz.GatewayWrite, "", 200)},
	// API products live in their owning team (x's product is private to
	// team x); subscriptions in the subscribing application's team (x's
	// application subscribes to x's product). Lifecycle actions run on a
	// fresh object in the state they need.
	"GET /admin/v1/products": {authz.ProductsRead, "A", func(m *mworld, x string) []probe {
		m.prod(x)
		return []probe{{need: []check{within(authz.ProductsRead, platform)}, ok: 200}}
	}},
	"POST /admin/v1/products": {authz.ProductsWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{{body: fmt.Sprintf(`{"name":%q,"team_id":%q}`, m.uniq("prod"), m.ids["team:"+x]),
			see: []check{read(authz.TeamsRead, m.team(x))}, need: []check{read(authz.ProductsWrite, m.team(x))}, ok: 201}}
	}},
	"GET /admin/v1/products/{id}": {authz.ProductsRead, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{{path: "/admin/v1/products/" + m.prod(x), see: []check{read(authz.ProductsRead, m.team(x))}, ok: 200}}
	}},
	"PATCH /admin/v1/products/{id}": {authz.ProductsWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{stale("/admin/v1/products/"+m.prod(x), read(authz.ProductsRead, m.team(x)), read(authz.ProductsWrite, m.team(x)))}
	}},
	"DELETE /admin/v1/products/{id}": {authz.ProductsWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{stale("/admin/v1/products/"+m.prod(x), read(authz.ProductsRead, m.team(x)), read(authz.ProductsWrite, m.team(x)))}
	}},
	"POST /admin/v1/products/{id}/versions": {authz.ProductsWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{productProbe(m, x, "/versions", fmt.Sprintf(`{"version":%q,"models":{"m":"m"}}`, m.uniq("v")), 201)}
	}},
	"PATCH /admin/v1/products/{id}/versions/{version}": {authz.ProductsWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{stale("/admin/v1/products/"+m.prod(x)+"/versions/v1", read(authz.ProductsRead, m.team(x)), read(authz.ProductsWrite, m.team(x)))}
	}},
	"GET /admin/v1/products/{id}/versions/{version}/diff": {authz.ProductsRead, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{{path: "/admin/v1/products/" + m.prod(x) + "/versions/" + m.freshVersion(m.prod(x), "") + "/diff?against=v1",
			see: []check{read(authz.ProductsRead, m.team(x))}, ok: 200}}
	}},
	"POST /admin/v1/products/{id}/versions/{version}/publish": {authz.ProductsWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{productProbe(m, x, "/versions/"+m.freshVersion(m.prod(x), "")+"/publish", "", 200)}
	}},
	"POST /admin/v1/products/{id}/versions/{version}/deprecate": {authz.ProductsWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{productProbe(m, x, "/versions/"+m.freshVersion(m.prod(x), "", "publish")+"/deprecate", `{"successor":"v1"}`, 200)}
	}},
	"POST /admin/v1/products/{id}/versions/{version}/rollback": {authz.ProductsWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{productProbe(m, x, "/versions/"+m.freshVersion(m.prod(x), "", "publish", "deprecate")+"/rollback", "", 200)}
	}},
	"POST /admin/v1/products/{id}/versions/{version}/retire": {authz.ProductsWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{productProbe(m, x, "/versions/"+m.freshVersion(m.prod(x), "", "publish")+"/retire", "", 200)}
	}},
	"POST /admin/v1/products/{id}/versions/{version}/suspend": {authz.ProductsWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{productProbe(m, x, "/versions/"+m.freshVersion(m.prod(x), "", "publish")+"/suspend", `{"reason":"test"}`, 200)}
	}},
	"POST /admin/v1/products/{id}/versions/{version}/resume": {authz.ProductsWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{productProbe(m, x, "/versions/"+m.freshVersion(m.prod(x), "", "publish", "suspend")+"/resume", "", 200)}
	}},
	"POST /admin/v1/products/{id}/plans": {authz.ProductsWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{productProbe(m, x, "/plans", fmt.Sprintf(`{"name":%q,"approval":"auto","rpm":5}`, m.uniq("plan")), 201)}
	}},
	"PATCH /admin/v1/products/{id}/plans/{plan}": {authz.ProductsWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{stale("/admin/v1/products/"+m.prod(x)+"/plans/free", read(authz.ProductsRead, m.team(x)), read(authz.ProductsWrite, m.team(x)))}
	}},
	"DELETE /admin/v1/products/{id}/plans/{plan}": {authz.ProductsWrite, "A A2 B", func(m *mworld, x string) []probe {
		plan := m.uniq("plan")
		m.must(m.as(superAdmin, "POST", "/admin/v1/products/"+m.prod(x)+"/plans", fmt.Sprintf(`{"name":%q}`, plan)), 201, "fresh plan")
		return []probe{productProbe(m, x, "/plans/"+plan, "", 200)}
	}},
	"GET /admin/v1/subscriptions": {authz.SubscriptionsRead, "A A2 B", func(m *mworld, x string) []probe {
		m.prod(x)
		ps := []probe{
			{name: "?app_id", path: "?app_id=" + m.ids["app:"+x], see: []check{read(authz.AppsRead, m.team(x))},
				need: []check{within(authz.SubscriptionsRead, m.team(x))}, ok: 200},
			{name: "?team_id", path: "?team_id=" + m.ids["team:"+x], see: []check{read(authz.TeamsRead, m.team(x))},
				need: []check{within(authz.SubscriptionsRead, m.team(x))}, ok: 200},
		}
		if x != "A2" {
			ps = append(ps, probe{name: "?org_id", path: "?org_id=" + m.ids["org:"+x], see: []check{read(authz.OrgsRead, m.org(x))},
				need: []check{within(authz.SubscriptionsRead, m.org(x))}, ok: 200})
		}
		if x == "A" {
			ps = append(ps, probe{need: []check{within(authz.SubscriptionsRead, platform)}, ok: 200})
		}
		return ps
	}},
	"POST /admin/v1/subscriptions": {authz.SubscriptionsWrite, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{{body: fmt.Sprintf(`{"application":%q,"product":%q,"plan":"free","reason":"matrix"}`, m.ids["app:"+x], m.freshProduct(x)),
			see:  []check{read(authz.AppsRead, m.team(x)), read(authz.ProductsRead, m.team(x))},
			need: []check{read(authz.SubscriptionsWrite, m.team(x))}, ok: 201}}
	}},
	"GET /admin/v1/subscriptions/{id}": {authz.SubscriptionsRead, "A A2 B", func(m *mworld, x string) []probe {
		m.prod(x)
		return []probe{{path: "/admin/v1/subscriptions/" + m.ids["sub:"+x], see: []check{read(authz.SubscriptionsRead, m.team(x))}, ok: 200}}
	}},
	"POST /admin/v1/subscriptions/{id}/approve": {authz.SubscriptionsApprove, "A A2 B", subProbe(authz.SubscriptionsApprove, "approve")},
	"POST /admin/v1/subscriptions/{id}/reject":  {authz.SubscriptionsApprove, "A A2 B", subProbe(authz.SubscriptionsApprove, "reject")},
	"POST /admin/v1/subscriptions/{id}/suspend": {authz.SubscriptionsApprove, "A A2 B", subProbe(authz.SubscriptionsApprove, "suspend", "approve")},
	"POST /admin/v1/subscriptions/{id}/resume":  {authz.SubscriptionsApprove, "A A2 B", subProbe(authz.SubscriptionsApprove, "resume", "approve", "suspend")},
	"POST /admin/v1/subscriptions/{id}/cancel":  {authz.SubscriptionsWrite, "A A2 B", subProbe(authz.SubscriptionsWrite, "cancel")},
	// A subscription's plan changes as it is approved (in the product's
	// team); an organisation's notification webhook is its owner's.
	"PATCH /admin/v1/subscriptions/{id}": {authz.SubscriptionsApprove, "A A2 B", func(m *mworld, x string) []probe {
		id := m.freshSub(x, m.freshProduct(x))
		return []probe{stale("/admin/v1/subscriptions/"+id, read(authz.SubscriptionsRead, m.team(x)), read(authz.SubscriptionsApprove, m.team(x)))}
	}},
	"GET /admin/v1/orgs/{id}/notify-webhook": {authz.OrgsWrite, "A B", func(m *mworld, x string) []probe {
		return []probe{{path: m.ref("org", x) + "/notify-webhook", see: []check{read(authz.OrgsRead, m.org(x))},
			need: []check{read(authz.OrgsWrite, m.org(x))}, ok: 404}}
	}},
	"PUT /admin/v1/orgs/{id}/notify-webhook": {authz.OrgsWrite, "A B", func(m *mworld, x string) []probe {
		return []probe{stale(m.ref("org", x)+"/notify-webhook", read(authz.OrgsRead, m.org(x)), read(authz.OrgsWrite, m.org(x)))}
	}},
	"DELETE /admin/v1/orgs/{id}/notify-webhook": {authz.OrgsWrite, "A B", func(m *mworld, x string) []probe {
		return []probe{stale(m.ref("org", x)+"/notify-webhook", read(authz.OrgsRead, m.org(x)), read(authz.OrgsWrite, m.org(x)))}
	}},
	"GET /admin/v1/products/{id}/callers": {authz.ProductsRead, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{{path: "/admin/v1/products/" + m.prod(x) + "/callers?version=v1", see: []check{read(authz.ProductsRead, m.team(x))},
			need: []check{read(authz.UsageRead, m.team(x))}, ok: 200}}
	}},
	"GET /admin/v1/models/callers": {authz.GatewayRead, "A", func(m *mworld, x string) []probe {
		return []probe{{path: "?model=m", need: []check{read(authz.GatewayRead, platform)}, ok: 200}}
	}},
	"GET /admin/v1/stops":           {authz.GatewayRead, "A", platformProbe(authz.GatewayRead, "", 200)},
	"POST /admin/v1/models/suspend": {authz.GatewayWrite, "A", platformProbe(authz.GatewayWrite, `{"model":"nope"}`, 404)},
	"POST /admin/v1/models/resume":  {authz.GatewayWrite, "A", platformProbe(authz.GatewayWrite, `{"model":"nope"}`, 404)},
	// Experiments are platform objects, like the models they split.
	"GET /admin/v1/experiments":               {authz.GatewayRead, "A", platformProbe(authz.GatewayRead, "", 200)},
	"POST /admin/v1/experiments":              {authz.GatewayWrite, "A", platformProbe(authz.GatewayWrite, `{"name":"x"}`, 400)},
	"GET /admin/v1/experiments/{id}":          {authz.GatewayRead, "A", platformProbe(authz.GatewayRead, "", 404)},
	"GET /admin/v1/experiments/{id}/results":  {authz.GatewayRead, "A", platformProbe(authz.GatewayRead, "", 404)},
	"POST /admin/v1/experiments/{id}/promote": {authz.GatewayWrite, "A", platformProbe(authz.GatewayWrite, `{"arm":"a"}`, 404)},

	// The platform: the super-admin's alone.
	"POST /admin/v1/reload":           {authz.GatewayWrite, "A", platformProbe(authz.GatewayWrite, "", 200)},
	"GET /admin/v1/config":            {authz.GatewayRead, "A", platformProbe(authz.GatewayRead, "", 200)},
	"GET /admin/v1/health":            {authz.GatewayRead, "A", platformProbe(authz.GatewayRead, "", 200)},
	"GET /admin/v1/providers":         {authz.ProvidersRead, "A", platformProbe(authz.ProvidersRead, "", 200)},
	"POST /admin/v1/providers":        {authz.ProvidersWrite, "A", platformProbe(authz.ProvidersWrite, `{"name":"p","type":"nope"}`, 400)},
	"GET /admin/v1/providers/{id}":    {authz.ProvidersRead, "A", platformProbe(authz.ProvidersRead, "", 404)},
	"PATCH /admin/v1/providers/{id}":  {authz.ProvidersWrite, "A", platformProbe(authz.ProvidersWrite, "{}", 404)},
	"DELETE /admin/v1/providers/{id}": {authz.ProvidersWrite, "A", platformProbe(authz.ProvidersWrite, "", 404)},

	// Console reads: rendering a prompt version is reading it in its team; guardrail and cache settings are the platform's.
	"POST /admin/v1/prompts/{id}/render": {authz.PromptsRead, "A A2 B", func(m *mworld, x string) []probe {
		return []probe{{path: m.promptPath(x) + "/render", body: `{"version":1,"variables":{"text":"x"}}`,
			see: []check{read(authz.PromptsRead, m.team(x))}, ok: 200}}
	}},
	"GET /admin/v1/guardrails": {authz.GatewayRead, "A", platformProbe(authz.GatewayRead, "", 200)},
	"GET /admin/v1/cache":      {authz.GatewayRead, "A", platformProbe(authz.GatewayRead, "", 200)},
}

// productProbe is a change under x's product (path after
// /admin/v1/products/<name>): readable in team x, written with
// products.write there.
func productProbe(m *mworld, x, rest, body string, ok int) probe {
	return probe{path: "/admin/v1/products/" + m.prod(x) + rest, body: body, see: []check{read(authz.ProductsRead, m.team(x))},
		need: []check{read(authz.ProductsWrite, m.team(x))}, ok: ok}
}

// subProbe runs a subscription's state change ev on a fresh subscription
// of x's application to a fresh product of team x, first moved by the
// super-admin along before.
func subProbe(a authz.Action, ev string, before ...string) func(*mworld, string) []probe {
	return func(m *mworld, x string) []probe {
		id := m.freshSub(x, m.freshProduct(x), before...)
		return []probe{{path: "/admin/v1/subscriptions/" + id + "/" + ev, body: `{"note":"matrix"}`,
			see: []check{read(authz.SubscriptionsRead, m.team(x))}, need: []check{read(a, m.team(x))}, ok: 200}}
	}
}

// prod is x's product, made once: private to team x, version v1
// published, plan free (manual), and x's application's pending
// subscription to it (m.ids["sub:"+x]).
func (m *mworld) prod(x string) string {
	if n := m.ids["prod:"+x]; n != "" {
		return n
	}
	n := m.freshProduct(x)
	m.ids["prod:"+x] = n
	m.ids["sub:"+x] = m.freshSub(x, n)
	return n
}

// freshProduct makes a product of team x with plan free and version v1
// published, and returns its name.
func (m *mworld) freshProduct(x string) string {
	n := m.uniq("prod")
	m.must(m.as(superAdmin, "POST", "/admin/v1/products", fmt.Sprintf(`{"name":%q,"team_id":%q,"visibility":"private"}`, n, m.ids["team:"+x])), 201, "fresh product")
	m.must(m.as(superAdmin, "POST", "/admin/v1/products/"+n+"/plans", `{"name":"free","approval":"manual"}`), 201, "fresh plan")
	m.freshVersion(n, "v1", "publish")
	return n
}

// freshVersion makes a draft version of product p ("" names it) and moves
// it along events.
func (m *mworld) freshVersion(p, name string, events ...string) string {
	if name == "" {
		name = m.uniq("v")
	}
	m.must(m.as(superAdmin, "POST", "/admin/v1/products/"+p+"/versions", fmt.Sprintf(`{"version":%q,"models":{"m":"m"}}`, name)), 201, "fresh version")
	for _, ev := range events {
		m.must(m.as(superAdmin, "POST", "/admin/v1/products/"+p+"/versions/"+name+"/"+ev, ""), 200, ev)
	}
	return name
}

// freshSub subscribes x's application to product p (plan free: pending)
// and moves the subscription along events.
func (m *mworld) freshSub(x, p string, events ...string) string {
	r := m.must(m.as(superAdmin, "POST", "/admin/v1/subscriptions", fmt.Sprintf(`{"application":%q,"product":%q,"plan":"free"}`, m.ids["app:"+x], p)), 201, "fresh subscription")
	id := r.body["id"].(string)
	for _, ev := range events {
		m.must(m.as(superAdmin, "POST", "/admin/v1/subscriptions/"+id+"/"+ev, ""), 200, ev)
	}
	return id
}

func publicProbe(ok int) func(*mworld, string) []probe {
	return func(*mworld, string) []probe { return []probe{{public: true, ok: ok}} }
}

func selfProbe(ok, super int) func(*mworld, string) []probe {
	return func(*mworld, string) []probe { return []probe{{ok: ok, super: super}} }
}

func platformProbe(a authz.Action, body string, ok int) func(*mworld, string) []probe {
	return func(*mworld, string) []probe {
		return []probe{{body: body, need: []check{read(a, platform)}, ok: ok}}
	}
}

// stale is a change carrying If-Match "999": allowed, it answers 412 and
// changes nothing.
func stale(path string, see, need check) probe {
	return probe{path: path, body: "{}", hdr: []string{"If-Match", `"999"`}, see: []check{see}, need: []check{need}, ok: 412}
}

// userProbes are a user of x's organisation and one of x's team.
func userProbes(m *mworld, x string, p func(path string, at where) probe) []probe {
	var ps []probe
	if x != "A2" {
		q := p("/admin/v1/users/"+m.ids["user:"+x], m.org(x))
		q.name = "viewer of the organisation"
		ps = append(ps, q)
	}
	q := p("/admin/v1/users/"+m.ids["teamuser:"+x], m.team(x))
	q.name = "developer of a team"
	return append(ps, q)
}

// ledgerProbes read the ledger (or audit log) of x's organisation and, with
// units, of its team, application and key. Without a filter only the
// super-admin may read everything; users must name a unit.
func ledgerProbes(a authz.Action, units bool) func(*mworld, string) []probe {
	return func(m *mworld, x string) []probe {
		var ps []probe
		if x != "A2" {
			ps = append(ps, probe{name: "?org_id", path: "?org_id=" + m.ids["org:"+x], see: []check{read(authz.OrgsRead, m.org(x))},
				need: []check{read(a, m.org(x))}, ok: 200})
		}
		if x == "A" {
			ps = append(ps, probe{name: "no filter", ok: 200, users: 400})
		}
		if units {
			for _, u := range []struct {
				param, kind string
				see         authz.Action
			}{{"team_id", "team", authz.TeamsRead}, {"app_id", "app", authz.AppsRead}, {"key_id", "key", authz.KeysRead}} {
				ps = append(ps, probe{name: "?" + u.param, path: "?" + u.param + "=" + m.ids[u.kind+":"+x],
					see: []check{read(u.see, m.team(x))}, need: []check{read(a, m.team(x))}, ok: 200})
			}
		}
		return ps
	}
}

// mworld is the populated store: organisations A (teams A and A2) and B
// (team B), each team with an application and a key, and a user principal
// per role, bound on organisation A or on team A.
type mworld struct {
	*world
	who map[string]bound
}

func (m *mworld) org(x string) where  { return where{org: m.ids["org:"+x]} }
func (m *mworld) team(x string) where { return where{org: m.ids["org:"+x], team: m.ids["team:"+x]} }

// ref is the path of x's object of kind.
func (m *mworld) ref(kind, x string) string { return "/admin/v1/" + kind + "s/" + m.ids[kind+":"+x] }

func (m *mworld) freshKey(x string) string {
	r := m.must(m.as(superAdmin, "POST", "/admin/v1/keys", fmt.Sprintf(`{"name":%q,"app_id":%q}`, m.uniq("fresh"), m.ids["app:"+x])), 201, "fresh key")
	return r.body["id"].(string)
}

// freshUser creates a user (no password) with one binding in x and
// returns its id, and its binding's.
func (m *mworld) freshUserBinding(x, role string, onTeam bool) (user, binding string) {
	team := ""
	if onTeam {
		team = m.ids["team:"+x]
	}
	b := fmt.Sprintf(`{"email":%q,"bindings":[{"role":%q,"org_id":%q,"team_id":%q}]}`, m.uniq("u")+"@example.com", role, m.ids["org:"+x], team)
	r := m.must(m.as(superAdmin, "POST", "/admin/v1/users", b), 201, "fresh user")
	return r.body["id"].(string), r.body["bindings"].([]any)[0].(map[string]any)["id"].(string)
}

func (m *mworld) freshUser(x, role string, onTeam bool) string {
	u, _ := m.freshUserBinding(x, role, onTeam)
	return u
}

func (m *mworld) freshBinding(x, role string, onTeam bool) string {
	_, b := m.freshUserBinding(x, role, onTeam)
	return b
}

// principalNames are the matrix's principals, generated from authz.Roles
// and authz.Actions: every role on the organisation and on a team, and an
// owner of the organisation with each of its actions denied by a rule of
// the file, so that a handler deciding a wrong action is caught even where
// the roles grant both.
func principalNames() []string {
	ps := []string{anonymous, virtualKey, superAdmin}
	for _, r := range authz.Roles {
		ps = append(ps, string(r)+"@org", string(r)+"@team")
	}
	for _, a := range authz.Actions {
		if a != authz.Self && slices.Contains(may[a], owner) {
			ps = append(ps, "owner@org-"+string(a))
		}
	}
	return ps
}

// populate fills the (empty) store of w.
func populate(t *testing.T, w *world) *mworld {
	m := &mworld{world: w, who: map[string]bound{}}
	w.creds[superAdmin] = "Bearer " + token
	for _, x := range []string{"A", "B"} {
		org := w.must(w.as(superAdmin, "POST", "/admin/v1/orgs", fmt.Sprintf(`{"name":"org%s"}`, x)), 201, "org").body["id"].(string)
		w.ids["org:"+x] = org
		teams := []string{x}
		if x == "A" {
			teams = append(teams, "A2")
			w.ids["org:A2"] = org
		}
		for _, tx := range teams {
			team := w.must(w.as(superAdmin, "POST", "/admin/v1/teams", fmt.Sprintf(`{"name":"team%s","org_id":%q}`, tx, org)), 201, "team").body["id"].(string)
			app := w.must(w.as(superAdmin, "POST", "/admin/v1/apps", fmt.Sprintf(`{"name":"app%s","team_id":%q}`, tx, team)), 201, "app").body["id"].(string)
			key := w.must(w.as(superAdmin, "POST", "/admin/v1/keys", fmt.Sprintf(`{"name":"key%s","app_id":%q}`, tx, app)), 201, "key")
			w.ids["team:"+tx], w.ids["app:"+tx], w.ids["key:"+tx] = team, app, key.body["id"].(string)
			w.ids["secret:"+tx] = key.body["key"].(string)
			w.ids["teamuser:"+tx] = m.freshUser(tx, "developer", true)
		}
		spare := w.newUser("viewer", org, "")
		w.ids["user:"+x], _, _ = strings.Cut(spare, "\x00")
		w.ids["tok:"+x], _ = w.tokenFor(spare)
	}
	w.ids["user:A2"], w.ids["tok:A2"] = w.ids["user:A"], w.ids["tok:A"]
	f := fileConfig()
	for _, p := range principalNames()[3:] {
		role, scope, _ := strings.Cut(p, "@")
		b := bound{role: authz.Role(role), where: m.org("A")}
		team := ""
		switch {
		case scope == "team":
			b.where, team = m.team("A"), m.ids["team:A"]
		case strings.HasPrefix(scope, "org-"):
			b.denied = authz.Action(strings.TrimPrefix(scope, "org-"))
		}
		user := w.newUser(role, m.ids["org:A"], team)
		if b.denied != "" {
			_, email, _ := strings.Cut(user, "\x00")
			f.Access.Deny = append(f.Access.Deny, config.DenyRule{Users: []string{email}, Actions: []string{string(b.denied)}})
		}
		_, tok := w.tokenFor(user)
		w.creds[p] = "Bearer " + tok
		m.who[p] = b
	}
	w.e.ctl.setFile(f)
	w.must(w.as(superAdmin, "POST", "/admin/v1/reload", ""), 200, "reload with the deny rules")
	w.creds[virtualKey] = "Bearer " + w.ids["secret:A"]
	return m
}

// holds answers a check for principal p by the intended policy.
func (m *mworld) holds(p string, c check) bool {
	switch p {
	case anonymous, virtualKey:
		return false
	case superAdmin:
		return true
	}
	b := m.who[p]
	if c.action != "" && c.action == b.denied { // deny wins
		return false
	}
	if c.owners {
		return b.role == owner && b.team == "" && b.org == c.at.org
	}
	if !slices.Contains(may[c.action], b.role) {
		return false
	}
	if c.within {
		// A collection: some object at or below c.at the binding covers.
		return (c.at.org == "" || c.at.org == b.org) && (c.at.team == "" || b.team == "" || b.team == c.at.team)
	}
	if c.at.org != b.org { // the platform, or another tenant
		return false
	}
	// An organisation-wide binding covers everything in it; a team binding
	// covers its team, and lets its members see the organisation itself.
	return b.team == "" || b.team == c.at.team || (c.action == authz.OrgsRead && c.at.team == "")
}

// expect is the status principal p should get for probe pr.
func (m *mworld) expect(p string, pr probe) int {
	switch {
	case pr.public:
		return pr.ok
	case p == anonymous || p == virtualKey:
		return 401
	}
	for _, c := range pr.see {
		if !m.holds(p, c) {
			return 404
		}
	}
	for _, c := range pr.need {
		if !m.holds(p, c) {
			return 403
		}
	}
	switch {
	case p == superAdmin && pr.super != 0:
		return pr.super
	case p != superAdmin && pr.users != 0:
		return pr.users
	}
	return pr.ok
}

// request completes a probe's request for a route pattern.
func (pr probe) request(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	switch {
	case strings.HasPrefix(pr.path, "/"):
		path = pr.path
	case strings.HasPrefix(pr.path, "?"):
		path += pr.path
	default:
		path = strings.Replace(path, "{id}", "prv_none", 1)
	}
	return method, path
}

// TestAuthorizationMatrix runs every admin route for every principal on
// an empty store, then on a populated one, on SQLite and PostgreSQL; a 5xx
// anywhere fails.
func TestAuthorizationMatrix(t *testing.T) {
	if raceDetector {
		// Ten thousand sequential requests take minutes under the race
		// detector and exercise no concurrency; `make unit` runs this test
		// again without -race, so it never goes unrun.
		t.Skip("the authorization matrix runs without -race (make unit runs it so)")
	}
	t.Run("sqlite", func(t *testing.T) { testMatrix(t, "") })
	t.Run("postgres", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t)
		if dsn == "" {
			t.Skip("SLUICE_TEST_POSTGRES_DSN is not set")
		}
		testMatrix(t, dsn)
	})
}

func testMatrix(t *testing.T, dsn string) {
	for a := range may {
		if !slices.Contains(authz.Actions, a) {
			t.Fatalf("the intended table names an unknown action %q", a)
		}
	}
	for _, a := range authz.Actions {
		if _, ok := may[a]; !ok {
			t.Fatalf("action %q has no row in the intended role table", a)
		}
	}
	start := time.Now()
	w := &world{e: newEnvOn(t, dsn, nil), ids: map[string]string{}, creds: map[string]string{anonymous: "", superAdmin: "Bearer " + token, "super": "Bearer " + token}}
	routes := admin.New(admin.Options{TokenHash: auth.HashKey(token), Health: route.NewRegistry(route.HealthOptions{})}).Routes()
	seen := map[string]bool{}
	for _, rt := range routes {
		seen[rt.Pattern] = true
		in, ok := intents[rt.Pattern]
		if !ok {
			t.Errorf("route %q has no row in the intended matrix", rt.Pattern)
		} else if in.action != rt.Action {
			t.Errorf("route %q is guarded by %q in routes.go; the intended action is %q", rt.Pattern, rt.Action, in.action)
		}
	}
	for p := range intents {
		if !seen[p] {
			t.Errorf("matrix row %q matches no route", p)
		}
	}

	// The empty store: nothing but the super-admin and anonymous. Every
	// collection answers the super-admin 200, nothing answers 5xx.
	t.Run("empty", func(t *testing.T) {
		for _, rt := range routes {
			method, path, _ := strings.Cut(rt.Pattern, " ")
			path = strings.Replace(path, "{id}", "none", 1)
			for _, p := range []string{anonymous, superAdmin} {
				r := w.as(p, method, path, "{}", "If-Match", `"1"`)
				want := 0
				switch {
				case p == anonymous && !rt.Op.Public:
					want = 401
				case p == superAdmin && method == "GET" && !rt.Op.Public && !strings.Contains(rt.Pattern, "{id}") && intents[rt.Pattern].action != authz.Self:
					want = 200
				}
				if r.code >= 500 || (want != 0 && r.code != want) {
					t.Errorf("%-36s %-12s empty store: %d %s (want %d, never 5xx)", rt.Pattern, p, r.code, strings.TrimSpace(r.raw), want)
				}
			}
		}
		if t.Failed() {
			logs := w.e.logs.String()
			t.Logf("server log:\n%s", logs[max(0, len(logs)-4000):])
		}
	})

	m := populate(t, w)
	principals := principalNames()
	n := 0
	t.Run("populated", func(t *testing.T) {
		for _, rt := range routes {
			in, ok := intents[rt.Pattern]
			if !ok {
				continue
			}
			for _, x := range strings.Fields(in.targets) {
				for _, p := range principals {
					// Probes are built per principal: some act on a fresh object.
					for _, pr := range in.probes(m, x) {
						method, path := pr.request(rt.Pattern)
						r := m.as(p, method, path, pr.body, pr.hdr...)
						n++
						want := m.expect(p, pr)
						if r.code != want || r.code >= 500 {
							t.Errorf("%-36s %-20s %-14s on %-2s: %d, want %d (%s)", rt.Pattern, pr.name, p, x, r.code, want, strings.TrimSpace(r.raw))
						}
					}
				}
			}
		}
	})
	t.Logf("%d routes, %d principals, %d populated requests in %v", len(routes), len(principals), n, time.Since(start).Round(time.Millisecond))
}
