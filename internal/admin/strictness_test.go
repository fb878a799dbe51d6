package admin_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/route"
)

// TestUnknownQueryParameters: every route refuses a query parameter its
// routes.go row does not declare, with a 400 naming it (a misspelt filter
// such as /usage?key= must not answer global totals), after
// authentication; every declared parameter gets past that check.
func TestUnknownQueryParameters(t *testing.T) {
	e := newEnv(t)
	routes := admin.New(admin.Options{TokenHash: auth.HashKey(token), Health: route.NewRegistry(route.HealthOptions{})}).Routes()
	send := func(cred, method, path string) resp {
		req, _ := http.NewRequest(method, e.url+path, strings.NewReader("{}"))
		if cred != "" {
			req.Header.Set("Authorization", "Bearer "+cred)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return respOf(res, b)
	}
	code := func(r resp) string {
		if m, ok := r.body["error"].(map[string]any); ok {
			s, _ := m["code"].(string)
			return s
		}
		return ""
	}
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt.Pattern, " ")
		path = strings.Replace(path, "{id}", "x", 1)
		for _, query := range []string{"key=k", "bogus_param=1&key=k", "ORG_ID=o"} {
			r := send(token, method, path+"?"+query)
			if r.code != 400 || code(r) != "unknown_parameter" {
				t.Errorf("%s ?%s: %d %s, want 400 unknown_parameter", rt.Pattern, query, r.code, r.raw)
				continue
			}
			msg := r.body["error"].(map[string]any)["message"].(string)
			for _, kv := range strings.Split(query, "&") {
				name, _, _ := strings.Cut(kv, "=")
				if !strings.Contains(msg, `"`+name+`"`) {
					t.Errorf("%s ?%s: %q does not name %q", rt.Pattern, query, msg, name)
				}
			}
		}
		if !rt.Op.Public {
			if r := send("", method, path+"?bogus_param=1"); r.code != 401 {
				t.Errorf("%s without a credential: %d, want 401 before the query is judged", rt.Pattern, r.code)
			}
		}
		for _, p := range rt.Op.Query {
			if r := send(token, method, path+"?"+p.Name+"=x"); code(r) == "unknown_parameter" || r.code >= 500 {
				t.Errorf("%s ?%s=x (declared): %d %s", rt.Pattern, p.Name, r.code, r.raw)
			}
			// Given twice, only one would count: refused too.
			r := send(token, method, path+"?"+p.Name+"=x&"+p.Name+"=y")
			if msg, _ := r.body["error"].(map[string]any)["message"].(string); r.code != 400 || code(r) != "repeated_parameter" || !strings.Contains(msg, `"`+p.Name+`"`) {
				t.Errorf("%s ?%s twice: %d %s, want 400 repeated_parameter naming it", rt.Pattern, p.Name, r.code, r.raw)
			}
		}
	}
}

// TestDeclaredKeysByName: keys are found by id or by name; a key the
// configuration file declares is read-only in the API, and every route
// that takes a key says so, by name or by id, to whoever may read it.
func TestDeclaredKeysByName(t *testing.T) {
	w := newWorld(t)
	f := fileConfig()
	f.Keys = []config.Key{{Name: "client", Key: "sk-declared-client-0123456789"}}
	w.e.ctl.setFile(f)
	w.must(w.as("super", "POST", "/admin/v1/reload", ""), 200, "reload")
	var declaredID string
	for _, k := range w.e.ctl.snaps.Load().Keys {
		if k.Name == "client" {
			declaredID = k.ID
		}
	}
	if declaredID == "" {
		t.Fatal("the declared key is not in the snapshot")
	}
	const remove = "key 'client' is declared in the config file; remove it there and reload."
	stored := w.must(w.as("super", "POST", "/admin/v1/keys", `{"name":"stored"}`), 201, "stored key").body["id"].(string)
	for _, tt := range []struct {
		who, method, path, body string
		want                    int
		msg                     string
	}{
		{"super", "DELETE", "/admin/v1/keys/client", "", 409, remove},
		{"super", "DELETE", "/admin/v1/keys/" + declaredID, "", 409, remove},
		{"super", "PATCH", "/admin/v1/keys/client", `{"name":"x"}`, 409, remove},
		{"super", "POST", "/admin/v1/keys/client/rotate", "", 409, remove},
		{"super", "GET", "/admin/v1/keys/client", "", 409, "key 'client' is declared in the config file"},
		// Whoever may not read it (a platform key: the super-admin's)
		// learns nothing.
		{"ownerA", "DELETE", "/admin/v1/keys/client", "", 404, "No such object."},
		{"super", "DELETE", "/admin/v1/keys/nothing", "", 404, "No such object."},
		// Reading a key's usage takes its id or name, declared keys too.
		{"super", "GET", "/admin/v1/usage?key_id=client", "", 200, ""},
		{"super", "GET", "/admin/v1/usage?key_id=" + declaredID, "", 200, ""},
		{"super", "GET", "/admin/v1/requests?key_id=client", "", 200, ""},
		{"devA", "GET", "/admin/v1/usage?key_id=keyA", "", 200, ""},
		{"devA", "GET", "/admin/v1/requests?key_id=keyA", "", 200, ""},
		{"ownerA", "GET", "/admin/v1/usage?key_id=client", "", 404, "No such object."},
		{"tadminB", "GET", "/admin/v1/usage?key_id=keyA", "", 404, "No such object."},
		// Stored keys by name and by id.
		{"super", "GET", "/admin/v1/keys/stored", "", 200, ""},
		{"super", "DELETE", "/admin/v1/keys/stored", "", 200, ""},
		{"devA", "DELETE", "/admin/v1/keys/keyA", "", 200, ""},
		{"super", "DELETE", "/admin/v1/keys/" + stored, "", 200, ""},
	} {
		r := w.as(tt.who, tt.method, tt.path, tt.body)
		if r.code != tt.want {
			t.Errorf("%s %s %s: %d %s, want %d", tt.who, tt.method, tt.path, r.code, r.raw, tt.want)
			continue
		}
		if tt.msg != "" {
			if got := r.body["error"].(map[string]any)["message"].(string); !strings.HasPrefix(got, tt.msg) {
				t.Errorf("%s %s %s: message %q, want %q", tt.who, tt.method, tt.path, got, tt.msg)
			}
		}
	}
}
