package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/bench/internal/load"
)

// memTarget is the bound on Sluice's peak RSS in the memory run.
const memTarget = 100 << 20

type closedSample struct {
	Path              string
	Conns             int
	Rep               int
	Requests          int
	Exact             int
	Errors            int
	FirstError        string `json:",omitempty"`
	RPS               float64
	P50, P99          time.Duration
	CPUPerReq         time.Duration // the measured process (the upstream for direct)
	UpstreamCPUPerReq time.Duration
	PeakRSS           int64 // bytes, of the measured process
	StartRSS          int64 // its RSS when the run began (fresh and idle for proxies)
	UpstreamConns     int64 // connections the upstream accepted during the run
}

type streamSample struct {
	Path string
	Rep  int
	load.StreamResult
	CPUPerStream         time.Duration
	UpstreamCPUPerStream time.Duration
	PeakRSS              int64
	StartRSS             int64
	UpstreamConns        int64
}

type probeSample struct {
	Path string
	Rep  int
	load.ProbeResult
}

type ledgerCheck struct {
	Forwarded int64  // requests the upstream saw through Sluice in the whole run
	Sent      int    // requests of the check answered 200
	SendError string `json:",omitempty"`
	Status    int
	Found     int    // ledger entries of the check's requests
	Bad       int    // of those, entries with a wrong status, token count or cost
	FirstBad  string `json:",omitempty"`
	Latest    string `json:",omitempty"`
	Error     string `json:",omitempty"`
}

type report struct {
	Command     string
	Started     time.Time
	Elapsed     time.Duration
	Machine     string
	Config      string
	NonStream   []closedSample `json:",omitempty"`
	Memory      []closedSample `json:",omitempty"`
	Stream      []streamSample `json:",omitempty"`
	StreamLight []streamSample `json:",omitempty"`
	Probe       []probeSample  `json:",omitempty"`
	Ledger      *ledgerCheck   `json:",omitempty"`
	// SluiceStopMax is the longest SIGTERM-to-exit of Sluice between runs
	// (it drains its ledger queue on the way out).
	SluiceStopMax time.Duration `json:",omitempty"`
	// FirstRequestMax is, per Sluice row, the slowest first request after a
	// restart (sent before each measurement, not measured).
	FirstRequestMax map[string]time.Duration `json:",omitempty"`
	Profile         string                   `json:",omitempty"`
	Notes           []string                 `json:",omitempty"`
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	load, _ := os.ReadFile("/proc/loadavg")
	return fmt.Sprintf("%d CPUs (%s), Linux %s, %s, load average at start %s",
		runtime.NumCPU(), model, strings.TrimSpace(string(kernel)), runtime.Version(),
		strings.Join(strings.Fields(string(load))[:3], " "))
}

func median[T cmp.Ordered](xs []T) T {
	if len(xs) == 0 {
		var zero T
		return zero
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

func pick[S any, T any](xs []S, f func(S) T) []T {
	out := make([]T, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// closedMedian is the median of each figure over the repetitions of one
// path and connection count, with error counts summed.
type closedMedian struct {
	path                    string
	conns, reps             int
	rps                     float64
	p50, p99, cpu, upCPU    time.Duration
	peak, startRSS, upConns int64
	requests, errs, exact   int
	firstErr                string
}

func closedMedians(samples []closedSample) []closedMedian {
	type key struct {
		path  string
		conns int
	}
	groups := map[key][]closedSample{}
	var order []key
	for _, s := range samples {
		k := key{s.Path, s.Conns}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s)
	}
	slices.SortStableFunc(order, func(a, b key) int {
		return cmp.Or(cmp.Compare(pathRank(a.path), pathRank(b.path)), cmp.Compare(a.conns, b.conns))
	})
	var out []closedMedian
	for _, k := range order {
		g := groups[k]
		m := closedMedian{path: k.path, conns: k.conns, reps: len(g),
			rps:      median(pick(g, func(s closedSample) float64 { return s.RPS })),
			p50:      median(pick(g, func(s closedSample) time.Duration { return s.P50 })),
			p99:      median(pick(g, func(s closedSample) time.Duration { return s.P99 })),
			cpu:      median(pick(g, func(s closedSample) time.Duration { return s.CPUPerReq })),
			upCPU:    median(pick(g, func(s closedSample) time.Duration { return s.UpstreamCPUPerReq })),
			peak:     median(pick(g, func(s closedSample) int64 { return s.PeakRSS })),
			startRSS: median(pick(g, func(s closedSample) int64 { return s.StartRSS })),
			upConns:  median(pick(g, func(s closedSample) int64 { return s.UpstreamConns })),
		}
		for _, s := range g {
			m.requests += s.Requests
			m.errs += s.Errors
			m.exact += s.Exact
			if m.firstErr == "" {
				m.firstErr = s.FirstError
			}
		}
		out = append(out, m)
	}
	return out
}

type streamMedian struct {
	path                              string
	reps                              int
	ttfe50, ttfe99, gap50, gap99, cpu time.Duration
	peak, startRSS                    int64
	streams, ok, trunc, reord, noDone int
	mismatch, failed, readErrs        int
	firstProblem                      string
	wall                              time.Duration
	upCPU                             time.Duration
	upConns                           int64
}

func streamMedians(samples []streamSample) []streamMedian {
	groups := map[string][]streamSample{}
	var order []string
	for _, s := range samples {
		if _, ok := groups[s.Path]; !ok {
			order = append(order, s.Path)
		}
		groups[s.Path] = append(groups[s.Path], s)
	}
	slices.SortStableFunc(order, func(a, b string) int { return cmp.Compare(pathRank(a), pathRank(b)) })
	var out []streamMedian
	for _, p := range order {
		g := groups[p]
		m := streamMedian{path: p, reps: len(g),
			ttfe50:   median(pick(g, func(s streamSample) time.Duration { return s.TTFEP50 })),
			ttfe99:   median(pick(g, func(s streamSample) time.Duration { return s.TTFEP99 })),
			gap50:    median(pick(g, func(s streamSample) time.Duration { return s.GapP50 })),
			gap99:    median(pick(g, func(s streamSample) time.Duration { return s.GapP99 })),
			cpu:      median(pick(g, func(s streamSample) time.Duration { return s.CPUPerStream })),
			upCPU:    median(pick(g, func(s streamSample) time.Duration { return s.UpstreamCPUPerStream })),
			startRSS: median(pick(g, func(s streamSample) int64 { return s.StartRSS })),
			peak:     median(pick(g, func(s streamSample) int64 { return s.PeakRSS })),
			wall:     median(pick(g, func(s streamSample) time.Duration { return s.Wall })),
			upConns:  median(pick(g, func(s streamSample) int64 { return s.UpstreamConns })),
		}
		for _, s := range g {
			m.streams += s.Streams
			m.ok += s.OK
			m.trunc += s.Truncated
			m.reord += s.Reordered
			m.noDone += s.NoDone
			m.mismatch += s.Mismatch
			m.failed += s.Failed
			m.readErrs += s.ReadErrors
			if m.firstProblem == "" {
				m.firstProblem = s.FirstProblem
			}
		}
		out = append(out, m)
	}
	return out
}

func pathRank(p string) int {
	for i, q := range []string{pathDirect, pathBare, pathUnbuffered, pathSluice, pathA2O, pathO2A, pathWeighted, pathGoverned} {
		if p == q {
			return i
		}
	}
	return 99
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

func fmtMB(b int64) string {
	if b <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MB", float64(b)/(1<<20))
}

func ratio(a, b float64) string {
	if b == 0 || a == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\n=== Sluice benchmark — %s ===\n", r.Started.Format(time.RFC3339))
	fmt.Fprintf(w, "command: %s\nmachine: %s\nsettings: %s\nelapsed: %s\n", r.Command, r.Machine, r.Config, r.Elapsed.Round(time.Second))
	fmt.Fprintln(w, "figures are medians of the repetitions; error and stream counts are totals over them")

	ns := closedMedians(r.NonStream)
	if len(ns) > 0 {
		fmt.Fprintln(w, "\n-- Non-stream chat completions, closed loop, keep-alive (CPU/req and peak RSS: the proxy; for direct: the upstream) --")
		printClosed(w, ns)
		printLegend(w, ns)
	}
	mem := closedMedians(r.Memory)
	if len(mem) > 0 {
		fmt.Fprintf(w, "\n-- Memory run: non-stream at %d connections (target: Sluice peak RSS < %s) --\n", mem[0].conns, fmtMB(memTarget))
		printClosed(w, mem)
	}
	st := streamMedians(r.Stream)
	if len(st) > 0 {
		fmt.Fprintf(w, "\n-- SSE streams, %d concurrent: each stream checked byte for byte against the upstream's --\n", st[0].streams/st[0].reps)
		printStreams(w, st)
	}
	light := streamMedians(r.StreamLight)
	if len(light) > 0 {
		fmt.Fprintf(w, "\n-- SSE streams, %d concurrent (unsaturated: first-event overhead) --\n", light[0].streams/light[0].reps)
		printStreams(w, light)
	}
	probe := probeMedians(r.Probe)
	if len(probe) > 0 {
		fmt.Fprintf(w, "\n-- First event, one stream at a time on a warm connection (X-Fake-Chunks: 1), %d streams per run --\n", probe[0].streams/probe[0].reps)
		printProbe(w, probe)
	}
	fmt.Fprintln(w, "\n-- Ratios (same run) --")
	r.printRatios(w, ns, mem, st, light)
	printVariants(w, ns, light)
	if r.Ledger != nil {
		l := r.Ledger
		fmt.Fprintln(w, "\n-- Sluice ledger and metering --")
		fmt.Fprintf(w, "the upstream saw %d requests through Sluice during the run\n", l.Forwarded)
		if l.Error != "" {
			fmt.Fprintf(w, "ledger check error: %s\n", l.Error)
		} else {
			fmt.Fprintf(w, "ledger check: %d requests sent to a fresh Sluice, SIGTERM, restart, then GET /admin/v1/requests: %d entries (%s), %d with wrong status/tokens/cost\n",
				l.Sent, l.Found, okIf(l.Found == l.Sent), l.Bad)
			if l.SendError != "" {
				fmt.Fprintf(w, "  first send error: %s\n", l.SendError)
			}
			if l.FirstBad != "" {
				fmt.Fprintf(w, "  first wrong entry: %s\n", l.FirstBad)
			}
			if l.Latest != "" {
				fmt.Fprintf(w, "latest entry: %s\n", l.Latest)
			}
		}
		if r.SluiceStopMax > 0 {
			fmt.Fprintf(w, "longest Sluice shutdown between runs (SIGTERM, ledger drain): %s\n", fmtDur(r.SluiceStopMax))
		}
		for _, name := range slices.Sorted(maps.Keys(r.FirstRequestMax)) {
			fmt.Fprintf(w, "slowest first request after a restart (sent before measuring), %s: %s\n", name, fmtDur(r.FirstRequestMax[name]))
		}
	}
	if r.Profile != "" {
		fmt.Fprintln(w, "\n-- Sluice CPU profile --")
		fmt.Fprintln(w, r.Profile)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "\n-- Notes --")
		for _, n := range r.Notes {
			fmt.Fprintln(w, "* "+n)
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func okIf(b bool) string {
	if b {
		return "matches"
	}
	return "DIFFERS"
}

func printClosed(w io.Writer, ms []closedMedian) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tconns\treq/s\tp50\tp99\tCPU/req\tupstream CPU/req\tstart RSS\tpeak RSS\tupstream conns/run\terrors\tbyte-exact\t")
	for _, m := range ms {
		exact := "n/a"
		if translated(m.path) {
			exact = "translated"
		} else if m.requests > 0 {
			exact = fmt.Sprintf("%.0f%%", 100*float64(m.exact)/float64(m.requests))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t\n", m.path, m.conns, m.rps,
			fmtDur(m.p50), fmtDur(m.p99), fmtDur(m.cpu), fmtDur(m.upCPU), fmtMB(m.startRSS), fmtMB(m.peak), m.upConns, m.errs, exact)
	}
	tw.Flush()
	for _, m := range ms {
		if m.firstErr != "" {
			fmt.Fprintf(w, "  %s c=%d first error: %s\n", m.path, m.conns, m.firstErr)
		}
	}
}

func printStreams(w io.Writer, ms []streamMedian) {
	var direct *streamMedian
	for i := range ms {
		if ms[i].path == pathDirect {
			direct = &ms[i]
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tok/streams\ttruncated\treordered\tno [DONE]\tmismatch\tfailed\tfirst event p50\tp99\toverhead p50\tp99\tgap p99\tCPU/stream\tstart RSS\tpeak RSS\tupstream conns/run\twall\t")
	for _, m := range ms {
		o50, o99 := "-", "-"
		if direct != nil && m.path != pathDirect {
			o50 = fmtSigned(m.ttfe50 - direct.ttfe50)
			o99 = fmtSigned(m.ttfe99 - direct.ttfe99)
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t\n", m.path, m.ok, m.streams,
			m.trunc, m.reord, m.noDone, m.mismatch, m.failed, fmtDur(m.ttfe50), fmtDur(m.ttfe99), o50, o99,
			fmtDur(m.gap99), fmtDur(m.cpu), fmtMB(m.startRSS), fmtMB(m.peak), m.upConns, fmtDur(m.wall))
	}
	tw.Flush()
	for _, m := range ms {
		if m.firstProblem != "" {
			fmt.Fprintf(w, "  %s first problem: %s\n", m.path, m.firstProblem)
		}
		if m.readErrs > 0 {
			fmt.Fprintf(w, "  %s: %d streams ended with a read error\n", m.path, m.readErrs)
		}
	}
}

// target marks a ratio with its target, met or missed, where one applies.
func target(applies, met bool, want string) string {
	switch {
	case !applies:
		return ""
	case met:
		return " target " + want + ": met"
	}
	return " target " + want + ": MISSED"
}

func fmtSigned(d time.Duration) string {
	return fmt.Sprintf("%+dµs", d.Microseconds())
}

func findClosed(ms []closedMedian, path string, conns int) *closedMedian {
	for i := range ms {
		if ms[i].path == path && ms[i].conns == conns {
			return &ms[i]
		}
	}
	return nil
}

func findStream(ms []streamMedian, path string) *streamMedian {
	for i := range ms {
		if ms[i].path == path {
			return &ms[i]
		}
	}
	return nil
}

func (r *report) printRatios(w io.Writer, ns, mem []closedMedian, st, light []streamMedian) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	any := false
	conns := map[int]bool{}
	var connList []int
	for _, m := range append(slices.Clone(ns), mem...) {
		if !conns[m.conns] {
			conns[m.conns] = true
			connList = append(connList, m.conns)
		}
	}
	slices.Sort(connList)
	all := append(slices.Clone(ns), mem...)
	for _, c := range connList {
		s, b, d := findClosed(all, pathSluice, c), findClosed(all, pathBare, c), findClosed(all, pathDirect, c)
		if s != nil && b != nil {
			fmt.Fprintf(tw, "c=%d\tSluice CPU/req ÷ bare proxy CPU/req\t%s\t(%s vs %s)\n", c,
				ratio(float64(s.cpu), float64(b.cpu)), fmtDur(s.cpu), fmtDur(b.cpu))
			fmt.Fprintf(tw, "c=%d\tSluice req/s ÷ bare proxy req/s\t%s\t(%.0f vs %.0f)\n", c, ratio(s.rps, b.rps), s.rps, b.rps)
			fmt.Fprintf(tw, "c=%d\tSluice p50 − bare proxy p50\t%s\t\n", c, fmtSigned(s.p50-b.p50))
			any = true
		}
		if b != nil && d != nil {
			fmt.Fprintf(tw, "c=%d\tbare proxy req/s ÷ direct req/s\t%s\t(%.0f vs %.0f)\n", c, ratio(b.rps, d.rps), b.rps, d.rps)
			any = true
		}
	}
	if len(mem) > 0 {
		if s := findClosed(mem, pathSluice, mem[0].conns); s != nil {
			verdict := "PASS"
			if s.peak >= memTarget || s.peak <= 0 {
				verdict = "FAIL"
			}
			fmt.Fprintf(tw, "c=%d\tSluice peak RSS vs %s target\t%s\t(%s)\n", s.conns, fmtMB(memTarget), verdict, fmtMB(s.peak))
			any = true
		}
	}
	for _, set := range [][]streamMedian{light, st} {
		if len(set) == 0 {
			continue
		}
		label := fmt.Sprintf("%d streams", set[0].streams/set[0].reps)
		d := findStream(set, pathDirect)
		for _, p := range []string{pathBare, pathUnbuffered, pathSluice} {
			m := findStream(set, p)
			if m == nil || d == nil {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s first-event overhead vs direct\tp50 %s\tp99 %s\n", label, p,
				fmtSigned(m.ttfe50-d.ttfe50), fmtSigned(m.ttfe99-d.ttfe99))
			any = true
		}
		if s, b := findStream(set, pathSluice), findStream(set, pathBare); s != nil && b != nil {
			fmt.Fprintf(tw, "%s\tSluice first event p50 − bare proxy p50\t%s\t\n", label, fmtSigned(s.ttfe50-b.ttfe50))
			fmt.Fprintf(tw, "%s\tSluice CPU/stream ÷ bare proxy CPU/stream\t%s\t(%s vs %s)\n", label,
				ratio(float64(s.cpu), float64(b.cpu)), fmtDur(s.cpu), fmtDur(b.cpu))
			fmt.Fprintf(tw, "%s\tSluice peak RSS ÷ bare proxy peak RSS\t%s\t(%s vs %s)\n", label,
				ratio(float64(s.peak), float64(b.peak)), fmtMB(s.peak), fmtMB(b.peak))
		}
		if s := findStream(set, pathSluice); s != nil && s.streams > 0 && s.reps > 0 {
			per := float64(s.peak-s.startRSS) / float64(s.streams/s.reps)
			fmt.Fprintf(tw, "%s\tSluice peak RSS above idle per stream\t%.1f KB\t(%s - %s)%s\n", label, per/1e3,
				fmtMB(s.peak), fmtMB(s.startRSS), target(s.streams/s.reps >= 10000, per <= 50e3, "<= 50 KB"))
			if d != nil {
				fmt.Fprintf(tw, "%s\tSluice truncated + reordered\t%d\t(%d/%d ok)%s\n", label, s.trunc+s.reord, s.ok, s.streams,
					target(s.streams/s.reps >= 10000, s.trunc+s.reord == 0 && s.ok == s.streams, "0 and all ok"))
				fmt.Fprintf(tw, "%s\tSluice first event p50 − direct p50\t%s\t%s\n", label, fmtSigned(s.ttfe50-d.ttfe50),
					target(s.streams/s.reps >= 10000, s.ttfe50-d.ttfe50 <= 10*time.Millisecond, "<= 10 ms"))
			}
		}
	}
	tw.Flush()
	if !any {
		fmt.Fprintln(w, "(no Sluice and bare-proxy pair measured)")
	}
}

// printLegend says what each Sluice variant in ms is.
func printLegend(w io.Writer, ms []closedMedian) {
	for _, v := range variants {
		if slices.ContainsFunc(ms, func(m closedMedian) bool { return m.path == v.path }) {
			fmt.Fprintf(w, "  %s: %s\n", v.path, v.what)
		}
	}
}

// printVariants compares each Sluice variant with the sluice row (OpenAI
// pass-through to one target) and the bare proxy at the variants'
// connection count, and in the unsaturated stream run.
func printVariants(w io.Writer, ns []closedMedian, light []streamMedian) {
	present := func(p string) bool {
		return slices.ContainsFunc(ns, func(m closedMedian) bool { return m.path == p }) ||
			slices.ContainsFunc(light, func(m streamMedian) bool { return m.path == p })
	}
	if !slices.ContainsFunc(variants, func(v variant) bool { return present(v.path) }) {
		return
	}
	fmt.Fprintln(w, "\n-- Sluice variants vs the sluice row (OpenAI pass-through, one target), same run --")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, v := range variants {
		for i := range ns {
			if ns[i].path != v.path {
				continue
			}
			m := &ns[i]
			label := fmt.Sprintf("c=%d", m.conns)
			s, b := findClosed(ns, pathSluice, m.conns), findClosed(ns, pathBare, m.conns)
			if b != nil {
				fmt.Fprintf(tw, "%s\t%s CPU/req ÷ bare proxy CPU/req\t%s\t(%s vs %s)%s\n", label, v.path,
					ratio(float64(m.cpu), float64(b.cpu)), fmtDur(m.cpu), fmtDur(b.cpu), target(v.path == pathGoverned, float64(m.cpu) <= 0.8*float64(b.cpu), "<= 0.8x"))
				fmt.Fprintf(tw, "%s\t%s req/s ÷ bare proxy req/s\t%s\t(%.0f vs %.0f)%s\n", label, v.path,
					ratio(m.rps, b.rps), m.rps, b.rps, target(v.path == pathGoverned, m.rps >= 1.2*b.rps, ">= 1.2x"))
			}
			if s == nil {
				fmt.Fprintf(tw, "%s\t%s: no sluice row at c=%d to compare with\t\t\n", label, v.path, m.conns)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s CPU/req ÷ sluice CPU/req\t%s\t(%s vs %s, %s per request)%s\n", label, v.path,
				ratio(float64(m.cpu), float64(s.cpu)), fmtDur(m.cpu), fmtDur(s.cpu), fmtSigned(m.cpu-s.cpu),
				target(translated(v.path), float64(m.cpu) <= 1.4*float64(s.cpu), "<= 1.4x"))
			fmt.Fprintf(tw, "%s\t%s req/s ÷ sluice req/s\t%s\t(%.0f vs %.0f)\n", label, v.path, ratio(m.rps, s.rps), m.rps, s.rps)
			fmt.Fprintf(tw, "%s\t%s upstream CPU/req ÷ sluice's\t%s\t(%s vs %s)\n", label, v.path,
				ratio(float64(m.upCPU), float64(s.upCPU)), fmtDur(m.upCPU), fmtDur(s.upCPU))
		}
	}
	if len(light) > 0 {
		s := findStream(light, pathSluice)
		label := fmt.Sprintf("%d streams", light[0].streams/light[0].reps)
		for _, v := range variants {
			m := findStream(light, v.path)
			if m == nil || s == nil {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s CPU/stream ÷ sluice CPU/stream\t%s\t(%s vs %s)\n", label, v.path,
				ratio(float64(m.cpu), float64(s.cpu)), fmtDur(m.cpu), fmtDur(s.cpu))
			fmt.Fprintf(tw, "%s\t%s first event p50 − sluice p50\t%s\t(%d/%d streams ok)\n", label, v.path,
				fmtSigned(m.ttfe50-s.ttfe50), m.ok, m.streams)
		}
	}
	tw.Flush()
}

type probeMedian struct {
	path            string
	reps            int
	streams, failed int
	ttfe50, ttfe99  time.Duration
	firstProblem    string
}

func probeMedians(samples []probeSample) []probeMedian {
	groups := map[string][]probeSample{}
	var order []string
	for _, s := range samples {
		if _, ok := groups[s.Path]; !ok {
			order = append(order, s.Path)
		}
		groups[s.Path] = append(groups[s.Path], s)
	}
	slices.SortStableFunc(order, func(a, b string) int { return cmp.Compare(pathRank(a), pathRank(b)) })
	var out []probeMedian
	for _, p := range order {
		g := groups[p]
		m := probeMedian{path: p, reps: len(g),
			ttfe50: median(pick(g, func(s probeSample) time.Duration { return s.TTFEP50 })),
			ttfe99: median(pick(g, func(s probeSample) time.Duration { return s.TTFEP99 })),
		}
		for _, s := range g {
			m.streams += s.Streams + s.Failed
			m.failed += s.Failed
			if m.firstProblem == "" {
				m.firstProblem = s.FirstProblem
			}
		}
		out = append(out, m)
	}
	return out
}

// printProbe prints the probe table with each path's first-event overhead
// over direct and over the sluice row.
func printProbe(w io.Writer, ms []probeMedian) {
	var direct, sluice *probeMedian
	for i := range ms {
		switch ms[i].path {
		case pathDirect:
			direct = &ms[i]
		case pathSluice:
			sluice = &ms[i]
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tok/streams\tfirst event p50\tp99\toverhead vs direct p50\tp99\tvs sluice p50\t")
	for _, m := range ms {
		o50, o99, s50 := "-", "-", "-"
		if direct != nil && m.path != pathDirect {
			o50, o99 = fmtSigned(m.ttfe50-direct.ttfe50), fmtSigned(m.ttfe99-direct.ttfe99)
		}
		if sluice != nil && isVariant(m.path) {
			s50 = fmtSigned(m.ttfe50 - sluice.ttfe50)
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%s\t%s\t%s\t%s\t\n", m.path, m.streams-m.failed, m.streams,
			fmtDur(m.ttfe50), fmtDur(m.ttfe99), o50, o99, s50)
	}
	tw.Flush()
	for _, m := range ms {
		if m.firstProblem != "" {
			fmt.Fprintf(w, "  %s first problem: %s\n", m.path, m.firstProblem)
		}
	}
}
