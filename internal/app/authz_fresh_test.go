package app

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuthorizationFreshInstall: on a fresh install (an empty store) every
// admin route answers the super-admin without a 5xx, and every collection
// answers 200 (an empty list is decided like a full one).
func TestAuthorizationFreshInstall(t *testing.T) {
	r := start(t, "--data-dir", filepath.Join(t.TempDir(), "data"))
	routes := registeredRoutes.Load()
	if routes == nil {
		t.Fatal("no routes registered")
	}
	// Collections that answer the bootstrap token otherwise, and why.
	notList := map[string]int{
		"GET /admin/v1/tokens":             400, // tokens belong to users; the bootstrap token is none
		"GET /admin/v1/auth/oidc/login":    404, // single sign-on is not configured
		"GET /admin/v1/auth/oidc/callback": 404,
	}
	n := 0
	for _, pattern := range *routes {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok || !strings.HasPrefix(path, "/admin/") {
			continue
		}
		n++
		req, _ := http.NewRequest(method, r.base+strings.ReplaceAll(path, "{id}", "none"), strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("If-Match", `"1"`)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want, listed := notList[pattern]
		if !listed && method == "GET" && !strings.Contains(path, "{") {
			want = 200
		}
		if resp.StatusCode >= 500 || (want != 0 && resp.StatusCode != want) {
			t.Errorf("%s on a fresh install: %d, want %d (never 5xx)", pattern, resp.StatusCode, want)
		}
	}
	if n < 40 {
		t.Errorf("only %d admin routes registered", n)
	}
	if t.Failed() {
		t.Logf("server log:\n%s", r.logs.String())
	}
}
