package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

// Analytics rollups: the ledger's write path adds each new entry to a
// per-minute row of analytics_rollup (one row per minute and combination of
// dimensions), in the ledger's own transaction, so that the rollups and
// the ledger never disagree. CompactRollups (run by one node at a time)
// sums finished hours of minute rows into hour rows and finished days of
// hour rows into day rows, then drops minute and hour rows older than
// their retention. An entry written late (its minute already compacted)
// is added to the coarser rows too, so no compaction ever misses it.

// HistBuckets is the number of buckets of a latency or time-to-first-token
// histogram. Bucket 0 counts durations under 1 ms; bucket i (1..63) counts
// [2^((i-1)/3), 2^(i/3)) ms, so that a bucket is 26% wide and a quantile
// read from it is within 13% of the true value; bucket 63 also takes
// everything longer (from about 27 minutes).
const HistBuckets = 64

// Hist is a latency histogram in HistBuckets log-spaced buckets.
type Hist [HistBuckets]int64

// HistBucket returns the bucket of duration d.
func HistBucket(d time.Duration) int {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 1 {
		return 0
	}
	i := 1 + int(math.Floor(3*math.Log2(ms)))
	return min(max(i, 1), HistBuckets-1)
}

// histBounds returns the bounds of bucket i in milliseconds.
func histBounds(i int) (lo, hi float64) {
	if i == 0 {
		return 0, 1
	}
	return math.Exp2(float64(i-1) / 3), math.Exp2(float64(i) / 3)
}

// Quantile returns the q-quantile (0 < q <= 1) of the histogram,
// interpolated geometrically inside its bucket (linearly in bucket 0), or
// 0 for an empty histogram.
func (h *Hist) Quantile(q float64) time.Duration {
	var total int64
	for _, c := range h {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen float64
	for i, c := range h {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			frac := (rank - seen) / float64(c)
			lo, hi := histBounds(i)
			var ms float64
			if i == 0 {
				ms = hi * frac
			} else {
				ms = lo * math.Pow(hi/lo, frac)
			}
			return time.Duration(ms * float64(time.Millisecond))
		}
		seen += float64(c)
	}
	_, hi := histBounds(HistBuckets - 1)
	return time.Duration(hi * float64(time.Millisecond))
}

// Add adds o's counts to h.
func (h *Hist) Add(o *Hist) {
	for i := range h {
		h[i] += o[i]
	}
}

// RollupDims are the dimensions of a rollup row.
type RollupDims struct {
	OrgID, TeamID, AppID, KeyID string
	Model, Provider             string
	Product, ProductVersion     string
	Prompt                      string
	PromptVersion               int
	Status                      string
}

// RollupSums are the additive measures of a rollup row.
type RollupSums struct {
	Requests, Errors                        int64
	InputTokens, OutputTokens, CachedTokens int64
	CostMicros                              int64
	CacheHits, CacheLookups                 int64
	LatencyMicros                           int64 // sum
	TTFTCount, TTFTMicros                   int64 // entries with a first token, and the sum
	Latency, TTFT                           Hist
}

// Add adds o to r.
func (r *RollupSums) Add(o *RollupSums) {
	r.Requests += o.Requests
	r.Errors += o.Errors
	r.InputTokens += o.InputTokens
	r.OutputTokens += o.OutputTokens
	r.CachedTokens += o.CachedTokens
	r.CostMicros += o.CostMicros
	r.CacheHits += o.CacheHits
	r.CacheLookups += o.CacheLookups
	r.LatencyMicros += o.LatencyMicros
	r.TTFTCount += o.TTFTCount
	r.TTFTMicros += o.TTFTMicros
	r.Latency.Add(&o.Latency)
	r.TTFT.Add(&o.TTFT)
}

// IsError says whether an entry counts as an error in the analytics and
// their alerts: the upstream failed, its stream broke, or the answer was a
// 5xx. Refusals of the client's request, Sluice's limits, guardrail blocks
// and cancellations by the client are not errors of the service.
func IsError(e *ledger.Entry) bool {
	return e.Status == ledger.StatusUpstreamError || e.Status == ledger.StatusTruncated || e.HTTPStatus >= 500
}

// addEntry adds one ledger entry to r.
func (r *RollupSums) addEntry(e *ledger.Entry) {
	r.Requests++
	if IsError(e) {
		r.Errors++
	}
	r.InputTokens += e.InputTokens
	r.OutputTokens += e.OutputTokens
	r.CachedTokens += e.CachedTokens
	r.CostMicros += e.CostMicros
	switch e.Cache {
	case "hit":
		r.CacheHits++
		r.CacheLookups++
	case "miss":
		r.CacheLookups++
	}
	r.LatencyMicros += e.Latency.Microseconds()
	r.Latency[HistBucket(e.Latency)]++
	if e.TTFT > 0 {
		r.TTFTCount++
		r.TTFTMicros += e.TTFT.Microseconds()
		r.TTFT[HistBucket(e.TTFT)]++
	}
}

// Rollup grains: the width of a row's bucket.
const (
	GrainMinute = "m"
	GrainHour   = "h"
	GrainDay    = "d"
)

var grainSeconds = map[string]int64{GrainMinute: 60, GrainHour: 3600, GrainDay: 86400}

const rollupDimColumns = `org_id, team_id, app_id, key_id, model, provider, product, product_version, prompt, prompt_version, status`

// rollupSumColumns are the additive integer columns, in RollupSums.values
// order. The histograms are in rollupHistColumns, encoded (AppendHist).
var rollupSumColumns = []string{"requests", "errors", "input_tokens", "output_tokens", "cached_tokens", "cost_micros",
	"cache_hits", "cache_lookups", "latency_us", "ttft_count", "ttft_us"}

// rollupHistColumns hold the latency and time-to-first-token histograms.
const rollupHistColumns = "lat_hist, ttft_hist"

// values appends r's integer columns in rollupSumColumns order.
func (r *RollupSums) values(args []any) []any {
	return append(args, r.Requests, r.Errors, r.InputTokens, r.OutputTokens, r.CachedTokens, r.CostMicros,
		r.CacheHits, r.CacheLookups, r.LatencyMicros, r.TTFTCount, r.TTFTMicros)
}

// scanTargets appends pointers to r's integer columns in rollupSumColumns
// order.
func (r *RollupSums) scanTargets(dst []any) []any {
	return append(dst, &r.Requests, &r.Errors, &r.InputTokens, &r.OutputTokens, &r.CachedTokens, &r.CostMicros,
		&r.CacheHits, &r.CacheLookups, &r.LatencyMicros, &r.TTFTCount, &r.TTFTMicros)
}

// rollupKey identifies a rollup row.
type rollupKey struct {
	grain  string
	bucket int64
	RollupDims
}

func dimsOf(e *ledger.Entry) RollupDims {
	return RollupDims{OrgID: e.OrgID, TeamID: e.TeamID, AppID: e.AppID, KeyID: e.KeyID, Model: e.Model,
		Provider: e.Provider, Product: e.Product, ProductVersion: e.ProductVersion, Prompt: e.Prompt,
		PromptVersion: e.PromptVersion, Status: string(e.Status)}
}

// rollupRowsPerUpsert is how many rows one upsert statement writes.
const rollupRowsPerUpsert = 16

// rollupSQL caches the upsert statements per dialect, kind and row count.
var rollupSQL sync.Map // "dialect/kind/n" -> string

// The two upserts of upsertRollups: rollupAdd adds the integer columns
// (inserting the row if it is new) and returns each row's key and
// histograms as they were; rollupSetHist then writes the merged
// histograms into the rows, which the first statement has locked.
const (
	rollupAdd     = "add"
	rollupSetHist = "hist"
)

// rollupKeyColumns is the primary key of analytics_rollup.
const rollupKeyColumns = "grain, bucket, " + rollupDimColumns

// upsertRollupSQL returns the upsert of kind for n rows.
func (s *Store) upsertRollupSQL(kind string, n int) string {
	k := s.dialect + "/" + kind + "/" + itoa(n)
	if q, ok := rollupSQL.Load(k); ok {
		return q.(string)
	}
	q := s.buildUpsertRollupSQL(kind, n)
	rollupSQL.Store(k, q)
	return q
}

func (s *Store) buildUpsertRollupSQL(kind string, n int) string {
	cols := rollupKeyColumns + ", " + strings.Join(rollupSumColumns, ", ")
	ncols := 13 + len(rollupSumColumns)
	if kind == rollupSetHist {
		cols = rollupKeyColumns + ", " + rollupHistColumns
		ncols = 13 + 2
	}
	var b strings.Builder
	b.WriteString("INSERT INTO analytics_rollup (" + cols + ") VALUES ")
	p := 1
	for r := range n {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := range ncols {
			if c > 0 {
				b.WriteByte(',')
			}
			if s.dialect == "sqlite" {
				b.WriteByte('?')
			} else {
				b.WriteByte('$')
				b.WriteString(itoa(p))
			}
			p++
		}
		b.WriteByte(')')
	}
	b.WriteString(" ON CONFLICT (" + rollupKeyColumns + ") DO UPDATE SET ")
	if kind == rollupSetHist {
		b.WriteString("lat_hist = excluded.lat_hist, ttft_hist = excluded.ttft_hist")
		return b.String()
	}
	for i, c := range rollupSumColumns {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(c + " = analytics_rollup." + c + " + excluded." + c)
	}
	b.WriteString(" RETURNING " + rollupKeyColumns + ", " + rollupHistColumns)
	return b.String()
}

// addRollups adds the entries of batch whose request ids are in stored
// (the ids this transaction inserted) to the rollups, inside the ledger's
// transaction tx, each id once (the first of its entries, the one
// stored); a nil stored means every entry of batch, whose ids are then
// distinct. done holds the watermarks of the coarser grains
// (rollupWatermarks).
func (s *Store) addRollups(ctx context.Context, tx *sql.Tx, batch []ledger.Entry, stored map[string]bool, done map[string]int64) error {
	if stored != nil && len(stored) == 0 {
		return nil
	}
	sums := map[rollupKey]*RollupSums{}
	var order []rollupKey
	add := func(k rollupKey, e *ledger.Entry) {
		r := sums[k]
		if r == nil {
			r = &RollupSums{}
			sums[k] = r
			order = append(order, k)
		}
		r.addEntry(e)
	}
	for i := range batch {
		e := &batch[i]
		if stored != nil {
			if !stored[e.RequestID] {
				continue // stored before, or a repeat
			}
			delete(stored, e.RequestID)
		}
		sec := e.Time.Unix()
		dims := dimsOf(e)
		add(rollupKey{GrainMinute, sec - mod(sec, 60), dims}, e)
		for _, g := range []string{GrainHour, GrainDay} {
			if sec < done[g] {
				add(rollupKey{g, sec - mod(sec, grainSeconds[g]), dims}, e)
			}
		}
	}
	// Every node locks rollup rows in the same order, so that two ledger
	// transactions that touch the same rows wait for each other instead
	// of deadlocking (PostgreSQL detects that only after deadlock_timeout,
	// 1 s, and aborts one batch).
	slices.SortFunc(order, compareRollupKeys)
	return s.upsertRollups(ctx, tx, order, sums)
}

// compareRollupKeys is the one total order of rollup rows.
func compareRollupKeys(a, b rollupKey) int {
	return cmp.Or(
		cmp.Compare(a.grain, b.grain), cmp.Compare(a.bucket, b.bucket),
		cmp.Compare(a.OrgID, b.OrgID), cmp.Compare(a.TeamID, b.TeamID), cmp.Compare(a.AppID, b.AppID),
		cmp.Compare(a.KeyID, b.KeyID), cmp.Compare(a.Model, b.Model), cmp.Compare(a.Provider, b.Provider),
		cmp.Compare(a.Product, b.Product), cmp.Compare(a.ProductVersion, b.ProductVersion),
		cmp.Compare(a.Prompt, b.Prompt), cmp.Compare(a.PromptVersion, b.PromptVersion),
		cmp.Compare(a.Status, b.Status))
}

// mod is the non-negative remainder of a by b.
func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// upsertRollups adds sums to the rows of keys (sorted by
// compareRollupKeys), rollupRowsPerUpsert rows at a time: the first
// statement adds the integer columns and returns the stored histograms,
// which are merged with the new counts here and written back by the
// second. The first statement locks the rows (on PostgreSQL, in key order,
// so that concurrent ledger batches queue instead of deadlocking), so no
// other transaction adds to a histogram between the read and the write.
func (s *Store) upsertRollups(ctx context.Context, tx *sql.Tx, keys []rollupKey, sums map[rollupKey]*RollupSums) error {
	args := make([]any, 0, rollupRowsPerUpsert*(13+len(rollupSumColumns)))
	var hists []rollupKey
	for i := 0; i < len(keys); i += rollupRowsPerUpsert {
		chunk := keys[i:min(i+rollupRowsPerUpsert, len(keys))]
		args = args[:0]
		for _, k := range chunk {
			args = k.appendKey(args)
			args = sums[k].values(args)
		}
		rows, err := s.rollupQuery(ctx, tx, rollupAdd, len(chunk), args)
		if err != nil {
			return fmt.Errorf("analytics rollup: %w", err)
		}
		hists = hists[:0]
		for rows.Next() {
			var k rollupKey
			var lat, ttft []byte
			if err := rows.Scan(k.scanKey(nil, &lat, &ttft)...); err != nil {
				rows.Close()
				return fmt.Errorf("analytics rollup: %w", err)
			}
			r := sums[k]
			if r == nil {
				rows.Close()
				return fmt.Errorf("analytics rollup: the upsert returned a row it was not given (%v)", k)
			}
			if isEmptyHist(&r.Latency) && isEmptyHist(&r.TTFT) {
				continue // nothing to merge: the stored histograms stay
			}
			if err := r.Latency.AddEncoded(lat); err != nil {
				rows.Close()
				return err
			}
			if err := r.TTFT.AddEncoded(ttft); err != nil {
				rows.Close()
				return err
			}
			hists = append(hists, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("analytics rollup: %w", err)
		}
		if len(hists) == 0 {
			continue
		}
		slices.SortFunc(hists, compareRollupKeys)
		args = args[:0]
		for _, k := range hists {
			args = k.appendKey(args)
			args = append(args, EncodeHist(&sums[k].Latency), EncodeHist(&sums[k].TTFT))
		}
		if err := s.rollupExec(ctx, tx, rollupSetHist, len(hists), args); err != nil {
			return fmt.Errorf("analytics rollup: %w", err)
		}
	}
	return nil
}

// appendKey appends k's columns in rollupKeyColumns order.
func (k *rollupKey) appendKey(args []any) []any {
	d := &k.RollupDims
	return append(args, k.grain, k.bucket, d.OrgID, d.TeamID, d.AppID, d.KeyID, d.Model, d.Provider,
		d.Product, d.ProductVersion, d.Prompt, d.PromptVersion, d.Status)
}

// scanKey appends pointers to k's columns in rollupKeyColumns order, then
// extra.
func (k *rollupKey) scanKey(dst []any, extra ...any) []any {
	d := &k.RollupDims
	dst = append(dst, &k.grain, &k.bucket, &d.OrgID, &d.TeamID, &d.AppID, &d.KeyID, &d.Model, &d.Provider,
		&d.Product, &d.ProductVersion, &d.Prompt, &d.PromptVersion, &d.Status)
	return append(dst, extra...)
}

func isEmptyHist(h *Hist) bool {
	return *h == Hist{}
}

// rollupQuery runs the upsert of kind for n rows and returns its rows,
// through the statement prepared by PrepareRollups when there is one.
func (s *Store) rollupQuery(ctx context.Context, tx *sql.Tx, kind string, n int, args []any) (*sql.Rows, error) {
	if st := s.rollupStmt(kind, n); st != nil {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, s.upsertRollupSQL(kind, n), args...)
}

func (s *Store) rollupExec(ctx context.Context, tx *sql.Tx, kind string, n int, args []any) error {
	var err error
	if st := s.rollupStmt(kind, n); st != nil {
		_, err = tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	} else {
		_, err = tx.ExecContext(ctx, s.upsertRollupSQL(kind, n), args...)
	}
	return err
}

// PrepareRollups prepares the rollup upserts and the watermarks' read
// once, outside any transaction (SQLite's one write connection is held by
// the ledger's transaction, where they run).
func (s *Store) PrepareRollups(ctx context.Context) error {
	if _, err := s.prepared(ctx, s.watermarksSQL()); err != nil {
		return err
	}
	for _, kind := range []string{rollupAdd, rollupSetHist} {
		for n := 1; n <= rollupRowsPerUpsert; n++ {
			if _, err := s.prepared(ctx, s.upsertRollupSQL(kind, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// rollupStmt returns the prepared upsert of kind for n rows, or nil
// before PrepareRollups.
func (s *Store) rollupStmt(kind string, n int) *sql.Stmt {
	q := s.upsertRollupSQL(kind, n)
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	return s.stmts[q]
}

// rollupWatermarksSQL reads how far hours and days are compacted: an
// entry in an hour (day) already compacted is added to the hour (day) row
// as well. On PostgreSQL the rows are read FOR SHARE, so a compaction
// waits for the ledger's transaction and the ledger's transaction for a
// compaction.
const rollupWatermarksSQL = `SELECT grain, done_until FROM analytics_compaction WHERE grain IN ('h', 'd')`

// watermarksSQL is the dialect's rollupWatermarksSQL.
func (s *Store) watermarksSQL() string {
	if s.dialect == "postgres" {
		return rollupWatermarksSQL + " FOR SHARE"
	}
	return rollupWatermarksSQL
}

// rollupWatermarks reads the watermarks of the coarser grains in tx,
// through the statement prepared by PrepareRollups when there is one.
func (s *Store) rollupWatermarks(ctx context.Context, tx *sql.Tx) (map[string]int64, error) {
	q := s.watermarksSQL()
	s.stmtMu.Lock()
	st := s.stmts[q]
	s.stmtMu.Unlock()
	var rows *sql.Rows
	var err error
	if st != nil {
		rows, err = tx.StmtContext(ctx, st).QueryContext(ctx)
	} else {
		rows, err = tx.QueryContext(ctx, q)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	done := map[string]int64{}
	for rows.Next() {
		var g string
		var d int64
		if err := rows.Scan(&g, &d); err != nil {
			return nil, err
		}
		done[g] = d
	}
	return done, rows.Err()
}

// RollupRetention says how long minute and hour rows are kept after they
// were compacted into coarser ones. Day rows are kept forever.
type RollupRetention struct {
	Minutes time.Duration // default 8 days
	Hours   time.Duration // default 100 days
}

// CompactStats says what one compaction did.
type CompactStats struct {
	HoursDone, DaysDone time.Time // the new watermarks
	MinuteRowsDropped   int64
	HourRowsDropped     int64
}

// maxCompactSpan bounds the minute rows summed by one compaction, so that
// a long backlog is worked off in several bounded transactions.
const maxCompactSpan = 7 * 24 * 3600

// CompactRollups sums finished hours of minute rows into hour rows and
// finished days of hour rows into day rows, up to now, then drops minute
// and hour rows older than their retention. It runs in one transaction
// and is safe to call from several nodes, but only one should (it holds
// the compaction rows locked on PostgreSQL; see RunCompactor).
func (s *Store) CompactRollups(ctx context.Context, now time.Time, keep RollupRetention) (CompactStats, error) {
	if keep.Minutes <= 0 {
		keep.Minutes = 8 * 24 * time.Hour
	}
	if keep.Hours <= 0 {
		keep.Hours = 100 * 24 * time.Hour
	}
	var st CompactStats
	err := s.tx(ctx, func(tx *sql.Tx) error {
		lock := ""
		if s.dialect == "postgres" {
			lock = " FOR UPDATE"
		}
		wm := map[string]int64{}
		rows, err := tx.QueryContext(ctx, `SELECT grain, done_until FROM analytics_compaction`+lock)
		if err != nil {
			return err
		}
		for rows.Next() {
			var g string
			var d int64
			if err := rows.Scan(&g, &d); err != nil {
				rows.Close()
				return err
			}
			wm[g] = d
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		sec := now.Unix()
		// Minutes into hours, then hours into days.
		for _, step := range []struct{ from, to string }{{GrainMinute, GrainHour}, {GrainHour, GrainDay}} {
			width := grainSeconds[step.to]
			limit := sec - mod(sec, width) // the current hour (day) is not finished
			if step.to == GrainDay {
				limit = min(limit, wm[GrainHour]-mod(wm[GrainHour], width)) // only days whose hours are all done
			}
			start := wm[step.to]
			if start == 0 { // first run: from the oldest row
				var oldest sql.NullInt64
				if err := tx.QueryRowContext(ctx, `SELECT MIN(bucket) FROM analytics_rollup WHERE grain = $1`, step.from).Scan(&oldest); err != nil {
					return err
				}
				start = limit
				if oldest.Valid {
					start = min(limit, oldest.Int64-mod(oldest.Int64, width))
				}
			}
			end := min(limit, start+maxCompactSpan)
			if end > start {
				if err := s.sumRollups(ctx, tx, step.from, step.to, start, end); err != nil {
					return err
				}
			}
			if end > wm[step.to] {
				wm[step.to] = end
				if _, err := tx.ExecContext(ctx, `UPDATE analytics_compaction SET done_until = $1 WHERE grain = $2`, end, step.to); err != nil {
					return err
				}
			}
		}
		// Retention: only rows already summed into the coarser grain go.
		for _, r := range []struct {
			grain, into string
			keep        time.Duration
			n           *int64
		}{{GrainMinute, GrainHour, keep.Minutes, &st.MinuteRowsDropped}, {GrainHour, GrainDay, keep.Hours, &st.HourRowsDropped}} {
			before := min(sec-int64(r.keep/time.Second), wm[r.into])
			res, err := tx.ExecContext(ctx, `DELETE FROM analytics_rollup WHERE grain = $1 AND bucket < $2`, r.grain, before)
			if err != nil {
				return err
			}
			*r.n, _ = res.RowsAffected()
			if _, err := tx.ExecContext(ctx, `UPDATE analytics_compaction SET kept_from = $1 WHERE grain = $2 AND kept_from < $1`, before, r.grain); err != nil {
				return err
			}
		}
		st.HoursDone, st.DaysDone = time.Unix(wm[GrainHour], 0).UTC(), time.Unix(wm[GrainDay], 0).UTC()
		return nil
	})
	return st, err
}

// sumRollups adds the rows of grain from in [start, end) to the rows of
// the coarser grain to. The rows are read and summed here (the histograms
// are merged in Go), a day of them at a time, then added with the
// ledger's upsert.
func (s *Store) sumRollups(ctx context.Context, tx *sql.Tx, from, to string, start, end int64) error {
	width := grainSeconds[to]
	step := max(width, 86400)
	q := `SELECT bucket, ` + rollupDimColumns + `, ` + strings.Join(rollupSumColumns, ", ") + `, ` + rollupHistColumns + `
 FROM analytics_rollup WHERE grain = $1 AND bucket >= $2 AND bucket < $3`
	for a := start; a < end; a += step {
		sums := map[rollupKey]*RollupSums{}
		var keys []rollupKey
		rows, err := tx.QueryContext(ctx, q, from, a, min(a+step, end))
		if err != nil {
			return fmt.Errorf("compact %s rows into %s rows: %w", from, to, err)
		}
		var k rollupKey
		var r RollupSums
		var lat, ttft []byte
		targets := r.scanTargets(k.scanKey(nil)[1:])
		targets = append(targets, &lat, &ttft)
		for rows.Next() {
			r = RollupSums{}
			if err := rows.Scan(targets...); err != nil {
				rows.Close()
				return err
			}
			if err := errors.Join(r.Latency.AddEncoded(lat), r.TTFT.AddEncoded(ttft)); err != nil {
				rows.Close()
				return err
			}
			ck := rollupKey{to, k.bucket - mod(k.bucket, width), k.RollupDims}
			if acc := sums[ck]; acc != nil {
				acc.Add(&r)
				continue
			}
			sum := r
			sums[ck] = &sum
			keys = append(keys, ck)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		slices.SortFunc(keys, compareRollupKeys)
		if err := s.upsertRollups(ctx, tx, keys, sums); err != nil {
			return fmt.Errorf("compact %s rows into %s rows: %w", from, to, err)
		}
	}
	return nil
}

// InsertRollups adds rows of one grain directly (for imports and for
// benchmarks that generate months of data without the ledger).
func (s *Store) InsertRollups(ctx context.Context, grain string, rows []RollupRow) error {
	if grainSeconds[grain] == 0 {
		return errors.New("unknown rollup grain " + grain)
	}
	keys := make([]rollupKey, 0, len(rows))
	sums := make(map[rollupKey]*RollupSums, len(rows))
	for i := range rows {
		b := rows[i].Bucket.Unix()
		k := rollupKey{grain, b - mod(b, grainSeconds[grain]), rows[i].RollupDims}
		if r, ok := sums[k]; ok {
			r.Add(&rows[i].RollupSums)
			continue
		}
		r := rows[i].RollupSums
		sums[k] = &r
		keys = append(keys, k)
	}
	return s.tx(ctx, func(tx *sql.Tx) error { return s.upsertRollups(ctx, tx, keys, sums) })
}

// SetRollupWatermarks sets how far hours and days are compacted (for
// imports and benchmarks that write hour and day rows themselves).
func (s *Store) SetRollupWatermarks(ctx context.Context, hours, days time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for g, t := range map[string]time.Time{GrainHour: hours, GrainDay: days} {
			if _, err := tx.ExecContext(ctx, `UPDATE analytics_compaction SET done_until = $1 WHERE grain = $2`, t.Unix(), g); err != nil {
				return err
			}
		}
		return nil
	})
}

// RollupRow is one row of analytics_rollup.
type RollupRow struct {
	Bucket time.Time
	RollupDims
	RollupSums
}
