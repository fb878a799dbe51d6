package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/jsonlimit"
	"github.com/sluicehq/sluice/internal/llm"
)

func anything(json.RawMessage) bool { return true }

// requestFields says what DecodeRequest does with each top-level field: map
// it (nil), or accept it only with a value that asks for nothing (null
// always does). Any other field is rejected.
var requestFields = map[string]func(json.RawMessage) bool{
	"model": nil, "input": nil, "instructions": nil, "tools": nil, "tool_choice": nil,
	"parallel_tool_calls": nil, "max_output_tokens": nil, "temperature": nil, "top_p": nil,
	"text": nil, "reasoning": nil, "stream": nil, "stream_options": nil, "store": nil, "user": nil,
	"safety_identifier": nil, "include": nil, "metadata": nil, "previous_response_id": nil, "conversation": nil,

	"background":   func(v json.RawMessage) bool { return isNull(v) || string(bytes.TrimSpace(v)) == "false" },
	"top_logprobs": func(v json.RawMessage) bool { return isNull(v) || string(bytes.TrimSpace(v)) == "0" },
	"truncation":   func(v json.RawMessage) bool { return isString(v, "disabled") },
	"service_tier": func(v json.RawMessage) bool { return isString(v, "auto", "default") },
	// Cache routing hints, and a limit on built-in tool calls (which are
	// rejected anyway): they ask for no different output.
	"prompt_cache_key":       anything,
	"prompt_cache_retention": anything,
	"prompt_cache_options":   anything,
	"max_tool_calls":         anything,
	"prompt":                 isNull,
	"context_management":     isNull,
}

// DecodeRequest implements llm.ClientCodec.
func (ClientCodec) DecodeRequest(body []byte, model string) (*llm.Request, error) {
	// One iterative pass first: encoding/json below recurses per level
	// (and reports syntax errors in its own words).
	if err := jsonlimit.Check(body, jsonlimit.MaxDepth); jsonlimit.TooDeep(err) {
		return nil, llm.Invalid("", "The request body nests JSON deeper than %d levels.", jsonlimit.MaxDepth)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, llm.Invalid("", "We could not parse the JSON body of your request: it must be a JSON object.")
	}
	for _, k := range sortedKeys(fields) {
		ok, known := requestFields[k]
		switch {
		case !known:
			if !isNull(fields[k]) {
				return nil, llm.Unsupported(k, "Unknown parameter: '%s'.", k)
			}
		case ok != nil && !ok(fields[k]):
			return nil, llm.Unsupported(k, "%s cannot be translated for this model's provider", k)
		}
	}
	var w oa.ResponsesRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, jsonError(err)
	}
	switch {
	case w.PreviousResponseID != "":
		return nil, llm.Unsupported("previous_response_id", "Sluice does not store responses: send the whole conversation in input instead of previous_response_id")
	case !isNull(fields["conversation"]):
		return nil, llm.Unsupported("conversation", "Sluice does not store conversations: send the whole conversation in input")
	case w.Store != nil && *w.Store:
		return nil, llm.Unsupported("store", "Sluice does not store responses: set store to false (Vercel AI SDK: providerOptions.openai.store = false)")
	case len(w.Metadata) > 0:
		return nil, llm.Unsupported("metadata", "metadata cannot be translated for this model's provider")
	}

	req := &llm.Request{Model: w.Model, Stream: w.Stream}
	if model != "" {
		req.Model = model
	}
	if req.Model == "" {
		return nil, llm.Invalid("model", "Missing required parameter: 'model'.")
	}
	if !isNull(w.Instructions) {
		var s string
		if json.Unmarshal(w.Instructions, &s) != nil {
			return nil, llm.Unsupported("instructions", "instructions must be a string")
		}
		if s != "" {
			req.System = append(req.System, llm.Part{Type: llm.PartText, Text: s})
		}
	}
	if err := decodeInput(req, w.Input); err != nil {
		return nil, err
	}
	if err := decodeTools(req, w.Tools, w.ToolChoice); err != nil {
		return nil, err
	}
	req.ParallelToolCalls = w.ParallelToolCalls
	if w.MaxOutputTokens != nil {
		if *w.MaxOutputTokens < 1 {
			return nil, llm.Invalid("max_output_tokens", "must be at least 1")
		}
		req.MaxTokens = *w.MaxOutputTokens
	}
	req.Temperature, req.TopP = w.Temperature, w.TopP
	if err := decodeText(req, fields["text"], w.Text); err != nil {
		return nil, err
	}
	if err := decodeReasoning(req, fields["reasoning"], w.Reasoning); err != nil {
		return nil, err
	}
	for _, inc := range w.Include {
		if inc != "reasoning.encrypted_content" {
			return nil, llm.Unsupported("include", "include %q cannot be translated for this model's provider", inc)
		}
	}
	if v := fields["stream_options"]; !isNull(v) {
		if err := checkFields(v, "stream_options", "include_obfuscation"); err != nil {
			return nil, err
		}
	}
	req.User = w.User
	if w.SafetyIdentifier != "" {
		if w.User != "" && w.User != w.SafetyIdentifier {
			return nil, llm.Unsupported("safety_identifier", "user and safety_identifier differ; only one end-user id can be translated")
		}
		req.User = w.SafetyIdentifier
	}
	return req, nil
}

// decodeInput reads input: a string (one user message) or a list of items.
// Consecutive assistant items (messages, reasoning, function calls) make
// one assistant message; consecutive function call outputs, and a user
// message right after them, make one user message.
func decodeInput(req *llm.Request, raw json.RawMessage) error {
	if isNull(raw) {
		return llm.Invalid("input", "Missing required parameter: 'input'.")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		req.Messages = []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: s}}}}
		return nil
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return llm.Invalid("input", "input must be a string or an array of input items")
	}
	prev := "" // the kind of the previous item: "assistant", "tool", "user"
	add := func(kind string, role llm.Role, parts ...llm.Part) {
		if (prev == kind && kind != "user") || (kind == "user" && prev == "tool") {
			last := &req.Messages[len(req.Messages)-1]
			last.Content = append(last.Content, parts...)
		} else {
			req.Messages = append(req.Messages, llm.Message{Role: role, Content: append([]llm.Part{}, parts...)})
		}
		prev = kind
	}
	for i, rawItem := range items {
		p := fmt.Sprintf("input[%d]", i)
		var it oa.ResponsesItem
		if err := json.Unmarshal(rawItem, &it); err != nil {
			return llm.Invalid(p, "malformed input item")
		}
		if it.Type == "" && it.Role != "" {
			it.Type = "message"
		}
		switch it.Type {
		case "message":
			if err := checkFields(rawItem, p, "type", "role", "content", "id", "status", "phase"); err != nil {
				return err
			}
			switch it.Role {
			case "system", "developer":
				parts, err := decodeContent(it.Content, p+".content", false)
				if err != nil {
					return err
				}
				req.System = append(req.System, parts...)
			case "user":
				parts, err := decodeContent(it.Content, p+".content", true)
				if err != nil {
					return err
				}
				add("user", llm.RoleUser, parts...)
			case "assistant":
				parts, err := decodeContent(it.Content, p+".content", false)
				if err != nil {
					return err
				}
				var kept []llm.Part
				for _, part := range parts {
					if part.Text != "" {
						kept = append(kept, part)
					}
				}
				add("assistant", llm.RoleAssistant, kept...)
			default:
				return llm.Invalid(p+".role", "unknown role %q", it.Role)
			}
		case "function_call":
			if err := checkFields(rawItem, p, "type", "id", "call_id", "name", "arguments", "status"); err != nil {
				return err
			}
			if it.CallID == "" || it.Name == "" {
				return llm.Invalid(p, "a function_call needs a call_id and a name")
			}
			args := strings.TrimSpace(it.Arguments)
			if args == "" {
				args = "{}"
			}
			if !json.Valid([]byte(args)) {
				return llm.Invalid(p+".arguments", "the arguments are not valid JSON")
			}
			add("assistant", llm.RoleAssistant, llm.Part{Type: llm.PartToolCall, ToolCallID: it.CallID, ToolName: it.Name, Arguments: compact([]byte(args))})
		case "function_call_output":
			if err := checkFields(rawItem, p, "type", "id", "call_id", "output", "status"); err != nil {
				return err
			}
			if it.CallID == "" {
				return llm.Invalid(p+".call_id", "Missing required parameter: 'call_id'.")
			}
			content, err := decodeOutput(it.Output, p+".output")
			if err != nil {
				return err
			}
			add("tool", llm.RoleUser, llm.Part{Type: llm.PartToolResult, ToolCallID: it.CallID, Content: content})
		case "reasoning":
			if err := checkFields(rawItem, p, "type", "id", "summary", "encrypted_content", "content", "status"); err != nil {
				return err
			}
			part, ok, err := decodeReasoningItem(it, p)
			if err != nil {
				return err
			}
			if ok {
				add("assistant", llm.RoleAssistant, part)
			}
		case "item_reference":
			return llm.Unsupported(p, "Sluice does not store responses, so item references cannot be resolved: send the items themselves (Vercel AI SDK: set providerOptions.openai.store = false)")
		default:
			return llm.Unsupported(p+".type", "%q input items cannot be translated for this model's provider", it.Type)
		}
	}
	if len(req.Messages) == 0 {
		return llm.Invalid("input", "input has no user or assistant message")
	}
	return nil
}

// decodeReasoningItem turns a reasoning item into thinking: the summary
// (or, for open models, the reasoning text) is the text, encrypted_content
// the signature. An item that carries nothing is skipped.
func decodeReasoningItem(it oa.ResponsesItem, p string) (llm.Part, bool, error) {
	var texts []string
	for _, s := range it.Summary {
		texts = append(texts, s.Text)
	}
	if len(texts) == 0 && !isNull(it.Content) {
		var parts []oa.ResponsesContentPart
		if json.Unmarshal(it.Content, &parts) != nil {
			return llm.Part{}, false, llm.Invalid(p+".content", "malformed reasoning content")
		}
		for _, c := range parts {
			texts = append(texts, c.Text)
		}
	}
	text := strings.Join(texts, "\n\n")
	var enc string
	if it.EncryptedContent != nil {
		enc = *it.EncryptedContent
	}
	if data, ok := strings.CutPrefix(enc, RedactedPrefix); ok {
		return llm.Part{Type: llm.PartRedactedThinking, RedactedData: data}, true, nil
	}
	if text == "" && enc == "" {
		return llm.Part{}, false, nil
	}
	return llm.Part{Type: llm.PartThinking, Text: text, Signature: enc}, true, nil
}

var partFields = []string{"type", "text", "image_url", "file_id", "detail", "annotations", "logprobs", "refusal"}

// decodeContent reads a message content: a string or a list of parts.
// Images are allowed only where images is true (user messages).
func decodeContent(raw json.RawMessage, p string, images bool) ([]llm.Part, error) {
	if isNull(raw) {
		return nil, llm.Invalid(p, "Missing required parameter: '%s'.", p)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []llm.Part{{Type: llm.PartText, Text: s}}, nil
	}
	var rawParts []json.RawMessage
	if json.Unmarshal(raw, &rawParts) != nil {
		return nil, llm.Invalid(p, "content must be a string or an array of content parts")
	}
	if len(rawParts) == 0 {
		return nil, llm.Invalid(p, "content must not be empty")
	}
	out := make([]llm.Part, 0, len(rawParts))
	for j, rp := range rawParts {
		pp := fmt.Sprintf("%s[%d]", p, j)
		part, err := decodePart(rp, pp, images)
		if err != nil {
			return nil, err
		}
		out = append(out, part)
	}
	return out, nil
}

func decodePart(rp json.RawMessage, pp string, images bool) (llm.Part, error) {
	if err := checkFields(rp, pp, partFields...); err != nil {
		return llm.Part{}, err
	}
	var part oa.ResponsesContentPart
	if json.Unmarshal(rp, &part) != nil {
		return llm.Part{}, llm.Invalid(pp, "malformed content part")
	}
	switch part.Type {
	case "input_text", "output_text":
		var extra struct {
			Annotations []json.RawMessage `json:"annotations"`
		}
		_ = json.Unmarshal(rp, &extra)
		if len(extra.Annotations) > 0 {
			return llm.Part{}, llm.Unsupported(pp+".annotations", "annotations cannot be translated for this model's provider")
		}
		return llm.Part{Type: llm.PartText, Text: part.Text}, nil
	case "input_image":
		switch {
		case !images:
			return llm.Part{}, llm.Invalid(pp+".type", "images are only allowed in user messages and function outputs")
		case part.FileID != "":
			return llm.Part{}, llm.Unsupported(pp+".file_id", "file ids cannot be translated for this model's provider: send the image as a URL")
		case part.ImageURL == "":
			return llm.Part{}, llm.Invalid(pp+".image_url", "Missing required parameter: 'image_url'.")
		}
		return imagePart(part.ImageURL, part.Detail), nil
	case "input_file":
		return llm.Part{}, llm.Unsupported(pp, "file input cannot be translated for this model's provider")
	case "input_audio":
		return llm.Part{}, llm.Unsupported(pp, "audio input cannot be translated for this model's provider")
	case "refusal":
		return llm.Part{}, llm.Unsupported(pp, "refusals cannot be translated for this model's provider")
	default:
		return llm.Part{}, llm.Invalid(pp+".type", "unknown content part type %q", part.Type)
	}
}

// decodeOutput reads a function_call_output's output: a string, or a list
// of text and image parts.
func decodeOutput(raw json.RawMessage, p string) ([]llm.Part, error) {
	if isNull(raw) {
		return nil, llm.Invalid(p, "Missing required parameter: '%s'.", p)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []llm.Part{{Type: llm.PartText, Text: s}}, nil
	}
	var rawParts []json.RawMessage
	if json.Unmarshal(raw, &rawParts) != nil {
		return nil, llm.Invalid(p, "output must be a string or an array of content parts")
	}
	out := []llm.Part{}
	for j, rp := range rawParts {
		part, err := decodePart(rp, fmt.Sprintf("%s[%d]", p, j), true)
		if err != nil {
			return nil, err
		}
		out = append(out, part)
	}
	return out, nil
}

// imagePart turns an image URL into a canonical part: a base64 data: URL
// becomes MediaType and Data, any other URL stays a URL.
func imagePart(url, detail string) llm.Part {
	if rest, ok := strings.CutPrefix(url, "data:"); ok {
		if meta, data, ok := strings.Cut(rest, ","); ok {
			if mt, ok := strings.CutSuffix(meta, ";base64"); ok && mt != "" && data != "" {
				return llm.Part{Type: llm.PartImage, MediaType: mt, Data: data, Detail: detail}
			}
		}
	}
	return llm.Part{Type: llm.PartImage, URL: url, Detail: detail}
}

func decodeTools(req *llm.Request, tools []json.RawMessage, choice json.RawMessage) error {
	for i, raw := range tools {
		p := fmt.Sprintf("tools[%d]", i)
		var t oa.ResponsesTool
		if json.Unmarshal(raw, &t) != nil {
			return llm.Invalid(p, "malformed tool")
		}
		if t.Type != "function" {
			return llm.Unsupported(p+".type", "%q tools cannot be translated for this model's provider", t.Type)
		}
		if err := checkFields(raw, p, "type", "name", "description", "parameters", "strict"); err != nil {
			return err
		}
		if t.Name == "" {
			return llm.Invalid(p+".name", "Missing required parameter: 'name'.")
		}
		tool := llm.Tool{Name: t.Name, Description: t.Description}
		if !isNull(t.Parameters) {
			tool.Parameters = compact(t.Parameters)
		}
		if t.Strict != nil {
			tool.Strict = *t.Strict
		}
		req.Tools = append(req.Tools, tool)
	}
	if isNull(choice) {
		return nil
	}
	var mode string
	if json.Unmarshal(choice, &mode) == nil {
		switch mode {
		case "auto", "none", "required":
			req.ToolChoice = &llm.ToolChoice{Mode: llm.ToolChoiceMode(mode)}
			return nil
		}
		return llm.Invalid("tool_choice", "unknown tool_choice %q", mode)
	}
	var obj oa.ResponsesToolChoice
	if json.Unmarshal(choice, &obj) != nil {
		return llm.Invalid("tool_choice", "tool_choice must be a string or an object")
	}
	if obj.Type != "function" {
		return llm.Unsupported("tool_choice", "tool_choice %q cannot be translated for this model's provider", obj.Type)
	}
	if err := checkFields(choice, "tool_choice", "type", "name"); err != nil {
		return err
	}
	if obj.Name == "" {
		return llm.Invalid("tool_choice.name", "Missing required parameter: 'tool_choice.name'.")
	}
	req.ToolChoice = &llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: obj.Name}
	return nil
}

func decodeText(req *llm.Request, raw json.RawMessage, t *oa.ResponsesText) error {
	if t == nil {
		return nil
	}
	if err := checkFields(raw, "text", "format", "verbosity"); err != nil {
		return err
	}
	if t.Verbosity != nil && *t.Verbosity != "medium" {
		return llm.Unsupported("text.verbosity", "verbosity cannot be translated for this model's provider")
	}
	f := t.Format
	if f == nil {
		return nil
	}
	var rawFormat struct {
		Format json.RawMessage `json:"format"`
	}
	_ = json.Unmarshal(raw, &rawFormat)
	if err := checkFields(rawFormat.Format, "text.format", "type", "name", "description", "schema", "strict"); err != nil {
		return err
	}
	switch f.Type {
	case "text", "json_object":
		req.ResponseFormat = &llm.ResponseFormat{Type: f.Type}
	case "json_schema":
		if f.Description != "" {
			return llm.Unsupported("text.format.description", "a schema description cannot be translated for this model's provider")
		}
		rf := &llm.ResponseFormat{Type: "json_schema", Name: f.Name}
		if !isNull(f.Schema) {
			rf.Schema = compact(f.Schema)
		}
		if f.Strict != nil {
			rf.Strict = *f.Strict
		}
		req.ResponseFormat = rf
	default:
		return llm.Unsupported("text.format.type", "format %q cannot be translated for this model's provider", f.Type)
	}
	return nil
}

func decodeReasoning(req *llm.Request, raw json.RawMessage, r *oa.ResponsesReasoning) error {
	if r == nil {
		return nil
	}
	// summary only says whether and how to summarise: the thinking the
	// upstream returns is always rendered as a summary.
	if err := checkFields(raw, "reasoning", "effort", "summary", "generate_summary"); err != nil {
		return err
	}
	if r.Effort == nil || *r.Effort == "" {
		return nil
	}
	switch e := *r.Effort; e {
	case "none":
		req.Thinking = &llm.Thinking{Effort: e, Disabled: true}
	case "minimal", "low", "medium", "high", "xhigh":
		req.Thinking = &llm.Thinking{Effort: e}
	default:
		return llm.Invalid("reasoning.effort", "unknown reasoning effort %q", e)
	}
	return nil
}

// jsonError turns a decoding error into a 400 naming the field.
func jsonError(err error) *llm.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return llm.Invalid(te.Field, "Invalid type for '%s': expected %s, but got %s.", te.Field, te.Type, te.Value)
	}
	return llm.Invalid("", "We could not parse the JSON body of your request.")
}

func isString(v json.RawMessage, allowed ...string) bool {
	var s string
	return isNull(v) || (json.Unmarshal(v, &s) == nil && slices.Contains(allowed, s))
}
