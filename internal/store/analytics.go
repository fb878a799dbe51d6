package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// AnalyticsDimensions maps the analytics API's group-by names to rollup
// columns.
var AnalyticsDimensions = map[string]string{
	"organisation": "org_id", "org": "org_id", "team": "team_id", "application": "app_id", "app": "app_id",
	"key": "key_id", "model": "model", "provider": "provider", "product": "product",
	"product_version": "product_version", "prompt": "prompt", "prompt_version": "prompt_version", "status": "status",
}

// AnalyticsQuery selects rollup rows: From (inclusive) to To (exclusive),
// both rounded outwards to whole minutes, in buckets of Interval (a whole
// number of minutes that divides a day), grouped by GroupBy (names of
// AnalyticsDimensions), and only the rows whose columns equal Where
// (column name to value; "" values are ignored; for the unit and key
// columns, inListColumns, a comma-separated list selects any of its ids).
type AnalyticsQuery struct {
	From, To time.Time
	Interval time.Duration
	GroupBy  []string
	Where    map[string]string
	// Metrics names the measures wanted (AnalyticsMetrics); only their
	// columns are summed. Empty: all.
	Metrics []string
	// Rankings names dimensions (AnalyticsDimensions) whose values are
	// also summed over the whole range, each value apart, from the same
	// rows as the points (AnalyticsResult.Rankings): what grouping by
	// each of them alone would total, in one read instead of one each.
	Rankings []string
	// RankingMetrics names the measures the rankings are read for
	// (AnalyticsMetrics); empty: Metrics. Each value of a ranking keeps
	// its integer sums, and its histograms only where these or RankBy
	// need them (a percentile). The read covers Metrics and these.
	RankingMetrics []string
	// Top, when positive, keeps of each ranking only the Top values with
	// the greatest RankBy (a metric; "" is requests), ties broken by the
	// smaller value, in that order, and sums the rest in
	// AnalyticsResult.Others: only what is returned gets whole sums.
	Top    int
	RankBy string
}

// inListColumns are the Where columns whose value may list several ids,
// comma-separated (ids never hold a comma).
var inListColumns = map[string]bool{"org_id": true, "team_id": true, "app_id": true, "key_id": true}

// metricColumns is what each metric reads beyond requests.
var metricColumns = map[string][]string{
	"errors": {"errors"}, "error_rate": {"errors"}, "input_tokens": {"input_tokens"}, "output_tokens": {"output_tokens"},
	"cached_tokens": {"cached_tokens"}, "cost_micros": {"cost_micros"}, "cost_usd": {"cost_micros"},
	"cache_hit_rate": {"cache_hits", "cache_lookups"}, "latency_avg_ms": {"latency_us"},
	"latency_p50_ms": {"lat_hist"}, "latency_p95_ms": {"lat_hist"}, "latency_p99_ms": {"lat_hist"},
	"ttft_p50_ms": {"ttft_hist"}, "ttft_p95_ms": {"ttft_hist"}, "ttft_p99_ms": {"ttft_hist"},
}

// wantedColumns says which columns metrics need: sums marks the
// rollupSumColumns, lat and ttft the histograms.
func wantedColumns(metrics []string) (sums []bool, lat, ttft bool) {
	sums = make([]bool, len(rollupSumColumns))
	need := map[string]bool{"requests": true}
	for _, m := range metrics {
		for _, c := range metricColumns[m] {
			need[c] = true
		}
	}
	for i, c := range rollupSumColumns {
		sums[i] = len(metrics) == 0 || need[c]
	}
	return sums, len(metrics) == 0 || need["lat_hist"], len(metrics) == 0 || need["ttft_hist"]
}

// AnalyticsPoint is one bucket of one group.
type AnalyticsPoint struct {
	T     time.Time
	Group []string // values in GroupBy order
	RollupSums
}

// AnalyticsGroup is one value of a ranking's dimension, summed over the
// whole range.
type AnalyticsGroup struct {
	Value string
	RollupSums
}

// AnalyticsResult is what AnalyticsRanked answers: the points, as
// Analytics gives them, and for each name of AnalyticsQuery.Rankings, in
// that order, every value of that dimension with its sums over the
// range, sorted by value; with Top, only the top values, in rank order,
// and in Others, in the same order, the rest.
type AnalyticsResult struct {
	Points   []AnalyticsPoint
	Rankings [][]AnalyticsGroup
	Others   []AnalyticsRest
}

// AnalyticsRest is what Top left out of a ranking: how many values, and
// their sums.
type AnalyticsRest struct {
	Values int
	RollupSums
}

// analyticsParallelism is how many parts of a long stretch are read at
// once, and minRowsPerPart (buckets of the stretch's grain) what makes a
// stretch worth cutting.
const (
	analyticsParallelism = 4
	minRowsPerPart       = 24
)

// maxAnalyticsBuckets bounds (To-From)/Interval.
const maxAnalyticsBuckets = 100_000

// ErrAnalyticsRange is returned for a query whose range or interval the
// rollups cannot answer.
var ErrAnalyticsRange = errors.New("invalid analytics range")

// Analytics sums the rollups per interval bucket (aligned to the Unix
// epoch, so UTC days) and group. Each stretch of the range is read from
// the coarsest rows that are complete for it and fit the interval: day
// rows up to the day watermark, hour rows up to the hour watermark,
// minute rows after that. Points come sorted by group, then time; buckets
// without requests are absent. It ignores q.Rankings.
func (s *Store) Analytics(ctx context.Context, q AnalyticsQuery) ([]AnalyticsPoint, error) {
	q.Rankings = nil
	res, err := s.AnalyticsRanked(ctx, q)
	return res.Points, err
}

// AnalyticsRanked is Analytics with q.Rankings: each row read is added to
// its point and to its value of every ranking dimension, so that the
// points and the rankings come from one read of the range.
func (s *Store) AnalyticsRanked(ctx context.Context, q AnalyticsQuery) (AnalyticsResult, error) {
	var res AnalyticsResult
	iv := int64(q.Interval / time.Second)
	if iv < 60 || iv%60 != 0 || 86400%iv != 0 {
		return res, fmt.Errorf("%w: interval must be whole minutes from 1m to 1d that divide a day", ErrAnalyticsRange)
	}
	from, to := q.From.Unix(), q.To.Unix()
	from -= mod(from, 60)
	if r := mod(to, 60); r != 0 || q.To.Nanosecond() != 0 {
		to += 60 - r
	}
	if to <= from {
		return res, fmt.Errorf("%w: to must be after from", ErrAnalyticsRange)
	}
	if (to-from)/iv > maxAnalyticsBuckets {
		return res, fmt.Errorf("%w: more than %d buckets; use a longer interval", ErrAnalyticsRange, maxAnalyticsBuckets)
	}
	columns := func(names []string) ([]string, error) {
		out := make([]string, len(names))
		for i, g := range names {
			c, ok := AnalyticsDimensions[g]
			if !ok {
				return nil, fmt.Errorf("%w: cannot group by %q", ErrAnalyticsRange, g)
			}
			out[i] = c
		}
		return out, nil
	}
	groupCols, err := columns(q.GroupBy)
	if err != nil {
		return res, err
	}
	rankCols, err := columns(q.Rankings)
	if err != nil {
		return res, err
	}
	wm := map[string]int64{}
	rows, err := s.r.QueryContext(ctx, `SELECT grain, done_until FROM analytics_compaction`)
	if err != nil {
		return res, err
	}
	for rows.Next() {
		var g string
		var d int64
		if err := rows.Scan(&g, &d); err != nil {
			rows.Close()
			return res, err
		}
		wm[g] = d
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, err
	}
	// The stretches: [from, to) cut at the watermarks, each read from the
	// coarsest grain that divides the interval and is complete there; the
	// unaligned head and tail come from finer rows.
	grains := []string{GrainMinute}
	for _, g := range []string{GrainHour, GrainDay} {
		if iv%grainSeconds[g] == 0 {
			grains = append([]string{g}, grains...)
		}
	}
	type stretch struct {
		grain      string
		start, end int64
	}
	var plan []stretch
	var cut func(a, b int64, grains []string)
	cut = func(a, b int64, grains []string) {
		if a >= b {
			return
		}
		g := grains[0]
		if g == GrainMinute {
			plan = append(plan, stretch{g, a, b})
			return
		}
		w := grainSeconds[g]
		start := a + mod(w-mod(a, w), w) // a rounded up to the grain
		end := min(b, wm[g])
		end -= mod(end, w)
		if end <= start {
			cut(a, b, grains[1:])
			return
		}
		cut(a, start, grains[1:])
		plan = append(plan, stretch{g, start, end})
		cut(end, b, grains[1:])
	}
	cut(from, to, grains)
	rankBy := q.RankBy
	if rankBy == "" {
		rankBy = "requests"
	}
	if _, ok := (&RollupSums{}).Metric(rankBy); !ok {
		return res, fmt.Errorf("%w: cannot rank by %q", ErrAnalyticsRange, rankBy)
	}
	rankMetrics := q.RankingMetrics
	if len(rankMetrics) == 0 {
		rankMetrics = q.Metrics
	}
	read := q.Metrics
	if len(read) > 0 && len(rankCols) > 0 {
		if len(rankMetrics) == 0 {
			read = nil // all
		} else {
			read = append(slices.Clip(read), rankMetrics...)
			if q.Top > 0 {
				read = append(read, rankBy)
			}
		}
	}
	wantSums, wantLat, wantTTFT := wantedColumns(read)
	want := stretchColumns{wantSums, wantLat, wantTTFT}
	// What each ranking's value keeps: its histograms only where the
	// ranking's metrics or its order need them.
	keep := rankKeep{wantLat, wantTTFT}
	if len(rankMetrics) > 0 {
		if q.Top > 0 {
			rankMetrics = append(slices.Clip(rankMetrics), rankBy)
		}
		_, keep.lat, keep.ttft = wantedColumns(rankMetrics)
		keep.lat, keep.ttft = keep.lat && wantLat, keep.ttft && wantTTFT
	}

	// Long stretches are cut in parts read at once on separate connections
	// (SQLite's read pool has 4, PostgreSQL's 16), each summed apart, then
	// merged. Not with rankings: each part would hold a sum for every
	// value of every ranking (every key of the range, say) and merging
	// them costs more CPU than the parts save in time (on the 1 M key
	// benchmark a week's overview took 150 ms of CPU in 4 parts, 130 ms in
	// one; see bench/RESULTS.md).
	var parts []stretch
	for _, st := range plan {
		w := grainSeconds[st.grain]
		rows := (st.end - st.start) / w
		n := min(int64(analyticsParallelism), rows/minRowsPerPart)
		if n <= 1 || len(rankCols) > 0 {
			parts = append(parts, st)
			continue
		}
		step := (rows + n - 1) / n * w
		for a := st.start; a < st.end; a += step {
			parts = append(parts, stretch{st.grain, a, min(a+step, st.end)})
		}
	}
	accs := make([]*analyticsAcc, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, st := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			accs[i] = newAnalyticsAcc(len(rankCols), keep)
			errs[i] = s.analyticsStretch(ctx, st.grain, st.start, st.end, iv, groupCols, rankCols, q.Where, want, accs[i])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	// Merged into the part with the most ranking values, so that the
	// largest maps are not built twice.
	base := 0
	for i, a := range accs {
		if a.rankValues() > accs[base].rankValues() {
			base = i
		}
	}
	acc := accs[base]
	for i, a := range accs {
		if i != base {
			acc.merge(a)
		}
	}
	res.Points = make([]AnalyticsPoint, 0, len(acc.points))
	for _, p := range acc.points {
		res.Points = append(res.Points, *p)
	}
	sort.Slice(res.Points, func(i, j int) bool {
		if a, b := strings.Join(res.Points[i].Group, "\x00"), strings.Join(res.Points[j].Group, "\x00"); a != b {
			return a < b
		}
		return res.Points[i].T.Before(res.Points[j].T)
	})
	res.Rankings = make([][]AnalyticsGroup, len(rankCols))
	if q.Top > 0 {
		res.Others = make([]AnalyticsRest, len(rankCols))
	}
	for i, m := range acc.ranks {
		if q.Top > 0 {
			res.Rankings[i], res.Others[i] = topValues(m, q.Top, rankBy)
			continue
		}
		gs := make([]AnalyticsGroup, 0, len(m))
		for v, sums := range m {
			g := AnalyticsGroup{Value: v}
			sums.fill(&g.RollupSums, true)
			gs = append(gs, g)
		}
		sort.Slice(gs, func(a, b int) bool { return gs[a].Value < gs[b].Value })
		res.Rankings[i] = gs
	}
	return res, nil
}

// topValues picks the n values of a ranking with the greatest metric,
// ties broken by the smaller value, in that order, and sums the rest:
// whole RollupSums only for those n and the rest, whatever the number of
// values.
func topValues(m map[string]*rankSums, n int, metric string) ([]AnalyticsGroup, AnalyticsRest) {
	type cand struct {
		v     float64
		value string
		sums  *rankSums
	}
	better := func(a, b *cand) bool {
		if a.v != b.v {
			return a.v > b.v
		}
		return a.value < b.value
	}
	_, lat, ttft := wantedColumns([]string{metric})
	hists := lat || ttft
	top := make([]cand, 0, min(n, len(m)))
	var scratch RollupSums
	for v, s := range m {
		s.fill(&scratch, hists)
		c := cand{value: v, sums: s}
		c.v, _ = scratch.Metric(metric)
		if len(top) == n && !better(&c, &top[n-1]) {
			continue
		}
		i := sort.Search(len(top), func(k int) bool { return better(&c, &top[k]) })
		if len(top) < n {
			top = append(top, cand{})
		}
		copy(top[i+1:], top[i:])
		top[i] = c
	}
	kept := make(map[*rankSums]bool, len(top))
	gs := make([]AnalyticsGroup, len(top))
	for k := range top {
		kept[top[k].sums] = true
		gs[k].Value = top[k].value
		top[k].sums.fill(&gs[k].RollupSums, true)
	}
	var rest rankSums
	for _, s := range m {
		if !kept[s] {
			rest.add(s)
		}
	}
	out := AnalyticsRest{Values: len(m) - len(top)}
	rest.fill(&out.RollupSums, true)
	return gs, out
}

// rankKeep says which histograms a ranking's values keep.
type rankKeep struct{ lat, ttft bool }

// rankSums is what a ranking keeps per value: the integer sums of
// RollupSums (96 bytes in all) and, only where the ranking needs them,
// its histograms (512 bytes each).
type rankSums struct {
	requests, errors, inputTokens, outputTokens, cachedTokens, costMicros int64
	cacheHits, cacheLookups, latencyMicros, ttftCount, ttftMicros         int64
	hists                                                                 *rankHists
}

// rankHists are a ranking value's histograms; each is nil unless kept.
type rankHists struct{ lat, ttft *Hist }

func newRankSums(keep rankKeep) *rankSums {
	r := &rankSums{}
	if keep.lat || keep.ttft {
		r.hists = &rankHists{}
	}
	if keep.lat {
		r.hists.lat = new(Hist)
	}
	if keep.ttft {
		r.hists.ttft = new(Hist)
	}
	return r
}

// addRow adds a row's integer columns and, where r keeps them, its
// decoded histograms to r.
func (r *rankSums) addRow(row *RollupSums, lat, ttft *rowHist) {
	r.requests += row.Requests
	r.errors += row.Errors
	r.inputTokens += row.InputTokens
	r.outputTokens += row.OutputTokens
	r.cachedTokens += row.CachedTokens
	r.costMicros += row.CostMicros
	r.cacheHits += row.CacheHits
	r.cacheLookups += row.CacheLookups
	r.latencyMicros += row.LatencyMicros
	r.ttftCount += row.TTFTCount
	r.ttftMicros += row.TTFTMicros
	if r.hists != nil {
		if r.hists.lat != nil {
			lat.addTo(r.hists.lat)
		}
		if r.hists.ttft != nil {
			ttft.addTo(r.hists.ttft)
		}
	}
}

// add adds o to r, histograms included where o has them.
func (r *rankSums) add(o *rankSums) {
	r.requests += o.requests
	r.errors += o.errors
	r.inputTokens += o.inputTokens
	r.outputTokens += o.outputTokens
	r.cachedTokens += o.cachedTokens
	r.costMicros += o.costMicros
	r.cacheHits += o.cacheHits
	r.cacheLookups += o.cacheLookups
	r.latencyMicros += o.latencyMicros
	r.ttftCount += o.ttftCount
	r.ttftMicros += o.ttftMicros
	if o.hists == nil {
		return
	}
	if r.hists == nil {
		r.hists = &rankHists{}
	}
	if o.hists.lat != nil {
		if r.hists.lat == nil {
			r.hists.lat = new(Hist)
		}
		r.hists.lat.Add(o.hists.lat)
	}
	if o.hists.ttft != nil {
		if r.hists.ttft == nil {
			r.hists.ttft = new(Hist)
		}
		r.hists.ttft.Add(o.hists.ttft)
	}
}

// fill sets d to r's sums; with hists, its histograms too (empty where r
// keeps none), else d's are left as they are.
func (r *rankSums) fill(d *RollupSums, hists bool) {
	d.Requests, d.Errors = r.requests, r.errors
	d.InputTokens, d.OutputTokens, d.CachedTokens = r.inputTokens, r.outputTokens, r.cachedTokens
	d.CostMicros, d.CacheHits, d.CacheLookups = r.costMicros, r.cacheHits, r.cacheLookups
	d.LatencyMicros, d.TTFTCount, d.TTFTMicros = r.latencyMicros, r.ttftCount, r.ttftMicros
	if !hists {
		return
	}
	d.Latency, d.TTFT = Hist{}, Hist{}
	if r.hists == nil {
		return
	}
	if r.hists.lat != nil {
		d.Latency = *r.hists.lat
	}
	if r.hists.ttft != nil {
		d.TTFT = *r.hists.ttft
	}
}

// analyticsAcc sums the rows of a read: per point (under a key of the
// bucket's 8 bytes and the group's values, each ended by a NUL) and, for
// each ranking dimension, per value.
type analyticsAcc struct {
	points map[string]*AnalyticsPoint
	ranks  []map[string]*rankSums
	keep   rankKeep
}

func newAnalyticsAcc(rankings int, keep rankKeep) *analyticsAcc {
	a := &analyticsAcc{points: map[string]*AnalyticsPoint{}, ranks: make([]map[string]*rankSums, rankings), keep: keep}
	for i := range a.ranks {
		a.ranks[i] = map[string]*rankSums{}
	}
	return a
}

// rankValues counts the values of a's rankings.
func (a *analyticsAcc) rankValues() int {
	n := 0
	for _, m := range a.ranks {
		n += len(m)
	}
	return n
}

// merge adds o's sums to a; o is not to be used after.
func (a *analyticsAcc) merge(o *analyticsAcc) {
	for k, p := range o.points {
		if q := a.points[k]; q != nil {
			q.RollupSums.Add(&p.RollupSums)
		} else {
			a.points[k] = p
		}
	}
	for i, m := range o.ranks {
		for v, sums := range m {
			if r := a.ranks[i][v]; r != nil {
				r.add(sums)
			} else {
				a.ranks[i][v] = sums
			}
		}
	}
}

// addRow adds a row's integer columns (row's) and its decoded histograms
// to r.
func (r *RollupSums) addRow(row *RollupSums, lat, ttft *rowHist) {
	r.Requests += row.Requests
	r.Errors += row.Errors
	r.InputTokens += row.InputTokens
	r.OutputTokens += row.OutputTokens
	r.CachedTokens += row.CachedTokens
	r.CostMicros += row.CostMicros
	r.CacheHits += row.CacheHits
	r.CacheLookups += row.CacheLookups
	r.LatencyMicros += row.LatencyMicros
	r.TTFTCount += row.TTFTCount
	r.TTFTMicros += row.TTFTMicros
	lat.addTo(&r.Latency)
	ttft.addTo(&r.TTFT)
}

// rowHist is a histogram column's non-empty buckets, decoded once per
// row and added to each sum the row counts in (its point and its value of
// every ranking): a few buckets each, where Hist.AddEncoded would decode
// into a whole Hist and add all its buckets for each.
type rowHist struct {
	n   int
	idx [HistBuckets]uint8
	cnt [HistBuckets]int64
}

// decode reads b (AppendHist; nil is empty). It refuses what
// Hist.AddEncoded refuses, and is then empty.
func (s *rowHist) decode(b []byte) error {
	s.n = 0
	next := 0
	for len(b) > 0 {
		gap, n := binary.Uvarint(b)
		if n <= 0 || gap >= uint64(HistBuckets-next) {
			s.n = 0
			return errHistEncoding
		}
		b = b[n:]
		c, n := binary.Uvarint(b)
		if n <= 0 || c == 0 || c > math.MaxInt64 {
			s.n = 0
			return errHistEncoding
		}
		b = b[n:]
		i := next + int(gap)
		s.idx[s.n], s.cnt[s.n] = uint8(i), int64(c)
		s.n++
		next = i + 1
	}
	return nil
}

// addTo adds the decoded counts to h.
func (s *rowHist) addTo(h *Hist) {
	for k := range s.n {
		h[s.idx[k]] += s.cnt[k]
	}
}

// stretchColumns are the columns a query reads: the marked
// rollupSumColumns, and the histograms it wants.
type stretchColumns struct {
	sums      []bool
	lat, ttft bool
}

// analyticsStretch reads the rows of grain in [start, end) and adds each
// to acc: to its interval bucket and group, and to its value of each of
// rankCols. Without histograms, SQL first sums the rows per bucket, group
// and ranking values; with them, the rows stream out as they are, the
// histograms merged from their encoding.
func (s *Store) analyticsStretch(ctx context.Context, grain string, start, end, iv int64, groupCols, rankCols []string,
	where map[string]string, want stretchColumns, acc *analyticsAcc) error {
	q, args := s.stretchQuery(grain, start, end, iv, groupCols, rankCols, where, want)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	// The integers are scanned into interfaces: database/sql converts an
	// int64 into an *int64 through reflection, at a cost per column and
	// row that is the query's largest after SQLite's own.
	var (
		t         int64
		raw       = make([]sql.RawBytes, len(groupCols)+len(rankCols))
		row       RollupSums
		into      []*int64 // the fields of row that vals go to
		lat, ttft sql.RawBytes
		latH      rowHist
		ttftH     rowHist
		key       []byte
		// The sums the row before went to, and its values.
		p           *AnalyticsPoint
		lastKey     []byte
		lastRank    = make([]*rankSums, len(rankCols))
		lastRankRaw = make([][]byte, len(rankCols))
	)
	groupRaw, rankRaw := raw[:len(groupCols)], raw[len(groupCols):]
	targets := []any{&t}
	for i := range raw {
		targets = append(targets, &raw[i])
	}
	for i, p := range row.scanTargets(nil) {
		if want.sums[i] {
			into = append(into, p.(*int64))
		}
	}
	vals := make([]any, len(into))
	for i := range vals {
		targets = append(targets, &vals[i])
	}
	if want.lat {
		targets = append(targets, &lat)
	}
	if want.ttft {
		targets = append(targets, &ttft)
	}
	for rows.Next() {
		if err := rows.Scan(targets...); err != nil {
			return err
		}
		for i, v := range vals {
			n, ok := v.(int64)
			if !ok {
				return fmt.Errorf("analytics: %T in an integer column", v)
			}
			*into[i] = n
		}
		if err := latH.decode(lat); err != nil {
			return err
		}
		if err := ttftH.decode(ttft); err != nil {
			return err
		}
		key = binary.BigEndian.AppendUint64(key[:0], uint64(t))
		for _, g := range groupRaw {
			key = append(append(key, g...), 0)
		}
		// Rows come in index order, so that the row before often has the
		// same point and ranking values: those sums are reused without a
		// map lookup.
		if p == nil || !bytes.Equal(key, lastKey) {
			p = acc.points[string(key)]
			if p == nil {
				p = &AnalyticsPoint{T: time.Unix(t, 0).UTC(), Group: make([]string, len(groupRaw))}
				for i, g := range groupRaw {
					p.Group[i] = string(g)
				}
				acc.points[string(key)] = p
			}
			lastKey = append(lastKey[:0], key...)
		}
		p.addRow(&row, &latH, &ttftH)
		for i, v := range rankRaw {
			r := lastRank[i]
			if r == nil || !bytes.Equal(v, lastRankRaw[i]) {
				r = acc.ranks[i][string(v)]
				if r == nil {
					r = newRankSums(acc.keep)
					acc.ranks[i][string(v)] = r
				}
				lastRank[i], lastRankRaw[i] = r, append(lastRankRaw[i][:0], v...)
			}
			r.addRow(&row, &latH, &ttftH)
		}
	}
	return rows.Err()
}

// stretchQuery is analyticsStretch's statement: rows of grain in [start,
// end) with their bucket, group and ranking columns, summed per interval
// bucket, group and ranking values in SQL unless histograms are wanted.
// Its columns are all in the analytics_rollup_covering index.
func (s *Store) stretchQuery(grain string, start, end, iv int64, groupCols, rankCols []string, where map[string]string,
	want stretchColumns) (string, []any) {
	merge := want.lat || want.ttft
	ivs := itoa(int(iv))
	sel := []string{"bucket - bucket % " + ivs}
	groupBy := []string{"bucket - bucket % " + ivs}
	for _, c := range append(slices.Clip(groupCols), rankCols...) {
		if c == "prompt_version" {
			sel = append(sel, "CAST(prompt_version AS TEXT)")
		} else {
			sel = append(sel, c)
		}
		if !slices.Contains(groupBy, c) {
			groupBy = append(groupBy, c)
		}
	}
	for i, c := range rollupSumColumns {
		switch {
		case !want.sums[i]:
		case merge:
			sel = append(sel, c)
		case s.dialect == "postgres": // SUM(bigint) is numeric there
			sel = append(sel, "CAST(SUM("+c+") AS BIGINT)")
		default:
			sel = append(sel, "SUM("+c+")")
		}
	}
	if want.lat {
		sel = append(sel, "lat_hist")
	}
	if want.ttft {
		sel = append(sel, "ttft_hist")
	}
	args := []any{grain, start, end}
	conds := []string{"grain = $1", "bucket >= $2", "bucket < $3"}
	// Filters in index order, for a stable statement text.
	for _, c := range []string{"org_id", "team_id", "app_id", "key_id", "model", "provider", "product", "product_version", "prompt",
		"prompt_version", "status"} {
		v := where[c]
		if v == "" {
			continue
		}
		if ids := strings.Split(v, ","); len(ids) > 1 && inListColumns[c] {
			marks := make([]string, len(ids))
			for i, id := range ids {
				args = append(args, id)
				marks[i] = "$" + itoa(len(args))
			}
			conds = append(conds, c+" IN ("+strings.Join(marks, ", ")+")")
			continue
		}
		args = append(args, v)
		conds = append(conds, c+" = $"+itoa(len(args)))
	}
	q := "SELECT " + strings.Join(sel, ", ") + " FROM analytics_rollup WHERE " + strings.Join(conds, " AND ")
	if !merge {
		q += " GROUP BY " + strings.Join(groupBy, ", ")
	}
	return q, args
}

// AnalyticsMetrics are the measures a point can report, in answer order.
var AnalyticsMetrics = []string{"requests", "errors", "error_rate", "input_tokens", "output_tokens", "cached_tokens",
	"cost_micros", "cost_usd", "cache_hit_rate", "latency_avg_ms", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
	"ttft_p50_ms", "ttft_p95_ms", "ttft_p99_ms"}

// Metric returns the named measure of r (one of AnalyticsMetrics). Rates
// and latencies of an empty set are 0; ok is false for an unknown name.
func (r *RollupSums) Metric(name string) (v float64, ok bool) {
	ratio := func(a, b int64) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1000 }
	switch name {
	case "requests":
		return float64(r.Requests), true
	case "errors":
		return float64(r.Errors), true
	case "error_rate":
		return ratio(r.Errors, r.Requests), true
	case "input_tokens":
		return float64(r.InputTokens), true
	case "output_tokens":
		return float64(r.OutputTokens), true
	case "cached_tokens":
		return float64(r.CachedTokens), true
	case "cost_micros":
		return float64(r.CostMicros), true
	case "cost_usd":
		return float64(r.CostMicros) / 1e6, true
	case "cache_hit_rate":
		return ratio(r.CacheHits, r.CacheLookups), true
	case "latency_avg_ms":
		return math.Round(ratio(r.LatencyMicros, r.Requests)) / 1000, true
	case "latency_p50_ms":
		return ms(r.Latency.Quantile(0.50)), true
	case "latency_p95_ms":
		return ms(r.Latency.Quantile(0.95)), true
	case "latency_p99_ms":
		return ms(r.Latency.Quantile(0.99)), true
	case "ttft_p50_ms":
		return ms(r.TTFT.Quantile(0.50)), true
	case "ttft_p95_ms":
		return ms(r.TTFT.Quantile(0.95)), true
	case "ttft_p99_ms":
		return ms(r.TTFT.Quantile(0.99)), true
	}
	return 0, false
}
