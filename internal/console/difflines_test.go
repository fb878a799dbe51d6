package console

import (
	"strings"
	"testing"
)

// TestLineDiff: the docs diff keeps common lines, marks the others, and
// falls back to old-then-new past its bound.
func TestLineDiff(t *testing.T) {
	render := func(ls []diffLine) string {
		var b strings.Builder
		for _, l := range ls {
			b.WriteString(l.Op + l.Text + "|")
		}
		return b.String()
	}
	long := strings.Repeat("x\n", 2100)
	for _, tc := range []struct {
		name, a, b, want string
		tooLong          bool
	}{
		{"same", "a\nb\n", "a\nb", " a| b|", false},
		{"added at the end", "a\nb", "a\nb\nc", " a| b|+c|", false},
		{"removed in the middle", "a\nb\nc", "a\nc", " a|-b| c|", false},
		{"changed line", "a\nb\nc", "a\nB\nc", " a|-b|+B| c|", false},
		{"from nothing", "", "a\nb", "+a|+b|", false},
		{"to nothing", "a", "", "-a|", false},
		{"crlf", "a\r\nb\r\n", "a\nb\n", " a| b|", false},
		{"too long", long, long + "y", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, tooLong := lineDiff(tc.a, tc.b)
			if tooLong != tc.tooLong {
				t.Fatalf("tooLong %v, want %v", tooLong, tc.tooLong)
			}
			if tc.tooLong {
				if len(got) != 2*2100+1 || got[0].Op != "-" || got[len(got)-1] != (diffLine{"+", "y"}) {
					t.Fatalf("fallback: %d lines", len(got))
				}
				return
			}
			if s := render(got); s != tc.want {
				t.Errorf("got %q, want %q", s, tc.want)
			}
		})
	}
}
