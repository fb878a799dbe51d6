package proxy

import (
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/experiment"
)

// TestExperimentArms: requests of a model under an experiment are served
// by their sticky arm's target, and the ledger names the experiment and
// arm; when the arm's target fails, another target serves it (a fallback
// row, left out of the results).
func TestExperimentArms(t *testing.T) {
	set := &experiment.Set{}
	e := newEnvWith(t, func(o *Options) { o.Experiments = set }, func(f *config.File) {
		f.Models = append(f.Models,
			config.Model{Name: "split", Targets: []config.Target{{Provider: "up", Model: "fake-model-1"}, {Provider: "up", Model: "fake-model-2"}}},
			config.Model{Name: "flaky", Routing: config.Routing{Policy: "priority"},
				Targets: []config.Target{{Provider: "up", Model: "fake-model-1"}, {Provider: "nowhere", Model: "m"}}})
	})
	split := experiment.Experiment{ID: "exp_split", Name: "split", Model: "split", Unit: "header:X-Session", Metric: experiment.MetricSuccess,
		Arms: []experiment.Arm{{Name: "one", Provider: "up", Model: "fake-model-1", Weight: 1}, {Name: "two", Provider: "up", Model: "fake-model-2", Weight: 1}}}
	flaky := experiment.Experiment{ID: "exp_flaky", Name: "flaky", Model: "flaky", Metric: experiment.MetricSuccess,
		Arms: []experiment.Arm{{Name: "good", Provider: "up", Model: "fake-model-1", Weight: 0}, {Name: "down", Provider: "nowhere", Model: "m", Weight: 1}}}
	for _, x := range []*experiment.Experiment{&split, &flaky} {
		if err := x.Validate(func(string) (string, bool) { return "", false }); err != nil {
			t.Fatal(err)
		}
	}
	set.Store([]experiment.Experiment{split, flaky})

	const sessions = 20
	n := 0
	for round := range 2 {
		for s := range sessions {
			resp := e.post(t, "/v1/chat/completions", `{"model":"split","messages":[{"role":"user","content":"hi"}]}`,
				map[string]string{"Authorization": "Bearer " + clientKey, "X-Session": fmt.Sprint("s", s)})
			if body := readAll(t, resp); resp.StatusCode != 200 {
				t.Fatalf("round %d session %d: %d %s", round, s, resp.StatusCode, body)
			}
			n++
		}
	}
	entries := e.waitEntries(t, n)
	armOf := map[string]string{}
	arms := map[string]int{}
	for i, en := range entries {
		want := map[string]string{"one": "fake-model-1", "two": "fake-model-2"}[en.Arm]
		if en.Experiment != "exp_split" || want == "" || en.ServedModel != want {
			t.Fatalf("entry %d: experiment %q arm %q served by %q", i, en.Experiment, en.Arm, en.ServedModel)
		}
		session := fmt.Sprint("s", i%sessions)
		if prev, ok := armOf[session]; ok && prev != en.Arm {
			t.Fatalf("session %s moved from arm %s to %s", session, prev, en.Arm)
		}
		armOf[session] = en.Arm
		arms[en.Arm]++
	}
	if arms["one"] == 0 || arms["two"] == 0 {
		t.Fatalf("arms %v: one arm got no session of %d", arms, sessions)
	}

	resp := e.post(t, "/v1/chat/completions", `{"model":"flaky","messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"Authorization": "Bearer " + clientKey})
	if body := readAll(t, resp); resp.StatusCode != 200 {
		t.Fatalf("flaky: %d %s", resp.StatusCode, body)
	}
	en := e.waitEntries(t, n+1)[n]
	if en.Experiment != "exp_flaky" || en.Arm != "down" || en.ServedModel != "fake-model-1" || len(en.Attempts) != 2 || en.Attempts[0].Provider != "nowhere" {
		t.Fatalf("flaky entry: arm %q served by %q after %d attempts", en.Arm, en.ServedModel, len(en.Attempts))
	}
	rep, err := experiment.Results(&flaky, "", []experiment.Row{{Arm: en.Arm, Provider: en.Provider, ServedModel: en.ServedModel}})
	if err != nil || rep.Arms[1].Excluded != 1 || rep.Arms[1].N != 0 {
		t.Fatalf("the fallback row was compared: %+v, %v", rep.Arms, err)
	}
}
