package console

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeAPI answers the admin routes the application page reads; analytics
// says whether it has the analytics route. Like the real API, it refuses
// a query parameter a route does not take.
func fakeAPI(t *testing.T, analytics bool) http.Handler {
	accepts := map[string][]string{
		"/admin/v1/requests":  {"org_id", "team_id", "app_id", "key_id", "limit"},
		"/admin/v1/analytics": {"org_id", "team_id", "app_id", "key_id", "from", "to", "interval", "group_by", "metrics"},
		"/admin/v1/usage":     {"org_id", "team_id", "app_id", "key_id", "from", "to", "group_by"},
		"/admin/v1/keys":      {"org_id", "team_id", "app_id", "limit", "cursor"},
		"/admin/v1/orgs":      {"limit", "cursor"},
	}
	now := time.Now().UTC()
	answers := map[string]any{
		"/admin/v1/me":            map[string]any{"kind": "session", "user_id": "u1", "email": "dev@example.com", "bindings": []any{}, "csrf_token": "c"},
		"/admin/v1/orgs":          map[string]any{"data": []any{}},
		"/admin/v1/apps/app1":     map[string]any{"id": "app1", "name": "web", "limits": map[string]any{}},
		"/admin/v1/keys":          map[string]any{"data": []any{}},
		"/admin/v1/usage":         map[string]any{"total": map[string]any{"cost_micros": 5}},
		"/admin/v1/requests":      map[string]any{"data": []any{map[string]any{"time": now, "status": "ok", "latency_ms": 7}, map[string]any{"time": now, "status": "upstream_error", "latency_ms": 9}}},
		"/admin/v1/analytics":     map[string]any{"series": []any{map[string]any{"group": map[string]any{}, "points": []any{map[string]any{"t": now.Truncate(30 * time.Minute), "requests": 5, "errors": 1}}}}, "totals": map[string]any{"requests": 5, "errors": 1}},
		"/admin/v1/subscriptions": nil,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		body, ok := answers[r.URL.Path]
		if !ok || body == nil || (r.URL.Path == "/admin/v1/analytics" && !analytics) {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"message":"No such admin route.","code":"not_found"}}`))
			return
		}
		for name := range r.URL.Query() {
			if !slices.Contains(accepts[r.URL.Path], name) {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"error":{"message":"Unknown query parameter ` + name + `.","code":"unknown_parameter"}}`))
				return
			}
		}
		_ = json.NewEncoder(w).Encode(body)
	})
}

var statRE = regexp.MustCompile(`<dt>Requests \(24h\)</dt><dd>(\d+)</dd>`)

// TestUsageSources: the application page reads the analytics rollups
// when the server has them, and otherwise the newest ledger entries,
// asking each route only for what it takes.
func TestUsageSources(t *testing.T) {
	for _, tc := range []struct {
		name      string
		analytics bool
		want      string
	}{
		{"rollups", true, "5"},
		{"ledger", false, "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(Options{API: fakeAPI(t, tc.analytics)})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("GET", "/portal/apps/app1", nil)
			req.AddCookie(&http.Cookie{Name: "sluice_session", Value: "s"})
			rec := httptest.NewRecorder()
			c.ServeHTTP(rec, req)
			body := rec.Body.String()
			if rec.Code != 200 {
				t.Fatalf("%d\n%s", rec.Code, body)
			}
			m := statRE.FindStringSubmatch(body)
			if m == nil || m[1] != tc.want {
				t.Fatalf("requests stat %v, want %s", m, tc.want)
			}
			if !strings.Contains(body, "appear here once this server has the products API") {
				t.Errorf("no word on the missing subscriptions")
			}
		})
	}
}

// TestGzip: pages and assets go gzipped to a client that takes it, plain
// to one that does not (q=0 refuses).
func TestGzip(t *testing.T) {
	c, err := New(Options{API: fakeAPI(t, true)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, accept string
		gzipped      bool
	}{
		{"/portal/apps/app1", "gzip, deflate, br", true},
		{"/portal/apps/app1", "", false},
		{"/portal/apps/app1", "gzip;q=0", false},
		{"/console/static/vendor/htmx/htmx.min.js", "br;q=1.0, gzip;q=0.8", true},
		{"/console/static/vendor/htmx/htmx.min.js", "identity", false},
	} {
		req := httptest.NewRequest("GET", tc.path, nil)
		req.AddCookie(&http.Cookie{Name: "sluice_session", Value: "s"})
		if tc.accept != "" {
			req.Header.Set("Accept-Encoding", tc.accept)
		}
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, req)
		got := rec.Header().Get("Content-Encoding") == "gzip"
		if rec.Code != 200 || got != tc.gzipped {
			t.Errorf("%s with %q: %d, gzipped %v", tc.path, tc.accept, rec.Code, got)
			continue
		}
		body := rec.Body.Bytes()
		if got {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if len(body)*2 > len(plain) {
				t.Errorf("%s: %d bytes gzipped from %d", tc.path, len(body), len(plain))
			}
			body = plain
		}
		if !bytes.Contains(body, []byte("</html>")) && !bytes.Contains(body, []byte("htmx")) {
			t.Errorf("%s: body %.80q", tc.path, body)
		}
	}
}

// TestSignInChoices: the single sign-on button shows only when OIDC is
// configured, and returns to the page asked for.
func TestSignInChoices(t *testing.T) {
	for _, oidc := range []bool{false, true} {
		c, err := New(Options{API: fakeAPI(t, true), OIDC: oidc})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, httptest.NewRequest("GET", "/console/login?next=/console/keys", nil))
		body := rec.Body.String()
		has := strings.Contains(body, `href="/admin/v1/auth/oidc/login?return_to=%2fconsole%2fkeys"`)
		if rec.Code != 200 || has != oidc || !strings.Contains(body, `name="token"`) {
			t.Errorf("oidc %v: %d, button %v", oidc, rec.Code, has)
		}
	}
}
