package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicehq/sluice/bench/internal/fakeopenai"
	"github.com/sluicehq/sluice/bench/internal/load"
	"github.com/sluicehq/sluice/bench/internal/proc"
)

// ledgerRequests is the number of requests of the ledger check.
const ledgerRequests = 500

// Prices of bench-model in the Sluice config, in micro-dollars per million
// tokens.
const (
	priceIn  = 150_000
	priceOut = 600_000
)

// ledgerEntry is the part of a ledger entry the check reads.
type ledgerEntry struct {
	Time         time.Time `json:"time"`
	Status       string    `json:"status"`
	KeyName      string    `json:"key_name"`
	Model        string    `json:"model"`
	InputTokens  int64     `json:"input_tokens"`
	OutputTokens int64     `json:"output_tokens"`
	Estimated    bool      `json:"estimated"`
	CostMicros   int64     `json:"cost_micros"`
}

// checkLedger sends ledgerRequests requests to a fresh Sluice, stops it with
// SIGTERM (it must drain its ledger queue), starts it again, and checks
// through GET /admin/v1/requests that every request has exactly one entry
// with the upstream's token counts and the configured prices.
func (e *env) checkLedger(ctx context.Context, r *row) ledgerCheck {
	lc := ledgerCheck{Forwarded: e.sluiceForwarded}
	if _, ok := e.prepare(ctx, r); !ok {
		lc.Error = fmt.Sprintf("restart failed: %v", r.dead)
		return lc
	}
	t0 := time.Now()
	ok, err := load.Fixed(ctx, r.target, 8, ledgerRequests)
	lc.Sent = ok
	if err != nil {
		lc.SendError = err.Error()
	}
	if err := e.restart(ctx, r); err != nil {
		lc.Error = fmt.Sprintf("restart after SIGTERM failed: %v", err)
		return lc
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.child.Addr+"/admin/v1/requests?limit=1000", nil)
	if err != nil {
		lc.Error = err.Error()
		return lc
	}
	req.Header.Set("Authorization", "Bearer "+e.cfg.adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		lc.Error = err.Error()
		return lc
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	lc.Status = resp.StatusCode
	var body struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &body); err != nil || resp.StatusCode != http.StatusOK {
		lc.Error = fmt.Sprintf("status %d: %.300q", resp.StatusCode, b)
		return lc
	}
	if len(body.Data) > 0 {
		var compact bytes.Buffer
		if json.Compact(&compact, body.Data[0]) == nil {
			lc.Latest = tail(compact.String(), 700)
		}
	}
	prompts := map[int64]bool{}
	if d, ok := r.target.Dialect.(*load.OpenAI); ok {
		for i := range ledgerRequests {
			prompts[int64(d.PromptTokens(i))] = true
		}
	}
	for _, raw := range body.Data {
		var en ledgerEntry
		if err := json.Unmarshal(raw, &en); err != nil || en.Time.Before(t0) {
			continue
		}
		lc.Found++
		wantCost := (en.InputTokens*priceIn + en.OutputTokens*priceOut + 500_000) / 1_000_000
		var bad string
		switch {
		case en.Status != "ok" || en.KeyName != "bench" || en.Model != "bench-model":
			bad = "status, key or model"
		case en.Estimated || en.OutputTokens != fakeopenai.CompletionTokens || (len(prompts) > 0 && !prompts[en.InputTokens]):
			bad = "token counts differ from the upstream's usage"
		case en.CostMicros != wantCost:
			bad = fmt.Sprintf("cost %d µ$, want %d", en.CostMicros, wantCost)
		}
		if bad != "" {
			lc.Bad++
			if lc.FirstBad == "" {
				lc.FirstBad = bad + ": " + tail(string(raw), 300)
			}
		}
	}
	return lc
}

// profileSluice runs Sluice with net/http/pprof (bench/cmd/sluiceprof: the
// same internal/app with a profiler on a second listener), takes a CPU
// profile under c=64 non-stream load, one during a stream run and a heap
// profile during the memory run, and summarizes them with go tool pprof.
func (e *env) profileSluice(ctx context.Context) string {
	c := e.cfg
	s := e.row(pathSluice)
	bin, err := build(ctx, e.root, e.dir, "./bench/cmd/sluiceprof", "sluiceprof")
	if err != nil {
		return "no profile: " + err.Error()
	}
	spec, err := e.sluiceSpec("sluice-prof", bin, e.upstream.Addr)
	if err != nil {
		return "no profile: " + err.Error()
	}
	pprofAddr, err := proc.FreeAddr()
	if err != nil {
		return "no profile: " + err.Error()
	}
	spec.Env = append(spec.Env, "SLUICE_BENCH_PPROF="+pprofAddr)
	ch, err := startChild(ctx, spec)
	if err != nil {
		return "no profile: " + withLog(err, spec.Log).Error()
	}
	defer func() { ch.Stop() }() // ch is replaced below
	waitIdle(ctx, ch.PID())
	target := s.target
	target.BaseURL = "http://" + spec.Addr
	base := "http://" + pprofAddr + "/debug/pprof/"
	secs := max(1, int(c.profile.Seconds()))

	var b strings.Builder
	fmt.Fprintf(&b, "Sluice built with bench/cmd/sluiceprof (same internal/app, pprof on a side port); files in %s\n", e.dir)

	for _, n := range c.profileConns {
		logf("profiling Sluice: CPU under c=%d for %ds", n, secs)
		file := filepath.Join(e.dir, fmt.Sprintf("sluice-c%d.cpu.pprof", n))
		errc := fetchAsync(ctx, fmt.Sprintf("%sprofile?seconds=%d", base, secs), file)
		load.Closed(ctx, target, load.ClosedOptions{Conns: n, Duration: time.Duration(secs)*time.Second + 500*time.Millisecond})
		if err := <-errc; err != nil {
			fmt.Fprintf(&b, "CPU profile at c=%d failed: %v\n", n, err)
			continue
		}
		fmt.Fprintf(&b, "\n# CPU, non-stream c=%d, by cumulative time\n", n)
		b.WriteString(pprofTop(ctx, file, "-cum", "-nodecount=30"))
		fmt.Fprintf(&b, "\n# CPU, non-stream c=%d, by own time\n", n)
		b.WriteString(pprofTop(ctx, file, "-nodecount=15"))
	}

	// The translation and governed rows, on the same process (its
	// configuration has every model and key): where their time goes.
	vc := c.variantConns[len(c.variantConns)-1]
	for _, p := range []string{pathA2O, pathO2A, pathGoverned} {
		r := e.row(p)
		if r == nil || ctx.Err() != nil {
			continue
		}
		vt := r.target
		vt.BaseURL = "http://" + spec.Addr
		logf("profiling Sluice: CPU of %s under c=%d for %ds", p, vc, secs)
		file := filepath.Join(e.dir, "sluice-"+p+".cpu.pprof")
		errc := fetchAsync(ctx, fmt.Sprintf("%sprofile?seconds=%d", base, secs), file)
		load.Closed(ctx, vt, load.ClosedOptions{Conns: vc, Duration: time.Duration(secs)*time.Second + 500*time.Millisecond})
		if err := <-errc; err != nil {
			fmt.Fprintf(&b, "CPU profile of %s failed: %v\n", p, err)
			continue
		}
		fmt.Fprintf(&b, "\n# CPU, %s, non-stream c=%d, by own time\n", p, vc)
		b.WriteString(pprofTop(ctx, file, "-nodecount=20"))
		fmt.Fprintf(&b, "\n# CPU, %s, non-stream c=%d, Sluice's own packages by cumulative time (other frames hidden: their time is in their caller's flat)\n", p, vc)
		b.WriteString(pprofTop(ctx, file, "-cum", "-nodecount=25", "-show=sluicehq/sluice/internal/(protocol|llm|proxy|provider|meter|ledger|store|ratelimit)"))
	}

	streamSecs := int((c.ramp+time.Duration(c.chunks)*c.gap)/time.Second) + 1
	logf("profiling Sluice: CPU during %d streams (%ds)", c.streams, streamSecs)
	cpuStream := filepath.Join(e.dir, "sluice-streams.cpu.pprof")
	errc := fetchAsync(ctx, fmt.Sprintf("%sprofile?seconds=%d", base, streamSecs), cpuStream)
	streamsDone := make(chan struct{})
	go func() {
		defer close(streamsDone)
		load.Streams(ctx, target, load.StreamOptions{Streams: c.streams, Ramp: c.ramp, Timeout: c.streamTimeout, Nonce: "profile"})
	}()
	// The heap once every stream is open (they last chunks×gap).
	sleep(ctx, c.ramp+time.Duration(c.chunks)*c.gap/4)
	streamRSS, _, _ := proc.Memory(ch.PID())
	streamHeap := filepath.Join(e.dir, "sluice-streams-heap.pprof")
	streamHeapErr := <-fetchAsync(ctx, base+"heap", streamHeap)
	streamStats := fetchText(ctx, base+"heap?debug=1")
	<-streamsDone
	if err := <-errc; err != nil {
		fmt.Fprintf(&b, "CPU profile during streams failed: %v\n", err)
	} else {
		fmt.Fprintf(&b, "\n# CPU, %d streams, by own time\n", c.streams)
		b.WriteString(pprofTop(ctx, cpuStream, "-nodecount=15"))
	}
	if streamHeapErr != nil {
		fmt.Fprintf(&b, "heap profile during streams failed: %v\n", streamHeapErr)
	} else {
		fmt.Fprintf(&b, "\n# Heap in use with %d streams open (process RSS then: %s)\n", c.streams, fmtMB(streamRSS))
		b.WriteString(memStatsSummary(streamStats))
		b.WriteString(pprofTop(ctx, streamHeap, "-sample_index=inuse_space", "-nodecount=15"))
	}

	if c.memConns > 0 && ctx.Err() == nil {
		// A fresh process, as in the memory run: the stream run's memory
		// would still be in this one's RSS (Go returns it lazily).
		ch.Stop()
		if ch, err = startChild(ctx, spec); err != nil {
			fmt.Fprintf(&b, "heap profile: restart failed: %v\n", withLog(err, spec.Log))
			return b.String()
		}
		waitIdle(ctx, ch.PID())
		logf("profiling Sluice: heap during c=%d", c.memConns)
		heap := filepath.Join(e.dir, "sluice-heap.pprof")
		done := make(chan struct{})
		go func() {
			defer close(done)
			load.Closed(ctx, target, load.ClosedOptions{Conns: c.memConns, Duration: time.Duration(secs) * time.Second})
		}()
		sleep(ctx, time.Duration(secs)*time.Second/2)
		rss, _, _ := proc.Memory(ch.PID())
		herr := <-fetchAsync(ctx, base+"heap", heap)
		stats := fetchText(ctx, base+"heap?debug=1")
		<-done
		if herr != nil {
			fmt.Fprintf(&b, "heap profile failed: %v\n", herr)
		} else {
			fmt.Fprintf(&b, "\n# Heap in use during c=%d (process RSS then: %s)\n", c.memConns, fmtMB(rss))
			b.WriteString(memStatsSummary(stats))
			b.WriteString(pprofTop(ctx, heap, "-sample_index=inuse_space", "-nodecount=15"))
		}
	}
	return b.String()
}

// fetchAsync GETs url into file in the background.
func fetchAsync(ctx context.Context, url, file string) <-chan error {
	errc := make(chan error, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			errc <- err
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			errc <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			errc <- fmt.Errorf("GET %s: %s", url, resp.Status)
			return
		}
		f, err := os.Create(file)
		if err != nil {
			errc <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		errc <- err
	}()
	return errc
}

func fetchText(ctx context.Context, url string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return string(b)
}

// memStatsSummary picks the runtime.MemStats lines of a heap?debug=1 page.
func memStatsSummary(page string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(page, "\n") {
		for _, k := range []string{"# Sys = ", "# HeapSys = ", "# HeapInuse = ", "# HeapIdle = ", "# HeapReleased = ", "# StackInuse = ", "# NumGC = "} {
			if strings.HasPrefix(line, k) {
				f := strings.Fields(line)
				if len(f) == 4 && k != "# NumGC = " {
					var n int64
					if _, err := fmt.Sscan(f[3], &n); err == nil {
						fmt.Fprintf(&b, "%s %s; ", f[1], fmtMB(n))
						continue
					}
				}
				fmt.Fprintf(&b, "%s; ", strings.TrimPrefix(line, "# "))
			}
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "runtime: " + strings.TrimSuffix(b.String(), "; ") + "\n"
}

// pprofTop runs go tool pprof -top on a profile and keeps the table.
func pprofTop(ctx context.Context, file string, args ...string) string {
	out, err := exec.CommandContext(ctx, "go", append(append([]string{"tool", "pprof", "-top"}, args...), file)...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go tool pprof failed: %v\n%s", err, tail(string(out), 500))
	}
	var b strings.Builder
	keep := false
	for line := range strings.SplitSeq(string(out), "\n") {
		if strings.HasPrefix(line, "Showing nodes") || strings.HasPrefix(line, "Duration") {
			b.WriteString(line + "\n")
		}
		if strings.Contains(line, "flat%") {
			keep = true
		}
		if keep && line != "" {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
