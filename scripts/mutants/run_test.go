package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// maxSrc is a package whose test kills every mutant but one: with
// Max(2, 1) and Max(1, 2) tested, `a > b` -> `a >= b` is equivalent.
const maxSrc = `package p

// Max returns the larger of a and b.
func Max(a, b int) int {
	if a > b {
		return a
	}
	return b
}
`

const maxTest = `package p

import "testing"

func TestMax(t *testing.T) {
	if Max(2, 1) != 2 || Max(1, 2) != 2 {
		t.Fatal("wrong")
	}
}
`

const maxSurvivor = "p/p.go:5: flip comparison: `a > b` -> `a >= b`"

// tempModule writes a module holding package ./p and the extra files,
// and returns its root.
func tempModule(t *testing.T, extra ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go test on a temporary module")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	root := t.TempDir()
	files := map[string]string{
		"go.mod":      "module example.com/m\n\ngo 1.26\n",
		"p/p.go":      maxSrc,
		"p/p_test.go": maxTest,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		files[extra[i]] = extra[i+1]
	}
	for name, body := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestRunnerLeavesTheTreeUntouched(t *testing.T) {
	root := tempModule(t)
	ctx := context.Background()
	goCmd, _ := exec.LookPath("go")
	r := &Runner{Go: goCmd, Root: root, Workers: 2, Log: t.Logf}
	pkg, err := r.listPackage(ctx, "./p")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "p", "p.go")
	before, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	byFile, err := r.Mutants(pkg)
	if err != nil {
		t.Fatal(err)
	}
	ms := Sample(byFile, 0, 1)
	if _, err := r.Baseline(ctx, pkg); err != nil {
		t.Fatal(err)
	}
	results, err := r.Run(ctx, pkg, ms, time.Minute, time.Time{})
	if err != nil {
		t.Fatal(err)
	}

	var survivors []string
	for _, res := range results {
		t.Logf("%s: %s", res.Mutant.Key(), res.Outcome)
		if res.Outcome == Survived {
			survivors = append(survivors, res.Mutant.Key())
		}
	}
	if !slices.Equal(survivors, []string{maxSurvivor}) {
		t.Errorf("survivors %q, want only %q", survivors, maxSurvivor)
	}
	tally := Count(results, 0)
	if tally.Killed != len(ms)-1 || tally.NotViable != 0 || tally.TimedOut != 0 {
		t.Errorf("tally %+v of %d mutants, want all but one killed", tally, len(ms))
	}

	got, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != maxSrc {
		t.Errorf("p.go changed on disk:\n%s", got)
	}
	after, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("p.go modified at %v (was %v)", after.ModTime(), before.ModTime())
	}
	entries, err := os.ReadDir(filepath.Join(root, "p"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"p.go", "p_test.go"}) {
		t.Errorf("package directory holds %v after the run", names)
	}
}

func TestGoTestOutcomes(t *testing.T) {
	root := tempModule(t)
	ctx := context.Background()
	goCmd, _ := exec.LookPath("go")
	r := &Runner{Go: goCmd, Root: root, Workers: 1, Log: t.Logf}
	pkg, err := r.listPackage(ctx, "./p")
	if err != nil {
		t.Fatal(err)
	}
	src := []byte(maxSrc)
	replace := func(old, new string) Mutant {
		i := bytes.Index(src, []byte(old))
		return Mutant{File: "p/p.go", Line: 1, Desc: old, Start: i, End: i + len(old), Repl: new}
	}
	tests := []struct {
		name    string
		m       Mutant
		timeout time.Duration
		want    Outcome
	}{
		{"equivalent change survives", replace("a > b", "a >= b"), time.Minute, Survived},
		{"wrong result is killed", replace("return b", "return a"), time.Minute, Killed},
		{"compile error is not viable", replace("return b", "return c"), time.Minute, NotViable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			results, err := r.Run(ctx, pkg, []Mutant{tc.m}, tc.timeout, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if got := results[0].Outcome; got != tc.want {
				t.Errorf("outcome %s, want %s", got, tc.want)
			}
		})
	}
}

// TestTimeoutKillsTheTestBinary checks that a mutant that never ends
// counts as timed out, and that its test binary (a child of go test) dies
// with go test instead of spinning on a CPU until go test's own -timeout.
func TestTimeoutKillsTheTestBinary(t *testing.T) {
	root := tempModule(t)
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to see the test binary")
	}
	ctx := context.Background()
	goCmd, _ := exec.LookPath("go")
	r := &Runner{Go: goCmd, Root: root, Workers: 1, Log: t.Logf}
	pkg, err := r.listPackage(ctx, "./p")
	if err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	spin := fmt.Sprintf("package p\n\nimport (\n\t\"os\"\n\t\"strconv\"\n)\n\n"+
		"func Max(a, b int) int {\n\tos.WriteFile(%q, []byte(strconv.Itoa(os.Getpid())), 0o644)\n\tfor {\n\t}\n}\n", pidFile)
	m := Mutant{File: "p/p.go", Line: 1, Desc: "spin", Start: 0, End: len(maxSrc), Repl: spin}

	start := time.Now()
	results, err := r.Run(ctx, pkg, []Mutant{m}, 3*time.Second, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got := results[0].Outcome; got != TimedOut {
		t.Errorf("outcome %s, want timed out", got)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %s to give up after a 3s timeout", d)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the spinning test never ran: %v", err)
	}
	// The binary may take a moment to be reaped.
	var state string
	for range 50 {
		stat, err := os.ReadFile("/proc/" + string(b) + "/stat")
		if err != nil {
			return // gone
		}
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return // dead, not yet reaped
		}
		state = string(stat)
		time.Sleep(100 * time.Millisecond)
	}
	p, _ := os.FindProcess(atoi(t, string(b)))
	p.Kill()
	t.Errorf("test binary %s still running after the timeout: %s", b, state)
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRunReportsSurvivorsAndHonoursEquivalents(t *testing.T) {
	root := tempModule(t)
	t.Chdir(root)
	tests := []struct {
		name   string
		flags  []string
		equiv  string
		want   []string
		reject []string
	}{
		{
			name: "survivor listed",
			want: []string{"./p: 4 mutants, 3 killed, 1 survived, 0 timed out, 0 not viable, 0 equivalent: score 75.0%", "  " + maxSurvivor + "\n"},
		},
		{
			name:   "known equivalent excluded from the score",
			equiv:  maxSurvivor + "  # Max(a, a) is a either way\n",
			want:   []string{"./p: 4 mutants, 3 killed, 0 survived, 0 timed out, 0 not viable, 1 equivalent: score 100.0%", "| p | 4 | 3 | 0 | 1 | 0 | 100.0% |"},
			reject: []string{maxSurvivor},
		},
		{
			name:   "a spent budget starts no mutant",
			flags:  []string{"-budget", "1ns"},
			want:   []string{"./p: 0 mutants, 0 killed, 0 survived, 0 timed out, 0 not viable, 0 equivalent: score n/a (", "-budget stopped it after 0 of 4)"},
			reject: []string{maxSurvivor},
		},
		{
			name:  "-max samples",
			flags: []string{"-max", "2", "-budget", "10m"},
			want:  []string{"./p: 2 mutants, "},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			equiv := filepath.Join(t.TempDir(), "equivalent.txt")
			if err := os.WriteFile(equiv, []byte(tc.equiv), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			args := append([]string{"-p", "2", "-equiv", equiv, "-markdown"}, tc.flags...)
			err := run(context.Background(), append(args, "./p"), &stdout, &stderr)
			if err != nil {
				t.Fatalf("%v\n%s", err, &stderr)
			}
			out := stdout.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, r := range tc.reject {
				if strings.Contains(out, r) {
					t.Errorf("output holds %q:\n%s", r, out)
				}
			}
		})
	}
}

func TestRunSkipsAPackageWhoseTestsFail(t *testing.T) {
	root := tempModule(t,
		"q/q.go", "package q\n\nfunc One() int { return 1 }\n",
		"q/q_test.go", "package q\n\nimport \"testing\"\n\nfunc TestOne(t *testing.T) {\n\tif One() != 2 {\n\t\tt.Fatal(\"broken\")\n\t}\n}\n")
	t.Chdir(root)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-equiv", "", "./q", "./p"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "./q") {
		t.Errorf("err = %v, want one naming ./q", err)
	}
	out := stdout.String()
	for _, w := range []string{"./q: skipped: the unmutated tests of ./q do not pass", "./p: 4 mutants, 3 killed, 1 survived"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestSample(t *testing.T) {
	byFile := map[string][]Mutant{}
	for _, f := range []string{"a.go", "b.go", "c.go"} {
		n := map[string]int{"a.go": 20, "b.go": 3, "c.go": 1}[f]
		for i := range n {
			byFile[f] = append(byFile[f], Mutant{File: f, Line: i + 1, Desc: fmt.Sprint(i), Start: i})
		}
	}
	keys := func(ms []Mutant) []string {
		var ks []string
		for _, m := range ms {
			ks = append(ks, m.Key())
		}
		return ks
	}
	files := func(ms []Mutant) map[string]int {
		n := map[string]int{}
		for _, m := range ms {
			n[m.File]++
		}
		return n
	}

	if got := Sample(byFile, 0, 1); len(got) != 24 {
		t.Errorf("max 0: %d mutants, want all 24", len(got))
	}
	if got := Sample(byFile, 100, 1); len(got) != 24 {
		t.Errorf("max 100: %d mutants, want all 24", len(got))
	}
	got := Sample(byFile, 6, 1)
	if n := files(got); len(got) != 6 || n["a.go"] != 3 || n["b.go"] != 2 || n["c.go"] != 1 {
		t.Errorf("max 6: per file %v, want every file represented, round robin", n)
	}
	if again := Sample(byFile, 6, 1); !slices.Equal(keys(got), keys(again)) {
		t.Errorf("same seed, different sample:\n%v\n%v", keys(got), keys(again))
	}
	if other := Sample(byFile, 6, 2); slices.Equal(keys(got), keys(other)) {
		t.Errorf("seeds 1 and 2 picked the same sample %v", keys(got))
	}
	var order []string
	for _, m := range got {
		order = append(order, m.File)
	}
	if want := []string{"a.go", "b.go", "c.go", "a.go", "b.go", "a.go"}; !slices.Equal(order, want) {
		t.Errorf("sample's files in order %v, want round robin %v (so that a prefix is fair)", order, want)
	}
}
