// Package jsonlimit checks untrusted JSON before any other parser sees it.
//
// Check is one iterative pass over the bytes: it validates the syntax
// (RFC 8259) and bounds the nesting depth, with memory that does not grow
// with the input. The parsers that run afterwards (gjson, encoding/json)
// recurse once per nesting level; a body that passed Check keeps their
// recursion, and so their stack and memory, bounded.
package jsonlimit

import (
	"encoding/binary"
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
	return check(b, maxDepth, nil)
}

// CheckMembers is Check, and also calls member for each member of the
// top-level object (for no other document), in order: key is the raw key,
// quotes and escapes as written, value the raw value, at the value's
// offset in b. It is called as the scan passes the member, so it may see
// members of a document that Check then refuses: what it learns counts only
// when CheckMembers returns nil. A caller reads the fields it needs from
// the same pass that checks the document.
func CheckMembers(b []byte, maxDepth int, member func(key, value []byte, at int)) error {
	return check(b, maxDepth, member)
}

func check(b []byte, maxDepth int, member func(key, value []byte, at int)) error {
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
	// A top-level member being read: its key's bounds and its value's
	// start (pending while its value has not ended).
	pending, keyAt, keyEnd, valueAt := false, 0, 0, 0
	for {
		if pending && state == stAfter && depth == 1 {
			member(b[keyAt:keyEnd], b[valueAt:i], valueAt)
			pending = false
		}
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
			k := i
			i = skipSpace(b, j)
			if i >= len(b) || b[i] != ':' {
				return syntax(i)
			}
			i++
			state = stValue
			if member != nil && depth == 1 {
				pending, keyAt, keyEnd, valueAt = true, k, j, skipSpace(b, i)
			}
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
		// Eight bytes at a time while none ends the string, escapes or is
		// a control character (most of a prompt's bytes).
		for i+8 <= len(b) && plain8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		if i >= len(b) {
			break
		}
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

// plain8 reports whether none of the eight bytes in x is a quote, a
// backslash or a control character (below 0x20).
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	zero := func(v uint64) uint64 { return (v - ones) &^ v & highs } // non-zero iff a byte of v is 0
	below := (x - ones*0x20) &^ x & highs                            // non-zero iff a byte of x is < 0x20
	return below|zero(x^(ones*'"'))|zero(x^(ones*'\\')) == 0
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
