package prompt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp/syntax"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// schemaURL is the name a schema is compiled under. Schemas are compiled from
// memory only: no reference is ever loaded from a file or the network.
const schemaURL = "mem:///schema.json"

// refuseLoader refuses every external reference ($ref to a file or a URL).
type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external reference %q is not allowed: schemas must be self-contained", url)
}

// decodeJSON decodes one JSON value, keeping numbers exact, and refuses
// trailing data.
func decodeJSON(raw []byte) (any, error) {
	return jsonschema.UnmarshalJSON(bytes.NewReader(raw))
}

// compileSchema compiles a JSON Schema (draft 2020-12 unless it names
// another draft in $schema). When closed is true, object schemas that leave
// additionalProperties unset are closed first (see closeObjects).
func compileSchema(raw []byte, closed bool) (*jsonschema.Schema, error) {
	doc, err := decodeJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("schema is not valid JSON: %w", err)
	}
	if _, ok := doc.(map[string]any); !ok {
		if _, ok := doc.(bool); !ok {
			return nil, errors.New("schema must be a JSON object or boolean")
		}
	}
	if closed {
		closeObjects(doc, 0)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(refuseLoader{})
	c.AssertFormat()
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	return c.Compile(schemaURL)
}

// closeObjects makes validation strict by default: an object schema (one
// whose type is "object" or that lists properties) that sets none of
// additionalProperties, patternProperties and unevaluatedProperties gets
// additionalProperties: false. It descends through properties, items,
// prefixItems, additionalProperties, $defs and definitions, but not into
// allOf/anyOf/oneOf/not/if/then/else, where closing a branch would reject the
// properties its siblings allow. A schema that wants extra properties says so
// with additionalProperties: true.
func closeObjects(v any, depth int) {
	m, ok := v.(map[string]any)
	if !ok || depth > 64 {
		return
	}
	if isObjectSchema(m) {
		_, a := m["additionalProperties"]
		_, p := m["patternProperties"]
		_, u := m["unevaluatedProperties"]
		if !a && !p && !u {
			m["additionalProperties"] = false
		}
	}
	for _, kw := range []string{"properties", "$defs", "definitions"} {
		if sub, ok := m[kw].(map[string]any); ok {
			for _, s := range sub {
				closeObjects(s, depth+1)
			}
		}
	}
	closeObjects(m["items"], depth+1)
	closeObjects(m["additionalProperties"], depth+1)
	if arr, ok := m["prefixItems"].([]any); ok {
		for _, s := range arr {
			closeObjects(s, depth+1)
		}
	}
}

func isObjectSchema(m map[string]any) bool {
	if _, ok := m["properties"]; ok {
		return true
	}
	switch t := m["type"].(type) {
	case string:
		return t == "object"
	case []any:
		for _, x := range t {
			if x == "object" {
				return true
			}
		}
	}
	return false
}

// maxSchemaHops bounds the walk through $ref and allOf when the checks below
// look into a compiled schema, so that a recursive schema cannot loop.
const maxSchemaHops = 16

// property finds the schema of property name in s, looking through $ref and
// allOf. It returns nil when s does not declare the property.
func property(s *jsonschema.Schema, name string, hops int) *jsonschema.Schema {
	if s == nil || hops > maxSchemaHops {
		return nil
	}
	if p, ok := s.Properties[name]; ok {
		return p
	}
	if p := property(s.Ref, name, hops+1); p != nil {
		return p
	}
	for _, a := range s.AllOf {
		if p := property(a, name, hops+1); p != nil {
			return p
		}
	}
	return nil
}

// elements returns the schema of an array's elements, or nil when s leaves
// them unconstrained.
func elements(s *jsonschema.Schema, hops int) *jsonschema.Schema {
	if s == nil || hops > maxSchemaHops {
		return nil
	}
	if s.Items2020 != nil {
		return s.Items2020
	}
	if it, ok := s.Items.(*jsonschema.Schema); ok {
		return it
	}
	if e := elements(s.Ref, hops+1); e != nil {
		return e
	}
	for _, a := range s.AllOf {
		if e := elements(a, hops+1); e != nil {
			return e
		}
	}
	return nil
}

// types returns the types s allows ("string", "array", ...), looking through
// $ref and allOf; nil means any type.
func types(s *jsonschema.Schema, hops int) []string {
	if s == nil || hops > maxSchemaHops {
		return nil
	}
	if s.Types != nil {
		return s.Types.ToStrings()
	}
	if t := types(s.Ref, hops+1); t != nil {
		return t
	}
	for _, a := range s.AllOf {
		if t := types(a, hops+1); t != nil {
			return t
		}
	}
	return nil
}

// bounded reports whether every value s accepts is one the prompt's author
// chose or can only spell a number or boolean: s (or its $ref, or one of its
// allOf) has enum or const, or allows only integers, numbers and booleans, or
// allows only strings and has a pattern anchored at both ends (^...$), so that
// no free text reaches a system message.
func bounded(s *jsonschema.Schema, hops int) bool {
	if s == nil || hops > maxSchemaHops {
		return false
	}
	if s.Bool != nil {
		return !*s.Bool // false accepts nothing
	}
	if s.Enum != nil || s.Const != nil {
		return true
	}
	if ts := s.Types; ts != nil {
		onlyScalar, onlyString := true, true
		for _, t := range ts.ToStrings() {
			switch t {
			case "integer", "number", "boolean":
				onlyString = false
			case "string":
				onlyScalar = false
			default:
				onlyScalar, onlyString = false, false
			}
		}
		if onlyScalar {
			return true
		}
		if onlyString && s.Pattern != nil && anchored(s.Pattern.String()) {
			return true
		}
	}
	if bounded(s.Ref, hops+1) {
		return true
	}
	for _, a := range s.AllOf {
		if bounded(a, hops+1) {
			return true
		}
	}
	return false
}

// anchored reports whether a pattern must match the whole string: it begins
// with ^ and ends with $ (or \z) at the top level, not in one alternative.
func anchored(pattern string) bool {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return false
	}
	if re.Op != syntax.OpConcat || len(re.Sub) < 2 {
		return false
	}
	return re.Sub[0].Op == syntax.OpBeginText && re.Sub[len(re.Sub)-1].Op == syntax.OpEndText
}

// VariableError is one problem with the variables of a rendering. Pointer is
// the RFC 6901 JSON pointer of the variable at fault ("/text", "/items/2"),
// "" for the variables object itself.
type VariableError struct {
	Pointer string
	Reason  string
}

func (e *VariableError) Error() string {
	p := e.Pointer
	if p == "" {
		p = "/"
	}
	return fmt.Sprintf("variable %s: %s", p, e.Reason)
}

// VariableErrors is every problem found with the variables of a rendering,
// sorted by pointer. errors.As finds each *VariableError in it.
type VariableErrors []*VariableError

func (es VariableErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap lets errors.As and errors.Is see each VariableError.
func (es VariableErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// variableErrors turns a validation error into one VariableError per failed
// leaf keyword. Reasons never quote the value, which may be large or hostile.
func variableErrors(err error) VariableErrors {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return VariableErrors{{Pointer: "", Reason: err.Error()}}
	}
	var out VariableErrors
	seen := map[VariableError]bool{}
	add := func(ptr, reason string) {
		k := VariableError{Pointer: ptr, Reason: reason}
		if !seen[k] {
			seen[k] = true
			out = append(out, &k)
		}
	}
	var walk func(e *jsonschema.ValidationError, depth int)
	walk = func(e *jsonschema.ValidationError, depth int) {
		if len(e.Causes) > 0 && depth < 32 {
			for _, c := range e.Causes {
				walk(c, depth+1)
			}
			return
		}
		ptr := pointer(e.InstanceLocation)
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, m := range k.Missing {
				add(ptr+"/"+escapePointer(m), "is required")
			}
		case *kind.AdditionalProperties:
			for _, p := range k.Properties {
				add(ptr+"/"+escapePointer(p), "is not allowed")
			}
		default:
			add(ptr, reason(e.ErrorKind))
		}
	}
	walk(ve, 0)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pointer < out[j].Pointer })
	if len(out) > MaxVariableErrors {
		n := len(out) - MaxVariableErrors
		out = append(out[:MaxVariableErrors], &VariableError{Pointer: "", Reason: fmt.Sprintf("and %d more problems", n)})
	}
	return out
}

// MaxVariableErrors bounds the problems one rendering reports, so that a
// large array of wrong elements does not make a large error.
const MaxVariableErrors = 20

func reason(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Type:
		return fmt.Sprintf("must be %s, not %s", strings.Join(k.Want, " or "), k.Got)
	case *kind.Enum:
		return "must be one of the allowed values"
	case *kind.Const:
		return "must be the constant value"
	case *kind.Pattern:
		return fmt.Sprintf("does not match pattern %s", k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("is longer than %d characters", k.Want)
	case *kind.MinLength:
		return fmt.Sprintf("is shorter than %d characters", k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("has more than %d items", k.Want)
	case *kind.MinItems:
		return fmt.Sprintf("has fewer than %d items", k.Want)
	case *kind.FalseSchema:
		return "is not allowed"
	case *kind.Format:
		return fmt.Sprintf("is not a valid %s", k.Want)
	}
	if kw := k.KeywordPath(); len(kw) > 0 {
		return "fails " + strings.Join(kw, "/")
	}
	return "is not valid"
}

func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(escapePointer(t))
	}
	return b.String()
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// StrictVariables returns the version's variables schema as it validates:
// with additionalProperties: false added where strictness adds it (see
// closeObjects). It is the request schema a generated API document shows.
func (c *Compiled) StrictVariables() (json.RawMessage, error) {
	raw := c.version.Variables
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = emptyVariables
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	closeObjects(doc, 0)
	return json.Marshal(doc)
}
