package prompt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Message is one chat message of a prompt version: a role and the template
// of its content (as written) or, after rendering, the text sent upstream.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Version is one immutable, numbered version of a prompt.
type Version struct {
	Number   int       `json:"version"`
	Messages []Message `json:"messages"`
	// Model is the Sluice model name the prompt calls.
	Model string `json:"model"`
	// Params are the default request parameters (temperature, max_tokens,
	// tools, response_format, ...), a JSON object passed on as written.
	Params json.RawMessage `json:"params,omitempty"`
	// Variables is the JSON Schema of the variables object.
	Variables json.RawMessage `json:"variables,omitempty"`
	// Output is an optional JSON Schema for the model's output.
	Output json.RawMessage `json:"output,omitempty"`
	// Message and Author describe the change that made this version.
	Message string    `json:"message,omitempty"`
	Author  string    `json:"author,omitempty"`
	Created time.Time `json:"created"`
}

// Roles a prompt message may have. Developer messages are instructions like
// system messages and obey the same rule for variables.
var roles = map[string]bool{"system": true, "user": true, "assistant": true, "developer": true}

// instructionRole reports whether variables in a message of this role must be
// bounded by their schema.
func instructionRole(role string) bool { return role == "system" || role == "developer" }

// MaxMessages bounds the messages of one version.
const MaxMessages = 256

// Compiled is a version checked and ready to render. It is immutable and safe
// for concurrent use.
type Compiled struct {
	version   Version
	templates []*Template
	variables *jsonschema.Schema
	output    *jsonschema.Schema // nil when the version has no output schema
}

// emptyVariables is the schema of a version that declares no variables.
var emptyVariables = json.RawMessage(`{"type":"object","properties":{}}`)

// Compile checks a version and prepares it for rendering. It parses every
// message's template, compiles the variables and output schemas, and refuses
// a version whose templates reference a variable the schema does not declare,
// whose system or developer messages reference a variable the schema does not
// bound (enum, const, an anchored pattern on a string, or a number or boolean
// type), or whose roles are not system, user, assistant or developer. Every
// problem is reported, joined.
func Compile(v Version) (*Compiled, error) {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if strings.TrimSpace(v.Model) == "" {
		fail("model: is required")
	}
	if len(v.Messages) == 0 {
		fail("messages: at least one message is required")
	}
	if len(v.Messages) > MaxMessages {
		return nil, fmt.Errorf("messages: more than %d", MaxMessages)
	}
	if len(v.Params) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(v.Params, &obj); err != nil || obj == nil {
			fail("params: must be a JSON object")
		}
	}
	c := &Compiled{version: v, templates: make([]*Template, len(v.Messages))}
	vars := v.Variables
	if len(bytes.TrimSpace(vars)) == 0 {
		vars = emptyVariables
	}
	if err := checkRootObject(vars); err != nil {
		fail("variables: %v", err)
	} else if s, err := compileSchema(vars, true); err != nil {
		fail("variables: %v", err)
	} else {
		c.variables = s
	}
	if len(bytes.TrimSpace(v.Output)) > 0 {
		s, err := compileSchema(v.Output, false)
		if err != nil {
			fail("output: %v", err)
		}
		c.output = s
	}
	for i, m := range v.Messages {
		if !roles[m.Role] {
			fail("messages[%d].role: %q is not one of system, user, assistant, developer", i, m.Role)
		}
		t, err := Parse(m.Content)
		if err != nil {
			fail("messages[%d].content: %w", i, err)
			continue
		}
		c.templates[i] = t
		if c.variables != nil {
			for _, err := range checkRefs(t.nodes, c.variables, "", instructionRole(m.Role)) {
				fail("messages[%d].content: %w", i, err)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// checkRootObject requires the variables schema to describe an object.
func checkRootObject(raw []byte) error {
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil || root == nil {
		return errors.New("schema must be a JSON object")
	}
	if root["type"] != "object" {
		return errors.New(`schema must say "type": "object"`)
	}
	return nil
}

// checkRefs checks every reference in nodes against the schema of its scope
// (the variables object, or an array's elements inside a section). where is
// the section path, for messages.
func checkRefs(nodes []node, sc *jsonschema.Schema, where string, instruction bool) []error {
	var errs []error
	for i := range nodes {
		n := &nodes[i]
		if n.kind == textNode {
			continue
		}
		name := where + n.name
		if n.path == nil {
			name = strings.TrimSuffix(where, ".")
		}
		s := sc
		if n.path != nil {
			for _, seg := range n.path {
				s = property(s, seg, 0)
				if s == nil {
					break
				}
			}
			if s == nil {
				errs = append(errs, &ParseError{Offset: n.offset, Reason: fmt.Sprintf("variable %s is not declared in the variables schema's properties", name)})
				continue
			}
		} else if s == nil && instruction {
			errs = append(errs, &ParseError{Offset: n.offset, Reason: fmt.Sprintf("{{.}} in %s is not bounded: its array schema has no items", where)})
			continue
		}
		switch n.kind {
		case varNode:
			if ts := types(s, 0); ts != nil && !allowsScalar(ts) {
				errs = append(errs, &ParseError{Offset: n.offset, Reason: fmt.Sprintf("variable %s is declared as %s, text is expected", name, strings.Join(ts, " or "))})
			}
			if instruction && !bounded(s, 0) {
				errs = append(errs, &ParseError{Offset: n.offset, Reason: fmt.Sprintf("variable %s is in a system or developer message but its schema does not bound it (give it enum, const, an anchored pattern, or an integer, number or boolean type)", name)})
			}
		case sectionNode, invertedNode:
			if ts := types(s, 0); ts != nil && !contains(ts, "array") {
				errs = append(errs, &ParseError{Offset: n.offset, Reason: fmt.Sprintf("section %s is declared as %s, a section needs an array", name, strings.Join(ts, " or "))})
			}
			inner, innerWhere := sc, where
			if n.kind == sectionNode {
				inner, innerWhere = elements(s, 0), name+"[]."
			}
			errs = append(errs, checkRefs(n.children, inner, innerWhere, instruction)...)
		}
	}
	return errs
}

func allowsScalar(ts []string) bool {
	for _, t := range ts {
		switch t {
		case "string", "integer", "number", "boolean":
			return true
		}
	}
	return false
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Version returns the version c was compiled from.
func (c *Compiled) Version() Version { return c.version }

// Render validates raw, the variables object, against the version's schema
// and renders every message. Problems with the variables are reported as
// VariableErrors (every one found, each naming its JSON pointer) and nothing
// is rendered. The result has as many messages as the version, with the same
// roles, whatever the values: values are text inside their message and are
// never parsed as template syntax. Empty raw means {}.
func (c *Compiled) Render(raw json.RawMessage) ([]Message, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	doc, err := decodeJSON(raw)
	if err != nil {
		return nil, VariableErrors{{Pointer: "", Reason: "variables are not valid JSON"}}
	}
	vars, ok := doc.(map[string]any)
	if !ok {
		return nil, VariableErrors{{Pointer: "", Reason: "variables must be a JSON object"}}
	}
	if err := c.variables.Validate(doc); err != nil {
		return nil, variableErrors(err)
	}
	out := make([]Message, len(c.templates))
	r := renderer{}
	for i, t := range c.templates {
		start := r.b.Len()
		if err := r.nodes(t.nodes, scope{value: vars}); err != nil {
			var ve *VariableError
			if errors.As(err, &ve) {
				return nil, VariableErrors{ve}
			}
			return nil, err
		}
		out[i] = Message{Role: c.version.Messages[i].Role, Content: r.b.String()[start:]}
	}
	return out, nil
}

// ValidateOutput checks a model's output text against the version's output
// schema; it returns nil when the version has none.
func (c *Compiled) ValidateOutput(text string) error {
	if c.output == nil {
		return nil
	}
	doc, err := decodeJSON([]byte(text))
	if err != nil {
		return VariableErrors{{Pointer: "", Reason: "output is not valid JSON"}}
	}
	if err := c.output.Validate(doc); err != nil {
		return variableErrors(err)
	}
	return nil
}
