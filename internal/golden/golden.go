// Package golden reads and writes the golden files of the codec tests: a
// txtar-like archive (a comment, then sections that each start with a
// "-- name --" line) whose input sections are written by hand and whose
// output sections are produced by the code under test and compared, or
// rewritten with the tests' -update flag. It is test support code.
package golden

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Archive is a parsed golden file.
type Archive struct {
	Comment string
	Files   []File
}

// File is one section.
type File struct {
	Name string
	Data string
}

// Parse reads an archive. Lines before the first section are the comment.
func Parse(data string) *Archive {
	a := &Archive{}
	cur := -1
	for line := range strings.Lines(data) {
		trimmed := strings.TrimRight(line, "\r\n")
		if name, ok := strings.CutPrefix(trimmed, "-- "); ok {
			if name, ok := strings.CutSuffix(name, " --"); ok && name != "" {
				a.Files = append(a.Files, File{Name: name})
				cur = len(a.Files) - 1
				continue
			}
		}
		if cur < 0 {
			a.Comment += line
		} else {
			a.Files[cur].Data += line
		}
	}
	return a
}

// Format renders the archive; every section ends with a newline.
func (a *Archive) Format() string {
	var b strings.Builder
	b.WriteString(a.Comment)
	for _, f := range a.Files {
		fmt.Fprintf(&b, "-- %s --\n", f.Name)
		b.WriteString(f.Data)
		if f.Data != "" && !strings.HasSuffix(f.Data, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// Get returns a section's data.
func (a *Archive) Get(name string) (string, bool) {
	for _, f := range a.Files {
		if f.Name == name {
			return f.Data, true
		}
	}
	return "", false
}

// Set replaces a section, or appends it.
func (a *Archive) Set(name, data string) {
	for i := range a.Files {
		if a.Files[i].Name == name {
			a.Files[i].Data = data
			return
		}
	}
	a.Files = append(a.Files, File{Name: name, Data: data})
}

// Remove drops a section.
func (a *Archive) Remove(name string) {
	a.Files = slices.DeleteFunc(a.Files, func(f File) bool { return f.Name == name })
}

// Sort orders sections by their place in order; unknown names go last, in
// their current order.
func (a *Archive) Sort(order []string) {
	rank := func(name string) int {
		if i := slices.Index(order, name); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(a.Files, func(x, y File) int { return rank(x.Name) - rank(y.Name) })
}

// Spec says which sections a suite's runs produce, and their order.
type Spec struct {
	// Outputs are the sections the code under test writes.
	Outputs map[string]bool
	// Order is the order of sections in a rewritten file.
	Order []string
}

// Run checks one golden file: produce computes the output sections from
// the archive's inputs; they must equal the file's, or, with update, are
// written into it (outputs no longer produced are dropped).
func (s Spec) Run(t *testing.T, path string, update bool, produce func(t *testing.T, a *Archive) map[string]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a := Parse(string(data))
	out := produce(t, a)
	names := slices.Sorted(maps.Keys(out))
	if update {
		for _, name := range names {
			a.Set(name, out[name])
		}
		a.Files = slices.DeleteFunc(a.Files, func(f File) bool {
			_, produced := out[f.Name]
			return s.Outputs[f.Name] && !produced
		})
		a.Sort(s.Order)
		if err := os.WriteFile(path, []byte(a.Format()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for _, name := range names {
		want, ok := a.Get(name)
		if !ok {
			t.Errorf("%s: missing section %q (run with -update)", path, name)
			continue
		}
		if diff := cmp.Diff(want, out[name]); diff != "" {
			t.Errorf("%s: section %q differs (-want +got):\n%s", path, name, diff)
		}
	}
	for _, f := range a.Files {
		if _, ok := out[f.Name]; s.Outputs[f.Name] && !ok {
			t.Errorf("%s: section %q is no longer produced (run with -update)", path, f.Name)
		}
	}
}
