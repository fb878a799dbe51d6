package openapi

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file holds two small checkers used by the tests: validateDocument,
// a structural check of an OpenAPI 3.1 document, and validateInstance, a
// JSON Schema check of a value against the keywords the generator writes.

var (
	componentName = regexp.MustCompile(`^[a-zA-Z0-9.\-_]+$`)
	statusKey     = regexp.MustCompile(`^[1-5][0-9][0-9]$`)
	templateParam = regexp.MustCompile(`\{([^{}/]+)\}`)
	httpMethods   = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
	// The JSON Schema 2020-12 keywords (core, applicator, validation,
	// unevaluated, format, content, meta-data), plus OpenAPI's own.
	schemaKeywords = strings.Fields(`$schema $id $ref $anchor $dynamicRef $dynamicAnchor $vocabulary $comment $defs
		allOf anyOf oneOf not if then else dependentSchemas prefixItems items contains properties patternProperties
		additionalProperties propertyNames unevaluatedItems unevaluatedProperties
		type enum const multipleOf maximum exclusiveMaximum minimum exclusiveMinimum maxLength minLength pattern
		maxItems minItems uniqueItems maxContains minContains maxProperties minProperties required dependentRequired
		format contentEncoding contentMediaType contentSchema
		title description default deprecated readOnly writeOnly examples
		discriminator xml externalDocs example`)
	typeNames = []string{"null", "boolean", "object", "array", "number", "string", "integer"}
)

// standardErrors are the error statuses every operation must document.
var standardErrors = []string{"400", "401", "403", "404", "409", "412", "428", "429", "500"}

// validateDocument checks the structure of an OpenAPI 3.1 document and
// returns every problem found.
func validateDocument(raw []byte) []string {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	if doc["openapi"] != "3.1.0" {
		bad("openapi is %v, want 3.1.0", doc["openapi"])
	}
	if info, _ := doc["info"].(map[string]any); info == nil || info["title"] == nil || info["version"] == nil {
		bad("info lacks title or version")
	}
	for k := range doc {
		if !slices.Contains([]string{"openapi", "info", "jsonSchemaDialect", "servers", "paths", "webhooks", "components", "security", "tags", "externalDocs"}, k) && !strings.HasPrefix(k, "x-") {
			bad("unknown top-level field %q", k)
		}
	}

	// Every $ref resolves.
	walk(doc, "#", func(ptr string, m map[string]any) {
		if r, ok := m["$ref"]; ok {
			s, _ := r.(string)
			if _, err := resolve(doc, s); err != nil {
				bad("%s: $ref %v: %v", ptr, r, err)
			}
		}
	})

	comps, _ := doc["components"].(map[string]any)
	schemes, _ := comps["securitySchemes"].(map[string]any)
	for kind, v := range comps {
		m, _ := v.(map[string]any)
		for name := range m {
			if !componentName.MatchString(name) {
				bad("components/%s/%s: bad component name", kind, name)
			}
		}
	}
	for name, v := range comps["schemas"].(map[string]any) {
		checkSchema(doc, "#/components/schemas/"+name, v, bad)
	}
	for name, v := range asMap(comps["parameters"]) {
		checkParameter(doc, "#/components/parameters/"+name, v, bad)
	}
	for name, v := range asMap(comps["headers"]) {
		checkSchema(doc, "#/components/headers/"+name+"/schema", asMap(v)["schema"], bad)
	}
	for name, v := range asMap(comps["responses"]) {
		checkResponse(doc, "#/components/responses/"+name, v, bad)
	}
	for name, v := range schemes {
		s := asMap(v)
		switch s["type"] {
		case "http":
			if s["scheme"] == nil {
				bad("securityScheme %s: http without scheme", name)
			}
		case "apiKey":
			if !slices.Contains([]any{"query", "header", "cookie"}, s["in"]) || s["name"] == nil {
				bad("securityScheme %s: apiKey needs name and in", name)
			}
		default:
			bad("securityScheme %s: type %v", name, s["type"])
		}
	}

	ids := map[string]string{}
	shapes := map[string]string{}
	paths, _ := doc["paths"].(map[string]any)
	if paths == nil {
		bad("no paths object")
	}
	for path, item := range paths {
		if !strings.HasPrefix(path, "/") {
			bad("path %q does not start with /", path)
		}
		shape := templateParam.ReplaceAllString(path, "{}")
		if other, ok := shapes[shape]; ok {
			bad("paths %q and %q differ only in parameter names", path, other)
		}
		shapes[shape] = path
		var tmpl []string
		for _, m := range templateParam.FindAllStringSubmatch(path, -1) {
			tmpl = append(tmpl, m[1])
		}
		slices.Sort(tmpl)
		if strings.Count(path, "{") != len(tmpl) || strings.Count(path, "}") != len(tmpl) {
			bad("path %q: unbalanced braces", path)
		}
		for method, v := range asMap(item) {
			where := path + " " + method
			if !slices.Contains(httpMethods, method) {
				bad("%s: not an HTTP method", where)
				continue
			}
			op := asMap(v)
			id, _ := op["operationId"].(string)
			if id == "" {
				bad("%s: no operationId", where)
			} else if other, dup := ids[id]; dup {
				bad("%s: operationId %q also used by %s", where, id, other)
			} else {
				ids[id] = where
			}
			var declared []string
			seen := map[string]bool{}
			for i, pv := range asSlice(op["parameters"]) {
				p := asMap(deref(doc, pv))
				checkParameter(doc, fmt.Sprintf("%s parameters[%d]", where, i), p, bad)
				key := fmt.Sprint(p["in"], ":", p["name"])
				if seen[key] {
					bad("%s: parameter %s declared twice", where, key)
				}
				seen[key] = true
				if p["in"] == "path" {
					declared = append(declared, fmt.Sprint(p["name"]))
				}
			}
			slices.Sort(declared)
			if !slices.Equal(declared, tmpl) {
				bad("%s: path parameters declared %v, template has %v", where, declared, tmpl)
			}
			if rb := op["requestBody"]; rb != nil {
				for mt, v := range asMap(asMap(deref(doc, rb))["content"]) {
					checkSchema(doc, where+" requestBody "+mt, asMap(v)["schema"], bad)
				}
			}
			resps := asMap(op["responses"])
			if len(resps) == 0 {
				bad("%s: no responses", where)
			}
			success := false
			for code, rv := range resps {
				if !statusKey.MatchString(code) && code != "default" {
					bad("%s: response key %q", where, code)
				}
				success = success || code < "400"
				checkResponse(doc, where+" "+code, deref(doc, rv), bad)
			}
			if !success {
				bad("%s: no success response", where)
			}
			for _, code := range standardErrors {
				r, _ := resps[code].(map[string]any)
				if r == nil {
					bad("%s: no %s response", where, code)
					continue
				}
				s := asMap(asMap(asMap(deref(doc, r))["content"])["application/json"])["schema"]
				if asMap(s)["$ref"] != "#/components/schemas/Error" {
					bad("%s: the %s response is not the Error schema", where, code)
				}
			}
			sec, ok := op["security"].([]any)
			if !ok {
				bad("%s: no security array", where)
			}
			for _, req := range sec {
				for name, scopes := range asMap(req) {
					if schemes[name] == nil {
						bad("%s: security names unknown scheme %q", where, name)
					}
					if sl, ok := scopes.([]any); !ok || len(sl) != 0 {
						bad("%s: scheme %q scopes %v, want []", where, name, scopes)
					}
				}
			}
		}
	}
	slices.Sort(errs)
	return errs
}

func checkParameter(doc map[string]any, where string, v any, bad func(string, ...any)) {
	p := asMap(v)
	if p["name"] == nil || !slices.Contains([]any{"query", "header", "path", "cookie"}, p["in"]) {
		bad("%s: parameter needs name and in", where)
	}
	if p["in"] == "path" && p["required"] != true {
		bad("%s: path parameter %v is not required", where, p["name"])
	}
	checkSchema(doc, where+" schema", p["schema"], bad)
}

func checkResponse(doc map[string]any, where string, v any, bad func(string, ...any)) {
	r := asMap(v)
	if _, ok := r["description"].(string); !ok {
		bad("%s: response without description", where)
	}
	for mt, m := range asMap(r["content"]) {
		checkSchema(doc, where+" "+mt, asMap(m)["schema"], bad)
	}
	for name, h := range asMap(r["headers"]) {
		if hm := asMap(h); hm["$ref"] == nil {
			checkSchema(doc, where+" header "+name, hm["schema"], bad)
		}
	}
}

// checkSchema checks that v is a schema written with 2020-12 keywords only.
func checkSchema(doc map[string]any, where string, v any, bad func(string, ...any)) {
	if _, ok := v.(bool); ok {
		return // true and false are schemas
	}
	s, ok := v.(map[string]any)
	if !ok {
		bad("%s: schema is %T", where, v)
		return
	}
	for k, sub := range s {
		if !slices.Contains(schemaKeywords, k) && !strings.HasPrefix(k, "x-") {
			bad("%s: %q is not a JSON Schema 2020-12 keyword", where, k)
		}
		switch k {
		case "type":
			var ts []any
			if str, ok := sub.(string); ok {
				ts = []any{str}
			} else {
				ts, _ = sub.([]any)
			}
			if len(ts) == 0 {
				bad("%s: empty type", where)
			}
			for i, t := range ts {
				if !slices.Contains(typeNames, fmt.Sprint(t)) || slices.Contains(ts[:i], t) {
					bad("%s: type %v", where, sub)
				}
			}
		case "properties", "$defs", "patternProperties", "dependentSchemas":
			for name, p := range asMap(sub) {
				checkSchema(doc, where+"/"+k+"/"+name, p, bad)
			}
		case "items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else",
			"unevaluatedItems", "unevaluatedProperties", "contentSchema":
			checkSchema(doc, where+"/"+k, sub, bad)
		case "anyOf", "oneOf", "allOf", "prefixItems":
			if len(asSlice(sub)) == 0 {
				bad("%s: empty %s", where, k)
			}
			for i, p := range asSlice(sub) {
				checkSchema(doc, fmt.Sprintf("%s/%s/%d", where, k, i), p, bad)
			}
		case "required":
			for _, name := range asSlice(sub) {
				if _, ok := asMap(s["properties"])[fmt.Sprint(name)]; !ok {
					bad("%s: required %v is not among the properties", where, name)
				}
			}
		case "enum":
			if len(asSlice(sub)) == 0 {
				bad("%s: empty enum", where)
			}
		}
	}
}

// walk calls fn on every object in v, with its JSON pointer.
func walk(v any, ptr string, fn func(string, map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		fn(ptr, x)
		for k, c := range x {
			walk(c, ptr+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(k), fn)
		}
	case []any:
		for i, c := range x {
			walk(c, ptr+"/"+strconv.Itoa(i), fn)
		}
	}
}

// resolve follows a local JSON pointer reference ("#/a/b").
func resolve(doc map[string]any, ref string) (any, error) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("not a local reference")
	}
	var cur any = doc
	for _, tok := range strings.Split(rest, "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%q: not an object", tok)
		}
		if cur, ok = m[tok]; !ok {
			return nil, fmt.Errorf("%q: no such member", tok)
		}
	}
	return cur, nil
}

// deref follows v's $ref, if any (one level, as OpenAPI objects use).
func deref(doc map[string]any, v any) any {
	if r, ok := asMap(v)["$ref"].(string); ok {
		if t, err := resolve(doc, r); err == nil {
			return t
		}
	}
	return v
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
func asSlice(v any) []any        { s, _ := v.([]any); return s }

// validateInstance checks the JSON value inst (as decoded into any)
// against schema s of document doc, for the keywords the generator writes.
// It is stricter than JSON Schema in one way: an object schema with
// properties and no additionalProperties admits no other member, so that
// a field encoding/json writes but the schema lacks is caught.
func validateInstance(doc map[string]any, s any, inst any, where string) error {
	if b, ok := s.(bool); ok {
		if !b {
			return fmt.Errorf("%s: false schema", where)
		}
		return nil
	}
	sm := asMap(s)
	if r, ok := sm["$ref"].(string); ok {
		t, err := resolve(doc, r)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if err := validateInstance(doc, t, inst, where); err != nil {
			return err
		}
	}
	if alts, ok := sm["anyOf"].([]any); ok {
		var errs []string
		for _, a := range alts {
			err := validateInstance(doc, a, inst, where)
			if err == nil {
				errs = nil
				break
			}
			errs = append(errs, err.Error())
		}
		if errs != nil {
			return fmt.Errorf("%s: no anyOf branch matches: %s", where, strings.Join(errs, "; "))
		}
	}
	if t, ok := sm["type"]; ok {
		types := asSlice(t)
		if str, ok := t.(string); ok {
			types = []any{str}
		}
		if !slices.ContainsFunc(types, func(t any) bool { return isType(inst, t.(string)) }) {
			return fmt.Errorf("%s: %v (%T) is not of type %v", where, inst, inst, t)
		}
	}
	if e, ok := sm["enum"].([]any); ok && !slices.ContainsFunc(e, func(v any) bool { return reflect.DeepEqual(v, inst) }) {
		return fmt.Errorf("%s: %v is not in enum %v", where, inst, e)
	}
	if min, ok := sm["minimum"].(float64); ok {
		if n, isNum := inst.(float64); isNum && n < min {
			return fmt.Errorf("%s: %v < minimum %v", where, n, min)
		}
	}
	if sm["format"] == "date-time" {
		if str, ok := inst.(string); ok {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				return fmt.Errorf("%s: %q is not a date-time", where, str)
			}
		}
	}
	switch x := inst.(type) {
	case map[string]any:
		props := asMap(sm["properties"])
		for _, r := range asSlice(sm["required"]) {
			if _, ok := x[r.(string)]; !ok {
				return fmt.Errorf("%s: required %q missing", where, r)
			}
		}
		for k, v := range x {
			ps, ok := props[k]
			if !ok {
				ps, ok = sm["additionalProperties"]
			}
			if !ok && props != nil {
				return fmt.Errorf("%s: member %q is not among the properties", where, k)
			}
			if ok {
				if err := validateInstance(doc, ps, v, where+"/"+k); err != nil {
					return err
				}
			}
		}
	case []any:
		if n, ok := sm["minItems"].(float64); ok && float64(len(x)) < n {
			return fmt.Errorf("%s: %d items < minItems %v", where, len(x), n)
		}
		if n, ok := sm["maxItems"].(float64); ok && float64(len(x)) > n {
			return fmt.Errorf("%s: %d items > maxItems %v", where, len(x), n)
		}
		if it, ok := sm["items"]; ok {
			for i, v := range x {
				if err := validateInstance(doc, it, v, fmt.Sprintf("%s/%d", where, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func isType(v any, t string) bool {
	switch t {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		n, ok := v.(float64)
		return ok && n == math.Trunc(n)
	case "string":
		_, ok := v.(string)
		return ok
	}
	return false
}
