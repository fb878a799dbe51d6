package experiment

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func metricTypes(name string) (string, bool) {
	t, ok := map[string]string{"helpful": "boolean", "score": "float", "mood": "category"}[name]
	return t, ok
}

func modelExperiment() *Experiment {
	return &Experiment{ID: "exp_1", Name: "gpt-vs-claude", Model: "chat", Metric: "helpful", Arms: []Arm{
		{Name: "control", Provider: "openai", Model: "gpt", Weight: 50},
		{Name: "candidate", Provider: "anthropic", Model: "claude", Weight: 50},
	}}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(e *Experiment)
		want   string // "" for valid
	}{
		{"valid", func(*Experiment) {}, ""},
		{"prompt arms", func(e *Experiment) {
			e.Model, e.Prompt = "", "summarize"
			e.Arms = []Arm{{Name: "v1", PromptVersion: 1, Weight: 1}, {Name: "v2", PromptVersion: 2, Weight: 1}}
		}, ""},
		{"header unit", func(e *Experiment) { e.Unit = "header:X-Session" }, ""},
		{"built-in metric", func(e *Experiment) { e.Metric = MetricLatency }, ""},
		{"both model and prompt", func(e *Experiment) { e.Prompt = "p" }, "not both"},
		{"neither", func(e *Experiment) { e.Model = "" }, "not both"},
		{"one arm", func(e *Experiment) { e.Arms = e.Arms[:1] }, "arms: 2 to 16"},
		{"duplicate arm", func(e *Experiment) { e.Arms[1].Name = "control" }, "arms[1].name"},
		{"arm without target", func(e *Experiment) { e.Arms[1].Provider = "" }, "arms[1]: a model's arm"},
		{"prompt arm on a model", func(e *Experiment) { e.Arms[1].PromptVersion = 2 }, "arms[1]: a model's arm"},
		{"zero weights", func(e *Experiment) { e.Arms[0].Weight, e.Arms[1].Weight = 0, 0 }, "weight must be positive"},
		{"unknown metric", func(e *Experiment) { e.Metric = "nope" }, "no feedback metric"},
		{"category metric", func(e *Experiment) { e.Metric = "mood" }, "is a category"},
		{"bad unit", func(e *Experiment) { e.Unit = "header:" }, "unit:"},
		{"unknown control", func(e *Experiment) { e.Control = "x" }, "control:"},
		{"bad name", func(e *Experiment) { e.Name = "a b" }, "name:"},
		{"label on a model", func(e *Experiment) { e.Label = "production" }, "label:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := modelExperiment()
			tc.change(e)
			err := e.Validate(metricTypes)
			if tc.want == "" {
				if err != nil || e.Unit != "key" && tc.name != "header unit" || e.Control == "" || e.Status != StatusRunning {
					t.Fatalf("err %v, unit %q, control %q, status %q", err, e.Unit, e.Control, e.Status)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// TestAssignSticky: the same unit gets the same arm in 100% of 10,000
// trials, and 10,000 units split 50/50 within one percentage point.
func TestAssignSticky(t *testing.T) {
	e := modelExperiment()
	if err := e.Validate(metricTypes); err != nil {
		t.Fatal(err)
	}
	first := e.Assign("user-42")
	for range 10_000 {
		if got := e.Assign("user-42"); got != first {
			t.Fatalf("user-42 moved from %s to %s", first.Name, got.Name)
		}
	}
	const units = 10_000
	counts := map[string]int{}
	for i := range units {
		counts[e.Assign(fmt.Sprintf("key_%d", i)).Name]++
	}
	for arm, n := range counts {
		if share := float64(n) / units; math.Abs(share-0.5) > 0.01 {
			t.Errorf("arm %s has %.4f of the units, want 0.5 ± 0.01", arm, share)
		}
	}
	e.Status, e.Winner = StatusPromoted, "candidate"
	for i := range 100 {
		if got := e.Assign(fmt.Sprint(i)); got == nil || got.Name != "candidate" {
			t.Fatalf("a promoted experiment served %v", got)
		}
	}
	e.Status = StatusStopped
	if e.Assign("x") != nil {
		t.Fatal("a stopped experiment assigned an arm")
	}
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// TestResultsRate: Newcombe (1998), example (a): 56/70 against 48/80,
// difference 0.2000 with 95% interval (0.0524, 0.3339); rows without
// feedback and fallback rows are not compared; the sample-ratio check
// runs on the rows each arm served.
func TestResultsRate(t *testing.T) {
	e := modelExperiment()
	if err := e.Validate(metricTypes); err != nil {
		t.Fatal(err)
	}
	var rows []Row
	add := func(arm, provider, model string, n, ones int, feedback bool) {
		for i := range n {
			v := 0.0
			if i < ones {
				v = 1
			}
			rows = append(rows, Row{Arm: arm, Provider: provider, ServedModel: model, Value: v, HasValue: feedback, CostMicros: 10, LatencyMS: 100})
		}
	}
	add("candidate", "anthropic", "claude", 70, 56, true)
	add("control", "openai", "gpt", 80, 48, true)
	add("candidate", "openai", "gpt", 25, 25, true) // fallback: served by the other target
	add("control", "openai", "gpt", 15, 0, false)   // no feedback
	add("candidate", "anthropic", "claude", 25, 0, false)
	rep, err := Results(e, "boolean", rows)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 215 || rep.WithoutValue != 40 {
		t.Fatalf("rows %d, without value %d", rep.Rows, rep.WithoutValue)
	}
	c, a := rep.Arms[0], rep.Arms[1]
	if c.N != 80 || a.N != 70 || a.Excluded != 25 {
		t.Fatalf("n: control %d, candidate %d (excluded %d)", c.N, a.N, a.Excluded)
	}
	d := rep.Differences[0]
	if !near(d.Estimate, 0.2, 1e-12) || d.CI == nil || !near(d.CI.Lo, 0.0524, 1e-4) || !near(d.CI.Hi, 0.3339, 1e-4) {
		t.Fatalf("difference %+v, want 0.2 (0.0524, 0.3339)", d)
	}
	// Wilson for 56/70, worked by hand: centre (0.8 + z²/140)/(1 + z²/70)
	// = 0.78439, half-width z·sqrt(0.8·0.2/70 + z²/19600)/(1 + z²/70) =
	// 0.09256, with z = 1.95996.
	if a.CI == nil || !near(a.CI.Lo, 0.6918, 1e-4) || !near(a.CI.Hi, 0.8770, 1e-4) {
		t.Fatalf("candidate interval %+v, want (0.6918, 0.8770)", a.CI)
	}
	if rep.SRM.Mismatch {
		t.Fatalf("SRM flagged 95/95: %+v", rep.SRM)
	}
	// 5,000 against 4,000 served on a 50/50 split is a mismatch.
	rows = rows[:0]
	add("control", "openai", "gpt", 5000, 0, false)
	add("candidate", "anthropic", "claude", 4000, 0, false)
	if rep, _ = Results(e, "boolean", rows); !rep.SRM.Mismatch || rep.SRM.P >= 0.001 {
		t.Fatalf("SRM %+v, want a mismatch", rep.SRM)
	}
}

// TestResultsMean: Student's sleep data, as R's t.test(extra ~ group,
// data = sleep) reports it: difference -1.58, Welch df 17.776, p 0.07939,
// 95% interval (-3.3654832, 0.2054832).
func TestResultsMean(t *testing.T) {
	e := modelExperiment()
	e.Metric = "score"
	e.Control = "candidate"
	if err := e.Validate(metricTypes); err != nil {
		t.Fatal(err)
	}
	group1 := []float64{0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0}
	group2 := []float64{1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4}
	var rows []Row
	for _, v := range group1 {
		rows = append(rows, Row{Arm: "control", Provider: "openai", ServedModel: "gpt", Value: v, HasValue: true})
	}
	for _, v := range group2 {
		rows = append(rows, Row{Arm: "candidate", Provider: "anthropic", ServedModel: "claude", Value: v, HasValue: true})
	}
	rep, err := Results(e, "float", rows)
	if err != nil {
		t.Fatal(err)
	}
	d := rep.Differences[0]
	if d.Arm != "control" || !near(d.Estimate, -1.58, 1e-9) || d.CI == nil || !near(d.CI.Lo, -3.3654832, 1e-4) || !near(d.CI.Hi, 0.2054832, 1e-4) ||
		d.DF == nil || !near(*d.DF, 17.776, 1e-3) || d.P == nil || !near(*d.P, 0.07939, 1e-4) {
		t.Fatalf("difference %+v (df %v, p %v)", d, deref(d.DF), deref(d.P))
	}
	if !near(rep.Arms[0].Estimate, 0.75, 1e-12) || !near(rep.Arms[1].Estimate, 2.33, 1e-12) {
		t.Fatalf("means %v, %v", rep.Arms[0].Estimate, rep.Arms[1].Estimate)
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func TestSet(t *testing.T) {
	var s Set
	if s.ForModel("chat") != nil {
		t.Fatal("an empty set found an experiment")
	}
	a, b := *modelExperiment(), *modelExperiment()
	a.Status, b.ID, b.Model = StatusStopped, "exp_2", "chat"
	b.Status = StatusRunning
	s.Store([]Experiment{a, b})
	if got := s.ForModel("chat"); got == nil || got.ID != "exp_2" {
		t.Fatalf("ForModel = %+v, want the running experiment", got)
	}
	var none *Set
	if none.ForModel("chat") != nil || none.ForPrompt("p") != nil {
		t.Fatal("a nil set found an experiment")
	}
}
