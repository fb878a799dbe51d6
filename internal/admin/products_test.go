package admin_test

import (
	"fmt"
	"strings"
	"testing"
)

// productWorld: organisation acme with teams search (owns product
// support) and web (consumes it, application webapp), organisation other
// with team ext (application extapp); a user per role below.
func productWorld(t *testing.T, visibility string) (*world, map[string]string) {
	w := newWorld(t)
	ids := map[string]string{}
	org := w.must(w.as("super", "POST", "/admin/v1/orgs", `{"name":"acme"}`), 201, "org").body["id"].(string)
	other := w.must(w.as("super", "POST", "/admin/v1/orgs", `{"name":"other"}`), 201, "org").body["id"].(string)
	for _, tm := range []struct{ name, org string }{{"search", org}, {"web", org}, {"ext", other}} {
		ids[tm.name] = w.must(w.as("super", "POST", "/admin/v1/teams", fmt.Sprintf(`{"name":%q,"org_id":%q}`, tm.name, tm.org)), 201, "team").body["id"].(string)
	}
	ids["webapp"] = w.must(w.as("super", "POST", "/admin/v1/apps", fmt.Sprintf(`{"name":"webapp","team_id":%q}`, ids["web"])), 201, "app").body["id"].(string)
	ids["extapp"] = w.must(w.as("super", "POST", "/admin/v1/apps", fmt.Sprintf(`{"name":"extapp","team_id":%q}`, ids["ext"])), 201, "app").body["id"].(string)
	for _, u := range []struct{ name, role, org, team string }{
		{"search-admin", "admin", org, ids["search"]}, {"search-dev", "developer", org, ids["search"]},
		{"web-dev", "developer", org, ids["web"]}, {"web-viewer", "viewer", org, ids["web"]},
		{"ext-dev", "developer", other, ids["ext"]}, {"search-auditor", "auditor", org, ids["search"]},
	} {
		_, tok := w.tokenFor(w.newUser(u.role, u.org, u.team))
		w.creds[u.name] = "Bearer " + tok
	}
	w.must(w.as("search-admin", "POST", "/admin/v1/products", fmt.Sprintf(`{"name":"support","team_id":%q,"visibility":%q}`, ids["search"], visibility)), 201, "product")
	w.must(w.as("search-admin", "POST", "/admin/v1/products/support/plans", `{"name":"free","approval":"manual"}`), 201, "plan")
	w.must(w.as("search-admin", "POST", "/admin/v1/products/support/versions", `{"version":"v1","models":{"m":"m"}}`), 201, "version")
	w.must(w.as("search-admin", "POST", "/admin/v1/products/support/versions/v1/publish", ""), 200, "publish")
	return w, ids
}

// TestSubscriptionWhoMay: a developer of the consuming team requests; a
// developer of the product's team may not approve, its admin may; the
// consumer may not approve its own request; an auditor of the product's
// team reads it; another organisation's developer sees an internal product
// not at all.
func TestSubscriptionWhoMay(t *testing.T) {
	w, ids := productWorld(t, "internal")
	req := fmt.Sprintf(`{"application":%q,"product":"support","plan":"free","reason":"help desk"}`, ids["webapp"])
	w.must(w.as("web-viewer", "POST", "/admin/v1/subscriptions", req), 403, "a viewer requests")
	sub := w.must(w.as("web-dev", "POST", "/admin/v1/subscriptions", req), 201, "the consumer's developer requests")
	if sub.body["state"] != "pending" || sub.body["requested_by"] == "" {
		t.Fatalf("requested: %v", sub.body)
	}
	id := sub.body["id"].(string)
	w.must(w.as("web-dev", "POST", "/admin/v1/subscriptions", req), 409, "a second open subscription")
	w.must(w.as("web-dev", "POST", "/admin/v1/subscriptions/"+id+"/approve", ""), 403, "the consumer approves its own request")
	w.must(w.as("search-dev", "POST", "/admin/v1/subscriptions/"+id+"/approve", ""), 403, "the product team's developer approves")
	w.must(w.as("search-auditor", "GET", "/admin/v1/subscriptions/"+id, ""), 200, "the product team's auditor reads")
	ok := w.must(w.as("search-admin", "POST", "/admin/v1/subscriptions/"+id+"/approve", `{"note":"welcome"}`), 200, "the product team's admin approves")
	if ok.body["state"] != "active" || ok.body["note"] != "welcome" || !strings.Contains(fmt.Sprint(ok.body["decided_by"]), "@") {
		t.Fatalf("approved: %v", ok.body)
	}
	w.must(w.as("search-admin", "POST", "/admin/v1/subscriptions/"+id+"/approve", ""), 409, "approving twice")
	w.must(w.as("web-dev", "POST", "/admin/v1/subscriptions/"+id+"/cancel", ""), 200, "the consumer cancels")
	// Another organisation: an internal product is invisible.
	ext := fmt.Sprintf(`{"application":%q,"product":"support","plan":"free"}`, ids["extapp"])
	w.must(w.as("ext-dev", "POST", "/admin/v1/subscriptions", ext), 404, "another organisation subscribes to an internal product")
	w.must(w.as("ext-dev", "GET", "/admin/v1/products/support", ""), 404, "another organisation reads an internal product")
	w.must(w.as("web-dev", "GET", "/admin/v1/products/support", ""), 200, "another team of the organisation reads an internal product")
	// The audit log has the request, the approval and the cancellation.
	audit := w.must(w.as("super", "GET", "/admin/v1/audit?object_id="+id, ""), 200, "audit").raw
	for _, a := range []string{"subscription.create", "subscription.approve", "subscription.cancel"} {
		if !strings.Contains(audit, a) {
			t.Fatalf("audit lacks %s: %s", a, audit)
		}
	}
}

// TestProductVisibility: private is its team's, internal its
// organisation's, public everyone's.
func TestProductVisibility(t *testing.T) {
	for _, tc := range []struct {
		visibility string
		web, ext   int
	}{{"private", 404, 404}, {"internal", 200, 404}, {"public", 200, 200}} {
		t.Run(tc.visibility, func(t *testing.T) {
			w, _ := productWorld(t, tc.visibility)
			w.must(w.as("search-dev", "GET", "/admin/v1/products/support", ""), 200, "its team")
			w.must(w.as("web-dev", "GET", "/admin/v1/products/support", ""), tc.web, "another team")
			w.must(w.as("ext-dev", "GET", "/admin/v1/products/support", ""), tc.ext, "another organisation")
		})
	}
}

// TestPublishNeedsSecondPerson: with publish_approval, the first publish
// asks (202, still a draft) and only another person publishes.
func TestPublishNeedsSecondPerson(t *testing.T) {
	w, ids := productWorld(t, "internal")
	_, tok := w.tokenFor(w.newUser("admin", w.must(w.as("super", "GET", "/admin/v1/teams/"+ids["search"], ""), 200, "team").body["org_id"].(string), ids["search"]))
	w.creds["search-admin2"] = "Bearer " + tok
	w.must(w.as("search-admin", "PATCH", "/admin/v1/products/support", `{"publish_approval":true}`), 200, "ask for a second person")
	w.must(w.as("search-admin", "POST", "/admin/v1/products/support/versions", `{"version":"v2","models":{"m":"m"}}`), 201, "draft")
	for i := range 2 {
		r := w.must(w.as("search-admin", "POST", "/admin/v1/products/support/versions/v2/publish", ""), 202, "the author publishes")
		if r.body["state"] != "draft" {
			t.Fatalf("try %d: %v", i, r.body)
		}
	}
	r := w.must(w.as("search-admin2", "POST", "/admin/v1/products/support/versions/v2/publish", ""), 200, "a second person publishes")
	if r.body["state"] != "published" {
		t.Fatalf("published: %v", r.body)
	}
	// A published version does not change; a sunset before the deprecation is refused.
	w.must(w.as("search-admin", "PATCH", "/admin/v1/products/support/versions/v2", `{"docs":"x"}`), 409, "edit a published version")
	w.must(w.as("search-admin", "POST", "/admin/v1/products/support/versions/v2/deprecate",
		`{"deprecated_at":"2027-01-02T00:00:00Z","sunset_at":"2027-01-01T00:00:00Z"}`), 400, "sunset before deprecation")
	d := w.must(w.as("search-admin", "POST", "/admin/v1/products/support/versions/v2/deprecate", `{"sunset_at":"2030-01-01T00:00:00Z","successor":"v1"}`), 200, "deprecate")
	if d.body["state"] != "deprecated" || d.body["successor"] != "v1" {
		t.Fatalf("deprecated: %v", d.body)
	}
	w.must(w.as("search-admin", "POST", "/admin/v1/products/support/versions/v2/publish", ""), 409, "publish a deprecated version")
	w.must(w.as("search-admin", "POST", "/admin/v1/products/support/versions/v2/rollback", ""), 200, "rollback")
}

// TestVersionDiff: a draft's changes against the published version, field
// by field.
func TestVersionDiff(t *testing.T) {
	w, _ := productWorld(t, "internal")
	w.must(w.as("search-admin", "POST", "/admin/v1/products/support/versions", `{"version":"v2","models":{"m":"m","fast":"m"},"docs":"# v2"}`), 201, "draft")
	d := w.must(w.as("search-dev", "GET", "/admin/v1/products/support/versions/v2/diff", ""), 200, "diff against the published one")
	ch, _ := d.body["changes"].(map[string]any)
	if d.body["against"] != "v1" || len(ch) != 3 || ch["models"] == nil || ch["docs"] == nil || ch["state"] == nil {
		t.Fatalf("diff %v", d.body)
	}
	if s := fmt.Sprint(ch["state"]); s != "[published draft]" {
		t.Fatalf("state change %s", s)
	}
	w.must(w.as("search-dev", "GET", "/admin/v1/products/support/versions/v2/diff?against=v9", ""), 404, "against an unknown version")
}

// TestProductAndSubscriptionPages: the products and subscriptions lists
// page by keyset (limit, cursor, next_cursor), over the rows the caller
// may see only, each row once; a subscription carries its application's
// path; a plan change is the approver's, audited.
func TestProductAndSubscriptionPages(t *testing.T) {
	w, ids := productWorld(t, "private")
	// Five more products: three private to search (invisible to web-dev),
	// two public.
	for i, vis := range []string{"private", "public", "private", "public", "private"} {
		w.must(w.as("search-admin", "POST", "/admin/v1/products", fmt.Sprintf(`{"name":"p%d","team_id":%q,"visibility":%q}`, i, ids["search"], vis)), 201, "product")
		w.must(w.as("search-admin", "POST", fmt.Sprintf("/admin/v1/products/p%d/plans", i), `{"name":"free","approval":"auto"}`), 201, "plan")
		w.must(w.as("search-admin", "POST", fmt.Sprintf("/admin/v1/products/p%d/plans", i), `{"name":"pro","approval":"manual"}`), 201, "plan")
	}
	pages := func(who, path string, limit int) (names []string, n int) {
		t.Helper()
		cursor := ""
		for n = 1; ; n++ {
			p := fmt.Sprintf("%s?limit=%d", path, limit)
			if cursor != "" {
				p += "&cursor=" + cursor
			}
			r := w.must(w.as(who, "GET", p, ""), 200, "page")
			data := r.body["data"].([]any)
			if len(data) > limit {
				t.Fatalf("%d rows on a page of %d", len(data), limit)
			}
			for _, d := range data {
				m := d.(map[string]any)
				name, _ := m["name"].(string)
				if name == "" {
					name = m["product"].(string) + "@" + m["application_path"].(string)
				}
				names = append(names, name)
			}
			next, _ := r.body["next_cursor"].(string)
			if next == "" {
				return names, n
			}
			cursor = next
		}
	}
	for _, tc := range []struct {
		who, want string
		limit     int
	}{
		{"search-admin", "p0 p1 p2 p3 p4 support", 2},
		{"search-admin", "p0 p1 p2 p3 p4 support", 1},
		{"web-dev", "p1 p3", 1},
		{"ext-dev", "p1 p3", 5},
	} {
		names, _ := pages(tc.who, "/admin/v1/products", tc.limit)
		if got := strings.Join(names, " "); got != tc.want {
			t.Errorf("%s, limit %d: products %q, want %q", tc.who, tc.limit, got, tc.want)
		}
	}
	for _, p := range []string{"p1", "p3"} {
		w.must(w.as("web-dev", "POST", "/admin/v1/subscriptions", fmt.Sprintf(`{"application":%q,"product":%q,"plan":"free"}`, ids["webapp"], p)), 201, "subscribe")
		w.must(w.as("ext-dev", "POST", "/admin/v1/subscriptions", fmt.Sprintf(`{"application":%q,"product":%q,"plan":"free"}`, ids["extapp"], p)), 201, "subscribe")
	}
	names, n := pages("web-dev", "/admin/v1/subscriptions", 1)
	if got := strings.Join(names, " "); got != "p1@acme/web/webapp p3@acme/web/webapp" || n != 2 {
		t.Errorf("web-dev's subscriptions %q in %d pages", got, n)
	}
	names, _ = pages("search-admin", "/admin/v1/subscriptions", 3)
	if len(names) != 4 {
		t.Errorf("the product team sees every subscription to its products: %v", names)
	}
	w.must(w.as("web-dev", "GET", "/admin/v1/products?cursor=bogus", ""), 400, "a cursor this list did not give")
	w.must(w.as("web-dev", "GET", "/admin/v1/subscriptions?limit=0", ""), 400, "limit 0")

	// A plan change: the approver's, not the consumer's.
	subs := w.must(w.as("web-dev", "GET", "/admin/v1/subscriptions?product=p1", ""), 200, "list").body["data"].([]any)
	id := subs[0].(map[string]any)["id"].(string)
	w.must(w.as("web-dev", "PATCH", "/admin/v1/subscriptions/"+id, `{"plan":"pro"}`), 403, "the consumer changes its plan")
	w.must(w.as("search-admin", "PATCH", "/admin/v1/subscriptions/"+id, `{"plan":"gold"}`), 404, "a plan the product lacks")
	ok := w.must(w.as("search-admin", "PATCH", "/admin/v1/subscriptions/"+id, `{"plan":"pro"}`), 200, "the approver changes the plan")
	if ok.body["plan"] != "pro" || ok.body["application_path"] != "acme/web/webapp" {
		t.Fatalf("plan change: %v", ok.body)
	}
	if audit := w.must(w.as("super", "GET", "/admin/v1/audit?object_id="+id, ""), 200, "audit").raw; !strings.Contains(audit, "subscription.plan") {
		t.Fatalf("the plan change is not audited: %s", audit)
	}
}
