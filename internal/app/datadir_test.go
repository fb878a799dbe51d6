package app

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// TestSecondServerOnDataDirFails: a second server on the data directory of
// a running one refuses to start, naming the first one's pid, instead of
// enforcing every limit a second time beside it.
func TestSecondServerOnDataDirFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	r := start(t, "--data-dir", dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a second server that starts stops here
	defer cancel()
	err := Main(ctx, []string{"serve", "--listen", freeAddr(t), "--data-dir", dir}, io.Discard, io.Discard)
	want := "held by another Sluice process (pid " + strconv.Itoa(os.Getpid()) + ")"
	if !errors.Is(err, errDataDirInUse) || !strings.Contains(err.Error(), want) {
		t.Fatalf("second serve on %s: %v; want an error with %q", dir, err, want)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	// Stopped, the first one leaves the directory free.
	start(t, "--data-dir", dir)
}

func TestLockDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	first, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, lockFileName)); strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("lock file holds %q, want this pid", b)
	}
	for i := range 2 {
		if _, err := lockDataDir(dir); !errors.Is(err, errDataDirInUse) {
			t.Fatalf("lock %d while held: %v", i, err)
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again.Close()
}

// TestFailedStartCreatesNothing: every start that fails on its flags, its
// environment, its config or its address leaves no data directory (and so
// no key-encryption key) behind.
func TestFailedStartCreatesNothing(t *testing.T) {
	tmp := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name  string
		token string
		args  []string
		want  string
		env   map[string]string
	}{
		{"port in use", adminToken, []string{"--listen", busy.Addr().String()}, "address already in use", nil},
		{"bad listen address", adminToken, []string{"--listen", "127.0.0.1:99999"}, "listen", nil},
		{"short admin token", "short", nil, "SLUICE_ADMIN_TOKEN must be at least 16 characters", nil},
		{"invalid YAML", adminToken, []string{"--config", write("bad.yaml", "version: 1\nmodels: [\n")}, "not valid YAML", nil},
		{"unknown field", adminToken, []string{"--config", write("unknown.yaml", "version: 1\nprovidrs: []\n")}, "providrs (line 2): unknown field", nil},
		{"missing config", adminToken, []string{"--config", filepath.Join(tmp, "nope.yaml")}, "no such file", nil},
		{"bad log format", adminToken, []string{"--log-format", "xml"}, "--log-format", nil},
		{"bad redis URL", adminToken, []string{"--redis", "redis://[::1"}, "redis", nil},
		{"stray argument", adminToken, []string{"extra"}, "no arguments", nil},
		{"unreachable OIDC issuer", adminToken, []string{"--config", write("oidc.yaml", demoConfig+
			"access:\n  oidc: {issuer: 'http://127.0.0.1:1', client_id: c, client_secret: s, redirect_url: 'http://127.0.0.1:1/cb'}\n")},
			"single sign-on", nil},
		{"bad SLUICE_KEK", adminToken, nil, "SLUICE_KEK", map[string]string{"SLUICE_KEK": "not base64 of 32 bytes"}},
		{"missing SLUICE_KEK_FILE", adminToken, nil, "no such file", map[string]string{"SLUICE_KEK_FILE": filepath.Join(tmp, "kek")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SLUICE_ADMIN_TOKEN", tc.token)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			dataDir := filepath.Join(tmp, "data-"+strings.ReplaceAll(tc.name, " ", "-"))
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir}, tc.args...)
			err := Main(context.Background(), args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("serve %v: %v; want an error with %q", tc.args, err, tc.want)
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the failed start left %s behind (stat: %v)", dataDir, err)
			}
		})
	}
}

// TestAdminTokenReset: a lost admin token is replaced from the data
// directory while the server is stopped; while it runs, the command refuses
// and names it. The new token works after a restart; the old one does not.
func TestAdminTokenReset(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	r := start(t, "--data-dir", dir)
	reset := func() (string, error) {
		var out bytes.Buffer
		err := Main(context.Background(), []string{"admin-token", "reset", "--data-dir", dir}, &out, io.Discard)
		return out.String(), err
	}
	if out, err := reset(); err == nil || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) ||
		!strings.Contains(err.Error(), "Stop the server") || out != "" {
		t.Fatalf("reset while the server runs: %v, printed %q", err, out)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLUICE_ADMIN_TOKEN", "")
	out, err := reset()
	if err != nil {
		t.Fatal(err)
	}
	tok := regexp.MustCompile(`\n    (\S+)\n`).FindStringSubmatch(out)
	if tok == nil || tok[1] == adminToken {
		t.Fatalf("reset printed %q", out)
	}
	r = startServer(t, "--data-dir", dir)
	if code, body := call(t, "GET", r.base+"/admin/v1/keys", tok[1], ""); code != 200 {
		t.Fatalf("the new token: %d %v", code, body)
	}
	if code, _ := call(t, "GET", r.base+"/admin/v1/keys", adminToken, ""); code != 401 {
		t.Fatalf("the old token: %d, want 401", code)
	}
	if strings.Contains(r.logs.String(), "admin token (shown once") {
		t.Fatal("the restarted server made yet another admin token")
	}
}

func TestAdminTokenResetErrors(t *testing.T) {
	tmp := t.TempDir()
	st, err := store.Open(context.Background(), "", filepath.Join(tmp, "data"))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no subcommand", []string{"admin-token"}, 2, "usage: sluice admin-token reset"},
		{"unknown subcommand", []string{"admin-token", "show"}, 2, "usage: sluice admin-token reset"},
		{"unknown flag", []string{"admin-token", "reset", "--dir", tmp}, 2, "flag provided but not defined: -dir"},
		{"stray argument", []string{"admin-token", "reset", "--data-dir", filepath.Join(tmp, "data"), "x"}, 2, "usage"},
		{"no data dir", []string{"admin-token", "reset", "--data-dir", filepath.Join(tmp, "missing")}, 1, "no Sluice data directory at"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Main(context.Background(), tc.args, io.Discard, io.Discard)
			if err == nil || ExitCode(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v: %v (exit %d); want exit %d and %q", tc.args, err, ExitCode(err), tc.code, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(tmp, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("reset created a data directory")
	}
}
