package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Outcome is what the package's tests made of one mutant.
type Outcome int

const (
	Survived  Outcome = iota // the tests passed
	Killed                   // a test failed
	TimedOut                 // the tests ran past the per-mutant timeout (counts as killed)
	NotViable                // the mutant did not compile (counts nowhere)
)

func (o Outcome) String() string {
	return [...]string{"survived", "killed", "timed out", "not viable"}[o]
}

// Package is one Go package under test.
type Package struct {
	Path  string   // as given on the command line, e.g. ./internal/meter
	Dir   string   // absolute directory
	Files []string // absolute paths of the non-test .go files the build uses
}

// Runner runs a package's tests against mutants, each through a go test
// -overlay so that the file on disk is never written.
type Runner struct {
	Go      string        // the go command
	Root    string        // module root; go test runs here, report paths are relative to it
	Timeout time.Duration // per mutant; 0 means 3 × the baseline run + 20s
	Workers int
	Log     func(format string, args ...any)
}

// listPackage asks go list for the package's directory and build files.
func (r *Runner) listPackage(ctx context.Context, path string) (Package, error) {
	cmd := exec.CommandContext(ctx, r.Go, "list", "-json", path)
	cmd.Dir = r.Root
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return Package{}, fmt.Errorf("go list %s: %v: %s", path, err, ee.Stderr)
		}
		return Package{}, fmt.Errorf("go list %s: %w", path, err)
	}
	var p struct {
		Dir     string
		GoFiles []string
	}
	if err := json.Unmarshal(out, &p); err != nil {
		return Package{}, fmt.Errorf("go list %s: %w", path, err)
	}
	pkg := Package{Path: path, Dir: p.Dir}
	for _, f := range p.GoFiles {
		pkg.Files = append(pkg.Files, filepath.Join(p.Dir, f))
	}
	return pkg, nil
}

// Mutants generates every mutant of the package's files, reported under
// paths relative to the module root.
func (r *Runner) Mutants(pkg Package) (map[string][]Mutant, error) {
	byFile := map[string][]Mutant{}
	for _, abs := range pkg.Files {
		src, err := os.ReadFile(abs)
		if err != nil {
			return nil, err
		}
		ms, err := Generate(r.rel(abs), src)
		if err != nil {
			return nil, err
		}
		byFile[abs] = ms
	}
	return byFile, nil
}

func (r *Runner) rel(abs string) string {
	if rel, err := filepath.Rel(r.Root, abs); err == nil {
		return filepath.ToSlash(rel)
	}
	return abs
}

// Sample picks at most max mutants (all when max <= 0), deterministically
// for a seed: each file's mutants are shuffled with a generator seeded by
// the seed and the file's name, then files are taken round robin, so every
// file with mutants contributes even when max is small, and the choice in
// one file does not depend on the others. The result is in that round-robin
// order, so that any prefix of it (what a time budget lets run) is itself a
// fair sample.
func Sample(byFile map[string][]Mutant, max int, seed uint64) []Mutant {
	files := make([]string, 0, len(byFile))
	total := 0
	for f, ms := range byFile {
		files = append(files, f)
		total += len(ms)
	}
	sort.Strings(files)
	if max <= 0 || max > total {
		max = total
	}
	queues := make([][]Mutant, len(files))
	for i, f := range files {
		ms := append([]Mutant(nil), byFile[f]...)
		h := fnv.New64a()
		h.Write([]byte(filepath.Base(f)))
		rng := rand.New(rand.NewPCG(seed, h.Sum64()))
		rng.Shuffle(len(ms), func(a, b int) { ms[a], ms[b] = ms[b], ms[a] })
		queues[i] = ms
	}
	var out []Mutant
	for len(out) < max {
		for i := range queues {
			if len(out) == max {
				break
			}
			if len(queues[i]) > 0 {
				out = append(out, queues[i][0])
				queues[i] = queues[i][1:]
			}
		}
	}
	return out
}

// SortResults puts results in source order.
func SortResults(rs []Result) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i].Mutant, rs[j].Mutant
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Start < b.Start
	})
}

// goTest runs the package's tests once, with overlay when it is not empty,
// and reports the outcome and the combined output.
func (r *Runner) goTest(ctx context.Context, pkg Package, overlay string, timeout time.Duration) (Outcome, []byte, error) {
	args := []string{"test", "-count=1", "-failfast", "-vet=off", "-timeout", "60s"}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	args = append(args, pkg.Path)
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, r.Go, args...)
	cmd.Dir = r.Root
	killGroup(cmd)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	out := buf.Bytes()
	switch {
	case ctx.Err() != nil:
		return 0, out, ctx.Err()
	case tctx.Err() != nil:
		return TimedOut, out, nil
	case err == nil:
		return Survived, out, nil
	case bytes.Contains(out, []byte("[build failed]")) || bytes.Contains(out, []byte("[setup failed]")):
		return NotViable, out, nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return 0, out, fmt.Errorf("go test %s: %w", pkg.Path, err)
	}
	return Killed, out, nil
}

// Baseline runs the unmutated tests and returns how long they took. The
// tests must pass: a mutant's outcome means nothing otherwise.
func (r *Runner) Baseline(ctx context.Context, pkg Package) (time.Duration, error) {
	start := time.Now()
	o, out, err := r.goTest(ctx, pkg, "", 10*time.Minute)
	if err != nil {
		return 0, err
	}
	if o != Survived {
		return 0, fmt.Errorf("the unmutated tests of %s do not pass (%s):\n%s", pkg.Path, o, out)
	}
	if bytes.Contains(out, []byte("[no test files]")) {
		return 0, fmt.Errorf("%s has no test files", pkg.Path)
	}
	return time.Since(start), nil
}

// Result is one mutant's outcome.
type Result struct {
	Mutant  Mutant
	Outcome Outcome
}

// Run tests each mutant with the package's tests, Workers at a time, and
// returns the results in the order of ms. It starts no mutant after
// deadline (when not zero): the results then cover a prefix of ms.
func (r *Runner) Run(ctx context.Context, pkg Package, ms []Mutant, timeout time.Duration, deadline time.Time) ([]Result, error) {
	tmp, err := os.MkdirTemp("", "mutants-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	srcs := map[string][]byte{}
	abs := map[string]string{}
	for _, f := range pkg.Files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		srcs[r.rel(f)] = b
		abs[r.rel(f)] = f
	}

	results := make([]Result, len(ms))
	errs := make([]error, len(ms))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := range max(r.Workers, 1) {
		wg.Go(func() {
			dir := filepath.Join(tmp, fmt.Sprint(w))
			for i := range next {
				results[i] = Result{Mutant: ms[i]}
				results[i].Outcome, errs[i] = r.one(ctx, pkg, dir, ms[i], srcs, abs, timeout)
			}
		})
	}
	done := 0
	for i := range ms {
		if ctx.Err() != nil || !deadline.IsZero() && time.Now().After(deadline) {
			break
		}
		next <- i
		done++
		if done%25 == 0 {
			r.Log("  %s: %d/%d mutants started", pkg.Path, done, len(ms))
		}
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return results[:done], ctx.Err()
}

// one writes the mutated file and an overlay naming it under dir, then runs
// the tests through the overlay.
func (r *Runner) one(ctx context.Context, pkg Package, dir string, m Mutant, srcs map[string][]byte, abs map[string]string, timeout time.Duration) (Outcome, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	src, ok := srcs[m.File]
	if !ok {
		return 0, fmt.Errorf("%s: not a file of %s", m.File, pkg.Path)
	}
	mutated := filepath.Join(dir, filepath.Base(m.File))
	if err := os.WriteFile(mutated, m.Apply(src), 0o644); err != nil {
		return 0, err
	}
	ov, err := json.Marshal(map[string]map[string]string{"Replace": {abs[m.File]: mutated}})
	if err != nil {
		return 0, err
	}
	overlay := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlay, ov, 0o644); err != nil {
		return 0, err
	}
	o, _, err := r.goTest(ctx, pkg, overlay, timeout)
	return o, err
}

// Tally counts a package's results.
type Tally struct {
	Mutants, Killed, Survived, TimedOut, NotViable, Equivalent int
}

// Score is the share of viable, non-equivalent mutants that the tests
// killed or timed out on, in percent; -1 when there are none.
func (t Tally) Score() float64 {
	n := t.Killed + t.TimedOut + t.Survived
	if n == 0 {
		return -1
	}
	return 100 * float64(t.Killed+t.TimedOut) / float64(n)
}

func (t Tally) ScoreString() string {
	if s := t.Score(); s >= 0 {
		return fmt.Sprintf("%.1f%%", s)
	}
	return "n/a"
}

// Count tallies results; equivalent counts the mutants skipped as known
// equivalents.
func Count(results []Result, equivalent int) Tally {
	t := Tally{Mutants: len(results) + equivalent, Equivalent: equivalent}
	for _, res := range results {
		switch res.Outcome {
		case Killed:
			t.Killed++
		case Survived:
			t.Survived++
		case TimedOut:
			t.TimedOut++
		case NotViable:
			t.NotViable++
		}
	}
	return t
}

// moduleRoot returns the directory of the main module's go.mod.
func moduleRoot(ctx context.Context, goCmd string) (string, error) {
	out, err := exec.CommandContext(ctx, goCmd, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside a Go module")
	}
	return filepath.Dir(mod), nil
}
