package openapi

import (
	"encoding"
	"encoding/json"
	"fmt"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// schema is a JSON Schema 2020-12 object, limited to the keywords the
// generator writes. Fields marshal in declaration order and maps with
// sorted keys, so the output is deterministic. The zero value is {}: any
// JSON value.
type schema struct {
	Ref                  string             `json:"$ref,omitempty"`
	Type                 typeSet            `json:"type,omitempty"`
	Format               string             `json:"format,omitempty"`
	ContentEncoding      string             `json:"contentEncoding,omitempty"`
	Description          string             `json:"description,omitempty"`
	Enum                 []any              `json:"enum,omitempty"`
	Minimum              *int64             `json:"minimum,omitempty"`
	Items                *schema            `json:"items,omitempty"`
	MinItems             *int               `json:"minItems,omitempty"`
	MaxItems             *int               `json:"maxItems,omitempty"`
	Properties           map[string]*schema `json:"properties,omitempty"`
	Required             []string           `json:"required,omitempty"`
	AdditionalProperties *schema            `json:"additionalProperties,omitempty"`
	AnyOf                []*schema          `json:"anyOf,omitempty"`
}

// typeSet is the "type" keyword: one name marshals as a string, several
// as an array.
type typeSet []string

func (ts typeSet) MarshalJSON() ([]byte, error) {
	if len(ts) == 1 {
		return json.Marshal(ts[0])
	}
	return json.Marshal([]string(ts))
}

const schemaRefPrefix = "#/components/schemas/"

var (
	timeType        = reflect.TypeFor[time.Time]()
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	marshalerType   = reflect.TypeFor[json.Marshaler]()
	textMarshalType = reflect.TypeFor[encoding.TextMarshaler]()
)

// schemas turns Go types into JSON Schemas the way encoding/json encodes
// them. Named struct types become components referenced by $ref, which is
// also what makes recursive types terminate. Not safe for concurrent use.
type schemas struct {
	components map[string]*schema
	names      map[reflect.Type]string
	taken      map[string]bool
}

func newSchemas() *schemas {
	return &schemas{components: map[string]*schema{}, names: map[reflect.Type]string{}, taken: map[string]bool{}}
}

// reserve claims a component name for a schema written by hand.
func (g *schemas) reserve(name string, s *schema) {
	g.taken[name] = true
	g.components[name] = s
}

// bodyOf returns the schema of a request or response body value. A pointer
// at the top is looked through: a body is never null.
func (g *schemas) bodyOf(v any) (*schema, error) {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return g.of(t)
}

// of returns the schema of values of type t, registering components as it
// meets named struct types. The returned schema is fresh: the caller may
// add keywords to it.
func (g *schemas) of(t reflect.Type) (*schema, error) {
	if t.Kind() == reflect.Pointer {
		// encoding/json writes a nil pointer as null, whatever its methods.
		s, err := g.of(t.Elem())
		if err != nil {
			return nil, err
		}
		return nullable(s), nil
	}
	switch {
	case t == timeType:
		return &schema{Type: typeSet{"string"}, Format: "date-time"}, nil
	case t == rawMessageType:
		return &schema{}, nil
	case reflect.PointerTo(t).Implements(marshalerType):
		return &schema{}, nil // custom JSON: anything
	case reflect.PointerTo(t).Implements(textMarshalType):
		return &schema{Type: typeSet{"string"}}, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return &schema{Type: typeSet{"boolean"}}, nil
	case reflect.Int8, reflect.Int16, reflect.Int32:
		return &schema{Type: typeSet{"integer"}, Format: "int32"}, nil
	case reflect.Int, reflect.Int64:
		return &schema{Type: typeSet{"integer"}, Format: "int64"}, nil
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return &schema{Type: typeSet{"integer"}, Format: "int32", Minimum: new(int64(0))}, nil
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return &schema{Type: typeSet{"integer"}, Format: "int64", Minimum: new(int64(0))}, nil
	case reflect.Float32:
		return &schema{Type: typeSet{"number"}, Format: "float"}, nil
	case reflect.Float64:
		return &schema{Type: typeSet{"number"}, Format: "double"}, nil
	case reflect.String:
		return &schema{Type: typeSet{"string"}}, nil
	case reflect.Interface:
		return &schema{}, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !reflect.PointerTo(t.Elem()).Implements(marshalerType) && !reflect.PointerTo(t.Elem()).Implements(textMarshalType) {
			return &schema{Type: typeSet{"string"}, ContentEncoding: "base64"}, nil
		}
		items, err := g.of(t.Elem())
		if err != nil {
			return nil, err
		}
		return &schema{Type: typeSet{"array"}, Items: items}, nil
	case reflect.Array:
		items, err := g.of(t.Elem())
		if err != nil {
			return nil, err
		}
		n := t.Len()
		return &schema{Type: typeSet{"array"}, Items: items, MinItems: &n, MaxItems: new(n)}, nil
	case reflect.Map:
		switch k := t.Key(); {
		case k.Kind() == reflect.String, k.Implements(textMarshalType),
			k.Kind() >= reflect.Int && k.Kind() <= reflect.Uintptr:
		default:
			return nil, fmt.Errorf("map key type %s cannot be encoded as JSON", k)
		}
		v, err := g.of(t.Elem())
		if err != nil {
			return nil, err
		}
		return &schema{Type: typeSet{"object"}, AdditionalProperties: v}, nil
	case reflect.Struct:
		if t.Name() == "" {
			return g.structOf(t)
		}
		name, ok := g.names[t]
		if !ok {
			name = g.nameFor(t)
			g.names[t] = name
			placeholder := &schema{}
			g.components[name] = placeholder // a recursive use finds the name
			s, err := g.structOf(t)
			if err != nil {
				return nil, err
			}
			*placeholder = *s
		}
		return &schema{Ref: schemaRefPrefix + name}, nil
	}
	return nil, fmt.Errorf("type %s (%s) cannot be encoded as JSON", t, t.Kind())
}

// nullable returns s allowing null as well.
func nullable(s *schema) *schema {
	switch {
	case s.Ref != "":
		return &schema{AnyOf: []*schema{s, {Type: typeSet{"null"}}}}
	case s.AnyOf != nil:
		for _, alt := range s.AnyOf {
			if slices.Equal(alt.Type, typeSet{"null"}) {
				return s
			}
		}
		s.AnyOf = append(s.AnyOf, &schema{Type: typeSet{"null"}})
	case len(s.Type) == 0: // {} already admits null
	case !slices.Contains(s.Type, "null"):
		s.Type = append(s.Type, "null")
		if s.Enum != nil {
			s.Enum = append(s.Enum, nil)
		}
	}
	return s
}

var (
	pkgQualifier  = regexp.MustCompile(`[\w./-]*\.`)
	nameForbidden = regexp.MustCompile(`[^A-Za-z0-9_]+`)
)

// nameFor picks the component name of a named struct type: its Go name,
// with generic arguments reduced to their own names (Page[x/y.Key] is
// Page_Key), qualified by its package's name where another type took it.
func (g *schemas) nameFor(t reflect.Type) string {
	base := strings.Trim(nameForbidden.ReplaceAllString(pkgQualifier.ReplaceAllString(t.Name(), ""), "_"), "_")
	name := base
	if g.taken[name] {
		name = nameForbidden.ReplaceAllString(path.Base(t.PkgPath()), "_") + "_" + base
	}
	for i := 2; g.taken[name]; i++ {
		name = fmt.Sprintf("%s_%s_%d", path.Base(t.PkgPath()), base, i)
	}
	g.taken[name] = true
	return name
}

// structOf returns the inline object schema of struct type t.
func (g *schemas) structOf(t reflect.Type) (*schema, error) {
	s := &schema{Type: typeSet{"object"}, Properties: map[string]*schema{}}
	for _, f := range jsonFields(t) {
		fs, err := g.fieldSchema(f)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t, f.sf.Name, err)
		}
		s.Properties[f.name] = fs
		if !f.omit && !f.viaPointer {
			s.Required = append(s.Required, f.name)
		}
	}
	if len(s.Properties) == 0 {
		s.Properties = nil
	}
	slices.Sort(s.Required)
	return s, nil
}

// fieldSchema returns the schema of one struct field, with its ",string"
// option and its doc and enum tags applied.
func (g *schemas) fieldSchema(f field) (*schema, error) {
	t := f.sf.Type
	isPtr := t.Kind() == reflect.Pointer
	base := t
	if isPtr {
		base = t.Elem()
	}
	var s *schema
	if f.quoted {
		s = &schema{Type: typeSet{"string"}}
	} else {
		var err error
		if s, err = g.of(base); err != nil {
			return nil, err
		}
	}
	if tag, ok := f.sf.Tag.Lookup("enum"); ok {
		if err := applyEnum(s, base, tag); err != nil {
			return nil, err
		}
	}
	if isPtr {
		s = nullable(s)
	}
	if doc := f.sf.Tag.Get("doc"); doc != "" {
		s.Description = doc
	}
	return s, nil
}

// applyEnum sets the enum keyword of s (of a value of type t) from a
// comma-separated tag; on an array it constrains the items.
func applyEnum(s *schema, t reflect.Type, tag string) error {
	if s.Ref != "" {
		return fmt.Errorf("enum tag on %s, which is an object", t)
	}
	if (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && s.Items != nil {
		et := t.Elem()
		if et.Kind() == reflect.Pointer {
			et = et.Elem()
		}
		return applyEnum(s.Items, et, tag)
	}
	if len(s.Type) != 1 {
		return fmt.Errorf("enum tag on %s, whose schema has no single type", t)
	}
	var vals []any
	for _, word := range strings.Split(tag, ",") {
		word = strings.TrimSpace(word)
		var v any
		var err error
		switch s.Type[0] {
		case "string":
			v = word
		case "boolean":
			v, err = strconv.ParseBool(word)
		case "integer":
			if s.Minimum != nil {
				v, err = strconv.ParseUint(word, 10, 64)
			} else {
				v, err = strconv.ParseInt(word, 10, 64)
			}
		case "number":
			v, err = strconv.ParseFloat(word, 64)
		default:
			return fmt.Errorf("enum tag on %s, which is not a string, number or boolean", t)
		}
		if err != nil {
			return fmt.Errorf("enum tag value %q: %w", word, err)
		}
		vals = append(vals, v)
	}
	s.Enum = vals
	return nil
}

// field is a struct field as encoding/json sees it.
type field struct {
	name       string
	sf         reflect.StructField
	index      []int
	tagged     bool // the name came from a json tag
	omit       bool // omitempty or omitzero
	quoted     bool // the ",string" option applies
	viaPointer bool // promoted through an embedded pointer: absent when that pointer is nil
}

// jsonFields lists the fields encoding/json encodes for struct type t, in
// its order, following its rules: embedded structs are flattened, the
// shallowest field of a name wins, a tagged one breaks a tie, and an
// unbroken tie drops the name.
func jsonFields(t reflect.Type) []field {
	type level struct {
		typ        reflect.Type
		index      []int
		viaPointer bool
	}
	var fields []field
	next := []level{{typ: t}}
	visited := map[reflect.Type]bool{}
	for len(next) > 0 {
		current := next
		next = nil
		count := map[reflect.Type]int{}
		for _, l := range current {
			count[l.typ]++
		}
		for _, l := range current {
			if visited[l.typ] {
				continue
			}
			visited[l.typ] = true
			for i := range l.typ.NumField() {
				sf := l.typ.Field(i)
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if sf.Anonymous {
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !validTagName(name) {
					name = ""
				}
				index := append(slices.Clone(l.index), i)
				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					f := field{name: name, sf: sf, index: index, tagged: name != "", viaPointer: l.viaPointer}
					if f.name == "" {
						f.name = sf.Name
					}
					for o := range strings.SplitSeq(opts, ",") {
						switch o {
						case "omitempty", "omitzero":
							f.omit = true
						case "string":
							switch ft.Kind() {
							case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
								reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
								reflect.Float32, reflect.Float64, reflect.String:
								f.quoted = true
							}
						}
					}
					fields = append(fields, f)
					if count[l.typ] > 1 {
						// Two embeddings of one type at one depth: the
						// duplicate makes the name ambiguous, so it is dropped.
						fields = append(fields, f)
					}
					continue
				}
				// Every embedding is queued, so that count sees a type
				// embedded twice at one depth; visited expands it once.
				next = append(next, level{typ: ft, index: index, viaPointer: l.viaPointer || sf.Type.Kind() == reflect.Pointer})
			}
		}
	}
	slices.SortStableFunc(fields, func(a, b field) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := len(a.index) - len(b.index); c != 0 {
			return c
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return 1
		}
		return slices.Compare(a.index, b.index)
	})
	var out []field
	for i := 0; i < len(fields); {
		j := i + 1
		for j < len(fields) && fields[j].name == fields[i].name {
			j++
		}
		group := fields[i:j]
		if len(group) == 1 || len(group[0].index) < len(group[1].index) || group[0].tagged && !group[1].tagged {
			out = append(out, group[0])
		}
		i = j
	}
	slices.SortFunc(out, func(a, b field) int { return slices.Compare(a.index, b.index) })
	return out
}

// validTagName reports whether encoding/json accepts name as a field name.
func validTagName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c > 127):
			return false
		}
	}
	return true
}
