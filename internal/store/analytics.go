package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
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
// (column name to value; "" values are ignored).
type AnalyticsQuery struct {
	From, To time.Time
	Interval time.Duration
	GroupBy  []string
	Where    map[string]string
}

// AnalyticsPoint is one bucket of one group.
type AnalyticsPoint struct {
	T     time.Time
	Group []string // values in GroupBy order
	RollupSums
}

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
	// coarsest grain that divides the interval and is aligned with it.
	type stretch struct {
		grain      string
		start, end int64
	}
	var plan []stretch
	cur := from
	for _, g := range []string{GrainDay, GrainHour} {
		w := grainSeconds[g]
		if iv%w != 0 || mod(cur, w) != 0 {
			continue
		}
		end := min(to, wm[g])
		end -= mod(end, w)
		if end > cur {
			plan = append(plan, stretch{g, cur, end})
			cur = end
		}
	}
	if cur < to {
		plan = append(plan, stretch{GrainMinute, cur, to})
	}

	type key struct {
		t     int64
		group string
	}
	acc := map[key]*AnalyticsPoint{}
	for _, st := range plan {
		if err := s.analyticsStretch(ctx, st.grain, st.start, st.end, iv, groupCols, q.Where, func(t int64, group []string, sums *RollupSums) {
			k := key{t, strings.Join(group, "\x00")}
			p := acc[k]
			if p == nil {
				p = &AnalyticsPoint{T: time.Unix(t, 0).UTC(), Group: group}
				acc[k] = p
			}
			p.RollupSums.Add(sums)
		}); err != nil {
			return nil, err
		}
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

// analyticsStretch reads the rows of grain in [start, end), summed per
// interval bucket and group, and hands each to emit.
func (s *Store) analyticsStretch(ctx context.Context, grain string, start, end, iv int64, groupCols []string,
	where map[string]string, emit func(t int64, group []string, sums *RollupSums)) error {
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
	for _, c := range rollupSumColumns {
		sel = append(sel, "CAST(SUM("+c+") AS BIGINT)")
	}
	args := []any{grain, start, end}
	conds := []string{"grain = $1", "bucket >= $2", "bucket < $3"}
	// Filters in index order, for a stable statement text.
	for _, c := range []string{"org_id", "team_id", "app_id", "key_id", "model", "provider", "product", "prompt", "status"} {
		if v := where[c]; v != "" {
			args = append(args, v)
			conds = append(conds, c+" = $"+itoa(len(args)))
		}
	}
	q := "SELECT " + strings.Join(sel, ", ") + " FROM analytics_rollup WHERE " + strings.Join(conds, " AND ") +
		" GROUP BY " + strings.Join(groupBy, ", ")
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	targets := make([]any, 0, 1+len(groupCols)+len(rollupSumColumns))
	for rows.Next() {
		var t int64
		group := make([]string, len(groupCols))
		var sums RollupSums
		targets = append(targets[:0], &t)
		for i := range group {
			targets = append(targets, &group[i])
		}
		targets = sums.scanTargets(targets)
		if err := rows.Scan(targets...); err != nil {
			return err
		}
		emit(t, group, &sums)
	}
	return rows.Err()
}
