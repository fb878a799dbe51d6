package rawjson

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// The Append functions write JSON as encoding/json's Marshal does, byte
// for byte, without reflection: the codecs' encoders build their bodies
// with them.

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, escaped exactly as
// encoding/json escapes it: with escapeHTML, as json.Marshal does (<, >
// and & as \u003c, \u003e, \u0026), without it as a json.Encoder with
// SetEscapeHTML(false). Invalid UTF-8 becomes \ufffd; U+2028 and U+2029
// are always escaped.
func AppendString(dst []byte, s string, escapeHTML bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && (!escapeHTML || (b != '<' && b != '>' && b != '&')) {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendFloat appends f as encoding/json writes a float64; ok is false for
// NaN and infinities, which JSON cannot hold (Marshal fails on them).
func AppendFloat(dst []byte, f float64) (out []byte, ok bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, false
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9, as in encoding/json.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, true
}

// AppendCompact appends the valid JSON value raw without insignificant
// space, as encoding/json writes a json.RawMessage (json.Compact); raw is
// trusted to be valid (see the package comment).
func AppendCompact(dst, raw []byte) []byte {
	start := 0
	for i := 0; i < len(raw); {
		switch c := raw[i]; c {
		case '"':
			i = skipString(raw, i+1)
		case ' ', '\t', '\n', '\r':
			dst = append(dst, raw[start:i]...)
			i++
			start = i
		default:
			i++
		}
	}
	return append(dst, raw[start:]...)
}

// AppendCompactHTML is AppendCompact as json.Marshal writes a
// json.RawMessage: also with <, >, & and U+2028, U+2029 escaped.
func AppendCompactHTML(dst, raw []byte) []byte {
	start := 0
	inString := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if inString {
			switch c {
			case '\\':
				i++ // the escaped byte
			case '"':
				inString = false
			case '<', '>', '&':
				dst = append(dst, raw[start:i]...)
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
				start = i + 1
			case 0xE2:
				if i+2 < len(raw) && raw[i+1] == 0x80 && raw[i+2]&^1 == 0xA8 {
					dst = append(dst, raw[start:i]...)
					dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[raw[i+2]&0xF])
					i += 2
					start = i + 1
				}
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case ' ', '\t', '\n', '\r':
			dst = append(dst, raw[start:i]...)
			start = i + 1
		}
	}
	return append(dst, raw[start:]...)
}

// IsCompact reports whether the valid JSON value raw has no insignificant
// space (AppendCompact would copy it unchanged).
func IsCompact(raw []byte) bool {
	for i := 0; i < len(raw); {
		switch raw[i] {
		case '"':
			i = skipString(raw, i+1)
		case ' ', '\t', '\n', '\r':
			return false
		default:
			i++
		}
	}
	return true
}

// Members calls f with each member of the object raw in order, with its
// key unescaped (aliasing raw when the key has no escapes; f must not keep
// it) and its value as a slice of raw; duplicates are all reported. It
// reports false when raw is not an object.
func Members(raw []byte, f func(key, value []byte)) bool {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = skipSpace(raw, i+1)
	for i < len(raw) && raw[i] == '"' {
		end := Skip(raw, i)
		key := raw[i+1 : max(end-1, i+1)]
		if !plainString(key) {
			s, err := unquote(raw[i:end])
			if err != nil {
				return false
			}
			key = []byte(s)
		}
		i = skipSpace(raw, end)
		i = skipSpace(raw, i+1) // the colon
		end = Skip(raw, i)
		f(key, raw[i:end:end])
		i = skipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return true
}

// Elements calls f with each element of the array raw in order; it reports
// false when raw is not an array.
func Elements(raw []byte, f func(value []byte)) bool {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return false
	}
	i = skipSpace(raw, i+1)
	for i < len(raw) && raw[i] != ']' {
		end := Skip(raw, i)
		f(raw[i:end:end])
		i = skipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return true
}

// Kind is the first byte of the value raw after space: '{', '[', '"',
// 't', 'f', 'n', or a digit or '-' for a number; 0 when raw is empty.
func Kind(raw []byte) byte {
	i := skipSpace(raw, 0)
	if i >= len(raw) {
		return 0
	}
	return raw[i]
}

func plainString(b []byte) bool {
	for _, c := range b {
		if c == '\\' || c < 0x20 || c >= 0x80 || c == '"' {
			return false
		}
	}
	return true
}
