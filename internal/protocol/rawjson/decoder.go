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

// Object calls set for each member of raw whose key names a field. A
// value that is not an object is a mismatch with t, null leaves the
// struct alone.
func (d *Decoder) Object(raw []byte, t reflect.Type, names []string, set func(i int, v []byte)) {
	switch k := Kind(raw); k {
	case '{':
		Members(raw, func(key, v []byte) {
			if i := field(key, names); i >= 0 {
				d.stack = append(d.stack, names[i])
				set(i, v)
				d.stack = d.stack[:len(d.stack)-1]
			}
		})
	case 'n':
	default:
		d.fail(k, t, "")
	}
}

// Slice decodes the array raw into *s as encoding/json does: into the
// elements already there, growing or shortening the slice; null sets it
// to nil, an empty array to an empty slice.
func Slice[T any](d *Decoder, raw []byte, s *[]T, t reflect.Type, elem func(v []byte, e *T)) {
	switch k := Kind(raw); k {
	case '[':
		a := *s
		i := 0
		Elements(raw, func(v []byte) {
			if i >= len(a) {
				if i >= cap(a) {
					var zero T
					a = append(a, zero)
				} else {
					a = a[:i+1]
				}
			}
			elem(v, &a[i])
			i++
		})
		if i == 0 {
			a = make([]T, 0)
		}
		*s = a[:i]
	case 'n':
		*s = nil
	default:
		d.fail(k, t, "")
	}
}

func (d *Decoder) String(raw []byte, s *string) {
	switch k := Kind(raw); k {
	case '"':
		*s, _ = String(raw)
	case 'n':
	default:
		d.fail(k, typeString, "")
	}
}

func (d *Decoder) Bool(raw []byte, b *bool) {
	switch k := Kind(raw); k {
	case 't', 'f':
		*b = k == 't'
	case 'n':
	default:
		d.fail(k, typeBool, "")
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
	var n64 int64
	if d.number(raw, typeInt, func(s string) bool {
		var err error
		n64, err = strconv.ParseInt(s, 10, 64)
		return err == nil
	}) {
		*n = int(n64)
	}
}

func (d *Decoder) Int64(raw []byte, n *int64) {
	var n64 int64
	if d.number(raw, typeInt64, func(s string) bool {
		var err error
		n64, err = strconv.ParseInt(s, 10, 64)
		return err == nil
	}) {
		*n = n64
	}
}

func (d *Decoder) Float64(raw []byte, f *float64) {
	var v float64
	if d.number(raw, typeFloat64, func(s string) bool {
		var err error
		v, err = strconv.ParseFloat(s, 64)
		return err == nil
	}) {
		*f = v
	}
}

// number parses the number raw with parse; anything else but null is a
// mismatch with t. It reports whether a number was parsed.
func (d *Decoder) number(raw []byte, t reflect.Type, parse func(string) bool) bool {
	switch k := Kind(raw); k {
	case '{', '[', '"', 't', 'f':
		d.fail(k, t, "")
	case 'n', 0:
	default:
		s := strings.TrimRight(string(raw), " \t\r\n")
		if parse(s) {
			return true
		}
		d.fail(k, t, "number "+s)
	}
	return false
}

// Raw is json.RawMessage's UnmarshalJSON: the value's bytes, null
// included (they alias raw).
func Raw(raw []byte, m *json.RawMessage) {
	*m = raw
}
