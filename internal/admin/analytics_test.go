package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

// TestAnalyticsMatchesLedger: the analytics API's request counts per model
// equal the ledger's (GET /admin/v1/requests), and a caller sees only its
// scope's rows.
func TestAnalyticsMatchesLedger(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	now := time.Now().UTC()
	var es []ledger.Entry
	want := map[string]map[string]int64{"A": {}, "B": {}}
	for i := range 300 {
		x := []string{"A", "B"}[i%2]
		m := []string{"gpt", "claude", "gemini"}[i%3]
		es = append(es, ledger.Entry{RequestID: fmt.Sprintf("an-%d", i), Time: now.Add(-time.Duration(i) * 7 * time.Minute),
			Endpoint: "chat.completions", KeyID: w.ids["key"+x], OrgID: w.ids["org"+x], TeamID: w.ids["team"+x], AppID: w.ids["app"+x],
			Model: m, Provider: "p", Status: ledger.StatusOK, HTTPStatus: 200, CostMicros: 10, Latency: time.Duration(i) * time.Millisecond})
		if es[i].Time.After(now.Add(-24 * time.Hour)) {
			want[x][m]++
		}
	}
	if err := w.e.st.InsertEntries(ctx, es); err != nil {
		t.Fatal(err)
	}
	from, to := url.QueryEscape(now.Add(-24*time.Hour).Format(time.RFC3339Nano)), url.QueryEscape(now.Add(time.Minute).Format(time.RFC3339))
	counts := func(who, scope string) (map[string]int64, int64) {
		t.Helper()
		r := w.must(w.as(who, "GET", "/admin/v1/analytics?from="+from+"&to="+to+"&interval=1h&group_by=model"+scope, ""), 200, "analytics")
		var ans struct {
			Series []struct {
				Group  map[string]string
				Points []struct{ Requests int64 }
			}
			Totals struct{ Requests int64 }
		}
		if err := json.Unmarshal([]byte(r.raw), &ans); err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, s := range ans.Series {
			for _, p := range s.Points {
				got[s.Group["model"]] += p.Requests
			}
		}
		return got, ans.Totals.Requests
	}
	for _, tc := range []struct {
		name, who, scope, x string
	}{
		{"owner of A, organisation A", "ownerA", "&org_id=" + w.ids["orgA"], "A"},
		{"developer of team A, its key", "devA", "&key_id=" + w.ids["keyA"], "A"},
		{"admin of team B, team B", "tadminB", "&team_id=" + w.ids["teamB"], "B"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, total := counts(tc.who, tc.scope)
			if fmt.Sprint(got) != fmt.Sprint(want[tc.x]) || total != want[tc.x]["gpt"]+want[tc.x]["claude"]+want[tc.x]["gemini"] {
				t.Fatalf("analytics %v (total %d), ledger %v", got, total, want[tc.x])
			}
		})
	}
	// The super-admin without a scope sees both organisations.
	got, _ := counts("super", "")
	for m := range got {
		if got[m] != want["A"][m]+want["B"][m] {
			t.Fatalf("super-admin: %v, want A %v + B %v", got, want["A"], want["B"])
		}
	}
	for _, tc := range []struct {
		name, who, query string
		code             int
	}{
		{"another tenant's organisation", "tadminB", "org_id=" + w.ids["orgA"], 404}, // hidden, as everywhere
		{"no scope for a user", "ownerA", "", 400},
		{"bad interval", "super", "interval=7m", 400},
		{"bad interval unit", "super", "interval=1w", 400},
		{"bad group", "super", "group_by=ts", 400},
		{"bad metric", "super", "metrics=nope", 400},
		{"bad time", "super", "from=yesterday", 400},
		{"too many buckets", "super", "from=2020-01-01&interval=1m", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := w.as(tc.who, "GET", "/admin/v1/analytics?"+tc.query, ""); r.code != tc.code {
				t.Fatalf("%d %s, want %d", r.code, r.raw, tc.code)
			}
		})
	}
}
