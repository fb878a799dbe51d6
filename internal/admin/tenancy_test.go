package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/route"
	"github.com/sluicehq/sluice/internal/store/storetest"
)

// world is two tenants, A and B, each with a team, an application and a
// key, and people with different roles in them.
type world struct {
	e     *env
	ids   map[string]string // "orgA", "teamA", "appA", "keyA", "userA" (a spare viewer), "tokA" ...
	creds map[string]string // principal → Authorization value ("" for anonymous)
	n     atomic.Int64
}

const password = "correct horse battery staple"

// as sends a request with a principal's credential.
func (w *world) as(principal, method, path, body string, hdr ...string) resp {
	w.e.t.Helper()
	req, _ := http.NewRequest(method, w.e.url+path, strings.NewReader(body))
	if c := w.creds[principal]; c != "" {
		req.Header.Set("Authorization", c)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	w.e.mu.Lock()
	fmt.Fprintf(&w.e.seen, "%s %s -> %d %v\n%s\n", method, path, res.StatusCode, res.Header, b)
	w.e.mu.Unlock()
	return respOf(res, b)
}

func (w *world) must(r resp, want int, what string) resp {
	w.e.t.Helper()
	if r.code != want {
		w.e.t.Fatalf("%s: %d %s, want %d", what, r.code, r.raw, want)
	}
	return r
}

func (w *world) uniq(prefix string) string { return fmt.Sprintf("%s%d", prefix, w.n.Add(1)) }

// newUser creates a user with one binding and returns its id.
func (w *world) newUser(role, org, team string) string {
	email := w.uniq("u") + "@example.com"
	b := fmt.Sprintf(`{"email":%q,"password":%q,"bindings":[{"role":%q,"org_id":%q,"team_id":%q}]}`, email, password, role, org, team)
	r := w.must(w.as("super", "POST", "/admin/v1/users", b), 201, "create user")
	return r.body["id"].(string) + "\x00" + email
}

// tokenFor signs in as a user (password, session cookie, CSRF token) and
// creates an admin API token with that session.
func (w *world) tokenFor(user string) (id, value string) {
	t := w.e.t
	_, email, _ := strings.Cut(user, "\x00")
	email, pw, found := strings.Cut(email, "\x00")
	if !found {
		pw = password
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	post := func(path, body string, hdr ...string) resp {
		req, _ := http.NewRequest("POST", w.e.url+path, strings.NewReader(body))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return respOf(res, b)
	}
	r := post("/admin/v1/auth/login", fmt.Sprintf(`{"email":%q,"password":%q}`, email, pw))
	if r.code != 200 {
		t.Fatalf("login %s: %d %s", email, r.code, r.raw)
	}
	csrf := r.body["csrf_token"].(string)
	if r := post("/admin/v1/tokens", `{"name":"ci"}`); r.code != 403 {
		t.Fatalf("a session write without the CSRF token: %d %s", r.code, r.raw)
	}
	r = post("/admin/v1/tokens", `{"name":"ci"}`, "X-CSRF-Token", csrf)
	if r.code != 201 {
		t.Fatalf("token for %s: %d %s", email, r.code, r.raw)
	}
	return r.body["id"].(string), r.body["token"].(string)
}

func newWorld(t *testing.T) *world { return newWorldOn(t, "") }

// newWorldOn builds the world on PostgreSQL (dsn) or SQLite ("").
func newWorldOn(t *testing.T, dsn string) *world {
	e := newEnvOn(t, dsn, nil)
	w := &world{e: e, ids: map[string]string{}, creds: map[string]string{"anon": "", "super": "Bearer " + token}}
	for _, x := range []string{"A", "B"} {
		org := w.must(w.as("super", "POST", "/admin/v1/orgs", `{"name":"org`+x+`"}`), 201, "org").body["id"].(string)
		team := w.must(w.as("super", "POST", "/admin/v1/teams", fmt.Sprintf(`{"name":"team%s","org_id":%q}`, x, org)), 201, "team").body["id"].(string)
		app := w.must(w.as("super", "POST", "/admin/v1/apps", fmt.Sprintf(`{"name":"app%s","team_id":%q}`, x, team)), 201, "app").body["id"].(string)
		key := w.must(w.as("super", "POST", "/admin/v1/keys", fmt.Sprintf(`{"name":"key%s","app_id":%q}`, x, app)), 201, "key")
		w.ids["org"+x], w.ids["team"+x], w.ids["app"+x], w.ids["key"+x] = org, team, app, key.body["id"].(string)
		w.ids["secret"+x] = key.body["key"].(string)
		spare := w.newUser("viewer", org, "")
		w.ids["user"+x], _, _ = strings.Cut(spare, "\x00")
		w.ids["tok"+x], _ = w.tokenFor(spare)
	}
	people := map[string][3]string{
		"devA":    {"developer", "orgA", "teamA"},
		"tadminA": {"admin", "orgA", "teamA"},
		"tadminB": {"admin", "orgB", "teamB"},
		"ownerA":  {"owner", "orgA", ""},
		"audA":    {"auditor", "orgA", ""},
	}
	for name, p := range people {
		team := ""
		if p[2] != "" {
			team = w.ids[p[2]]
		}
		_, tok := w.tokenFor(w.newUser(p[0], w.ids[p[1]], team))
		w.creds[name] = "Bearer " + tok
	}
	w.creds["keyA"] = "Bearer " + w.ids["secretA"]
	return w
}

// principals in the order of each expectation row.
var principals = []string{"anon", "keyA", "devA", "tadminA", "tadminB", "ownerA", "audA", "super"}

// matrix is the policy table (S1): for every admin route, the status each
// principal gets on an object in tenant A and in tenant B, written
// "A/B" per principal in the order of principals. PATCH and DELETE carry
// If-Match "999", so an allowed change answers 412 and changes nothing;
// DELETE of keys and bindings, and rotation, act on a fresh object.
var matrix = map[string]string{
	// public
	"POST /admin/v1/auth/login":        "401/401 401/401 401/401 401/401 401/401 401/401 401/401 401/401",
	"GET /admin/v1/auth/oidc/login":    "404/404 404/404 404/404 404/404 404/404 404/404 404/404 404/404",
	"GET /admin/v1/auth/oidc/callback": "404/404 404/404 404/404 404/404 404/404 404/404 404/404 404/404",
	"GET /admin/v1/openapi.json":       "200/200 200/200 200/200 200/200 200/200 200/200 200/200 200/200",
	"GET /admin/openapi.json":          "200/200 200/200 200/200 200/200 200/200 200/200 200/200 200/200",
	// self
	"POST /admin/v1/auth/logout":   "401/401 401/401 200/200 200/200 200/200 200/200 200/200 200/200",
	"GET /admin/v1/me":             "401/401 401/401 200/200 200/200 200/200 200/200 200/200 200/200",
	"GET /admin/v1/tokens":         "401/401 401/401 200/200 200/200 200/200 200/200 200/200 400/400",
	"POST /admin/v1/tokens":        "401/401 401/401 201/201 201/201 201/201 201/201 201/201 400/400",
	"DELETE /admin/v1/tokens/{id}": "401/401 401/401 404/404 404/404 404/404 404/404 404/404 400/400",
	// organisations
	"GET /admin/v1/orgs":         "401/401 401/401 200/200 200/200 200/200 200/200 200/200 200/200",
	"POST /admin/v1/orgs":        "401/401 401/401 403/403 403/403 403/403 403/403 403/403 201/201",
	"GET /admin/v1/orgs/{id}":    "401/401 401/401 200/404 200/404 404/200 200/404 200/404 200/200",
	"PATCH /admin/v1/orgs/{id}":  "401/401 401/401 403/404 403/404 404/403 412/404 403/404 412/412",
	"DELETE /admin/v1/orgs/{id}": "401/401 401/401 403/404 403/404 404/403 403/404 403/404 412/412",
	// teams
	"GET /admin/v1/teams":         "401/401 401/401 200/200 200/200 200/200 200/200 200/200 200/200",
	"POST /admin/v1/teams":        "401/401 401/401 403/404 403/404 404/403 201/404 403/404 201/201",
	"GET /admin/v1/teams/{id}":    "401/401 401/401 200/404 200/404 404/200 200/404 200/404 200/200",
	"PATCH /admin/v1/teams/{id}":  "401/401 401/401 403/404 412/404 404/412 412/404 403/404 412/412",
	"DELETE /admin/v1/teams/{id}": "401/401 401/401 403/404 403/404 404/403 412/404 403/404 412/412",
	// applications
	"GET /admin/v1/apps":         "401/401 401/401 200/200 200/200 200/200 200/200 200/200 200/200",
	"POST /admin/v1/apps":        "401/401 401/401 201/404 201/404 404/201 201/404 403/404 201/201",
	"GET /admin/v1/apps/{id}":    "401/401 401/401 200/404 200/404 404/200 200/404 200/404 200/200",
	"PATCH /admin/v1/apps/{id}":  "401/401 401/401 412/404 412/404 404/412 412/404 403/404 412/412",
	"DELETE /admin/v1/apps/{id}": "401/401 401/401 412/404 412/404 404/412 412/404 403/404 412/412",
	// keys
	"GET /admin/v1/keys":              "401/401 401/401 200/200 200/200 200/200 200/200 200/200 200/200",
	"POST /admin/v1/keys":             "401/401 401/401 201/404 201/404 404/201 201/404 403/404 201/201",
	"GET /admin/v1/keys/{id}":         "401/401 401/401 200/404 200/404 404/200 200/404 200/404 200/200",
	"PATCH /admin/v1/keys/{id}":       "401/401 401/401 412/404 412/404 404/412 412/404 403/404 412/412",
	"DELETE /admin/v1/keys/{id}":      "401/401 401/401 200/404 200/404 404/200 200/404 403/404 200/200",
	"POST /admin/v1/keys/{id}/rotate": "401/401 401/401 200/404 200/404 404/200 200/404 403/404 200/200",
	// users and role bindings
	"GET /admin/v1/users":                 "401/401 401/401 200/200 200/200 200/200 200/200 200/200 200/200",
	"POST /admin/v1/users":                "401/401 401/401 403/404 403/404 404/403 201/404 403/404 201/201",
	"GET /admin/v1/users/{id}":            "401/401 401/401 404/404 404/404 404/404 200/404 200/404 200/200",
	"PATCH /admin/v1/users/{id}":          "401/401 401/401 404/404 404/404 404/404 412/404 403/404 412/412",
	"GET /admin/v1/role-bindings":         "401/401 401/401 200/200 200/200 200/200 200/200 200/200 200/200",
	"POST /admin/v1/role-bindings":        "401/401 401/401 403/404 201/404 404/201 201/404 403/404 201/201",
	"DELETE /admin/v1/role-bindings/{id}": "401/401 401/401 404/404 200/404 404/200 200/404 403/404 200/200",
	// usage, ledger, audit
	"GET /admin/v1/usage":         "401/401 401/401 403/404 403/404 404/403 200/404 200/404 200/200",
	"GET /admin/v1/requests":      "401/401 401/401 403/404 403/404 404/403 200/404 200/404 200/200",
	"GET /admin/v1/budget-alerts": "401/401 401/401 403/404 403/404 404/403 200/404 200/404 200/200",
	"GET /admin/v1/audit":         "401/401 401/401 403/404 403/404 404/403 200/404 200/404 200/200",
	// platform
	"POST /admin/v1/reload":           "401/401 401/401 403/403 403/403 403/403 403/403 403/403 200/200",
	"GET /admin/v1/config":            "401/401 401/401 403/403 403/403 403/403 403/403 403/403 200/200",
	"GET /admin/v1/health":            "401/401 401/401 403/403 403/403 403/403 403/403 403/403 200/200",
	"GET /admin/v1/providers":         "401/401 401/401 403/403 403/403 403/403 403/403 403/403 200/200",
	"POST /admin/v1/providers":        "401/401 401/401 403/403 403/403 403/403 403/403 403/403 400/400",
	"GET /admin/v1/providers/{id}":    "401/401 401/401 403/403 403/403 403/403 403/403 403/403 404/404",
	"PATCH /admin/v1/providers/{id}":  "401/401 401/401 403/403 403/403 403/403 403/403 403/403 404/404",
	"DELETE /admin/v1/providers/{id}": "401/401 401/401 403/403 403/403 403/403 403/403 403/403 404/404",
}

// request builds the request that exercises a route on tenant x's object.
func (w *world) request(pattern, x string) (method, path, body string, hdr []string) {
	method, path, _ = strings.Cut(pattern, " ")
	id := func(kind string) string { return w.ids[kind+x] }
	fresh := func() string { // a new key in tenant x, for DELETE and rotate
		r := w.must(w.as("super", "POST", "/admin/v1/keys", fmt.Sprintf(`{"name":%q,"app_id":%q}`, w.uniq("fresh"), id("app"))), 201, "fresh key")
		return r.body["id"].(string)
	}
	switch {
	case strings.HasPrefix(path, "/admin/v1/orgs/"):
		path = strings.Replace(path, "{id}", id("org"), 1)
	case strings.HasPrefix(path, "/admin/v1/teams/"):
		path = strings.Replace(path, "{id}", id("team"), 1)
	case strings.HasPrefix(path, "/admin/v1/apps/"):
		path = strings.Replace(path, "{id}", id("app"), 1)
	case strings.HasPrefix(path, "/admin/v1/users/"):
		path = strings.Replace(path, "{id}", id("user"), 1)
	case strings.HasPrefix(path, "/admin/v1/tokens/"):
		path = strings.Replace(path, "{id}", id("tok"), 1)
	case strings.HasPrefix(path, "/admin/v1/providers/"):
		path = strings.Replace(path, "{id}", "prv_none", 1)
	case strings.HasPrefix(path, "/admin/v1/keys/"):
		k := id("key")
		if method == "DELETE" || strings.HasSuffix(path, "/rotate") {
			k = fresh()
		}
		path = strings.Replace(path, "{id}", k, 1)
	case path == "/admin/v1/role-bindings/{id}":
		u, _, _ := strings.Cut(w.newUser("developer", id("org"), id("team")), "\x00")
		bs := w.must(w.as("super", "GET", "/admin/v1/users/"+u, ""), 200, "user").body["bindings"].([]any)
		path = "/admin/v1/role-bindings/" + bs[0].(map[string]any)["id"].(string)
	}
	if method == "PATCH" || (method == "DELETE" && !strings.Contains(path, "/keys/") && !strings.Contains(path, "/role-bindings/") && !strings.Contains(path, "/tokens/")) {
		hdr = []string{"If-Match", `"999"`}
		body = `{}`
	}
	switch pattern {
	case "POST /admin/v1/auth/login":
		body = `{"email":"nobody@example.com","password":"wrong password here"}`
	case "POST /admin/v1/tokens":
		body = fmt.Sprintf(`{"name":%q}`, w.uniq("t"))
	case "POST /admin/v1/orgs":
		body = fmt.Sprintf(`{"name":%q}`, w.uniq("org"))
	case "POST /admin/v1/teams":
		body = fmt.Sprintf(`{"name":%q,"org_id":%q}`, w.uniq("team"), id("org"))
	case "POST /admin/v1/apps":
		body = fmt.Sprintf(`{"name":%q,"team_id":%q}`, w.uniq("app"), id("team"))
	case "POST /admin/v1/keys":
		body = fmt.Sprintf(`{"name":%q,"app_id":%q}`, w.uniq("key"), id("app"))
	case "POST /admin/v1/keys/{id}/rotate":
		body = `{"overlap_seconds":0}`
	case "POST /admin/v1/users":
		body = fmt.Sprintf(`{"email":%q,"bindings":[{"role":"viewer","org_id":%q}]}`, w.uniq("n")+"@example.com", id("org"))
	case "POST /admin/v1/role-bindings":
		u, _, _ := strings.Cut(w.newUser("viewer", id("org"), ""), "\x00")
		body = fmt.Sprintf(`{"user_id":%q,"role":"developer","org_id":%q,"team_id":%q}`, u, id("org"), id("team"))
	case "POST /admin/v1/providers":
		body = `{"name":"p","type":"nope"}`
	case "GET /admin/v1/usage", "GET /admin/v1/requests", "GET /admin/v1/budget-alerts", "GET /admin/v1/audit":
		path += "?org_id=" + id("org")
	}
	return method, path, body, hdr
}

// TestAuthorizationMatrix (S1) runs every admin route for every principal
// on objects of both tenants. A route missing from the matrix fails.
func TestAuthorizationMatrix(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testMatrix(t, newWorld(t)) })
	t.Run("postgres", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t)
		if dsn == "" {
			t.Skip("SLUICE_TEST_POSTGRES_DSN is not set")
		}
		testMatrix(t, newWorldOn(t, dsn))
	})
}

func testMatrix(t *testing.T, w *world) {
	api := admin.New(admin.Options{TokenHash: auth.HashKey(token), Health: route.NewRegistry(route.HealthOptions{})})
	seen := map[string]bool{}
	for _, rt := range api.Routes() {
		seen[rt.Pattern] = true
		row, ok := matrix[rt.Pattern]
		if !ok {
			t.Errorf("route %q has no row in the authorization matrix", rt.Pattern)
			continue
		}
		cells := strings.Fields(row)
		if len(cells) != len(principals) {
			t.Fatalf("%s: %d cells", rt.Pattern, len(cells))
		}
		for i, p := range principals {
			for j, x := range []string{"A", "B"} {
				want := strings.Split(cells[i], "/")[j]
				method, path, body, hdr := w.request(rt.Pattern, x)
				r := w.as(p, method, path, body, hdr...)
				if fmt.Sprint(r.code) != want {
					t.Errorf("%-36s %-8s tenant %s: %d, want %s (%s)", rt.Pattern, p, x, r.code, want, strings.TrimSpace(r.raw))
				}
			}
		}
	}
	for p := range matrix {
		if !seen[p] {
			t.Errorf("matrix row %q matches no route", p)
		}
	}
}

var _ = context.Background

func respOf(res *http.Response, b []byte) resp {
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp{code: res.StatusCode, etag: res.Header.Get("ETag"), body: m, raw: string(b)}
}
