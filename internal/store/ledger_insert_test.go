package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/store/querycount"
)

// insertCase is a batch to insert after the entries before are stored,
// all within the hour from start.
type insertCase struct {
	name      string
	start     time.Time
	before    []ledger.Entry
	batch     []ledger.Entry
	returning bool // whether the batch needs inserts that return the ids they stored
}

// insertCases are batches that are new entries only, and batches with an
// id stored before or repeated (in one chunk of rowsPerInsert rows or in
// two), each in its own hour.
func insertCases() []insertCase {
	day := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	cases := []insertCase{
		{name: "new entries"},
		{name: "one stored before", returning: true},
		{name: "all stored before", returning: true},
		{name: "a repeat in one insert", returning: true},
		{name: "a repeat in the next insert", returning: true},
	}
	for i := range cases {
		c := &cases[i]
		c.start = day.Add(time.Duration(i) * time.Hour)
		es := genEntries(uint64(i), 2*rowsPerInsert+5, c.start, time.Hour, fmt.Sprint("c", i))
		switch i {
		case 0:
			c.batch = es
		case 1:
			c.before, c.batch = es[40:41], es
		case 2:
			c.before, c.batch = es, es
		case 3:
			c.batch = append(es[:10:10], es[3])
		case 4:
			c.batch = append(es[:rowsPerInsert+3:rowsPerInsert+3], es[0])
		}
	}
	return cases
}

// InsertEntries stores each id once and the rollups count exactly the
// entries it stored, whichever way it learned which they are.
func TestInsertEntriesCountsEachEntryOnce(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for _, c := range insertCases() {
			t.Run(c.name, func(t *testing.T) {
				if err := s.InsertEntries(ctx, c.before); err != nil {
					t.Fatal(err)
				}
				if err := s.InsertEntries(ctx, c.batch); err != nil {
					t.Fatal(err)
				}
				seen := map[string]bool{}
				var distinct []ledger.Entry
				for _, e := range append(slices.Clone(c.before), c.batch...) {
					if !seen[e.RequestID] {
						seen[e.RequestID] = true
						distinct = append(distinct, e)
					}
				}
				end := c.start.Add(time.Hour)
				want := ledgerCounts(distinct, c.start, end)
				if got := analyticsCounts(t, s, c.start, end, time.Hour); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("analytics %v, ledger %v", got, want)
				}
				got, err := s.ListRequests(ctx, RequestFilter{Limit: 1000, Before: &RequestCursor{TS: end.UnixMicro()}})
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, e := range got {
					if !e.Time.Before(c.start) {
						n++
					}
				}
				if n != len(distinct) {
					t.Errorf("%d rows stored, want %d", n, len(distinct))
				}
			})
		}
	})
}

// A batch of new entries is written by inserts that return nothing: the
// rows they count say that every entry is new. Only a batch with an entry
// stored before or repeated is written again by inserts that return ids.
func TestInsertEntriesReturnsIDsOnlyWhenNeeded(t *testing.T) {
	s, err := OpenSQLiteDriver(context.Background(), t.TempDir(), querycount.Driver)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range insertCases() {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.InsertEntries(context.Background(), tc.before); err != nil {
				t.Fatal(err)
			}
			ctx, counter := querycount.Track(context.Background())
			if err := s.InsertEntries(ctx, tc.batch); err != nil {
				t.Fatal(err)
			}
			plain, returning := 0, 0
			for _, q := range counter.Statements() {
				switch {
				case !strings.Contains(q, "INTO requests"):
				case strings.Contains(q, "RETURNING request_id"):
					returning++
				default:
					plain++
				}
			}
			if plain == 0 || (returning > 0) != tc.returning {
				t.Errorf("%d inserts without RETURNING, %d with; want returning %v", plain, returning, tc.returning)
			}
		})
	}
}
