package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/prompt"
)

func promptVersion(text string) prompt.Version {
	return prompt.Version{Model: "m", Messages: []prompt.Message{{Role: "user", Content: text}},
		Variables: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}}}`), Message: "why", Author: "ann"}
}

func promptAudit(action string) AuditEntry {
	return AuditEntry{Actor: "test", Action: action, ObjectType: "prompt"}
}

func TestPromptRegistry(t *testing.T) { forEach(t, testPromptRegistry) }

func testPromptRegistry(t *testing.T, s *Store) {
	ctx := context.Background()
	tree(t, s)
	p := Prompt{ID: NewID(PrefixPrompt), Name: "summarize", OrgID: "o1", TeamID: "t1", Protected: []string{"production"}}
	if err := s.CreatePrompt(ctx, p, promptAudit("prompt.create")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreatePrompt(ctx, Prompt{ID: NewID(PrefixPrompt), Name: "summarize"}, promptAudit("prompt.create")); !errors.Is(err, ErrConflict) {
		t.Fatalf("a second prompt with the same name: %v, want ErrConflict", err)
	}
	gen := mustGen(t, s)
	for i, text := range []string{"one {{text}}", "two {{text}}"} {
		n, err := s.AddPromptVersion(ctx, p.ID, promptVersion(text), promptAudit("prompt.version"))
		if err != nil || n != i+1 {
			t.Fatalf("version %d: %d, %v", i+1, n, err)
		}
	}
	if g := mustGen(t, s); g != gen+2 {
		t.Errorf("two versions moved the generation %d -> %d, want +2", gen, g)
	}
	// A stale writer naming a number that is taken conflicts.
	v := promptVersion("late")
	v.Number = 2
	if _, err := s.AddPromptVersion(ctx, p.ID, v, promptAudit("prompt.version")); !errors.Is(err, ErrConflict) {
		t.Fatalf("adding version 2 again: %v, want ErrConflict", err)
	}
	if _, err := s.AddPromptVersion(ctx, "pmt_none", promptVersion("x"), promptAudit("prompt.version")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a version of no prompt: %v, want ErrNotFound", err)
	}
	got, err := s.PromptVersion(ctx, p.ID, 2)
	if err != nil || got.Messages[0].Content != "two {{text}}" || got.Author != "ann" || got.Message != "why" || got.Number != 2 ||
		!strings.Contains(string(got.Variables), `"text"`) {
		t.Fatalf("version 2: %+v, %v", got, err)
	}
	if _, err := s.PromptVersion(ctx, p.ID, 3); !errors.Is(err, ErrNotFound) {
		t.Fatalf("version 3: %v", err)
	}

	// Labels: set, moved, split, guarded by the expected version, history.
	moves := []struct {
		l         PromptLabel
		ifVersion int
		want      error
	}{
		{PromptLabel{Label: "production", Version: 1}, 0, nil},
		{PromptLabel{Label: "production", Version: 2}, 0, ErrVersionMismatch}, // it exists now
		{PromptLabel{Label: "production", Version: 2}, 1, nil},
		{PromptLabel{Label: "production", Version: 9}, -1, ErrNotFound},
		{PromptLabel{Label: "production", Version: 1, SplitVersion: 9, SplitWeight: 10}, -1, ErrNotFound},
		{PromptLabel{Label: "production", Version: 1, SplitVersion: 2, SplitWeight: 10, Sticky: "user"}, 2, nil},
	}
	for i, m := range moves {
		err := s.SetPromptLabel(ctx, p.ID, m.l, m.ifVersion, "alice", "step", promptAudit("prompt.label"))
		if !errors.Is(err, m.want) {
			t.Fatalf("move %d: %v, want %v", i, err, m.want)
		}
	}
	got2, err := s.GetPrompt(ctx, "summarize")
	if err != nil {
		t.Fatal(err)
	}
	if got2.ID != p.ID || got2.Latest != 2 || len(got2.Labels) != 1 || !reflect.DeepEqual(got2.Protected, []string{"production"}) {
		t.Fatalf("prompt %+v", got2)
	}
	if l := got2.Labels[0]; l.Version != 1 || l.SplitVersion != 2 || l.SplitWeight != 10 || l.Sticky != "user" || l.UpdatedBy != "alice" {
		t.Fatalf("label %+v", l)
	}
	hist, err := s.PromptLabelHistory(ctx, p.ID, "production", 10)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, h := range hist {
		steps = append(steps, fmt.Sprintf("%d>%d/%d", h.From, h.To, h.SplitVersion))
	}
	if want := []string{"2>1/2", "1>2/0", "0>1/0"}; !reflect.DeepEqual(steps, want) {
		t.Fatalf("history %v, want %v (newest first)", steps, want)
	}

	// Runtime view: every prompt with versions and labels.
	all, err := s.StoredPrompts(ctx)
	if err != nil || len(all) != 1 || len(all[0].Versions) != 2 || len(all[0].Labels) != 1 {
		t.Fatalf("stored prompts %+v, %v", all, err)
	}
	ps, err := s.ListPrompts(ctx, PromptFilter{TeamID: "t2"})
	if err != nil || len(ps) != 0 {
		t.Fatalf("another team's prompts: %+v, %v", ps, err)
	}

	// Test runs per version.
	for _, n := range []int{1, 2, 2} {
		if _, err := s.InsertPromptTestRun(ctx, PromptTestRun{PromptID: p.ID, Version: n, Actor: "ci", Cases: 3, Passed: n,
			Summary: json.RawMessage(`{"pass_rate":1}`)}); err != nil {
			t.Fatal(err)
		}
	}
	runs, err := s.PromptTestRuns(ctx, p.ID, 2)
	if err != nil || len(runs) != 2 || runs[0].Passed != 2 || string(runs[0].Summary) != `{"pass_rate":1}` {
		t.Fatalf("runs of version 2: %+v, %v", runs, err)
	}
	if runs, _ := s.PromptTestRuns(ctx, p.ID, 0); len(runs) != 3 {
		t.Fatalf("every run: %d", len(runs))
	}
}

func TestSyncConfigPrompt(t *testing.T) { forEach(t, testSyncConfigPrompt) }

func testSyncConfigPrompt(t *testing.T, s *Store) {
	ctx := context.Background()
	tree(t, s)
	p := Prompt{Name: "greet", OrgID: "o1", TeamID: "t1"}
	v1, v2 := promptVersion("hello {{text}}"), promptVersion("hi {{text}}")
	v1.Number, v2.Number = 1, 2
	sync := func(vs []prompt.Version, labels map[string]int) (bool, error) {
		return s.SyncConfigPrompt(ctx, p, vs, labels)
	}
	if changed, err := sync([]prompt.Version{v1}, map[string]int{"production": 1}); err != nil || !changed {
		t.Fatalf("first sync: %v, %v", changed, err)
	}
	gen := mustGen(t, s)
	if changed, err := sync([]prompt.Version{v1}, map[string]int{"production": 1}); err != nil || changed {
		t.Fatalf("the same file again: changed %v, %v", changed, err)
	}
	if g := mustGen(t, s); g != gen {
		t.Fatalf("an unchanged sync moved the generation %d -> %d", gen, g)
	}
	got, err := s.GetPrompt(ctx, "greet")
	if err != nil || got.Source != "config" || got.Latest != 1 || got.Labels[0].Version != 1 || got.Labels[0].UpdatedBy != "config-file" {
		t.Fatalf("synced %+v, %v", got, err)
	}
	// A move through the API stays while the file keeps its value...
	if changed, err := sync([]prompt.Version{v1, v2}, map[string]int{"production": 1}); err != nil || !changed {
		t.Fatalf("adding version 2: %v, %v", changed, err)
	}
	if err := s.SetPromptLabel(ctx, got.ID, PromptLabel{Label: "production", Version: 2}, 1, "alice", "", promptAudit("prompt.label")); err != nil {
		t.Fatal(err)
	}
	if _, err := sync([]prompt.Version{v1, v2}, map[string]int{"production": 1}); err != nil {
		t.Fatal(err)
	}
	if ls, _ := s.PromptLabels(ctx, got.ID); ls[0].Version != 2 {
		t.Fatalf("a reload undid the API's move: %+v", ls)
	}
	// ...and moves when the file changes it.
	v3 := promptVersion("hey {{text}}")
	v3.Number = 3
	if _, err := sync([]prompt.Version{v1, v2, v3}, map[string]int{"production": 3}); err != nil {
		t.Fatal(err)
	}
	if ls, _ := s.PromptLabels(ctx, got.ID); ls[0].Version != 3 {
		t.Fatalf("the file's new value was not applied: %+v", ls)
	}
	// A declared version that changed is refused, and nothing is written.
	gen = mustGen(t, s)
	changedV1 := promptVersion("HELLO {{text}}")
	changedV1.Number = 1
	_, err = sync([]prompt.Version{changedV1, v2, v3}, map[string]int{"production": 1})
	if !errors.Is(err, ErrImmutable) || !strings.Contains(err.Error(), "-  hello {{text}}") {
		t.Fatalf("changing version 1: %v, want ErrImmutable with a diff", err)
	}
	if g := mustGen(t, s); g != gen {
		t.Fatalf("a refused sync moved the generation")
	}
	if ls, _ := s.PromptLabels(ctx, got.ID); ls[0].Version != 3 {
		t.Fatalf("a refused sync moved the label: %+v", ls)
	}
}
