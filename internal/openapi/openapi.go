// Package openapi writes the OpenAPI 3.1 document of the admin API from a
// list of route descriptions (Op). Body schemas come from Go types by
// reflection, following encoding/json's rules; the output is deterministic
// so that it can be checked against a golden file.
package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Op describes one admin API route.
type Op struct {
	// Method and Path as in a ServeMux pattern: "GET", "/admin/v1/keys/{id}".
	// {name} segments become required string path parameters; a trailing
	// {name...} is documented as {name}, and {$} is dropped.
	Method, Path string
	// ID is the operationId, unique in the document.
	ID, Summary, Description string
	Tags                     []string
	Query                    []Param
	// Request is a Go value whose type gives the JSON request body's schema
	// (nil: no body). A pointer is looked through.
	Request any
	// Response is a Go value whose type gives the success body's schema
	// (nil: no body), sent with ResponseStatus (0 means 200).
	Response       any
	ResponseStatus int
	// ETag says the success response carries an ETag header and, on PATCH,
	// PUT and DELETE, the request accepts If-Match.
	ETag bool
	// Public routes need no authentication (login, OIDC callback).
	Public bool
}

// Param is a query parameter.
type Param struct {
	Name, Description string
	// Type is the schema type: "string", "integer", "number" or "boolean".
	Type     string
	Required bool
}

// The names of the security schemes.
const (
	SchemeBearer  = "bearerAuth"
	SchemeSession = "sessionCookie"
	SchemeCSRF    = "csrfToken"
)

// SessionCookie and CSRFHeader are the cookie and the header of browser
// sessions.
const (
	SessionCookie = "sluice_session"
	CSRFHeader    = "X-CSRF-Token"
)

// errorResponses are the standard error responses of every operation, by
// status, with the name of their component.
var errorResponses = []struct {
	status      int
	name, descr string
}{
	{400, "BadRequest", "The request is malformed or a value is invalid."},
	{401, "Unauthorized", "No valid credential: a missing or invalid token or session."},
	{403, "Forbidden", "The credential is valid but may not do this (or the CSRF token is missing or wrong)."},
	{404, "NotFound", "No such resource."},
	{409, "Conflict", "The request conflicts with the current state (for example, a duplicate name)."},
	{412, "PreconditionFailed", "If-Match does not match the resource's current ETag."},
	{428, "PreconditionRequired", "The request must carry If-Match."},
	{429, "TooManyRequests", "Too many requests; retry later."},
	{500, "InternalError", "An internal error; the server log has its cause."},
}

// errorSchema is the Error component: the OpenAI error envelope that
// internal/apischema/openai.MarshalError writes.
func errorSchema() *schema {
	str := func(d string) *schema { return &schema{Type: typeSet{"string"}, Description: d} }
	nstr := func(d string) *schema { return &schema{Type: typeSet{"string", "null"}, Description: d} }
	return &schema{
		Type:        typeSet{"object"},
		Description: "An error, shaped like OpenAI's error body.",
		Properties: map[string]*schema{
			"error": {
				Type: typeSet{"object"},
				Properties: map[string]*schema{
					"message":    str("A message safe to show to the client."),
					"type":       str("The error's class, such as admin_error."),
					"code":       nstr("A stable machine-readable code, such as version_mismatch."),
					"param":      nstr("The parameter at fault, if any."),
					"request_id": str("The request's ID, as in the server log."),
				},
				Required: []string{"code", "message", "param", "type"},
			},
		},
		Required: []string{"error"},
	}
}

// Document returns the OpenAPI 3.1.0 document, as indented JSON, of the
// operations ops. It reports every invalid op at once.
func Document(title, version string, ops []Op) ([]byte, error) {
	g := newSchemas()
	g.reserve("Error", errorSchema())
	d := document{
		OpenAPI: "3.1.0",
		Info:    info{Title: title, Version: version},
		Paths:   map[string]pathItem{},
		Components: components{
			Schemas:         g.components,
			Responses:       map[string]response{},
			Parameters:      map[string]parameter{"IfMatch": ifMatchParam()},
			Headers:         map[string]header{"ETag": {Description: "The resource's version, a strong entity tag to send back in If-Match.", Schema: &schema{Type: typeSet{"string"}}}},
			SecuritySchemes: securitySchemes(),
		},
	}
	for _, e := range errorResponses {
		d.Components.Responses[e.name] = response{
			Description: e.descr,
			Content:     map[string]mediaType{"application/json": {Schema: &schema{Ref: schemaRefPrefix + "Error"}}},
		}
	}
	var errs []error
	ids := map[string]bool{}
	shapes := map[string]string{} // "/a/{}" -> "/a/{id}": OpenAPI forbids paths that differ only in names
	tags := map[string]bool{}
	for _, op := range ops {
		o, path, method, err := buildOp(g, op)
		if err == nil && ids[op.ID] {
			err = fmt.Errorf("duplicate operationId %q", op.ID)
		}
		if err == nil {
			if _, dup := d.Paths[path][method]; dup {
				err = fmt.Errorf("duplicate route %s %s", op.Method, path)
			} else if other, ok := shapes[pathShape(path)]; ok && other != path {
				err = fmt.Errorf("path %s differs from %s only in its parameter names", path, other)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("openapi: op %q (%s %s): %w", op.ID, op.Method, op.Path, err))
			continue
		}
		ids[op.ID] = true
		shapes[pathShape(path)] = path
		for _, t := range op.Tags {
			tags[t] = true
		}
		if d.Paths[path] == nil {
			d.Paths[path] = pathItem{}
		}
		d.Paths[path][method] = o
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, t := range slices.Sorted(maps.Keys(tags)) {
		d.Tags = append(d.Tags, tag{Name: t})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return buf.Bytes(), nil
}

// buildOp returns the operation object of op, its OpenAPI path and its
// lower-case method.
func buildOp(g *schemas, op Op) (*operation, string, string, error) {
	method := strings.ToLower(op.Method)
	switch op.Method {
	case http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete,
		http.MethodOptions, http.MethodHead, http.MethodPatch, http.MethodTrace:
	default:
		return nil, "", "", fmt.Errorf("method %q is not an upper-case HTTP method", op.Method)
	}
	if op.ID == "" {
		return nil, "", "", errors.New("no operationId")
	}
	path, pathParams, err := parsePath(op.Path)
	if err != nil {
		return nil, "", "", err
	}
	o := &operation{
		Tags:        op.Tags,
		Summary:     op.Summary,
		Description: op.Description,
		OperationID: op.ID,
		Responses:   map[string]any{},
		Security:    security(op),
	}
	seen := map[string]bool{}
	for _, p := range pathParams {
		o.Parameters = append(o.Parameters, parameter{Name: p.name, In: "path", Description: p.descr, Required: true, Schema: &schema{Type: typeSet{"string"}}})
	}
	for _, q := range op.Query {
		switch q.Type {
		case "string", "integer", "number", "boolean":
		default:
			return nil, "", "", fmt.Errorf("query parameter %q: type %q is not string, integer, number or boolean", q.Name, q.Type)
		}
		if q.Name == "" || seen[q.Name] {
			return nil, "", "", fmt.Errorf("query parameter %q: empty or repeated name", q.Name)
		}
		seen[q.Name] = true
		o.Parameters = append(o.Parameters, parameter{Name: q.Name, In: "query", Description: q.Description, Required: q.Required, Schema: &schema{Type: typeSet{q.Type}}})
	}
	if op.ETag && (op.Method == http.MethodPatch || op.Method == http.MethodPut || op.Method == http.MethodDelete) {
		o.Parameters = append(o.Parameters, ref{Ref: "#/components/parameters/IfMatch"})
	}
	if op.Request != nil {
		s, err := g.bodyOf(op.Request)
		if err != nil {
			return nil, "", "", fmt.Errorf("request body: %w", err)
		}
		o.RequestBody = &requestBody{Required: true, Content: map[string]mediaType{"application/json": {Schema: s}}}
	}
	status := op.ResponseStatus
	if status == 0 {
		status = http.StatusOK
	}
	if status < 100 || status > 399 || http.StatusText(status) == "" {
		return nil, "", "", fmt.Errorf("response status %d is not a known success status", status)
	}
	ok := response{Description: http.StatusText(status)}
	if op.Response != nil {
		s, err := g.bodyOf(op.Response)
		if err != nil {
			return nil, "", "", fmt.Errorf("response body: %w", err)
		}
		ok.Content = map[string]mediaType{"application/json": {Schema: s}}
	}
	if op.ETag {
		ok.Headers = map[string]any{"ETag": ref{Ref: "#/components/headers/ETag"}}
	}
	o.Responses[strconv.Itoa(status)] = ok
	for _, e := range errorResponses {
		o.Responses[strconv.Itoa(e.status)] = ref{Ref: "#/components/responses/" + e.name}
	}
	return o, path, method, nil
}

type pathParam struct{ name, descr string }

// parsePath turns a ServeMux pattern path into an OpenAPI path and its
// parameters, in order.
func parsePath(p string) (string, []pathParam, error) {
	if !strings.HasPrefix(p, "/") {
		return "", nil, fmt.Errorf("path %q does not start with /", p)
	}
	segs := strings.Split(p, "/")
	var params []pathParam
	seen := map[string]bool{}
	for i, s := range segs {
		if !strings.ContainsAny(s, "{}") {
			continue
		}
		if s == "{$}" && i == len(segs)-1 {
			segs[i] = ""
			continue
		}
		if len(s) < 3 || s[0] != '{' || s[len(s)-1] != '}' {
			return "", nil, fmt.Errorf("path %q: a wildcard must be a whole segment", p)
		}
		name := s[1 : len(s)-1]
		descr := ""
		if rest, ok := strings.CutSuffix(name, "..."); ok {
			if i != len(segs)-1 {
				return "", nil, fmt.Errorf("path %q: {%s} must be last", p, name)
			}
			name = rest
			descr = "The rest of the path; it may contain slashes."
		}
		if !isIdent(name) || seen[name] {
			return "", nil, fmt.Errorf("path %q: bad or repeated wildcard {%s}", p, name)
		}
		seen[name] = true
		segs[i] = "{" + name + "}"
		params = append(params, pathParam{name, descr})
	}
	return strings.Join(segs, "/"), params, nil
}

var paramName = regexp.MustCompile(`\{[^/]*\}`)

// pathShape is path with its parameter names erased.
func pathShape(path string) string { return paramName.ReplaceAllString(path, "{}") }

// isIdent reports whether s is a Go identifier, as ServeMux wants of a
// wildcard's name.
func isIdent(s string) bool {
	for i, c := range s {
		if !(c == '_' || unicode.IsLetter(c) || i > 0 && unicode.IsDigit(c)) {
			return false
		}
	}
	return s != ""
}

// security returns the operation's security requirements: none for a
// public op; otherwise a bearer token, or a session cookie (with the CSRF
// header on methods that change state).
func security(op Op) []map[string][]string {
	if op.Public {
		return []map[string][]string{}
	}
	session := map[string][]string{SchemeSession: {}}
	switch op.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		session[SchemeCSRF] = []string{}
	}
	return []map[string][]string{{SchemeBearer: {}}, session}
}

func securitySchemes() map[string]securityScheme {
	return map[string]securityScheme{
		SchemeBearer: {
			Type: "http", Scheme: "bearer",
			Description: "An admin API token, or the bootstrap admin token printed at first start, as `Authorization: Bearer <token>`.",
		},
		SchemeSession: {
			Type: "apiKey", In: "cookie", Name: SessionCookie,
			Description: "The web UI's session cookie, set at login. Requests that change state must also carry the " + CSRFHeader + " header.",
		},
		SchemeCSRF: {
			Type: "apiKey", In: "header", Name: CSRFHeader,
			Description: "The CSRF token of the session, required with the session cookie on POST, PUT, PATCH and DELETE. Not needed with a bearer token.",
		},
	}
}

func ifMatchParam() parameter {
	return parameter{
		Name: "If-Match", In: "header",
		Description: "The ETag from the last read. When it no longer matches, the request fails with 412; where the server requires it, a request without it fails with 428.",
		Schema:      &schema{Type: typeSet{"string"}},
	}
}

// The document's objects. Field order is the output order.
type (
	document struct {
		OpenAPI    string              `json:"openapi"`
		Info       info                `json:"info"`
		Tags       []tag               `json:"tags,omitempty"`
		Paths      map[string]pathItem `json:"paths"`
		Components components          `json:"components"`
	}
	info struct {
		Title   string `json:"title"`
		Version string `json:"version"`
	}
	tag struct {
		Name string `json:"name"`
	}
	// pathItem maps lower-case methods to operations.
	pathItem   map[string]*operation
	components struct {
		Schemas         map[string]*schema        `json:"schemas"`
		Responses       map[string]response       `json:"responses"`
		Parameters      map[string]parameter      `json:"parameters"`
		Headers         map[string]header         `json:"headers"`
		SecuritySchemes map[string]securityScheme `json:"securitySchemes"`
	}
	operation struct {
		Tags        []string              `json:"tags,omitempty"`
		Summary     string                `json:"summary,omitempty"`
		Description string                `json:"description,omitempty"`
		OperationID string                `json:"operationId"`
		Parameters  []any                 `json:"parameters,omitempty"`
		RequestBody *requestBody          `json:"requestBody,omitempty"`
		Responses   map[string]any        `json:"responses"`
		Security    []map[string][]string `json:"security"`
	}
	parameter struct {
		Name        string  `json:"name"`
		In          string  `json:"in"`
		Description string  `json:"description,omitempty"`
		Required    bool    `json:"required,omitempty"`
		Schema      *schema `json:"schema"`
	}
	ref struct {
		Ref string `json:"$ref"`
	}
	requestBody struct {
		Required bool                 `json:"required"`
		Content  map[string]mediaType `json:"content"`
	}
	mediaType struct {
		Schema *schema `json:"schema"`
	}
	response struct {
		Description string               `json:"description"`
		Headers     map[string]any       `json:"headers,omitempty"`
		Content     map[string]mediaType `json:"content,omitempty"`
	}
	header struct {
		Description string  `json:"description,omitempty"`
		Schema      *schema `json:"schema"`
	}
	securityScheme struct {
		Type        string `json:"type"`
		Description string `json:"description,omitempty"`
		Scheme      string `json:"scheme,omitempty"`
		In          string `json:"in,omitempty"`
		Name        string `json:"name,omitempty"`
	}
)
