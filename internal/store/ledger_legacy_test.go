package store

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/store/storetest"
)

// oldNodeEntries are n entries with 0 to 3 attempts each (written out of
// order for some), ids prefixed by prefix, one a second from start.
func oldNodeEntries(prefix string, n int, start time.Time) []ledger.Entry {
	var out []ledger.Entry
	for i := range n {
		e := ledger.Entry{RequestID: fmt.Sprintf("%s-%03d", prefix, i), Time: start.Add(time.Duration(i) * time.Second),
			Endpoint: "chat.completions", KeyID: "key_1", Status: ledger.StatusOK, HTTPStatus: 200, CostMicros: int64(i),
			Attempts: []ledger.Attempt{}}
		for k := 1; k <= i%4; k++ {
			n := k
			if i%5 == 0 { // written last attempt first
				n = i%4 + 1 - k
			}
			e.Attempts = append(e.Attempts, ledger.Attempt{N: n, Provider: fmt.Sprintf("p%d", n), Model: "m",
				Status: ledger.StatusUpstreamError, HTTPStatus: 500 + n, Latency: time.Duration(i*n) * time.Millisecond,
				TTFT: time.Duration(n) * time.Microsecond, Error: fmt.Sprintf("try %d: \"q\"\n", n)})
		}
		out = append(out, e)
	}
	return out
}

// sortedAttempts returns es with each entry's attempts in order of n, as
// the readers return them.
func sortedAttempts(es []ledger.Entry) []ledger.Entry {
	out := make([]ledger.Entry, len(es))
	for i, e := range es {
		out[i] = e
		out[i].Attempts = make([]ledger.Attempt, len(e.Attempts))
		for _, a := range e.Attempts {
			out[i].Attempts[a.N-1] = a
		}
	}
	return out
}

// withAttempts counts the entries of es that have attempts.
func withAttempts(es []ledger.Entry) int {
	n := 0
	for _, e := range es {
		if len(e.Attempts) > 0 {
			n++
		}
	}
	return n
}

// TestLedgerReadsOldNodesRows: during a rolling upgrade, nodes of the
// version before migration 0017 write requests without their attempts
// column and the attempts in the attempts table. The listing shows their
// attempts (beside new nodes' entries, with and without attempts); the
// sweep moves them into the column once, and deletes an old node's
// replayed copy of moved attempts without writing the column again; with
// the table dropped (a later migration, or a database migrated by an
// earlier build of 0017) the ledger writes, lists and sweeps as before.
func TestLedgerReadsOldNodesRows(t *testing.T) { forEach(t, testLedgerReadsOldNodesRows) }

func testLedgerReadsOldNodesRows(t *testing.T, s *Store) {
	ctx := context.Background()
	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	old := oldNodeEntries("old", 40, start)
	cur := oldNodeEntries("new", 40, start.Add(500*time.Millisecond)) // interleaved with the old ones
	writeOldLedger(t, s, old)
	if err := s.InsertEntries(ctx, cur); err != nil {
		t.Fatal(err)
	}
	want := map[string]ledger.Entry{}
	for _, e := range append(sortedAttempts(old), cur...) { // new nodes store attempts as they are
		want[e.RequestID] = e
	}
	check := func(when string) {
		t.Helper()
		// Two pages, so that each page asks for its own old entries.
		var got []ledger.Entry
		var before *RequestCursor
		for range 2 {
			page, err := s.ListRequests(ctx, RequestFilter{Limit: 40, Before: before})
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			got = append(got, page...)
			last := page[len(page)-1]
			before = &RequestCursor{TS: last.Time.UnixMicro(), RequestID: last.RequestID}
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d entries listed, want %d", when, len(got), len(want))
		}
		for _, g := range got {
			w := want[g.RequestID]
			if !reflect.DeepEqual(g.Attempts, w.Attempts) {
				t.Fatalf("%s: entry %s lists attempts %+v, want %+v", when, g.RequestID, g.Attempts, w.Attempts)
			}
		}
	}
	column := func(id string) string {
		t.Helper()
		var c string
		if err := s.r.QueryRowContext(ctx, `SELECT attempts FROM requests WHERE request_id = $1`, id).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	tableRows := func() int {
		t.Helper()
		var n int
		if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM attempts`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// New nodes write "[]" for no attempts: "" is an old node's row.
	if c := column("new-000"); c != "[]" {
		t.Fatalf("a new entry without attempts has column %q, want []", c)
	}
	if c := column("old-001"); c != "" {
		t.Fatalf("an old node's entry has column %q, want \"\"", c)
	}
	check("before the sweep")

	moved, err := s.SweepLegacyAttempts(ctx)
	if err != nil || moved != withAttempts(old) {
		t.Fatalf("the sweep moved %d requests (%v), want %d", moved, err, withAttempts(old))
	}
	if n := tableRows(); n != 0 {
		t.Fatalf("%d rows left in the attempts table after the sweep", n)
	}
	if c := column("old-001"); c == "" {
		t.Fatal("the sweep left old-001's column empty")
	}
	check("after the sweep")
	if moved, err := s.SweepLegacyAttempts(ctx); err != nil || moved != 0 {
		t.Fatalf("a second sweep moved %d requests (%v), want 0", moved, err)
	}

	// An old node replays its journal: its attempts rows come back for
	// requests whose column has them.
	writeOldLedger(t, s, old[:10])
	check("after an old node's replay")
	if moved, err := s.SweepLegacyAttempts(ctx); err != nil || moved != 0 {
		t.Fatalf("the sweep after a replay wrote %d columns (%v), want 0", moved, err)
	}
	if n := tableRows(); n != 0 {
		t.Fatalf("%d replayed rows left in the attempts table", n)
	}
	check("after sweeping the replay")

	// Old rows not swept yet, then the table dropped: the ledger carries
	// on (their attempts are gone with the table).
	late := oldNodeEntries("late", 8, start.Add(time.Hour))
	writeOldLedger(t, s, late)
	for _, e := range late {
		e.Attempts = []ledger.Attempt{}
		want[e.RequestID] = e
	}
	if _, err := s.w.ExecContext(ctx, `DROP TABLE attempts`); err != nil {
		t.Fatal(err)
	}
	more := oldNodeEntries("after", 8, start.Add(2*time.Hour))
	if err := s.InsertEntries(ctx, more); err != nil {
		t.Fatal(err)
	}
	for _, e := range more {
		want[e.RequestID] = e
	}
	got, err := s.ListRequests(ctx, RequestFilter{Limit: 1000})
	if err != nil || len(got) != len(want) {
		t.Fatalf("with the table dropped: %d entries listed (%v), want %d", len(got), err, len(want))
	}
	for _, g := range got {
		if w := want[g.RequestID]; !reflect.DeepEqual(g.Attempts, w.Attempts) {
			t.Fatalf("with the table dropped: entry %s lists attempts %+v, want %+v", g.RequestID, g.Attempts, w.Attempts)
		}
	}
	if !s.legacy.gone.Load() {
		t.Fatal("the listing did not note that the attempts table is gone")
	}
	if moved, err := s.SweepLegacyAttempts(ctx); err != nil || moved != 0 {
		t.Fatalf("the sweep without the table: %d, %v", moved, err)
	}
}

// TestSweepLegacyAttemptsAcrossStores: nodes (stores of their own on one
// database) sweeping at the same time, a few requests per batch, move
// each old node's request once: the columns they write add up to the
// requests with attempts, and the listing shows each request's attempts
// once, in order.
func TestSweepLegacyAttemptsAcrossStores(t *testing.T) {
	ctx := context.Background()
	open := map[string]func() (*Store, error){}
	dir := t.TempDir()
	open["sqlite"] = func() (*Store, error) { return OpenSQLite(ctx, dir) }
	if dsn := storetest.PostgresDSN(t); dsn != "" {
		open["postgres"] = func() (*Store, error) { return OpenPostgres(ctx, dsn) }
	}
	for name, opener := range open {
		t.Run(name, func(t *testing.T) {
			const nodes = 4
			var ss []*Store
			for range nodes {
				s, err := opener()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				ss = append(ss, s)
			}
			old := oldNodeEntries("old", 300, time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC))
			writeOldLedger(t, ss[0], old)
			var wg sync.WaitGroup
			moved := make([]int, nodes)
			errs := make([]error, nodes)
			for i, s := range ss {
				wg.Go(func() {
					for { // until the table is empty: one call may stop after sweepBatches
						n, err := s.sweepLegacyAttempts(ctx, 3)
						moved[i] += n
						if err != nil {
							errs[i] = err
							return
						}
						var left int
						if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM attempts`).Scan(&left); err != nil || left == 0 {
							errs[i] = err
							return
						}
					}
				})
			}
			wg.Wait()
			total := 0
			for i := range nodes {
				if errs[i] != nil {
					t.Fatalf("node %d: %v", i, errs[i])
				}
				total += moved[i]
			}
			if total != withAttempts(old) {
				t.Fatalf("the nodes wrote %d columns (%v each), want %d: each old request once", total, moved, withAttempts(old))
			}
			got, err := ss[1].ListRequests(ctx, RequestFilter{Limit: 1000})
			if err != nil || len(got) != len(old) {
				t.Fatalf("%d entries listed (%v), want %d", len(got), err, len(old))
			}
			want := sortedAttempts(old)
			for i, g := range got {
				if w := want[len(want)-1-i]; !reflect.DeepEqual(g.Attempts, w.Attempts) {
					t.Fatalf("entry %s lists attempts %+v, want %+v", g.RequestID, g.Attempts, w.Attempts)
				}
			}
		})
	}
}
