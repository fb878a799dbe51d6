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
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

var chartsRE = regexp.MustCompile(`data-series="([^"]*)"`)

var topRowRE = regexp.MustCompile(`<tr><td>([^<]*)</td><td>([\d,]+)</td><td>\$([\d.]+)</td></tr>`)

// topTable returns the rows (name, requests, cost) of the overview's
// table titled title.
func topTable(t *testing.T, body, title string) [][3]string {
	t.Helper()
	re := regexp.MustCompile(`(?s)<section class="card" aria-label="` + title + `">.*?</section>`)
	sec := re.FindString(body)
	if sec == "" {
		t.Fatalf("no %q table", title)
	}
	var out [][3]string
	for _, m := range topRowRE.FindAllStringSubmatch(sec, -1) {
		out = append(out, [3]string{html.UnescapeString(m[1]), m[2], m[3]})
	}
	return out
}

// TestOverviewRankings: for every window, the overview's top models, keys
// and applications (one analytics call with rankings) are the rows that
// the analytics API grouped by each dimension alone with top=5 answers:
// the same names in the same order, with the same requests and cost.
func TestOverviewRankings(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds a store")
	}
	q := seedQueries(t, 10)
	ctx := context.Background()
	now := time.Now().UTC()
	var es []ledger.Entry
	for i := range 240 {
		st, code := ledger.StatusOK, 200
		if i%7 == 0 {
			st, code = ledger.StatusUpstreamError, 502
		}
		// Skewed, with ties, and more than five of each.
		es = append(es, ledger.Entry{RequestID: fmt.Sprintf("ov-%d", i), Time: now.Add(-time.Duration(i*11) * time.Second),
			Endpoint: "/v1/chat/completions", OrgID: q.org, TeamID: q.team, AppID: fmt.Sprintf("app_%d", i*i%9),
			KeyID: fmt.Sprintf("key_%d", (i/3)%8+i%2), KeyName: "k", Model: fmt.Sprintf("model-%d", i%4+i%5), Provider: "demo",
			Status: st, HTTPStatus: code, InputTokens: int64(i % 17), OutputTokens: 5, CostMicros: int64(100 * (1 + i%6)),
			Latency: time.Duration(1+i%40) * time.Millisecond})
	}
	if err := q.srv.Store.InsertEntries(ctx, es); err != nil {
		t.Fatal(err)
	}
	// Every entry is in the last hour, so each window holds them all.
	base := "/admin/v1/analytics?org_id=" + q.org + "&from=" + url.QueryEscape(now.Add(-2*time.Hour).Format(time.RFC3339)) +
		"&to=" + url.QueryEscape(now.Add(2*time.Minute).Format(time.RFC3339)) + "&interval=1h&metrics=requests,cost_micros&top=5&group_by="
	for _, w := range []struct {
		window  string
		bucket  int64 // seconds
		buckets int   // the span's, and the one the span starts in
	}{{"1h", 60, 61}, {"24h", 3600, 25}, {"7d", 86400, 8}} {
		window := w.window
		a := q.srv.Do(ctx, http.MethodGet, "/console/?window="+window, nil, q.owner)
		if a.Code != http.StatusOK {
			t.Fatalf("%s: %d", window, a.Code)
		}
		// The chart: whole buckets of the window's width, holding every
		// request (all in the last hour).
		m := chartsRE.FindStringSubmatch(a.Body)
		if m == nil {
			t.Fatalf("%s: no charts", window)
		}
		var ch struct {
			X        []int64 `json:"x"`
			Requests []int64 `json:"requests"`
		}
		if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &ch); err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, n := range ch.Requests {
			sum += n
		}
		if len(ch.X) != w.buckets || ch.X[0]%w.bucket != 0 || ch.X[1]-ch.X[0] != w.bucket || sum != int64(len(es)+10) {
			t.Errorf("%s: %d buckets from %d by %ds, %d requests; want %d by %ds, %d", window, len(ch.X), ch.X[0], ch.X[1]-ch.X[0], sum,
				w.buckets, w.bucket, len(es)+10)
		}
		for _, tc := range []struct{ title, dim string }{
			{"Top models", "model"}, {"Top keys", "key"}, {"Top applications", "application"},
		} {
			code, raw := q.srv.Admin(ctx, http.MethodGet, base+tc.dim, nil)
			if code != http.StatusOK {
				t.Fatalf("%s: %d %s", tc.dim, code, raw)
			}
			var sep struct {
				Series []struct {
					Group  map[string]string
					Points []struct {
						Requests   int64 `json:"requests"`
						CostMicros int64 `json:"cost_micros"`
					}
				}
			}
			if err := json.Unmarshal(raw, &sep); err != nil {
				t.Fatal(err)
			}
			var want [][3]string
			for _, s := range sep.Series {
				var n, c int64
				for _, p := range s.Points {
					n, c = n+p.Requests, c+p.CostMicros
				}
				want = append(want, [3]string{s.Group[tc.dim], strconv.FormatInt(n, 10), strconv.FormatFloat(float64(c)/1e6, 'f', 4, 64)})
			}
			got := topTable(t, a.Body, tc.title)
			if len(want) != 5 {
				t.Fatalf("%s: %d series grouped alone, want 5", tc.dim, len(want))
			}
			if !slices.Equal(got, want) {
				t.Errorf("window %s, %s:\n got %v\nwant %v", window, tc.title, got, want)
			}
		}
	}
}
