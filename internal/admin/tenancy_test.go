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

var _ = context.Background

func respOf(res *http.Response, b []byte) resp {
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp{code: res.StatusCode, etag: res.Header.Get("ETag"), body: m, raw: string(b)}
}
