package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGovernanceCommands drives the CLI against a running server: an
// organisation, a team, an application, a key in it, a request with the
// key, and the usage by team.
func TestGovernanceCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfg, []byte(demoConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "--config", cfg, "--data-dir", filepath.Join(dir, "data"))
	t.Setenv("SLUICE_SERVER", r.base)
	run := func(args ...string) map[string]any {
		t.Helper()
		var out, errb bytes.Buffer
		at := 2 // flags before positional arguments: after "keys rotate", "usage"
		if args[0] == "usage" {
			at = 1
		}
		full := append(append(append([]string{}, args[:at]...), "--json"), args[at:]...)
		if err := Main(context.Background(), full, &out, &errb); err != nil {
			t.Fatalf("sluice %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		var m map[string]any
		if err := json.Unmarshal(out.Bytes(), &m); err != nil {
			var list []any
			if json.Unmarshal(out.Bytes(), &list) == nil {
				return map[string]any{"list": list}
			}
			t.Fatalf("sluice %s printed %q", strings.Join(args, " "), out.String())
		}
		return m
	}
	org := run("orgs", "create", "--name", "acme", "--budget-usd", "100")["id"].(string)
	team := run("teams", "create", "--name", "search", "--org", org, "--rpm", "1000")["id"].(string)
	app := run("apps", "create", "--name", "web", "--team", team)["id"].(string)
	key := run("keys", "create", "--name", "web-prod", "--app", app)
	if key["app_id"] != app || key["team_id"] != team || key["org_id"] != org || !strings.HasPrefix(key["key"].(string), "gw-live-") {
		t.Fatalf("keys create: %v", key)
	}
	if teams := run("teams", "list", "--org", org)["list"].([]any); len(teams) != 1 {
		t.Fatalf("teams list: %v", teams)
	}
	for range 2 {
		req, _ := http.NewRequest("POST", r.base+"/v1/chat/completions", strings.NewReader(`{"model":"alpha","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+key["key"].(string))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request with the new key: %d", resp.StatusCode)
		}
	}
	var usage map[string]any
	for range 50 { // the ledger writes in the background
		usage = run("usage", "--org", org, "--group-by", "team")
		if tot := usage["total"].(map[string]any); tot["requests"] == float64(2) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	rows := usage["data"].([]any)
	if len(rows) != 1 || rows[0].(map[string]any)["group"] != team || rows[0].(map[string]any)["requests"] != float64(2) {
		t.Fatalf("usage by team: %v", usage)
	}
	rot := run("keys", "rotate", "--overlap", "0", key["id"].(string))
	if rot["id"] != key["id"] || rot["key"] == key["key"] {
		t.Fatalf("keys rotate: %v", rot)
	}
}
