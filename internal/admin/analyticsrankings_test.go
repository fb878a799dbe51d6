package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/store/storetest"
)

// TestAnalyticsRankings: one call with rankings=model,key,application
// answers, for each dimension, what a call grouped by it alone with the
// same top and rank_by answers: the same groups in the same order, each
// with its points summed, and the same other; its series and totals are
// the call's without rankings. On SQLite and, where
// SLUICE_TEST_POSTGRES_DSN names one, PostgreSQL.
func TestAnalyticsRankings(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAnalyticsRankings(t, "") })
	t.Run("postgres", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t)
		if dsn == "" {
			t.Skip("SLUICE_TEST_POSTGRES_DSN is not set")
		}
		testAnalyticsRankings(t, dsn)
	})
}

// rankedAnswer is the part of an analytics answer the test compares.
type rankedAnswer struct {
	Series []struct {
		Group  map[string]string `json:"group"`
		Points []map[string]any  `json:"points"`
	} `json:"series"`
	Totals   map[string]any `json:"totals"`
	Other    *rankedOther   `json:"other"`
	Rankings map[string]struct {
		Groups []struct {
			Group  map[string]string `json:"group"`
			Totals map[string]any    `json:"totals"`
		} `json:"groups"`
		Other rankedOther `json:"other"`
	} `json:"rankings"`
}

type rankedOther struct {
	Series int            `json:"series"`
	Totals map[string]any `json:"totals"`
}

func testAnalyticsRankings(t *testing.T, dsn string) {
	w := newWorldOn(t, dsn)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Minute)
	var es []ledger.Entry
	for i := range 600 {
		x := []string{"A", "B"}[i%7/6] // one in seven in organisation B
		st, code := ledger.StatusOK, 200
		if i%6 == 0 {
			st, code = ledger.StatusUpstreamError, 502
		}
		// Skewed per model, key and application, so that each metric
		// ranks them differently, some values tie, and top leaves some out.
		es = append(es, ledger.Entry{RequestID: fmt.Sprintf("rank-%d", i), Time: now.Add(-time.Duration(i*17) * time.Minute),
			Endpoint: "chat.completions", OrgID: w.ids["org"+x], TeamID: w.ids["team"+x],
			KeyID: fmt.Sprintf("key_%d", (i*i)%11), AppID: fmt.Sprintf("app_%d", i%5+i%3), Model: fmt.Sprintf("m%d", (i*i+i/4)%7),
			Provider: "p", Status: st, HTTPStatus: code, InputTokens: int64(i % 23), OutputTokens: int64(i % 31),
			CostMicros: int64(1 + i%13*(i%4)), Latency: time.Duration(1+i%97) * time.Millisecond})
	}
	if err := w.e.st.InsertEntries(ctx, es); err != nil {
		t.Fatal(err)
	}
	get := func(q string) rankedAnswer {
		t.Helper()
		r := w.must(w.as("super", "GET", "/admin/v1/analytics?"+q, ""), 200, "analytics")
		var a rankedAnswer
		if err := json.Unmarshal([]byte(r.raw), &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	span := func(from, to time.Duration) string {
		return "from=" + url.QueryEscape(now.Add(from).Format(time.RFC3339)) + "&to=" + url.QueryEscape(now.Add(to).Format(time.RFC3339))
	}
	additive := []string{"requests", "errors", "input_tokens", "output_tokens", "cost_micros"}
	for _, tc := range []struct {
		name, q string
		groupBy string // the series' grouping, left out of the calls grouped by one dimension
	}{
		{"the overview's 24 hours", span(-24*time.Hour, time.Minute) + "&interval=1h&metrics=requests,errors,input_tokens,output_tokens," +
			"cost_micros,latency_p50_ms,latency_p95_ms&top=5&rank_by=requests", ""},
		{"a week in 6 hours, by cost", span(-7*24*time.Hour, time.Minute) + "&interval=6h&metrics=requests,errors,input_tokens," +
			"output_tokens,cost_micros,latency_p95_ms&top=3&rank_by=cost_micros", ""},
		{"sums only (summed in SQL), by errors", span(-7*24*time.Hour, 0) + "&interval=1d&metrics=requests,errors,input_tokens," +
			"output_tokens,cost_micros&top=2&rank_by=errors", ""},
		{"grouped series, by p95", span(-48*time.Hour, 0) + "&interval=15m&metrics=requests,errors,input_tokens," +
			"output_tokens,cost_micros,latency&top=4&rank_by=latency_p95_ms", "status"},
		{"one organisation, top 1", span(-7*24*time.Hour, time.Minute) + "&interval=1h&org_id=" + w.ids["orgB"] +
			"&metrics=requests,errors,input_tokens,output_tokens,cost_micros&top=1", ""},
		{"more than there are", span(-7*24*time.Hour, time.Minute) + "&interval=6h&metrics=requests,errors,input_tokens," +
			"output_tokens,cost_micros,latency_p50_ms&top=50", "model,status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dims := []string{"model", "key", "application"}
			series := tc.q
			if tc.groupBy != "" {
				series += "&group_by=" + tc.groupBy
			}
			one := get(series + "&rankings=" + strings.Join(dims, ","))
			plain := get(series)
			if !reflect.DeepEqual(one.Series, plain.Series) || !reflect.DeepEqual(one.Totals, plain.Totals) ||
				!reflect.DeepEqual(one.Other, plain.Other) {
				t.Errorf("with rankings, series, totals or other differ from the call without:\n%+v\n%+v", one, plain)
			}
			if len(one.Rankings) != len(dims) {
				t.Fatalf("rankings %v, want %v", one.Rankings, dims)
			}
			for _, dim := range dims {
				sep := get(tc.q + "&group_by=" + dim)
				got := one.Rankings[dim]
				if len(got.Groups) != len(sep.Series) {
					t.Fatalf("%s: %d groups, grouped alone %d series", dim, len(got.Groups), len(sep.Series))
				}
				if len(got.Groups) == 0 {
					t.Fatalf("%s: no groups; the case tests nothing", dim)
				}
				sums := map[string]float64{}
				for i, g := range got.Groups {
					s := sep.Series[i]
					if !reflect.DeepEqual(g.Group, s.Group) {
						t.Errorf("%s: group %d is %v, grouped alone %v", dim, i, g.Group, s.Group)
					}
					for _, m := range additive {
						var v float64
						for _, p := range s.Points {
							v += p[m].(float64)
						}
						if g.Totals[m] != v {
							t.Errorf("%s %v: %s %v, its series' points sum to %v", dim, g.Group, m, g.Totals[m], v)
						}
						sums[m] += v
					}
				}
				if sep.Other == nil || !reflect.DeepEqual(got.Other, *sep.Other) {
					t.Errorf("%s: other %+v, grouped alone %+v", dim, got.Other, sep.Other)
				}
				// The groups and other add up to the totals.
				for _, m := range additive {
					if v := sums[m] + got.Other.Totals[m].(float64); v != one.Totals[m] {
						t.Errorf("%s: %s of the groups and other %v, totals %v", dim, m, v, one.Totals[m])
					}
				}
			}
		})
	}
	// ranking_metrics: the rankings carry those metrics only, and answer
	// what a call grouped by the dimension alone with metrics= them (and
	// the same top and rank_by) answers, its points summed; the series
	// and totals are still metrics'.
	for _, tc := range []struct{ name, q, rankMs string }{
		{"the console's: requests and cost, series with latency", "&interval=6h&metrics=requests,errors,input_tokens," +
			"latency_p50_ms,latency_p95_ms&top=3&rank_by=requests", "requests,cost_micros"},
		{"rank by a percentile it does not show", "&interval=1h&metrics=requests,errors&top=2&rank_by=latency_p95_ms",
			"requests,cost"},
		{"more metrics than the series", "&interval=1d&metrics=requests&top=4&rank_by=cost_micros",
			"requests,errors,output_tokens,cost_micros,ttft_p95_ms"},
	} {
		t.Run("ranking_metrics, "+tc.name, func(t *testing.T) {
			dims := []string{"model", "key", "application"}
			series := span(-7*24*time.Hour, time.Minute) + tc.q
			one := get(series + "&rankings=" + strings.Join(dims, ",") + "&ranking_metrics=" + tc.rankMs)
			plain := get(series)
			if !reflect.DeepEqual(one.Series, plain.Series) || !reflect.DeepEqual(one.Totals, plain.Totals) ||
				!reflect.DeepEqual(one.Other, plain.Other) {
				t.Errorf("with rankings, series, totals or other differ from the call without:\n%+v\n%+v", one, plain)
			}
			alone, _, _ := strings.Cut(strings.TrimPrefix(tc.q, "&interval="), "&")
			for _, dim := range dims {
				q := span(-7*24*time.Hour, time.Minute) + "&interval=" + alone + "&metrics=" + tc.rankMs + "&group_by=" + dim
				for _, p := range strings.Split(tc.q, "&") {
					if strings.HasPrefix(p, "top=") || strings.HasPrefix(p, "rank_by=") {
						q += "&" + p
					}
				}
				sep := get(q)
				got := one.Rankings[dim]
				if len(got.Groups) != len(sep.Series) || len(got.Groups) == 0 {
					t.Fatalf("%s: %d groups, grouped alone %d series", dim, len(got.Groups), len(sep.Series))
				}
				for i, g := range got.Groups {
					s := sep.Series[i]
					if !reflect.DeepEqual(g.Group, s.Group) {
						t.Errorf("%s: group %d is %v, grouped alone %v", dim, i, g.Group, s.Group)
					}
					if len(g.Totals) != len(sep.Totals) {
						t.Errorf("%s %v: metrics %v, want those of %v", dim, g.Group, g.Totals, sep.Totals)
					}
					for m := range sep.Totals {
						if _, ok := g.Totals[m]; !ok {
							t.Errorf("%s %v: no %s", dim, g.Group, m)
						}
					}
					for _, m := range additive {
						if _, ok := sep.Totals[m]; !ok {
							continue
						}
						var v float64
						for _, p := range s.Points {
							v += p[m].(float64)
						}
						if g.Totals[m] != v {
							t.Errorf("%s %v: %s %v, its series' points sum to %v", dim, g.Group, m, g.Totals[m], v)
						}
					}
				}
				if sep.Other == nil || !reflect.DeepEqual(got.Other, *sep.Other) {
					t.Errorf("%s: other %+v, grouped alone %+v", dim, got.Other, sep.Other)
				}
			}
		})
	}
	for _, tc := range []struct{ q, code string }{
		{"&rankings=model&top=5&ranking_metrics=colour", "invalid_ranking_metrics"},
		{"&rankings=model&top=5&ranking_metrics=requests,,cost", "invalid_ranking_metrics"},
		{"&rankings=model", "invalid_rankings"},
		{"&rankings=colour&top=5", "invalid_rankings"},
	} {
		r := w.as("super", "GET", "/admin/v1/analytics?interval=1h"+tc.q, "")
		if r.code != 400 || !strings.Contains(r.raw, tc.code) {
			t.Errorf("%s: %d %s, want 400 %s", tc.q, r.code, r.raw, tc.code)
		}
	}
}
