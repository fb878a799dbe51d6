package prompt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// diffContext is how many unchanged lines surround each change.
const diffContext = 3

// maxDiffEdits bounds the edit search; two versions further apart than this
// are shown as one replacement of everything.
const maxDiffEdits = 1000

// Diff returns a unified-style line diff from version a to version b over
// what a version says: its model, messages, params and schemas. JSON is
// shown indented with its keys sorted, so that layout changes are not
// differences. The result is deterministic and empty when nothing differs.
func Diff(a, b Version) string {
	al, bl := versionLines(a), versionLines(b)
	ops := diffLines(al, bl)
	changed := false
	for _, o := range ops {
		if o.kind != ' ' {
			changed = true
			break
		}
	}
	if !changed {
		return ""
	}
	var out strings.Builder
	fmt.Fprintf(&out, "--- version %d\n+++ version %d\n", a.Number, b.Number)
	writeHunks(&out, ops)
	return out.String()
}

// versionLines is the text a diff compares.
func versionLines(v Version) []string {
	var ls []string
	ls = append(ls, "model: "+v.Model)
	for i, m := range v.Messages {
		ls = append(ls, fmt.Sprintf("message %d (%s):", i+1, m.Role))
		for _, l := range strings.Split(m.Content, "\n") {
			ls = append(ls, "  "+l)
		}
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"params", v.Params}, {"variables", v.Variables}, {"output", v.Output}} {
		if len(bytes.TrimSpace(f.raw)) == 0 {
			continue
		}
		ls = append(ls, f.name+":")
		for _, l := range strings.Split(canonicalJSON(f.raw), "\n") {
			ls = append(ls, "  "+l)
		}
	}
	return ls
}

// canonicalJSON indents raw with sorted keys; invalid JSON is shown as written.
func canonicalJSON(raw []byte) string {
	doc, err := decodeJSON(raw)
	if err != nil {
		return string(raw)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return string(raw)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

type diffOp struct {
	kind   byte // ' ', '-', '+'
	line   string
	ai, bi int // 1-based line numbers in a and b of this line (or the next)
}

// diffLines computes a shortest edit script with Myers' algorithm.
func diffLines(a, b []string) []diffOp {
	n, m := len(a), len(b)
	limit := min(n+m, maxDiffEdits)
	offset := limit + 1
	v := make([]int, 2*limit+3)
	// trace[d] holds v[k] for k in [-d-1, d+1] before step d, at index k+d+1.
	var trace [][]int
	found := false
	for d := 0; d <= limit && !found; d++ {
		trace = append(trace, append([]int(nil), v[offset-d-1:offset+d+2]...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[offset+k-1] < v[offset+k+1]) {
				x = v[offset+k+1]
			} else {
				x = v[offset+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[offset+k] = x
			if x >= n && y >= m {
				found = true
				break
			}
		}
	}
	if !found {
		var ops []diffOp
		for i, l := range a {
			ops = append(ops, diffOp{'-', l, i + 1, 1})
		}
		for j, l := range b {
			ops = append(ops, diffOp{'+', l, n + 1, j + 1})
		}
		return ops
	}
	// Walk back through the trace. trace[d] holds v before step d.
	var rev []diffOp
	x, y := n, m
	for d := len(trace) - 1; d > 0; d-- {
		vd := func(k int) int { return trace[d][k+d+1] }
		k := x - y
		var prevK int
		if k == -d || (k != d && vd(k-1) < vd(k+1)) {
			prevK = k + 1
		} else {
			prevK = k - 1
		}
		prevX := vd(prevK)
		prevY := prevX - prevK
		for x > prevX && y > prevY {
			x--
			y--
			rev = append(rev, diffOp{' ', a[x], x + 1, y + 1})
		}
		if x == prevX {
			y--
			rev = append(rev, diffOp{'+', b[y], x + 1, y + 1})
		} else {
			x--
			rev = append(rev, diffOp{'-', a[x], x + 1, y + 1})
		}
	}
	for x > 0 && y > 0 {
		x--
		y--
		rev = append(rev, diffOp{' ', a[x], x + 1, y + 1})
	}
	ops := make([]diffOp, len(rev))
	for i := range rev {
		ops[i] = rev[len(rev)-1-i]
	}
	return ops
}

// writeHunks writes ops as unified hunks with diffContext lines of context.
func writeHunks(w *strings.Builder, ops []diffOp) {
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start := max(i-diffContext, 0)
		end := i
		// Extend the hunk while the next change is within 2*context lines.
		for j := i; j < len(ops); j++ {
			if ops[j].kind != ' ' {
				end = j
				continue
			}
			if j-end > 2*diffContext {
				break
			}
		}
		end = min(end+diffContext, len(ops)-1)
		aStart, bStart, aLen, bLen := ops[start].ai, ops[start].bi, 0, 0
		for _, o := range ops[start : end+1] {
			if o.kind != '+' {
				aLen++
			}
			if o.kind != '-' {
				bLen++
			}
		}
		if aLen == 0 {
			aStart--
		}
		if bLen == 0 {
			bStart--
		}
		fmt.Fprintf(w, "@@ -%d,%d +%d,%d @@\n", aStart, aLen, bStart, bLen)
		for _, o := range ops[start : end+1] {
			w.WriteByte(o.kind)
			w.WriteString(o.line)
			w.WriteByte('\n')
		}
		i = end + 1
	}
}
