package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
)

// strictFields refuses a body that names a field twice, at any depth, or
// names a struct field in another case ("Version" for "version"):
// encoding/json takes the last duplicate and matches names without regard
// to case, so {"url":"https://a","URL":"http://b"} would be read as one
// value while a log, an audit or another reader sees the other. The data
// plane refuses the same at the top level of a request.
func strictFields(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return walkFields(dec, reflect.TypeOf(v), "")
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// walkFields reads one value; t is the Go type it decodes into (nil for
// free-form values: any, json.RawMessage, custom unmarshalers).
func walkFields(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(unmarshalerType)) {
		t = nil
	}
	tok, err := dec.Token()
	if err != nil {
		return nil // the decoder that follows reports malformed JSON
	}
	switch tok {
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for dec.More() {
			if err := walkFields(dec, elem, path+"/-"); err != nil {
				return err
			}
		}
		_, _ = dec.Token()
	case json.Delim('{'):
		var fields map[string]reflect.Type
		var elem reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			fields = jsonFields(t)
		} else if t != nil && t.Kind() == reflect.Map {
			elem = t.Elem()
		}
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil
			}
			k, _ := kt.(string)
			if seen[k] {
				return duplicateField(path + "/" + k)
			}
			seen[k] = true
			sub := elem
			if fields != nil {
				ft, ok := fields[k]
				if !ok {
					for name := range fields {
						if strings.EqualFold(name, k) {
							return duplicateField(path + "/" + k)
						}
					}
				}
				sub = ft
			}
			if err := walkFields(dec, sub, path+"/"+k); err != nil {
				return err
			}
		}
		_, _ = dec.Token()
	}
	return nil
}

func duplicateField(pointer string) error {
	return &httpError{http.StatusBadRequest, "invalid_body", "The body repeats the field " + pointer +
		"; each field may appear once (names that differ only in case count as the same field)."}
}

// jsonFields maps the JSON names of a struct's fields (embedded structs'
// included) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					if _, ok := out[k]; !ok {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
