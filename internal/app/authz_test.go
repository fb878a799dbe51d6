package app

import (
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// anonymous is what every registered route answers a request without
// credentials. A route missing from this table fails the test, so that no
// route (like Portkey's /v1/proxy/*) can escape authentication unnoticed.
var anonymous = map[string]int{
	"POST /v1/chat/completions":      401,
	"POST /v1/embeddings":            401,
	"GET /v1/models":                 401,
	"POST /v1/responses":             401,
	"POST /v1/messages":              401,
	"POST /v1/messages/count_tokens": 401,
	"POST /v1beta/models/{rest...}":  401,
	"GET /v1/sluice/usage":           401,
	"POST /v1/sluice/feedback":       401,
	// Prompt APIs and product base URLs: the same key check as /v1/.
	"POST /prompts/{prompt}":                                          401,
	"GET /prompts/{prompt}/openapi.json":                              401,
	"POST /products/{product}/{version}/v1/chat/completions":          401,
	"POST /products/{product}/{version}/v1/embeddings":                401,
	"GET /products/{product}/{version}/v1/models":                     401,
	"POST /products/{product}/{version}/v1/responses":                 401,
	"POST /products/{product}/{version}/v1/messages":                  401,
	"POST /products/{product}/{version}/v1/messages/count_tokens":     401,
	"POST /products/{product}/{version}/v1beta/models/{rest...}":      401,
	"POST /products/{product}/{version}/prompts/{prompt}":             401,
	"GET /products/{product}/{version}/prompts/{prompt}/openapi.json": 401,
	"GET /products/{product}/{version}/openapi.json":                  401,
	"/v1/":         401,
	"GET /metrics": 401,
	"GET /healthz": 200,
	"GET /livez":   200,
	"/":            404,
	// The admin API: every route needs a credential except these, whose
	// answers without one are listed; internal/admin's matrix test checks
	// every principal on every admin route.
	"POST /admin/v1/auth/login":        401, // {} is no valid login
	"GET /admin/v1/auth/oidc/login":    404, // single sign-on is not configured
	"GET /admin/v1/auth/oidc/callback": 404,
	"GET /admin/v1/openapi.json":       200,
	"GET /admin/openapi.json":          200,
	// The console and the portal redirect to their sign-in page.
	"/console/": 200,
	"/portal/":  200,
}

func TestAuthorizationTable(t *testing.T) {
	dir := t.TempDir()
	r := start(t, "--data-dir", filepath.Join(dir, "data"), "--admin-auth-failures", "100000", "--key-failures", "100000")
	routes := registeredRoutes.Load()
	if routes == nil || len(*routes) < 20 {
		t.Fatalf("registered routes: %v", routes)
	}
	for _, pattern := range *routes {
		want, ok := anonymous[pattern]
		if !ok && strings.Contains(pattern, " /admin/") {
			want, ok = 401, true
		}
		if !ok {
			t.Errorf("route %q has no row in the authorization table", pattern)
			continue
		}
		method, path, found := strings.Cut(pattern, " ")
		if !found {
			method, path = "GET", pattern
		}
		path = strings.NewReplacer("{id}", "x", "{rest...}", "demo:generateContent",
			"{prompt}", "summarize", "{product}", "support", "{version}", "v1").Replace(path)
		for _, cred := range []map[string]string{nil, {"Authorization": "Bearer wrong-token-0123456789"}, {"X-Api-Key": "nope"}} {
			req, _ := http.NewRequest(method, r.base+path, strings.NewReader(`{}`))
			for k, v := range cred {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.StatusCode; got != want {
				t.Errorf("%s %s with %v: %d, want %d", method, path, cred, got, want)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Errorf("%s %s: no x-request-id", method, path)
			}
		}
	}
}

// TestPathAndHostConfusion (S4): tricks with the Host header, the request
// target and encoded paths never reach an admin handler without the token.
func TestPathAndHostConfusion(t *testing.T) {
	r := start(t, "--data-dir", filepath.Join(t.TempDir(), "data"))
	addr := strings.TrimPrefix(r.base, "http://")
	raw := []string{
		"GET /admin/v1/keys HTTP/1.1\r\nHost: localhost/#@evil\r\n\r\n",
		"GET http://localhost/admin/v1/keys HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /admin/v1/keys HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-Host: admin\r\nX-Original-URL: /healthz\r\n\r\n",
		"GET /admin%2Fv1%2Fkeys HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"GET /healthz/../admin/v1/keys HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"GET //admin/v1/keys HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"GET /%61dmin/v1/keys HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"GET /ADMIN/v1/keys HTTP/1.1\r\nHost: localhost\r\n\r\n",
		"GET /admin/v1/keys/ HTTP/1.1\r\nHost: localhost\r\n\r\n",
	}
	for _, req := range raw {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		_, _ = c.Write([]byte(req))
		buf := make([]byte, 4096)
		n, _ := c.Read(buf)
		c.Close()
		status := string(buf[:n])
		if i := strings.Index(status, "\r\n"); i > 0 {
			status = status[:i]
		}
		if strings.Contains(status, " 200 ") || strings.Contains(status, " 5") || n == 0 {
			t.Errorf("%q answered %q", strings.SplitN(req, "\r\n", 2)[0], status)
		}
	}
}
