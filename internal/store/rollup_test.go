package store

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

func TestHistQuantile(t *testing.T) {
	for _, tc := range []struct {
		name string
		gen  func(r *rand.Rand) time.Duration
	}{
		{"uniform 10-500ms", func(r *rand.Rand) time.Duration { return time.Duration(10+r.Float64()*490) * time.Millisecond }},
		{"log-normal around 800ms", func(r *rand.Rand) time.Duration {
			return time.Duration(math.Exp(math.Log(800)+0.8*r.NormFloat64()) * float64(time.Millisecond))
		}},
		{"sub-millisecond", func(r *rand.Rand) time.Duration { return time.Duration(r.IntN(1000)) * time.Microsecond }},
		{"minutes", func(r *rand.Rand) time.Duration { return time.Duration(30+r.IntN(300)) * time.Second }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var h Hist
			xs := make([]time.Duration, 20000)
			for i := range xs {
				xs[i] = tc.gen(r)
				h[HistBucket(xs[i])]++
			}
			slices.Sort(xs)
			for _, q := range []float64{0.5, 0.95, 0.99} {
				want := xs[int(q*float64(len(xs)))-1]
				got := h.Quantile(q)
				tol := 0.13 * float64(want)
				if want < time.Millisecond {
					tol = float64(60 * time.Microsecond)
				}
				if math.Abs(float64(got-want)) > tol {
					t.Errorf("p%v = %v, want %v within 13%%", q*100, got, want)
				}
			}
		})
	}
	var empty Hist
	if empty.Quantile(0.5) != 0 {
		t.Fatal("empty histogram has a quantile")
	}
}

func TestHistBucketBounds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{0, 0}, {999 * time.Microsecond, 0}, {time.Millisecond, 1}, {1259 * time.Microsecond, 1},
		{1260 * time.Microsecond, 2}, {2 * time.Millisecond, 4}, {time.Second, 30}, {24 * time.Hour, HistBuckets - 1},
	} {
		if got := HistBucket(tc.d); got != tc.want {
			t.Errorf("HistBucket(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

// genEntries makes n entries over span from start, over three models, two
// providers, two keys and four statuses.
func genEntries(seed uint64, n int, start time.Time, span time.Duration, prefix string) []ledger.Entry {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]ledger.Entry, n)
	statuses := []ledger.Status{ledger.StatusOK, ledger.StatusOK, ledger.StatusUpstreamError, ledger.StatusClientError}
	for i := range out {
		out[i] = ledger.Entry{
			RequestID: fmt.Sprintf("%s-%d", prefix, i), Time: start.Add(time.Duration(r.Int64N(int64(span)))),
			Endpoint: "chat.completions", KeyID: []string{"key_a", "key_b"}[r.IntN(2)],
			OrgID: "org_1", TeamID: "team_1", AppID: "app_1",
			Model: []string{"m1", "m2", "m3"}[r.IntN(3)], Provider: []string{"p1", "p2"}[r.IntN(2)],
			Status: statuses[r.IntN(4)], HTTPStatus: 200, InputTokens: int64(r.IntN(100)), OutputTokens: int64(r.IntN(50)),
			CostMicros: int64(r.IntN(1000)), Latency: time.Duration(r.IntN(2000)) * time.Millisecond,
			TTFT: time.Duration(r.IntN(300)) * time.Millisecond, Cache: []string{"", "hit", "miss"}[r.IntN(3)],
		}
	}
	return out
}

// ledgerCounts counts entries per model (and their cost) in [from, to).
func ledgerCounts(es []ledger.Entry, from, to time.Time) map[string][2]int64 {
	out := map[string][2]int64{}
	for _, e := range es {
		if !e.Time.Before(from) && e.Time.Before(to) {
			c := out[e.Model]
			c[0]++
			c[1] += e.CostMicros
			out[e.Model] = c
		}
	}
	return out
}

func analyticsCounts(t *testing.T, s *Store, from, to time.Time, iv time.Duration) map[string][2]int64 {
	t.Helper()
	pts, err := s.Analytics(context.Background(), AnalyticsQuery{From: from, To: to, Interval: iv, GroupBy: []string{"model"}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]int64{}
	for _, p := range pts {
		c := out[p.Group[0]]
		c[0] += p.Requests
		c[1] += p.CostMicros
		out[p.Group[0]] = c
	}
	return out
}

func TestRollupsMatchLedger(t *testing.T) { forEach(t, testRollupsMatchLedger) }

func testRollupsMatchLedger(t *testing.T, s *Store) {
	ctx := context.Background()
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	es := genEntries(1, 3000, start, 3*24*time.Hour, "r")
	for i := 0; i < len(es); i += 250 {
		if err := s.InsertEntries(ctx, es[i:min(i+250, len(es))]); err != nil {
			t.Fatal(err)
		}
	}
	// A retried batch and a batch repeating one id count once.
	if err := s.InsertEntries(ctx, es[:100]); err != nil {
		t.Fatal(err)
	}
	dup := genEntries(2, 1, start, time.Hour, "dup")
	if err := s.InsertEntries(ctx, []ledger.Entry{dup[0], dup[0]}); err != nil {
		t.Fatal(err)
	}
	es = append(es, dup[0])
	check := func(stage string) {
		t.Helper()
		for _, tc := range []struct {
			name     string
			from, to time.Time
			iv       time.Duration
		}{
			{"all by day", start, start.Add(72 * time.Hour), 24 * time.Hour},
			{"all by hour", start, start.Add(72 * time.Hour), time.Hour},
			{"all by minute", start, start.Add(72 * time.Hour), time.Minute},
			{"unaligned by day", start.Add(90 * time.Minute), start.Add(50*time.Hour + 7*time.Minute), 24 * time.Hour},
			{"unaligned by 15m", start.Add(13 * time.Minute), start.Add(30 * time.Hour), 15 * time.Minute},
		} {
			want := ledgerCounts(es, tc.from, tc.to)
			got := analyticsCounts(t, s, tc.from, tc.to, tc.iv)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s, %s: analytics %v, ledger %v", stage, tc.name, got, want)
			}
		}
	}
	check("before compaction")
	now := start.Add(72*time.Hour + 30*time.Minute)
	st, err := s.CompactRollups(ctx, now, RollupRetention{Minutes: 365 * 24 * time.Hour, Hours: 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !st.HoursDone.Equal(start.Add(72*time.Hour)) || !st.DaysDone.Equal(start.Add(72*time.Hour)) {
		t.Fatalf("watermarks %v / %v", st.HoursDone, st.DaysDone)
	}
	check("after compaction")
	// Entries written late, into hours and days already compacted, count.
	late := genEntries(3, 200, start, 72*time.Hour, "late")
	if err := s.InsertEntries(ctx, late); err != nil {
		t.Fatal(err)
	}
	es = append(es, late...)
	check("after late entries")
	// Compacting again changes nothing; dropping minute rows keeps hour
	// and day answers.
	if _, err := s.CompactRollups(ctx, now, RollupRetention{Minutes: time.Minute, Hours: 365 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	for _, iv := range []time.Duration{time.Hour, 24 * time.Hour} {
		want := ledgerCounts(es, start, start.Add(72*time.Hour))
		if got := analyticsCounts(t, s, start, start.Add(72*time.Hour), iv); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("after retention, by %v: analytics %v, ledger %v", iv, got, want)
		}
	}
	var minutes int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM analytics_rollup WHERE grain = 'm'`).Scan(&minutes); err != nil {
		t.Fatal(err)
	}
	if minutes != 0 {
		t.Errorf("%d minute rows survive their retention", minutes)
	}
}

func TestRollupSums(t *testing.T) { forEach(t, testRollupSums) }

// testRollupSums: every measure of one minute bucket equals the sum of its
// entries, and percentiles come from the histograms.
func testRollupSums(t *testing.T, s *Store) {
	ctx := context.Background()
	start := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	es := genEntries(4, 500, start, time.Minute, "s")
	if err := s.InsertEntries(ctx, es); err != nil {
		t.Fatal(err)
	}
	var want RollupSums
	lats := []time.Duration{}
	for i := range es {
		want.addEntry(&es[i])
		lats = append(lats, es[i].Latency)
	}
	pts, err := s.Analytics(ctx, AnalyticsQuery{From: start, To: start.Add(time.Minute), Interval: time.Minute,
		Where: map[string]string{"org_id": "org_1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 1 || pts[0].RollupSums != want || !pts[0].T.Equal(start) {
		t.Fatalf("got %+v, want one point of %+v", pts, want)
	}
	if want.Errors == 0 || want.CacheHits == 0 || want.TTFTCount == 0 {
		t.Fatalf("the generated entries miss a measure: %+v", want)
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	p95 := lats[int(0.95*float64(len(lats)))-1]
	if got := pts[0].Latency.Quantile(0.95); math.Abs(float64(got-p95)) > 0.13*float64(p95) {
		t.Errorf("p95 %v, want %v", got, p95)
	}
	// Another organisation sees nothing.
	pts, err = s.Analytics(ctx, AnalyticsQuery{From: start, To: start.Add(time.Minute), Interval: time.Minute,
		Where: map[string]string{"org_id": "org_2"}})
	if err != nil || len(pts) != 0 {
		t.Fatalf("org_2 sees %v, %v", pts, err)
	}
}

func TestAnalyticsRefusesBadRanges(t *testing.T) {
	s, err := OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		q    AnalyticsQuery
	}{
		{"interval under a minute", AnalyticsQuery{From: t0, To: t0.Add(time.Hour), Interval: 30 * time.Second}},
		{"interval over a day", AnalyticsQuery{From: t0, To: t0.Add(time.Hour), Interval: 48 * time.Hour}},
		{"interval not dividing a day", AnalyticsQuery{From: t0, To: t0.Add(time.Hour), Interval: 7 * time.Minute}},
		{"to before from", AnalyticsQuery{From: t0, To: t0.Add(-time.Hour), Interval: time.Minute}},
		{"too many buckets", AnalyticsQuery{From: t0, To: t0.Add(200 * 24 * time.Hour), Interval: time.Minute}},
		{"unknown dimension", AnalyticsQuery{From: t0, To: t0.Add(time.Hour), Interval: time.Minute, GroupBy: []string{"ts; DROP TABLE requests"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Analytics(context.Background(), tc.q); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
