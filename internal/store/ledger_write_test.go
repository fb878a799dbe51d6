package store

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/experiment"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/store/querycount"
	"github.com/sluicehq/sluice/internal/store/storetest"
)

// TestAttemptsColumnRoundTrip: every attempt field, strings with every
// character JSON escapes, comes back from the attempts column as it was.
func TestAttemptsColumnRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		as   []ledger.Attempt
	}{
		{"none", []ledger.Attempt{}},
		{"one", []ledger.Attempt{{N: 1, Provider: "openai", Model: "gpt-4o", Status: ledger.StatusOK, HTTPStatus: 200,
			Latency: 1234 * time.Microsecond, TTFT: 56 * time.Microsecond}}},
		{"fallback", []ledger.Attempt{
			{N: 1, Provider: "a", Model: "m", Status: ledger.StatusUpstreamError, HTTPStatus: 503, Latency: time.Second,
				Error: `upstream said "no": {"error":[1,2]} \ back\slash`},
			{N: 2, Provider: "b", Model: "m2", Status: ledger.StatusTruncated, HTTPStatus: 200, Latency: 2 * time.Hour, TTFT: time.Millisecond}}},
		{"control characters and unicode", []ledger.Attempt{{N: 3, Provider: "p\x00q", Model: "é日本\u2028", Status: "x",
			HTTPStatus: -1, Latency: -time.Microsecond, Error: "line\nnext\r\ttab\x1f\x7f"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := appendAttempts(nil, tc.as)
			if len(tc.as) == 0 && string(enc) != "[]" { // "" is an old node's row (ledger_attempts.go)
				t.Fatalf("no attempts encoded as %q, want []", enc)
			}
			got, err := decodeAttempts(string(enc))
			if err != nil {
				t.Fatalf("decode %q: %v", enc, err)
			}
			if !reflect.DeepEqual(got, tc.as) {
				t.Fatalf("%q decoded as\n%+v\nwant\n%+v", enc, got, tc.as)
			}
		})
	}
}

// TestAttemptsColumnRefusesMalformed: a column that is not the encoding is
// an error, not attempts made up.
func TestAttemptsColumnRefusesMalformed(t *testing.T) {
	for _, s := range []string{`x`, `[[1,"p","m","ok",200,0,0]]`, `[[1,"p","m","ok",200,0,0,"",9]]`, `[["1","p","m","ok",200,0,0,""]]`,
		`[[1,"p","m","ok",200,0.5,0,""]]`, `{"n":1}`} {
		if got, err := decodeAttempts(s); err == nil {
			t.Errorf("decodeAttempts(%q) = %+v, want an error", s, got)
		}
	}
	// Invalid UTF-8 is stored as U+FFFD, as encoding/json would.
	got, err := decodeAttempts(string(appendAttempts(nil, []ledger.Attempt{{Error: "a\xffb"}})))
	if err != nil || got[0].Error != "a\ufffdb" {
		t.Fatalf("invalid UTF-8: %+v, %v", got, err)
	}
}

// FuzzAttemptsColumn: whatever the strings, a valid UTF-8 attempt comes
// back as it was.
func FuzzAttemptsColumn(f *testing.F) {
	f.Add(1, "p", "m", "ok", 200, int64(5), int64(1), "")
	f.Add(2, `"\`, "\x00\n", "]", -5, int64(-1), int64(1<<40), "\u2028é")
	f.Fuzz(func(t *testing.T, n int, provider, model, status string, http int, lat, ttft int64, errText string) {
		for _, s := range []string{provider, model, status, errText} {
			if !utf8Valid(s) {
				return
			}
		}
		as := []ledger.Attempt{{N: n, Provider: provider, Model: model, Status: ledger.Status(status), HTTPStatus: http,
			Latency: time.Duration(lat) * time.Microsecond, TTFT: time.Duration(ttft) * time.Microsecond, Error: errText}}
		if lat > 1<<50 || lat < -1<<50 || ttft > 1<<50 || ttft < -1<<50 { // durations in microseconds must fit
			return
		}
		got, err := decodeAttempts(string(appendAttempts(nil, as)))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, as) {
			t.Fatalf("got %+v, want %+v", got, as)
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\ufffd") == s }

// TestMigrationMovesAttemptsIntoRows: on a database written before
// migration 0017 (an attempts table, full experiment and subscription
// indexes), the migration puts every request's attempts into its row, in
// order, empties the table (and keeps it), and the readers of the re-made indexes answer
// as they did before it.
func TestMigrationMovesAttemptsIntoRows(t *testing.T) { forEach(t, testMigrationMovesAttemptsIntoRows) }

func testMigrationMovesAttemptsIntoRows(t *testing.T, s *Store) {
	ctx := context.Background()
	// Put the database back to migration 0016's ledger.
	body, err := fs.ReadFile(migrations, "migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	var create string
	for _, st := range strings.Split(stripComments(string(body)), ";") {
		if strings.Contains(st, "CREATE TABLE attempts (") {
			create = st
		}
	}
	for _, q := range []string{`ALTER TABLE requests DROP COLUMN attempts`, `DROP TABLE attempts`, create,
		`DROP INDEX requests_experiment`, `CREATE INDEX requests_experiment ON requests (experiment, arm)`,
		`DROP INDEX requests_subscription_ts`, `CREATE INDEX requests_subscription_ts ON requests (subscription_id, ts)`,
		`DELETE FROM schema_migrations WHERE version = 17`} {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Entries as the old ledger wrote them: the request rows, then one row
	// per attempt.
	start := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	var want []ledger.Entry
	for i := range 300 {
		e := ledger.Entry{RequestID: fmt.Sprintf("old-%03d", i), Time: start.Add(time.Duration(i) * time.Second),
			Endpoint: "chat.completions", KeyID: "key_1", Status: ledger.StatusOK, HTTPStatus: 200, CostMicros: int64(i),
			Attempts: []ledger.Attempt{}}
		if i%3 == 0 {
			e.SubscriptionID = fmt.Sprintf("sub_%d", i%4)
		}
		if i%5 == 0 {
			e.Experiment, e.Arm = "exp", []string{"a", "b"}[i%2]
		}
		if i%7 == 0 {
			e.Status = ledger.StatusLimited
		}
		for n := 1; n <= i%4; n++ { // 0 to 3 attempts
			e.Attempts = append(e.Attempts, ledger.Attempt{N: n, Provider: fmt.Sprintf("p%d", n), Model: "m",
				Status: ledger.StatusUpstreamError, HTTPStatus: 500 + n, Latency: time.Duration(i*n) * time.Millisecond,
				TTFT: time.Duration(n) * time.Microsecond, Error: fmt.Sprintf("try %d: \"quoted\", back\\slash\nline é", n)})
		}
		want = append(want, e)
	}
	for _, i := range []int{11, 7, 3} { // attempts written out of order still come back by n
		slices.Reverse(want[i].Attempts)
		for j := range want[i].Attempts {
			want[i].Attempts[j].N = len(want[i].Attempts) - j
		}
	}
	writeOldLedger(t, s, want)
	for i := range want { // the listing's order
		slices.SortFunc(want[i].Attempts, func(a, b ledger.Attempt) int { return a.N - b.N })
	}
	slices.Reverse(want)

	asks := []QuotaCount{{"sub_0", start}, {"sub_1", start.Add(100 * time.Second)}, {"sub_2", start}, {"sub_3", start.Add(time.Hour)}}
	readers := func() string {
		t.Helper()
		var out []string
		counts, err := s.SubscriptionRequestsSinceEach(ctx, asks)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(counts))
		for _, a := range asks {
			n, err := s.SubscriptionRequestsSince(ctx, a.SubscriptionID, a.Since)
			if err != nil {
				t.Fatal(err)
			}
			spend, err := s.SpendSinceBy(ctx, "subscription_id", a.SubscriptionID, a.Since)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s: %d requests, %d spent", a.SubscriptionID, n, spend))
		}
		rows, err := s.ExperimentRows(ctx, "exp", "thumbs")
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(rows, func(a, b experiment.Row) int { // the query has no order
			return cmp.Or(strings.Compare(a.Arm, b.Arm), cmp.Compare(a.CostMicros, b.CostMicros))
		})
		out = append(out, fmt.Sprintf("experiment: %d rows %+v", len(rows), rows))
		return strings.Join(out, "\n")
	}
	before := readers()
	// What the quota and the experiment count, from the entries themselves.
	quota := map[string]int{}
	experimentRows := 0
	for _, e := range want {
		for _, a := range asks {
			if e.SubscriptionID == a.SubscriptionID && e.Status != ledger.StatusLimited && !e.Time.Before(a.Since) {
				quota[e.SubscriptionID]++
			}
		}
		if e.Experiment == "exp" {
			experimentRows++
		}
	}
	if !strings.HasPrefix(before, fmt.Sprint(quota)+"\n") || !strings.Contains(before, fmt.Sprintf("experiment: %d rows", experimentRows)) {
		t.Fatalf("the readers before the migration:\n%s\nwant quotas %v and %d experiment rows", before, quota, experimentRows)
	}

	if err := s.migrate(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListRequests(ctx, RequestFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries after the migration, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("entry %s after the migration:\n got %+v\nwant %+v", want[i].RequestID, got[i], want[i])
		}
	}
	if after := readers(); after != before {
		t.Fatalf("the readers of the re-made indexes answer\n%s\nafter the migration, and before it\n%s", after, before)
	}
	// The table stays, for the nodes of the version before (see
	// TestLedgerReadsOldNodesRows), and holds nothing that was moved.
	var left int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM attempts`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d rows left in the attempts table after the migration (%v), want 0", left, err)
	}
	// The migrated ledger takes new entries and repeats of old ones.
	e := ledger.Entry{RequestID: "new-1", Time: start, Endpoint: "chat.completions", Status: ledger.StatusOK, HTTPStatus: 200,
		Attempts: []ledger.Attempt{{N: 1, Provider: "p", Status: ledger.StatusOK, HTTPStatus: 200}}}
	if err := s.InsertEntries(ctx, []ledger.Entry{e, want[0]}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountRequests(ctx); err != nil || n != int64(len(want)+1) {
		t.Fatalf("%d entries, want %d (%v)", n, len(want)+1, err)
	}
}

// writeOldLedger writes entries as the ledger before migration 0017 did
// (and as its nodes still do during a rolling upgrade): the request rows
// without their attempts column, then one row per attempt in the attempts
// table, an entry or attempt stored already skipped.
func writeOldLedger(t *testing.T, s *Store, entries []ledger.Entry) {
	t.Helper()
	ctx := context.Background()
	for _, e := range entries {
		if _, err := s.w.ExecContext(ctx, `INSERT INTO requests (request_id, ts, endpoint, key_id, status, http_status, cost_micros,
 subscription_id, experiment, arm) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (request_id) DO NOTHING`, e.RequestID,
			e.Time.UnixMicro(), e.Endpoint, e.KeyID, string(e.Status), e.HTTPStatus, e.CostMicros, e.SubscriptionID, e.Experiment, e.Arm); err != nil {
			t.Fatal(err)
		}
		for _, a := range e.Attempts {
			if _, err := s.w.ExecContext(ctx, `INSERT INTO attempts (request_id, n, provider, model, status, http_status, latency_us,
 ttft_us, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (request_id, n) DO NOTHING`, e.RequestID, a.N, a.Provider,
				a.Model, string(a.Status), a.HTTPStatus, a.Latency.Microseconds(), a.TTFT.Microseconds(), a.Error); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestLedgerExactlyOnceAcrossStores: nodes (stores of their own on one
// database) that write the same batches at the same time, as journal
// replays and retries across processes do, store each entry once and
// count it once in the rollups. A batch's rollups count the ids its own
// inserts stored: on PostgreSQL an insert that meets another node's
// uncommitted copy of an id waits for it and then stores nothing.
func TestLedgerExactlyOnceAcrossStores(t *testing.T) {
	ctx := context.Background()
	open := map[string]func() (*Store, error){}
	dir := t.TempDir()
	open["sqlite"] = func() (*Store, error) { return OpenSQLite(ctx, dir) }
	if dsn := storetest.PostgresDSN(t); dsn != "" {
		open["postgres"] = func() (*Store, error) { return OpenPostgres(ctx, dsn) }
	}
	for name, opener := range open {
		t.Run(name, func(t *testing.T) {
			const nodes, rounds, per = 4, 6, 40
			var ss []*Store
			for range nodes {
				s, err := opener()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				ss = append(ss, s)
			}
			start := time.Date(2026, 11, 5, 12, 0, 0, 0, time.UTC)
			var all []ledger.Entry
			for r := range rounds {
				all = append(all, genEntries(uint64(r), per, start, time.Hour, fmt.Sprintf("x%d", r))...)
			}
			var wg sync.WaitGroup
			errs := make(chan error, nodes*rounds)
			for _, s := range ss {
				wg.Go(func() {
					for r := range rounds {
						if err := s.InsertEntries(ctx, all[r*per:(r+1)*per]); err != nil {
							errs <- err
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			s := ss[0]
			if n, err := s.CountRequests(ctx); err != nil || n != int64(len(all)) {
				t.Fatalf("%d entries stored, want %d (%v)", n, len(all), err)
			}
			want := ledgerCounts(all, start, start.Add(2*time.Hour))
			if got := analyticsCounts(t, s, start, start.Add(2*time.Hour), time.Hour); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("analytics %v, ledger %v: an entry written by several nodes was counted more than once", got, want)
			}
		})
	}
}

// TestLedgerIndexesServeTheirReaders: the readers of the partial
// experiment and subscription indexes say what those indexes hold, so
// that SQLite reads them on the index, not by scanning the ledger.
func TestLedgerIndexesServeTheirReaders(t *testing.T) {
	s, err := OpenSQLiteDriver(context.Background(), t.TempDir(), querycount.Driver)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	since := time.Unix(1, 0)
	for _, c := range []struct {
		name, index string
		call        func(ctx context.Context) error
	}{
		{"quota seeding", "requests_subscription_ts", func(ctx context.Context) error {
			_, err := s.SubscriptionRequestsSince(ctx, "sub_1", since)
			return err
		}},
		{"quota standing", "requests_subscription_ts", func(ctx context.Context) error {
			_, err := s.SubscriptionRequestsSinceEach(ctx, []QuotaCount{{"sub_1", since}, {"sub_2", since}})
			return err
		}},
		{"plan budget", "requests_subscription_ts", func(ctx context.Context) error {
			_, err := s.SpendSinceBy(ctx, "subscription_id", "sub_1", since)
			return err
		}},
		{"experiment", "requests_experiment", func(ctx context.Context) error {
			_, err := s.ExperimentRows(ctx, "exp", "m")
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, counter := querycount.Track(context.Background())
			if err := c.call(ctx); err != nil {
				t.Fatal(err)
			}
			stmts := counter.Statements()
			if len(stmts) != 1 {
				t.Fatalf("ran %d statements, want 1: %q", len(stmts), stmts)
			}
			var args []any // the plan's parameters: their values do not matter
			for range strings.Count(stmts[0], "$") {
				args = append(args, "")
			}
			plan := sqlitePlan(t, s.r, stmts[0], args...)
			if p := strings.Join(plan, "; "); !strings.Contains(p, "SEARCH r USING INDEX "+c.index) &&
				!strings.Contains(p, "SEARCH requests USING INDEX "+c.index) {
				t.Fatalf("plan %q: the ledger is not searched on %s", p, c.index)
			}
		})
	}
}
