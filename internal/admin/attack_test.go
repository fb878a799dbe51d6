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
