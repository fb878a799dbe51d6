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

func TestReportVariants(t *testing.T) {
	ns := func(path string, conns int, rps float64, cpu, upCPU time.Duration) closedSample {
		return closedSample{Path: path, Conns: conns, Rep: 1, Requests: 100, Exact: 0, RPS: rps,
			CPUPerReq: cpu, UpstreamCPUPerReq: upCPU, PeakRSS: 20 << 20}
	}
	st := func(path string, ttfe, cpu time.Duration) streamSample {
		return streamSample{Path: path, Rep: 1, CPUPerStream: cpu,
			StreamResult: load.StreamResult{Streams: 10, OK: 9, TTFEP50: ttfe}}
	}
	r := &report{
		Started: time.Unix(0, 0),
		NonStream: []closedSample{
			ns(pathSluice, 64, 2000, 250*time.Microsecond, 150*time.Microsecond),
			ns(pathBare, 64, 2500, 200*time.Microsecond, 150*time.Microsecond),
			ns(pathA2O, 64, 1500, 500*time.Microsecond, 180*time.Microsecond),
			ns(pathWeighted, 64, 2000, 260*time.Microsecond, 150*time.Microsecond),
		},
		StreamLight: []streamSample{st(pathSluice, time.Millisecond, 4*time.Millisecond), st(pathO2A, 1500*time.Microsecond, 6*time.Millisecond)},
		Probe: []probeSample{
			{Path: pathDirect, Rep: 1, ProbeResult: load.ProbeResult{Streams: 200, TTFEP50: 300 * time.Microsecond, TTFEP99: time.Millisecond}},
			{Path: pathSluice, Rep: 1, ProbeResult: load.ProbeResult{Streams: 200, TTFEP50: 700 * time.Microsecond, TTFEP99: 2 * time.Millisecond}},
			{Path: pathA2O, Rep: 1, ProbeResult: load.ProbeResult{Streams: 199, Failed: 1, TTFEP50: 900 * time.Microsecond, TTFEP99: 3 * time.Millisecond}},
		},
	}
	var b bytes.Buffer
	r.print(&b)
	out := strings.Join(strings.Fields(b.String()), " ")
	for _, want := range []string{
		"sluice-a2o: Anthropic client",
		"sluice-a2o 64 1500", // the row, after sluice
		"translated",         // its byte-exact column
		"c=64 sluice-a2o CPU/req ÷ sluice CPU/req 2.00× (500µs vs 250µs, +250µs per request)",
		"c=64 sluice-a2o CPU/req ÷ bare proxy CPU/req 2.50×",
		"c=64 sluice-a2o req/s ÷ sluice req/s 0.75×",
		"c=64 sluice-a2o upstream CPU/req ÷ sluice's 1.20×",
		"c=64 sluice-weighted CPU/req ÷ sluice CPU/req 1.04× (260µs vs 250µs, +10µs per request)",
		"10 streams sluice-o2a CPU/stream ÷ sluice CPU/stream 1.50×",
		"10 streams sluice-o2a first event p50 − sluice p50 +500µs (9/10 streams ok)",
		"sluice 200/200 700µs 2.00ms +400µs +1000µs -",
		"sluice-a2o 199/200 900µs 3.00ms +600µs +2000µs +200µs",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Index(out, "sluice 64 2000") > strings.Index(out, "sluice-a2o 64 1500") {
		t.Errorf("variant rows must follow the sluice row:\n%s", b.String())
	}
}

// TestReportScaleTargets checks that the governed row is compared with the
// bare proxy at every connection count of -variant-conns, that each scale
// target is marked met or MISSED on its own figures, and that a 10,000-stream
// run prints RSS per stream above idle with its verdict.
func TestReportScaleTargets(t *testing.T) {
	ns := func(path string, conns int, rps float64, cpu time.Duration) closedSample {
		return closedSample{Path: path, Conns: conns, Rep: 1, Requests: 100, Exact: 100, RPS: rps, CPUPerReq: cpu}
	}
	st := func(path string, ttfe time.Duration, start, peak int64, trunc int) streamSample {
		return streamSample{Path: path, Rep: 1, StartRSS: start, PeakRSS: peak,
			StreamResult: load.StreamResult{Streams: 10000, OK: 10000 - trunc, Truncated: trunc, TTFEP50: ttfe}}
	}
	r := &report{
		Started: time.Unix(0, 0),
		NonStream: []closedSample{
			ns(pathBare, 1, 1000, 300*time.Microsecond), ns(pathSluice, 1, 1100, 280*time.Microsecond),
			ns(pathGoverned, 1, 1300, 230*time.Microsecond), // 0.77x CPU, 1.30x req/s: both met
			ns(pathBare, 64, 2000, 200*time.Microsecond), ns(pathSluice, 64, 2100, 190*time.Microsecond),
			ns(pathGoverned, 64, 2300, 170*time.Microsecond), // 0.85x CPU, 1.15x req/s: both missed
			ns(pathA2O, 64, 1500, 260*time.Microsecond),      // 1.37x sluice: met
			ns(pathO2A, 64, 1400, 300*time.Microsecond),      // 1.58x sluice: missed
		},
		Stream: []streamSample{
			st(pathDirect, 10*time.Millisecond, 20e6, 200e6, 0),
			st(pathSluice, 15*time.Millisecond, 25e6, 445e6, 0), // 42 KB per stream, +5 ms
		},
	}
	var b bytes.Buffer
	r.print(&b)
	out := strings.Join(strings.Fields(b.String()), " ")
	for _, want := range []string{
		"c=1 sluice-governed CPU/req ÷ bare proxy CPU/req 0.77× (230µs vs 300µs) target <= 0.8x: met",
		"c=1 sluice-governed req/s ÷ bare proxy req/s 1.30× (1300 vs 1000) target >= 1.2x: met",
		"c=64 sluice-governed CPU/req ÷ bare proxy CPU/req 0.85× (170µs vs 200µs) target <= 0.8x: MISSED",
		"c=64 sluice-governed req/s ÷ bare proxy req/s 1.15× (2300 vs 2000) target >= 1.2x: MISSED",
		"c=64 sluice-a2o CPU/req ÷ sluice CPU/req 1.37× (260µs vs 190µs, +70µs per request) target <= 1.4x: met",
		"c=64 sluice-o2a CPU/req ÷ sluice CPU/req 1.58× (300µs vs 190µs, +110µs per request) target <= 1.4x: MISSED",
		"10000 streams Sluice peak RSS above idle per stream 42.0 KB",
		"target <= 50 KB: met",
		"10000 streams Sluice truncated + reordered 0 (10000/10000 ok) target 0 and all ok: met",
		"10000 streams Sluice first event p50 − direct p50 +5000µs target <= 10 ms: met",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(out, "sluice-governed CPU/req ÷ sluice CPU/req 1.21× (230µs vs 190µs") {
		t.Errorf("the c=1 governed row was compared with the c=64 sluice row:\n%s", b.String())
	}
}
