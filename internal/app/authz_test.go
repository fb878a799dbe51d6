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
	"POST /v1/chat/completions":       401,
	"POST /v1/embeddings":             401,
	"GET /v1/models":                  401,
	"POST /v1/responses":              401,
	"POST /v1/messages":               401,
	"POST /v1/messages/count_tokens":  401,
	"POST /v1beta/models/{rest...}":   401,
	"GET /v1/sluice/usage":            401,
	"/v1/":                            401,
	"GET /metrics":                    401,
	"GET /healthz":                    200,
	"/":                               404,
	"GET /admin/v1/requests":          401,
	"POST /admin/v1/reload":           401,
	"GET /admin/v1/config":            401,
	"GET /admin/v1/health":            401,
	"GET /admin/v1/keys":              401,
	"POST /admin/v1/keys":             401,
	"DELETE /admin/v1/keys/{id}":      401,
	"GET /admin/v1/providers":         401,
	"POST /admin/v1/providers":        401,
	"GET /admin/v1/providers/{id}":    401,
	"PATCH /admin/v1/providers/{id}":  401,
	"DELETE /admin/v1/providers/{id}": 401,
	"GET /admin/v1/audit":             401,
}

func TestAuthorizationTable(t *testing.T) {
	dir := t.TempDir()
	r := start(t, "--data-dir", filepath.Join(dir, "data"))
	routes := registeredRoutes.Load()
	if routes == nil || len(*routes) < 20 {
		t.Fatalf("registered routes: %v", routes)
	}
	for _, pattern := range *routes {
		want, ok := anonymous[pattern]
		if !ok {
			t.Errorf("route %q has no row in the authorization table", pattern)
			continue
		}
		method, path, found := strings.Cut(pattern, " ")
		if !found {
			method, path = "GET", pattern
		}
		path = strings.NewReplacer("{id}", "x", "{rest...}", "demo:generateContent").Replace(path)
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
