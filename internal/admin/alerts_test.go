package admin_test

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storetest"
)

// TestAlertRulesAPI: rules are validated, stored with their secrets
// hidden from reads, audited, and deleted; the request log is searched
// within the caller's scope.
func TestAlertRulesAPI(t *testing.T) {
	w := newWorld(t)
	rule := `{"name":"errors","kind":"error_rate","threshold":0.05,"window":"5m","for":"1m","group_by":["model"],
 "notify":[{"type":"webhook","url":"https://hooks.example.com/x","secret":"whsec-CANARY"},{"type":"pagerduty","routing_key":"pd-CANARY"}]}`
	for _, tc := range []struct {
		name, body string
		code       int
		want       string
	}{
		{"created", rule, 201, `"secret": "(set)"`},
		{"name taken", rule, 409, "name_taken"},
		{"unknown kind", `{"name":"x","kind":"cpu"}`, 400, "rule.kind"},
		{"bad window", `{"name":"x","kind":"error_rate","window":"90s"}`, 400, "rule.window"},
		{"unparsable for", `{"name":"x","kind":"error_rate","for":"soon"}`, 400, "invalid_for"},
		{"unknown field", `{"name":"x","kind":"error_rate","severity":"p1"}`, 400, "invalid_body"},
		{"id is not the caller's", `{"id":"alr_1","name":"x","kind":"error_rate"}`, 400, "invalid_body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := w.as("super", "POST", "/admin/v1/alert-rules", tc.body)
			if r.code != tc.code || !strings.Contains(r.raw, tc.want) {
				t.Fatalf("%d %s; want %d with %q", r.code, r.raw, tc.code, tc.want)
			}
		})
	}
	list := w.must(w.as("super", "GET", "/admin/v1/alert-rules", ""), 200, "list")
	if strings.Contains(list.raw, "CANARY") || !strings.Contains(list.raw, `"window": "5m0s"`) {
		t.Fatalf("list: %s", list.raw)
	}
	if r := w.as("ownerA", "GET", "/admin/v1/alert-rules", ""); r.code != 403 {
		t.Fatalf("an organisation owner reads platform alert rules: %d", r.code)
	}
	w.must(w.as("super", "GET", "/admin/v1/alerts", ""), 200, "alerts")
	w.must(w.as("super", "DELETE", "/admin/v1/alert-rules/errors", ""), 200, "delete")
	w.must(w.as("super", "DELETE", "/admin/v1/alert-rules/errors", ""), 404, "delete again")
	audit, err := w.e.st.ListAudit(context.Background(), store.AuditFilter{ObjectType: "alert_rule"})
	if err != nil || len(audit) != 2 || strings.Contains(string(audit[1].After), "CANARY") {
		t.Fatalf("audit %+v, %v", audit, err)
	}

	// A channel disabled after failed deliveries is switched back on.
	if err := w.e.st.DisableAlertChannel(context.Background(), "errors:0", "8 failures", time.Now(), store.AuditEntry{Actor: "system:alerts",
		Action: "alert_channel.disable", ObjectType: "alert_channel", ObjectID: "errors:0"}); err != nil {
		t.Fatal(err)
	}
	w.must(w.as("super", "POST", "/admin/v1/alert-channels/errors:0/enable", ""), 200, "enable")
	if off, err := w.e.st.DisabledAlertChannels(context.Background()); err != nil || len(off) != 0 {
		t.Fatalf("still disabled: %v, %v", off, err)
	}

	// The request log.
	now := time.Now().UTC()
	for _, x := range []string{"A", "B"} {
		if err := w.e.st.InsertCapture(context.Background(), store.Capture{RequestID: "cap-" + x, Time: now, OrgID: w.ids["org"+x],
			TeamID: w.ids["team"+x], AppID: w.ids["app"+x], KeyID: w.ids["key"+x], Model: "m", Status: "ok", HTTPStatus: 200,
			RequestBody: "{}", ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	r := w.must(w.as("ownerA", "GET", "/admin/v1/request-log?org_id="+w.ids["orgA"], ""), 200, "request log")
	if !strings.Contains(r.raw, "cap-A") || strings.Contains(r.raw, "cap-B") {
		t.Fatalf("owner of A sees %s", r.raw)
	}
	if r := w.as("ownerA", "GET", "/admin/v1/request-log?request_id=cap-B&org_id="+w.ids["orgA"], ""); r.code != 200 || strings.Contains(r.raw, "cap-B") {
		t.Fatalf("another tenant's capture by id: %d %s", r.code, r.raw)
	}
	if r := w.as("ownerA", "GET", "/admin/v1/request-log?org_id="+w.ids["orgB"], ""); r.code != 404 {
		t.Fatalf("another tenant's request log: %d", r.code)
	}
}

// TestAlertHistoryPages: GET /admin/v1/alerts pages its transitions by
// keyset. Walks of several page sizes over transitions sharing times across
// rules and series (a series with a quote and a newline included) give
// the whole history once, newest first; a transition recorded between two
// pages does not shift the next; without limit or cursor the answer is the
// newest 100 without a cursor, as before; a bad limit or cursor is a 400.
// On SQLite and, where SLUICE_TEST_POSTGRES_DSN names one, PostgreSQL.
func TestAlertHistoryPages(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAlertHistoryPages(t, "") })
	t.Run("postgres", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t)
		if dsn == "" {
			t.Skip("SLUICE_TEST_POSTGRES_DSN is not set")
		}
		testAlertHistoryPages(t, dsn)
	})
}

func testAlertHistoryPages(t *testing.T, dsn string) {
	e := newEnvOn(t, dsn, nil)
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	record := func(rule, series string, seq int64, at time.Time) {
		t.Helper()
		prev := store.AlertState{Rule: rule, Series: series, Seq: seq - 1}
		ok, err := e.st.TransitionAlert(ctx, prev, store.AlertState{State: []string{"firing", "resolved"}[seq%2], Since: at, Value: float64(seq)},
			"node-1", []string{})
		if err != nil || !ok {
			t.Fatalf("transition %s %q %d: %v, %v", rule, series, seq, ok, err)
		}
	}
	type row struct {
		At     time.Time `json:"at"`
		Rule   string    `json:"rule"`
		Series string    `json:"series"`
		Seq    int64     `json:"seq"`
	}
	key := func(r row) string { return fmt.Sprintf("%d|%s|%q|%d", r.At.UnixMilli(), r.Rule, r.Series, r.Seq) }
	var want []row
	for r, rule := range []string{"rule-b", "rule-a", "rule-c"} {
		for s, series := range []string{"", "model=x", "model=\"q\"\nline"} {
			for seq := int64(1); seq <= 12; seq++ {
				// Three distinct times, shared by rules, series and a
				// series' own transitions.
				at := base.Add(time.Duration((seq*2+int64(r)+int64(s))%3) * time.Second)
				record(rule, series, seq, at)
				want = append(want, row{at, rule, series, seq})
			}
		}
	}
	slices.SortFunc(want, func(a, b row) int {
		return cmp.Or(b.At.Compare(a.At), strings.Compare(a.Rule, b.Rule), strings.Compare(a.Series, b.Series), cmp.Compare(b.Seq, a.Seq))
	})
	keys := func(rs []row) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = key(r)
		}
		return out
	}
	type answer struct {
		Transitions []row   `json:"transitions"`
		Next        *string `json:"transitions_next_cursor"`
	}
	get := func(path string) (answer, resp) {
		t.Helper()
		r := e.do("GET", path, "")
		var a answer
		if r.code == 200 {
			if err := json.Unmarshal([]byte(r.raw), &a); err != nil {
				t.Fatal(err)
			}
		}
		return a, r
	}

	a, r := get("/admin/v1/alerts")
	if r.code != 200 || a.Next != nil || strings.Contains(r.raw, "transitions_next_cursor") || !slices.Equal(keys(a.Transitions), keys(want[:100])) {
		t.Fatalf("without limit or cursor: %d, %d transitions, cursor %v; want the newest 100 without a cursor", r.code, len(a.Transitions), a.Next)
	}
	for _, n := range []int{1, 7, 50, len(want) - 1, len(want), 1000} {
		t.Run(fmt.Sprintf("pages of %d", n), func(t *testing.T) {
			var got []row
			cursor := ""
			for pages := 1; ; pages++ {
				if pages > len(want)+1 {
					t.Fatalf("still a cursor after %d pages", pages)
				}
				path := fmt.Sprintf("/admin/v1/alerts?limit=%d", n)
				if cursor != "" {
					path += "&cursor=" + url.QueryEscape(cursor)
				}
				a, r := get(path)
				if r.code != 200 {
					t.Fatalf("%s: %d %s", path, r.code, r.raw)
				}
				got = append(got, a.Transitions...)
				if a.Next == nil {
					break
				}
				if len(a.Transitions) != n {
					t.Fatalf("page %d: %d transitions and a cursor; want %d", pages, len(a.Transitions), n)
				}
				cursor = *a.Next
			}
			if g, w := keys(got), keys(want); !slices.Equal(g, w) {
				t.Errorf("walk:\n%v\nwant\n%v", g, w)
			}
		})
	}

	t.Run("recorded between pages", func(t *testing.T) {
		first, _ := get("/admin/v1/alerts?limit=10")
		if first.Next == nil {
			t.Fatal("no cursor after the first page")
		}
		record("rule-a", "", 13, base.Add(time.Hour))
		record("rule-0", "", 1, base.Add(2*time.Second)) // at the cursor's time, before it
		second, r := get("/admin/v1/alerts?cursor=" + url.QueryEscape(*first.Next))
		if r.code != 200 || !slices.Equal(keys(second.Transitions), keys(want[10:min(len(want), 110)])) {
			t.Errorf("second page (cursor, default limit): %d\n%v\nwant\n%v", r.code, keys(second.Transitions), keys(want[10:]))
		}
	})

	other := base64.RawURLEncoding.EncodeToString([]byte("ba1\n1\nsubject\n1\n10"))
	enc := func(s string) string { return url.QueryEscape(base64.RawURLEncoding.EncodeToString([]byte(s))) }
	for _, tc := range []struct {
		name, query, code string
	}{
		{"limit 0", "limit=0", "invalid_limit"},
		{"limit 1001", "limit=1001", "invalid_limit"},
		{"limit not a number", "limit=ten", "invalid_limit"},
		{"cursor not base64", "cursor=%21%21", "invalid_cursor"},
		{"another list's cursor", "cursor=" + other, "invalid_cursor"},
		{"too few fields", "cursor=" + enc("at1\n1\n\"r\"\n\"\""), "invalid_cursor"},
		{"rule not quoted", "cursor=" + enc("at1\n1\nr\n\"\"\n3"), "invalid_cursor"},
		{"seq not a number", "cursor=" + enc("at1\n1\n\"r\"\n\"\"\nx"), "invalid_cursor"},
		{"negative time", "cursor=" + enc("at1\n-1\n\"r\"\n\"\"\n3"), "invalid_cursor"},
		{"too long", "cursor=" + strings.Repeat("A", 9000), "invalid_cursor"},
		{"unknown parameter", "after=x", "unknown_parameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", "/admin/v1/alerts?"+tc.query, "")
			if r.code != 400 || !strings.Contains(r.raw, tc.code) {
				t.Errorf("%s: %d %s; want 400 %s", tc.query, r.code, r.raw, tc.code)
			}
		})
	}
}
