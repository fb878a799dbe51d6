package admin_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/store"
)

// walk follows next_cursor from path until the last page and returns the
// field of every row, in the order the pages gave them.
func (e *env) walk(path, field string) []string {
	e.t.Helper()
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		p := path
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		r := e.do("GET", p, "")
		if r.code != 200 {
			e.t.Fatalf("GET %s: %d %s", p, r.code, r.raw)
		}
		for _, d := range r.body["data"].([]any) {
			got = append(got, fmt.Sprint(d.(map[string]any)[field]))
		}
		next, _ := r.body["next_cursor"].(string)
		if next == "" {
			return got
		}
		if pages > 200 {
			e.t.Fatalf("GET %s: still a next_cursor after %d pages", path, pages)
		}
		cursor = next
	}
}

// TestRequestsPaginate: pages of the ledger listing, of every size, give
// every entry exactly once, newest first, ties on time broken by request
// id; the last page has no next_cursor.
func TestRequestsPaginate(t *testing.T) {
	e := newEnv(t)
	base := time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)
	var batch []ledger.Entry
	for i := range 17 {
		batch = append(batch, ledger.Entry{RequestID: fmt.Sprintf("req-%02d", (i*5)%17), Time: base.Add(time.Duration(i/3) * time.Second),
			Endpoint: "/v1/chat/completions", KeyID: "k1", Model: "m", Status: ledger.StatusOK})
	}
	if err := e.st.InsertEntries(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	want := e.walk("/admin/v1/requests?limit=1000", "request_id")
	if len(want) != len(batch) {
		t.Fatalf("one page of 1000 = %d entries, want %d", len(want), len(batch))
	}
	for _, size := range []int{1, 2, 3, 4, 16, 17, 18} {
		got := e.walk(fmt.Sprintf("/admin/v1/requests?limit=%d", size), "request_id")
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("pages of %d:\n%v\nwant\n%v", size, got, want)
		}
	}
	r := e.do("GET", "/admin/v1/requests?limit=17", "")
	if _, ok := r.body["next_cursor"]; ok || r.code != 200 {
		t.Errorf("a page holding every entry: %d, next_cursor %v", r.code, r.body["next_cursor"])
	}
}

// TestAuditPaginates: pages of the audit log give every row exactly once,
// newest first, rows of the same time included.
func TestAuditPaginates(t *testing.T) {
	e := newEnv(t)
	ts := time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)
	for i := range 9 {
		if err := e.st.InsertAudit(context.Background(), store.AuditEntry{Time: ts.Add(time.Duration(i/3) * time.Second),
			Actor: "a", Action: "x", ObjectType: "paged", ObjectID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	want := e.walk("/admin/v1/audit?object_type=paged&limit=1000", "object_id")
	if fmt.Sprint(want) != "[8 7 6 5 4 3 2 1 0]" {
		t.Fatalf("one page = %v, want newest first", want)
	}
	for _, size := range []int{1, 2, 4, 8, 9} {
		got := e.walk(fmt.Sprintf("/admin/v1/audit?object_type=paged&limit=%d", size), "object_id")
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("pages of %d: %v, want %v", size, got, want)
		}
	}
}

// TestCursorRefused: a cursor the list did not answer is a 400, never a
// 500 or a silently restarted list.
func TestCursorRefused(t *testing.T) {
	e := newEnv(t)
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct{ path, cursor string }{
		{"/admin/v1/requests?limit=5", "not base64!"},
		{"/admin/v1/requests?limit=5", b64("r1\nnot-a-number\nreq-1")},
		{"/admin/v1/requests?limit=5", b64("r1\n-5\nreq-1")},
		{"/admin/v1/requests?limit=5", b64("r1\n123")},
		{"/admin/v1/requests?limit=5", b64("r1\n123\n")},
		{"/admin/v1/requests?limit=5", b64("a1\naud_0000")}, // the audit log's cursor
		{"/admin/v1/audit?limit=5", b64("r1\n123\nreq-1")},  // the ledger's cursor
		{"/admin/v1/audit?limit=5", b64("a1\n")},
		{"/admin/v1/audit?limit=5", "%%%"},
	} {
		r := e.do("GET", tc.path+"&cursor="+url.QueryEscape(tc.cursor), "")
		if r.code != 400 || r.raw == "" || !containsCode(r, "invalid_cursor") {
			t.Errorf("%s cursor %q: %d %s, want 400 invalid_cursor", tc.path, tc.cursor, r.code, r.raw)
		}
	}
}

func containsCode(r resp, code string) bool {
	m, _ := r.body["error"].(map[string]any)
	return m != nil && m["code"] == code
}
