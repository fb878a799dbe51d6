package admin_test

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// TestAttackKeyPageCursorShowsOnlyVisibleKeys: a team admin of team A
// paging the key list gets a cursor that names only keys it may read
// (never team B's key name or id), and the walk gives each of its own
// keys once.
func TestAttackKeyPageCursorShowsOnlyVisibleKeys(t *testing.T) {
	w := newWorld(t)
	foreign := w.must(w.as("super", "POST", "/admin/v1/keys", fmt.Sprintf(`{"name":"aaa-b-secret-plan","app_id":%q}`, w.ids["appB"])), 201, "key")
	fid := foreign.body["id"].(string)
	for i := range 3 {
		w.must(w.as("super", "POST", "/admin/v1/keys", fmt.Sprintf(`{"name":"b%d-b-key","app_id":%q}`, i, w.ids["appB"])), 201, "key")
	}
	for _, limit := range []int{1, 2, 1000} {
		var names []string
		cursor := ""
		for pages := 0; ; pages++ {
			p := fmt.Sprintf("/admin/v1/keys?limit=%d", limit)
			if cursor != "" {
				p += "&cursor=" + url.QueryEscape(cursor)
			}
			r := w.must(w.as("tadminA", "GET", p, ""), 200, p)
			for _, d := range r.body["data"].([]any) {
				names = append(names, d.(map[string]any)["name"].(string))
			}
			next, _ := r.body["next_cursor"].(string)
			raw, _ := base64.RawURLEncoding.DecodeString(next)
			if strings.Contains(string(raw), "-b-") || strings.Contains(string(raw), fid) {
				t.Fatalf("limit %d: next_cursor names a key of team B: %q", limit, raw)
			}
			if next == "" {
				break
			}
			if len(r.body["data"].([]any)) != limit {
				t.Errorf("limit %d: a page of %d keys has a next_cursor", limit, len(r.body["data"].([]any)))
			}
			if pages > 20 {
				t.Fatalf("limit %d: no end", limit)
			}
			cursor = next
		}
		if strings.Join(names, ",") != "keyA" {
			t.Errorf("limit %d: team A's admin sees %v, want [keyA]", limit, names)
		}
	}
}

// TestAttackNewRoutesRefuseRepeatedFields: the prompt render, the
// organisation webhook and the plan change refuse a body naming a field
// twice or in another case (400), and change nothing: a case variant must
// not smuggle a second URL or plan past what a reader of the body sees.
func TestAttackNewRoutesRefuseRepeatedFields(t *testing.T) {
	w, ids := productWorld(t, "internal")
	w.must(w.as("search-admin", "POST", "/admin/v1/products/support/plans", `{"name":"pro","approval":"manual"}`), 201, "plan")
	sub := w.must(w.as("web-dev", "POST", "/admin/v1/subscriptions", fmt.Sprintf(`{"application":%q,"product":"support","plan":"free"}`, ids["webapp"])), 201, "subscribe")
	subID := sub.body["id"].(string)
	w.must(w.as("search-admin", "POST", "/admin/v1/subscriptions/"+subID+"/approve", ""), 200, "approve")
	w.must(w.as("super", "POST", "/admin/v1/prompts", fmt.Sprintf(`{"name":"summarize","team_id":%q,"version":%s}`, ids["search"], promptVersionBody)), 201, "prompt")
	org := w.ids["orgA"]
	hook := "/admin/v1/orgs/" + org + "/notify-webhook"
	w.must(w.as("super", "PUT", hook, `{"url":"https://hooks.example.com/a","secret":"whsec-CANARY-0001"}`), 200, "webhook")
	for _, tc := range []struct{ name, method, path, body string }{
		{"render duplicate version", "POST", "/admin/v1/prompts/summarize/render", `{"version":1,"version":2,"variables":{"text":"a"}}`},
		{"render case variant", "POST", "/admin/v1/prompts/summarize/render", `{"Version":1,"variables":{"text":"a"}}`},
		{"render duplicate variable", "POST", "/admin/v1/prompts/summarize/render", `{"version":1,"variables":{"text":"a","text":"b"}}`},
		{"webhook duplicate url", "PUT", hook, `{"url":"https://hooks.example.com/b","url":"https://hooks.example.com/c"}`},
		{"webhook case variant url", "PUT", hook, `{"url":"https://hooks.example.com/b","URL":"https://hooks.example.com/c"}`},
		{"webhook case variant secret", "PUT", hook, `{"url":"https://hooks.example.com/a","Secret":""}`},
		{"plan duplicate", "PATCH", "/admin/v1/subscriptions/" + subID, `{"plan":"free","plan":"pro"}`},
		{"plan case variant", "PATCH", "/admin/v1/subscriptions/" + subID, `{"PLAN":"pro"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := w.as("super", tc.method, tc.path, tc.body)
			if r.code != 400 || !strings.Contains(r.raw, "repeats the field") {
				t.Fatalf("%d %s, want 400 naming the repeated field", r.code, r.raw)
			}
		})
	}
	if h := w.must(w.as("super", "GET", hook, ""), 200, "webhook"); h.body["url"] != "https://hooks.example.com/a" || h.body["has_secret"] != true {
		t.Errorf("webhook changed: %s", h.raw)
	} else if strings.Contains(h.raw, "whsec-CANARY") {
		t.Errorf("webhook answer shows its secret: %s", h.raw)
	}
	if s := w.must(w.as("super", "GET", "/admin/v1/subscriptions/"+subID, ""), 200, "sub"); s.body["plan"] != "free" {
		t.Errorf("plan changed: %s", s.raw)
	}
}

// TestAttackWebhookURLTokenStaysWithTheOwner: an organisation webhook's
// URL may carry a token, so only the owner reads it; the audit log, which
// an auditor reads, records the change without the URL's query or user
// info.
func TestAttackWebhookURLTokenStaysWithTheOwner(t *testing.T) {
	w := newWorld(t)
	hook := "/admin/v1/orgs/" + w.ids["orgA"] + "/notify-webhook"
	w.must(w.as("ownerA", "PUT", hook, `{"url":"https://hooks.example.com/n?token=CANARY-tok-1","secret":"whsec-CANARY-0123456789"}`), 200, "set")
	w.must(w.as("ownerA", "PUT", hook, `{"url":"https://hooks.example.com/n?token=CANARY-tok-2"}`), 200, "change")
	w.must(w.as("audA", "GET", hook, ""), 403, "an auditor reads the webhook")
	w.must(w.as("ownerA", "DELETE", hook, ""), 200, "delete")
	a := w.must(w.as("audA", "GET", "/admin/v1/audit?limit=1000&org_id="+w.ids["orgA"], ""), 200, "an auditor reads the audit log")
	if !strings.Contains(a.raw, "org.notify_webhook.set") {
		t.Fatalf("audit lacks the change: %s", a.raw)
	}
	if strings.Contains(a.raw, "CANARY") {
		t.Errorf("the audit log an auditor reads shows the webhook's token or secret:\n%s", a.raw)
	}
	if !strings.Contains(a.raw, "hooks.example.com") {
		t.Errorf("the audit log lacks the webhook's host:\n%s", a.raw)
	}
}
