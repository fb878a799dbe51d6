package admin_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/login"
)

// TestMassAssignment (S2): fields that are not the caller's to set are
// refused, the stored value stays, and a refused limit change leaves an
// audit row.
func TestMassAssignment(t *testing.T) {
	w := newWorld(t)
	key := "/admin/v1/keys/" + w.ids["keyA"]
	before := w.must(w.as("super", "GET", key, ""), 200, "read key").raw
	for _, body := range []string{`{"team_id":"` + w.ids["teamB"] + `"}`, `{"app_id":"x"}`, `{"org_id":"x"}`, `{"spend":0}`,
		`{"hash":"00"}`, `{"version":99}`, `{"revoked_at":null}`, `{"id":"key_x"}`} {
		if r := w.as("devA", "PATCH", key, body); r.code != 400 || !strings.Contains(r.raw, "unknown field") {
			t.Errorf("developer PATCH %s: %d %s, want 400 unknown field", body, r.code, r.raw)
		}
	}
	for _, body := range []string{`{"rpm":1000000}`, `{"budget":{"amount_usd":1000}}`, `{"budget":null}`, `{"models":["m"]}`, `{"max_concurrent":1}`,
		`{"endpoints":["chat"]}`, `{"source_networks":["0.0.0.0/0"]}`} {
		if r := w.as("devA", "PATCH", key, body); r.code != 403 {
			t.Errorf("developer PATCH %s: %d %s, want 403", body, r.code, r.raw)
		}
	}
	if after := w.must(w.as("super", "GET", key, ""), 200, "read key").raw; after != before {
		t.Fatalf("the key changed:\n%s\n%s", before, after)
	}
	audit := w.must(w.as("super", "GET", "/admin/v1/audit?object_id="+w.ids["keyA"], ""), 200, "audit")
	denied := 0
	for _, row := range audit.body["data"].([]any) {
		if m := row.(map[string]any); m["action"] == "key.denied" {
			denied++
			if m["tenant"] != w.ids["orgA"] || !strings.Contains(fmt.Sprint(m["actor"]), "@example.com") {
				t.Errorf("denied row %v", m)
			}
		}
	}
	if denied != 7 {
		t.Fatalf("%d key.denied audit rows, want 7", denied)
	}
	// A developer may create a key, but not give it a budget.
	if r := w.as("devA", "POST", "/admin/v1/keys", fmt.Sprintf(`{"name":"rich","app_id":%q,"budget":{"amount_usd":9}}`, w.ids["appA"])); r.code != 403 {
		t.Fatalf("developer key with budget: %d %s", r.code, r.raw)
	}
	// Limits are set by the level above: a team admin sets its
	// applications' limits, not its own team's; the owner sets the team's.
	team, app := "/admin/v1/teams/"+w.ids["teamA"], "/admin/v1/apps/"+w.ids["appA"]
	if r := w.as("tadminA", "PATCH", team, `{"budget":{"amount_usd":1e6}}`); r.code != 403 {
		t.Fatalf("team admin raised its team's budget: %d %s", r.code, r.raw)
	}
	if r := w.as("tadminA", "PATCH", team, `{"description":"search"}`); r.code != 200 {
		t.Fatalf("team admin renaming its team: %d %s", r.code, r.raw)
	}
	if r := w.as("tadminA", "PATCH", app, `{"rpm":60,"budget":{"amount_usd":5,"period":"daily","alert_percents":[50,100]}}`); r.code != 200 {
		t.Fatalf("team admin setting an application's limits: %d %s", r.code, r.raw)
	}
	if r := w.as("ownerA", "PATCH", team, `{"budget":{"amount_usd":100}}`); r.code != 200 || r.body["limits"].(map[string]any)["budget"] == nil {
		t.Fatalf("owner setting the team's budget: %d %s", r.code, r.raw)
	}
	if r := w.as("ownerA", "PATCH", "/admin/v1/orgs/"+w.ids["orgA"], `{"rpm":1}`); r.code != 403 {
		t.Fatalf("owner set its organisation's limits: %d %s", r.code, r.raw)
	}
	// Roles: an admin cannot make an owner; nobody grants in another tenant.
	u, _, _ := strings.Cut(w.newUser("viewer", w.ids["orgA"], ""), "\x00")
	if r := w.as("tadminA", "POST", "/admin/v1/role-bindings", fmt.Sprintf(`{"user_id":%q,"role":"owner","org_id":%q}`, u, w.ids["orgA"])); r.code != 403 {
		t.Fatalf("team admin made an owner: %d %s", r.code, r.raw)
	}
	if r := w.as("ownerA", "POST", "/admin/v1/role-bindings", fmt.Sprintf(`{"user_id":%q,"role":"owner","org_id":%q}`, u, w.ids["orgB"])); r.code != 404 {
		t.Fatalf("owner granted in another tenant: %d %s", r.code, r.raw)
	}
}

// TestListsAreTenantScoped: lists show only what the caller may read.
func TestListsAreTenantScoped(t *testing.T) {
	w := newWorld(t)
	ids := func(principal, path string) string {
		var out []string
		for _, d := range w.must(w.as(principal, "GET", path, ""), 200, path).body["data"].([]any) {
			out = append(out, d.(map[string]any)["id"].(string))
		}
		return strings.Join(out, ",")
	}
	for _, tt := range []struct{ principal, path, want, wantNot string }{
		{"devA", "/admin/v1/orgs", w.ids["orgA"], w.ids["orgB"]},
		{"tadminB", "/admin/v1/teams", w.ids["teamB"], w.ids["teamA"]},
		{"devA", "/admin/v1/apps", w.ids["appA"], w.ids["appB"]},
		{"devA", "/admin/v1/keys", w.ids["keyA"], w.ids["keyB"]},
		{"ownerA", "/admin/v1/users", w.ids["userA"], w.ids["userB"]},
		{"tadminB", "/admin/v1/keys?team_id=" + w.ids["teamB"], w.ids["keyB"], w.ids["keyA"]},
	} {
		got := ids(tt.principal, tt.path)
		if !strings.Contains(got, tt.want) || (tt.wantNot != "" && strings.Contains(got, tt.wantNot)) {
			t.Errorf("%s GET %s = %s; want %s and not %s", tt.principal, tt.path, got, tt.want, tt.wantNot)
		}
	}
	// A filter naming another tenant's unit is a 404, as that unit is; a
	// collection the principal may read nowhere is a 403, empty or not.
	for _, tt := range []struct {
		principal, path string
		want            int
	}{
		{"tadminB", "/admin/v1/keys?org_id=" + w.ids["orgA"], 404},
		{"tadminB", "/admin/v1/apps?team_id=" + w.ids["teamA"], 404},
		{"devA", "/admin/v1/role-bindings?org_id=" + w.ids["orgB"], 404},
		{"devA", "/admin/v1/users", 403},
		{"devA", "/admin/v1/role-bindings?org_id=" + w.ids["orgA"], 403},
	} {
		w.must(w.as(tt.principal, "GET", tt.path, ""), tt.want, tt.principal+" GET "+tt.path)
	}
	// Key names are per application: tenant B learns nothing from reusing
	// tenant A's, and a name resolves among the keys one may read.
	r := w.as("tadminB", "POST", "/admin/v1/keys", fmt.Sprintf(`{"name":"keyA","app_id":%q}`, w.ids["appB"]))
	if r.code != 201 {
		t.Fatalf("tenant B naming a key like tenant A's: %d %s", r.code, r.raw)
	}
	if got := w.must(w.as("tadminB", "GET", "/admin/v1/keys/keyA", ""), 200, "by name").body["id"]; got != r.body["id"] {
		t.Fatalf("tenant B's keyA resolved to %v", got)
	}
	if got := w.must(w.as("devA", "GET", "/admin/v1/keys/keyA", ""), 200, "by name").body["id"]; got != w.ids["keyA"] {
		t.Fatalf("tenant A's keyA resolved to %v", got)
	}
	if r := w.as("super", "GET", "/admin/v1/keys/keyA", ""); r.code != 409 {
		t.Fatalf("an ambiguous name for the super-admin: %d %s", r.code, r.raw)
	}
}

// TestKeyRotationOverlap (S5): a rotated key keeps its id; the old value
// works during the overlap window and not after; only hashes are stored.
func TestKeyRotationOverlap(t *testing.T) {
	w := newWorld(t)
	old := w.ids["secretA"]
	path := "/admin/v1/keys/" + w.ids["keyA"] + "/rotate"
	reset := func() { w.e.mu.Lock(); w.e.seen.Reset(); w.e.mu.Unlock() } // answers that show a key
	reset()
	r := w.must(w.as("tadminA", "POST", path, `{"overlap_seconds":3600}`), 200, "rotate")
	reset()
	next := r.body["key"].(string)
	if r.body["id"] != w.ids["keyA"] || next == old || !strings.HasPrefix(next, "gw-live-") {
		t.Fatalf("rotation answer %s", r.raw)
	}
	snap := w.e.ctl.snaps.Load()
	o, n := snap.Keys[auth.HashKey(old)], snap.Keys[auth.HashKey(next)]
	if o == nil || n == nil || o.ID != n.ID || o.ExpiresAt.IsZero() || !n.ExpiresAt.IsZero() {
		t.Fatalf("after rotation: old %+v new %+v", o, n)
	}
	if d := time.Until(o.ExpiresAt); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("old value valid for %v, want one hour", d)
	}
	// A second rotation with no overlap ends both earlier values at once.
	r = w.must(w.as("tadminA", "POST", path, `{"overlap_seconds":0}`), 200, "rotate again")
	reset()
	third := r.body["key"].(string)
	snap = w.e.ctl.snaps.Load()
	if snap.Keys[auth.HashKey(old)] != nil || snap.Keys[auth.HashKey(next)] != nil || snap.Keys[auth.HashKey(third)] == nil {
		t.Fatalf("after a rotation without overlap the old values still work")
	}
	if r := w.as("super", "GET", "/admin/v1/keys/"+w.ids["keyA"], ""); strings.Contains(r.raw, third) || strings.Contains(r.raw, next) {
		t.Fatalf("GET shows a key value: %s", r.raw)
	}
	w.e.close()
	for _, v := range []string{old, next, third} {
		sum := auth.HashKey(v)
		for _, h := range w.e.leaks(v) {
			// Only the hashes, only in the database (api_keys.hash and prev_hash).
			if !strings.HasPrefix(h, "file ") || !strings.Contains(h, hex.EncodeToString(sum[:])) {
				t.Errorf("leak: %s", h)
			}
		}
	}
}

// TestOpenAPIDocument: the document is served without credentials,
// describes every admin route, and is OpenAPI 3.1.
func TestOpenAPIDocument(t *testing.T) {
	e := newEnv(t)
	res, err := http.Get(e.url + "/admin/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil || res.StatusCode != 200 || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi.json: %d %v %q", res.StatusCode, err, doc.OpenAPI)
	}
	for _, rt := range admin.New(admin.Options{}).Routes() {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("%s is not in the document", rt.Pattern)
		}
	}
}

type ssoUser struct {
	sub, email string
	groups     []string
}

func (u *ssoUser) ID() string                        { return u.sub }
func (u *ssoUser) Userinfo([]string) ([]byte, error) { return []byte(`{"sub":"` + u.sub + `"}`), nil }
func (u *ssoUser) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	return &ssoClaims{IDTokenClaims: base, Email: u.email, EmailVerified: true, Groups: u.groups}, nil
}

type ssoClaims struct {
	*mockoidc.IDTokenClaims
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Groups        []string `json:"groups"`
}

// TestSingleSignOn: a user signs in through an OIDC identity provider
// (mockoidc); the group claim maps to roles; the session works with its
// CSRF token; a second login with other groups replaces the mapped roles.
func TestSingleSignOn(t *testing.T) {
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Server.Shutdown(context.Background()) })
	e := newEnvOpts(t, func(o *admin.Options, base string) {
		p, err := login.NewProvider(context.Background(), login.Config{Issuer: m.Issuer(), ClientID: m.ClientID,
			ClientSecret: m.ClientSecret, RedirectURL: base + "/admin/v1/auth/oidc/callback", RoleClaim: "groups",
			RoleMap: []login.RoleMapping{{Value: "platform", Role: "owner", Org: "acme"}, {Value: "search-devs", Role: "developer", Org: "acme", Team: "search"}}},
			http.DefaultClient)
		if err != nil {
			t.Fatal(err)
		}
		o.OIDC = p
	})
	w := &world{e: e, ids: map[string]string{}, creds: map[string]string{"super": "Bearer " + token}}
	org := w.must(w.as("super", "POST", "/admin/v1/orgs", `{"name":"acme"}`), 201, "org").body["id"].(string)
	team := w.must(w.as("super", "POST", "/admin/v1/teams", fmt.Sprintf(`{"name":"search","org_id":%q}`, org)), 201, "team").body["id"].(string)

	signIn := func(groups ...string) (*http.Client, string) {
		m.QueueUser(&ssoUser{sub: "ada-1", email: "ada@example.com", groups: groups})
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		loc := e.url + "/admin/v1/auth/oidc/login?return_to=/admin/"
		for i := 0; i < 4 && strings.HasPrefix(loc, "http"); i++ { // Sluice -> IdP -> Sluice callback -> return_to
			res, err := c.Get(loc)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusFound {
				t.Fatalf("GET %s: %d %s", loc, res.StatusCode, b)
			}
			loc = res.Header.Get("Location")
			if u, _ := url.Parse(loc); u != nil && !u.IsAbs() {
				break
			}
		}
		if loc != "/admin/" {
			t.Fatalf("single sign-on ended at %q", loc)
		}
		res, err := c.Get(e.url + "/admin/v1/me")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var me admin.Me
		if err := json.NewDecoder(res.Body).Decode(&me); err != nil || res.StatusCode != 200 {
			t.Fatalf("me: %d %v", res.StatusCode, err)
		}
		var roles []string
		for _, b := range me.Bindings {
			roles = append(roles, b.Role+"@"+b.OrgID+"/"+b.TeamID)
		}
		return c, strings.Join(roles, ",") + "|" + me.CSRFToken
	}
	c, got := signIn("platform", "unrelated")
	roles, csrf, _ := strings.Cut(got, "|")
	if roles != "owner@"+org+"/" || csrf == "" {
		t.Fatalf("roles after sign-on: %q (csrf %q)", roles, csrf)
	}
	// The session acts with those roles; unsafe methods need the CSRF token.
	create := func(hdr string) int {
		req, _ := http.NewRequest("POST", e.url+"/admin/v1/apps", strings.NewReader(fmt.Sprintf(`{"name":"web%d","team_id":%q}`, len(hdr), team)))
		if hdr != "" {
			req.Header.Set("X-CSRF-Token", hdr)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := create(""); code != 403 {
		t.Fatalf("session write without CSRF token: %d", code)
	}
	if code := create(csrf); code != 201 {
		t.Fatalf("session write with CSRF token: %d", code)
	}
	// Groups changed at the IdP: the next login replaces the mapped roles.
	_, got = signIn("search-devs")
	if roles, _, _ := strings.Cut(got, "|"); roles != "developer@"+org+"/"+team {
		t.Fatalf("roles after the second sign-on: %q", roles)
	}
	users := w.must(w.as("super", "GET", "/admin/v1/users", ""), 200, "users").body["data"].([]any)
	if len(users) != 1 || users[0].(map[string]any)["sso"] != true {
		t.Fatalf("users after two sign-ons: %v", users)
	}
}

// TestLoginSecretsNeverLeak (S3 for people): a password and an admin API
// token never appear in responses (after the one that shows the token),
// logs, audit rows or the database; the token only as its hash in the
// database.
func TestLoginSecretsNeverLeak(t *testing.T) {
	w := newWorld(t)
	pw := canary("pw-canary-")
	u := w.must(w.as("super", "POST", "/admin/v1/users", fmt.Sprintf(`{"email":"leak@example.com","password":%q,"bindings":[{"role":"admin","org_id":%q}]}`,
		pw, w.ids["orgA"])), 201, "user")
	w.e.mu.Lock()
	w.e.seen.Reset() // the request bodies are not recorded; the answers are scanned from here on
	w.e.mu.Unlock()
	w.as("anon", "POST", "/admin/v1/auth/login", `{"email":"leak@example.com","password":"wrong-`+pw+`"}`)
	_, tok := w.tokenFor(u.body["id"].(string) + "\x00leak@example.com\x00" + pw)
	w.e.mu.Lock()
	w.e.seen.Reset() // the answer that showed the token
	w.e.mu.Unlock()
	w.creds["leaky"] = "Bearer " + tok
	w.must(w.as("leaky", "GET", "/admin/v1/me", ""), 200, "me")
	w.as("leaky", "GET", "/admin/v1/keys/nope", "")
	w.as("anon", "GET", "/admin/v1/keys", "", "Authorization", "Bearer "+tok+"x")
	w.must(w.as("super", "PATCH", "/admin/v1/users/"+u.body["id"].(string), `{"password":"`+pw+`-2"}`), 200, "change password")
	w.e.close()
	if hits := w.e.leaks(pw); len(hits) > 0 {
		t.Errorf("the password leaked: %v", hits)
	}
	sum := sha256.Sum256([]byte(tok))
	hits := w.e.leaks(tok)
	for _, h := range hits {
		if !strings.HasPrefix(h, "file ") || !strings.Contains(h, hex.EncodeToString(sum[:])) {
			t.Errorf("the admin API token leaked: %s", h)
		}
	}
	if len(hits) == 0 {
		t.Fatal("the token's hash is not in the database: the scan cannot be trusted")
	}
}

// TestAuditCompleteness (S9): an owner's workflow leaves one audit row per
// change, each with the owner as actor and the organisation as tenant,
// readable by the organisation's auditor and holding no secret.
func TestAuditCompleteness(t *testing.T) {
	w := newWorld(t)
	org := w.ids["orgA"]
	team := w.must(w.as("ownerA", "POST", "/admin/v1/teams", fmt.Sprintf(`{"name":"audited","org_id":%q}`, org)), 201, "team").body["id"].(string)
	w.must(w.as("ownerA", "PATCH", "/admin/v1/teams/"+team, `{"budget":{"amount_usd":10}}`), 200, "budget")
	app := w.must(w.as("ownerA", "POST", "/admin/v1/apps", fmt.Sprintf(`{"name":"web","team_id":%q}`, team)), 201, "app").body["id"].(string)
	k := w.must(w.as("ownerA", "POST", "/admin/v1/keys", fmt.Sprintf(`{"name":"k","app_id":%q,"rpm":10}`, app)), 201, "key")
	key := k.body["id"].(string)
	rot := w.must(w.as("ownerA", "POST", "/admin/v1/keys/"+key+"/rotate", `{}`), 200, "rotate")
	w.must(w.as("ownerA", "PATCH", "/admin/v1/keys/"+key, `{"rpm":20}`), 200, "key limits")
	w.must(w.as("ownerA", "DELETE", "/admin/v1/keys/"+key, ""), 200, "revoke")
	user := w.must(w.as("ownerA", "POST", "/admin/v1/users", fmt.Sprintf(`{"email":"new@example.com","bindings":[{"role":"viewer","org_id":%q}]}`, org)), 201, "user").body["id"].(string)
	w.must(w.as("ownerA", "POST", "/admin/v1/role-bindings", fmt.Sprintf(`{"user_id":%q,"role":"developer","org_id":%q,"team_id":%q}`, user, org, team)), 201, "binding")

	owner := w.must(w.as("ownerA", "GET", "/admin/v1/me", ""), 200, "me").body["email"]
	rows := w.must(w.as("audA", "GET", "/admin/v1/audit?limit=1000&org_id="+org, ""), 200, "audit").body["data"].([]any)
	count := map[string]int{}
	for _, r := range rows {
		m := r.(map[string]any)
		if m["actor"] != owner {
			continue
		}
		count[m["action"].(string)]++
		if m["tenant"] != org || m["request_id"] == "" {
			t.Errorf("row without tenant or request id: %v", m)
		}
	}
	want := map[string]int{"team.create": 1, "team.update": 1, "app.create": 1, "key.create": 1, "key.rotate": 1,
		"key.update": 1, "key.revoke": 1, "user.create": 1}
	for action, n := range want {
		if count[action] != n {
			t.Errorf("%d %s rows, want %d (all: %v)", count[action], action, n, count)
		}
	}
	if count["role_binding.create"] < 2 { // the new user's first binding, then the developer one
		t.Errorf("role binding rows: %v", count)
	}
	b, _ := json.Marshal(rows)
	for _, secret := range []string{k.body["key"].(string), rot.body["key"].(string)} {
		if strings.Contains(string(b), secret) {
			t.Fatal("an audit row holds a key value")
		}
	}
	// Another tenant's auditor sees none of it.
	if r := w.as("tadminB", "GET", "/admin/v1/audit?org_id="+org, ""); r.code != 404 {
		t.Fatalf("tenant B reading tenant A's audit log: %d", r.code)
	}
}
