package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAlertTransitionPages(t *testing.T) { forEach(t, testAlertTransitionPages) }

// insertTransition records a transition row as TransitionAlert does.
func insertTransition(t *testing.T, s *Store, tr AlertTransition) {
	t.Helper()
	if _, err := s.w.ExecContext(context.Background(), `INSERT INTO alert_transitions (rule, series, seq, state, at, value, holder)
 VALUES ($1, $2, $3, $4, $5, $6, $7)`, tr.Rule, tr.Series, tr.Seq, tr.State, tr.At.UnixMilli(), tr.Value, tr.Holder); err != nil {
		t.Fatal(err)
	}
}

// transitionOrder is the history's page order, in Go: newest first, then
// by rule and series, then the newest of a series first.
func transitionOrder(a, b AlertTransition) int {
	if c := b.At.Compare(a.At); c != 0 {
		return c
	}
	return cmp.Or(strings.Compare(a.Rule, b.Rule), strings.Compare(a.Series, b.Series), cmp.Compare(b.Seq, a.Seq))
}

func keysOf(ts []AlertTransition) []string {
	out := make([]string, len(ts))
	for i, x := range ts {
		out[i] = fmt.Sprintf("%d/%s/%s/%d", x.At.UnixMilli(), x.Rule, x.Series, x.Seq)
	}
	return out
}

// testAlertTransitionPages walks the alert history in pages of several
// sizes over transitions of several rules and series, many at the same
// millisecond (a series' own transitions included): each walk gives the
// whole history once, in page order; transitions recorded between two
// pages, newer than the cursor, do not shift the next page.
func testAlertTransitionPages(t *testing.T, s *Store) {
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var want []AlertTransition
	for r, rule := range []string{"b-rule", "a-rule", "c-rule"} {
		for sr, series := range []string{"", "model=x", "model=y"} {
			for seq := int64(1); seq <= 7; seq++ {
				// Five distinct times: every time is shared by rules, series
				// and by a series' own transitions.
				at := base.Add(time.Duration((seq*3+int64(r)+int64(sr))%5) * time.Second)
				tr := AlertTransition{Rule: rule, Series: series, Seq: seq, State: "firing", At: at, Value: float64(seq), Holder: "node-1"}
				insertTransition(t, s, tr)
				want = append(want, tr)
			}
		}
	}
	slices.SortFunc(want, transitionOrder)

	all, err := s.AlertTransitionPage(ctx, nil, 1001)
	if err != nil {
		t.Fatal(err)
	}
	if got, w := keysOf(all), keysOf(want); !slices.Equal(got, w) {
		t.Fatalf("whole history:\n%v\nwant\n%v", got, w)
	}
	newest, err := s.AlertTransitions(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got, w := keysOf(newest), keysOf(want[:10]); !slices.Equal(got, w) {
		t.Fatalf("newest 10:\n%v\nwant\n%v", got, w)
	}

	for _, size := range []int{1, 2, 4, 7, 10, len(want) - 1, len(want), len(want) + 3} {
		t.Run(fmt.Sprintf("pages of %d", size), func(t *testing.T) {
			var got []AlertTransition
			var after *AlertTransitionCursor
			for pages := 0; ; pages++ {
				if pages > len(want)+1 {
					t.Fatalf("still more after %d pages", pages)
				}
				page, err := s.AlertTransitionPage(ctx, after, size)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, page...)
				if len(page) < size {
					break
				}
				c := page[len(page)-1].CursorOf()
				after = &c
			}
			if g, w := keysOf(got), keysOf(want); !slices.Equal(g, w) {
				t.Errorf("walk:\n%v\nwant\n%v", g, w)
			}
		})
	}

	t.Run("recorded between pages", func(t *testing.T) {
		first, err := s.AlertTransitionPage(ctx, nil, 8)
		if err != nil {
			t.Fatal(err)
		}
		last := first[len(first)-1]
		// One newer than every other, and one at the cursor's time that
		// sorts before it: both belong to pages already shown.
		insertTransition(t, s, AlertTransition{Rule: "c-rule", Series: "model=z", Seq: 1, State: "resolved", At: base.Add(time.Hour), Holder: "node-2"})
		insertTransition(t, s, AlertTransition{Rule: "", Series: "new", Seq: 1, State: "resolved", At: last.At, Holder: "node-2"})
		c := last.CursorOf()
		second, err := s.AlertTransitionPage(ctx, &c, 8)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := keysOf(second), keysOf(want[8:16]); !slices.Equal(g, w) {
			t.Errorf("second page after new transitions:\n%v\nwant\n%v", g, w)
		}
	})
}

// TestAlertTransitionPageUsesIndex: the history's first page and a page
// after a cursor read their rows in page order from the index of
// migration 0020, seeking to the cursor: no table scan, no sort. On
// PostgreSQL (table scans and sorts off, the test table being small) the
// seek must be the index condition at <= the cursor's time.
func TestAlertTransitionPageUsesIndex(t *testing.T) {
	for name, s := range stores(t) {
		for _, tc := range []struct {
			name  string
			after *AlertTransitionCursor
		}{
			{"the newest", nil},
			{"after a cursor", &AlertTransitionCursor{At: 1_700_000_000_000, Rule: "r", Series: "s", Seq: 3}},
		} {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				q, args := alertTransitionPageQuery(tc.after, 101)
				plan := explain(t, s, q, args)
				all := strings.Join(plan, " | ")
				for _, step := range plan {
					if strings.Contains(step, "TEMP B-TREE") || strings.Contains(step, "Sort") || strings.Contains(step, "Seq Scan") ||
						(strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, "INDEX")) {
						t.Errorf("%s\nplan: %s", q, all)
						break
					}
				}
				seek := "at<?"
				if s.dialect == "postgres" {
					seek = "Index Cond: (at <="
				}
				if !strings.Contains(all, "alert_transitions_at_order") || (tc.after != nil && !strings.Contains(all, seek)) {
					t.Errorf("%s\nplan: %s\nwant a seek (%s) on alert_transitions_at_order", q, all, seek)
				}
			})
		}
	}
}

// explain returns the plan of q, one step a line.
func explain(t *testing.T, s *Store, q string, args []any) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := s.r.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var plan []string
	if s.dialect == "postgres" {
		// The test's tables are small, so scans and sorts cost nothing:
		// off, the plan shows whether the index can serve the query.
		for _, m := range []string{"enable_seqscan", "enable_bitmapscan", "enable_sort"} {
			if _, err := conn.ExecContext(ctx, "SET "+m+" = off"); err != nil {
				t.Fatal(err)
			}
			defer conn.ExecContext(ctx, "RESET "+m) //nolint:errcheck // the connection goes back to the pool either way
		}
		rows, err := conn.QueryContext(ctx, "EXPLAIN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, strings.TrimSpace(line))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return plan
	}
	return sqlitePlan(t, conn, q, args...)
}
