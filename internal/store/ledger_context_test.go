package store

import (
	"context"
	"fmt"
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

func TestLedgerEveryFieldRoundTrip(t *testing.T) { forEach(t, testLedgerEveryFieldRoundTrip) }

// Every field of an entry is stored, whichever statement inserts it: for
// each field, an entry whose only non-empty optional field is that one,
// alone in its batch (where entries without context bind the core columns
// only) and among entries without context (a chunk of rowsPerInsert
// rows, the next chunk holding it).
func testLedgerEveryFieldRoundTrip(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	base := func(id string) ledger.Entry {
		return ledger.Entry{RequestID: id, Time: now, Endpoint: "chat.completions", Status: ledger.StatusOK, HTTPStatus: 200,
			Attempts: []ledger.Attempt{}}
	}
	typ := reflect.TypeFor[ledger.Entry]()
	n := 0
	for i := range typ.NumField() {
		f := typ.Field(i)
		switch f.Name {
		case "RequestID", "Time", "Endpoint", "Status", "HTTPStatus":
			continue // always set
		}
		for _, mixed := range []bool{false, true} {
			n++
			e := base(fmt.Sprintf("req-field-%03d", n))
			v := reflect.ValueOf(&e).Elem().Field(i)
			switch f.Name {
			case "Attempts":
				e.Attempts = []ledger.Attempt{{N: 1, Provider: "p", Model: "m", Status: ledger.StatusOK, HTTPStatus: 200,
					Latency: 3 * time.Millisecond, TTFT: time.Millisecond, Error: "e"}}
			case "Guardrails":
				e.Guardrails = []ledger.Verdict{{Guardrail: "pii", Action: "mask", Stage: "input", Count: 2}}
			default:
				switch v.Kind() {
				case reflect.String:
					v.SetString("v")
				case reflect.Bool:
					v.SetBool(true)
				case reflect.Int, reflect.Int64:
					if v.Type() == reflect.TypeFor[time.Duration]() {
						v.SetInt(int64(7 * time.Millisecond))
					} else {
						v.SetInt(7)
					}
				default:
					t.Fatalf("field %s of kind %s: teach this test a value for it", f.Name, v.Kind())
				}
			}
			batch := []ledger.Entry{e}
			if mixed {
				batch = nil
				for j := range rowsPerInsert + 3 {
					batch = append(batch, base(fmt.Sprintf("%s-plain-%02d", e.RequestID, j)))
				}
				batch = append(batch[:rowsPerInsert+1], append([]ledger.Entry{e}, batch[rowsPerInsert+1:]...)...)
			}
			if err := s.InsertEntries(ctx, batch); err != nil {
				t.Fatalf("%s: %v", f.Name, err)
			}
			got, err := s.ListRequests(ctx, RequestFilter{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, g := range got {
				if g.RequestID == e.RequestID {
					found = true
					if !reflect.DeepEqual(g, e) {
						t.Errorf("field %s (mixed %v):\n got %+v\nwant %+v", f.Name, mixed, g, e)
					}
				}
			}
			if !found {
				t.Fatalf("field %s: entry %s not stored", f.Name, e.RequestID)
			}
		}
	}
}
