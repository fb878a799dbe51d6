package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/store/querycount"
)

// limitRowRE is a limits page row: its level, name and spend (no budget
// is set in these tests, so the spend cell is a plain amount).
var limitRowRE = regexp.MustCompile(`(?s)<tr>\s*<td>(\w+)</td><td>([^<]*)</td>.*?<td>([^<]*)</td>\s*</tr>`)

// TestLimitPagesVisitEveryRow: the limits page shows one level at a time;
// following its Next links shows every application and every key once, in
// order, at most 100 a page, each with this month's spend; the page's
// store queries do not grow with its rows or its depth.
func TestLimitPagesVisitEveryRow(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 250 of everything")
	}
	const n = 250
	q := seedQueries(t, n)
	ctx := context.Background()
	list := func(path string) map[string]string {
		code, raw := q.srv.Admin(ctx, http.MethodGet, path, nil)
		var l struct {
			Data []struct{ ID, Name string }
		}
		if code != 200 || json.Unmarshal(raw, &l) != nil {
			t.Fatalf("GET %s: %d %s", path, code, raw)
		}
		m := map[string]string{}
		for _, x := range l.Data {
			m[x.Name] = x.ID
		}
		return m
	}
	apps, keys := list("/admin/v1/apps?org_id="+q.org), list("/admin/v1/keys?limit=1000&org_id="+q.org)
	// Spend: key-i and app-i each (i+1) thousand micros more this month.
	now := time.Now().UTC()
	var es []ledger.Entry
	for i := range n {
		es = append(es, ledger.Entry{RequestID: fmt.Sprintf("spend-%d", i), Time: now.Add(-time.Duration(i) * time.Millisecond),
			Endpoint: "/v1/chat/completions", KeyID: keys[fmt.Sprintf("key-%03d", i)], OrgID: q.org, TeamID: q.team,
			AppID: apps[fmt.Sprintf("app-%03d", i)], Model: "demo", Provider: "demo", Status: ledger.StatusOK, HTTPStatus: 200,
			CostMicros: int64(i+1) * 1000})
	}
	if err := q.srv.Store.InsertEntries(ctx, es); err != nil {
		t.Fatal(err)
	}
	usd := func(micros int64) string { return "$" + strconv.FormatFloat(float64(micros)/1e6, 'f', 4, 64) }
	total := int64(n*30 + n*(n+1)/2*1000)

	for _, tc := range []struct {
		name, start string
		want        [][3]string // level, name, spend of every row over the pages
	}{
		{"organisation and teams", "/console/limits", [][3]string{{"organisation", "acme", usd(total)}, {"team", "search", usd(total)}}},
		{"applications", "/console/limits?level=application", func() (w [][3]string) {
			for i := range n {
				w = append(w, [3]string{"application", fmt.Sprintf("app-%03d", i), usd(int64(i+1) * 1000)})
			}
			// "web" holds every key and the seed's own entries.
			return append(w, [3]string{"application", "web", usd(n * 30)})
		}()},
		{"keys", "/console/limits?level=key", func() (w [][3]string) {
			for i := range n {
				w = append(w, [3]string{"key", fmt.Sprintf("key-%03d", i), usd(int64(i+1)*1000 + 30)})
			}
			return w
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [][3]string
			var queries []int
			path := tc.start
			for pages := 0; path != ""; pages++ {
				if pages > 10 {
					t.Fatalf("still a next page after %d", pages)
				}
				cctx, count := querycount.Track(ctx)
				a := q.srv.Do(cctx, http.MethodGet, path, nil, q.owner)
				if a.Code != http.StatusOK {
					t.Fatalf("GET %s: %d\n%s", path, a.Code, a.Body)
				}
				queries = append(queries, len(count.Statements()))
				rows := limitRowRE.FindAllStringSubmatch(a.Body, -1)
				if len(rows) > 100 {
					t.Fatalf("%s shows %d rows", path, len(rows))
				}
				for _, m := range rows {
					got = append(got, [3]string{m[1], html.UnescapeString(m[2]), m[3]})
				}
				path = ""
				if m := nextRE.FindStringSubmatch(a.Body); m != nil {
					path = html.UnescapeString(m[1])
				}
			}
			if i := firstDiff(got, tc.want); i >= 0 {
				t.Errorf("%d rows over the pages, want %d once each in order; from row %d got %v, want %v",
					len(got), len(tc.want), i, got[i:min(i+3, len(got))], tc.want[i:min(i+3, len(tc.want))])
			}
			// The same statements on every page, within the limits page's budget.
			if slices.Max(queries) > 16 || slices.Min(queries) != slices.Max(queries) {
				t.Errorf("store queries per page %v, want the same on each and at most 16", queries)
			}
		})
	}
}

// firstDiff is the first index where a and b differ, -1 if they are equal.
func firstDiff[T comparable](a, b []T) int {
	for i := range max(len(a), len(b)) {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return -1
}
