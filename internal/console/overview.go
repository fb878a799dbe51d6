package console

import (
	"encoding/json"
	"errors"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/route"
)

// entry is a ledger entry as GET /admin/v1/requests shows it.
type entry struct {
	ledger.Entry
	LatencyMS float64 `json:"latency_ms"`
	TTFTMS    float64 `json:"ttft_ms"`
	Attempts  []struct {
		ledger.Attempt
		LatencyMS float64 `json:"latency_ms"`
		TTFTMS    float64 `json:"ttft_ms"`
	} `json:"attempts"`
}

// sample is how many of the newest ledger entries the charts read, in one
// API call (one store query), until the analytics rollups serve them.
const sample = 1000

// windows are the overview's time ranges and their bucket widths.
var windows = []struct {
	Name   string
	Span   time.Duration
	Bucket time.Duration
}{
	{"1h", time.Hour, time.Minute},
	{"24h", 24 * time.Hour, time.Hour}, // whole hours: the rollups' hour rows, not 1,440 minutes
	// Whole days: the rollups' day rows, then today's hours. In 6-hour
	// buckets a week is every hour row of it (some 50,000 on the 1 M key
	// benchmark, CPU p95 165-227 ms); in days, half as many rows
	// (100-120 ms).
	{"7d", 7 * 24 * time.Hour, 24 * time.Hour},
}

// series are the overview's charts, columns of equal length: bucket start
// (Unix seconds), then one value per bucket.
type series struct {
	X        []int64   `json:"x"`
	Requests []int64   `json:"requests"`
	Errors   []int64   `json:"errors"`
	Tokens   []int64   `json:"tokens"`
	CostUSD  []float64 `json:"cost_usd"`
	P50      []float64 `json:"p50_ms"`
	P95      []float64 `json:"p95_ms"`
}

// buildSeries buckets entries over [end-span, end).
func buildSeries(es []entry, end time.Time, span, bucket time.Duration) series {
	n := int(span / bucket)
	start := end.Add(-span).Truncate(bucket)
	if !start.Add(time.Duration(n) * bucket).After(end) {
		n++
	}
	s := series{X: make([]int64, n), Requests: make([]int64, n), Errors: make([]int64, n), Tokens: make([]int64, n),
		CostUSD: make([]float64, n), P50: make([]float64, n), P95: make([]float64, n)}
	lat := make([][]float64, n)
	for i := range n {
		s.X[i] = start.Add(time.Duration(i) * bucket).Unix()
	}
	for _, e := range es {
		if e.Time.Before(start) || !e.Time.Before(end) {
			continue
		}
		i := int(e.Time.Sub(start) / bucket)
		if i >= n {
			continue
		}
		s.Requests[i]++
		if e.Status != ledger.StatusOK {
			s.Errors[i]++
		}
		s.Tokens[i] += e.InputTokens + e.OutputTokens
		s.CostUSD[i] += float64(e.CostMicros) / 1e6
		lat[i] = append(lat[i], e.LatencyMS)
	}
	for i, l := range lat {
		s.P50[i], s.P95[i] = quantile(l, 0.50), quantile(l, 0.95)
	}
	return s
}

// quantile is the nearest-rank quantile of v (0 for none).
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	i := int(math.Ceil(q*float64(len(v)))) - 1
	return v[max(0, min(i, len(v)-1))]
}

// top is a ranking row.
type top struct {
	Name       string
	Requests   int64
	Tokens     int64
	CostMicros int64
	Errors     int64
}

func topBy(es []entry, key func(entry) string, n int) []top {
	m := map[string]*top{}
	for _, e := range es {
		k := key(e)
		if k == "" {
			k = "(none)"
		}
		t := m[k]
		if t == nil {
			t = &top{Name: k}
			m[k] = t
		}
		t.Requests++
		t.Tokens += e.InputTokens + e.OutputTokens
		t.CostMicros += e.CostMicros
		if e.Status != ledger.StatusOK {
			t.Errors++
		}
	}
	out := make([]top, 0, len(m))
	for _, t := range m {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b top) int {
		if a.Requests != b.Requests {
			return int(b.Requests - a.Requests)
		}
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

type overviewData struct {
	Source    string // "analytics" (the rollups) or "ledger" (a sample)
	Window    string
	Windows   []string
	Total     top
	P50, P95  float64
	Sampled   int64
	Charts    string // JSON for the charts, in a data attribute
	Models    []top
	Keys      []top
	Apps      []top
	Health    []route.Status
	HealthErr string
	CanHealth bool
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Overview"
	d := overviewData{Window: "24h"}
	win := windows[1]
	for _, wd := range windows {
		d.Windows = append(d.Windows, wd.Name)
		if r.URL.Query().Get("window") == wd.Name {
			win, d.Window = wd, wd.Name
		}
	}
	end := time.Now().UTC()
	ok, err := c.fromAnalytics(r, u, scopeQuery(p), &d, end, win.Span, win.Bucket, true)
	if err != nil {
		return err
	}
	if !ok {
		if err := c.fromLedger(r, u, scopeQuery(p), &d, end, win.Span, win.Bucket); err != nil {
			return err
		}
	}
	if c.may(u, authz.GatewayRead, authz.Scope{}) {
		d.CanHealth = true
		var h struct {
			Data []route.Status `json:"data"`
		}
		if err := c.api(r, u, http.MethodGet, "/admin/v1/health", nil, nil, &h); err != nil {
			d.HealthErr = err.Error()
		}
		d.Health = h.Data
	}
	p.Data = d
	return nil
}

// withOrg adds the selected organisation to a query.
func withOrg(p *page, q url.Values) url.Values {
	if p.Org != "" {
		q.Set("org", p.Org)
	}
	return q
}

// fromLedger fills the charts and rankings from the newest ledger entries
// (one API call), for a server without the analytics rollups.
func (c *Console) fromLedger(r *http.Request, u *user, scope url.Values, d *overviewData, end time.Time, span, bucket time.Duration) error {
	q := maps.Clone(scope)
	q.Set("limit", strconv.Itoa(sample))
	var list struct {
		Data []entry `json:"data"`
	}
	if err := c.api(r, u, http.MethodGet, "/admin/v1/requests", q, nil, &list); err != nil {
		return err
	}
	var in []entry
	var lat []float64
	for _, e := range list.Data {
		if !e.Time.Before(end.Add(-span)) {
			in = append(in, e)
			lat = append(lat, e.LatencyMS)
		}
	}
	d.Source, d.Sampled = "ledger", int64(len(list.Data))
	b, err := json.Marshal(buildSeries(in, end, span, bucket))
	if err != nil {
		return err
	}
	d.Charts = string(b)
	if t := topBy(in, func(entry) string { return "all" }, 1); len(t) == 1 {
		d.Total = t[0]
	}
	d.P50, d.P95 = quantile(lat, 0.5), quantile(lat, 0.95)
	d.Models = topBy(in, func(e entry) string { return e.Model }, 5)
	d.Keys = topBy(in, func(e entry) string { return e.KeyName }, 5)
	d.Apps = topBy(in, func(e entry) string { return e.AppID }, 5)
	return nil
}

// analyticsAnswer is the part of GET /admin/v1/analytics the overview reads.
type analyticsAnswer struct {
	Series []struct {
		Group  map[string]string `json:"group"`
		Points []analyticsPoint  `json:"points"`
	} `json:"series"`
	Totals   analyticsPoint `json:"totals"`
	Rankings map[string]struct {
		Groups []struct {
			Group  map[string]string `json:"group"`
			Totals analyticsPoint    `json:"totals"`
		} `json:"groups"`
	} `json:"rankings"`
}

type analyticsPoint struct {
	T            time.Time `json:"t"`
	Requests     int64     `json:"requests"`
	Errors       int64     `json:"errors"`
	InputTokens  int64     `json:"input_tokens"`
	OutputTokens int64     `json:"output_tokens"`
	CostMicros   int64     `json:"cost_micros"`
	P50          float64   `json:"latency_p50_ms"`
	P95          float64   `json:"latency_p95_ms"`
}

// overviewRankings are the overview's rankings: the analytics dimension
// and where its top five go.
func overviewRankings(d *overviewData) []struct {
	dim  string
	into *[]top
} {
	return []struct {
		dim  string
		into *[]top
	}{{"model", &d.Models}, {"key", &d.Keys}, {"application", &d.Apps}}
}

// fromAnalytics fills the charts, and with rankings the top models, keys
// and applications, from the analytics rollups, in one API call (one read
// of the window's rows); false when the server has no analytics API.
func (c *Console) fromAnalytics(r *http.Request, u *user, scope url.Values, d *overviewData, end time.Time, span, bucket time.Duration,
	rankings bool) (bool, error) {
	start := end.Add(-span).Truncate(bucket)
	q := maps.Clone(scope)
	q.Set("from", start.Format(time.RFC3339))
	q.Set("to", end.Add(time.Minute).Truncate(time.Minute).Format(time.RFC3339))
	q.Set("interval", interval(bucket))
	q.Set("metrics", "requests,errors,input_tokens,output_tokens,cost_micros,latency_p50_ms,latency_p95_ms")
	if rankings {
		// Per dimension, the five values with the most requests over the
		// whole window, summed from the same rows as the charts.
		var dims []string
		for _, g := range overviewRankings(d) {
			dims = append(dims, g.dim)
		}
		q.Set("rankings", strings.Join(dims, ","))
		// The tables show requests and cost only: without the chart's
		// percentiles, each value of a ranking keeps no histograms.
		q.Set("ranking_metrics", "requests,cost_micros")
		q.Set("top", "5")
		q.Set("rank_by", "requests")
	}
	var a analyticsAnswer
	err := c.api(r, u, http.MethodGet, "/admin/v1/analytics", q, nil, &a)
	if routeMissing(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s := buildSeries(nil, end, span, bucket)
	for _, ser := range a.Series {
		for _, pt := range ser.Points {
			i := int(pt.T.Sub(start) / bucket)
			if i < 0 || i >= len(s.X) {
				continue
			}
			s.Requests[i] += pt.Requests
			s.Errors[i] += pt.Errors
			s.Tokens[i] += pt.InputTokens + pt.OutputTokens
			s.CostUSD[i] += float64(pt.CostMicros) / 1e6
			s.P50[i], s.P95[i] = max(s.P50[i], pt.P50), max(s.P95[i], pt.P95)
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		return false, err
	}
	d.Source, d.Charts = "analytics", string(b)
	t := a.Totals
	d.Total = top{Name: "all", Requests: t.Requests, Errors: t.Errors, Tokens: t.InputTokens + t.OutputTokens, CostMicros: t.CostMicros}
	d.P50, d.P95 = t.P50, t.P95
	if !rankings {
		return true, nil
	}
	for _, g := range overviewRankings(d) {
		*g.into = rankedRows(a, g.dim)
	}
	return true, nil
}

// rankedRows turns the analytics answer's ranking of dim (in rank order)
// into rows.
func rankedRows(a analyticsAnswer, dim string) []top {
	rk := a.Rankings[dim]
	rows := make([]top, 0, len(rk.Groups))
	for _, g := range rk.Groups {
		name := g.Group[dim]
		if name == "" {
			name = "(none)"
		}
		t := g.Totals
		rows = append(rows, top{Name: name, Requests: t.Requests, Errors: t.Errors, Tokens: t.InputTokens + t.OutputTokens,
			CostMicros: t.CostMicros})
	}
	return rows
}

// interval names a bucket width the way the analytics API reads it.
func interval(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/time.Minute)) + "m"
}

// monthSpend is this calendar month's cost (UTC) in scope: the total
// under "" and, for each of groups (analytics dimensions such as "key"),
// each group's id with its cost, from one query over the analytics
// rollups' day rows; on a server without analytics, from the ledger through
// the usage API (one call per group).
func (c *Console) monthSpend(r *http.Request, u *user, scope url.Values, groups ...string) (map[string]int64, error) {
	now := time.Now().UTC()
	out := map[string]int64{}
	q := maps.Clone(scope)
	q.Set("from", time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339))
	q.Set("to", now.Add(time.Minute).Truncate(time.Minute).Format(time.RFC3339))
	q.Set("interval", "1d")
	q.Set("metrics", "cost_micros")
	if len(groups) > 0 {
		q.Set("group_by", strings.Join(groups, ","))
	}
	var a analyticsAnswer
	err := c.api(r, u, http.MethodGet, "/admin/v1/analytics", q, nil, &a)
	if routeMissing(err) {
		return c.monthSpendFromLedger(r, u, scope, groups)
	}
	if err != nil {
		return nil, err
	}
	out[""] = a.Totals.CostMicros
	for _, ser := range a.Series {
		for _, g := range groups {
			if id := ser.Group[g]; id != "" {
				for _, pt := range ser.Points {
					out[id] += pt.CostMicros
				}
			}
		}
	}
	return out, nil
}

func (c *Console) monthSpendFromLedger(r *http.Request, u *user, scope url.Values, groups []string) (map[string]int64, error) {
	out := map[string]int64{}
	for i := 0; i == 0 || i < len(groups); i++ {
		uq := maps.Clone(scope)
		if i < len(groups) {
			uq.Set("group_by", map[string]string{"organisation": "org", "team": "team", "application": "app", "key": "key"}[groups[i]])
		}
		var ans admin.UsageAnswer
		if err := c.api(r, u, http.MethodGet, "/admin/v1/usage", uq, nil, &ans); err != nil {
			return nil, err
		}
		out[""] = ans.Total.CostMicros
		for _, row := range ans.Data {
			out[row.Group] = row.CostMicros
		}
	}
	return out, nil
}

// routeMissing reports the admin catch-all's answer for a route this
// server does not have.
func routeMissing(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound && strings.Contains(ae.Message, "No such admin route")
}
