package console_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/store/querycount"
)

// TestListPagesVisitEveryRow: the organisations page's teams and
// applications and the users page show at most 100 rows each; following
// their Next links shows every row once, in the admin API's order, and
// every page makes the same number of store queries however deep it is.
func TestListPagesVisitEveryRow(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 250 of everything")
	}
	const n = 250
	q := seedQueries(t, n)
	ctx := context.Background()
	for i := range 130 {
		if code, raw := q.srv.Admin(ctx, http.MethodPost, "/admin/v1/teams", map[string]any{"name": fmt.Sprintf("team-%03d", i), "org_id": q.org}); code != 201 {
			t.Fatalf("team %d: %d %s", i, code, raw)
		}
	}
	seq := func(format string, k int, extra ...string) []string {
		var out []string
		for i := range k {
			out = append(out, fmt.Sprintf(format, i))
		}
		return append(out, extra...)
	}
	for _, tc := range []struct {
		name, start string
		row, next   *regexp.Regexp
		want        []string
	}{
		{"applications", "/console/tenancy", regexp.MustCompile(`<tr><td>([^<]+)</td><td class="mono">`),
			regexp.MustCompile(`<a href="([^"]+)" rel="next">Next applications</a>`), seq("app-%03d", n, "web")},
		{"teams", "/console/tenancy", regexp.MustCompile(`<tr><td>([^<]+)</td><td>[^<]*</td><td>(?:api|config)</td></tr>`),
			regexp.MustCompile(`<a href="([^"]+)" rel="next">Next teams</a>`), append([]string{"search"}, seq("team-%03d", 130)...)},
		{"users", "/console/users", regexp.MustCompile(`<td>([^<\s]+@example\.com)`),
			regexp.MustCompile(`<a href="([^"]+)" rel="next">Next users</a>`), append([]string{"owner@example.com"}, seq("user-%03d@example.com", n)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
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
				rows := tc.row.FindAllStringSubmatch(a.Body, -1)
				if len(rows) > 100 {
					t.Fatalf("%s shows %d rows", path, len(rows))
				}
				for _, m := range rows {
					got = append(got, html.UnescapeString(m[1]))
				}
				path = ""
				if m := tc.next.FindStringSubmatch(a.Body); m != nil {
					path = html.UnescapeString(m[1])
				}
			}
			if i := firstDiff(got, tc.want); i >= 0 {
				t.Errorf("%d rows over the pages, want %d once each in order; from row %d got %v, want %v",
					len(got), len(tc.want), i, got[i:min(i+3, len(got))], tc.want[i:min(i+3, len(tc.want))])
			}
			if len(queries) < 2 || slices.Min(queries) != slices.Max(queries) {
				t.Errorf("store queries per page %v, want several pages of the same count", queries)
			}
		})
	}
}

// listReadRE is a statement that reads a list of teams, applications,
// users or role bindings (not one row by id).
var listReadRE = regexp.MustCompile(`FROM (teams|apps|users|role_bindings)\b.*ORDER BY`)

// TestListPagesReadOnlyTheirRows: the pages that show teams, applications
// and users read each list a page at a time (a LIMIT on every statement
// that lists them), never the whole list to keep a page of it.
func TestListPagesReadOnlyTheirRows(t *testing.T) {
	q := seedQueries(t, 3)
	for _, path := range []string{"/console/limits?level=application", "/console/tenancy?org=" + q.org, "/console/users?org=" + q.org} {
		t.Run(path, func(t *testing.T) {
			lists := 0
			for _, s := range q.pageQueries(t, path) {
				if !listReadRE.MatchString(s) || strings.Contains(s, "WHERE user_id ") { // the session's own bindings, the page's users'

					continue
				}
				lists++
				if !strings.Contains(s, " LIMIT ") {
					t.Errorf("a whole list read: %s", s)
				}
			}
			if lists == 0 {
				t.Error("no list read at all")
			}
		})
	}
}
