package admin

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// The analytics API reads the rollups that the ledger's write path keeps
// (store.Analytics), scoped like every ledger read: the caller names an
// organisation, team, application or key (the super-admin may name none)
// and sees only its rows.

// AnalyticsSeries is one group's points.
type AnalyticsSeries struct {
	Group  map[string]string `json:"group"`
	Points []map[string]any  `json:"points"`
}

// AnalyticsAnswer is the answer of GET /admin/v1/analytics.
type AnalyticsAnswer struct {
	Object   string            `json:"object" enum:"analytics"`
	From     time.Time         `json:"from"`
	To       time.Time         `json:"to"`
	Interval string            `json:"interval"`
	GroupBy  []string          `json:"group_by"`
	Metrics  []string          `json:"metrics"`
	Series   []AnalyticsSeries `json:"series"`
	Totals   map[string]any    `json:"totals"`
	// Other, with top, sums the series left out: how many, and their
	// metrics over the whole range.
	Other *AnalyticsOther `json:"other,omitempty"`
	// Rankings, with rankings=, holds per dimension named there its top
	// values over the whole range, read with the series in one pass.
	Rankings map[string]AnalyticsRanking `json:"rankings,omitempty"`
}

// AnalyticsRanking is one dimension's top values by rank_by over the
// whole range, in rank order, and the rest summed in other: what
// group_by=that dimension with the same top answers, each series' points
// summed.
type AnalyticsRanking struct {
	Groups []AnalyticsRankedGroup `json:"groups"`
	Other  AnalyticsOther         `json:"other"`
}

// AnalyticsRankedGroup is one value of a ranking and its metrics.
type AnalyticsRankedGroup struct {
	Group  map[string]string `json:"group"`
	Totals map[string]any    `json:"totals"`
}

// AnalyticsOther is what top=N left out of an analytics answer.
type AnalyticsOther struct {
	Series int            `json:"series"`
	Totals map[string]any `json:"totals"`
}

// maxAnalyticsTop bounds the top parameter.
const maxAnalyticsTop = 1000

// rankSeries keeps the n groups of pts (sorted by group, then time) with
// the greatest metric over all their points, ties broken by the group's
// values; kept lists their points in rank order, rest sums the others.
func rankSeries(pts []store.AnalyticsPoint, n int, metric string) (kept []store.AnalyticsPoint, rest store.RollupSums, restGroups int) {
	type group struct {
		key      string
		from, to int // pts[from:to]
		sum      store.RollupSums
		v        float64
	}
	var gs []group
	for i := range pts {
		k := strings.Join(pts[i].Group, "\x00")
		if len(gs) == 0 || gs[len(gs)-1].key != k {
			gs = append(gs, group{key: k, from: i})
		}
		g := &gs[len(gs)-1]
		g.to = i + 1
		g.sum.Add(&pts[i].RollupSums)
	}
	for i := range gs {
		gs[i].v, _ = gs[i].sum.Metric(metric)
	}
	slices.SortStableFunc(gs, func(a, b group) int {
		if a.v != b.v {
			if a.v > b.v {
				return -1
			}
			return 1
		}
		return strings.Compare(a.key, b.key)
	})
	for i, g := range gs {
		if i < n {
			kept = append(kept, pts[g.from:g.to]...)
			continue
		}
		rest.Add(&g.sum)
		restGroups++
	}
	return kept, rest, restGroups
}

// rankedGroups turns one dimension's top values (store.AnalyticsResult's
// ranking with Top, in rank order) and the rest into its ranking, with
// the named metrics.
func rankedGroups(gs []store.AnalyticsGroup, rest store.AnalyticsRest, dim string, metrics []string) AnalyticsRanking {
	out := AnalyticsRanking{Groups: make([]AnalyticsRankedGroup, len(gs)),
		Other: AnalyticsOther{Series: rest.Values, Totals: metricValues(&rest.RollupSums, metrics, map[string]any{})}}
	for k := range gs {
		out.Groups[k] = AnalyticsRankedGroup{Group: map[string]string{dim: gs[k].Value},
			Totals: metricValues(&gs[k].RollupSums, metrics, map[string]any{})}
	}
	return out
}

// parseInterval reads "1m", "5m", "1h", "1d" and the like.
func parseInterval(s string) (time.Duration, error) {
	bad := &httpError{http.StatusBadRequest, "invalid_interval", "interval must be 1m to 1d (for example 1m, 5m, 15m, 1h, 6h, 1d) and divide a day."}
	if s == "" {
		return time.Hour, nil
	}
	unit := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[s[len(s)-1]]
	n, err := strconv.Atoi(s[:len(s)-1])
	if unit == 0 || err != nil || n < 1 || n > 1440 {
		return 0, bad
	}
	d := time.Duration(n) * unit
	if d < time.Minute || d > 24*time.Hour || (24*time.Hour)%d != 0 {
		return 0, bad
	}
	return d, nil
}

// analyticsMetrics expands the metrics parameter (or another named
// param that takes the same): names of store.AnalyticsMetrics, or the
// families "tokens", "cost", "latency" and "ttft"; empty means all.
func analyticsMetrics(param, s string) ([]string, error) {
	if s == "" {
		return store.AnalyticsMetrics, nil
	}
	families := map[string][]string{
		"tokens":  {"input_tokens", "output_tokens", "cached_tokens"},
		"cost":    {"cost_micros", "cost_usd"},
		"latency": {"latency_avg_ms", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms"},
		"ttft":    {"ttft_p50_ms", "ttft_p95_ms", "ttft_p99_ms"},
	}
	var out []string
	for _, m := range strings.Split(s, ",") {
		m = strings.TrimSpace(m)
		names := families[m]
		if names == nil {
			if !slices.Contains(store.AnalyticsMetrics, m) {
				return nil, &httpError{http.StatusBadRequest, "invalid_" + param,
					param + " are " + strings.Join(store.AnalyticsMetrics, ", ") + ", or tokens, cost, latency, ttft."}
			}
			names = []string{m}
		}
		for _, n := range names {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// maxAnalyticsIDs bounds the ids of key_ids and app_ids.
const maxAnalyticsIDs = 200

func (a *API) analytics(w http.ResponseWriter, r *http.Request) error {
	qs := r.URL.Query()
	f := store.UsageFilter{OrgID: qs.Get("org_id"), TeamID: qs.Get("team_id"), AppID: qs.Get("app_id"), KeyID: qs.Get("key_id")}
	if err := a.ledgerScope(r, &f); err != nil {
		return err
	}
	now := time.Now().UTC()
	to, err := parseTime(qs.Get("to"), "to", now)
	if err != nil {
		return err
	}
	from, err := parseTime(qs.Get("from"), "from", to.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	iv, err := parseInterval(qs.Get("interval"))
	if err != nil {
		return err
	}
	metrics, err := analyticsMetrics("metrics", qs.Get("metrics"))
	if err != nil {
		return err
	}
	// The rankings' metrics: by default the series'; fewer keep less per
	// value of a ranking (no histograms without a percentile).
	rankMetrics := metrics
	if v := qs.Get("ranking_metrics"); v != "" {
		if rankMetrics, err = analyticsMetrics("ranking_metrics", v); err != nil {
			return err
		}
	}
	dimensions := func(param string) ([]string, error) {
		var out []string
		if g := qs.Get(param); g != "" {
			for _, name := range strings.Split(g, ",") {
				name = strings.TrimSpace(name)
				if _, ok := store.AnalyticsDimensions[name]; !ok {
					return nil, &httpError{http.StatusBadRequest, "invalid_" + param, param +
						" takes model, provider, key, application, team, organisation, product, product_version, prompt, prompt_version or status."}
				}
				if !slices.Contains(out, name) {
					out = append(out, name)
				}
			}
		}
		return out, nil
	}
	groupBy, err := dimensions("group_by")
	if err != nil {
		return err
	}
	rankings, err := dimensions("rankings")
	if err != nil {
		return err
	}
	top, rankBy := 0, qs.Get("rank_by")
	if v := qs.Get("top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAnalyticsTop {
			return &httpError{http.StatusBadRequest, "invalid_top", "top must be a whole number from 1 to " + strconv.Itoa(maxAnalyticsTop) + "."}
		}
		top = n
	}
	if rankBy != "" && top == 0 {
		return &httpError{http.StatusBadRequest, "invalid_rank_by", "rank_by needs top."}
	}
	if len(rankings) > 0 && top == 0 {
		return &httpError{http.StatusBadRequest, "invalid_rankings", "rankings needs top."}
	}
	if rankBy == "" {
		rankBy = "requests"
	}
	if !slices.Contains(store.AnalyticsMetrics, rankBy) {
		return &httpError{http.StatusBadRequest, "invalid_rank_by", "rank_by is one of " + strings.Join(store.AnalyticsMetrics, ", ") + "."}
	}
	read := metrics
	if top > 0 && !slices.Contains(metrics, rankBy) {
		read = append(slices.Clip(metrics), rankBy)
	}
	where := map[string]string{"org_id": f.OrgID, "team_id": f.TeamID, "app_id": f.AppID, "key_id": f.KeyID}
	for _, c := range []string{"model", "provider", "product", "prompt", "status"} {
		where[c] = qs.Get(c)
	}
	// key_ids and app_ids narrow the authorised scope to a list of ids
	// (a page's rows); ids outside the scope select nothing.
	for param, col := range map[string]string{"key_ids": "key_id", "app_ids": "app_id"} {
		v := qs.Get(param)
		if v == "" {
			continue
		}
		ids := strings.Split(v, ",")
		if where[col] != "" || len(ids) > maxAnalyticsIDs || slices.Contains(ids, "") {
			return &httpError{http.StatusBadRequest, "invalid_" + param, param + " is a comma-separated list of at most " +
				strconv.Itoa(maxAnalyticsIDs) + " ids, and not with " + col + "."}
		}
		where[col] = v
	}
	res, err := a.opts.Store.AnalyticsRanked(r.Context(), store.AnalyticsQuery{From: from, To: to, Interval: iv, GroupBy: groupBy,
		Where: where, Metrics: read, Rankings: rankings, RankingMetrics: rankMetrics, Top: top, RankBy: rankBy})
	if errors.Is(err, store.ErrAnalyticsRange) {
		return &httpError{http.StatusBadRequest, "invalid_range", strings.TrimPrefix(err.Error(), store.ErrAnalyticsRange.Error()+": ")}
	}
	if err != nil {
		return err
	}
	ans := AnalyticsAnswer{Object: "analytics", From: from, To: to, Interval: qs.Get("interval"), GroupBy: groupBy,
		Metrics: metrics, Series: []AnalyticsSeries{}}
	if ans.Interval == "" {
		ans.Interval = "1h"
	}
	if ans.GroupBy == nil {
		ans.GroupBy = []string{}
	}
	pts := res.Points
	var total store.RollupSums
	for i := range pts {
		total.Add(&pts[i].RollupSums)
	}
	if top > 0 {
		kept, rest, n := rankSeries(pts, top, rankBy)
		ans.Other = &AnalyticsOther{Series: n, Totals: metricValues(&rest, metrics, map[string]any{})}
		pts = kept
	}
	for i, dim := range rankings {
		if ans.Rankings == nil {
			ans.Rankings = map[string]AnalyticsRanking{}
		}
		ans.Rankings[dim] = rankedGroups(res.Rankings[i], res.Others[i], dim, rankMetrics)
	}
	var cur *AnalyticsSeries
	var curKey string
	for i := range pts {
		p := &pts[i]
		if k := strings.Join(p.Group, "\x00"); cur == nil || k != curKey {
			g := make(map[string]string, len(groupBy))
			for j, name := range groupBy {
				g[name] = p.Group[j]
			}
			ans.Series = append(ans.Series, AnalyticsSeries{Group: g, Points: []map[string]any{}})
			cur, curKey = &ans.Series[len(ans.Series)-1], k
		}
		cur.Points = append(cur.Points, metricValues(&p.RollupSums, metrics, map[string]any{"t": p.T}))
	}
	ans.Totals = metricValues(&total, metrics, map[string]any{})
	return writeJSON(w, http.StatusOK, ans)
}

// metricValues adds the named metrics of s to m; counts stay integers.
func metricValues(s *store.RollupSums, metrics []string, m map[string]any) map[string]any {
	for _, name := range metrics {
		v, _ := s.Metric(name)
		switch name {
		case "requests", "errors", "input_tokens", "output_tokens", "cached_tokens", "cost_micros":
			m[name] = int64(v)
		default:
			m[name] = v
		}
	}
	return m
}
