package app

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeCommands runs the shell blocks of README.md in order against
// a demo server started as the README starts it: the admin token and the
// demo key it prints are the ones exported, every `sluice` command must
// succeed, and so must the curl request.
func TestReadmeCommands(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLUICE_ADMIN_TOKEN", "") // the first start prints one, as for a reader
	r := startServer(t, "--data-dir", t.TempDir()+"/sluice-data")
	t.Setenv("SLUICE_SERVER", r.base)
	printed := func(label string) string {
		m := regexp.MustCompile(label + `[^\n]*\n\n    (\S+)`).FindStringSubmatch(r.logs.String())
		if m == nil {
			t.Fatalf("the first start printed no %s:\n%s", label, r.logs.String())
		}
		return m[1]
	}
	token, demoKey := printed("Sluice admin token"), printed("Demo API key")

	var lines []string
	for _, m := range regexp.MustCompile("(?ms)^```sh\n(.*?)^```").FindAllSubmatch(readme, -1) {
		joined := strings.ReplaceAll(string(m[1]), "\\\n", " ")
		for _, l := range strings.Split(joined, "\n") {
			if i := strings.Index(l, " #"); i >= 0 {
				l = l[:i]
			}
			if l = strings.TrimSpace(l); l != "" {
				lines = append(lines, l)
			}
		}
	}
	var ran, served, exported []string
	env := append(os.Environ(), "SLUICE_KEY="+demoKey)
	for _, l := range lines {
		fields := strings.Fields(l)
		switch {
		case fields[0] == ".ci/run" || fields[0] == "make":
			// the test suite itself
		case fields[0] == "go" && fields[1] == "run":
			if strings.Join(fields[2:], " ") != "./cmd/sluice serve" {
				t.Errorf("README runs something other than the server: %s", l)
			}
			served = append(served, l) // the server started above stands in
		case fields[0] == "go" && (fields[1] == "build" || fields[1] == "install"):
			if !strings.Contains(l, "./cmd/sluice") {
				t.Errorf("README builds something other than ./cmd/sluice: %s", l)
			}
		case strings.HasPrefix(l, "export SLUICE_ADMIN_TOKEN=sla-"):
			t.Setenv("SLUICE_ADMIN_TOKEN", token)
			exported = append(exported, "SLUICE_ADMIN_TOKEN")
		case strings.HasPrefix(l, "export SLUICE_KEY=gw-demo-"):
			exported = append(exported, "SLUICE_KEY")
		case fields[0] == "./sluice" || fields[0] == "sluice":
			if fields[1] == "serve" {
				served = append(served, l) // the server started above stands in
				continue
			}
			var out, errb bytes.Buffer
			if err := Main(context.Background(), fields[1:], &out, &errb); err != nil {
				t.Errorf("README: %s\n  failed: %v\n%s", l, err, errb.String())
			}
			ran = append(ran, l)
		case fields[0] == "curl":
			if _, err := exec.LookPath("curl"); err != nil {
				t.Logf("no curl; not running: %s", l)
				continue
			}
			cmd := exec.Command("bash", "-c", strings.ReplaceAll(l, "http://127.0.0.1:8080", r.base))
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil || !bytes.Contains(out, []byte(`"choices"`)) {
				t.Errorf("README: %s\n  failed: %v\n%s", l, err, out)
			}
		default:
			t.Errorf("README command this test does not know how to check: %s", l)
		}
	}
	if len(served) == 0 || len(ran) < 3 || len(exported) != 2 {
		t.Fatalf("README: served %q, ran %q, exported %q; want a serve command, client commands, and both exports", served, ran, exported)
	}
}
