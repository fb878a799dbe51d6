package proxy

// Prompts served as APIs. POST /prompts/{name}[@{label or version}] takes
// {"variables": {...}, "stream": bool, "user": "..."}, validates the
// variables against the version's schema, renders its messages and turns
// the request into an OpenAI chat completion to the version's model, which
// then runs through the rest of the chain exactly as a request to
// /v1/chat/completions would (the key's model allow-list, limits,
// guardrails, cache, the ledger with the prompt, version and label). POST
// /v1/responses with OpenAI's "prompt": {"id", "version", "variables"}
// renders the stored prompt into the request's input the same way. GET
// /prompts/{name}/openapi.json describes one prompt as an OpenAPI 3.1 API
// whose request schema is the version's variables schema.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/prompt"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/runtime"
)

// The prompt ingresses. A prompt request is a chat completion once the
// prompt step has rewritten it, so it is resolved, scoped (the key's
// "chat" endpoints) and recorded as one.
var (
	inPrompt       = &ingress{endpoint: "chat.completions", proto: provider.ProtocolOpenAI, op: provider.OpChat, keyFrom: headerKey, resolve: (*Handler).resolveBody}
	inPromptSchema = &ingress{endpoint: "chat.prompt_schema", proto: provider.ProtocolOpenAI, keyFrom: headerKey, serve: (*Handler).promptOpenAPI}
)

// promptStep renders a stored prompt into the request before it is
// resolved: the body of a prompt request, or a Responses request's
// "prompt" field. Other requests pass untouched.
func (h *Handler) promptStep(ctx context.Context, c *Call, next Next) error {
	var err error
	switch c.in {
	case inPrompt:
		err = h.promptChat(c)
	case inResponses:
		err = h.promptResponses(c)
	}
	if err != nil {
		return err
	}
	return next(ctx, c)
}

// promptBody is the body of POST /prompts/{name}.
type promptBody struct {
	Variables json.RawMessage `json:"variables"`
	Stream    bool            `json:"stream"`
	User      string          `json:"user"`
}

// promptBodyFields and promptRefFields are the fields of a prompt body and
// of a Responses "prompt", which checkFieldsIn refuses repeated or spelt in
// another case: encoding/json would read the last one, case-insensitively.
var (
	promptBodyFields = []field{{names: []string{"variables"}}, {names: []string{"stream"}}, {names: []string{"user"}}}
	promptRefFields  = []field{{names: []string{"prompt"}, nested: []field{{names: []string{"id"}}, {names: []string{"version"}}, {names: []string{"variables"}}}}}
)

// promptRef splits "name@label", "name@3" or "name" (the production label).
func promptRef(s string) (name, ref string) {
	name, ref, _ = strings.Cut(s, "@")
	return name, ref
}

func errNoPrompt(msg string) *Error {
	return &Error{Status: http.StatusNotFound, Type: oa.TypeInvalidRequest, Code: "prompt_not_found", Param: "prompt", Msg: msg}
}

// findPrompt resolves a prompt the key may use: a key of an organisation
// sees that organisation's prompts (and none of another tenant's).
func findPrompt(c *Call, name string) (*runtime.Prompt, error) {
	p := c.snap.Prompts.Get(name)
	if p == nil || (c.key.OrgID != "" && p.OrgID != "" && p.OrgID != c.key.OrgID) {
		return nil, errNoPrompt(fmt.Sprintf("The prompt %q does not exist or you do not have access to it.", truncate(name, 128)))
	}
	return p, nil
}

// renderPrompt picks the version ref names (sticky per key or user for a
// split label), validates vars and renders the messages; it sets the
// ledger's prompt fields and the x-sluice-prompt header.
func renderPrompt(c *Call, name, ref string, vars json.RawMessage, user string) (*prompt.Compiled, []prompt.Message, error) {
	p, err := findPrompt(c, name)
	if err != nil {
		return nil, nil, err
	}
	v, label, err := p.Resolve(ref, c.key.ID, user)
	if err != nil {
		return nil, nil, errNoPrompt(fmt.Sprintf("The prompt %q has no label or version %q.", truncate(name, 128), truncate(ref, 64)))
	}
	n := v.Version().Number
	c.entry.Prompt, c.entry.PromptVersion, c.entry.PromptLabel = p.Name, n, label
	c.w.Header().Set("X-Sluice-Prompt", p.Name+"@"+strconv.Itoa(n))
	msgs, err := v.Render(vars)
	if err != nil {
		var ve prompt.VariableErrors
		if errors.As(err, &ve) && len(ve) > 0 {
			pointer := ve[0].Pointer
			if pointer == "" {
				pointer = "/"
			}
			return nil, nil, &Error{Status: http.StatusBadRequest, Type: oa.TypeInvalidRequest, Code: "invalid_variables",
				Param: pointer, Msg: "Invalid prompt variables: " + truncate(ve.Error(), 1024)}
		}
		return nil, nil, &Error{Status: http.StatusBadRequest, Type: oa.TypeInvalidRequest, Code: "invalid_variables",
			Param: "variables", Msg: "The prompt could not be rendered with these variables.", Cause: err}
	}
	return v, msgs, nil
}

// replaceBody makes body the request the rest of the chain reads.
func replaceBody(c *Call, body []byte) {
	r := new(http.Request)
	*r = *c.r
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header = c.r.Header.Clone()
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	c.r = r
}

// promptChat turns a prompt request into a chat completion: the version's
// default parameters, its model, the rendered messages, stream and user.
// Values are JSON-encoded strings inside their message: they can neither
// add messages nor change roles.
func (h *Handler) promptChat(c *Call) error {
	raw, err := h.readBody(c.w, c.r)
	if err != nil {
		return err
	}
	if err := checkFieldsIn(gjson.ParseBytes(raw), promptBodyFields, ""); err != nil {
		return err
	}
	var in promptBody
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return errBadRequest("invalid_body", "", "The body must be {\"variables\": {...}, \"stream\": bool, \"user\": \"...\"}: %s", truncate(err.Error(), 256))
	}
	name, ref := promptRef(c.r.PathValue("prompt"))
	v, msgs, err := renderPrompt(c, name, ref, in.Variables, in.User)
	if err != nil {
		return err
	}
	body := map[string]any{}
	if params := v.Version().Params; len(params) > 0 {
		var ps map[string]json.RawMessage
		if err := json.Unmarshal(params, &ps); err == nil {
			for k, p := range ps {
				body[k] = p
			}
		}
	}
	body["model"] = v.Version().Model
	body["messages"] = msgs
	body["stream"] = in.Stream
	if in.User != "" {
		body["user"] = in.User
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	replaceBody(c, b)
	return nil
}

// promptResponses renders a Responses request's "prompt" (OpenAI's field:
// id, version, variables): the prompt's messages come first in input, the
// request's own input after them; the version's model is used when the
// request names none. A request without "prompt" is left as it is.
func (h *Handler) promptResponses(c *Call) error {
	raw, err := h.readBody(c.w, c.r)
	if err != nil {
		return err
	}
	replaceBody(c, raw) // what resolve reads, changed below if there is a prompt
	if !bytes.Contains(raw, []byte(`"prompt"`)) {
		return nil
	}
	root := gjson.ParseBytes(raw)
	if err := checkFieldsIn(root, promptRefFields, ""); err != nil {
		return err
	}
	pr := root.Get("prompt")
	if !pr.Exists() || pr.Type == gjson.Null {
		return nil
	}
	if !pr.IsObject() || pr.Get("id").Type != gjson.String {
		return errBadRequest("invalid_value", "prompt", "prompt must be an object with a string id.")
	}
	ref := pr.Get("version")
	if ref.Exists() && ref.Type != gjson.String && ref.Type != gjson.Number {
		return errBadRequest("invalid_value", "prompt.version", "prompt.version must be a string.")
	}
	var vars json.RawMessage
	if vv := pr.Get("variables"); vv.Exists() {
		vars = json.RawMessage(vv.Raw)
	}
	v, msgs, err := renderPrompt(c, pr.Get("id").String(), ref.String(), vars, root.Get("user").String())
	if err != nil {
		return err
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil {
		return errBadRequest("invalid_json", "", "The request body must be a JSON object.")
	}
	delete(body, "prompt")
	input := make([]any, 0, len(msgs)+1)
	for _, m := range msgs {
		input = append(input, m)
	}
	switch own := root.Get("input"); {
	case own.Type == gjson.String:
		input = append(input, prompt.Message{Role: "user", Content: own.String()})
	case own.IsArray():
		for _, item := range own.Array() {
			input = append(input, json.RawMessage(item.Raw))
		}
	}
	if body["input"], err = json.Marshal(input); err != nil {
		return err
	}
	if m := root.Get("model"); !m.Exists() || m.String() == "" {
		body["model"], _ = json.Marshal(v.Version().Model)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	replaceBody(c, b)
	return nil
}

// promptOpenAPI serves GET /prompts/{name}/openapi.json: an OpenAPI 3.1
// document with one operation, POST to the prompt, whose request schema
// holds the version's variables schema as it validates (strict).
func (h *Handler) promptOpenAPI(c *Call) error {
	name, ref := promptRef(c.r.PathValue("prompt"))
	p, err := findPrompt(c, name)
	if err != nil {
		return err
	}
	v, label, err := p.Resolve(ref, c.key.ID, "")
	if err != nil {
		return errNoPrompt(fmt.Sprintf("The prompt %q has no label or version %q.", truncate(name, 128), truncate(ref, 64)))
	}
	doc, err := PromptOpenAPI(p.Name, label, v, strings.TrimSuffix(c.r.URL.Path, "/openapi.json"))
	if err != nil {
		return err
	}
	c.entry.Prompt, c.entry.PromptVersion, c.entry.PromptLabel = p.Name, v.Version().Number, label
	c.w.Header().Set("Content-Type", "application/json")
	c.w.Header().Set("X-Sluice-Prompt", p.Name+"@"+strconv.Itoa(v.Version().Number))
	c.wrote = true
	c.entry.HTTPStatus = http.StatusOK
	_, _ = c.w.Write(doc)
	return nil
}

// PromptOpenAPI is the OpenAPI 3.1 document of a prompt version served at
// path. The variables schema gets an $id of its own, so that its local
// references ("#/$defs/...") resolve inside it.
func PromptOpenAPI(name, label string, v *prompt.Compiled, path string) ([]byte, error) {
	vars, err := v.StrictVariables()
	if err != nil {
		return nil, err
	}
	var schema map[string]any
	dec := json.NewDecoder(bytes.NewReader(vars))
	dec.UseNumber()
	if err := dec.Decode(&schema); err != nil {
		return nil, err
	}
	n := v.Version().Number
	if _, ok := schema["$id"]; !ok {
		schema["$id"] = fmt.Sprintf("urn:sluice:prompt:%s:%d:variables", name, n)
	}
	served := fmt.Sprintf("version %d", n)
	if label != "" {
		served = fmt.Sprintf("label %s (now version %d)", label, n)
	}
	errorResponse := map[string]any{"description": "An error, in OpenAI's shape.",
		"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Prompt " + name, "version": strconv.Itoa(n),
			"description": fmt.Sprintf("The prompt %s (%s, model %s), served by Sluice. Variables are validated strictly against the schema.", name, served, v.Version().Model)},
		"paths": map[string]any{path: map[string]any{"post": map[string]any{
			"operationId": "run_" + sanitizeID(name),
			"summary":     "Run the prompt " + name,
			"security":    []any{map[string]any{"bearer": []any{}}},
			"requestBody": map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{
				"type": "object", "additionalProperties": false, "required": []string{"variables"},
				"properties": map[string]any{
					"variables": schema,
					"stream":    map[string]any{"type": "boolean", "description": "Answer as server-sent chat completion chunks."},
					"user":      map[string]any{"type": "string", "description": "The end user, for stickiness of split labels and for the ledger."},
				}}}}},
			"responses": map[string]any{
				"200": map[string]any{"description": "A chat completion (chunks as server-sent events when stream is true). The header x-sluice-prompt names the version.",
					"headers": map[string]any{"x-sluice-prompt": map[string]any{"schema": map[string]any{"type": "string"}, "description": "name@version"}},
					"content": map[string]any{
						"application/json":  map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/ChatCompletion"}},
						"text/event-stream": map[string]any{"schema": map[string]any{"type": "string"}},
					}},
				"400": errorResponse, "401": errorResponse, "403": errorResponse, "404": errorResponse, "429": errorResponse,
			},
		}}},
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
			"schemas": map[string]any{
				"ChatCompletion": map[string]any{"type": "object", "required": []string{"id", "object", "choices"}, "properties": map[string]any{
					"id": map[string]any{"type": "string"}, "object": map[string]any{"const": "chat.completion"},
					"model":   map[string]any{"type": "string"},
					"choices": map[string]any{"type": "array", "items": map[string]any{"type": "object"}},
					"usage":   map[string]any{"type": "object"},
				}},
				"Error": map[string]any{"type": "object", "required": []string{"error"}, "properties": map[string]any{
					"error": map[string]any{"type": "object", "properties": map[string]any{
						"message": map[string]any{"type": "string"}, "type": map[string]any{"type": "string"},
						"param": map[string]any{"type": []string{"string", "null"}}, "code": map[string]any{"type": []string{"string", "null"}},
					}}}},
			},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// sanitizeID makes an operationId of a prompt name.
func sanitizeID(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '.' {
			return '_'
		}
		return r
	}, s)
}
