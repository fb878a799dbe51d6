package guard

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A detector finds one kind of match. Its expression is bounded (every
// repetition has a maximum), so maxLen is the longest match it can produce,
// and chars holds every rune a match can contain: a stream need hold back
// only the trailing run of such runes, never more than maxLen bytes.
type detector struct {
	entity string
	re     *regexp.Regexp
	// validate may reject a candidate text[s:e] or shorten it; it may look
	// at the rune before s and the rune after the end it returns.
	validate func(text string, s, e int) (int, bool)
	maxLen   int
	chars    charset
	// first holds every rune a match can start with.
	first charset
	// secret matches are never restorable.
	secret bool
	// wordAssert: the expression has \b or \B, which look at the rune
	// before a match: a stream then never cuts inside a word.
	wordAssert bool
	// anchor, when set, speeds up the search (built-in detectors only:
	// their expressions carry no word-boundary assertions, which a window
	// edge would change).
	anchor *anchor
	// scan, when set, replaces the expression (which then only describes
	// the shape of a match): it returns the leftmost accepted match at or
	// after p, or -1.
	scan func(text string, p int) (int, int)
}

// boundedDetector parses expr, bounds its unbounded repetitions at maxMatch,
// and measures it.
func boundedDetector(entity, expr string, validate func(string, int, int) (int, bool), maxMatch int) (*detector, error) {
	t, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, err
	}
	if err := bound(t, maxMatch); err != nil {
		return nil, err
	}
	re, err := regexp.Compile(t.String())
	if err != nil {
		return nil, fmt.Errorf("pattern %q is too long once bounded (%v); bound its repetitions", expr, err)
	}
	d := &detector{entity: entity, re: re, validate: validate}
	first(t, &d.first)
	d.first.normalize()
	d.maxLen = maxBytes(t)
	if d.maxLen > 16*maxMatch+64 {
		return nil, fmt.Errorf("pattern %q can match up to %d bytes; bound its repetitions", expr, d.maxLen)
	}
	collect(t, &d.chars)
	d.chars.normalize()
	d.wordAssert = strings.Contains(t.String(), `\b`) || strings.Contains(t.String(), `\B`)
	return d, nil
}

// bound rewrites every unbounded repetition to at most n and refuses
// anchors, which have no meaning inside a stream.
func bound(t *syntax.Regexp, n int) error {
	switch t.Op {
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText:
		return errors.New("anchors (^, $, \\A, \\z) are not supported in guardrail patterns")
	case syntax.OpStar:
		t.Op, t.Min, t.Max = syntax.OpRepeat, 0, n
	case syntax.OpPlus:
		t.Op, t.Min, t.Max = syntax.OpRepeat, 1, n
	case syntax.OpRepeat:
		if t.Max < 0 {
			t.Max = max(t.Min, n)
		}
	}
	for _, s := range t.Sub {
		if err := bound(s, n); err != nil {
			return err
		}
	}
	return nil
}

// maxBytes is the longest UTF-8 text t can match.
func maxBytes(t *syntax.Regexp) int {
	switch t.Op {
	case syntax.OpLiteral:
		n := 0
		for _, r := range t.Rune {
			l := utf8.RuneLen(r)
			if t.Flags&syntax.FoldCase != 0 {
				for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
					l = max(l, utf8.RuneLen(f))
				}
			}
			n += l
		}
		return n
	case syntax.OpCharClass:
		if len(t.Rune) == 0 {
			return 0
		}
		return max(1, utf8.RuneLen(min(t.Rune[len(t.Rune)-1], unicode.MaxRune)))
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return utf8.UTFMax
	case syntax.OpConcat:
		n := 0
		for _, s := range t.Sub {
			n += maxBytes(s)
		}
		return n
	case syntax.OpAlternate:
		n := 0
		for _, s := range t.Sub {
			n = max(n, maxBytes(s))
		}
		return n
	case syntax.OpCapture, syntax.OpQuest:
		return maxBytes(t.Sub[0])
	case syntax.OpRepeat:
		return t.Max * maxBytes(t.Sub[0])
	}
	return 0
}

// charset is a sorted list of rune ranges.
type charset struct{ r [][2]rune }

func (c *charset) add(lo, hi rune) { c.r = append(c.r, [2]rune{lo, hi}) }

func (c *charset) normalize() {
	slices.SortFunc(c.r, func(a, b [2]rune) int { return int(a[0] - b[0]) })
	out := c.r[:0]
	for _, x := range c.r {
		if n := len(out); n > 0 && x[0] <= out[n-1][1]+1 {
			out[n-1][1] = max(out[n-1][1], x[1])
			continue
		}
		out = append(out, x)
	}
	c.r = out
}

func (c *charset) has(r rune) bool {
	i, _ := slices.BinarySearchFunc(c.r, r, func(x [2]rune, r rune) int {
		switch {
		case x[1] < r:
			return -1
		case x[0] > r:
			return 1
		}
		return 0
	})
	return i < len(c.r) && c.r[i][0] <= r && r <= c.r[i][1]
}

// collect adds every rune t can match. A word-boundary assertion adds the
// word runes, so that a stream never cuts inside a word the assertion
// would look at.
func collect(t *syntax.Regexp, c *charset) {
	switch t.Op {
	case syntax.OpLiteral:
		for _, r := range t.Rune {
			c.add(r, r)
			if t.Flags&syntax.FoldCase != 0 {
				for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
					c.add(f, f)
				}
			}
		}
	case syntax.OpCharClass:
		for i := 0; i+1 < len(t.Rune); i += 2 {
			c.add(t.Rune[i], t.Rune[i+1])
		}
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		c.add(0, unicode.MaxRune)
	case syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		c.add('0', '9')
		c.add('A', 'Z')
		c.add('_', '_')
		c.add('a', 'z')
	}
	for _, s := range t.Sub {
		collect(s, c)
	}
}

// nullable reports whether t can match the empty string.
func nullable(t *syntax.Regexp) bool {
	switch t.Op {
	case syntax.OpLiteral, syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return false
	case syntax.OpConcat:
		for _, s := range t.Sub {
			if !nullable(s) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		for _, s := range t.Sub {
			if nullable(s) {
				return true
			}
		}
		return false
	case syntax.OpCapture:
		return nullable(t.Sub[0])
	case syntax.OpRepeat:
		return t.Min == 0 || nullable(t.Sub[0])
	}
	return true // empty matches, assertions, star, quest
}

// first adds every rune a match of t can start with.
func first(t *syntax.Regexp, c *charset) {
	switch t.Op {
	case syntax.OpLiteral:
		if len(t.Rune) > 0 {
			one := *t
			one.Rune = t.Rune[:1]
			one.Sub = nil
			collect(&one, c)
		}
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		collect(t, c)
	case syntax.OpConcat:
		for _, s := range t.Sub {
			first(s, c)
			if !nullable(s) {
				return
			}
		}
	case syntax.OpAlternate:
		for _, s := range t.Sub {
			first(s, c)
		}
	case syntax.OpCapture, syntax.OpRepeat, syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		first(t.Sub[0], c)
	case syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		collect(t, c)
	}
}

// An anchor is something every match contains, found faster than the
// expression: one of a set of bytes, or one of a set of ASCII words in any
// case. back bounds how far before its first anchor a match can start.
type anchor struct {
	bytes string
	words []string // lower case
	back  int
}

// source is the text being scanned, with its ASCII-lowered copy made on
// first use (same byte offsets) for word anchors.
type source struct {
	text  string
	lower string
}

func (src *source) lowered() string {
	if src.lower == "" && src.text != "" {
		src.lower = asciiLower(src.text)
	}
	return src.lower
}

// asciiLower lowers ASCII letters only, so byte offsets stay the same.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// indexAnyByte returns the index of the first byte of s that is one of
// the bytes of set, or -1. Unlike strings.IndexAny it compares bytes, not
// runes: an anchor may be the lead byte of a multi-byte rune, which alone
// is not valid UTF-8 (and IndexAny would read it as U+FFFD).
func indexAnyByte(s, set string) int {
	if len(set) == 1 {
		return strings.IndexByte(s, set[0])
	}
	var in [256]bool
	ascii := true
	for i := range len(set) {
		in[set[i]] = true
		ascii = ascii && set[i] < utf8.RuneSelf
	}
	if ascii {
		return strings.IndexAny(s, set)
	}
	for i := range len(s) {
		if in[s[i]] {
			return i
		}
	}
	return -1
}

// next returns the first anchor at or after p, or -1.
func (a *anchor) next(src *source, p int) int {
	best := -1
	if a.bytes != "" {
		if i := indexAnyByte(src.text[p:], a.bytes); i >= 0 {
			best = p + i
		}
	}
	if len(a.words) > 0 {
		low := src.lowered()
		for _, w := range a.words {
			end := len(low)
			if best >= 0 {
				end = min(end, best+len(w))
			}
			if p >= end {
				continue
			}
			if i := strings.Index(low[p:end], w); i >= 0 && (best < 0 || p+i < best) {
				best = p + i
			}
		}
	}
	return best
}

// find returns the accepted matches that start at or after from.
func (d *detector) find(text string, from int) [][2]int {
	return d.findIn(&source{text: text}, from)
}

func (d *detector) findIn(src *source, from int) [][2]int {
	text := src.text
	var out [][2]int
	if d.scan != nil {
		for p := from; p < len(text); {
			s, e := d.scan(text, p)
			if s < 0 {
				break
			}
			out = append(out, [2]int{s, e})
			p = e
		}
		return out
	}
	for p := from; p < len(text); {
		s, e := d.next(src, p)
		if s < 0 {
			break
		}
		if e == s {
			_, w := utf8.DecodeRuneInString(text[s:])
			p = s + w
			continue
		}
		if d.validate != nil {
			ne, ok := d.validate(text, s, e)
			if !ok {
				_, w := utf8.DecodeRuneInString(text[s:])
				p = s + w
				continue
			}
			e = ne
		}
		out = append(out, [2]int{s, e})
		p = e
	}
	return out
}

// next finds the leftmost candidate at or after p, as the expression would
// over text[p:]. With an anchor it runs the expression only on windows
// around anchors: a match starting at q has its first anchor a with
// q <= a <= q+back, and lies within q+maxLen, so the window
// [max(p, a-back), a+maxLen) holds every candidate that starts by a.
func (d *detector) next(src *source, p int) (int, int) {
	text := src.text
	if d.anchor == nil {
		loc := d.re.FindStringIndex(text[p:])
		if loc == nil {
			return -1, -1
		}
		return p + loc[0], p + loc[1]
	}
	for p < len(text) {
		a := d.anchor.next(src, p)
		if a < 0 {
			return -1, -1
		}
		w0, w1 := max(p, a-d.anchor.back), min(len(text), a+d.maxLen)
		if loc := d.re.FindStringIndex(text[w0:w1]); loc != nil && w0+loc[0] <= a {
			return w0 + loc[0], w0 + loc[1]
		}
		p = a + 1
	}
	return -1, -1
}

// tail is how many trailing bytes of text could still be part of a match:
// a match that is not complete yet is made of runes in chars and starts
// with a rune in first, and is at most maxLen long. A trailing incomplete
// rune is held with the run before it.
func (d *detector) tail(text string) int {
	if c := completeRunes(text); c < len(text) {
		// A piece ended inside a rune: that rune may continue a match, so
		// hold what would be held before it, and the rune's bytes.
		return d.tail(text[:c]) + len(text) - c
	}
	n := 0
	for n < len(text) && n < d.maxLen {
		r, w := utf8.DecodeLastRuneInString(text[:len(text)-n])
		if !d.chars.has(r) {
			break
		}
		n += w
	}
	n = min(n, d.maxLen)
	for n > 0 {
		r, w := utf8.DecodeRuneInString(text[len(text)-n:])
		if d.first.has(r) {
			break
		}
		n -= w
	}
	if d.wordAssert && n > 0 {
		// Back to the start of the word, so that the expression, run from
		// the cut, sees the same boundary as over the whole text.
		for n < len(text) && n < d.maxLen+wordHold {
			r, w := utf8.DecodeLastRuneInString(text[:len(text)-n])
			if !isWord(r) {
				break
			}
			n += w
		}
	}
	return n
}

// wordHold bounds how much of a word a stream holds back for an
// expression with word-boundary assertions, beyond its longest match.
const wordHold = 256

// before and after return the rune just outside text[s:e] (utf8.RuneError
// at the edges of text).
func before(text string, s int) rune {
	if s == 0 {
		return utf8.RuneError
	}
	r, _ := utf8.DecodeLastRuneInString(text[:s])
	return r
}

func after(text string, e int) rune {
	if e >= len(text) {
		return utf8.RuneError
	}
	r, _ := utf8.DecodeRuneInString(text[e:])
	return r
}

func isWord(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

func isDigit(r rune) bool { return '0' <= r && r <= '9' }

// wordBounded accepts a match that is a whole word.
func wordBounded(text string, s, e int) (int, bool) {
	return e, !isWord(before(text, s)) && !isWord(after(text, e))
}
