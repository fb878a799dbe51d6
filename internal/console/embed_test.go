package console

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// embedPatterns reads the //go:embed patterns of the package's Go files.
func embedPatterns(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "//go:embed "); ok {
				out = append(out, strings.Fields(rest)...)
			}
		}
		fh.Close()
	}
	return out
}

// TestEmbedPatternsNameCommittedFiles: every embed pattern matches files
// that exist and that git does not ignore, so that a fresh clone builds
// the same console (a pattern over an ignored, generated path would build
// here and fail there).
func TestEmbedPatternsNameCommittedFiles(t *testing.T) {
	pats := embedPatterns(t)
	if len(pats) < 2 {
		t.Fatalf("embed patterns: %v", pats)
	}
	_, gitErr := exec.LookPath("git")
	for _, p := range pats {
		matches, err := filepath.Glob(p)
		if err != nil || len(matches) == 0 {
			t.Errorf("embed pattern %q matches no file", p)
			continue
		}
		if gitErr != nil {
			continue
		}
		out, _ := exec.Command("git", append([]string{"check-ignore", "--no-index"}, matches...)...).Output()
		if s := strings.TrimSpace(string(out)); s != "" {
			t.Errorf("embed pattern %q names files git ignores: %s", p, s)
		}
	}
}

// TestVendoredChecksums: the vendored files are the ones CHECKSUMS names,
// byte for byte, each with its licence (scripts/vendor-js.sh refreshes
// them).
func TestVendoredChecksums(t *testing.T) {
	dir := filepath.Join("static", "vendor")
	raw, err := os.ReadFile(filepath.Join(dir, "CHECKSUMS"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("CHECKSUMS line %q", line)
		}
		listed[name] = sum
	}
	var onDisk []string
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel != "CHECKSUMS" {
			onDisk = append(onDisk, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range onDisk {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		switch want, ok := listed[name]; {
		case !ok:
			t.Errorf("%s is not in CHECKSUMS", name)
		case want != hex.EncodeToString(sum[:]):
			t.Errorf("%s: sha256 %x, CHECKSUMS says %s", name, sum, want)
		}
	}
	for name := range listed {
		if !slices.Contains(onDisk, name) {
			t.Errorf("CHECKSUMS names %s, which is missing", name)
		}
	}
	for _, lib := range []string{"htmx", "uplot"} {
		if _, ok := listed[lib+"/LICENSE"]; !ok {
			t.Errorf("%s has no licence", lib)
		}
	}
}
