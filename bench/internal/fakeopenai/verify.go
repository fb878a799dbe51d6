package fakeopenai

import (
	"bytes"
	"fmt"
	"strconv"
)

// Verdict is the result of checking a received stream against the stream the
// fake sent. The zero value means the stream was byte-exact.
type Verdict struct {
	// Truncated: the stream is a strict prefix of what was sent.
	Truncated bool
	// Reordered: the chunk indexes are not 0, 1, 2, … in that order
	// (a chunk came twice, late or not at all before a later one).
	Reordered bool
	// NoDone: the stream does not end with `data: [DONE]`.
	NoDone bool
	// Mismatch: the bytes differ from what was sent in some other way
	// (a field rewritten, an event added).
	Mismatch bool
	// Detail describes the first difference, for reports.
	Detail string
}

// OK reports whether the stream was byte-exact.
func (v Verdict) OK() bool { return !v.Truncated && !v.Reordered && !v.NoDone && !v.Mismatch }

// Verify compares a received stream with the one that was sent.
func Verify(got, want []byte) Verdict {
	if bytes.Equal(got, want) {
		return Verdict{}
	}
	var v Verdict
	v.NoDone = !bytes.HasSuffix(got, []byte(Done))
	if len(got) < len(want) && bytes.HasPrefix(want, got) {
		v.Truncated = true
		v.Detail = fmt.Sprintf("truncated at byte %d of %d", len(got), len(want))
		return v
	}
	v.Reordered = !inOrder(got)
	if !v.Reordered {
		v.Mismatch = true
	}
	off := firstDiff(got, want)
	v.Detail = fmt.Sprintf("differs at byte %d (got %d bytes, want %d): got %q want %q",
		off, len(got), len(want), excerpt(got, off), excerpt(want, off))
	return v
}

// inOrder reports whether the "tokNNNNN" markers in s count up from 0
// without gaps or repeats.
func inOrder(s []byte) bool {
	marker := []byte(`"content":"tok`)
	next := 0
	for {
		i := bytes.Index(s, marker)
		if i < 0 {
			return true
		}
		s = s[i+len(marker):]
		if len(s) < 5 {
			return false
		}
		n, err := strconv.Atoi(string(s[:5]))
		if err != nil || n != next {
			return false
		}
		next++
	}
}

func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

func excerpt(b []byte, off int) string {
	lo := max(0, off-20)
	hi := min(len(b), off+40)
	if lo > hi {
		return ""
	}
	return string(b[lo:hi])
}
