package main

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// The generated install: one organisation of 10 teams and 1,000
// applications; the keys spread evenly over the applications, of which one
// in 50 is in use; the ledger rows evenly over the last 30 days, each with
// one attempt, from the keys in use; one audit row per key; rollups as the
// compactor leaves them (hour and day rows for the month, minute rows for
// the last day) for 300 combinations of key, model and status an hour.

const (
	orgID   = "org_bench"
	teams   = 10
	apps    = 1000
	hotKeys = 50 // one key in hotKeys is in use
)

func teamID(i int) string { return fmt.Sprintf("team_%02d", i) }
func appID(i int) string  { return fmt.Sprintf("app_%04d", i) }

// keyID is not in the order of keyName, as real (random) ids are not.
func keyID(i int) string   { return fmt.Sprintf("key_%08x", uint32(i)*2654435761) }
func keyName(i int) string { return fmt.Sprintf("key-%07d", i) }

var models = []string{"gpt-4o", "claude-sonnet", "gemini-pro"}

// generate writes the install into dir/sluice.db.
func generate(ctx context.Context, dir string, nKeys, nRows int, end time.Time) error {
	t0 := time.Now()
	st, err := store.OpenSQLite(ctx, dir) // the schema, by the migrations
	if err != nil {
		return err
	}
	now := end
	if err := st.CreateUnit(ctx, store.Unit{Kind: store.KindOrg, ID: orgID, Name: "bench", CreatedAt: now}, audit("o")); err != nil {
		return err
	}
	for t := range teams {
		if err := st.CreateUnit(ctx, store.Unit{Kind: store.KindTeam, ID: teamID(t), OrgID: orgID, Name: teamID(t), CreatedAt: now}, audit(teamID(t))); err != nil {
			return err
		}
	}
	for a := range apps {
		if err := st.CreateUnit(ctx, store.Unit{Kind: store.KindApp, ID: appID(a), OrgID: orgID, TeamID: teamID(a % teams), Name: appID(a),
			CreatedAt: now}, audit(appID(a))); err != nil {
			return err
		}
	}
	if err := genRollups(ctx, st, nRows, nKeys, end); err != nil {
		return err
	}
	st.Close()
	log.Printf("units and rollups: %s", time.Since(t0).Round(time.Millisecond))

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "sluice.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=cache_size(-262144)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// Indexes are dropped for the bulk insert and built again after it:
	// building an index from sorted rows is much faster than keeping it.
	idx, err := dropIndexes(ctx, db, "api_keys", "requests", "attempts", "audit_log")
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	t1 := time.Now()
	created := end.Add(-60 * 24 * time.Hour).UnixMicro()
	if err := bulk(ctx, tx, "api_keys", "id, name, hash, prefix, models, created_at, org_id, team_id, app_id", nKeys, func(i int, row []any) {
		a := i % apps
		row[0], row[1], row[2], row[3], row[4] = keyID(i), keyName(i), fmt.Sprintf("%064x", i), "sk-slc-"+keyID(i)[4:8], "[]"
		row[5], row[6], row[7], row[8] = created+int64(i), orgID, teamID(a%teams), appID(a)
	}); err != nil {
		return err
	}
	log.Printf("%d keys: %s", nKeys, time.Since(t1).Round(time.Millisecond))
	t1 = time.Now()
	if err := bulk(ctx, tx, "audit_log", "id, ts, actor, tenant, action, object_type, object_id, request_id, ip", nKeys, func(i int, row []any) {
		row[0], row[1], row[2], row[3], row[4] = fmt.Sprintf("aud_%012d", i), created+int64(i), "owner@example.com", orgID, "key.create"
		row[5], row[6], row[7], row[8] = "key", keyID(i), fmt.Sprintf("rq_%d", i), "10.0.0.1"
	}); err != nil {
		return err
	}
	log.Printf("%d audit rows: %s", nKeys, time.Since(t1).Round(time.Millisecond))
	t1 = time.Now()
	start := end.Add(-30 * 24 * time.Hour).UnixMicro()
	step := (end.UnixMicro() - start) / int64(nRows)
	r := rand.New(rand.NewPCG(1, 2))
	statuses := []string{"ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "upstream_error"}
	if err := bulk(ctx, tx, "requests", "request_id, ts, endpoint, key_id, key_name, model, served_model, provider, status, http_status, "+
		"input_tokens, output_tokens, cost_micros, latency_us, ttft_us, org_id, team_id, app_id", nRows, func(i int, row []any) {
		k := r.IntN(nKeys/hotKeys) * hotKeys
		a := k % apps
		m := models[k%len(models)]
		s := statuses[r.IntN(len(statuses))]
		code := 200
		if s != "ok" {
			code = 502
		}
		row[0], row[1], row[2], row[3], row[4] = fmt.Sprintf("req_%010d", i), start+int64(i)*step, "/v1/chat/completions", keyID(k), keyName(k)
		row[5], row[6], row[7], row[8], row[9] = m, m, "up", s, code
		row[10], row[11], row[12], row[13], row[14] = 300+r.IntN(500), 50+r.IntN(300), 500+r.IntN(2000), 200_000+r.IntN(3_000_000), 50_000+r.IntN(800_000)
		row[15], row[16], row[17] = orgID, teamID(a%teams), appID(a)
	}); err != nil {
		return err
	}
	log.Printf("%d ledger rows: %s", nRows, time.Since(t1).Round(time.Millisecond))
	t1 = time.Now()
	if err := bulk(ctx, tx, "attempts", "request_id, n, provider, model, status, http_status, latency_us", nRows, func(i int, row []any) {
		row[0], row[1], row[2], row[3], row[4], row[5], row[6] = fmt.Sprintf("req_%010d", i), 1, "up", "upstream-model", "ok", 200, 400_000
	}); err != nil {
		return err
	}
	log.Printf("%d attempts: %s", nRows, time.Since(t1).Round(time.Millisecond))
	if err := tx.Commit(); err != nil {
		return err
	}
	t1 = time.Now()
	for _, q := range idx {
		t2 := time.Now()
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
		log.Printf("  %s: %s", q, time.Since(t2).Round(time.Millisecond))
	}
	// The planner's statistics, from a sample of each index (as a server
	// that ran "PRAGMA optimize" has them).
	if _, err := db.ExecContext(ctx, "PRAGMA analysis_limit = 1000; ANALYZE"); err != nil {
		return err
	}
	log.Printf("indexes and ANALYZE: %s", time.Since(t1).Round(time.Millisecond))
	log.Printf("generated in %s", time.Since(t0).Round(time.Second))
	return nil
}

func audit(id string) store.AuditEntry {
	return store.AuditEntry{ID: "aud_unit_" + id, Actor: "bench", Action: "create", ObjectID: id, Tenant: orgID}
}

// dropIndexes drops the secondary indexes of tables and returns the
// statements that create them again.
func dropIndexes(ctx context.Context, db *sql.DB, tables ...string) ([]string, error) {
	var out []string
	for _, t := range tables {
		rows, err := db.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`, t)
		if err != nil {
			return nil, err
		}
		var names []string
		for rows.Next() {
			var name, q string
			if err := rows.Scan(&name, &q); err != nil {
				rows.Close()
				return nil, err
			}
			names, out = append(names, name), append(out, q)
		}
		rows.Close()
		for _, n := range names {
			if _, err := db.ExecContext(ctx, "DROP INDEX "+n); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// bulk inserts n rows into table, filled by fill, 100 to a statement.
func bulk(ctx context.Context, tx *sql.Tx, table, columns string, n int, fill func(i int, row []any)) error {
	cols := len(strings.Split(columns, ","))
	const per = 100
	stmt := func(rows int) (*sql.Stmt, error) {
		var b strings.Builder
		b.WriteString("INSERT INTO " + table + " (" + columns + ") VALUES ")
		for r := range rows {
			if r > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")")
		}
		return tx.PrepareContext(ctx, b.String())
	}
	full, err := stmt(per)
	if err != nil {
		return err
	}
	defer full.Close()
	args := make([]any, per*cols)
	for i := 0; i < n; i += per {
		rows := min(per, n-i)
		for r := range rows {
			fill(i+r, args[r*cols:(r+1)*cols])
		}
		s := full
		if rows < per {
			if s, err = stmt(rows); err != nil {
				return err
			}
			defer s.Close()
		}
		if _, err := s.ExecContext(ctx, args[:rows*cols]...); err != nil {
			return err
		}
	}
	return nil
}

// genRollups writes the analytics rollups of the month, nRows requests in
// all, from the keys in use.
func genRollups(ctx context.Context, st *store.Store, nRows, nKeys int, end time.Time) error {
	r := rand.New(rand.NewPCG(3, 4))
	end = end.Truncate(time.Hour)
	start := end.Add(-30 * 24 * time.Hour)
	const combos = 300
	dims := func(c int, h time.Time) store.RollupDims {
		k := ((c*7919 + h.Hour()*104729) % (nKeys / hotKeys)) * hotKeys
		a := k % apps
		s := "ok"
		if c%10 == 9 {
			s = "upstream_error"
		}
		return store.RollupDims{OrgID: orgID, TeamID: teamID(a % teams), AppID: appID(a), KeyID: keyID(k), Model: models[k%len(models)],
			Provider: "up", Status: s}
	}
	perHour := int64(nRows) / (30 * 24)
	type dayKey struct {
		day int64
		d   store.RollupDims
	}
	days := map[dayKey]*store.RollupSums{}
	var hours, minutes []store.RollupRow
	flush := func(grain string, rows *[]store.RollupRow) error {
		err := st.InsertRollups(ctx, grain, *rows)
		*rows = (*rows)[:0]
		return err
	}
	for h := start; h.Before(end); h = h.Add(time.Hour) {
		for c := range combos {
			d := dims(c, h)
			sums := synth(r, perHour/combos, d.Status)
			hours = append(hours, store.RollupRow{Bucket: h, RollupDims: d, RollupSums: sums})
			dk := dayKey{h.Truncate(24 * time.Hour).Unix(), d}
			if days[dk] == nil {
				days[dk] = &store.RollupSums{}
			}
			days[dk].Add(&sums)
			if end.Sub(h) <= 24*time.Hour && c%4 == 0 { // the last day in minutes too
				for m := range 60 {
					minutes = append(minutes, store.RollupRow{Bucket: h.Add(time.Duration(m) * time.Minute), RollupDims: d,
						RollupSums: synth(r, perHour/combos/15+1, d.Status)})
				}
			}
		}
		if len(hours) >= 5000 {
			if err := flush(store.GrainHour, &hours); err != nil {
				return err
			}
		}
		if len(minutes) >= 5000 {
			if err := flush(store.GrainMinute, &minutes); err != nil {
				return err
			}
		}
	}
	if err := flush(store.GrainHour, &hours); err != nil {
		return err
	}
	if err := flush(store.GrainMinute, &minutes); err != nil {
		return err
	}
	var dayRows []store.RollupRow
	for k, s := range days {
		dayRows = append(dayRows, store.RollupRow{Bucket: time.Unix(k.day, 0), RollupDims: k.d, RollupSums: *s})
	}
	if err := st.InsertRollups(ctx, store.GrainDay, dayRows); err != nil {
		return err
	}
	return st.SetRollupWatermarks(ctx, end, end.Truncate(24*time.Hour))
}

func synth(r *rand.Rand, n int64, status string) store.RollupSums {
	s := store.RollupSums{Requests: n, InputTokens: n * 550, OutputTokens: n * 200, CostMicros: n * 1500,
		LatencyMicros: n * 1_700_000, TTFTCount: n, TTFTMicros: n * 450_000}
	if status != "ok" {
		s.Errors = n
	}
	for range min(n, 64) {
		s.Latency[store.HistBucket(time.Duration(200+r.IntN(3000))*time.Millisecond)] += n / min(n, 64)
		s.TTFT[store.HistBucket(time.Duration(50+r.IntN(800))*time.Millisecond)] += n / min(n, 64)
	}
	return s
}
