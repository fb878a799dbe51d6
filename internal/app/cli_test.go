package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
	// Each list sends only the filters its route accepts.
	if orgs := run("orgs", "list")["list"].([]any); len(orgs) < 1 {
		t.Fatalf("orgs list: %v", orgs)
	}
	if apps := run("apps", "list", "--org", org, "--team", team)["list"].([]any); len(apps) != 1 {
		t.Fatalf("apps list: %v", apps)
	}
	var errb bytes.Buffer
	if err := Main(context.Background(), []string{"orgs", "list", "--team", team}, io.Discard, &errb); err == nil || !strings.Contains(err.Error(), "usage: sluice orgs list") {
		t.Fatalf("orgs list --team: %v", err)
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

// TestLoweredBudgetTakesEffect (K4, budgets): lowering a key's budget
// through the admin API refuses the next request at once.
func TestLoweredBudgetTakesEffect(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfg, []byte(demoConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "--config", cfg, "--data-dir", filepath.Join(dir, "data"))
	code, org := call(t, "POST", r.base+"/admin/v1/orgs", adminToken, `{"name":"acme"}`)
	if code != 201 {
		t.Fatalf("org: %d %v", code, org)
	}
	_, team := call(t, "POST", r.base+"/admin/v1/teams", adminToken, `{"name":"t","org_id":"`+org["id"].(string)+`"}`)
	_, app := call(t, "POST", r.base+"/admin/v1/apps", adminToken, `{"name":"a","team_id":"`+team["id"].(string)+`"}`)
	code, key := call(t, "POST", r.base+"/admin/v1/keys", adminToken, `{"name":"k","app_id":"`+app["id"].(string)+`","budget":{"amount_usd":10}}`)
	if code != 201 {
		t.Fatalf("key: %d %v", code, key)
	}
	chat := func() (int, map[string]any) {
		return call(t, "POST", r.base+"/v1/chat/completions", key["key"].(string), `{"model":"alpha","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
	}
	if code, body := chat(); code != 200 {
		t.Fatalf("before: %d %v", code, body)
	}
	if code, body := call(t, "PATCH", r.base+"/admin/v1/keys/"+key["id"].(string), adminToken, `{"budget":{"amount_usd":0.000001}}`); code != 200 {
		t.Fatalf("lower the budget: %d %v", code, body)
	}
	code, body := chat()
	if errObj, _ := body["error"].(map[string]any); code != 429 || errObj["code"] != "budget_exceeded" {
		t.Fatalf("after lowering the budget: %d %v", code, body)
	}
	// The team's budget applies to the key too, and so does removing it.
	if code, body := call(t, "PATCH", r.base+"/admin/v1/keys/"+key["id"].(string), adminToken, `{"budget":null}`); code != 200 {
		t.Fatalf("remove the key's budget: %d %v", code, body)
	}
	if code, body := chat(); code != 200 {
		t.Fatalf("after removing the budget: %d %v", code, body)
	}
	if code, body := call(t, "PATCH", r.base+"/admin/v1/teams/"+team["id"].(string), adminToken, `{"budget":{"amount_usd":0.000001}}`); code != 200 {
		t.Fatalf("lower the team's budget: %d %v", code, body)
	}
	if code, body := chat(); code != 429 || !strings.Contains(fmt.Sprint(body), "team") {
		t.Fatalf("after lowering the team's budget: %d %v", code, body)
	}
}

// TestConfigUnitsFollowTheFile: organisations, teams and applications in
// the file are in the admin API, read-only, with ids that survive a
// reload; one dropped from the file is released to the API.
func TestConfigUnitsFollowTheFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	withOrgs := demoConfig + `orgs:
  - name: acme
    teams:
      - name: search
        applications: [{name: web, rpm: 60}]
      - name: legacy
`
	if err := os.WriteFile(cfg, []byte(withOrgs), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "--config", cfg, "--data-dir", filepath.Join(dir, "data"))
	teams := func() map[string]map[string]any {
		_, out := call(t, "GET", r.base+"/admin/v1/teams", adminToken, "")
		m := map[string]map[string]any{}
		for _, d := range out["data"].([]any) {
			u := d.(map[string]any)
			m[u["name"].(string)] = u
		}
		return m
	}
	before := teams()
	if before["search"]["source"] != "config" || before["search"]["read_only"] != true || before["legacy"] == nil {
		t.Fatalf("teams from the file: %v", before)
	}
	if code, _ := call(t, "PATCH", r.base+"/admin/v1/teams/"+before["legacy"]["id"].(string), adminToken, `{"description":"x"}`); code != 409 {
		t.Fatalf("changing a team of the file through the API: %d, want 409", code)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(withOrgs, "      - name: legacy\n", "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := call(t, "POST", r.base+"/admin/v1/reload", adminToken, ""); code != 200 {
		t.Fatalf("reload: %d %v", code, out)
	}
	after := teams()
	if after["search"]["id"] != before["search"]["id"] || after["search"]["source"] != "config" {
		t.Fatalf("search after the reload: %v (before %v)", after["search"], before["search"])
	}
	if after["legacy"]["source"] != "api" {
		t.Fatalf("a team dropped from the file: %v", after["legacy"])
	}
	if code, out := call(t, "DELETE", r.base+"/admin/v1/teams/"+after["legacy"]["id"].(string), adminToken, ""); code != 200 {
		t.Fatalf("deleting the released team: %d %v", code, out)
	}
}

// TestBudgetAlertWebhook: crossing a budget threshold posts one JSON event
// to the configured webhook, with its headers, and no more for the same
// threshold in the period.
func TestBudgetAlertWebhook(t *testing.T) {
	got := make(chan *http.Request, 10)
	bodies := make(chan map[string]any, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		got <- r
		bodies <- m
	}))
	defer hook.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	conf := demoConfig + `orgs:
  - name: acme
    budget: {amount_usd: 0.0001, alert_percents: [50]}
    teams: [{name: t, applications: [{name: a}]}]
alerts:
  webhook_url: ` + hook.URL + `/hooks/budget
  webhook_headers: {Authorization: Bearer hook-secret}
`
	conf = strings.Replace(conf, "{name: dev, key: gw-test-app-key-000001}", "{name: dev, key: gw-test-app-key-000001, application: acme/t/a}", 1)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "--config", cfg, "--data-dir", filepath.Join(dir, "data"), "--allow-private-upstreams")
	for range 3 { // the first crosses 50 %, the later ones are refused or stay above it
		call(t, "POST", r.base+"/v1/chat/completions", "gw-test-app-key-000001", `{"model":"alpha","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`)
	}
	select {
	case req := <-got:
		m := <-bodies
		if req.URL.Path != "/hooks/budget" || req.Header.Get("Authorization") != "Bearer hook-secret" ||
			m["type"] != "budget.threshold_crossed" || m["percent"] != float64(50) || !strings.HasPrefix(fmt.Sprint(m["subject"]), "org_") {
			t.Fatalf("webhook got %s %v %v", req.URL.Path, req.Header, m)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no webhook call; logs:\n%s", r.logs.String())
	}
	select {
	case <-got:
		t.Fatal("a second webhook call for the same threshold")
	case <-time.After(300 * time.Millisecond):
	}
}
