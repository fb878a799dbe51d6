package gemini

import (
	"encoding/json"
	"strings"
)

// schemaKeys are the snake_case names of the fields of Gemini's Schema
// message, which the API accepts beside their lowerCamel names. Property
// names inside "properties" are user data and never rewritten.
var schemaKeys = map[string]string{
	"any_of":            "anyOf",
	"max_items":         "maxItems",
	"min_items":         "minItems",
	"max_length":        "maxLength",
	"min_length":        "minLength",
	"max_properties":    "maxProperties",
	"min_properties":    "minProperties",
	"property_ordering": "propertyOrdering",
}

// openAPIToJSONSchema converts a schema in Gemini's OpenAPI subset
// (functionDeclarations[].parameters, generationConfig.responseSchema) to
// the JSON Schema the canonical model carries: types in lower case,
// "nullable" folded into the type, and the Gemini-only "propertyOrdering"
// removed. Key order is kept. A value that is not a JSON object is returned
// unchanged.
func openAPIToJSONSchema(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || !json.Valid(raw) {
		return raw
	}
	n, ok := parseTree(raw)
	if !ok || n.kind != '{' {
		return raw
	}
	convertSchema(n)
	return n.appendJSON(nil)
}

func convertSchema(n *node) {
	if n == nil || n.kind != '{' {
		return
	}
	for i, k := range n.keys {
		if ck, ok := schemaKeys[k]; ok {
			n.keys[i] = ck
		}
	}
	n.del("propertyOrdering")
	if t := n.get("type"); t != nil {
		if s, ok := t.stringValue(); ok {
			s = strings.ToLower(s)
			if s == "type_unspecified" || s == "" {
				n.del("type")
			} else {
				n.set("type", stringNode(s))
			}
		}
	}
	if nb := n.get("nullable"); nb != nil {
		n.del("nullable")
		if string(nb.raw) == "true" {
			if s, ok := n.get("type").stringValue(); ok {
				n.set("type", &node{kind: '[', vals: []*node{stringNode(s), stringNode("null")}})
			}
		}
	}
	if props := n.get("properties"); props != nil && props.kind == '{' {
		for _, v := range props.vals {
			convertSchema(v)
		}
	}
	convertSchema(n.get("items"))
	if any := n.get("anyOf"); any != nil && any.kind == '[' {
		for _, v := range any.vals {
			convertSchema(v)
		}
	}
}
