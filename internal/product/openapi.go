package product

import (
	"encoding/json"
	"errors"
)

// OpenAPI returns the OpenAPI 3.1 document of exactly what a published
// (or deprecated) version of p exposes: its endpoint families, with the
// client model names as the enum of "model", and GET /v1/models. The
// output is deterministic (encoding/json sorts map keys).
func OpenAPI(p *Product, v *Version) ([]byte, error) {
	if !v.State.Served() {
		return nil, errors.New("only a published or deprecated version has an OpenAPI document")
	}
	models := v.ClientModels()
	modelSchema := map[string]any{"type": "string", "enum": models}
	body := func(required []string, props map[string]any) map[string]any {
		props["model"] = modelSchema
		return map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{
			"schema": map[string]any{"type": "object", "required": required, "properties": props,
				"additionalProperties": true}}}}
	}
	obj := map[string]any{"type": "object", "additionalProperties": true}
	arr := map[string]any{"type": "array", "items": obj}
	ok := func(descr string) map[string]any {
		return map[string]any{
			"200": map[string]any{"description": descr, "content": map[string]any{"application/json": map[string]any{"schema": obj},
				"text/event-stream": map[string]any{"schema": map[string]any{"type": "string"}}}},
			"403": map[string]any{"description": "No active subscription to a plan that allows this version."},
			"410": map[string]any{"description": "The version is past its sunset; use its successor."},
			"429": map[string]any{"description": "A limit of the key, its units, the model or the plan."},
			"503": map[string]any{"description": "The version or model is suspended."},
		}
	}
	post := func(id, summary string, required []string, props map[string]any) map[string]any {
		return map[string]any{"post": map[string]any{"operationId": id, "summary": summary,
			"requestBody": body(required, props), "responses": ok(summary)}}
	}
	paths := map[string]any{
		"/v1/models": map[string]any{"get": map[string]any{"operationId": "listModels", "summary": "The models this version exposes",
			"responses": map[string]any{"200": map[string]any{"description": "The models.", "content": map[string]any{
				"application/json": map[string]any{"schema": map[string]any{"type": "object", "properties": map[string]any{
					"object": map[string]any{"const": "list"},
					"data": map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{
						"id": modelSchema, "object": map[string]any{"const": "model"}}}}}}}}}}}},
	}
	if v.Exposes(EndpointChat) {
		paths["/v1/chat/completions"] = post("createChatCompletion", "OpenAI chat completions", []string{"model", "messages"},
			map[string]any{"messages": arr, "stream": map[string]any{"type": "boolean"}})
	}
	if v.Exposes(EndpointResponses) {
		paths["/v1/responses"] = post("createResponse", "OpenAI responses", []string{"model", "input"},
			map[string]any{"input": map[string]any{}, "stream": map[string]any{"type": "boolean"}})
	}
	if v.Exposes(EndpointMessages) {
		paths["/v1/messages"] = post("createMessage", "Anthropic messages", []string{"model", "messages", "max_tokens"},
			map[string]any{"messages": arr, "max_tokens": map[string]any{"type": "integer"}, "stream": map[string]any{"type": "boolean"}})
	}
	if v.Exposes(EndpointGemini) {
		for _, m := range []struct{ path, id string }{
			{"/v1beta/models/{model}:generateContent", "generateContent"},
			{"/v1beta/models/{model}:streamGenerateContent", "streamGenerateContent"},
		} {
			paths[m.path] = map[string]any{"post": map[string]any{"operationId": m.id, "summary": "Gemini " + m.id,
				"parameters": []any{map[string]any{"name": "model", "in": "path", "required": true, "schema": modelSchema}},
				"requestBody": map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{
					"schema": map[string]any{"type": "object", "required": []string{"contents"}, "properties": map[string]any{"contents": arr},
						"additionalProperties": true}}}},
				"responses": ok("Gemini " + m.id)}}
		}
	}
	title := p.Title
	if title == "" {
		title = p.Name
	}
	info := map[string]any{"title": title, "version": v.Version}
	if p.Description != "" {
		info["description"] = p.Description
	}
	if v.DeprecatedAt != nil {
		info["x-deprecated-at"] = v.DeprecatedAt.UTC()
	}
	if v.SunsetAt != nil {
		info["x-sunset-at"] = v.SunsetAt.UTC()
	}
	if v.Successor != "" {
		info["x-successor"] = v.Successor
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info":    info,
		"servers": []any{map[string]any{"url": BasePath(p.Name, v.Version)}},
		"paths":   paths,
		"components": map[string]any{"securitySchemes": map[string]any{
			"bearerAuth": map[string]any{"type": "http", "scheme": "bearer", "description": "A Sluice virtual key."}}},
		"security": []any{map[string]any{"bearerAuth": []string{}}},
	}
	if len(p.Tags) > 0 {
		doc["x-tags"] = p.Tags
	}
	return json.MarshalIndent(doc, "", "  ")
}
