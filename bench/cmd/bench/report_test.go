package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/bench/internal/load"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []int
		want int
	}{{nil, 0}, {[]int{3}, 3}, {[]int{5, 1, 3}, 3}, {[]int{4, 1, 3, 2}, 2}}
	for _, tc := range tests {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestReportPrints(t *testing.T) {
	ns := func(path string, conns, rep int, rps float64, cpu time.Duration) closedSample {
		return closedSample{Path: path, Conns: conns, Rep: rep, Requests: 100, Exact: 100, RPS: rps,
			P50: time.Millisecond, P99: 2 * time.Millisecond, CPUPerReq: cpu, PeakRSS: 20 << 20}
	}
	st := func(path string, ttfe time.Duration) streamSample {
		return streamSample{Path: path, Rep: 1, PeakRSS: 30 << 20, CPUPerStream: time.Millisecond,
			StreamResult: load.StreamResult{Streams: 10, OK: 10, TTFEP50: ttfe, TTFEP99: 2 * ttfe}}
	}
	r := &report{
		Started: time.Unix(0, 0),
		NonStream: []closedSample{
			ns(pathSluice, 1, 1, 900, 400*time.Microsecond), ns(pathBare, 1, 1, 1000, 200*time.Microsecond),
			ns(pathSluice, 1, 2, 950, 300*time.Microsecond), ns(pathBare, 1, 2, 1100, 250*time.Microsecond),
			ns(pathSluice, 1, 3, 800, 500*time.Microsecond), ns(pathBare, 1, 3, 1050, 300*time.Microsecond),
		},
		Memory: []closedSample{ns(pathSluice, 256, 1, 500, time.Millisecond)},
		Stream: []streamSample{st(pathDirect, time.Millisecond), st(pathBare, 1500*time.Microsecond), st(pathSluice, 1700*time.Microsecond)},
	}
	var b bytes.Buffer
	r.print(&b)
	out := b.String()
	for _, want := range []string{
		"Sluice CPU/req ÷ bare proxy CPU/req        1.60×", // medians: 400µs / 250µs
		"Sluice req/s ÷ bare proxy req/s            0.86×", // 900 / 1050
		"sluice first-event overhead vs direct      p50 +700µs",
		"Sluice peak RSS vs 100.0 MB target         PASS",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
