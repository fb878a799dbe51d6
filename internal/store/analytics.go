package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
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
// without requests are absent.
func (s *Store) Analytics(ctx context.Context, q AnalyticsQuery) ([]AnalyticsPoint, error) {
	iv := int64(q.Interval / time.Second)
	if iv < 60 || iv%60 != 0 || 86400%iv != 0 {
		return nil, fmt.Errorf("%w: interval must be whole minutes from 1m to 1d that divide a day", ErrAnalyticsRange)
	}
	from, to := q.From.Unix(), q.To.Unix()
	from -= mod(from, 60)
	if r := mod(to, 60); r != 0 || q.To.Nanosecond() != 0 {
		to += 60 - r
	}
	if to <= from {
		return nil, fmt.Errorf("%w: to must be after from", ErrAnalyticsRange)
	}
	if (to-from)/iv > maxAnalyticsBuckets {
		return nil, fmt.Errorf("%w: more than %d buckets; use a longer interval", ErrAnalyticsRange, maxAnalyticsBuckets)
	}
	groupCols := make([]string, len(q.GroupBy))
	for i, g := range q.GroupBy {
		c, ok := AnalyticsDimensions[g]
		if !ok {
			return nil, fmt.Errorf("%w: cannot group by %q", ErrAnalyticsRange, g)
		}
		groupCols[i] = c
	}
	wm := map[string]int64{}
	rows, err := s.r.QueryContext(ctx, `SELECT grain, done_until FROM analytics_compaction`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var g string
		var d int64
		if err := rows.Scan(&g, &d); err != nil {
			rows.Close()
			return nil, err
		}
		wm[g] = d
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
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
	wantSums, wantLat, wantTTFT := wantedColumns(q.Metrics)
	want := stretchColumns{wantSums, wantLat, wantTTFT}

	type key struct {
		t     int64
		group string
	}
	// Long stretches are cut in parts read at once on separate connections
	// (SQLite's read pool has 4, PostgreSQL's 16), merged under mu.
	var parts []stretch
	for _, st := range plan {
		w := grainSeconds[st.grain]
		rows := (st.end - st.start) / w
		n := min(int64(analyticsParallelism), rows/minRowsPerPart)
		if n <= 1 {
			parts = append(parts, st)
			continue
		}
		step := (rows + n - 1) / n * w
		for a := st.start; a < st.end; a += step {
			parts = append(parts, stretch{st.grain, a, min(a+step, st.end)})
		}
	}
	var mu sync.Mutex // guards acc
	acc := map[key]*AnalyticsPoint{}
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, st := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.analyticsStretch(ctx, st.grain, st.start, st.end, iv, groupCols, q.Where, want, func(t int64, group []string, sums *RollupSums) {
				k := key{t, strings.Join(group, "\x00")}
				mu.Lock()
				defer mu.Unlock()
				p := acc[k]
				if p == nil {
					p = &AnalyticsPoint{T: time.Unix(t, 0).UTC(), Group: group}
					acc[k] = p
				}
				p.RollupSums.Add(sums)
			})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := make([]AnalyticsPoint, 0, len(acc))
	for _, p := range acc {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := strings.Join(out[i].Group, "\x00"), strings.Join(out[j].Group, "\x00"); a != b {
			return a < b
		}
		return out[i].T.Before(out[j].T)
	})
	return out, nil
}

// stretchColumns are the columns a query reads: the marked
// rollupSumColumns, and the histograms it wants.
type stretchColumns struct {
	sums      []bool
	lat, ttft bool
}

// analyticsStretch reads the rows of grain in [start, end), summed per
// interval bucket and group, and hands each sum to emit. Without
// histograms, SQL sums the rows; with them, the rows stream out as they
// are and are summed here, the histograms merged from their encoding.
func (s *Store) analyticsStretch(ctx context.Context, grain string, start, end, iv int64, groupCols []string,
	where map[string]string, want stretchColumns, emit func(t int64, group []string, sums *RollupSums)) error {
	merge := want.lat || want.ttft
	q, args := s.stretchQuery(grain, start, end, iv, groupCols, where, want)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !merge {
		targets := make([]any, 0, 1+len(groupCols)+len(rollupSumColumns))
		scratch := make([]any, 0, len(rollupSumColumns))
		for rows.Next() {
			var t int64
			group := make([]string, len(groupCols))
			var sums RollupSums
			targets = append(targets[:0], &t)
			for i := range group {
				targets = append(targets, &group[i])
			}
			for i, p := range sums.scanTargets(scratch[:0]) {
				if want.sums[i] {
					targets = append(targets, p)
				}
			}
			if err := rows.Scan(targets...); err != nil {
				return err
			}
			emit(t, group, &sums)
		}
		return rows.Err()
	}
	// Rows are summed per bucket and group under a key of the bucket's 8
	// bytes and the group's values, each ended by a NUL; the map lookup
	// with string(key) does not allocate.
	type point struct {
		t     int64
		group []string
		sums  RollupSums
	}
	acc := map[string]*point{}
	// The integers are scanned into interfaces: database/sql converts an
	// int64 into an *int64 through reflection, at a cost per column and
	// row that is the query's largest after SQLite's own.
	var (
		t         int64
		groupRaw  = make([]sql.RawBytes, len(groupCols))
		row       RollupSums
		into      []*int64 // the fields of row that vals go to
		lat, ttft sql.RawBytes
		key       []byte
	)
	targets := []any{&t}
	for i := range groupRaw {
		targets = append(targets, &groupRaw[i])
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
		key = binary.BigEndian.AppendUint64(key[:0], uint64(t))
		for _, g := range groupRaw {
			key = append(append(key, g...), 0)
		}
		p := acc[string(key)]
		if p == nil {
			p = &point{t: t, group: make([]string, len(groupRaw))}
			for i, g := range groupRaw {
				p.group[i] = string(g)
			}
			acc[string(key)] = p
		}
		r := &p.sums
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
		if err := r.Latency.AddEncoded(lat); err != nil {
			return err
		}
		if err := r.TTFT.AddEncoded(ttft); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, p := range acc {
		emit(p.t, p.group, &p.sums)
	}
	return nil
}

// stretchQuery is analyticsStretch's statement: rows of grain in [start,
// end), summed per interval bucket and group in SQL unless histograms are
// wanted. Its columns are all in the analytics_rollup_covering index.
func (s *Store) stretchQuery(grain string, start, end, iv int64, groupCols []string, where map[string]string,
	want stretchColumns) (string, []any) {
	merge := want.lat || want.ttft
	ivs := itoa(int(iv))
	sel := []string{"bucket - bucket % " + ivs}
	groupBy := []string{"bucket - bucket % " + ivs}
	for _, c := range groupCols {
		if c == "prompt_version" {
			sel = append(sel, "CAST(prompt_version AS TEXT)")
			groupBy = append(groupBy, "prompt_version")
			continue
		}
		sel = append(sel, c)
		groupBy = append(groupBy, c)
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
