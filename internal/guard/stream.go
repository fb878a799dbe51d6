package guard

import (
	"strings"
	"unicode/utf8"
)

// Stream applies a Set to text that arrives in pieces (a response's text
// deltas). What it emits, concatenated, equals Apply over the whole text,
// whatever the piece boundaries: it holds back only the trailing bytes that
// could still be, or extend, a match. Not safe for concurrent use.
type Stream struct {
	set *Set
	m   *Masker
	// ctx is the tail of what was already emitted (for boundary checks);
	// pending is what was received and not yet emitted.
	ctx, pending string
	res          Result
	b            strings.Builder
}

// contextBytes is how much emitted text is kept for the validators, which
// look at most one rune (four bytes) before a match, and two after.
const contextBytes = 8

// lookahead is how far past a match's end a validator may look (two runes).
const lookahead = 5

// Stream returns a stream through the set that numbers placeholders with m.
func (s *Set) Stream(m *Masker) *Stream { return &Stream{set: s, m: m} }

// Write takes the next piece and returns the text that can be emitted now.
// Once Blocked is non-nil, Write emits nothing more.
func (st *Stream) Write(piece string) string {
	if st.res.Blocked != nil {
		return ""
	}
	if st.set.Empty() {
		return piece
	}
	st.pending += piece
	return st.emit(false)
}

// Flush emits everything still held back; call it when the text ends.
func (st *Stream) Flush() string {
	if st.res.Blocked != nil || st.set.Empty() {
		return ""
	}
	return st.emit(true)
}

// Held is the number of bytes received and not yet emitted.
func (st *Stream) Held() int { return len(st.pending) }

// Blocked is the blocking guardrail that matched, or nil.
func (st *Stream) Blocked() *Finding { return st.res.Blocked }

// Result is the verdict so far (its Text is unset).
func (st *Stream) Result() Result { return st.res }

func (st *Stream) emit(final bool) string {
	text := st.ctx + st.pending
	from := len(st.ctx)
	matches := st.set.scan(text, from)
	safe := len(text)
	if !final {
		for _, g := range st.set.guards {
			for _, d := range g.detectors {
				safe = min(safe, len(text)-d.tail(text))
			}
		}
		safe = max(min(safe, completeRunes(text)), from)
		// A match that crosses the cut, or whose validation looked past
		// the text received so far, is not final yet: hold it whole. With
		// an expression that asserts word boundaries, never cut inside a
		// word either, since the next scan starts at the cut.
		for changed := true; changed; {
			changed = false
			for i := len(matches) - 1; i >= 0; i-- {
				if m := matches[i]; m.start < safe && (m.end > safe || m.end+lookahead > len(text)) {
					safe, changed = m.start, true
				}
			}
			if st.set.words {
				for n := 0; safe > from && n < wordHold && isWord(before(text, safe)) && isWord(after(text, safe)); n++ {
					_, w := utf8.DecodeLastRuneInString(text[:safe])
					safe, changed = max(from, safe-w), true
				}
			}
		}
	}
	// A blocking match in the part about to be emitted stops the stream
	// just before it.
	for _, m := range matches {
		if m.start >= safe {
			break
		}
		if m.end <= safe && m.guard.spec.Action == Block {
			safe = m.start
			st.res.add(m.guard, m.det.entity, 1)
			break
		}
	}
	out := st.set.render(&st.b, text, from, safe, matches, st.m, &st.res)
	st.pending = text[safe:]
	keep := max(0, safe-contextBytes)
	for keep > 0 && !utf8.RuneStart(text[keep]) {
		keep--
	}
	st.ctx = text[keep:safe]
	return out
}

// completeRunes is the length of text without a trailing incomplete UTF-8
// sequence (a piece may end inside a rune).
func completeRunes(text string) int {
	for i := len(text) - 1; i >= 0 && i >= len(text)-utf8.UTFMax; i-- {
		if utf8.RuneStart(text[i]) {
			if !utf8.FullRuneInString(text[i:]) {
				return i
			}
			break
		}
	}
	return len(text)
}

// RestoreStream restores reversible placeholders in text that arrives in
// pieces, holding back only an unfinished "<...". Not safe for concurrent
// use.
type RestoreStream struct {
	m       *Masker
	pending string
}

// maxPlaceholder bounds a placeholder's length ("<CREDIT_CARD_123456>").
const maxPlaceholder = 40

// RestoreStream returns a restoring stream over m's placeholders.
func (m *Masker) RestoreStream() *RestoreStream { return &RestoreStream{m: m} }

// Write takes the next piece and returns the text that can be emitted now.
func (r *RestoreStream) Write(piece string) string {
	if !r.m.Reversible() {
		return piece
	}
	text := r.pending + piece
	cut := len(text)
	if i := strings.LastIndexByte(text, '<'); i >= 0 && !strings.Contains(text[i:], ">") && len(text)-i < maxPlaceholder {
		cut = i
	}
	r.pending = text[cut:]
	return r.m.Restore(text[:cut])
}

// Flush emits what is held back.
func (r *RestoreStream) Flush() string {
	out := r.m.Restore(r.pending)
	r.pending = ""
	return out
}
