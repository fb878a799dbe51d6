package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

func TestFeedback(t *testing.T) { forEach(t, testFeedback) }

func testFeedback(t *testing.T, s *Store) {
	ctx := context.Background()
	if err := s.InsertEntries(ctx, []ledger.Entry{{RequestID: "req-fb", Time: time.Now(), Endpoint: "chat.completions",
		KeyID: "key_1", AppID: "app_1", Status: ledger.StatusOK, HTTPStatus: 200, Attempts: []ledger.Attempt{}}}); err != nil {
		t.Fatal(err)
	}
	if k, a, err := s.RequestOwner(ctx, "req-fb"); err != nil || k != "key_1" || a != "app_1" {
		t.Fatalf("RequestOwner = %q, %q, %v", k, a, err)
	}
	if _, _, err := s.RequestOwner(ctx, "req-none"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RequestOwner of an unknown row: %v, want ErrNotFound", err)
	}
	tests := []struct {
		name    string
		f       Feedback
		created bool
		wantVal float64 // the stored value (the first write's, on a replay)
	}{
		{"first answer", Feedback{RequestID: "req-fb", KeyID: "key_1", Metric: "helpful", Value: 1, IdempotencyKey: "idem-1"}, true, 1},
		{"replay keeps the first", Feedback{RequestID: "req-fb", KeyID: "key_1", Metric: "helpful", Value: 0, IdempotencyKey: "idem-1"}, false, 1},
		{"same idempotency key, other key", Feedback{RequestID: "req-fb", KeyID: "key_2", Metric: "helpful", Value: 0, IdempotencyKey: "idem-1"}, true, 0},
		{"no idempotency key twice (1)", Feedback{RequestID: "req-fb", KeyID: "key_1", Metric: "score", Value: 2.5, Comment: "ok"}, true, 2.5},
		{"no idempotency key twice (2)", Feedback{RequestID: "req-fb", KeyID: "key_1", Metric: "score", Value: 3.5}, true, 3.5},
		{"category", Feedback{RequestID: "req-fb", KeyID: "key_1", Metric: "mood", Label: "good"}, true, 0},
	}
	ids := map[string]bool{}
	for _, tc := range tests {
		got, created, err := s.AddFeedback(ctx, tc.f)
		if err != nil || created != tc.created || got.Value != tc.wantVal || got.ID == "" {
			t.Fatalf("%s: AddFeedback = %+v, %v, %v; want created %v, value %v", tc.name, got, created, err, tc.created, tc.wantVal)
		}
		ids[got.ID] = true
	}
	all, err := s.FeedbackFor(ctx, "req-fb")
	if err != nil || len(all) != 5 || len(ids) != 5 {
		t.Fatalf("FeedbackFor: %d rows (%d distinct ids), %v; want 5", len(all), len(ids), err)
	}
	if all[2].Comment != "ok" || all[4].Label != "good" {
		t.Fatalf("rows lost their comment or label: %+v", all)
	}
}
