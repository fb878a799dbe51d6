package store

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

func TestLedgerContextRoundTrip(t *testing.T) { forEach(t, testLedgerContextRoundTrip) }

// Every field a request step sets comes back as it was written, and an
// entry that no step touched comes back with them empty.
func testLedgerContextRoundTrip(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	base := ledger.Entry{Time: now, Endpoint: "chat.completions", Status: ledger.StatusBlocked, HTTPStatus: 400,
		Attempts: []ledger.Attempt{}}
	full := base
	full.RequestID = "req-ctx-full"
	full.TraceID, full.Product, full.ProductVersion, full.Plan, full.SubscriptionID = "4bf92f3577b34da6a3ce929d0e0e4736", "support", "v2", "free", "sub_1"
	full.Prompt, full.PromptVersion, full.PromptLabel = "summarize", 3, "production"
	full.Experiment, full.Arm, full.Cache, full.SavedCostMicros = "exp_1", "b", "hit", 1234
	full.Guardrails = []ledger.Verdict{{Guardrail: "pii", Action: "mask", Stage: "input", Count: 2},
		{Guardrail: "no-secrets", Action: "block", Stage: "input", Count: 1}}
	bare := base
	bare.RequestID = "req-ctx-bare"
	bare.Time = now.Add(-time.Second)
	if err := s.InsertEntries(ctx, []ledger.Entry{full, bare}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListRequests(ctx, RequestFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d entries, want 2", len(got))
	}
	for i, want := range []ledger.Entry{full, bare} {
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("entry %s:\n got %+v\nwant %+v", want.RequestID, got[i], want)
		}
	}
}
