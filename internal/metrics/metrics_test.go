package metrics

import (
	"fmt"
	"io"
	"math"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sluiceLines returns the exposition's lines about sluice_ metrics (the
// runtime collectors' values change from scrape to scrape).
func sluiceLines(t *testing.T, r *Registry) string {
	t.Helper()
	var b strings.Builder
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	var out []string
	for l := range strings.Lines(b.String()) {
		if strings.HasPrefix(l, "sluice_") || strings.HasPrefix(l, "# HELP sluice_") || strings.HasPrefix(l, "# TYPE sluice_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

func TestExposition(t *testing.T) {
	r := NewRegistry()
	f := r.Counter("sluice_requests_total", "Requests.", "endpoint", "status")
	f.With("chat.completions", "ok").Add(2)
	f.With("chat.completions", "ok").Add(1)
	f.With("chat.completions", "ok").Add(-5) // ignored: counters never go down
	f.With("messages", "truncated").Add(1)
	r.Gauge("sluice_target_up", "Target health.", func(emit func(map[string]string, float64)) {
		emit(map[string]string{"provider": "a", "model": `m"x`}, 1)
	})
	r.Gauge("sluice_queue", "Queue.", func(emit func(map[string]string, float64)) { emit(nil, 7) })
	want := `# HELP sluice_queue Queue.
# TYPE sluice_queue gauge
sluice_queue 7
# HELP sluice_requests_total Requests.
# TYPE sluice_requests_total counter
sluice_requests_total{endpoint="chat.completions",status="ok"} 3
sluice_requests_total{endpoint="messages",status="truncated"} 1
# HELP sluice_target_up Target health.
# TYPE sluice_target_up gauge
sluice_target_up{model="m\"x",provider="a"} 1
`
	if got := sluiceLines(t, r); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// TestRuntimeCollectors: the Go runtime and process collectors are
// registered by NewRegistry.
func TestRuntimeCollectors(t *testing.T) {
	families, err := NewRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range families {
		have[f.GetName()] = true
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total"} {
		if !have[name] {
			t.Errorf("no %s", name)
		}
	}
}

// TestHandlerFormats: the handler answers OpenMetrics with exemplars to a
// scraper that asks for it, and the text format otherwise.
func TestHandlerFormats(t *testing.T) {
	r := NewRegistry()
	h := r.Histogram("sluice_request_duration_seconds", "Latency.", []float64{0.1, 1}, "endpoint")
	h.With("chat.completions").ObserveWithExemplar(0.5, map[string]string{"request_id": "req_abc"})
	tests := []struct {
		accept, contentType string
		want, wantNot       []string
	}{
		{"application/openmetrics-text; version=1.0.0", "application/openmetrics-text",
			[]string{`sluice_request_duration_seconds_bucket{endpoint="chat.completions",le="1.0"} 1 # {request_id="req_abc"} 0.5`, "# EOF"}, nil},
		{"", "text/plain",
			[]string{`sluice_request_duration_seconds_bucket{endpoint="chat.completions",le="1"} 1`, "go_goroutines"},
			[]string{"req_abc", "# EOF"}},
	}
	for _, tt := range tests {
		t.Run(tt.contentType, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/metrics", nil)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			w := httptest.NewRecorder()
			r.Handler().ServeHTTP(w, req)
			body, _ := io.ReadAll(w.Body)
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.contentType) {
				t.Errorf("Content-Type %q, want %s", ct, tt.contentType)
			}
			for _, s := range tt.want {
				if !strings.Contains(string(body), s) {
					t.Errorf("no %q in\n%s", s, body)
				}
			}
			for _, s := range tt.wantNot {
				if strings.Contains(string(body), s) {
					t.Errorf("%q in\n%s", s, body)
				}
			}
		})
	}
}

// TestHostileValues: label values and exemplars that client_golang would
// panic on (wrong count, invalid UTF-8, too long) are fitted or dropped,
// and the observation still counts.
func TestHostileValues(t *testing.T) {
	long := strings.Repeat("x", 1000)
	tests := []struct {
		name     string
		values   []string
		exemplar map[string]string
		wantExem bool
	}{
		{"ok", []string{"a", "b"}, map[string]string{"request_id": "req_1"}, true},
		{"too few values", []string{"a"}, nil, false},
		{"too many values", []string{"a", "b", "c"}, nil, false},
		{"invalid utf-8", []string{"\xff\xfe", "b"}, map[string]string{"request_id": "\xff"}, false},
		{"too long", []string{long, long}, map[string]string{"request_id": long}, false},
		{"empty exemplar name", []string{"a", "b"}, map[string]string{"": "x"}, false},
	}
	for _, tt := range tests {
		for _, oneLabel := range []bool{false, true} {
			if oneLabel && len(tt.exemplar) != 1 {
				continue
			}
			t.Run(fmt.Sprintf("%s label=%v", tt.name, oneLabel), func(t *testing.T) {
				r := NewRegistry()
				c := r.Counter("sluice_c_total", "C.", "x", "y")
				h := r.Histogram("sluice_h_seconds", "H.", []float64{1}, "x", "y")
				c.With(tt.values...).Add(1)
				if oneLabel {
					for name, value := range tt.exemplar {
						h.With(tt.values...).ObserveWithExemplarLabel(0.5, name, value)
					}
				} else {
					h.With(tt.values...).ObserveWithExemplar(0.5, tt.exemplar)
				}
				families, err := r.Gather()
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range families {
					switch f.GetName() {
					case "sluice_c_total":
						m := f.GetMetric()
						if len(m) != 1 || m[0].GetCounter().GetValue() != 1 {
							t.Fatalf("counter %v", m)
						}
						for _, l := range m[0].GetLabel() {
							if len(l.GetValue()) > maxLabelValue+3 {
								t.Errorf("label %s is %d bytes", l.GetName(), len(l.GetValue()))
							}
						}
					case "sluice_h_seconds":
						m := f.GetMetric()
						if len(m) != 1 || m[0].GetHistogram().GetSampleCount() != 1 {
							t.Fatalf("histogram %v", m)
						}
						if got := m[0].GetHistogram().GetBucket()[0].GetExemplar() != nil; got != tt.wantExem {
							t.Errorf("exemplar kept %v, want %v", got, tt.wantExem)
						}
					}
				}
			})
		}
	}
}

// TestExemplarEvery: a bucket's first exemplar is kept at once; a later one
// replaces it only once it is ExemplarEvery old; each bucket (+Inf too)
// keeps its own; every observation counts.
func TestExemplarEvery(t *testing.T) {
	for _, bounds := range [][]float64{{1, 10}, {1, 10, math.Inf(+1)}} {
		r := NewRegistry()
		f := r.Histogram("sluice_e_seconds", "E.", bounds, "x")
		now := time.Unix(1000, 0)
		f.now = func() time.Time { return now }
		h := f.With("a")
		exemplars := func() []string {
			families, err := r.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, fam := range families {
				if fam.GetName() != "sluice_e_seconds" {
					continue
				}
				out := make([]string, 3) // le=1, le=10, +Inf
				hist := fam.GetMetric()[0].GetHistogram()
				for _, b := range hist.GetBucket() {
					i := slices.Index([]float64{1, 10, math.Inf(+1)}, b.GetUpperBound())
					if ls := b.GetExemplar().GetLabel(); len(ls) > 0 {
						out[i] = ls[0].GetValue()
					}
				}
				return append(out, fmt.Sprint(hist.GetSampleCount()))
			}
			return nil
		}
		for _, step := range []struct {
			after time.Duration
			v     float64
			id    string
			want  string // the bucket exemplars (le=1, le=10, +Inf) and the count
		}{
			{0, 0.5, "first", "first   1"},
			{ExemplarEvery / 2, 0.7, "too-soon", "first   2"},
			{0, 5, "other-bucket", "first other-bucket  3"},
			{0, 100, "infinite", "first other-bucket infinite 4"},
			{0, 200, "infinite-too-soon", "first other-bucket infinite 5"},
			{ExemplarEvery / 2, 0.9, "due", "due other-bucket infinite 6"},
			{0, 1, "on-the-bound", "due other-bucket infinite 7"},
			{ExemplarEvery, 1, "on-the-bound", "on-the-bound other-bucket infinite 8"},
		} {
			now = now.Add(step.after)
			h.ObserveWithExemplarLabel(step.v, "request_id", step.id)
			if got := strings.Join(exemplars(), " "); got != step.want {
				t.Fatalf("bounds %v, after %s: %q, want %q", bounds, step.id, got, step.want)
			}
		}
	}
}

// TestRegisterTwice: registering a family again shares the first one
// rather than panicking or splitting the counts.
func TestRegisterTwice(t *testing.T) {
	r := NewRegistry()
	r.Counter("sluice_x_total", "X.", "a").With("1").Add(1)
	r.Counter("sluice_x_total", "X.", "a").With("1").Add(2)
	if got := sluiceLines(t, r); !strings.Contains(got, `sluice_x_total{a="1"} 3`) {
		t.Fatalf("got\n%s", got)
	}
}

// TestNames: families registered but never observed are listed, with
// the names PromQL selects for histograms, beside the runtime's.
func TestNames(t *testing.T) {
	r := NewRegistry()
	r.Counter("sluice_a_total", "A.", "x")
	r.Histogram("sluice_b_seconds", "B.", []float64{1}, "x")
	r.Gauge("sluice_c", "C.", func(func(map[string]string, float64)) {})
	names, err := r.Names()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	for _, n := range []string{"sluice_a_total", "sluice_b_seconds_bucket", "sluice_b_seconds_sum", "sluice_b_seconds_count", "sluice_c",
		"go_goroutines", "go_gc_duration_seconds_count", "process_cpu_seconds_total"} {
		if !have[n] {
			t.Errorf("no %s in %v", n, names)
		}
	}
	if have["sluice_b_seconds"] {
		t.Error("a histogram's bare name is not a series")
	}
}

// TestSeriesCache: With caches series by the values passed, so values
// that differ in any position are different series, values that fit to
// the same label are one series, and a family asked for more series than
// the cache holds still counts every one.
func TestSeriesCache(t *testing.T) {
	long := strings.Repeat("m", maxLabelValue)
	tests := []struct {
		name  string
		calls [][]string
		want  []string // the family's lines
	}{
		{"same values, one series", [][]string{{"p", "m", "input"}, {"p", "m", "input"}},
			[]string{`sluice_t{a="p",b="m",c="input"} 2`}},
		{"last value differs", [][]string{{"p", "m", "input"}, {"p", "m", "output"}},
			[]string{`sluice_t{a="p",b="m",c="input"} 1`, `sluice_t{a="p",b="m",c="output"} 1`}},
		{"first value differs", [][]string{{"p", "m", "input"}, {"q", "m", "input"}},
			[]string{`sluice_t{a="p",b="m",c="input"} 1`, `sluice_t{a="q",b="m",c="input"} 1`}},
		{"values cut to the same label", [][]string{{"p", long + "x", "c"}, {"p", long + "y", "c"}},
			[]string{`sluice_t{a="p",b="` + long + `",c="c"} 2`}},
		{"missing and extra values", [][]string{{"p"}, {"p", "", "", "extra", "more"}},
			[]string{`sluice_t{a="p",b="",c=""} 2`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRegistry()
			f := r.Counter("sluice_t", "T.", "a", "b", "c")
			for _, c := range tc.calls {
				f.With(c...).Add(1)
			}
			var got []string
			for l := range strings.Lines(sluiceLines(t, r)) {
				if !strings.HasPrefix(l, "#") {
					got = append(got, strings.TrimSuffix(l, "\n"))
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	t.Run("beyond the cache's bound", func(t *testing.T) {
		r := NewRegistry()
		f := r.Histogram("sluice_h", "H.", []float64{1}, "m")
		for i := range maxCachedSeries + 10 {
			f.With(strconv.Itoa(i)).Observe(0.5)
		}
		f.With(strconv.Itoa(maxCachedSeries + 5)).Observe(0.5)
		if n := len(f.series.m); n > maxCachedSeries {
			t.Fatalf("the cache holds %d series, more than its bound %d", n, maxCachedSeries)
		}
		out := sluiceLines(t, r)
		if n := strings.Count(out, "sluice_h_count{"); n != maxCachedSeries+10 {
			t.Fatalf("%d series, want %d", n, maxCachedSeries+10)
		}
		if !strings.Contains(out, `sluice_h_count{m="`+strconv.Itoa(maxCachedSeries+5)+`"} 2`) {
			t.Fatal("a series beyond the cache's bound lost an observation")
		}
	})
}
