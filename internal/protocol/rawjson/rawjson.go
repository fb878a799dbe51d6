// Package rawjson splits JSON that has already been validated (by
// jsonlimit.Check, which also bounds its depth) into its members, without
// validating it again: encoding/json, decoding into json.RawMessage, scans
// every value once for each level it sits at.
//
// Every function here requires valid JSON; on anything else its result is
// unspecified (but it never panics or loops).
package rawjson

import (
	"bytes"
	"encoding/json"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Object returns the members of the object raw, as encoding/json would
// decode it into a map[string]json.RawMessage (the last duplicate wins);
// ok is false when raw is not an object. The values alias raw.
func Object(raw []byte) (m map[string]json.RawMessage, ok bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, false
	}
	m = map[string]json.RawMessage{}
	i = skipSpace(raw, i+1)
	for i < len(raw) && raw[i] == '"' {
		end := Skip(raw, i)
		key, ok := knownKeys[string(raw[i+1:max(end-1, i+1)])] // no copy for the names the codecs read
		if !ok || end-i < 2 {
			var err error
			if key, err = unquote(raw[i:end]); err != nil {
				return nil, false
			}
		}
		i = skipSpace(raw, end)
		i = skipSpace(raw, i+1) // the colon
		end = Skip(raw, i)
		m[key] = raw[i:end:end]
		i = skipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return m, true
}

// knownKeys are the member names (and short values) of the requests and
// answers the codecs decode, so that Object and String need not copy them.
var knownKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"model", "messages", "role", "content", "type", "text", "tools", "tool_choice", "name",
		"description", "parameters", "input_schema", "function", "arguments", "id", "input", "tool_use_id", "tool_call_id",
		"tool_calls", "image_url", "url", "detail", "source", "media_type", "data", "system", "max_tokens",
		"max_completion_tokens", "stream", "stream_options", "include_usage", "temperature", "top_p", "top_k", "stop",
		"stop_sequences", "metadata", "user_id", "user", "thinking", "signature", "cache_control", "is_error", "strict",
		"response_format", "json_schema", "schema", "reasoning_effort", "seed", "n", "refusal", "reasoning_content",
		// values
		"user", "assistant", "tool", "developer", "tool_use", "tool_result", "image", "base64", "object", "string",
		"auto", "none", "required", "any", "enabled", "disabled", "adaptive", "low", "medium", "high", "stop", "end_turn",
		"length", "tool_calls", "message", "chat.completion", "chat.completion.chunk", "text_delta", "input_json_delta"} {
		m[k] = k
	}
	return m
}()

// Array returns the elements of the array raw; ok is false when raw is not
// an array. The elements alias raw.
func Array(raw []byte) (a []json.RawMessage, ok bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return nil, false
	}
	a = make([]json.RawMessage, 0, 4)
	i = skipSpace(raw, i+1)
	for i < len(raw) && raw[i] != ']' {
		end := Skip(raw, i)
		a = append(a, raw[i:end:end])
		i = skipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return a, true
}

// String reports whether raw is a JSON string (or null, which encoding/json
// leaves as ""), and its value.
func String(raw []byte) (string, bool) {
	i := skipSpace(raw, 0)
	if len(raw)-i >= 4 && string(raw[i:i+4]) == "null" {
		return "", true
	}
	if i >= len(raw) || raw[i] != '"' {
		return "", false
	}
	s, err := unquote(bytes.TrimRight(raw[i:], " \t\r\n"))
	return s, err == nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// Skip returns the end of the valid JSON value that starts at b[i].
func Skip(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			i = skipString(b, i+1)
		case c == '{' || c == '[':
			depth++
			i++
		case c == '}' || c == ']':
			if depth == 0 {
				return i
			}
			depth--
			i++
		case depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return i
		default:
			i++
		}
		if depth == 0 && (c == '"' || c == '}' || c == ']') {
			return i
		}
	}
	return i
}

// skipString returns the index after the closing quote of the string whose
// contents start at b[i].
func skipString(b []byte, i int) int {
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		i += j
		n := 0 // backslashes right before the quote
		for k := i - 1; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i
		}
	}
}

// unquote decodes a JSON string literal; the common case (no escapes, all
// ASCII) costs no more than the copy.
func unquote(raw []byte) (string, error) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		// In valid JSON a string has no raw quote or control byte: without
		// escapes and with valid UTF-8 its bytes are its value.
		if body := raw[1 : len(raw)-1]; bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
			if len(body) <= 24 {
				if k, ok := knownKeys[string(body)]; ok {
					return k, nil // a known name or value: no copy
				}
			}
			return string(body), nil
		}
	}
	if b, ok := unescape(raw); ok {
		return string(b), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// unescape decodes the valid JSON string literal raw as encoding/json's
// unquoteBytes does: escapes decoded, a lone or broken surrogate and each
// byte of invalid UTF-8 becoming U+FFFD. ok is false on anything it does
// not expect (the caller then asks encoding/json).
func unescape(raw []byte) (out []byte, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	s := raw[1 : len(raw)-1]
	b := make([]byte, 0, len(s)+utf8.UTFMax)
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			r++
			if r >= len(s) {
				return nil, false
			}
			switch e := s[r]; e {
			case '"', '\\', '/', '\'':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := hex4(s[r-1:])
				if rr < 0 {
					return nil, false
				}
				r += 4
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, hex4(s[r+1:])); dec != unicode.ReplacementChar {
						r += 6
						b = utf8.AppendRune(b, dec)
						r++
						continue
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
			default:
				return nil, false
			}
			r++
		case c == '"' || c < ' ':
			return nil, false
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			b = utf8.AppendRune(b, rr)
		}
	}
	return b, true
}

// hex4 reads the \uXXXX escape at the start of s, or -1.
func hex4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
