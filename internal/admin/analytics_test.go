package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
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

// TestAnalyticsTop: top=N keeps the N series that rank highest by rank_by
// over the whole range, in that order (ties by group), exactly as ranking
// the full answer does, and "other" holds the rest, so that kept series
// and other sum to the totals.
func TestAnalyticsTop(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Minute)
	models := []string{"m0", "m1", "m2", "m3", "m4", "m5", "m6"}
	var es []ledger.Entry
	for i := range 400 {
		x := []string{"A", "B"}[i%2]
		st, code := ledger.StatusOK, 200
		if i%5 == 0 {
			st, code = ledger.StatusUpstreamError, 502
		}
		// Skewed counts, costs and errors per model, so that each metric
		// ranks the models differently; m5 and m6 tie on requests.
		m := models[(i*i+i/3)%len(models)]
		es = append(es, ledger.Entry{RequestID: fmt.Sprintf("top-%d", i), Time: now.Add(-time.Duration(i*3) * time.Minute),
			Endpoint: "chat.completions", KeyID: w.ids["key"+x], OrgID: w.ids["org"+x], TeamID: w.ids["team"+x], AppID: w.ids["app"+x],
			Model: m, Provider: "p", Status: st, HTTPStatus: code, CostMicros: int64(1 + i%13*len(m)), Latency: time.Millisecond})
	}
	if err := w.e.st.InsertEntries(ctx, es); err != nil {
		t.Fatal(err)
	}
	type sums struct {
		Requests   int64 `json:"requests"`
		Errors     int64 `json:"errors"`
		CostMicros int64 `json:"cost_micros"`
	}
	type answer struct {
		Series []struct {
			Group  map[string]string
			Points []sums
		}
		Totals sums
		Other  *struct {
			Series int
			Totals sums
		}
	}
	base := "/admin/v1/analytics?from=" + url.QueryEscape(now.Add(-24*time.Hour).Format(time.RFC3339)) + "&to=" +
		url.QueryEscape(now.Add(time.Minute).Format(time.RFC3339)) + "&interval=1h&metrics=requests,errors,cost_micros&group_by="
	get := func(q string) answer {
		t.Helper()
		r := w.must(w.as("super", "GET", base+q, ""), 200, "analytics")
		var a answer
		if err := json.Unmarshal([]byte(r.raw), &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, tc := range []struct {
		groupBy, rankBy string
		top             int
		value           func(s sums) float64
	}{
		{"model", "", 3, func(s sums) float64 { return float64(s.Requests) }},
		{"model", "requests", 6, func(s sums) float64 { return float64(s.Requests) }},
		{"model", "cost_micros", 2, func(s sums) float64 { return float64(s.CostMicros) }},
		{"model", "errors", 4, func(s sums) float64 { return float64(s.Errors) }},
		{"model", "error_rate", 3, func(s sums) float64 { return float64(s.Errors) / float64(s.Requests) }},
		{"model,key", "cost_micros", 5, func(s sums) float64 { return float64(s.CostMicros) }},
		{"key", "requests", 1, func(s sums) float64 { return float64(s.Requests) }},
		{"model", "requests", 50, func(s sums) float64 { return float64(s.Requests) }},
	} {
		t.Run(fmt.Sprintf("%s by %s top %d", tc.groupBy, tc.rankBy, tc.top), func(t *testing.T) {
			full := get(tc.groupBy)
			type ranked struct {
				group string
				s     sums
			}
			var all []ranked
			for _, s := range full.Series {
				r := ranked{group: fmt.Sprint(s.Group)}
				for _, p := range s.Points {
					r.s.Requests, r.s.Errors, r.s.CostMicros = r.s.Requests+p.Requests, r.s.Errors+p.Errors, r.s.CostMicros+p.CostMicros
				}
				all = append(all, r)
			}
			// The full answer is sorted by group; a stable sort by value
			// descending leaves ties in group order.
			sort.SliceStable(all, func(i, j int) bool { return tc.value(all[i].s) > tc.value(all[j].s) })
			q := tc.groupBy + "&top=" + fmt.Sprint(tc.top)
			if tc.rankBy != "" {
				q += "&rank_by=" + tc.rankBy
			}
			got := get(q)
			n := min(tc.top, len(all))
			if len(got.Series) != n || got.Other == nil || got.Other.Series != len(all)-n {
				t.Fatalf("%d series, other %+v; want %d of %d", len(got.Series), got.Other, n, len(all))
			}
			var kept sums
			for i, s := range got.Series {
				var g sums
				for _, p := range s.Points {
					g.Requests, g.Errors, g.CostMicros = g.Requests+p.Requests, g.Errors+p.Errors, g.CostMicros+p.CostMicros
				}
				if fmt.Sprint(s.Group) != all[i].group || g != all[i].s {
					t.Fatalf("series %d: %v %+v, want %v %+v", i, s.Group, g, all[i].group, all[i].s)
				}
				kept.Requests, kept.Errors, kept.CostMicros = kept.Requests+g.Requests, kept.Errors+g.Errors, kept.CostMicros+g.CostMicros
			}
			o := got.Other.Totals
			if got.Totals != full.Totals || (sums{kept.Requests + o.Requests, kept.Errors + o.Errors, kept.CostMicros + o.CostMicros}) != full.Totals {
				t.Fatalf("kept %+v + other %+v, totals %+v, want %+v", kept, o, got.Totals, full.Totals)
			}
		})
	}
	for _, q := range []string{"model&top=0", "model&top=1001", "model&top=x", "model&rank_by=requests", "model&top=3&rank_by=nope"} {
		t.Run(q, func(t *testing.T) {
			if r := w.as("super", "GET", base+q, ""); r.code != 400 {
				t.Fatalf("%d %s, want 400", r.code, r.raw)
			}
		})
	}
}
