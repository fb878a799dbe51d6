package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

// sparseHist makes a histogram with n random buckets of random counts.
func sparseHist(r *rand.Rand, n int, maxCount int64) Hist {
	var h Hist
	for range n {
		h[r.IntN(HistBuckets)] += 1 + r.Int64N(maxCount)
	}
	return h
}

func TestHistEncodingRoundTripsAndMerges(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var full, edges, huge Hist
	for i := range full {
		full[i] = int64(i + 1)
	}
	edges[0], edges[HistBuckets-1] = 1, 2
	huge[17] = math.MaxInt64
	for _, tc := range []struct {
		name string
		a, b Hist
	}{
		{"empty", Hist{}, Hist{}},
		{"into empty", Hist{}, sparseHist(r, 12, 1000)},
		{"empty into", sparseHist(r, 12, 1000), Hist{}},
		{"every bucket", full, full},
		{"first and last bucket", edges, sparseHist(r, 3, 5)},
		{"largest count", huge, Hist{}},
		{"sparse and sparse", sparseHist(r, 12, 1000), sparseHist(r, 12, 1_000_000)},
		{"dense and sparse", sparseHist(r, 200, 1<<40), sparseHist(r, 2, 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Round trip: decoding the encoding into nothing gives it back.
			for _, h := range []Hist{tc.a, tc.b} {
				var got Hist
				if err := got.AddEncoded(EncodeHist(&h)); err != nil || got != h {
					t.Fatalf("round trip of %v: %v, %v", h, got, err)
				}
			}
			// Merge: adding an encoding equals adding the buckets, as
			// summing 64 columns did.
			want := tc.a
			want.Add(&tc.b)
			got := tc.a
			if err := got.AddEncoded(EncodeHist(&tc.b)); err != nil || got != want {
				t.Fatalf("merge: %v, want %v (%v)", got, want, err)
			}
			// Quantiles of the merge are those of the summed columns.
			for _, q := range []float64{0.5, 0.95, 0.99} {
				if got.Quantile(q) != want.Quantile(q) {
					t.Errorf("p%v differs", q*100)
				}
			}
		})
	}
	var empty Hist
	if b := EncodeHist(&empty); len(b) != 0 {
		t.Errorf("an empty histogram encodes as %x", b)
	}
	// A dozen busy buckets take a few bytes each, not 64 values.
	h := sparseHist(r, 12, 100_000)
	if n := len(EncodeHist(&h)); n > 12*5 {
		t.Errorf("12 buckets take %d bytes", n)
	}
}

func TestHistDecodingRefusesMalformed(t *testing.T) {
	uv := func(xs ...uint64) []byte {
		var b []byte
		for _, x := range xs {
			b = binary.AppendUvarint(b, x)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"truncated varint", []byte{0x80}},
		{"gap without count", uv(3)},
		{"bucket past the last", uv(HistBuckets, 1)},
		{"second bucket past the last", uv(60, 1, 3, 1)},
		{"anything after the last bucket", uv(HistBuckets-1, 1, 0, 1)},
		{"zero count", uv(2, 0)},
		{"count over int64", uv(0, math.MaxInt64+1)},
		{"varint over 64 bits", []byte{0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
		{"huge gap", uv(math.MaxUint64, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := Hist{5: 7}
			before := h
			if err := h.AddEncoded(tc.b); err == nil {
				t.Fatalf("accepted %x as %v", tc.b, h)
			}
			if h != before {
				t.Fatalf("a refused encoding changed the histogram: %v", h)
			}
		})
	}
}

func FuzzHistDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	for range 4 {
		h := sparseHist(r, 10, 1<<20)
		f.Add(EncodeHist(&h))
	}
	f.Add([]byte{})
	f.Add([]byte{0x80, 0x80})
	f.Add([]byte{63, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Hist
		if err := h.AddEncoded(b); err != nil {
			if h != (Hist{}) {
				t.Fatal("a refused encoding changed the histogram")
			}
			return
		}
		// Whatever decodes re-encodes to the same counts, canonically.
		enc := EncodeHist(&h)
		var again Hist
		if err := again.AddEncoded(enc); err != nil || again != h {
			t.Fatalf("re-encoding %v: %v, %v", h, again, err)
		}
		if enc2 := EncodeHist(&again); string(enc2) != string(enc) {
			t.Fatalf("encoding is not canonical: %x, %x", enc, enc2)
		}
		for _, c := range h {
			if c < 0 {
				t.Fatalf("negative count from %x", b)
			}
		}
	})
}

// TestRollupHistogramsMatchLedger: every measure of the rollups, both
// histograms included, equals the sum of the ledger entries' own
// measures (RollupSums.addEntry: the arithmetic of the 64-column rows) at
// every grain, when ledger batches add to rows already holding counts,
// after compaction, after entries written late into compacted hours and
// days, and after minute rows are dropped.
func TestRollupHistogramsMatchLedger(t *testing.T) { forEach(t, testRollupHistogramsMatchLedger) }

func testRollupHistogramsMatchLedger(t *testing.T, s *Store) {
	ctx := context.Background()
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(48 * time.Hour)
	es := genEntries(11, 2000, start, 48*time.Hour, "h")
	// Small batches, so that most rows are written by several of them.
	for i := 0; i < len(es); i += 40 {
		if err := s.InsertEntries(ctx, es[i:min(i+40, len(es))]); err != nil {
			t.Fatal(err)
		}
	}
	check := func(stage string, ivs ...time.Duration) {
		t.Helper()
		want := map[string]*RollupSums{}
		for i := range es {
			if es[i].Time.Before(start) || !es[i].Time.Before(end) {
				continue
			}
			if want[es[i].Model] == nil {
				want[es[i].Model] = &RollupSums{}
			}
			want[es[i].Model].addEntry(&es[i])
		}
		for _, iv := range ivs {
			for _, metrics := range [][]string{nil, {"latency_p95_ms"}, {"ttft_p50_ms", "requests"}} {
				pts, err := s.Analytics(ctx, AnalyticsQuery{From: start, To: end, Interval: iv, GroupBy: []string{"model"}, Metrics: metrics})
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]*RollupSums{}
				for i := range pts {
					if got[pts[i].Group[0]] == nil {
						got[pts[i].Group[0]] = &RollupSums{}
					}
					got[pts[i].Group[0]].Add(&pts[i].RollupSums)
				}
				for m, w := range want {
					g := got[m]
					if g == nil {
						t.Fatalf("%s, by %v: no %s", stage, iv, m)
					}
					if metrics == nil && *g != *w {
						t.Errorf("%s, by %v, %s: rollups %+v, ledger %+v", stage, iv, m, *g, *w)
					}
					if g.Latency != w.Latency && (metrics == nil || metrics[0] == "latency_p95_ms") {
						t.Errorf("%s, by %v, %s, %v: latency histogram %v, ledger %v", stage, iv, m, metrics, g.Latency, w.Latency)
					}
					if g.TTFT != w.TTFT && (metrics == nil || metrics[0] == "ttft_p50_ms") {
						t.Errorf("%s, by %v, %s, %v: TTFT histogram %v, ledger %v", stage, iv, m, metrics, g.TTFT, w.TTFT)
					}
				}
			}
		}
	}
	check("written", time.Minute, time.Hour, 24*time.Hour)
	now := end.Add(10 * time.Minute)
	if _, err := s.CompactRollups(ctx, now, RollupRetention{Minutes: 365 * 24 * time.Hour, Hours: 365 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	check("compacted", time.Minute, time.Hour, 24*time.Hour)
	late := genEntries(12, 300, start, 48*time.Hour, "hlate")
	for i := 0; i < len(late); i += 50 {
		if err := s.InsertEntries(ctx, late[i:i+50]); err != nil {
			t.Fatal(err)
		}
	}
	es = append(es, late...)
	check("late", time.Minute, time.Hour, 24*time.Hour)
	if _, err := s.CompactRollups(ctx, now, RollupRetention{Minutes: time.Minute, Hours: 365 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	check("minute rows dropped", time.Hour, 24*time.Hour)
}

// TestMigrationCarriesRollupHistograms: migration 0014 carries every rollup
// row of the 64-column tables over, measures and histograms equal.
func TestMigrationCarriesRollupHistograms(t *testing.T) {
	forEach(t, testMigrationCarriesRollupHistograms)
}

func testMigrationCarriesRollupHistograms(t *testing.T, s *Store) {
	ctx := context.Background()
	// Put the database back to migration 0012's rollup table.
	body, err := fs.ReadFile(migrations, "migrations/0012_analytics_alerts.sql")
	if err != nil {
		t.Fatal(err)
	}
	var create string
	for _, st := range strings.Split(stripComments(string(body)), ";") {
		if strings.Contains(st, "CREATE TABLE analytics_rollup (") {
			create = st
		}
	}
	for _, q := range []string{`DROP TABLE analytics_rollup`, create, `DELETE FROM schema_migrations WHERE version = 14`} {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var oldHist []string
	for _, p := range []string{"lat_", "ttft_"} {
		for i := range HistBuckets {
			oldHist = append(oldHist, fmt.Sprintf("%s%02d", p, i))
		}
	}
	cols := rollupKeyColumns + ", " + strings.Join(rollupSumColumns, ", ") + ", " + strings.Join(oldHist, ", ")
	ins := `INSERT INTO analytics_rollup (` + cols + `) VALUES (` + placeholders("postgres", 1, 13+len(rollupSumColumns)+2*HistBuckets) + `)`
	r := rand.New(rand.NewPCG(9, 9))
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC).Unix()
	want := map[rollupKey]RollupSums{}
	const n = 2500 // more than a page of the copy
	for i := range n {
		k := rollupKey{[]string{GrainMinute, GrainHour, GrainDay}[i%3], start + int64(i/3)*86400,
			RollupDims{OrgID: "org_1", KeyID: fmt.Sprintf("key_%d", i%7), Model: fmt.Sprintf("m%d", i%5), PromptVersion: i % 2, Status: "ok"}}
		v := RollupSums{Requests: 1 + r.Int64N(1000), Errors: r.Int64N(3), CostMicros: r.Int64N(1e6), TTFTCount: 1,
			Latency: sparseHist(r, 10, 500), TTFT: sparseHist(r, i%3, 50)}
		args := k.appendKey(nil)
		args = v.values(args)
		for _, c := range v.Latency {
			args = append(args, c)
		}
		for _, c := range v.TTFT {
			args = append(args, c)
		}
		if _, err := s.w.ExecContext(ctx, ins, args...); err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	if err := s.migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+rollupKeyColumns+`, `+strings.Join(rollupSumColumns, ", ")+`, `+rollupHistColumns+` FROM analytics_rollup`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		var k rollupKey
		var v RollupSums
		var lat, ttft []byte
		if err := rows.Scan(append(v.scanTargets(k.scanKey(nil)), &lat, &ttft)...); err != nil {
			t.Fatal(err)
		}
		if err := v.Latency.AddEncoded(lat); err != nil {
			t.Fatal(err)
		}
		if err := v.TTFT.AddEncoded(ttft); err != nil {
			t.Fatal(err)
		}
		if w, ok := want[k]; !ok || w != v {
			t.Fatalf("row %v: %+v, want %+v", k, v, w)
		}
		got++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Fatalf("%d rows after the migration, want %d", got, n)
	}
	// The migrated table takes the ledger's writes.
	e := ledger.Entry{RequestID: "after-migration", Time: time.Unix(start, 0), OrgID: "org_1", KeyID: "key_0", Model: "m0",
		Status: ledger.StatusOK, Latency: time.Second}
	if err := s.InsertEntries(ctx, []ledger.Entry{e}); err != nil {
		t.Fatal(err)
	}
}
