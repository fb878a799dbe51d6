package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAnalyticsRankingsMatchGrouping(t *testing.T) { forEach(t, testAnalyticsRankingsMatchGrouping) }

// testAnalyticsRankingsMatchGrouping: AnalyticsRanked's points are
// Analytics's, and each of its rankings holds, for every value of the
// dimension, exactly the sums (histograms included) of Analytics grouped
// by that dimension alone, its points summed; before and after compaction
// (day, hour and minute rows), ranges aligned or not, with histograms
// (rows streamed) and without (summed in SQL).
func testAnalyticsRankingsMatchGrouping(t *testing.T, s *Store) {
	ctx := context.Background()
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	es := genEntries(11, 2000, start, 3*24*time.Hour, "rank")
	for i := range es {
		es[i].AppID = fmt.Sprintf("app_%d", i%5)
		es[i].KeyID = fmt.Sprintf("key_%d", i*i%9)
		es[i].PromptVersion = i % 3
	}
	if err := s.InsertEntries(ctx, es); err != nil {
		t.Fatal(err)
	}
	check := func(stage string) {
		t.Helper()
		for _, tc := range []struct {
			name     string
			from, to time.Time
			iv       time.Duration
			groupBy  []string
			metrics  []string
			rankings []string
		}{
			{"a week in 6 hours with latency", start.Add(-4 * 24 * time.Hour), start.Add(3*24*time.Hour + time.Minute), 6 * time.Hour, nil,
				[]string{"requests", "errors", "input_tokens", "output_tokens", "cost_micros", "latency_p50_ms", "latency_p95_ms"},
				[]string{"model", "key", "application"}},
			{"by hour, every metric", start, start.Add(72 * time.Hour), time.Hour, nil, nil, []string{"model", "key", "application"}},
			{"unaligned by 15m, sums in SQL", start.Add(13 * time.Minute), start.Add(30*time.Hour + 7*time.Minute), 15 * time.Minute,
				nil, []string{"requests", "cost_micros", "errors"}, []string{"key", "model"}},
			{"by day, grouped by status", start.Add(90 * time.Minute), start.Add(50*time.Hour + 7*time.Minute), 24 * time.Hour,
				[]string{"status"}, []string{"requests", "latency_p95_ms", "ttft_p99_ms"}, []string{"application", "status", "provider"}},
			{"prompt versions, one key", start, start.Add(72 * time.Hour), time.Hour, []string{"model"}, []string{"requests", "tokens"},
				[]string{"prompt_version"}},
		} {
			where := map[string]string{"org_id": "org_1"}
			if tc.name == "prompt versions, one key" {
				where["key_id"] = "key_4"
			}
			q := AnalyticsQuery{From: tc.from, To: tc.to, Interval: tc.iv, GroupBy: tc.groupBy, Metrics: tc.metrics, Where: where}
			plain, err := s.Analytics(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			q.Rankings = tc.rankings
			res, err := s.AnalyticsRanked(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Points, plain) {
				t.Errorf("%s, %s: with rankings, %d points differ from the %d without", stage, tc.name, len(res.Points), len(plain))
			}
			if len(res.Rankings) != len(tc.rankings) {
				t.Fatalf("%s, %s: %d rankings, want %d", stage, tc.name, len(res.Rankings), len(tc.rankings))
			}
			for i, dim := range tc.rankings {
				alone := q
				alone.GroupBy, alone.Rankings = []string{dim}, nil
				pts, err := s.Analytics(ctx, alone)
				if err != nil {
					t.Fatal(err)
				}
				var want []AnalyticsGroup
				for _, p := range pts {
					if len(want) == 0 || want[len(want)-1].Value != p.Group[0] {
						want = append(want, AnalyticsGroup{Value: p.Group[0]})
					}
					want[len(want)-1].Add(&p.RollupSums)
				}
				if len(want) < 2 {
					t.Fatalf("%s, %s, %s: %d values; the case tests nothing", stage, tc.name, dim, len(want))
				}
				if !reflect.DeepEqual(res.Rankings[i], want) {
					t.Errorf("%s, %s, ranking by %s:\n got %v\nwant %v", stage, tc.name, dim, summary(res.Rankings[i]), summary(want))
				}
			}
		}
	}
	check("before compaction")
	if _, err := s.CompactRollups(ctx, start.Add(60*time.Hour+30*time.Minute),
		RollupRetention{Minutes: 365 * 24 * time.Hour, Hours: 365 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	check("after compaction")
}

// summary shows each group's value, requests and cost.
func summary(gs []AnalyticsGroup) string {
	out := ""
	for _, g := range gs {
		out += fmt.Sprintf(" %s:%d/%d", g.Value, g.Requests, g.CostMicros)
	}
	return out
}

// TestRowHistDecodesAsAddEncoded: the analytics read's per-row decoding
// adds exactly what Hist.AddEncoded adds, to every sum it is added to, and
// refuses the same malformed encodings.
func TestRowHistDecodesAsAddEncoded(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 9))
	uv := func(xs ...uint64) []byte {
		var b []byte
		for _, x := range xs {
			b = binary.AppendUvarint(b, x)
		}
		return b
	}
	full := Hist{}
	for i := range full {
		full[i] = int64(i + 1)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"empty", nil, true},
		{"one bucket", uv(0, 1), true},
		{"first and last", uv(0, 4, HistBuckets-2, 9), true},
		{"every bucket", EncodeHist(&full), true},
		{"random", func() []byte { h := sparseHist(r, 12, 1<<30); return EncodeHist(&h) }(), true},
		{"truncated varint", []byte{0x80}, false},
		{"gap without count", uv(3), false},
		{"bucket past the last", uv(HistBuckets, 1), false},
		{"anything after the last bucket", uv(HistBuckets-1, 1, 0, 1), false},
		{"zero count", uv(2, 0), false},
		{"count over int64", uv(0, math.MaxInt64+1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want Hist
			werr := want.AddEncoded(tc.b)
			var rh rowHist
			err := rh.decode(tc.b)
			if (err == nil) != tc.ok || (werr == nil) != tc.ok {
				t.Fatalf("decode: %v, AddEncoded: %v, want ok %v", err, werr, tc.ok)
			}
			for range 2 { // added to a second sum, the same counts again
				var got Hist
				rh.addTo(&got)
				if got != want {
					t.Fatalf("decoded %v, AddEncoded %v", got, want)
				}
			}
		})
	}
}

// TestAnalyticsRankingsMemoryBounded: a rankings read with top keeps per
// value of a ranking only its integer sums when its metrics need no
// histogram, and builds whole sums only for what it returns. A ranking of
// 20,000 keys costs under 300 bytes per key, far below one RollupSums
// (about 1.1 KB): measured as what a second ranking by key adds to a read
// of the same rows (the driver's rows are the same), whether the rows are
// summed in SQL or streamed for the points' histograms.
func TestAnalyticsRankingsMemoryBounded(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const keys = 20000
	start := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	es := genEntries(5, keys, start, 24*time.Hour, "mem")
	for i := range es {
		es[i].KeyID = fmt.Sprintf("key_%06d", i)
	}
	if err := s.InsertEntries(ctx, es); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name            string
		metrics, rankMs []string
	}{
		{"sums in SQL", []string{"requests", "cost_micros"}, nil},
		{"rows streamed for the points' latency", []string{"requests", "cost_micros", "latency_p50_ms", "latency_p95_ms"},
			[]string{"requests", "cost_micros"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// allocated is what a read with rankings allocates.
			allocated := func(rankings ...string) uint64 {
				q := AnalyticsQuery{From: start, To: start.Add(24 * time.Hour), Interval: time.Hour, Metrics: tc.metrics,
					RankingMetrics: tc.rankMs, Rankings: rankings, Top: 5, RankBy: "requests"}
				if _, err := s.AnalyticsRanked(ctx, q); err != nil { // warm the statement and connections
					t.Fatal(err)
				}
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				res, err := s.AnalyticsRanked(ctx, q)
				runtime.ReadMemStats(&after)
				if err != nil {
					t.Fatal(err)
				}
				for i := range rankings {
					if len(res.Rankings[i]) != 5 || res.Others[i].Values != keys-5 {
						t.Fatalf("%d values and %d others, want 5 and %d", len(res.Rankings[i]), res.Others[i].Values, keys-5)
					}
				}
				return after.TotalAlloc - before.TotalAlloc
			}
			one, two := allocated("key"), allocated("key", "key")
			per := float64(int64(two)-int64(one)) / keys
			t.Logf("the read: %.0f bytes per key; a ranking: %.0f bytes per key", float64(one)/keys, per)
			if per > 300 {
				t.Errorf("a ranking allocates %.0f bytes per distinct key, want at most 300", per)
			}
		})
	}
}

func TestAnalyticsRankingsTop(t *testing.T) { forEach(t, testAnalyticsRankingsTop) }

// testAnalyticsRankingsTop: with Top, each ranking holds the Top values a
// read of every value (metrics = the ranking's) ranks first by RankBy,
// ties by value, in that order, with the same metrics, and Others the
// rest summed; RankingMetrics apart from Metrics, and a percentile
// RankBy that RankingMetrics do not name.
func testAnalyticsRankingsTop(t *testing.T, s *Store) {
	ctx := context.Background()
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	es := genEntries(13, 1500, start, 48*time.Hour, "top")
	for i := range es {
		es[i].AppID = fmt.Sprintf("app_%d", i%7)
		es[i].KeyID = fmt.Sprintf("key_%d", i%23) // 66 or 65 requests each: ties
	}
	if err := s.InsertEntries(ctx, es); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name            string
		metrics, rankMs []string
		rankBy          string
		top             int
	}{
		{"the overview's", []string{"requests", "errors", "latency_p50_ms", "latency_p95_ms"}, []string{"requests", "cost_micros"},
			"requests", 5},
		{"by a percentile not shown", []string{"requests"}, []string{"requests", "errors"}, "latency_p95_ms", 3},
		{"more than the series", []string{"requests"}, []string{"cost_micros", "ttft_p99_ms", "cache_hit_rate"}, "cost_micros", 4},
		{"ties by value", []string{"requests"}, []string{"requests"}, "requests", 6},
		{"more than there are", nil, []string{"requests", "latency_avg_ms"}, "errors", 100},
	} {
		q := AnalyticsQuery{From: start, To: start.Add(48 * time.Hour), Interval: time.Hour, Metrics: tc.metrics,
			Rankings: []string{"key", "application", "model"}}
		all := q
		all.Metrics = append(slices.Clip(tc.rankMs), tc.rankBy)
		every, err := s.AnalyticsRanked(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		q.RankingMetrics, q.Top, q.RankBy = tc.rankMs, tc.top, tc.rankBy
		got, err := s.AnalyticsRanked(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for i, dim := range q.Rankings {
			gs := slices.Clone(every.Rankings[i])
			v := func(g *AnalyticsGroup) float64 { x, _ := g.Metric(tc.rankBy); return x }
			slices.SortStableFunc(gs, func(a, b AnalyticsGroup) int {
				if va, vb := v(&a), v(&b); va != vb {
					if va > vb {
						return -1
					}
					return 1
				}
				return strings.Compare(a.Value, b.Value)
			})
			if strings.HasPrefix(tc.name, "ties") && dim == "key" {
				ties := 0
				for k := 1; k < len(gs); k++ {
					if v(&gs[k]) == v(&gs[k-1]) {
						ties++
					}
				}
				if ties == 0 {
					t.Fatalf("%s: no keys tie; the case tests nothing", tc.name)
				}
			}
			n := min(tc.top, len(gs))
			var rest AnalyticsRest
			for k := range gs[n:] {
				rest.Add(&gs[n+k].RollupSums)
				rest.Values++
			}
			if len(gs) < 2 {
				t.Fatalf("%s, %s: %d values; the case tests nothing", tc.name, dim, len(gs))
			}
			if len(got.Rankings[i]) != n || got.Others[i].Values != rest.Values {
				t.Fatalf("%s, %s: %d values and %d others, want %d and %d", tc.name, dim, len(got.Rankings[i]),
					got.Others[i].Values, n, rest.Values)
			}
			same := func(what string, a, b *RollupSums) {
				for _, m := range append(slices.Clip(tc.rankMs), tc.rankBy) {
					if x, y := must(a.Metric(m)), must(b.Metric(m)); x != y {
						t.Errorf("%s, %s, %s: %s %v, want %v", tc.name, dim, what, m, x, y)
					}
				}
			}
			for k := range n {
				if got.Rankings[i][k].Value != gs[k].Value {
					t.Errorf("%s, %s: #%d is %q, want %q", tc.name, dim, k, got.Rankings[i][k].Value, gs[k].Value)
				}
				same(gs[k].Value, &got.Rankings[i][k].RollupSums, &gs[k].RollupSums)
			}
			same("other", &got.Others[i].RollupSums, &rest.RollupSums)
		}
	}
}

func must(v float64, ok bool) float64 {
	if !ok {
		panic("unknown metric")
	}
	return v
}
