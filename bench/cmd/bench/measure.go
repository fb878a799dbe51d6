package main

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/sluicehq/sluice/bench/internal/load"
	"github.com/sluicehq/sluice/bench/internal/proc"
)

// cpuMeter snapshots the CPU time of the measured process and the upstream.
type cpuMeter struct {
	pids       [2]int
	begin, end [2]time.Duration
}

func (m *cpuMeter) read(dst *[2]time.Duration) {
	for i, pid := range m.pids {
		dst[i], _ = proc.CPUTime(pid)
	}
}

// perOp returns the CPU time per operation of the measured process and of
// the upstream.
func (m *cpuMeter) perOp(n int) (measured, upstream time.Duration) {
	if n == 0 {
		return 0, 0
	}
	return (m.end[0] - m.begin[0]) / time.Duration(n), (m.end[1] - m.begin[1]) / time.Duration(n)
}

// rotate returns the rows in an order that starts one further each
// repetition, so that no path always runs first or last.
func rotate(rows []*row, rep int) []*row {
	out := make([]*row, 0, len(rows))
	for i := range rows {
		out = append(out, rows[(i+rep)%len(rows)])
	}
	return out
}

// prepare restarts r's process and resets the peak RSS of the process that
// will be measured. It returns the RSS then, or false when r can no longer
// be measured.
func (e *env) prepare(ctx context.Context, r *row) (int64, bool) {
	if r.dead != nil {
		return 0, false
	}
	if err := e.restart(ctx, r); err != nil {
		logf("%s: restart failed: %v", r.name, err)
		return 0, false
	}
	// One request first, not measured: a restarted Sluice reads a budgeted
	// key's spend in the period from the ledger on its first request, and
	// the measurement is of the steady state. How long it took is reported.
	if isSluice(r.name) {
		t0 := time.Now()
		if ok, err := load.Fixed(ctx, r.target, 1, 1); ok == 1 && err == nil {
			if e.firstRequests == nil {
				e.firstRequests = map[string][]time.Duration{}
			}
			e.firstRequests[r.name] = append(e.firstRequests[r.name], time.Since(t0))
		}
	}
	runtime.GC() // the load generator's own garbage from the last run
	_ = proc.ResetPeak(r.child.PID())
	rss, _, _ := proc.Memory(r.child.PID())
	return rss, true
}

// nonStream runs every path at every connection count, reps times,
// interleaved; with variants, the Sluice variants too, at -variant-conns.
func (e *env) nonStream(ctx context.Context, conns []int, paths []string, variants bool) []closedSample {
	var out []closedSample
	for rep := range e.cfg.reps {
		for _, r := range rotate(e.rows, rep) {
			if r.streamOnly || !has(paths, r.name) || (r.variant && !variants) {
				continue
			}
			rowConns := conns
			if r.variant {
				rowConns = e.cfg.variantConns
			}
			for _, n := range rowConns {
				if ctx.Err() != nil {
					break
				}
				startRSS, ok := e.prepare(ctx, r)
				if !ok {
					break
				}
				s := e.closedOnce(ctx, r, n, rep)
				s.StartRSS = startRSS
				logf("rep %d %-15s c=%-3d %8.0f req/s  p50 %-8s p99 %-8s cpu/req %-8s peak %s  errors %d",
					rep+1, r.name, n, s.RPS, fmtDur(s.P50), fmtDur(s.P99), fmtDur(s.CPUPerReq), fmtMB(s.PeakRSS), s.Errors)
				if s.FirstError != "" {
					logf("  first error: %s", s.FirstError)
				}
				out = append(out, s)
			}
		}
	}
	return out
}

func (e *env) closedOnce(ctx context.Context, r *row, conns, rep int) closedSample {
	pid := r.child.PID()
	m := &cpuMeter{pids: [2]int{pid, e.upstream.PID()}}
	before := e.upstreamStats(ctx)
	res := load.Closed(ctx, r.target, load.ClosedOptions{
		Conns: conns, Warmup: e.cfg.warmup, Duration: e.cfg.duration,
		Begin: func() { m.read(&m.begin) },
		End:   func() { m.read(&m.end) },
	})
	after := e.upstreamStats(ctx)
	_, peak, _ := proc.Memory(pid)
	if isSluice(r.name) {
		e.sluiceForwarded += after.Requests - before.Requests
	}
	s := closedSample{Path: r.name, Conns: conns, Rep: rep + 1, Requests: res.Requests, Exact: res.Exact,
		Errors: res.Errors, FirstError: res.FirstError, RPS: res.RPS, P50: res.P50, P99: res.P99,
		PeakRSS: peak, UpstreamConns: after.Conns - before.Conns}
	s.CPUPerReq, s.UpstreamCPUPerReq = m.perOp(res.Requests + res.Errors)
	return s
}

// streams runs the stream test with n streams on every path, reps times,
// interleaved; the Sluice variants take part only with variants set.
func (e *env) streams(ctx context.Context, n int, variants bool) []streamSample {
	c := e.cfg
	var out []streamSample
	for rep := range c.reps {
		for _, r := range rotate(e.rows, rep) {
			if ctx.Err() != nil {
				return out
			}
			if r.variant && !variants {
				continue
			}
			startRSS, ok := e.prepare(ctx, r)
			if !ok {
				continue
			}
			pid := r.child.PID()
			m := &cpuMeter{pids: [2]int{pid, e.upstream.PID()}}
			before := e.upstreamStats(ctx)
			res := load.Streams(ctx, r.target, load.StreamOptions{
				Streams: n, Ramp: c.ramp, Timeout: c.streamTimeout,
				Nonce: fmt.Sprintf("%s-%d-%d", r.name, rep, time.Now().UnixNano()),
				Begin: func() { m.read(&m.begin) },
				End:   func() { m.read(&m.end) },
			})
			after := e.upstreamStats(ctx)
			_, peak, _ := proc.Memory(pid)
			if isSluice(r.name) {
				e.sluiceForwarded += after.Requests - before.Requests
			}
			s := streamSample{Path: r.name, Rep: rep + 1, StreamResult: res, PeakRSS: peak, StartRSS: startRSS,
				UpstreamConns: after.Conns - before.Conns}
			s.CPUPerStream, s.UpstreamCPUPerStream = m.perOp(res.Streams)
			logf("rep %d %-15s %d streams: ok %d/%d (truncated %d, reordered %d, no [DONE] %d, mismatch %d, failed %d)  first event p50 %s p99 %s  gap p99 %s  wall %s  peak %s",
				rep+1, r.name, n, res.OK, res.Streams, res.Truncated, res.Reordered, res.NoDone, res.Mismatch, res.Failed,
				fmtDur(res.TTFEP50), fmtDur(res.TTFEP99), fmtDur(res.GapP99), fmtDur(res.Wall), fmtMB(peak))
			if res.FirstProblem != "" {
				logf("  first problem: %s", res.FirstProblem)
			}
			out = append(out, s)
		}
	}
	return out
}

// probe measures the first event of streams sent one at a time on a warm
// connection, on every path, reps times, interleaved. It does not restart
// the proxies (it measures latency only) and runs after the stream runs.
func (e *env) probe(ctx context.Context) []probeSample {
	c := e.cfg
	var out []probeSample
	for rep := range c.reps {
		for _, r := range rotate(e.rows, rep) {
			if ctx.Err() != nil {
				return out
			}
			if r.streamOnly || r.dead != nil {
				continue
			}
			res := load.Probe(ctx, r.target, load.ProbeOptions{
				Streams: c.probeStreams, Warmup: 20, Timeout: c.streamTimeout,
				Header: http.Header{"X-Fake-Chunks": {"1"}},
				Nonce:  fmt.Sprintf("probe-%s-%d", r.name, rep),
			})
			logf("rep %d %-15s probe: %d ok, %d failed, first event p50 %s p99 %s",
				rep+1, r.name, res.Streams, res.Failed, fmtDur(res.TTFEP50), fmtDur(res.TTFEP99))
			if res.FirstProblem != "" {
				logf("  first problem: %s", res.FirstProblem)
			}
			out = append(out, probeSample{Path: r.name, Rep: rep + 1, ProbeResult: res})
		}
	}
	return out
}
