package admin_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/experiment"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/prompt"
	"github.com/sluicehq/sluice/internal/store"
)

// TestExperimentsAPI: create (validated against the model's targets),
// results from the ledger, promotion that moves the weight, audited.
func TestExperimentsAPI(t *testing.T) {
	e := newEnv(t)
	e.ctl.file.Models[0].Targets = []config.Target{{Provider: "file-p", Model: "x"}, {Provider: "file-p", Model: "y"}}
	if err := e.ctl.compile(context.Background()); err != nil {
		t.Fatal(err)
	}
	const body = `{"name":"x-vs-y","model":"m","metric":"success","arms":[{"name":"a","provider":"file-p","model":"x","weight":50},{"name":"b","provider":"file-p","model":%q,"weight":50}]}`
	tests := []struct {
		name string
		body string
		want int
	}{
		{"arm not a target", fmt.Sprintf(body, "z"), 400},
		{"undeclared feedback metric", `{"name":"n","model":"m","metric":"helpful","arms":[{"name":"a","provider":"file-p","model":"x","weight":1},{"name":"b","provider":"file-p","model":"y","weight":1}]}`, 400},
		{"unknown model", `{"name":"n","model":"nope","metric":"success","arms":[{"name":"a","provider":"p","model":"x","weight":1},{"name":"b","provider":"p","model":"y","weight":1}]}`, 400},
		{"created", fmt.Sprintf(body, "y"), 201},
		{"name taken", fmt.Sprintf(body, "y"), 409},
	}
	var id string
	for _, tc := range tests {
		r := e.do("POST", "/admin/v1/experiments", tc.body)
		if r.code != tc.want {
			t.Fatalf("%s: %d %s, want %d", tc.name, r.code, r.raw, tc.want)
		}
		if r.code == 201 {
			id, _ = r.body["id"].(string)
		}
	}
	if r := e.do("GET", "/admin/v1/experiments/x-vs-y", ""); r.code != 200 || r.body["id"] != id || r.body["status"] != "running" {
		t.Fatalf("get by name: %d %s", r.code, r.raw)
	}

	now := time.Now()
	var rows []ledger.Entry
	for i := range 40 {
		arm, model, st := "a", "x", ledger.StatusOK
		if i%2 == 1 {
			arm, model = "b", "y"
			if i%4 == 1 {
				st = ledger.StatusUpstreamError
			}
		}
		if i == 39 {
			model = "x" // b's target failed and a fallback served it
		}
		rows = append(rows, ledger.Entry{RequestID: fmt.Sprintf("r%d", i), Time: now, Endpoint: "chat.completions", Provider: "file-p", ServedModel: model,
			Status: st, HTTPStatus: 200, Latency: time.Duration(100+i) * time.Millisecond, Experiment: id, Arm: arm, Attempts: []ledger.Attempt{}})
	}
	if err := e.st.InsertEntries(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/admin/v1/experiments/"+id+"/results", "")
	if r.code != 200 {
		t.Fatalf("results: %d %s", r.code, r.raw)
	}
	arms := r.body["arms"].([]any)
	a, b := arms[0].(map[string]any), arms[1].(map[string]any)
	if a["n"] != 20.0 || b["n"] != 19.0 || b["excluded_fallback"] != 1.0 || a["estimate"] != 1.0 || b["error_rate"] != 10.0/19 {
		t.Fatalf("arms %v / %v", a, b)
	}
	if _, ok := r.body["srm"].(map[string]any)["mismatch"]; !ok || len(r.body["differences"].([]any)) != 1 {
		t.Fatalf("results lack srm or differences: %s", r.raw)
	}

	if r := e.do("POST", "/admin/v1/experiments/"+id+"/promote", `{"arm":"c"}`); r.code != 400 {
		t.Fatalf("promote an unknown arm: %d %s", r.code, r.raw)
	}
	r = e.do("POST", "/admin/v1/experiments/"+id+"/promote", `{"arm":"b","reason":"better"}`)
	if r.code != 200 || r.body["status"] != "promoted" || r.body["winner"] != "b" {
		t.Fatalf("promote: %d %s", r.code, r.raw)
	}
	weights := []any{}
	for _, arm := range r.body["arms"].([]any) {
		weights = append(weights, arm.(map[string]any)["weight"])
	}
	if fmt.Sprint(weights) != "[0 100]" {
		t.Fatalf("weights after promotion %v, want [0 100]", weights)
	}
	if r := e.do("POST", "/admin/v1/experiments/"+id+"/promote", `{"arm":"a"}`); r.code != 409 {
		t.Fatalf("promote twice: %d %s", r.code, r.raw)
	}
	actions := map[string]bool{}
	for _, row := range e.audit() {
		actions[fmt.Sprint(row["action"])] = true
	}
	if !actions["experiments.create"] || !actions["experiments.promote"] {
		t.Fatalf("audit actions %v lack the experiment's", actions)
	}
	if r := e.do("GET", "/admin/v1/experiments", ""); r.code != 200 || len(r.body["data"].([]any)) != 1 {
		t.Fatalf("list: %d %s", r.code, r.raw)
	}
}

// TestPromptExperimentPromotion: promoting a prompt experiment's arm moves
// the prompt's label to the winning version, split removed, audited.
func TestPromptExperimentPromotion(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := store.Prompt{ID: store.NewID(store.PrefixPrompt), Name: "summarize"}
	audit := store.AuditEntry{Actor: "test", Action: "prompt.create", ObjectType: "prompt"}
	if err := e.st.CreatePrompt(ctx, p, audit); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"one", "two"} {
		if _, err := e.st.AddPromptVersion(ctx, p.ID, prompt.Version{Model: "m", Messages: []prompt.Message{{Role: "user", Content: text}}}, audit); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.SetPromptLabel(ctx, p.ID, store.PromptLabel{Label: "production", Version: 1, SplitVersion: 2, SplitWeight: 50}, -1, "test", "split", audit); err != nil {
		t.Fatal(err)
	}
	if r := e.do("POST", "/admin/v1/experiments", `{"name":"p","prompt":"nope","metric":"success","arms":[{"name":"v1","prompt_version":1,"weight":1},{"name":"v2","prompt_version":2,"weight":1}]}`); r.code != 400 {
		t.Fatalf("unknown prompt: %d %s", r.code, r.raw)
	}
	r := e.do("POST", "/admin/v1/experiments", `{"name":"p","prompt":"summarize","metric":"success","arms":[{"name":"v1","prompt_version":1,"weight":1},{"name":"v2","prompt_version":2,"weight":1}]}`)
	if r.code != 201 || r.body["label"] != "production" {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	if r := e.do("POST", "/admin/v1/experiments/p/promote", `{"arm":"v2"}`); r.code != 200 {
		t.Fatalf("promote: %d %s", r.code, r.raw)
	}
	got, err := e.st.GetPrompt(ctx, "summarize")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range got.Labels {
		if l.Label == "production" && (l.Version != 2 || l.SplitWeight != 0) {
			t.Fatalf("production label %+v, want version 2 without a split", l)
		}
	}
}

// FileExperiments gives the admin API the test file's experiments, as the
// server does.
func (c *control) FileExperiments() []experiment.Experiment {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.file.FileExperiments()
}

// TestFileExperimentsReadOnly: an experiment declared in the file is
// listed and read with source config, and is read-only: promotion is 409
// read_only, and its name cannot be taken through the API.
func TestFileExperimentsReadOnly(t *testing.T) {
	e := newEnv(t)
	e.ctl.file.Models[0].Targets = []config.Target{{Provider: "file-p", Model: "x"}, {Provider: "file-p", Model: "y"}}
	e.ctl.file.Experiments = []config.Experiment{{Name: "file-ab", Model: "m", Metric: "success",
		Arms: []config.ExperimentArm{{Name: "a", Provider: "file-p", Model: "x", Weight: 1}, {Name: "b", Provider: "file-p", Model: "y", Weight: 1}}}}
	if err := e.ctl.compile(context.Background()); err != nil {
		t.Fatal(err)
	}
	const api = `{"name":"api-ab","model":"m","metric":"success","arms":[{"name":"a","provider":"file-p","model":"x","weight":1},{"name":"b","provider":"file-p","model":"y","weight":1}]}`
	if r := e.do("POST", "/admin/v1/experiments", api); r.code != 201 || r.body["source"] != "api" || r.body["read_only"] != false {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	r := e.do("GET", "/admin/v1/experiments", "")
	data, _ := r.body["data"].([]any)
	if r.code != 200 || len(data) != 2 {
		t.Fatalf("list: %d %s", r.code, r.raw)
	}
	for i, want := range []struct{ name, source string }{{"file-ab", "config"}, {"api-ab", "api"}} {
		x, _ := data[i].(map[string]any)
		if x["name"] != want.name || x["source"] != want.source || x["read_only"] != (want.source == "config") {
			t.Errorf("list[%d] = %v, want %s from %s", i, x, want.name, want.source)
		}
	}
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
		code                     string
	}{
		{"read by name", "GET", "/admin/v1/experiments/file-ab", "", 200, ""},
		{"read by id", "GET", "/admin/v1/experiments/" + config.ExperimentIDPrefix + "file-ab", "", 200, ""},
		{"results", "GET", "/admin/v1/experiments/file-ab/results", "", 200, ""},
		{"promote", "POST", "/admin/v1/experiments/file-ab/promote", `{"arm":"b"}`, 409, "read_only"},
		{"create with its name", "POST", "/admin/v1/experiments", strings.Replace(api, "api-ab", "file-ab", 1), 409, "name_taken"},
		{"an API experiment still promotes", "POST", "/admin/v1/experiments/api-ab/promote", `{"arm":"b"}`, 200, ""},
	} {
		r := e.do(tc.method, tc.path, tc.body)
		if r.code != tc.want || (tc.code != "" && !strings.Contains(r.raw, tc.code)) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.code, r.raw, tc.want, tc.code)
		}
		if tc.method == "GET" && tc.name != "results" && (r.body["source"] != "config" || r.body["read_only"] != true || r.body["status"] != "running") {
			t.Errorf("%s: %s", tc.name, r.raw)
		}
	}
}
