package gemini

import (
	"encoding/json"
	"strings"
)

// node is a JSON value parsed with its object keys in order and its scalars
// and opaque values kept as their original bytes. It lets the codec rewrite
// the structure of a request (snake_case keys, single objects given for
// repeated fields, OpenAPI schemas) without reordering or re-encoding the
// values it does not touch.
type node struct {
	kind byte   // '{', '[' or 0 for a scalar
	raw  []byte // a scalar's bytes
	keys []string
	vals []*node // an object's values, parallel to keys; an array's elements
}

// maxDepth bounds the nesting parseTree accepts, so that hostile input
// cannot exhaust the stack.
const maxDepth = 512

// parseTree parses b, which must be valid JSON (check with json.Valid).
func parseTree(b []byte) (*node, bool) {
	p := treeParser{b: b}
	n, ok := p.value(0)
	return n, ok
}

type treeParser struct {
	b []byte
	i int
}

func (p *treeParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *treeParser) value(depth int) (*node, bool) {
	if depth > maxDepth {
		return nil, false
	}
	p.ws()
	if p.i >= len(p.b) {
		return nil, false
	}
	switch p.b[p.i] {
	case '{':
		p.i++
		n := &node{kind: '{'}
		for {
			p.ws()
			if p.i >= len(p.b) {
				return nil, false
			}
			if p.b[p.i] == '}' {
				p.i++
				return n, true
			}
			if p.b[p.i] == ',' {
				p.i++
				continue
			}
			start := p.i
			if !p.str() {
				return nil, false
			}
			var key string
			if json.Unmarshal(p.b[start:p.i], &key) != nil {
				return nil, false
			}
			p.ws()
			if p.i >= len(p.b) || p.b[p.i] != ':' {
				return nil, false
			}
			p.i++
			v, ok := p.value(depth + 1)
			if !ok {
				return nil, false
			}
			n.keys = append(n.keys, key)
			n.vals = append(n.vals, v)
		}
	case '[':
		p.i++
		n := &node{kind: '['}
		for {
			p.ws()
			if p.i >= len(p.b) {
				return nil, false
			}
			if p.b[p.i] == ']' {
				p.i++
				return n, true
			}
			if p.b[p.i] == ',' {
				p.i++
				continue
			}
			v, ok := p.value(depth + 1)
			if !ok {
				return nil, false
			}
			n.vals = append(n.vals, v)
		}
	case '"':
		start := p.i
		if !p.str() {
			return nil, false
		}
		return &node{raw: p.b[start:p.i]}, true
	default:
		start := p.i
		for p.i < len(p.b) {
			c := p.b[p.i]
			if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				break
			}
			p.i++
		}
		if p.i == start {
			return nil, false
		}
		return &node{raw: p.b[start:p.i]}, true
	}
}

// str advances over a string literal.
func (p *treeParser) str() bool {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return false
	}
	p.i++
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case '\\':
			p.i += 2
		case '"':
			p.i++
			return true
		default:
			p.i++
		}
	}
	return false
}

// appendJSON appends n's JSON form.
func (n *node) appendJSON(dst []byte) []byte {
	switch n.kind {
	case '{':
		dst = append(dst, '{')
		for i, k := range n.keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = n.vals[i].appendJSON(dst)
		}
		return append(dst, '}')
	case '[':
		dst = append(dst, '[')
		for i, v := range n.vals {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = v.appendJSON(dst)
		}
		return append(dst, ']')
	}
	return append(dst, n.raw...)
}

func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// get returns the value of key in object n, or nil.
func (n *node) get(key string) *node {
	if n == nil || n.kind != '{' {
		return nil
	}
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// del removes key from object n.
func (n *node) del(key string) {
	for i, k := range n.keys {
		if k == key {
			n.keys = append(n.keys[:i], n.keys[i+1:]...)
			n.vals = append(n.vals[:i], n.vals[i+1:]...)
			return
		}
	}
}

// set replaces or appends key in object n.
func (n *node) set(key string, v *node) {
	for i, k := range n.keys {
		if k == key {
			n.vals[i] = v
			return
		}
	}
	n.keys = append(n.keys, key)
	n.vals = append(n.vals, v)
}

// stringValue returns the value of a string scalar.
func (n *node) stringValue() (string, bool) {
	if n == nil || n.kind != 0 || len(n.raw) == 0 || n.raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(n.raw, &s) != nil {
		return "", false
	}
	return s, true
}

func stringNode(s string) *node { return &node{raw: appendString(nil, s)} }

// camel turns a snake_case protobuf field name into its JSON (lowerCamel)
// name; other names are returned unchanged.
func camel(s string) string {
	if !strings.Contains(s, "_") || strings.HasPrefix(s, "_") || strings.HasPrefix(s, "@") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	up := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			up = true
			continue
		}
		if up && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		b.WriteByte(c)
	}
	return b.String()
}

// opaqueKeys hold user data (function arguments and results, schemas,
// metadata) whose keys must not be rewritten.
var opaqueKeys = map[string]bool{
	"args":                 true,
	"response":             true,
	"parameters":           true,
	"parametersJsonSchema": true,
	"responseSchema":       true,
	"responseJsonSchema":   true,
	"partMetadata":         true,
	"labels":               true,
	"metadata":             true,
	"partialArgs":          true,
}

// repeatedKeys are repeated protobuf fields: Google's JSON parser accepts a
// single object in their place, as its own documentation's examples do.
var repeatedKeys = map[string]bool{
	"contents":             true,
	"parts":                true,
	"tools":                true,
	"functionDeclarations": true,
	"safetySettings":       true,
	"stopSequences":        true,
	"allowedFunctionNames": true,
	"responseModalities":   true,
}

// canonicalize rewrites a request tree in place to the shape the wire types
// decode: snake_case keys become lowerCamel and a single object (or string)
// given for a repeated field becomes a one-element array. Opaque values are
// left untouched.
func canonicalize(n *node) {
	switch n.kind {
	case '{':
		for i, k := range n.keys {
			ck := camel(k)
			n.keys[i] = ck
			v := n.vals[i]
			if opaqueKeys[ck] {
				continue
			}
			if repeatedKeys[ck] && v.kind != '[' && !(v.kind == 0 && string(v.raw) == "null") {
				v = &node{kind: '[', vals: []*node{v}}
				n.vals[i] = v
			}
			canonicalize(v)
		}
	case '[':
		for _, v := range n.vals {
			canonicalize(v)
		}
	}
}
