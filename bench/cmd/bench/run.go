package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/bench/internal/fakeopenai"
	"github.com/sluicehq/sluice/bench/internal/load"
	"github.com/sluicehq/sluice/bench/internal/proc"
)

// The rows of the report.
const (
	pathDirect     = "direct"
	pathBare       = "bare"
	pathUnbuffered = "bare-unbuffered"
	pathSluice     = "sluice"
	// The Sluice variants, each its own Sluice process with the same
	// binary and configuration as the sluice row; compared with it.
	pathA2O      = "sluice-a2o"      // Anthropic client -> Sluice -> OpenAI upstream
	pathO2A      = "sluice-o2a"      // OpenAI client -> Sluice -> Anthropic upstream
	pathWeighted = "sluice-weighted" // OpenAI pass-through, a weighted route of 3 targets
	pathGoverned = "sluice-governed" // OpenAI pass-through with limits and budgets at key, app, team and org
)

// allPaths are the rows -paths accepts, in report order.
var allPaths = []string{pathDirect, pathBare, pathSluice, pathA2O, pathO2A, pathWeighted, pathGoverned}

// variant is a Sluice variant row and what it measures.
type variant struct{ path, what string }

// variants are the rows measured against the sluice row.
var variants = []variant{
	{pathA2O, "Anthropic client (POST /v1/messages) → Sluice → OpenAI upstream: translation both ways"},
	{pathO2A, "OpenAI client → Sluice → Anthropic upstream (/v1/messages): translation both ways"},
	{pathWeighted, "OpenAI pass-through, model routed `weighted` over 3 targets (weights 3, 2, 1; three providers on the same fake)"},
	{pathGoverned, "OpenAI pass-through with a key whose key, application, team and organisation each have rpm, tpm and a budget (4 levels admitted and settled per request, in memory)"},
}

func isVariant(p string) bool {
	return p == pathA2O || p == pathO2A || p == pathWeighted || p == pathGoverned
}

func isSluice(p string) bool { return p == pathSluice || isVariant(p) }

// translated reports whether a row's client and upstream speak different
// protocols (its responses cannot be byte-exact copies).
func translated(p string) bool { return p == pathA2O || p == pathO2A }

// row is one path under test: a client dialect, a base URL and the process
// whose CPU time and memory the row reports. A new Sluice variant is a
// model in sluiceConfig, a constant above, an entry in variants, allPaths
// and pathRank, and a case in startSluice.
type row struct {
	name   string
	target load.Target
	// child is the measured process: the proxy, or the upstream itself for
	// direct.
	child *proc.Child
	// spec restarts the child before each measurement, so that each peak
	// RSS belongs to one scenario (Go returns memory to the OS lazily);
	// nil for direct, whose measured process is the shared upstream.
	spec *proc.Spec
	// streamOnly rows take part in the stream test only.
	streamOnly bool
	// variant rows run non-stream at -variant-conns only and take part in
	// the unsaturated stream run only.
	variant bool
	// dead is set when a restart failed; the row is skipped from then on.
	dead error
}

// env is everything a run has started.
type env struct {
	cfg      *config
	root     string
	dir      string
	upstream *proc.Child
	rows     []*row
	notes    []string // things the report must say (Sluice missing, …)
	// sluiceForwarded counts the requests that reached the upstream
	// through Sluice, measured windows or not (from the fake's counters).
	sluiceForwarded int64
	// sluiceStops records how long each Sluice shutdown took (it drains
	// its ledger queue on SIGTERM).
	sluiceStops []time.Duration
	// firstRequests records, per Sluice row, how long the first request
	// after each restart took (prepare sends it before measuring): a
	// budgeted key's first request reads its spend from the ledger.
	firstRequests map[string][]time.Duration
}

func run(ctx context.Context, c *config) error {
	nofile, err := proc.RaiseNoFile()
	if err != nil {
		return fmt.Errorf("raising the open-file limit: %w", err)
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sluice-bench-")
	if err != nil {
		return err
	}
	if c.keep {
		logf("work directory (kept): %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	e := &env{cfg: c, root: root, dir: dir}
	defer e.stopAll()

	start := time.Now()
	if err := e.setup(ctx); err != nil {
		return err
	}
	logf("setup done in %s (load generator open-file limit %d)", time.Since(start).Round(time.Millisecond), nofile)

	rep := &report{Machine: machine(), Command: commandLine(), Started: start, Config: c.summary()}
	if !c.skipNonStream {
		rep.NonStream = e.nonStream(ctx, c.conns, c.paths, true)
	}
	if !c.skipMem {
		rep.Memory = e.nonStream(ctx, []int{c.memConns}, without(c.paths, pathDirect), false)
	}
	if !c.skipStream {
		rep.Stream = e.streams(ctx, c.streams, false)
		if c.lightStreams > 0 {
			rep.StreamLight = e.streams(ctx, c.lightStreams, true)
		}
		if c.probeStreams > 0 {
			rep.Probe = e.probe(ctx)
		}
	}
	if s := e.row(pathSluice); s != nil && s.dead == nil {
		if exited, err := s.child.Exited(); exited {
			e.notes = append(e.notes, fmt.Sprintf("Sluice exited during the last run: %v (log %s)", err, s.child.Log))
		}
		lc := e.checkLedger(ctx, s)
		rep.Ledger = &lc
		if len(e.sluiceStops) > 0 {
			rep.SluiceStopMax = slices.Max(e.sluiceStops)
		}
		for name, ds := range e.firstRequests {
			if rep.FirstRequestMax == nil {
				rep.FirstRequestMax = map[string]time.Duration{}
			}
			rep.FirstRequestMax[name] = slices.Max(ds)
		}
	}
	if c.profile > 0 && e.row(pathSluice) != nil {
		e.stopProxies() // leave the cores to the profiled process
		rep.Profile = e.profileSluice(ctx)
	}
	if err := ctx.Err(); err != nil {
		e.notes = append(e.notes, "run interrupted: "+err.Error())
	}
	for _, r := range e.rows {
		if r.dead != nil {
			e.notes = append(e.notes, fmt.Sprintf("%s stopped being measured: %v", r.name, r.dead))
		}
	}
	rep.Notes = e.notes
	rep.Elapsed = time.Since(start)
	rep.print(os.Stdout)
	if c.jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(c.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// commandLine is how this run was started, for the report.
func commandLine() string {
	args := append([]string{"go run ./bench/cmd/bench"}, os.Args[1:]...)
	return strings.Join(args, " ")
}

func without(xs []string, drop string) []string {
	var out []string
	for _, x := range xs {
		if x != drop {
			out = append(out, x)
		}
	}
	return out
}

func (c *config) summary() string {
	return fmt.Sprintf("reps %d; non-stream: conns %v (Sluice variants: %v), %s each after %s warm-up, 1–4 KiB bodies; memory run: %d conns; "+
		"streams: %d (and %d, with the variants) × %d chunks, gap %s, starts spread over %s; first-event probe: %d streams one at a time",
		c.reps, c.conns, c.variantConns, c.duration, c.warmup, c.memConns, c.streams, c.lightStreams, c.chunks, c.gap, c.ramp, c.probeStreams)
}

func (e *env) row(name string) *row {
	for _, r := range e.rows {
		if r.name == name {
			return r
		}
	}
	return nil
}

// setup builds and starts the upstream, the proxies and Sluice.
func (e *env) setup(ctx context.Context) error {
	c := e.cfg
	logf("building fakeupstream and bareproxy")
	fakeBin, err := build(ctx, e.root, e.dir, "./bench/cmd/fakeupstream", "fakeupstream")
	if err != nil {
		return err
	}
	bareBin, err := build(ctx, e.root, e.dir, "./bench/cmd/bareproxy", "bareproxy")
	if err != nil {
		return err
	}
	upAddr, err := proc.FreeAddr()
	if err != nil {
		return err
	}
	lifetime := (c.timeout + time.Minute).String()
	e.upstream, err = startChild(ctx, proc.Spec{
		Name: "fakeupstream", Bin: fakeBin, Addr: upAddr, Log: filepath.Join(e.dir, "fakeupstream.log"),
		Args: []string{"-listen", upAddr, "-chunks", fmt.Sprint(c.chunks), "-gap", c.gap.String(), "-max-lifetime", lifetime},
	})
	if err != nil {
		return err
	}
	upURL := "http://" + upAddr
	openai := load.NewOpenAI("bench-model", c.chunks)
	if has(c.paths, pathDirect) {
		e.rows = append(e.rows, &row{name: pathDirect, child: e.upstream,
			target: load.Target{Name: pathDirect, BaseURL: upURL, Dialect: openai}})
	}
	startBare := func(name string, extra ...string) error {
		addr, err := proc.FreeAddr()
		if err != nil {
			return err
		}
		spec := proc.Spec{Name: name, Bin: bareBin, Addr: addr, Log: filepath.Join(e.dir, name+".log"),
			Args: append([]string{"-listen", addr, "-upstream", upURL, "-max-lifetime", lifetime}, extra...)}
		ch, err := startChild(ctx, spec)
		if err != nil {
			return err
		}
		e.rows = append(e.rows, &row{name: name, child: ch, spec: &spec, streamOnly: name == pathUnbuffered,
			target: load.Target{Name: name, BaseURL: "http://" + addr, Dialect: openai}})
		return nil
	}
	if has(c.paths, pathBare) {
		if err := startBare(pathBare); err != nil {
			return err
		}
	}
	if c.unbuffered && !c.skipStream {
		if err := startBare(pathUnbuffered, "-unbuffered"); err != nil {
			return err
		}
	}
	if slices.ContainsFunc(c.paths, isSluice) {
		if err := e.startSluice(ctx, upAddr, openai); err != nil {
			e.notes = append(e.notes, "Sluice row skipped: "+err.Error())
			logf("Sluice row skipped: %v", err)
		}
	}
	if len(e.rows) == 0 {
		return fmt.Errorf("no path to measure")
	}
	return nil
}

// sluiceConfig is the configuration of every Sluice row: the sluice row
// and sluice-a2o use bench-model, sluice-o2a bench-claude and
// sluice-weighted bench-weighted; sluice-governed uses bench-model with the
// key bench-governed, limited at four levels. The providers up2 and up3 are the same
// fake as up under other names. {{UP}} is the fake's host:port, {{KEY}} the
// virtual key.
const sluiceConfig = `version: 1
providers:
  - {name: up, type: openai, base_url: "http://{{UP}}/v1", api_key: sk-upstream}
  - {name: up2, type: openai, base_url: "http://{{UP}}/v1", api_key: sk-upstream}
  - {name: up3, type: openai, base_url: "http://{{UP}}/v1", api_key: sk-upstream}
  - {name: an, type: anthropic, base_url: "http://{{UP}}", api_key: x}
models:
  - name: bench-model
    targets: [{provider: up, model: fake-upstream-model}]
    pricing: {input_per_mtok: 0.15, output_per_mtok: 0.60}
  - name: bench-claude
    targets: [{provider: an, model: fake-upstream-model}]
    pricing: {input_per_mtok: 0.15, output_per_mtok: 0.60}
  - name: bench-weighted
    routing: {policy: weighted}
    targets:
      - {provider: up, model: fake-upstream-model, weight: 3}
      - {provider: up2, model: fake-upstream-model, weight: 2}
      - {provider: up3, model: fake-upstream-model, weight: 1}
    pricing: {input_per_mtok: 0.15, output_per_mtok: 0.60}
orgs:
  - name: acme
    rpm: 100000000
    tpm: 100000000000
    budget: {amount_usd: 1000000000, period: monthly, alert_percents: [99]}
    teams:
      - name: search
        rpm: 100000000
        budget: {amount_usd: 1000000000, period: monthly}
        applications:
          - {name: web, rpm: 100000000, max_concurrent: 100000}
keys:
  - {name: bench, key: {{KEY}}}
  - name: bench-governed
    key: {{KEY}}-governed
    application: acme/search/web
    rpm: 100000000
    tpm: 100000000000
    budget: {amount_usd: 1000000000, period: monthly}
`

// sluiceSpec writes a config and a data directory named after name and
// returns how to start Sluice from bin with them.
func (e *env) sluiceSpec(name, bin, upAddr string) (proc.Spec, error) {
	cfgPath := filepath.Join(e.dir, name+".yaml")
	cfg := strings.NewReplacer("{{UP}}", upAddr, "{{KEY}}", e.cfg.keyTok).Replace(sluiceConfig)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return proc.Spec{}, err
	}
	dataDir := filepath.Join(e.dir, name+"-data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		return proc.Spec{}, err
	}
	addr, err := proc.FreeAddr()
	if err != nil {
		return proc.Spec{}, err
	}
	return proc.Spec{
		Name: name, Bin: bin, Addr: addr, Log: filepath.Join(e.dir, name+".log"),
		Args:  []string{"serve", "--config", cfgPath, "--listen", addr, "--data-dir", dataDir},
		Env:   []string{"SLUICE_ADMIN_TOKEN=" + e.cfg.adminToken},
		Ready: 60 * time.Second,
	}, nil
}

// startSluice builds Sluice and starts one process for each Sluice row in
// -paths.
func (e *env) startSluice(ctx context.Context, upAddr string, openai load.Dialect) error {
	bin := e.cfg.sluiceBin
	if bin == "" {
		if _, err := os.Stat(filepath.Join(e.root, "cmd", "sluice")); err != nil {
			return fmt.Errorf("no ./cmd/sluice yet")
		}
		logf("building sluice (CGO_ENABLED=0)")
		t := time.Now()
		var err error
		if bin, err = build(ctx, e.root, e.dir, "./cmd/sluice", "sluice"); err != nil {
			return err
		}
		logf("built sluice in %s", time.Since(t).Round(time.Millisecond))
	}
	bearer := http.Header{"Authorization": {"Bearer " + e.cfg.keyTok}}
	for _, name := range e.cfg.paths {
		var d load.Dialect
		hdr := bearer
		switch name {
		case pathSluice:
			d = openai
		case pathA2O:
			d = load.NewAnthropic("bench-model", e.cfg.chunks)
			hdr = http.Header{"X-Api-Key": {e.cfg.keyTok}}
		case pathO2A:
			d = load.NewOpenAITranslated("bench-claude", e.cfg.chunks)
		case pathWeighted:
			d = load.NewOpenAI("bench-weighted", e.cfg.chunks)
		case pathGoverned:
			d = openai
			hdr = http.Header{"Authorization": {"Bearer " + e.cfg.keyTok + "-governed"}}
		default:
			continue
		}
		spec, err := e.sluiceSpec(name, bin, upAddr)
		if err != nil {
			return err
		}
		ch, err := startChild(ctx, spec)
		if err != nil {
			return withLog(err, spec.Log)
		}
		e.rows = append(e.rows, &row{name: name, child: ch, spec: &spec, variant: isVariant(name), target: load.Target{
			Name: name, BaseURL: "http://" + spec.Addr, Dialect: d, Header: hdr,
		}})
	}
	return nil
}

func withLog(err error, log string) error {
	if b, rerr := os.ReadFile(log); rerr == nil && len(b) > 0 {
		return fmt.Errorf("%w\n%s", err, tail(string(b), 1500))
	}
	return err
}

// restart gives r a fresh process, and waits until it is idle.
func (e *env) restart(ctx context.Context, r *row) error {
	if r.spec == nil {
		return nil
	}
	t := time.Now()
	r.child.Stop()
	stopped := time.Since(t)
	if isSluice(r.name) {
		e.sluiceStops = append(e.sluiceStops, stopped)
	}
	if stopped > time.Second {
		logf("stopping %s took %s", r.name, stopped.Round(time.Millisecond))
	}
	ch, err := proc.Start(ctx, *r.spec)
	if err != nil {
		r.dead = withLog(err, r.spec.Log)
		return r.dead
	}
	r.child = ch
	waitIdle(ctx, ch.PID())
	return nil
}

// waitIdle waits (up to 3 s) until process pid uses no CPU for 100 ms, so
// that start-up work (Sluice warms its tokenizer in the background) is not
// measured.
func waitIdle(ctx context.Context, pid int) {
	deadline := time.Now().Add(3 * time.Second)
	last, _ := proc.CPUTime(pid)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		sleep(ctx, 100*time.Millisecond)
		now, err := proc.CPUTime(pid)
		if err != nil || now == last {
			return
		}
		last = now
	}
}

func (e *env) stopProxies() {
	for _, r := range e.rows {
		if r.child != e.upstream {
			r.child.Stop()
		}
	}
}

func (e *env) stopAll() {
	e.stopProxies()
	if e.upstream != nil {
		e.upstream.Stop()
	}
}

// upstreamStats reads the fake's counters.
func (e *env) upstreamStats(ctx context.Context) fakeopenai.Stats {
	var st fakeopenai.Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.upstream.Addr+"/_bench/stats", nil)
	if err != nil {
		return st
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&st)
	return st
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func has(xs []string, x string) bool { return slices.Contains(xs, x) }
