package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/prompt"
	"github.com/sluicehq/sluice/internal/store"
)

// TestPromptLifecycle: create with a first version, add versions, refuse
// versions that do not compile, diff, move and split labels, read the
// history, roll back, store and list test runs.
func TestPromptLifecycle(t *testing.T) {
	e := newEnv(t)
	org := e.do("POST", "/admin/v1/orgs", `{"name":"acme"}`).body["id"].(string)
	team := e.do("POST", "/admin/v1/teams", fmt.Sprintf(`{"name":"search","org_id":%q}`, org)).body["id"].(string)
	r := e.do("POST", "/admin/v1/prompts", fmt.Sprintf(`{"name":"summarize","team_id":%q,"protected":["production"],"version":%s}`, team, promptVersionBody))
	if r.code != 201 || r.body["latest_version"] != 1.0 || r.body["org_id"] != org {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	path := "/admin/v1/prompts/summarize" // by name
	v2 := strings.Replace(promptVersionBody, "Summarise:", "Summarise briefly:", 1)
	steps := []struct {
		method, path, body string
		code               int
		contains           string
	}{
		{"POST", "/admin/v1/prompts", fmt.Sprintf(`{"name":"summarize","team_id":%q}`, team), 409, "already exists"},
		{"POST", path + "/versions", v2, 201, `"version": 2`},
		{"POST", path + "/versions", strings.Replace(v2, `"model"`, `"version":2,"model"`, 1), 409, "exists already"},
		{"POST", path + "/versions", strings.Replace(v2, "{{text}}", "{{text", 1), 400, "messages[0].content"},
		{"POST", path + "/versions", strings.Replace(v2, `"role":"user"`, `"role":"system"`, 1), 400, "does not bound"},
		{"POST", path + "/versions", strings.Replace(v2, `"model":"m"`, `"model":"nope"`, 1), 400, `No model named`},
		{"GET", path + "/versions/2", "", 200, "Summarise briefly"},
		{"GET", path + "/versions/3", "", 404, ""},
		{"GET", path + "/diff?from=1&to=2", "", 200, `-  Summarise: {{text}}`},
		{"GET", path + "/diff?from=1&to=9", "", 404, "No version 9"},
		{"PUT", path + "/labels/production", `{"version":1,"reason":"launch"}`, 200, `"version": 1`},
		{"PUT", path + "/labels/production", `{"version":9}`, 400, "version 9"},
		{"PUT", path + "/labels/Prod", `{"version":1}`, 400, "lower-case"},
		{"PUT", path + "/labels/production", `{"version":2,"if_version":2}`, 412, "moved"},
		{"PUT", path + "/labels/production", `{"version":2,"split_weight":10}`, 400, "go together"},
		{"PUT", path + "/labels/production", `{"version":2,"if_version":1}`, 200, `"version": 2`},
		{"POST", path + "/labels/production/rollback", "", 200, `"version": 1`},
		{"PUT", path + "/labels/production", `{"version":2,"split_version":1,"split_weight":25,"sticky":"user"}`, 200, `"split_weight": 25`},
		{"POST", path + "/labels/staging/rollback", "", 409, "no earlier version"},
		{"POST", path + "/test-runs", `{"version":2,"cases":3,"passed":2,"summary":{"pass_rate":0.67}}`, 201, `"passed": 2`},
		{"POST", path + "/test-runs", `{"version":7,"cases":3,"passed":2}`, 400, "No version 7"},
		{"GET", path + "/test-runs?version=2", "", 200, `"pass_rate": 0.67`},
		{"GET", path + "/test-runs?version=1", "", 200, `"data": []`},
	}
	for i, s := range steps {
		r := e.do(s.method, s.path, s.body)
		if r.code != s.code || !strings.Contains(r.raw, s.contains) {
			t.Fatalf("step %d %s %s: %d %s, want %d containing %q", i, s.method, s.path, r.code, r.raw, s.code, s.contains)
		}
	}
	r = e.do("GET", path+"/history?label=production", "")
	var moves []string
	for _, d := range r.body["data"].([]any) {
		m := d.(map[string]any)
		moves = append(moves, fmt.Sprintf("%v>%v/%v %v", m["from_version"], m["to_version"], m["split_version"], m["reason"]))
	}
	want := []string{"1>2/1 <nil>", "2>1/<nil> rollback from version 2", "1>2/<nil> <nil>", "0>1/<nil> launch"}
	if strings.Join(moves, "|") != strings.Join(want, "|") {
		t.Fatalf("history %q, want %q", moves, want)
	}
	r = e.do("GET", path, "")
	if r.code != 200 || len(r.body["versions"].([]any)) != 2 || r.body["labels"].([]any)[0].(map[string]any)["version"] != 2.0 {
		t.Fatalf("show: %s", r.raw)
	}
	// Every move is audited.
	n := 0
	for _, a := range e.audit() {
		if a["action"] == "prompt.label" || a["action"] == "prompt.rollback" {
			n++
		}
	}
	if n != 4 {
		t.Fatalf("%d label moves audited, want 4", n)
	}
}

// A prompt the configuration file declares takes its versions from the
// file; its labels still move through the API.
func TestPromptFromFileIsVersionedThere(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	v := prompt.Version{Number: 1, Model: "m", Messages: []prompt.Message{{Role: "user", Content: "hi {{text}}"}},
		Variables: []byte(`{"type":"object","properties":{"text":{"type":"string"}}}`)}
	if _, err := e.st.SyncConfigPrompt(ctx, store.Prompt{Name: "declared"}, []prompt.Version{v}, map[string]int{"production": 1}); err != nil {
		t.Fatal(err)
	}
	if r := e.do("POST", "/admin/v1/prompts/declared/versions", promptVersionBody); r.code != 409 || !strings.Contains(r.raw, "configuration file") {
		t.Fatalf("adding a version to a declared prompt: %d %s", r.code, r.raw)
	}
	if r := e.do("PUT", "/admin/v1/prompts/declared/labels/staging", `{"version":1}`); r.code != 200 {
		t.Fatalf("moving its label: %d %s", r.code, r.raw)
	}
}

// TestPromptTestRunsThroughTheGateway: the admin API runs a test set
// through the data plane it is given, in process, with the caller's API
// key, and stores each version's run.
func TestPromptTestRunsThroughTheGateway(t *testing.T) {
	var seen []string
	gateway := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Variables map[string]string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		if in.Variables["text"] == "" {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":{"message":"Invalid prompt variables: variable /text: is required"}}`)
			return
		}
		fmt.Fprintf(w, `{"object":"chat.completion","choices":[{"message":{"content":"Echo: %s"}}],"usage":{"prompt_tokens":4,"completion_tokens":2}}`, in.Variables["text"])
	})
	e := newEnvOpts(t, func(o *admin.Options, _ string) { o.PromptGateway = gateway })
	org := e.do("POST", "/admin/v1/orgs", `{"name":"acme"}`).body["id"].(string)
	team := e.do("POST", "/admin/v1/teams", fmt.Sprintf(`{"name":"search","org_id":%q}`, org)).body["id"].(string)
	if r := e.do("POST", "/admin/v1/prompts", fmt.Sprintf(`{"name":"summarize","team_id":%q,"version":%s}`, team, promptVersionBody)); r.code != 201 {
		t.Fatal(r.raw)
	}
	e.do("POST", "/admin/v1/prompts/summarize/versions", promptVersionBody)
	cases := `[{"name":"echo","variables":{"text":"hello"},"assert":[{"type":"contains","value":"hello"}]},` +
		`{"name":"missing","variables":{},"assert":[]}]`
	tests := []struct {
		body     string
		code     int
		contains []string
	}{
		{`{"version":1,"compare":2,"api_key":"gw-key","cases":` + cases + `}`, 200,
			[]string{`"passed": false`, `"case": "missing"`, "/text: is required", `"cases": 2`}},
		{`{"version":1,"api_key":"gw-key","cases":[{"name":"echo","variables":{"text":"x"},"assert":[{"type":"equals","value":"Echo: x"}]}]}`, 200,
			[]string{`"passed": true`}},
		{`{"version":1,"cases":` + cases + `}`, 400, []string{"api_key"}},
		{`{"version":7,"api_key":"k","cases":` + cases + `}`, 400, []string{"No version 7"}},
		{`{"version":1,"api_key":"k","cases":[{"variables":{},"assert":[{"type":"nope"}]}]}`, 400, []string{"nope"}},
		{`{"version":1,"api_key":"k","cases":[]}`, 400, []string{"cases"}},
	}
	for i, tt := range tests {
		r := e.do("POST", "/admin/v1/prompts/summarize/test", tt.body)
		for _, s := range tt.contains {
			if r.code != tt.code || !strings.Contains(r.raw, s) {
				t.Fatalf("case %d: %d %s, want %d containing %q", i, r.code, r.raw, tt.code, s)
			}
		}
	}
	if len(seen) != 5 || seen[0] != "POST /prompts/summarize@1 Bearer gw-key" || seen[2] != "POST /prompts/summarize@2 Bearer gw-key" {
		t.Fatalf("gateway calls %q", seen)
	}
	r := e.do("GET", "/admin/v1/prompts/summarize/test-runs?version=1", "")
	if r.code != 200 || len(r.body["data"].([]any)) != 2 {
		t.Fatalf("stored runs: %s", r.raw)
	}
	if strings.Contains(e.logs.String(), "gw-key") {
		t.Fatal("the API key reached the log")
	}
}
