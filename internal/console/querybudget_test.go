package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/console/consoletest"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/querycount"
)

// A page's store queries: what the counting driver (querycount) sees
// while one page renders, in process. The session lookup is the first
// admin API call's authentication; every later call of the page reuses it
// (admin.InProcess). The budget holds for 10 rows and for 500.

// querySeed is a store with n of every listed object, the principal's
// organisation, team and application, and an owner who signs in.
type querySeed struct {
	srv               *consoletest.Server
	org, team, app    string
	product, firstApp string
	owner             *http.Cookie
}

func seedQueries(t *testing.T, n int) querySeed {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLiteDriver(ctx, t.TempDir(), querycount.Driver)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := consoletest.New(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	srv.Hold = true
	call := func(method, path string, body any, want int) map[string]any {
		t.Helper()
		code, raw := srv.Admin(ctx, method, path, body)
		if code != want {
			t.Fatalf("%s %s: %d %s", method, path, code, raw)
		}
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return out
	}
	id := func(m map[string]any) string { return m["id"].(string) }
	var q querySeed
	q.srv = srv
	q.org = id(call("POST", "/admin/v1/orgs", map[string]any{"name": "acme"}, 201))
	q.team = id(call("POST", "/admin/v1/teams", map[string]any{"name": "search", "org_id": q.org}, 201))
	q.app = id(call("POST", "/admin/v1/apps", map[string]any{"name": "web", "team_id": q.team}, 201))
	call("POST", "/admin/v1/users", map[string]any{"email": "owner@example.com", "password": "correct-horse-battery",
		"bindings": []map[string]any{{"role": "owner", "org_id": q.org}}}, 201)
	q.product = id(call("POST", "/admin/v1/products", map[string]any{"name": "prod-0", "team_id": q.team, "visibility": "internal"}, 201))
	call("POST", "/admin/v1/products/"+q.product+"/versions", map[string]any{"version": "v1", "models": map[string]string{"demo": "demo"}}, 201)
	call("POST", "/admin/v1/products/"+q.product+"/versions/v1/publish", map[string]any{}, 200)
	call("POST", "/admin/v1/products/"+q.product+"/plans", map[string]any{"name": "starter", "approval": "manual"}, 201)
	var keyID string
	var entries []ledger.Entry
	now := time.Now().UTC()
	for i := range n {
		appID := id(call("POST", "/admin/v1/apps", map[string]any{"name": fmt.Sprintf("app-%03d", i), "team_id": q.team}, 201))
		if i == 0 {
			q.firstApp = appID
		}
		keyID = id(call("POST", "/admin/v1/keys", map[string]any{"name": fmt.Sprintf("key-%03d", i), "app_id": q.app}, 201))
		call("POST", "/admin/v1/users", map[string]any{"email": fmt.Sprintf("user-%03d@example.com", i),
			"bindings": []map[string]any{{"role": "viewer", "org_id": q.org}}}, 201)
		call("POST", "/admin/v1/prompts", map[string]any{"name": fmt.Sprintf("prompt-%03d", i), "team_id": q.team,
			"version": map[string]any{"model": "demo", "messages": []map[string]any{{"role": "user", "content": "hi"}}}}, 201)
		if i > 0 {
			p := id(call("POST", "/admin/v1/products", map[string]any{"name": fmt.Sprintf("prod-%03d", i), "team_id": q.team,
				"visibility": "internal"}, 201))
			call("POST", "/admin/v1/products/"+p+"/versions", map[string]any{"version": "v1", "models": map[string]string{"demo": "demo"}}, 201)
			call("POST", "/admin/v1/products/"+p+"/plans", map[string]any{"name": "starter", "approval": "manual"}, 201)
		}
		call("POST", "/admin/v1/subscriptions", map[string]any{"product": "prod-0", "plan": "starter", "application": appID,
			"reason": "tests"}, 201)
		entries = append(entries, ledger.Entry{RequestID: fmt.Sprintf("req-%04d", i), Time: now.Add(-time.Duration(i) * time.Second),
			Endpoint: "/v1/chat/completions", KeyID: keyID, KeyName: fmt.Sprintf("key-%03d", i), OrgID: q.org, TeamID: q.team,
			AppID: q.app, Model: "demo", Provider: "demo", Status: ledger.StatusOK, HTTPStatus: 200, InputTokens: 10,
			OutputTokens: 20, CostMicros: 30, Latency: time.Duration(i%50) * time.Millisecond,
			Attempts: []ledger.Attempt{{N: 1, Provider: "demo", Model: "demo-chat", Status: ledger.StatusOK, HTTPStatus: 200}}})
	}
	if err := st.InsertEntries(ctx, entries); err != nil {
		t.Fatal(err)
	}
	srv.Hold = false
	if err := srv.Compile(ctx); err != nil {
		t.Fatal(err)
	}
	if q.owner, err = srv.SignIn(ctx, "owner@example.com", "correct-horse-battery"); err != nil {
		t.Fatal(err)
	}
	return q
}

// pageQueries renders path as the owner and returns the statements the
// store ran for it.
func (q querySeed) pageQueries(t *testing.T, path string) []string {
	t.Helper()
	ctx, n := querycount.Track(context.Background())
	a := q.srv.Do(ctx, http.MethodGet, path, nil, q.owner)
	if a.Code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", path, a.Code, a.Body)
	}
	return n.Statements()
}

// TestPageQueryBudget holds every list page of the console and the portal
// to its store queries, the same for 10 rows as for 500.
func TestPageQueryBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 500 of everything")
	}
	small, large := seedQueries(t, 10), seedQueries(t, 500)
	// max is the whole page's statements: 3 for the session lookup (its
	// session, user and role bindings, which /me reuses), 1 for the
	// organisation selector, then the
	// page's own: at most 2 for the list itself (the ledger: entries, then
	// their attempts), one read of the unit a filter names for each API
	// call that takes one, and the analytics calls (each reads the
	// compaction watermarks, then its stretch in up to 4 parts at once).
	pages := []struct {
		name string
		path func(q querySeed) string
		max  int
	}{
		{"overview", func(q querySeed) string { return "/console/" }, 6},
		{"keys", func(q querySeed) string { return "/console/keys" }, 8},
		{"ledger", func(q querySeed) string { return "/console/ledger?limit=200" }, 6},
		{"audit", func(q querySeed) string { return "/console/audit" }, 5},
		{"products", func(q querySeed) string { return "/console/products" }, 6},
		{"subscriptions", func(q querySeed) string { return "/console/subscriptions?state=" }, 9},
		{"prompts", func(q querySeed) string { return "/console/prompts" }, 7},
		{"users", func(q querySeed) string { return "/console/users" }, 8},
		{"tenancy", func(q querySeed) string { return "/console/tenancy" }, 8},
		{"limits", func(q querySeed) string { return "/console/limits" }, 16},
		// Lists paged by keyset through the admin API (limit, cursor): one
		// query a list, and the limits page's one analytics call.
		{"limits applications", func(q querySeed) string { return "/console/limits?level=application" }, 11},
		{"tenancy teams and applications", func(q querySeed) string { return "/console/tenancy?org=" + q.org }, 8},
		{"users page", func(q querySeed) string { return "/console/users?org=" + q.org }, 8},
		{"portal catalogue", func(q querySeed) string { return "/portal/" }, 6},
		{"portal apps", func(q querySeed) string { return "/portal/apps" }, 8},
		{"portal app", func(q querySeed) string { return "/portal/apps/" + q.app }, 21},
		{"portal product", func(q querySeed) string { return "/portal/products/prod-0" }, 9},
		// Choosers read one page of 200 applications or teams; "My
		// applications" pages by keyset; subscriptions name their
		// applications by the API's application_path, with no list read.
		{"portal apps next page", func(q querySeed) string { return "/portal/apps?cursor=" + q.appsCursor() }, 8},
		{"subscriptions, any state", func(q querySeed) string { return "/console/subscriptions?state=&org=" + q.org }, 7},
	}
	for _, pg := range pages {
		t.Run(pg.name, func(t *testing.T) {
			s, l := small.pageQueries(t, pg.path(small)), large.pageQueries(t, pg.path(large))
			t.Logf("%d queries (10 rows), %d (500 rows):\n  %s", len(s), len(l), strings.Join(l, "\n  "))
			if len(l) != len(s) {
				t.Errorf("%d store queries with 500 rows, %d with 10: the count grows with the rows", len(l), len(s))
			}
			if len(l) > pg.max {
				t.Errorf("%d store queries, budget %d", len(l), pg.max)
			}
		})
	}
}

var (
	nextRE    = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
	keyNameRE = regexp.MustCompile(`<td>(key-\d{3})</td>`)
)

// TestKeyPagesVisitEveryKey: the keys page shows at most 100 keys, and
// following its "Next keys" links shows every key once, by name.
func TestKeyPagesVisitEveryKey(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 250 of everything")
	}
	q := seedQueries(t, 250)
	var got []string
	path := "/console/keys"
	for pages := 0; path != ""; pages++ {
		if pages > 10 {
			t.Fatalf("still a next page after %d", pages)
		}
		a := q.srv.Do(context.Background(), http.MethodGet, path, nil, q.owner)
		if a.Code != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", path, a.Code, a.Body)
		}
		names := keyNameRE.FindAllStringSubmatch(a.Body, -1)
		if len(names) > 100 {
			t.Fatalf("%s shows %d keys", path, len(names))
		}
		for _, m := range names {
			got = append(got, m[1])
		}
		path = ""
		if m := nextRE.FindStringSubmatch(a.Body); m != nil {
			path = html.UnescapeString(m[1])
		}
	}
	var want []string
	for i := range 250 {
		want = append(want, fmt.Sprintf("key-%03d", i))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%d keys over the pages, want the 250 once each in order:\n%v", len(got), got)
	}
}
