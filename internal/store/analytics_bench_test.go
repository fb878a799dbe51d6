package store

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// analyticsBenchRequests is how many requests the generated month holds.
const analyticsBenchRequests = 10_000_000

// genMonth writes 30 days of rollups for analyticsBenchRequests requests
// straight into the store (not through the ledger): hour and day rows for
// the whole month, minute rows for the last day, watermarks at the last
// hour, as the compactor leaves them. Per hour, 150 combinations of 3
// organisations, 30 keys, 12 models, 3 providers and 4 statuses carry
// traffic; the requests of a day are spread over its hours with a daily
// cycle.
func genMonth(tb testing.TB, s *Store, end time.Time) (total int64) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))
	end = end.Truncate(time.Hour)
	start := end.Add(-30 * 24 * time.Hour)
	const combos = 150
	type combo struct{ d RollupDims }
	cs := make([]RollupDims, 400)
	for i := range cs {
		org := fmt.Sprintf("org_%d", r.IntN(3))
		cs[i] = RollupDims{OrgID: org, TeamID: org + "_t", AppID: org + "_a", KeyID: fmt.Sprintf("key_%02d", r.IntN(30)),
			Model: fmt.Sprintf("model-%02d", r.IntN(12)), Provider: fmt.Sprintf("prov-%d", r.IntN(3)),
			Status: []string{"ok", "ok", "ok", "upstream_error", "client_error"}[r.IntN(5)]}
	}
	perHour := float64(analyticsBenchRequests) / (30 * 24)
	days := map[rollupKey]*RollupSums{}
	var dayKeys []rollupKey
	var hours, minutes []RollupRow
	flush := func(grain string, rows *[]RollupRow) {
		if err := s.InsertRollups(ctx, grain, *rows); err != nil {
			tb.Fatal(err)
		}
		*rows = (*rows)[:0]
	}
	for h := start; h.Before(end); h = h.Add(time.Hour) {
		cycle := 0.4 + 1.2*float64((h.Hour()+12)%24)/23 // quiet nights, busy afternoons, mean ~1
		n := int64(perHour * cycle)
		total += n
		for c := range combos {
			d := cs[(c*7+h.Hour())%len(cs)]
			share := n / combos
			if c == 0 {
				share += n % combos
			}
			sums := synthSums(r, share, d.Status)
			hours = append(hours, RollupRow{Bucket: h, RollupDims: d, RollupSums: sums})
			dk := rollupKey{GrainDay, h.Unix() - mod(h.Unix(), 86400), d}
			if days[dk] == nil {
				days[dk] = &RollupSums{}
				dayKeys = append(dayKeys, dk)
			}
			days[dk].Add(&sums)
			if end.Sub(h) <= 24*time.Hour { // the last day in minutes too
				for m := range 60 {
					if r.IntN(4) == 0 { // a quarter of the combinations each minute
						minutes = append(minutes, RollupRow{Bucket: h.Add(time.Duration(m) * time.Minute), RollupDims: d,
							RollupSums: synthSums(r, share/15+1, d.Status)})
					}
				}
			}
		}
		if len(hours) >= 5000 {
			flush(GrainHour, &hours)
		}
		if len(minutes) >= 5000 {
			flush(GrainMinute, &minutes)
		}
	}
	flush(GrainHour, &hours)
	flush(GrainMinute, &minutes)
	dayRows := make([]RollupRow, 0, len(dayKeys))
	for _, k := range dayKeys {
		dayRows = append(dayRows, RollupRow{Bucket: time.Unix(k.bucket, 0), RollupDims: k.RollupDims, RollupSums: *days[k]})
	}
	if err := s.InsertRollups(ctx, GrainDay, dayRows); err != nil {
		tb.Fatal(err)
	}
	// Hours are compacted up to the last hour, days up to the last midnight.
	lastDay := end.Unix() - mod(end.Unix(), 86400)
	if err := s.SetRollupWatermarks(ctx, end, time.Unix(lastDay, 0)); err != nil {
		tb.Fatal(err)
	}
	return total
}

// synthSums makes the measures of n requests.
func synthSums(r *rand.Rand, n int64, status string) RollupSums {
	s := RollupSums{Requests: n, InputTokens: n * 400, OutputTokens: n * 120, CachedTokens: n * 50, CostMicros: n * 900,
		LatencyMicros: n * 800_000, TTFTCount: n, TTFTMicros: n * 250_000, CacheLookups: n / 2, CacheHits: n / 6}
	if status == "upstream_error" {
		s.Errors = n
	}
	for range min(n, 64) { // the shape of the distribution, scaled
		s.Latency[HistBucket(time.Duration(200+r.IntN(3000))*time.Millisecond)] += n / min(n, 64)
		s.TTFT[HistBucket(time.Duration(50+r.IntN(800))*time.Millisecond)] += n / min(n, 64)
	}
	return s
}

// BenchmarkAnalytics30Days answers analytics queries over 30 days of 10
// million requests (ns/op is one query). Run with
// go test ./internal/store -run '^$' -bench Analytics30Days -benchtime 10x
// (SLUICE_TEST_POSTGRES_DSN set for PostgreSQL too).
func BenchmarkAnalytics30Days(b *testing.B) {
	backends := map[string]*Store{}
	dir := os.Getenv("SLUICE_BENCH_DIR") // keeps the generated SQLite month between runs
	if dir == "" {
		dir = b.TempDir()
	}
	sq, err := OpenSQLite(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	defer sq.Close()
	backends["sqlite"] = sq
	if pg := PostgresForTest(b); pg != nil {
		backends["postgres"] = pg
	}
	end := time.Now().UTC()
	for name, s := range backends {
		end := end
		t0 := time.Now()
		var rows int
		if err := s.r.QueryRow(`SELECT count(*) FROM analytics_rollup`).Scan(&rows); err != nil {
			b.Fatal(err)
		}
		var total int64
		if rows == 0 {
			total = genMonth(b, s, end)
			if err := s.r.QueryRow(`SELECT count(*) FROM analytics_rollup`).Scan(&rows); err != nil {
				b.Fatal(err)
			}
		} else { // kept from an earlier run: it ends at its hour watermark
			var wm int64
			if err := s.r.QueryRow(`SELECT done_until FROM analytics_compaction WHERE grain = 'h'`).Scan(&wm); err != nil {
				b.Fatal(err)
			}
			end = time.Unix(wm, 0).UTC()
		}
		b.Logf("%s: generated %d requests in %d rollup rows in %v", name, total, rows, time.Since(t0).Round(time.Millisecond))
		for _, q := range []struct {
			name     string
			interval time.Duration
			span     time.Duration
			groupBy  []string
			where    map[string]string
			metrics  []string
		}{
			{"30d-by-1h-model", time.Hour, 30 * 24 * time.Hour, []string{"model"}, nil, nil},
			{"30d-by-1d-model-provider-status", 24 * time.Hour, 30 * 24 * time.Hour, []string{"model", "provider", "status"}, nil, nil},
			{"30d-by-1h-key-one-org", time.Hour, 30 * 24 * time.Hour, []string{"key"}, map[string]string{"org_id": "org_1"}, nil},
			{"1d-by-1m-model", time.Minute, 24 * time.Hour, []string{"model"}, nil, nil},
			{"30d-by-1h-model-counts-only", time.Hour, 30 * 24 * time.Hour, []string{"model"}, nil, []string{"requests", "errors", "cost_micros"}},
		} {
			b.Run(name+"/"+q.name, func(b *testing.B) {
				b.ReportAllocs()
				var reqs int64
				cpu0, srv0 := cpuSeconds(), serverCPUSeconds(name)
				for b.Loop() {
					pts, err := s.Analytics(context.Background(), AnalyticsQuery{From: end.Add(-q.span), To: end, Interval: q.interval,
						GroupBy: q.groupBy, Where: q.where, Metrics: q.metrics})
					if err != nil {
						b.Fatal(err)
					}
					reqs = 0
					for i := range pts {
						reqs += pts[i].Requests
					}
				}
				b.ReportMetric(float64(reqs), "requests")
				b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op") // the process's CPU time: what the query costs on an idle machine
				if srv0 >= 0 {
					b.ReportMetric((serverCPUSeconds(name)-srv0)/float64(b.N), "server-cpu-s/op")
				}
			})
		}
	}
}

// serverCPUSeconds is the CPU time of the PostgreSQL server's backends
// (the children of the postmaster whose pid SLUICE_BENCH_PG_PID names,
// those still running and those that ended), or -1 for SQLite or without
// it.
func serverCPUSeconds(backend string) float64 {
	pid := os.Getenv("SLUICE_BENCH_PG_PID")
	if backend != "postgres" || pid == "" {
		return -1
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime stime are fields 14 and 15.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) < 15 {
			continue
		}
		var n []int64
		for _, f := range fields[11:15] {
			v, _ := strconv.ParseInt(f, 10, 64)
			n = append(n, v)
		}
		switch {
		case fields[1] == pid: // a backend
			ticks += n[0] + n[1]
		case filepath.Base(filepath.Dir(f)) == pid: // the postmaster: the backends that ended
			ticks += n[2] + n[3]
		}
	}
	return float64(ticks) / 100 // USER_HZ
}

// cpuSeconds is the CPU time (user and system) this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
