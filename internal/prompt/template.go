package prompt

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MaxSectionDepth is how deeply sections may nest in one template.
const MaxSectionDepth = 8

// MaxTemplateBytes bounds the source text of one template.
const MaxTemplateBytes = 1 << 20

// MaxRenderedBytes bounds what one rendering may produce, so that a large
// array iterated by a section cannot make the renderer allocate without bound.
const MaxRenderedBytes = 8 << 20

// Template is a parsed template. It is immutable and safe for concurrent use.
type Template struct {
	nodes []node
}

type nodeKind int

const (
	textNode     nodeKind = iota
	varNode               // {{name}} or {{.}}
	sectionNode           // {{#name}}...{{/name}}
	invertedNode          // {{^name}}...{{/name}}
)

type node struct {
	kind     nodeKind
	text     string   // textNode: the literal text
	path     []string // varNode, sectionNode, invertedNode: nil for {{.}}
	name     string   // the name as written, for messages
	offset   int      // byte offset of the tag in the source
	children []node   // sectionNode, invertedNode
}

// ParseError reports a template that is not valid. Offset is the byte offset
// in the template source of the tag at fault.
type ParseError struct {
	Offset int
	Reason string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("template: offset %d: %s", e.Offset, e.Reason)
}

// token is one lexical piece of a template: literal text or a tag.
type token struct {
	text   string // literal text (tag == 0)
	tag    byte   // 0 for text; 'v' variable, '#', '^', '/'
	name   string
	path   []string
	offset int
}

// Parse parses a template. It accepts {{name}}, {{a.b}}, {{.}} inside a
// section, {{#name}}...{{/name}} and {{^name}}...{{/name}}; anything else
// between {{ and }} is an error naming its offset.
func Parse(text string) (*Template, error) {
	if len(text) > MaxTemplateBytes {
		return nil, &ParseError{Offset: MaxTemplateBytes, Reason: fmt.Sprintf("template is longer than %d bytes", MaxTemplateBytes)}
	}
	toks, err := lex(text)
	if err != nil {
		return nil, err
	}
	trimStandalone(toks)
	nodes, rest, err := build(toks, 0, nil)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		// build returns early only at a close tag, which it reports itself.
		return nil, &ParseError{Offset: rest[0].offset, Reason: "unexpected close tag"}
	}
	return &Template{nodes: nodes}, nil
}

func lex(src string) ([]token, error) {
	var toks []token
	pos := 0
	for pos < len(src) {
		open := strings.Index(src[pos:], "{{")
		if open < 0 {
			toks = append(toks, token{text: src[pos:], offset: pos})
			break
		}
		open += pos
		if open > pos {
			toks = append(toks, token{text: src[pos:open], offset: pos})
		}
		end := strings.Index(src[open+2:], "}}")
		if end < 0 {
			return nil, &ParseError{Offset: open, Reason: "unclosed tag: {{ without }}"}
		}
		end += open + 2
		tok, err := lexTag(src[open+2:end], open)
		if err != nil {
			return nil, err
		}
		toks = append(toks, tok)
		pos = end + 2
	}
	return toks, nil
}

func lexTag(body string, offset int) (token, error) {
	if body == "" {
		return token{}, &ParseError{Offset: offset, Reason: "empty tag {{}}"}
	}
	tok := token{tag: 'v', offset: offset}
	switch c := body[0]; c {
	case '#', '^', '/':
		tok.tag = c
		body = body[1:]
	case '>':
		return token{}, &ParseError{Offset: offset, Reason: "partials ({{>name}}) are not supported"}
	case '=':
		return token{}, &ParseError{Offset: offset, Reason: "changing delimiters ({{=...=}}) is not supported"}
	case '{', '&':
		return token{}, &ParseError{Offset: offset, Reason: fmt.Sprintf("{{%c is not supported: output is never escaped, write {{name}}", c)}
	case '!':
		return token{}, &ParseError{Offset: offset, Reason: "comments ({{!...}}) are not supported"}
	}
	name := strings.TrimSpace(body)
	tok.name = name
	if name == "" {
		return token{}, &ParseError{Offset: offset, Reason: "empty name"}
	}
	if name == "." {
		if tok.tag != 'v' {
			return token{}, &ParseError{Offset: offset, Reason: "{{.}} is only a value, not a section"}
		}
		return tok, nil
	}
	segs := strings.Split(name, ".")
	for _, s := range segs {
		if !validSegment(s) {
			return token{}, &ParseError{Offset: offset, Reason: fmt.Sprintf("invalid name %q: names are letters, digits and _ (not first), joined by dots", name)}
		}
	}
	tok.path = segs
	return tok, nil
}

func validSegment(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// trimStandalone removes the line of a section, inverted-section or close tag
// that stands alone on its line (only spaces or tabs beside it), as Mustache
// does, so that block tags on their own lines leave no blank lines behind.
func trimStandalone(toks []token) {
	type cut struct{ start, end int }
	cuts := make(map[int]*cut)
	cutOf := func(i int) *cut {
		if c, ok := cuts[i]; ok {
			return c
		}
		c := &cut{0, len(toks[i].text)}
		cuts[i] = c
		return c
	}
	for i, t := range toks {
		if t.tag != '#' && t.tag != '^' && t.tag != '/' {
			continue
		}
		// What precedes the tag on its line must be blank, and begin the line.
		prevOK, prevCut := false, -1
		switch {
		case i == 0:
			prevOK = true
		case toks[i-1].tag == 0:
			p := toks[i-1].text
			nl := strings.LastIndexByte(p, '\n')
			if blank(p[nl+1:]) && (nl >= 0 || i-1 == 0) {
				prevOK, prevCut = true, nl+1
			}
		}
		if !prevOK {
			continue
		}
		nextOK, nextCut := false, -1
		switch {
		case i == len(toks)-1:
			nextOK = true
		case toks[i+1].tag == 0:
			n := toks[i+1].text
			nl := strings.IndexByte(n, '\n')
			if nl < 0 && i+1 == len(toks)-1 && blank(n) {
				nextOK, nextCut = true, len(n)
			} else if nl >= 0 && blank(strings.TrimSuffix(n[:nl], "\r")) {
				nextOK, nextCut = true, nl+1
			}
		}
		if !nextOK {
			continue
		}
		if prevCut >= 0 {
			cutOf(i - 1).end = prevCut
		}
		if nextCut >= 0 {
			cutOf(i + 1).start = nextCut
		}
	}
	for i, c := range cuts {
		if c.start > c.end {
			c.start = c.end
		}
		toks[i].text = toks[i].text[c.start:c.end]
	}
}

func blank(s string) bool {
	return strings.Trim(s, " \t") == ""
}

// build turns tokens into a tree. It returns at the close tag of open (when
// open is not nil), with the tokens that follow it.
func build(toks []token, depth int, open *token) ([]node, []token, error) {
	var nodes []node
	for len(toks) > 0 {
		t := toks[0]
		toks = toks[1:]
		switch t.tag {
		case 0:
			if t.text != "" {
				nodes = append(nodes, node{kind: textNode, text: t.text, offset: t.offset})
			}
		case 'v':
			if t.path == nil && open == nil {
				return nil, nil, &ParseError{Offset: t.offset, Reason: "{{.}} outside a section"}
			}
			nodes = append(nodes, node{kind: varNode, path: t.path, name: t.name, offset: t.offset})
		case '#', '^':
			if depth >= MaxSectionDepth {
				return nil, nil, &ParseError{Offset: t.offset, Reason: fmt.Sprintf("sections nest deeper than %d", MaxSectionDepth)}
			}
			children, rest, err := build(toks, depth+1, &t)
			if err != nil {
				return nil, nil, err
			}
			k := sectionNode
			if t.tag == '^' {
				k = invertedNode
			}
			nodes = append(nodes, node{kind: k, path: t.path, name: t.name, offset: t.offset, children: children})
			toks = rest
		case '/':
			if open == nil {
				return nil, nil, &ParseError{Offset: t.offset, Reason: fmt.Sprintf("close tag {{/%s}} without an open section", t.name)}
			}
			if t.name != open.name {
				return nil, nil, &ParseError{Offset: t.offset, Reason: fmt.Sprintf("close tag {{/%s}} does not match {{%c%s}} at offset %d", t.name, open.tag, open.name, open.offset)}
			}
			return nodes, toks, nil
		}
	}
	if open != nil {
		return nil, nil, &ParseError{Offset: open.offset, Reason: fmt.Sprintf("unclosed section {{%c%s}}", open.tag, open.name)}
	}
	return nodes, nil, nil
}

// Render renders the template with vars, a JSON object as decoded by
// encoding/json (with or without UseNumber). Values are inserted verbatim as
// text and never parsed as template syntax. A missing variable, a null, or an
// object or array where text is expected is a *VariableError naming the
// variable's JSON pointer.
func (t *Template) Render(vars map[string]any) (string, error) {
	r := renderer{}
	if err := r.nodes(t.nodes, scope{value: vars}); err != nil {
		return "", err
	}
	return r.b.String(), nil
}

type renderer struct {
	b strings.Builder
	// limit is the size the output may reach; 0 means MaxRenderedBytes.
	limit int
}

// scope is the value names resolve against: the variables object at the top,
// the element inside a section. ptr is its JSON pointer.
type scope struct {
	value any
	ptr   string
}

func (r *renderer) write(s string) error {
	limit := r.limit
	if limit == 0 {
		limit = MaxRenderedBytes
	}
	if r.b.Len()+len(s) > limit {
		return &VariableError{Pointer: "", Reason: fmt.Sprintf("rendered text would exceed %d bytes", limit)}
	}
	r.b.WriteString(s)
	return nil
}

func (r *renderer) nodes(ns []node, sc scope) error {
	for i := range ns {
		n := &ns[i]
		switch n.kind {
		case textNode:
			if err := r.write(n.text); err != nil {
				return err
			}
		case varNode:
			v, ptr, found := lookup(sc, n.path)
			if !found {
				return &VariableError{Pointer: ptr, Reason: "is missing"}
			}
			s, err := scalarText(v)
			if err != nil {
				return &VariableError{Pointer: ptr, Reason: err.Error()}
			}
			if err := r.write(s); err != nil {
				return err
			}
		case sectionNode, invertedNode:
			v, ptr, found := lookup(sc, n.path)
			var arr []any
			if found && v != nil {
				a, ok := v.([]any)
				if !ok {
					return &VariableError{Pointer: ptr, Reason: fmt.Sprintf("is %s, a section needs an array", jsonKind(v))}
				}
				arr = a
			}
			if n.kind == invertedNode {
				if len(arr) == 0 {
					if err := r.nodes(n.children, sc); err != nil {
						return err
					}
				}
				continue
			}
			for j, el := range arr {
				if err := r.nodes(n.children, scope{value: el, ptr: ptr + "/" + strconv.Itoa(j)}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// lookup resolves path in sc. A nil path is {{.}}, the scope itself.
func lookup(sc scope, path []string) (v any, ptr string, found bool) {
	v, ptr = sc.value, sc.ptr
	for _, seg := range path {
		ptr += "/" + seg
		m, ok := v.(map[string]any)
		if !ok {
			return nil, ptr, false
		}
		v, ok = m[seg]
		if !ok {
			return nil, ptr, false
		}
	}
	return v, ptr, true
}

// scalarText formats a scalar as text: strings verbatim, numbers as in JSON,
// booleans as true and false.
func scalarText(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case json.Number:
		b, err := json.Marshal(v)
		if err != nil {
			return "", fmt.Errorf("is not a valid number")
		}
		return string(b), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "", fmt.Errorf("is not a finite number")
		}
		b, _ := json.Marshal(v)
		return string(b), nil
	case float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		b, err := json.Marshal(v)
		if err != nil {
			return "", fmt.Errorf("is not a finite number")
		}
		return string(b), nil
	case nil:
		return "", fmt.Errorf("is null, text is expected")
	case map[string]any, []any:
		return "", fmt.Errorf("is %s, text is expected", jsonKind(v))
	default:
		return "", fmt.Errorf("has unsupported type %T", v)
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	default:
		return "a number"
	}
}
