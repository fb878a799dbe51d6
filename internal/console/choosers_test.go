package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var (
	portalAppRE = regexp.MustCompile(`<li class="card"><h2><a href="/portal/apps/([^"]+)">([^<]+)</a>`)
	subAppRE    = regexp.MustCompile(`<tr><td class="mono">[^<]*</td><td>(.*?)</td>`)
)

// appsCursor is the cursor of the second page of the owner's
// applications on the portal's "My applications" page.
func (q querySeed) appsCursor() string {
	code, raw := q.srv.Admin(context.Background(), http.MethodGet, "/admin/v1/apps?limit=100", nil)
	var l struct {
		NextCursor string `json:"next_cursor"`
	}
	if code != http.StatusOK || json.Unmarshal(raw, &l) != nil {
		return "unreadable"
	}
	return url.QueryEscape(l.NextCursor)
}

// chooserCase is a form's chooser of applications or teams: the page it
// is on, and the markup of the <select> and of the text field.
type chooserCase struct {
	name, path, field, list string
}

// TestChoosersPastTheirBound: with more than 200 applications (and
// teams), the keys page's and the product page's application choosers
// and the portal's team chooser read one page of 200 and become a text
// field for the id with those 200 as suggestions; an id typed there that
// is not among them creates the key, the subscription, the application;
// "My applications" pages 100 at a time to the end with every row once;
// the subscriptions page names its rows' applications; and none of these
// pages reads a list of applications or teams without a LIMIT.
func TestChoosersPastTheirBound(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 210 of everything")
	}
	const n = 210
	q := seedQueries(t, n)
	ctx := context.Background()
	var lastTeam string
	for i := range 201 {
		code, raw := q.srv.Admin(ctx, http.MethodPost, "/admin/v1/teams", map[string]any{"name": fmt.Sprintf("zz-%03d", i), "org_id": q.org})
		if code != http.StatusCreated {
			t.Fatalf("team %d: %d %s", i, code, raw)
		}
		var v struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(raw, &v)
		lastTeam = v.ID
	}
	if err := q.srv.Compile(ctx); err != nil {
		t.Fatal(err)
	}
	get := func(t *testing.T, path string) string {
		t.Helper()
		a := q.srv.Do(ctx, http.MethodGet, path, nil, q.owner)
		if a.Code != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", path, a.Code, a.Body)
		}
		return a.Body
	}
	post := func(t *testing.T, page, path string, form url.Values) (int, string) {
		t.Helper()
		m := csrfRE.FindStringSubmatch(get(t, page))
		if m == nil {
			t.Fatalf("no form on %s", page)
		}
		form.Set("csrf", html.UnescapeString(m[1]))
		a := q.srv.Do(ctx, http.MethodPost, path, form, q.owner)
		return a.Code, a.Header.Get("Location") + a.Body
	}

	t.Run("choosers", func(t *testing.T) {
		for _, tc := range []struct {
			path, id, list, options string
		}{
			{"/console/keys", "k-app", "k-app-ids", `<option value="[^"]+">app-\d{3}</option>`},
			{"/portal/products/prod-0", "s-app", "s-app-ids", `<option value="[^"]+">app-\d{3}</option>`},
			{"/portal/apps", "na-team", "na-team-ids", `<option value="[^"]+">(?:search|zz-\d{3})</option>`},
		} {
			body := get(t, tc.path)
			if strings.Contains(body, `<select id="`+tc.id+`"`) {
				t.Errorf("%s: a <select> for %s past 200 choices", tc.path, tc.id)
			}
			if !strings.Contains(body, `<input id="`+tc.id+`" name="`) || !strings.Contains(body, `list="`+tc.list+`"`) {
				t.Errorf("%s: no text field for %s", tc.path, tc.id)
			}
			if !strings.Contains(body, `<label for="`+tc.id+`">`) {
				t.Errorf("%s: no label for %s", tc.path, tc.id)
			}
			dl := regexp.MustCompile(`(?s)<datalist id="` + tc.list + `">(.*?)</datalist>`).FindStringSubmatch(body)
			if dl == nil {
				t.Fatalf("%s: no datalist %s", tc.path, tc.list)
			}
			if got := len(regexp.MustCompile(tc.options).FindAllString(dl[1], -1)); got != 200 {
				t.Errorf("%s: %d suggestions, want the first 200", tc.path, got)
			}
		}
	})

	t.Run("typed ids", func(t *testing.T) {
		// web sorts after app-000..app-209: not among the 200 suggested.
		code, out := post(t, "/console/keys", "/console/keys", url.Values{"name": {"typed-key"}, "app_id": {q.app}})
		if code != http.StatusOK || !strings.Contains(out, "typed-key") {
			t.Errorf("key for a typed application id: %d\n%s", code, out)
		}
		_, raw := q.srv.Admin(ctx, http.MethodGet, "/admin/v1/keys?app_id="+q.app+"&limit=1000", nil)
		if !strings.Contains(string(raw), `"typed-key"`) {
			t.Errorf("no key typed-key on %s: %s", q.app, raw)
		}
		if code, out := post(t, "/console/keys", "/console/keys", url.Values{"name": {"stray-key"}, "app_id": {"app_nonesuch"}}); code == http.StatusOK {
			t.Errorf("key for an unknown application id: %d\n%s", code, out)
		}

		code, out = post(t, "/portal/products/prod-0", "/portal/products/prod-0/subscribe",
			url.Values{"app_id": {q.app}, "plan": {"starter"}, "reason": {"typed"}})
		if code != http.StatusSeeOther || !strings.HasPrefix(out, "/portal/apps/"+url.PathEscape(q.app)) {
			t.Errorf("subscription of a typed application id: %d\n%s", code, out)
		}
		_, raw = q.srv.Admin(ctx, http.MethodGet, "/admin/v1/subscriptions?app_id="+q.app, nil)
		if !strings.Contains(string(raw), `"prod-0"`) {
			t.Errorf("no subscription of %s to prod-0: %s", q.app, raw)
		}

		code, out = post(t, "/portal/apps", "/portal/apps", url.Values{"team_id": {lastTeam}, "name": {"typed-app"}})
		if code != http.StatusSeeOther || !strings.HasPrefix(out, "/portal/apps/") {
			t.Fatalf("application in a typed team id: %d\n%s", code, out)
		}
		_, raw = q.srv.Admin(ctx, http.MethodGet, "/admin/v1/apps?team_id="+lastTeam, nil)
		if !strings.Contains(string(raw), `"typed-app"`) {
			t.Errorf("no application typed-app in team %s: %s", lastTeam, raw)
		}
	})

	t.Run("my applications", func(t *testing.T) {
		var got []string
		seen := map[string]bool{}
		path := "/portal/apps"
		pages := 0
		for ; path != ""; pages++ {
			if pages > 10 {
				t.Fatalf("still a next page after %d", pages)
			}
			body := get(t, path)
			rows := portalAppRE.FindAllStringSubmatch(body, -1)
			if len(rows) > 100 {
				t.Fatalf("%s shows %d applications", path, len(rows))
			}
			for _, m := range rows {
				if seen[m[1]] {
					t.Errorf("%s shows %s again", path, m[2])
				}
				seen[m[1]] = true
				got = append(got, html.UnescapeString(m[2]))
			}
			path = ""
			if m := nextRE.FindStringSubmatch(body); m != nil {
				if path = html.UnescapeString(m[1]); !strings.HasPrefix(path, "/portal/apps?") {
					t.Fatalf("the next link leaves the page: %q", path)
				}
			}
		}
		var want []string
		for i := range n {
			want = append(want, fmt.Sprintf("app-%03d", i))
		}
		want = append(want, "typed-app", "web")
		slices.Sort(got) // in the admin API's order, which groups by team
		if pages != 3 || !slices.Equal(got, want) {
			t.Errorf("%d pages of %d applications, want 3 pages of %d once each:\n%v", pages, len(got), len(want), got)
		}
	})

	t.Run("subscriptions named", func(t *testing.T) {
		body := get(t, "/console/subscriptions?state=")
		cells := subAppRE.FindAllStringSubmatch(body, -1)
		if len(cells) == 0 {
			t.Fatal("no subscription rows")
		}
		for _, m := range cells {
			if !regexp.MustCompile(`^(app-\d{3}|web)$`).MatchString(m[1]) {
				t.Errorf("a subscription's application shown as %q, want its name", m[1])
			}
		}
	})

	t.Run("bounded reads", func(t *testing.T) {
		for _, path := range []string{"/console/keys", "/portal/products/prod-0", "/portal/apps", "/portal/apps?cursor=" + q.appsCursor(),
			"/console/subscriptions?state="} {
			t.Run(path, func(t *testing.T) {
				for _, s := range q.pageQueries(t, path) {
					if listReadRE.MatchString(s) && !strings.Contains(s, "WHERE user_id ") && !strings.Contains(s, " LIMIT ") {
						t.Errorf("a whole list read: %s", s)
					}
				}
			})
		}
	})
}
