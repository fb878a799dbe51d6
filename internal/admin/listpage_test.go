package admin_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/store"
)

// pagedWorld is the two-tenant world with more of every growing list:
// teams and applications (names repeating across teams), users with
// bindings, budget alerts and captures in both organisations.
func pagedWorld(t *testing.T) *world {
	w := newWorld(t)
	ctx := context.Background()
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	for _, x := range []string{"A", "B"} {
		org := w.ids["org"+x]
		for i := range 3 {
			team := w.must(w.as("super", "POST", "/admin/v1/teams", fmt.Sprintf(`{"name":"t%d","org_id":%q}`, 2-i, org)), 201, "team").body["id"].(string)
			for j := range 3 {
				w.must(w.as("super", "POST", "/admin/v1/apps", fmt.Sprintf(`{"name":"a%d","team_id":%q}`, (j*2)%3, team)), 201, "app")
			}
			w.newUser("developer", org, team)
		}
		w.newUser("viewer", org, "")
		for i := range 7 {
			sub := []string{org, w.ids["team"+x], w.ids["app"+x], w.ids["key"+x]}[i%4]
			if _, err := w.e.st.RecordBudgetAlert(ctx, sub, base, 10*(i+1), 1, 2, base.Add(time.Duration(i/3)*time.Minute)); err != nil {
				t.Fatal(err)
			}
			c := store.Capture{RequestID: fmt.Sprintf("req-%s-%d", x, (i*3)%7), Time: base.Add(time.Duration(i/2) * time.Second),
				OrgID: org, TeamID: w.ids["team"+x], AppID: w.ids["app"+x], KeyID: w.ids["key"+x], Status: "ok",
				ExpiresAt: time.Now().Add(time.Hour)}
			if err := w.e.st.InsertCapture(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
	}
	return w
}

// rowID names a row of a list answer.
func rowID(d any) string {
	m := d.(map[string]any)
	if id, ok := m["id"]; ok {
		return fmt.Sprint(id)
	}
	if id, ok := m["request_id"]; ok {
		return fmt.Sprint(id)
	}
	return fmt.Sprintf("%v/%v/%v", m["subject"], m["percent"], m["ts"])
}

// walkAs follows next_cursor from path with limit n as principal p, and
// returns the first status that is not 200 (or 200) and every row.
func (w *world) walkAs(p, path string, n int) (int, []string) {
	w.e.t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var got []string
	cursor := ""
	for pages := 0; pages < 500; pages++ {
		u := fmt.Sprintf("%s%slimit=%d", path, sep, n)
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		r := w.as(p, "GET", u, "")
		if r.code != 200 {
			return r.code, got
		}
		data := r.body["data"].([]any)
		if len(data) > n {
			w.e.t.Fatalf("GET %s: %d rows", u, len(data))
		}
		for _, d := range data {
			got = append(got, rowID(d))
		}
		next, _ := r.body["next_cursor"].(string)
		if next == "" {
			return 200, got
		}
		if len(data) == 0 {
			w.e.t.Fatalf("GET %s: an empty page with a next_cursor", u)
		}
		cursor = next
	}
	w.e.t.Fatalf("GET %s: still a next_cursor after 500 pages", path)
	return 0, nil
}

// listPaths are the paged lists, with the ids they need.
func listPaths(w *world) []string {
	return []string{
		"/admin/v1/orgs", "/admin/v1/teams", "/admin/v1/teams?org_id=" + w.ids["orgA"], "/admin/v1/apps",
		"/admin/v1/apps?org_id=" + w.ids["orgA"], "/admin/v1/apps?team_id=" + w.ids["teamB"],
		"/admin/v1/users", "/admin/v1/role-bindings", "/admin/v1/role-bindings?org_id=" + w.ids["orgA"],
		"/admin/v1/budget-alerts?org_id=" + w.ids["orgA"], "/admin/v1/budget-alerts?org_id=" + w.ids["orgB"],
		"/admin/v1/request-log?org_id=" + w.ids["orgA"], "/admin/v1/request-log", "/admin/v1/keys",
	}
}

// TestListPagesGiveTheWholeList: for every principal, every growing list
// walked page by page, in pages of several sizes, answers what the whole
// list answers (the same status; every row once, none missing, none
// added), so a page never shows a row the whole list would not.
func TestListPagesGiveTheWholeList(t *testing.T) {
	w := pagedWorld(t)
	for _, path := range listPaths(w) {
		for _, p := range []string{"super", "ownerA", "tadminA", "devA", "audA", "tadminB"} {
			t.Run(p+" "+path, func(t *testing.T) {
				whole := w.as(p, "GET", path, "")
				var want []string
				if whole.code == 200 {
					for _, d := range whole.body["data"].([]any) {
						want = append(want, rowID(d))
					}
				}
				slices.Sort(want)
				for _, n := range []int{1, 2, 5, 500} {
					code, got := w.walkAs(p, path, n)
					if code != whole.code {
						t.Fatalf("pages of %d: %d, the whole list %d", n, code, whole.code)
					}
					sorted := slices.Clone(got)
					slices.Sort(sorted)
					if len(slices.Compact(slices.Clone(sorted))) != len(got) {
						t.Errorf("pages of %d show a row twice: %v", n, got)
					}
					if !slices.Equal(sorted, want) {
						t.Errorf("pages of %d:\n got %v\nwant %v", n, sorted, want)
					}
				}
			})
		}
	}
}

// TestListPagesStayInTheTenant: a principal's pages hold only its own
// tenant's rows (the whole list is checked against the same rows above).
func TestListPagesStayInTheTenant(t *testing.T) {
	w := pagedWorld(t)
	// What each principal may read of each list, by the organisation or
	// team it belongs to.
	for _, tc := range []struct {
		p, path string
		want    int // rows
		mine    func(row map[string]any) bool
	}{
		{"tadminB", "/admin/v1/apps", 1, func(m map[string]any) bool { return m["team_id"] == w.ids["teamB"] }},
		{"tadminB", "/admin/v1/teams", 1, func(m map[string]any) bool { return m["id"] == w.ids["teamB"] }},
		{"tadminB", "/admin/v1/orgs", 1, func(m map[string]any) bool { return m["id"] == w.ids["orgB"] }},
		{"devA", "/admin/v1/apps", 1, func(m map[string]any) bool { return m["team_id"] == w.ids["teamA"] }},
		{"ownerA", "/admin/v1/teams", 4, func(m map[string]any) bool { return m["org_id"] == w.ids["orgA"] }},
		{"ownerA", "/admin/v1/role-bindings", 0, func(m map[string]any) bool { return m["org_id"] == w.ids["orgA"] }},
		{"audA", "/admin/v1/users", 0, func(m map[string]any) bool {
			for _, b := range m["bindings"].([]any) {
				if b.(map[string]any)["org_id"] == w.ids["orgA"] {
					return true
				}
			}
			return false
		}},
	} {
		t.Run(tc.p+" "+tc.path, func(t *testing.T) {
			sep := "?"
			if strings.Contains(tc.path, "?") {
				sep = "&"
			}
			rows, cursor := 0, ""
			for pages := 0; pages < 100; pages++ {
				u := tc.path + sep + "limit=2"
				if cursor != "" {
					u += "&cursor=" + url.QueryEscape(cursor)
				}
				r := w.must(w.as(tc.p, "GET", u, ""), 200, u)
				for _, d := range r.body["data"].([]any) {
					rows++
					if !tc.mine(d.(map[string]any)) {
						t.Errorf("%s shows %v", u, d)
					}
				}
				if cursor, _ = r.body["next_cursor"].(string); cursor == "" {
					break
				}
			}
			if tc.want > 0 && rows != tc.want {
				t.Errorf("%d rows, want %d", rows, tc.want)
			}
			if rows == 0 {
				t.Errorf("no rows")
			}
		})
	}
}

// TestListPageNotShiftedByInserts: a row written between two pages,
// before the cursor in the list's order (before the first page's first
// row), does not shift the next page: no row of the first page comes
// again, none is skipped.
func TestListPageNotShiftedByInserts(t *testing.T) {
	w := pagedWorld(t)
	ctx := context.Background()
	for _, tc := range []struct {
		path   string
		insert func(first map[string]any)
	}{
		{"/admin/v1/apps?org_id=" + w.ids["orgA"], func(first map[string]any) {
			w.must(w.as("super", "POST", "/admin/v1/apps", fmt.Sprintf(`{"name":"0","team_id":%q}`, first["team_id"])), 201, "app")
		}},
		{"/admin/v1/teams", func(first map[string]any) {
			w.must(w.as("super", "POST", "/admin/v1/teams", fmt.Sprintf(`{"name":"0","org_id":%q}`, first["org_id"])), 201, "team")
		}},
		{"/admin/v1/orgs", func(map[string]any) {
			w.must(w.as("super", "POST", "/admin/v1/orgs", `{"name":"0"}`), 201, "org")
		}},
		{"/admin/v1/users", func(map[string]any) {
			w.must(w.as("super", "POST", "/admin/v1/users", fmt.Sprintf(`{"email":"0@example.com","bindings":[{"role":"viewer","org_id":%q}]}`,
				w.ids["orgA"])), 201, "user")
		}},
		{"/admin/v1/role-bindings", func(map[string]any) {
			// An id below every generated one ("usr_" and 16 hex digits).
			if err := w.e.st.CreateUser(ctx, store.User{ID: "usr_0", Email: "usr0@example.com", CreatedAt: time.Now(), UpdatedAt: time.Now()},
				store.AuditEntry{ID: "aud_usr0", Actor: "t", Action: "x"}); err != nil {
				t.Fatal(err)
			}
			if err := w.e.st.AddBinding(ctx, store.Binding{ID: "rb_0", UserID: "usr_0", Role: "viewer", OrgID: w.ids["orgA"], CreatedAt: time.Now()},
				store.AuditEntry{ID: "aud_rb0", Actor: "t", Action: "x"}); err != nil {
				t.Fatal(err)
			}
		}},
		{"/admin/v1/budget-alerts?org_id=" + w.ids["orgA"], func(map[string]any) {
			if _, err := w.e.st.RecordBudgetAlert(ctx, w.ids["orgA"], time.Now(), 99, 1, 2, time.Now()); err != nil {
				t.Fatal(err)
			}
		}},
		{"/admin/v1/request-log?org_id=" + w.ids["orgA"], func(map[string]any) {
			if err := w.e.st.InsertCapture(ctx, store.Capture{RequestID: "req-new", Time: time.Now(), OrgID: w.ids["orgA"],
				Status: "ok", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			get := func(cursor string) ([]string, map[string]any, string) {
				u := tc.path + sepOf(tc.path) + "limit=1"
				if cursor != "" {
					u += "&cursor=" + url.QueryEscape(cursor)
				}
				r := w.must(w.as("super", "GET", u, ""), 200, u)
				var ids []string
				var first map[string]any
				for _, d := range r.body["data"].([]any) {
					ids = append(ids, rowID(d))
					if first == nil {
						first = d.(map[string]any)
					}
				}
				next, _ := r.body["next_cursor"].(string)
				return ids, first, next
			}
			page1, first, cursor := get("")
			if cursor == "" {
				t.Fatal("no second page")
			}
			page2, _, _ := get(cursor)
			tc.insert(first)
			if again, _, _ := get(""); slices.Equal(again, page1) {
				t.Fatalf("the new row is not before the cursor: the first page is still %v", page1)
			}
			if after, _, _ := get(cursor); !slices.Equal(after, page2) {
				t.Errorf("the second page was %v, after an insert %v (the first %v)", page2, after, page1)
			}
		})
	}
}

func sepOf(path string) string {
	if strings.Contains(path, "?") {
		return "&"
	}
	return "?"
}

// TestListPageRefusals: a bad limit or a cursor the list did not answer
// (another list's included) is a 400 with its code, never a 500 or a list
// started again.
func TestListPageRefusals(t *testing.T) {
	w := pagedWorld(t)
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	// A real cursor of each list.
	cursors := map[string]string{}
	for _, path := range []string{"/admin/v1/orgs", "/admin/v1/teams", "/admin/v1/apps", "/admin/v1/users", "/admin/v1/role-bindings",
		"/admin/v1/budget-alerts?org_id=" + w.ids["orgA"], "/admin/v1/request-log?org_id=" + w.ids["orgA"]} {
		r := w.must(w.as("super", "GET", path+sepOf(path)+"limit=1", ""), 200, path)
		c, _ := r.body["next_cursor"].(string)
		if c == "" {
			t.Fatalf("%s: no next_cursor", path)
		}
		cursors[strings.SplitN(path, "?", 2)[0]] = c
	}
	type tc struct{ path, query, code string }
	var cases []tc
	for list := range cursors {
		for _, bad := range []string{"0", "-1", "1001", "x", "1.5"} {
			cases = append(cases, tc{list, "limit=" + bad, "invalid_limit"})
		}
		for _, bad := range []string{"not base64!", b64("zz\nx"), "%25%25"} {
			cases = append(cases, tc{list, "cursor=" + url.QueryEscape(bad), "invalid_cursor"})
		}
		for other, c := range cursors {
			if other != list {
				cases = append(cases, tc{list, "cursor=" + url.QueryEscape(c), "invalid_cursor"})
			}
		}
	}
	cases = append(cases,
		tc{"/admin/v1/role-bindings", "cursor=" + b64("rb1\nusr\norg\nxteam\nviewer"), "invalid_cursor"}, // the team's mark missing
		tc{"/admin/v1/budget-alerts", "cursor=" + b64("ba1\nx\norg\n1\n10"), "invalid_cursor"},
		tc{"/admin/v1/request-log", "cursor=" + b64("c1\n-4\nreq"), "invalid_cursor"},
		tc{"/admin/v1/apps", "cursor=" + b64("ua1\norg\nteam\nname"), "invalid_cursor"}, // three of four fields
	)
	for _, c := range cases {
		path := c.path
		if path == "/admin/v1/budget-alerts" || path == "/admin/v1/request-log" {
			path += "?org_id=" + w.ids["orgA"]
		}
		u := path + sepOf(path) + c.query
		r := w.as("super", "GET", u, "")
		if r.code != 400 || !containsCode(r, c.code) {
			t.Errorf("GET %s: %d %s, want 400 %s", u, r.code, r.raw, c.code)
		}
	}
}

// TestListPagesUnderDenyRules: where a deny rule hides part of a scope
// the principal reads (its developer binding on a team refuses what its
// owner binding on the organisation allows), the pages still answer
// exactly the whole list: each row is decided as the whole list decides
// it, and a page reads on past the hidden rows.
func TestListPagesUnderDenyRules(t *testing.T) {
	w := pagedWorld(t)
	u := w.must(w.as("super", "POST", "/admin/v1/users", fmt.Sprintf(`{"email":"mixed@example.com","password":%q,"bindings":[
		{"role":"owner","org_id":%q},{"role":"developer","org_id":%q,"team_id":%q}]}`, password, w.ids["orgA"], w.ids["orgA"], w.ids["teamA"])), 201, "user")
	_, tok := w.tokenFor(u.body["id"].(string) + "\x00mixed@example.com")
	w.creds["mixed"] = "Bearer " + tok
	// More of teamA's rows than a page, all hidden.
	for i := range 4 {
		w.must(w.as("super", "POST", "/admin/v1/apps", fmt.Sprintf(`{"name":"h%d","team_id":%q}`, i, w.ids["teamA"])), 201, "app")
		w.newUser("viewer", w.ids["orgA"], w.ids["teamA"])
		w.must(w.as("super", "POST", "/admin/v1/keys", fmt.Sprintf(`{"name":"h%d","app_id":%q}`, i, w.ids["appA"])), 201, "key")
	}
	// And keys the owner binding shows, in another team.
	team := w.must(w.as("super", "POST", "/admin/v1/teams", fmt.Sprintf(`{"name":"open","org_id":%q}`, w.ids["orgA"])), 201, "team").body["id"].(string)
	app := w.must(w.as("super", "POST", "/admin/v1/apps", fmt.Sprintf(`{"name":"open","team_id":%q}`, team)), 201, "app").body["id"].(string)
	for i := range 3 {
		w.must(w.as("super", "POST", "/admin/v1/keys", fmt.Sprintf(`{"name":"v%d","app_id":%q}`, i, app)), 201, "key")
	}
	f := fileConfig()
	f.Access.Deny = []config.DenyRule{{Roles: []string{"developer"}, Actions: []string{"apps.read", "teams.read", "users.read", "keys.read"}}}
	w.e.ctl.setFile(f)
	w.must(w.as("super", "POST", "/admin/v1/reload", ""), 200, "reload with the deny rule")
	for _, path := range []string{"/admin/v1/apps", "/admin/v1/apps?org_id=" + w.ids["orgA"], "/admin/v1/teams", "/admin/v1/users", "/admin/v1/keys",
		"/admin/v1/role-bindings", "/admin/v1/role-bindings?org_id=" + w.ids["orgA"]} {
		t.Run(path, func(t *testing.T) {
			whole := w.must(w.as("mixed", "GET", path, ""), 200, path)
			var want []string
			for _, d := range whole.body["data"].([]any) {
				want = append(want, rowID(d))
			}
			if len(want) == 0 {
				t.Fatal("the whole list is empty")
			}
			slices.Sort(want)
			for _, n := range []int{1, 2, 3} {
				code, got := w.walkAs("mixed", path, n)
				slices.Sort(got)
				if code != 200 || !slices.Equal(got, want) {
					t.Errorf("pages of %d: %d\n got %v\nwant %v", n, code, got, want)
				}
			}
		})
	}
}
