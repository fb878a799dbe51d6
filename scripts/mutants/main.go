// Command mutants is a small mutation tester for Sluice's security- and
// money-critical packages. For each package it makes small changes to the
// non-test source (flip a comparison, negate a condition, drop a term, zero
// a returned value, return early, remove a call, swap && and ||, add one to
// an integer), runs only that package's tests against each change through
// go test -overlay, so that no file on disk is ever written, and reports the
// mutants that no test noticed.
//
//	go run ./scripts/mutants [flags] [packages]
//
// With no packages it runs the default list. See docs/testing.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"time"
)

// defaultPackages are the packages where a surviving mutant is most likely
// to be a security or billing bug.
var defaultPackages = []string{
	"./internal/auth", "./internal/authz", "./internal/runtime", "./internal/proxy",
	"./internal/ratelimit", "./internal/ratelimit/redislimit", "./internal/meter",
	"./internal/ledger", "./internal/route", "./internal/secrets", "./internal/config",
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mutants", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workers := fs.Int("p", 1, "mutants tested at once")
	maxN := fs.Int("max", 0, "at most this many mutants per package, sampled across all its files (0: all)")
	seed := fs.Uint64("seed", 1, "seed for -max sampling")
	timeout := fs.Duration("timeout", 0, "per-mutant timeout (0: 3 × the package's baseline test time + 20s)")
	equivPath := fs.String("equiv", "scripts/mutants/equivalent.txt", "known-equivalent mutants, excluded from the score (relative to the module root)")
	list := fs.Bool("list", false, "list the mutants that would be tested, and run nothing")
	at := fs.String("at", "", "only mutants whose file:line starts with this (e.g. internal/meter/meter.go:85)")
	budget := fs.Duration("budget", 0, "stop starting mutants when this much time has passed; each package gets an equal share of what is left (0: no limit)")
	verbose := fs.Bool("v", false, "list every mutant's outcome, not only the survivors")
	markdown := fs.Bool("markdown", false, "also print a markdown table of the results (for docs/testing.md)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pkgs := fs.Args()
	if len(pkgs) == 0 {
		pkgs = defaultPackages
	}

	goCmd, err := exec.LookPath("go")
	if err != nil {
		return err
	}
	root, err := moduleRoot(ctx, goCmd)
	if err != nil {
		return err
	}
	r := &Runner{Go: goCmd, Root: root, Timeout: *timeout, Workers: *workers,
		Log: func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }}

	equiv := Equivalents{}
	if *equivPath != "" {
		p := *equivPath
		if !strings.HasPrefix(p, "/") {
			p = root + "/" + p
		}
		f, err := os.Open(p)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		if err == nil {
			equiv, err = ParseEquivalents(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", *equivPath, err)
			}
		}
	}

	type row struct {
		pkg string
		t   Tally
		d   time.Duration
	}
	var rows []row
	used := map[string]bool{}
	var ran, failed []string
	began := time.Now()
	for i, path := range pkgs {
		pkg, err := r.listPackage(ctx, path)
		if err != nil {
			return err
		}
		byFile, err := r.Mutants(pkg)
		if err != nil {
			return err
		}
		var skipped int
		for f, ms := range byFile {
			var keep []Mutant
			for _, m := range ms {
				switch {
				case *at != "" && !strings.HasPrefix(fmt.Sprintf("%s:%d", m.File, m.Line), *at):
				case equiv[m.Key()] != "":
					used[m.Key()] = true
					skipped++
				default:
					keep = append(keep, m)
				}
			}
			byFile[f] = keep
		}
		for _, f := range pkg.Files {
			ran = append(ran, r.rel(f))
		}
		ms := Sample(byFile, *maxN, *seed)
		if *list {
			for _, m := range ms {
				fmt.Fprintln(stdout, m.Key())
			}
			continue
		}
		if len(ms) == 0 {
			fmt.Fprintf(stdout, "%s: no mutants\n", path)
			continue
		}

		start := time.Now()
		var deadline time.Time
		if *budget > 0 {
			left := *budget - time.Since(began)
			deadline = start.Add(left / time.Duration(len(pkgs)-i))
		}
		base, err := r.Baseline(ctx, pkg)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// One package's broken tests should not cost the others' run.
			fmt.Fprintf(stdout, "%s: skipped: %v\n", path, err)
			failed = append(failed, path)
			continue
		}
		to := r.Timeout
		if to == 0 {
			to = 3*base + 20*time.Second
		}
		r.Log("%s: %d mutants (baseline %.1fs, timeout %s)", path, len(ms), base.Seconds(), to.Round(time.Second))
		results, err := r.Run(ctx, pkg, ms, to, deadline)
		if err != nil {
			return err
		}
		SortResults(results)
		t := Count(results, skipped)
		d := time.Since(start)
		rows = append(rows, row{path, t, d})
		var cut string
		if len(results) < len(ms) {
			cut = fmt.Sprintf(", -budget stopped it after %d of %d", len(results), len(ms))
		}
		fmt.Fprintf(stdout, "%s: %d mutants, %d killed, %d survived, %d timed out, %d not viable, %d equivalent: score %s (%s%s)\n",
			path, t.Mutants, t.Killed, t.Survived, t.TimedOut, t.NotViable, t.Equivalent, t.ScoreString(), d.Round(time.Second), cut)
		for _, res := range results {
			switch {
			case res.Outcome == Survived:
				fmt.Fprintf(stdout, "  %s\n", res.Mutant.Key())
			case *verbose:
				fmt.Fprintf(stdout, "  %s  [%s]\n", res.Mutant.Key(), res.Outcome)
			}
		}
	}

	// Entries of the equivalence list for the files just mutated that no
	// longer match a mutant have gone stale (the code moved or changed).
	var stale []string
	for k := range equiv {
		for _, f := range ran {
			if strings.HasPrefix(k, f+":") && !used[k] && *at == "" {
				stale = append(stale, k)
			}
		}
	}
	sort.Strings(stale)
	for _, k := range stale {
		fmt.Fprintf(stderr, "mutants: stale entry in %s (no such mutant now): %s\n", *equivPath, k)
	}

	if *markdown && len(rows) > 0 {
		date := time.Now().UTC().Format("2006-01-02")
		fmt.Fprintln(stdout, "\n| Package | Mutants | Killed | Survived | Equivalent | Not viable | Score | Date |")
		fmt.Fprintln(stdout, "|---|---:|---:|---:|---:|---:|---:|---|")
		for _, rw := range rows {
			fmt.Fprintf(stdout, "| %s | %d | %d | %d | %d | %d | %s | %s |\n", strings.TrimPrefix(rw.pkg, "./"),
				rw.t.Mutants, rw.t.Killed+rw.t.TimedOut, rw.t.Survived, rw.t.Equivalent, rw.t.NotViable, rw.t.ScoreString(), date)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("the unmutated tests fail in %s", strings.Join(failed, ", "))
	}
	return nil
}
