package golden

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	in := "comment line\n-- a.json --\n{}\n-- b.sse --\ndata: x\r\n\r\n-- not -- a header\n"
	a := Parse(in)
	if a.Comment != "comment line\n" || len(a.Files) != 2 {
		t.Fatalf("parsed %+v", a)
	}
	if got := a.Format(); got != in {
		t.Fatalf("format\n%q\nwant\n%q", got, in)
	}
	a.Set("c", "new")
	a.Remove("a.json")
	a.Sort([]string{"c", "b.sse"})
	if a.Files[0].Name != "c" || len(a.Files) != 2 {
		t.Fatalf("after edits %+v", a.Files)
	}
}

func TestRunDetectsDifferencesAndUpdates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "case.txtar")
	if err := os.WriteFile(path, []byte("-- in --\nx\n-- out --\nold\n-- stale --\ngone\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Outputs: map[string]bool{"out": true, "stale": true}, Order: []string{"in", "out"}}
	produce := func(*testing.T, *Archive) map[string]string { return map[string]string{"out": "new\n"} }
	spec.Run(t, path, true, produce)
	b, _ := os.ReadFile(path)
	if string(b) != "-- in --\nx\n-- out --\nnew\n" {
		t.Fatalf("updated file %q", b)
	}
	// Without update the produced output matches now.
	spec.Run(t, path, false, produce)
}
