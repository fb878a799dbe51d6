// Package jsonlimit checks untrusted JSON before any other parser sees it.
//
// Check is one iterative pass over the bytes: it validates the syntax
// (RFC 8259) and bounds the nesting depth, with memory that does not grow
// with the input. The parsers that run afterwards (gjson, encoding/json)
// recurse once per nesting level; a body that passed Check keeps their
// recursion, and so their stack and memory, bounded.
package jsonlimit

import (
	"fmt"
)

// MaxDepth is the nesting depth Sluice accepts in a client's JSON: deep
// enough for any real request (tool schemas nest a few dozen levels at
// most), shallow enough that every recursive parser stays cheap.
const MaxDepth = 128

// Reasons an Error gives.
const (
	ReasonTooDeep = "too_deep"
	ReasonSyntax  = "invalid_json"
)

// Error says why Check refused a document and where.
type Error struct {
	Reason string // ReasonTooDeep or ReasonSyntax
	Offset int    // byte offset of the problem
	Depth  int    // the limit, for ReasonTooDeep
}

func (e *Error) Error() string {
	if e.Reason == ReasonTooDeep {
		return fmt.Sprintf("JSON nests deeper than %d levels (at byte %d)", e.Depth, e.Offset)
	}
	return fmt.Sprintf("invalid JSON at byte %d", e.Offset)
}

// Scanner states.
const (
	stValue        = iota // a value must follow
	stValueOrClose        // after '[': a value or ']'
	stKeyOrClose          // after '{': a key or '}'
	stKey                 // after ',' in an object: a key
	stAfter               // after a value: ',', a closing bracket, or the end
)

// Check reports whether b holds exactly one JSON value, surrounded by
// optional whitespace, whose arrays and objects nest at most maxDepth
// levels. It allocates nothing for maxDepth <= 256 and never recurses.
// Strings are not checked for valid UTF-8, as encoding/json does not
// require it either.
func Check(b []byte, maxDepth int) error {
	// open holds one bit per open container: 1 for an object, 0 for an
	// array.
	var small [4]uint64
	open := small[:]
	if maxDepth > 256 {
		open = make([]uint64, (maxDepth+63)/64)
	}
	depth := 0
	inObject := func() bool { return open[(depth-1)/64]&(1<<((depth-1)%64)) != 0 }
	push := func(obj bool, at int) error {
		if depth >= maxDepth {
			return &Error{Reason: ReasonTooDeep, Offset: at, Depth: maxDepth}
		}
		w, bit := depth/64, uint64(1)<<(depth%64)
		if obj {
			open[w] |= bit
		} else {
			open[w] &^= bit
		}
		depth++
		return nil
	}
	syntax := func(at int) error { return &Error{Reason: ReasonSyntax, Offset: at} }

	i, state := 0, stValue
	for {
		i = skipSpace(b, i)
		switch state {
		case stAfter:
			if depth == 0 {
				if i != len(b) {
					return syntax(i)
				}
				return nil
			}
			if i >= len(b) {
				return syntax(i)
			}
			switch c := b[i]; {
			case c == ',':
				i++
				if inObject() {
					state = stKey
				} else {
					state = stValue
				}
			case c == '}' && inObject(), c == ']' && !inObject():
				i++
				depth--
			default:
				return syntax(i)
			}
			continue
		case stKeyOrClose, stKey:
			if i < len(b) && b[i] == '}' && state == stKeyOrClose {
				i++
				depth--
				state = stAfter
				continue
			}
			if i >= len(b) || b[i] != '"' {
				return syntax(i)
			}
			j, ok := skipString(b, i)
			if !ok {
				return syntax(j)
			}
			i = skipSpace(b, j)
			if i >= len(b) || b[i] != ':' {
				return syntax(i)
			}
			i++
			state = stValue
			continue
		}
		// stValue or stValueOrClose.
		if i >= len(b) {
			return syntax(i)
		}
		switch c := b[i]; {
		case c == ']' && state == stValueOrClose:
			i++
			depth--
			state = stAfter
		case c == '{':
			if err := push(true, i); err != nil {
				return err
			}
			i++
			state = stKeyOrClose
		case c == '[':
			if err := push(false, i); err != nil {
				return err
			}
			i++
			state = stValueOrClose
		case c == '"':
			j, ok := skipString(b, i)
			if !ok {
				return syntax(j)
			}
			i, state = j, stAfter
		case c == 't':
			if !hasPrefix(b[i:], "true") {
				return syntax(i)
			}
			i, state = i+4, stAfter
		case c == 'f':
			if !hasPrefix(b[i:], "false") {
				return syntax(i)
			}
			i, state = i+5, stAfter
		case c == 'n':
			if !hasPrefix(b[i:], "null") {
				return syntax(i)
			}
			i, state = i+4, stAfter
		default:
			j, ok := skipNumber(b, i)
			if !ok {
				return syntax(j)
			}
			i, state = j, stAfter
		}
	}
}

func hasPrefix(b []byte, s string) bool { return len(b) >= len(s) && string(b[:len(s)]) == s }

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the offset after the string that opens at b[i], or
// the offset of the problem and false.
func skipString(b []byte, i int) (int, bool) {
	i++ // the opening quote
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return i, false
				}
				for _, h := range b[i+2 : i+6] {
					if !isHex(h) {
						return i, false
					}
				}
				i += 6
			default:
				return i, false
			}
		default:
			i++
		}
	}
	return i, false
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// skipNumber returns the offset after the number that starts at b[i].
func skipNumber(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && isDigit(b[i]):
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, true
}

// TooDeep reports whether err is Check's refusal of a document nested
// deeper than its limit.
func TooDeep(err error) bool {
	je, ok := err.(*Error)
	return ok && je.Reason == ReasonTooDeep
}
