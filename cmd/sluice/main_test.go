package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for the sluice command: the
// tests run it again with SLUICE_TEST_AS_MAIN=1, so that they see the
// real exit status and output of main.
func TestMain(m *testing.M) {
	if os.Getenv("SLUICE_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestExitCodes: a usage mistake exits 2 and a failure 1, each with a
// message on stderr that says what to do; success exits 0.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "version: 1\nproviders: [{name: d, type: demo}]\nmodels: [{name: m, targets: [{provider: d, model: x}]}]\n")
	badSyntax := write("syntax.yaml", "version: 1\nproviders:\n  - {name: a, type: openai, api_key: ${KEY}}\n")
	badValues := write("values.yaml", "version: 1\nmodels: [{name: m, targets: [{provider: nope, model: x}]}]\nextra: 1\n")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"message":"Missing or invalid admin token."}}`))
	}))
	defer refusing.Close()

	const token = "SLUICE_ADMIN_TOKEN=cli-test-token-0123456789"
	tests := []struct {
		name   string
		args   []string
		env    []string
		code   int
		stderr string // must appear in stderr
		stdout string // must appear in stdout
	}{
		{"no command", nil, nil, 2, "sluice: no command given", ""},
		{"unknown command", []string{"frobnicate"}, nil, 2, `sluice: unknown command "frobnicate"`, ""},
		{"help", []string{"help"}, nil, 0, "", "Usage:"},
		{"version", []string{"version"}, nil, 0, "", "sluice "},
		{"config without validate", []string{"config", good}, nil, 2, "usage: sluice config validate FILE", ""},
		{"config validate without a file", []string{"config", "validate"}, nil, 2, "usage: sluice config validate FILE", ""},
		{"config validate good", []string{"config", "validate", good}, nil, 0, "", good + ": valid"},
		{"config validate missing", []string{"config", "validate", filepath.Join(dir, "nope.yaml")}, nil, 1, "no such file", ""},
		{"config validate syntax", []string{"config", "validate", badSyntax}, nil, 1, "(line 3): not valid YAML", ""},
		{"config validate values", []string{"config", "validate", badValues}, nil, 1,
			`models[0].targets[0].provider: no provider named "nope"`, ""},
		{"config validate every problem", []string{"config", "validate", badValues}, nil, 1, "extra (line 3): unknown field", ""},
		{"keys without subcommand", []string{"keys"}, []string{token}, 2, "usage: sluice keys create|list|revoke|rotate", ""},
		{"keys unknown subcommand", []string{"keys", "frobnicate"}, nil, 2, `unknown command "keys frobnicate"`, ""},
		{"keys create without name", []string{"keys", "create", "--server", closed}, []string{token}, 2, "usage: sluice keys create --name NAME", ""},
		{"keys revoke without id", []string{"keys", "revoke", "--server", closed}, []string{token}, 2, "usage: sluice keys revoke ID|NAME", ""},
		{"keys list bad flag", []string{"keys", "list", "--bogus"}, []string{token}, 2, "flag provided but not defined: -bogus", ""},
		{"keys list without token", []string{"keys", "list", "--server", closed}, nil, 2, "set SLUICE_ADMIN_TOKEN", ""},
		{"keys list server unreachable", []string{"keys", "list", "--server", closed}, []string{token}, 1,
			"cannot reach the Sluice server at " + closed, ""},
		{"reload server from env unreachable", []string{"reload"}, []string{token, "SLUICE_SERVER=" + closed}, 1,
			"cannot reach the Sluice server at " + closed, ""},
		{"server refuses the token", []string{"keys", "list", "--server", refusing.URL}, []string{token}, 1,
			"GET /admin/v1/keys: Missing or invalid admin token.", ""},
		{"orgs without subcommand", []string{"orgs"}, []string{token}, 2, "usage: sluice orgs create|list", ""},
		{"serve bad flag", []string{"serve", "--bogus"}, nil, 2, "flag provided but not defined: -bogus", ""},
		{"serve short admin token", []string{"serve", "--listen", "127.0.0.1:0"}, []string{"SLUICE_ADMIN_TOKEN=short"}, 1,
			"SLUICE_ADMIN_TOKEN must be at least 16 characters", ""},
		{"serve bad config", []string{"serve", "--config", badSyntax}, nil, 1, "not valid YAML", ""},
		{"secrets without subcommand", []string{"secrets"}, nil, 2, "usage: sluice secrets rotate-kek", ""},
		{"admin-token without subcommand", []string{"admin-token"}, nil, 2, "usage: sluice admin-token reset", ""},
		{"admin-token reset without data dir", []string{"admin-token", "reset", "--data-dir", filepath.Join(dir, "none")}, nil, 1,
			"no Sluice data directory at", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], tc.args...)
			cmd.Dir = t.TempDir() // a command that wrongly creates sluice-data does it here
			cmd.Env = append(cleanEnv(), "SLUICE_TEST_AS_MAIN=1")
			cmd.Env = append(cmd.Env, tc.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) || !strings.Contains(stdout.String(), tc.stdout) {
				t.Fatalf("sluice %s: exit %d, want %d\nstdout: %s\nstderr: %s\nwant stderr with %q, stdout with %q",
					strings.Join(tc.args, " "), code, tc.code, stdout.String(), stderr.String(), tc.stderr, tc.stdout)
			}
			if code != 0 && !strings.Contains(stderr.String(), "sluice: ") {
				t.Fatalf("a failure without the sluice: prefix on stderr: %q", stderr.String())
			}
			if entries, _ := os.ReadDir(cmd.Dir); len(entries) > 0 {
				t.Fatalf("sluice %s left %s in the working directory", strings.Join(tc.args, " "), entries[0].Name())
			}
		})
	}
}

// cleanEnv is the environment without SLUICE_ variables.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			out = append(out, kv)
		}
	}
	return out
}

// TestSecondServeNamesTheFirstPid: two sluice processes on one data
// directory; the second exits 1 naming the first one's pid.
func TestSecondServeNamesTheFirstPid(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := append(cleanEnv(), "SLUICE_TEST_AS_MAIN=1", "SLUICE_ADMIN_TOKEN=cli-test-token-0123456789")
	first := exec.Command(os.Args[0], "serve", "--listen", "127.0.0.1:0", "--data-dir", dir)
	first.Env = env
	logs, err := first.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = first.Process.Signal(os.Interrupt)
		_ = first.Wait()
	}()
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "sluice is serving") {
				ready <- nil
				_, _ = io.Copy(io.Discard, logs)
				return
			}
		}
		ready <- fmt.Errorf("the first server exited before serving: %v", sc.Err())
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the first server did not start")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a second server that starts is killed here
	defer cancel()
	second := exec.CommandContext(ctx, os.Args[0], "serve", "--listen", "127.0.0.1:0", "--data-dir", dir)
	second.Env = env
	out, err := second.CombinedOutput()
	var ee *exec.ExitError
	want := fmt.Sprintf("held by another Sluice process (pid %d)", first.Process.Pid)
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), want) {
		t.Fatalf("second serve: %v\n%s\nwant exit 1 and %q", err, out, want)
	}
}
