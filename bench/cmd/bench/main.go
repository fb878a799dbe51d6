// Command bench compares three paths to a fake OpenAI upstream on loopback:
// direct, through a bare httputil.ReverseProxy (the baseline), and through
// Sluice with auth, metering and the ledger on; and, in the same run, three
// Sluice variants: translation in both directions between the OpenAI and
// Anthropic protocols, and a weighted route of three targets. It builds the
// programs, starts them, runs the load itself, prints a table and stops
// everything it started.
//
// Run it from anywhere inside the module: go run ./bench/cmd/bench (or make
// bench). See bench/README.md for what each column means.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/bench/internal/proc"
)

// config is the command's flags.
type config struct {
	duration, warmup   time.Duration
	reps               int
	conns              []int
	variantConns       []int
	memConns           int
	streams, chunks    int
	lightStreams       int
	probeStreams       int
	gap, ramp          time.Duration
	streamTimeout      time.Duration
	paths              []string
	sluiceBin          string
	unbuffered         bool
	profile            time.Duration
	profileConns       []int
	jsonOut            string
	keep               bool
	timeout            time.Duration
	skipNonStream      bool
	skipStream         bool
	skipMem            bool
	adminToken, keyTok string
}

func main() {
	var c config
	var conns, paths, profConns, variantConns string
	flag.DurationVar(&c.duration, "duration", 5*time.Second, "measured window of each non-stream run")
	flag.DurationVar(&c.warmup, "warmup", 500*time.Millisecond, "unmeasured warm-up before each non-stream run")
	flag.IntVar(&c.reps, "reps", 3, "repetitions of each measurement; tables show the median")
	flag.StringVar(&conns, "conns", "1,64", "concurrent connections of the non-stream runs")
	flag.IntVar(&c.memConns, "mem-conns", 256, "connections of the memory run (0 skips it)")
	flag.IntVar(&c.streams, "streams", 1000, "concurrent SSE streams per stream run")
	flag.IntVar(&c.lightStreams, "light-streams", 100, "streams of a second, unsaturated stream run for first-event overhead (0 skips it)")
	flag.IntVar(&c.probeStreams, "probe-streams", 200, "streams of the first-event probe: one at a time on a warm connection, one chunk each (0 skips it)")
	flag.IntVar(&c.chunks, "chunks", 50, "content chunks per stream")
	flag.DurationVar(&c.gap, "gap", 20*time.Millisecond, "pause between stream chunks at the upstream")
	flag.DurationVar(&c.ramp, "ramp", 500*time.Millisecond, "stream starts are spread over this time")
	flag.DurationVar(&c.streamTimeout, "stream-timeout", 30*time.Second, "limit for one stream")
	flag.StringVar(&variantConns, "variant-conns", "64", "connection counts of the non-stream runs of the Sluice variants (translation, weighted route, governance); the profile uses the last")
	flag.StringVar(&paths, "paths", strings.Join(allPaths, ","), "rows to run: "+strings.Join(allPaths, ", "))
	flag.StringVar(&c.sluiceBin, "sluice-bin", "", "prebuilt sluice binary (default: build ./cmd/sluice)")
	flag.BoolVar(&c.unbuffered, "unbuffered", false, "add a stream row through an unbuffered ReverseProxy (shows the truncation pitfall)")
	flag.DurationVar(&c.profile, "profile", 0, "if > 0 and Sluice serves /debug/pprof/profile, take a CPU profile this long under c=64 load")
	flag.StringVar(&profConns, "profile-conns", "64", "connection counts of the non-stream CPU profiles of -profile")
	flag.StringVar(&c.jsonOut, "json", "", "also write every sample and median to this JSON file")
	flag.BoolVar(&c.keep, "keep", false, "keep the work directory (binaries, logs, Sluice data)")
	flag.DurationVar(&c.timeout, "timeout", 9*time.Minute, "hard limit for the whole run")
	flag.BoolVar(&c.skipNonStream, "skip-nonstream", false, "skip the non-stream runs")
	flag.BoolVar(&c.skipStream, "skip-stream", false, "skip the stream runs")
	flag.Parse()
	c.skipMem = c.memConns <= 0
	c.conns = connList("-conns", conns)
	c.profileConns = connList("-profile-conns", profConns)
	c.variantConns = connList("-variant-conns", variantConns)
	for p := range strings.SplitSeq(paths, ",") {
		if p = strings.TrimSpace(p); !slices.Contains(allPaths, p) {
			fatalf("unknown path %q in -paths", p)
		}
		c.paths = append(c.paths, p)
	}
	if c.reps < 1 || c.streams < 1 || c.chunks < 1 || len(c.variantConns) == 0 {
		fatalf("-reps, -streams, -chunks and -variant-conns must be positive")
	}
	c.adminToken = "bench-admin-" + fmt.Sprint(time.Now().UnixNano())
	c.keyTok = "gw-bench-key-0001"

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	err := run(ctx, &c)
	cancel()
	stop()
	if err != nil {
		fatalf("%v", err)
	}
}

// connList parses a comma-separated list of connection counts.
func connList(name, list string) []int {
	var out []int
	for f := range strings.SplitSeq(list, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &n); err != nil || n < 1 {
			fatalf("bad %s %q", name, list)
		}
		out = append(out, n)
	}
	return out
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// moduleRoot returns the directory of the main module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module")
	}
	return filepath.Dir(mod), nil
}

// build runs `go build` with CGO_ENABLED=0 and returns the binary's path.
func build(ctx context.Context, root, dir, pkg, name string) (string, error) {
	bin := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, tail(string(out), 1500))
	}
	return bin, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// startChild starts one of the benchmark's processes and reports its
// open-file limit.
func startChild(ctx context.Context, s proc.Spec) (*proc.Child, error) {
	c, err := proc.Start(ctx, s)
	if err != nil {
		return nil, err
	}
	lim, _ := proc.NoFileLimit(c.PID())
	logf("started %s pid %d on %s (open files %s)", c.Name, c.PID(), c.Addr, lim)
	return c, nil
}
