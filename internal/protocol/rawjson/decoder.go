package rawjson

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// Decoder decodes checked JSON (see the package comment) into Go values
// exactly as json.Unmarshal does, without reflection: a codec writes one
// function per wire type that calls Object with the type's JSON field
// names and decodes each member with the helpers here. Like encoding/json
// it matches keys exactly or else case-insensitively, lets the last of
// repeated keys win (decoding a repeated array or object into what the
// first one left), leaves fields alone on null except pointers, slices and
// raw values, and records the first type mismatch in Err as a
// *json.UnmarshalTypeError with the same Field (the JSON names from the
// top, without indexes), Type and Value. Each use is held to json.Unmarshal
// by a differential fuzz target in its codec.
type Decoder struct {
	Err   *json.UnmarshalTypeError
	stack []string
	end   int // where the value the last helper read ended (see Object)
}

var (
	typeString  = reflect.TypeFor[string]()
	typeBool    = reflect.TypeFor[bool]()
	typeInt     = reflect.TypeFor[int]()
	typeInt64   = reflect.TypeFor[int64]()
	typeFloat64 = reflect.TypeFor[float64]()
)

// fail records the first type mismatch: a value of JSON kind k where t
// was expected (value overrides the kind's name, as for numbers out of
// range).
func (d *Decoder) fail(k byte, t reflect.Type, value string) {
	if d.Err != nil {
		return
	}
	if value == "" {
		value = kindName(k)
	}
	d.Err = &json.UnmarshalTypeError{Value: value, Type: t, Field: strings.Join(d.stack, ".")}
}

func kindName(k byte) string {
	switch k {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// field finds key among names: exactly, else case-insensitively, as
// encoding/json matches struct fields; -1 when none matches.
func field(key []byte, names []string) int {
	for i, n := range names {
		if string(key) == n {
			return i
		}
	}
	for i, n := range names {
		if strings.EqualFold(string(key), n) {
			return i
		}
	}
	return -1
}

// The helpers take a value that starts at its first byte (after optional
// space) and may run on past its end, to the end of the enclosing
// document: each records in d.end where its value ended, so that Object
// and Slice go on from there instead of scanning every value once more
// before decoding it (which made the cost grow with the nesting depth).
// Where a helper records nothing (end < 0), the caller skips the value.

// Object calls set for each member of the object raw whose key names a
// field, with the member's value. A value that is not an object is a
// mismatch with t, null leaves the struct alone.
func (d *Decoder) Object(raw []byte, t reflect.Type, names []string, set func(i int, v []byte)) {
	i := skipSpace(raw, 0)
	if i >= len(raw) {
		d.end = -1
		return
	}
	switch k := raw[i]; k {
	case '{':
		i = skipSpace(raw, i+1)
		for i < len(raw) && raw[i] == '"' {
			kend := skipString(raw, i+1)
			key := raw[i+1 : max(kend-1, i+1)]
			if !plainString(key) {
				s, _ := unquote(raw[i:kend])
				key = []byte(s)
			}
			i = skipSpace(raw, kend)
			i = skipSpace(raw, i+1) // the colon
			end := -1
			if f := field(key, names); f >= 0 {
				d.stack = append(d.stack, names[f])
				d.end = -1
				set(f, raw[i:])
				d.stack = d.stack[:len(d.stack)-1]
				end = d.end
			}
			if end < 0 {
				i = Skip(raw, i)
			} else {
				i += end
			}
			i = skipSpace(raw, i)
			if i < len(raw) && raw[i] == ',' {
				i = skipSpace(raw, i+1)
			}
		}
		d.end = i + 1 // after the '}'
	case 'n':
		d.end = i + 4
	default:
		d.fail(k, t, "")
		d.end = Skip(raw, i)
	}
}

// Slice decodes the array raw into *s as encoding/json does: into the
// elements already there, growing or shortening the slice; null sets it
// to nil, an empty array to an empty slice.
func Slice[T any](d *Decoder, raw []byte, s *[]T, t reflect.Type, elem func(v []byte, e *T)) {
	i := skipSpace(raw, 0)
	if i >= len(raw) {
		d.end = -1
		return
	}
	switch k := raw[i]; k {
	case '[':
		a := *s
		n := 0
		i = skipSpace(raw, i+1)
		for i < len(raw) && raw[i] != ']' {
			if n >= len(a) {
				if n >= cap(a) {
					var zero T
					a = append(a, zero)
				} else {
					a = a[:n+1]
				}
			}
			d.end = -1
			elem(raw[i:], &a[n])
			if d.end < 0 {
				i = Skip(raw, i)
			} else {
				i += d.end
			}
			n++
			i = skipSpace(raw, i)
			if i < len(raw) && raw[i] == ',' {
				i = skipSpace(raw, i+1)
			}
		}
		if n == 0 {
			a = make([]T, 0)
		}
		*s = a[:n]
		d.end = i + 1 // after the ']'
	case 'n':
		*s = nil
		d.end = i + 4
	default:
		d.fail(k, t, "")
		d.end = Skip(raw, i)
	}
}

// String decodes a string; null leaves *s alone.
func (d *Decoder) String(raw []byte, s *string) {
	i := skipSpace(raw, 0)
	if i >= len(raw) {
		d.end = -1
		return
	}
	switch k := raw[i]; k {
	case '"':
		end := skipString(raw, i+1)
		*s, _ = unquote(raw[i:end])
		d.end = end
	case 'n':
		d.end = i + 4
	default:
		d.fail(k, typeString, "")
		d.end = Skip(raw, i)
	}
}

// Bool decodes true or false; null leaves *b alone.
func (d *Decoder) Bool(raw []byte, b *bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) {
		d.end = -1
		return
	}
	switch k := raw[i]; k {
	case 't':
		*b = true
		d.end = i + 4
	case 'f':
		*b = false
		d.end = i + 5
	case 'n':
		d.end = i + 4
	default:
		d.fail(k, typeBool, "")
		d.end = Skip(raw, i)
	}
}

// Ptr decodes raw into **p: null sets it to nil, anything else decodes
// into the value it points to (allocated when nil).
func Ptr[T any](raw []byte, p **T, decode func(raw []byte, v *T)) {
	if Kind(raw) == 'n' {
		*p = nil
		return
	}
	if *p == nil {
		*p = new(T)
	}
	decode(raw, *p)
}

func (d *Decoder) Int(raw []byte, n *int) {
	if s, ok := d.number(raw, typeInt); ok {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			*n = int(v)
		} else {
			d.fail('0', typeInt, "number "+s)
		}
	}
}

func (d *Decoder) Int64(raw []byte, n *int64) {
	if s, ok := d.number(raw, typeInt64); ok {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			*n = v
		} else {
			d.fail('0', typeInt64, "number "+s)
		}
	}
}

func (d *Decoder) Float64(raw []byte, f *float64) {
	if s, ok := d.number(raw, typeFloat64); ok {
		if v, err := strconv.ParseFloat(s, 64); err == nil {
			*f = v
		} else {
			d.fail('0', typeFloat64, "number "+s)
		}
	}
}

// number returns the literal of the number raw; anything else but null
// is a mismatch with t.
func (d *Decoder) number(raw []byte, t reflect.Type) (string, bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) {
		d.end = -1
		return "", false
	}
	switch k := raw[i]; k {
	case '{', '[', '"', 't', 'f':
		d.fail(k, t, "")
		d.end = Skip(raw, i)
	case 'n':
		d.end = i + 4
	default:
		j := i
		for j < len(raw) && (raw[j] >= '0' && raw[j] <= '9' || raw[j] == '-' || raw[j] == '+' || raw[j] == '.' || raw[j] == 'e' || raw[j] == 'E') {
			j++
		}
		d.end = j
		return string(raw[i:j]), true
	}
	return "", false
}

// Raw is json.RawMessage's UnmarshalJSON: the value's bytes, null
// included (they alias raw).
func (d *Decoder) Raw(raw []byte, m *json.RawMessage) {
	i := skipSpace(raw, 0)
	end := Skip(raw, i)
	*m = raw[i:end:end]
	d.end = end
}
