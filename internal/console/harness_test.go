package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/app"
)

const adminToken = "console-test-admin-token-0123456789"

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// sluice is a running server started in process on loopback.
type sluice struct {
	t      *testing.T
	base   string
	dir    string
	config string
	logs   *syncBuffer
}

// startSluice starts `sluice serve` on 127.0.0.1 with configYAML (empty:
// the built-in demo) and the admin token above.
func startSluice(t *testing.T, configYAML string, extra ...string) *sluice {
	t.Helper()
	t.Setenv("SLUICE_ADMIN_TOKEN", adminToken)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("SLUICE_TEST_ADDR", addr) // for a configYAML that names its own address (${SLUICE_TEST_ADDR})
	args := []string{"serve", "--listen", addr, "--data-dir", filepath.Join(dir, "data"),
		"--admin-auth-failures", "100000"}
	s := &sluice{t: t, base: "http://" + addr, dir: dir, logs: &syncBuffer{}}
	if configYAML != "" {
		s.config = filepath.Join(dir, "sluice.yaml")
		if err := os.WriteFile(s.config, []byte(configYAML), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", s.config)
	}
	args = append(args, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Main(ctx, args, io.Discard, s.logs) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited: %v\n%s", err, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("not ready in time:\n%s", s.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not stop")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs.String())
		}
	})
	return s
}

// admin calls the admin API with the bootstrap token and decodes the
// answer; a status other than want fails the test.
func (s *sluice) admin(method, path string, body any, want int) map[string]any {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		s.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, raw, want)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

// status is the status of an admin API call with the bootstrap token.
func (s *sluice) status(method, path string) int {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// browser is a plain HTTP client with cookies, that does not follow
// redirects (tests look at them).
type browser struct {
	t    *testing.T
	s    *sluice
	c    *http.Client
	last string // the last page's body
}

func (s *sluice) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: s.t, s: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type answer struct {
	code int
	h    http.Header
	body string
}

func (b *browser) get(path string) answer {
	b.t.Helper()
	resp, err := b.c.Get(b.s.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	b.last = string(raw)
	return answer{resp.StatusCode, resp.Header, string(raw)}
}

func (b *browser) post(path string, form url.Values) answer {
	b.t.Helper()
	resp, err := b.c.PostForm(b.s.base+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(raw)}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of the last page.
func (b *browser) csrf() string {
	b.t.Helper()
	m := csrfRE.FindStringSubmatch(b.last)
	if m == nil {
		b.t.Fatalf("no CSRF token on the page:\n%s", b.last)
	}
	return m[1]
}

// signInToken signs in with an admin token through the login form.
func (b *browser) signInToken(token string) {
	b.t.Helper()
	b.get("/console/login")
	a := b.post("/console/login/token", url.Values{"csrf": {b.csrf()}, "token": {token}, "next": {"/console/"}})
	if a.code != http.StatusSeeOther || a.h.Get("Location") != "/console/" {
		b.t.Fatalf("token sign-in: %d %s %s", a.code, a.h.Get("Location"), a.body)
	}
}

// signIn signs in with a password through the login form.
func (b *browser) signIn(email, password string) {
	b.t.Helper()
	b.get("/console/login")
	a := b.post("/console/login", url.Values{"csrf": {b.csrf()}, "email": {email}, "password": {password}, "next": {"/console/"}})
	if a.code != http.StatusSeeOther || a.h.Get("Location") != "/console/" {
		b.t.Fatalf("password sign-in of %s: %d %s %s", email, a.code, a.h.Get("Location"), a.body)
	}
}

// tenancy is an organisation with a team, an application and users with
// each role.
type tenancy struct {
	org, team, app string
	password       string
}

func (s *sluice) tenancy() tenancy {
	s.t.Helper()
	tn := tenancy{password: "correct-horse-battery"}
	tn.org = s.admin("POST", "/admin/v1/orgs", map[string]any{"name": "acme"}, 201)["id"].(string)
	tn.team = s.admin("POST", "/admin/v1/teams", map[string]any{"name": "search", "org_id": tn.org}, 201)["id"].(string)
	tn.app = s.admin("POST", "/admin/v1/apps", map[string]any{"name": "web", "team_id": tn.team}, 201)["id"].(string)
	for _, role := range []string{"owner", "admin", "developer", "viewer", "auditor"} {
		s.admin("POST", "/admin/v1/users", map[string]any{"email": role + "@example.com", "password": tn.password,
			"bindings": []map[string]any{{"role": role, "org_id": tn.org}}}, 201)
	}
	return tn
}

func fatalIf(t *testing.T, cond bool, format string, args ...any) {
	t.Helper()
	if cond {
		t.Fatalf(format, args...)
	}
}

var _ = fmt.Sprint
var _ = strings.Contains
