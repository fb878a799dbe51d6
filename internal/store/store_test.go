package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

// open returns a fresh store on every backend the environment offers:
// SQLite always, PostgreSQL when SLUICE_TEST_POSTGRES_DSN is set (CI sets
// it, and SLUICE_TEST_REQUIRE_POSTGRES=1 makes its absence a failure).
func stores(t *testing.T) map[string]*Store {
	t.Helper()
	out := map[string]*Store{}
	s, err := OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	out["sqlite"] = s
	if pg := PostgresForTest(t); pg != nil {
		out["postgres"] = pg
	}
	return out
}

// forEach runs fn against each backend.
func forEach(t *testing.T, fn func(t *testing.T, s *Store)) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) { fn(t, s) })
	}
}

func TestLedgerRoundTripAndIdempotence(t *testing.T) { forEach(t, testLedgerRoundTrip) }

func testLedgerRoundTrip(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	e := ledger.Entry{
		RequestID: "req-1", Time: now, Endpoint: "chat.completions", KeyName: "dev", Model: "m", ServedModel: "up-m",
		OrgID: "org_1", TeamID: "team_1", AppID: "app_1",
		Provider: "p", Stream: true, Status: ledger.StatusTruncated, HTTPStatus: 200, InputTokens: 10, OutputTokens: 5,
		CachedTokens: 2, Estimated: true, CostMicros: 7, Latency: 3 * time.Millisecond, TTFT: time.Millisecond,
		Attempts: []ledger.Attempt{{N: 1, Provider: "p", Model: "up-m", Status: ledger.StatusTruncated, HTTPStatus: 200}},
	}
	for range 2 { // the second insert of the same request id is a no-op
		if err := s.InsertEntries(ctx, []ledger.Entry{e}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListRequests(ctx, RequestFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Attempts) != 1 {
		t.Fatalf("got %d entries / %+v, want 1 with 1 attempt", len(got), got)
	}
	g := got[0]
	if g.RequestID != e.RequestID || !g.Time.Equal(now) || g.Status != e.Status || !g.Stream || !g.Estimated ||
		g.CostMicros != 7 || g.Latency != e.Latency || g.TTFT != e.TTFT || g.CachedTokens != 2 ||
		g.OrgID != "org_1" || g.TeamID != "team_1" || g.AppID != "app_1" {
		t.Fatalf("round trip mismatch: %+v", g)
	}
	if v, err := s.IntegrityCheck(ctx); err != nil || v != "ok" {
		t.Fatalf("integrity = %q, %v", v, err)
	}
	if n, err := s.SpendSince(ctx, "", now.Add(-time.Second)); err != nil || n != 7 {
		t.Fatalf("SpendSince = %d, %v; want 7", n, err)
	}
	if n, err := s.SpendSince(ctx, "nobody", time.Time{}); err != nil || n != 0 {
		t.Fatalf("SpendSince(nobody) = %d, %v", n, err)
	}
}

func TestKeys(t *testing.T) { forEach(t, testKeys) }

func testKeys(t *testing.T, s *Store) {
	ctx := context.Background()
	k := KeyRecord{ID: "k1", Name: "dev", Hash: "abc", Prefix: "gw-…", Models: []string{"m"}, CreatedAt: time.Now()}
	if err := s.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	k.ID = "k2"
	if err := s.CreateKey(ctx, k); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate name: err = %v, want ErrConflict", err)
	}
	if err := s.RevokeKey(ctx, "dev", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeKey(ctx, "nope", time.Now()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown key: err = %v", err)
	}
	ks, err := s.ListKeys(ctx)
	if err != nil || len(ks) != 1 || ks[0].RevokedAt == nil || ks[0].Models[0] != "m" || ks[0].Version != 2 ||
		ks[0].Endpoints == nil || ks[0].SourceCIDRs == nil || ks[0].Tags == nil || ks[0].AlertPercents == nil {
		t.Fatalf("ListKeys = %+v, %v", ks, err)
	}
}

func TestSQLInjectionIsData(t *testing.T) { forEach(t, testSQLInjection) }

func testSQLInjection(t *testing.T, s *Store) {
	ctx := context.Background()
	for _, name := range []string{"x' OR '1'='1", "a; DROP TABLE api_keys; --", "%_"} {
		if err := s.RevokeKey(ctx, name, time.Now()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("RevokeKey(%q) = %v, want ErrNotFound", name, err)
		}
	}
	if _, err := s.ListKeys(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestLedgerChunks: batches of every size around the multi-row chunk
// write every entry and attempt once, including ids repeated within a
// batch and across batches.
func TestLedgerChunks(t *testing.T) { forEach(t, testLedgerChunks) }

func testLedgerChunks(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now()
	var want, wantAttempts int64
	seq := 0
	for _, size := range []int{1, rowsPerInsert - 1, rowsPerInsert, rowsPerInsert + 1, 3*rowsPerInsert + 5} {
		batch := make([]ledger.Entry, size)
		for i := range batch {
			seq++
			batch[i] = ledger.Entry{RequestID: fmt.Sprintf("chunk-%d", seq), Time: now, Endpoint: "chat.completions",
				Status: "ok", HTTPStatus: 200, CostMicros: int64(seq)}
			for n := 1; n <= seq%3; n++ {
				batch[i].Attempts = append(batch[i].Attempts, ledger.Attempt{N: n, Provider: "p", Model: "m", Status: "ok", HTTPStatus: 200})
				wantAttempts++
			}
			want++
		}
		if size > 2 {
			batch = append(batch, batch[0], batch[size/2]) // repeated in the batch: stored once
		}
		if err := s.InsertEntries(ctx, batch); err != nil {
			t.Fatalf("batch of %d: %v", size, err)
		}
		if err := s.InsertEntries(ctx, batch[:1]); err != nil { // repeated across batches
			t.Fatal(err)
		}
	}
	if n, err := s.CountRequests(ctx); err != nil || n != want {
		t.Fatalf("%d requests stored, want %d (%v)", n, want, err)
	}
	es, err := s.ListRequests(ctx, RequestFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var sum, wantSum, attempts int64
	for _, e := range es {
		sum += e.CostMicros
		attempts += int64(len(e.Attempts))
		if len(e.Attempts) != int(e.CostMicros%3) {
			t.Errorf("%s: %d attempts, want %d", e.RequestID, len(e.Attempts), e.CostMicros%3)
		}
	}
	if attempts != wantAttempts {
		t.Fatalf("%d attempts stored, want %d", attempts, wantAttempts)
	}
	for i := 1; i <= seq; i++ {
		wantSum += int64(i)
	}
	if sum != wantSum {
		t.Fatalf("costs sum to %d, want %d: a row was written with another row's values", sum, wantSum)
	}
}
