package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/experiment"
	"github.com/sluicehq/sluice/internal/ledger"
)

func TestExperiments(t *testing.T) { forEach(t, testExperiments) }

func testExperiments(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	e := experiment.Experiment{ID: NewID(PrefixExperiment), Name: "ab", Model: "chat", Unit: "key", Metric: "helpful", Control: "a",
		Status: experiment.StatusRunning, CreatedAt: now, UpdatedAt: now,
		Arms: []experiment.Arm{{Name: "a", Provider: "p1", Model: "m1", Weight: 1}, {Name: "b", Provider: "p2", Model: "m2", Weight: 1}}}
	audit := AuditEntry{Actor: "test", Action: "experiments.create", ObjectType: "experiment"}
	if err := s.CreateExperiment(ctx, e, audit); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateExperiment(ctx, experiment.Experiment{ID: NewID(PrefixExperiment), Name: "ab"}, audit); !errors.Is(err, ErrConflict) {
		t.Fatalf("a second experiment named ab: %v, want ErrConflict", err)
	}
	for _, key := range []string{e.ID, "ab"} {
		got, err := s.Experiment(ctx, key)
		if err != nil || got.ID != e.ID || len(got.Arms) != 2 || got.Arms[1].Model != "m2" {
			t.Fatalf("Experiment(%s) = %+v, %v", key, got, err)
		}
	}
	if _, err := s.Experiment(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Experiment(nope): %v", err)
	}
	promoted := e
	promoted.Status, promoted.Winner = experiment.StatusPromoted, "b"
	if err := s.UpdateExperiment(ctx, promoted, experiment.StatusRunning, audit); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateExperiment(ctx, promoted, experiment.StatusRunning, audit); !errors.Is(err, ErrConflict) {
		t.Fatalf("a second promotion from running: %v, want ErrConflict", err)
	}
	if all, err := s.Experiments(ctx); err != nil || len(all) != 1 || all[0].Status != experiment.StatusPromoted || all[0].Winner != "b" {
		t.Fatalf("Experiments = %+v, %v", all, err)
	}

	entry := func(id, arm, provider string, status ledger.Status) ledger.Entry {
		return ledger.Entry{RequestID: id, Time: now, Endpoint: "chat.completions", KeyID: "k", Provider: provider, ServedModel: "m",
			Status: status, HTTPStatus: 200, CostMicros: 5, Latency: 2 * time.Millisecond, Experiment: e.ID, Arm: arm, Attempts: []ledger.Attempt{}}
	}
	if err := s.InsertEntries(ctx, []ledger.Entry{entry("r1", "a", "p1", ledger.StatusOK), entry("r2", "b", "p2", ledger.StatusUpstreamError),
		entry("r3", "a", "p1", ledger.StatusOK), {RequestID: "r4", Time: now, Endpoint: "chat.completions", Status: ledger.StatusOK, Attempts: []ledger.Attempt{}}}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []Feedback{{RequestID: "r1", Metric: "helpful", Value: 0, Time: now}, {RequestID: "r1", Metric: "helpful", Value: 1, Time: now.Add(time.Second)},
		{RequestID: "r2", Metric: "other", Value: 1}} {
		if _, _, err := s.AddFeedback(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := s.ExperimentRows(ctx, e.ID, "helpful")
	if err != nil || len(rows) != 3 {
		t.Fatalf("ExperimentRows: %d rows, %v; want the experiment's 3", len(rows), err)
	}
	by := map[string]experiment.Row{}
	for _, r := range rows {
		by[r.Arm+r.Provider+map[bool]string{true: "v"}[r.HasValue]] = r
	}
	if r, ok := by["ap1v"]; !ok || r.Value != 1 || r.LatencyMS != 2 || r.CostMicros != 5 || r.Failed {
		t.Fatalf("row r1 = %+v (the latest feedback, 1, is the one that counts)", r)
	}
	if r, ok := by["bp2"]; !ok || !r.Failed || r.HasValue {
		t.Fatalf("row r2 = %+v: failed, with no feedback on helpful", r)
	}
}
