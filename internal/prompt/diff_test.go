package prompt

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestDiffGolden(t *testing.T) {
	a := contractVersion()
	a.Params = json.RawMessage(`{"temperature":0.2,"max_tokens":256}`)
	b := contractVersion()
	b.Number = 2
	b.Model = "claude-sonnet"
	b.Messages = []Message{
		{Role: "system", Content: "You summarise text.\nBe brief."},
		{Role: "user", Content: "Summarise: {{text}}"},
		{Role: "assistant", Content: "Sure."},
	}
	// Same params with the keys reordered and other spacing: not a change.
	b.Params = json.RawMessage(`{ "max_tokens": 512,"temperature":0.2 }`)
	b.Variables = json.RawMessage(`{"type":"object","required":["text"],"additionalProperties":false,
			"properties":{"text":{"type":"string","maxLength":4000}}}`)
	got := Diff(a, b)
	path := filepath.Join("testdata", "diff_v1_v2.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("Diff =\n%s\nwant (testdata/diff_v1_v2.golden, -update to rewrite)\n%s", got, want)
	}
	if again := Diff(a, b); again != got {
		t.Errorf("Diff is not deterministic")
	}
}

func TestDiff(t *testing.T) {
	a := contractVersion()
	tests := []struct {
		name   string
		mutate func(v *Version)
		want   []string // lines the diff must hold; nil means no diff
	}{
		{"identical", func(v *Version) {}, nil},
		{"json layout only", func(v *Version) {
			v.Variables = json.RawMessage(`{"properties":{"text":{"maxLength":2000,"type":"string"}},"additionalProperties":false,"required":["text"],"type":"object"}`)
		}, nil},
		{"commit metadata is not content", func(v *Version) { v.Message = "other"; v.Author = "someone" }, nil},
		{"model", func(v *Version) { v.Model = "other" }, []string{"-model: gpt-4o", "+model: other"}},
		{"message text", func(v *Version) { v.Messages[1].Content = "Summarise briefly: {{text}}" },
			[]string{"-  Summarise: {{text}}", "+  Summarise briefly: {{text}}"}},
		{"role", func(v *Version) { v.Messages[0].Role = "developer" },
			[]string{"-message 1 (system):", "+message 1 (developer):"}},
		{"output added", func(v *Version) { v.Output = json.RawMessage(`{"type":"string"}`) },
			[]string{"+output:", `+    "type": "string"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := contractVersion()
			tc.mutate(&b)
			got := Diff(a, b)
			if tc.want == nil {
				if got != "" {
					t.Errorf("Diff = %q, want none", got)
				}
				return
			}
			lines := strings.Split(got, "\n")
			for _, w := range tc.want {
				found := false
				for _, l := range lines {
					found = found || l == w
				}
				if !found {
					t.Errorf("Diff lacks line %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestDiffLinesApply checks the edit script on line lists: applying it to a
// gives b, and it is no longer than needed for simple cases.
func TestDiffLinesApply(t *testing.T) {
	tests := []struct {
		a, b  string
		edits int
	}{
		{"", "", 0},
		{"a b c", "a b c", 0},
		{"a b c", "a x c", 2},
		{"a b c d e", "b c d e f", 2},
		{"", "a b", 2},
		{"a b", "", 2},
		{"a a a b", "a b b b", 4},
	}
	for _, tc := range tests {
		a, b := strings.Fields(tc.a), strings.Fields(tc.b)
		ops := diffLines(a, b)
		var gotA, gotB []string
		edits := 0
		for _, o := range ops {
			if o.kind != '+' {
				gotA = append(gotA, o.line)
			}
			if o.kind != '-' {
				gotB = append(gotB, o.line)
			}
			if o.kind != ' ' {
				edits++
			}
		}
		if strings.Join(gotA, " ") != tc.a || strings.Join(gotB, " ") != tc.b || edits != tc.edits {
			t.Errorf("diffLines(%q, %q): a=%q b=%q edits=%d, want edits=%d", tc.a, tc.b, gotA, gotB, edits, tc.edits)
		}
	}
}

func TestDiffLarge(t *testing.T) {
	a, b := contractVersion(), contractVersion()
	var sa, sb strings.Builder
	for i := 0; i < 3*maxDiffEdits; i++ {
		sa.WriteString("a\n")
		sb.WriteString("b\n")
	}
	a.Messages[0].Content, b.Messages[0].Content = sa.String(), sb.String()
	got := Diff(a, b)
	if strings.Count(got, "\n-  a") != 3*maxDiffEdits || strings.Count(got, "\n+  b") != 3*maxDiffEdits {
		t.Errorf("Diff of two different %d-line messages does not replace every line", 3*maxDiffEdits)
	}
}
