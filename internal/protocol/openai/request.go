package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/jsonlimit"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/protocol/rawjson"
)

// requestFields says what DecodeRequest does with each top-level field: map
// it, or accept it only with a value that asks for nothing (null always
// does). Any other field is rejected.
var requestFields = map[string]func(json.RawMessage) bool{
	"model": nil, "messages": nil, "tools": nil, "tool_choice": nil, "parallel_tool_calls": nil,
	"max_tokens": nil, "max_completion_tokens": nil, "temperature": nil, "top_p": nil, "top_k": nil,
	"stop": nil, "seed": nil, "frequency_penalty": nil, "presence_penalty": nil,
	"response_format": nil, "reasoning_effort": nil, "stream": nil, "stream_options": nil,
	"user": nil, "safety_identifier": nil, "n": nil,

	"logprobs":     isFalse,
	"top_logprobs": isZero,
	"logit_bias":   isEmptyObject,
	"metadata":     isEmptyObject,
	"store":        isFalse,
	"modalities":   isTextModality,
	"service_tier": func(v json.RawMessage) bool { return isString(v, "auto", "default") },
	// A cache routing hint: it asks for no different output.
	"prompt_cache_key":       func(json.RawMessage) bool { return true },
	"prompt_cache_retention": func(json.RawMessage) bool { return true },
	"audio":                  isNull,
	"prediction":             isNull,
	"web_search_options":     isNull,
	"functions":              isEmptyArray,
	"function_call":          isNull,
	"verbosity":              isNull,
}

var (
	messageFields = []string{"role", "content", "name", "tool_calls", "tool_call_id", "refusal",
		"reasoning_content", "reasoning", "audio", "function_call"}
	partFields         = []string{"type", "text", "image_url", "input_audio", "file", "refusal"}
	toolFields         = []string{"type", "function"}
	functionFields     = []string{"name", "description", "parameters", "strict"}
	toolCallFields     = []string{"id", "type", "function"}
	imageURLFields     = []string{"url", "detail"}
	jsonSchemaFields   = []string{"name", "description", "schema", "strict"}
	streamOptionFields = []string{"include_usage", "include_obfuscation"}
)

// DecodeRequest implements llm.ClientCodec.
func (ClientCodec) DecodeRequest(body []byte, model string) (*llm.Request, error) {
	// One iterative pass first: it validates the syntax and bounds the
	// depth, so that the body can be split (rawjson) and decoded
	// (wireDecoder) without being validated again.
	if err := jsonlimit.Check(body, jsonlimit.MaxDepth); jsonlimit.TooDeep(err) {
		return nil, llm.Invalid("", "The request body nests JSON deeper than %d levels.", jsonlimit.MaxDepth)
	} else if err != nil {
		return nil, llm.Invalid("", "We could not parse the JSON body of your request: it must be a JSON object.")
	}
	return decodeRequest(body, model)
}

// DecodeCheckedRequest implements llm.CheckedDecoder: DecodeRequest for a
// body that already passed jsonlimit.Check(body, jsonlimit.MaxDepth).
func (ClientCodec) DecodeCheckedRequest(body []byte, model string) (*llm.Request, error) {
	return decodeRequest(body, model)
}

// decodeRequest decodes a checked body.
func decodeRequest(body []byte, model string) (*llm.Request, error) {
	fields, err := objectFields(body, "")
	if err != nil {
		return nil, err
	}
	clean := true
	for k, v := range fields {
		ok, known := requestFields[k]
		if (!known && !isNull(v)) || (ok != nil && !ok(v)) {
			clean = false
			break
		}
	}
	var sorted []string // sorted only when there is a field to name, the first in order
	if !clean {
		sorted = sortedKeys(fields)
	}
	for _, k := range sorted {
		ok, known := requestFields[k]
		switch {
		case !known:
			if !isNull(fields[k]) {
				return nil, llm.Unsupported(k, "Unrecognized request argument supplied: %s.", k)
			}
		case ok != nil && !ok(fields[k]):
			return nil, llm.Unsupported(k, "%s cannot be translated for this model's provider", k)
		}
	}
	var w oa.ChatRequest
	if err := decodeChatRequest(body, &w); err != nil {
		return nil, jsonError(err)
	}
	if err := checkNested(fields); err != nil {
		return nil, err
	}

	req := &llm.Request{Model: w.Model, Stream: w.Stream}
	if model != "" {
		req.Model = model
	}
	if req.Model == "" {
		return nil, llm.Invalid("model", "you must provide a model parameter")
	}
	if len(w.Messages) == 0 {
		return nil, llm.Invalid("messages", "Missing required parameter: 'messages'.")
	}
	rawMsgs, _ := rawjson.Array(fields["messages"])
	if err := decodeMessages(req, w.Messages, rawMsgs); err != nil {
		return nil, err
	}
	if err := decodeTools(req, &w, fields); err != nil {
		return nil, err
	}

	req.ParallelToolCalls = w.ParallelToolCalls
	switch {
	case w.MaxCompletionTokens != nil:
		if *w.MaxCompletionTokens < 1 {
			return nil, llm.Invalid("max_completion_tokens", "must be at least 1")
		}
		req.MaxTokens = *w.MaxCompletionTokens
	case w.MaxTokens != nil:
		if *w.MaxTokens < 1 {
			return nil, llm.Invalid("max_tokens", "must be at least 1")
		}
		req.MaxTokens = *w.MaxTokens
	}
	req.Temperature, req.TopP, req.TopK, req.Seed = w.Temperature, w.TopP, w.TopK, w.Seed
	req.FrequencyPenalty, req.PresencePenalty = w.FrequencyPenalty, w.PresencePenalty
	if req.Stop, err = decodeStop(w.Stop); err != nil {
		return nil, err
	}
	if w.ResponseFormat != nil {
		if req.ResponseFormat, err = decodeResponseFormat(w.ResponseFormat); err != nil {
			return nil, err
		}
	}
	switch w.ReasoningEffort {
	case "":
	case "none":
		req.Thinking = &llm.Thinking{Effort: "none", Disabled: true}
	case "minimal", "low", "medium", "high", "xhigh":
		req.Thinking = &llm.Thinking{Effort: w.ReasoningEffort}
	default:
		return nil, llm.Invalid("reasoning_effort", "unknown reasoning effort %q", w.ReasoningEffort)
	}
	if w.StreamOptions != nil && w.Stream {
		req.IncludeUsage = w.StreamOptions.IncludeUsage
	}
	req.User = w.User
	if w.SafetyIdentifier != "" {
		if w.User != "" && w.User != w.SafetyIdentifier {
			return nil, llm.Unsupported("safety_identifier", "user and safety_identifier differ; only one end-user id can be translated")
		}
		req.User = w.SafetyIdentifier
	}
	if w.N != nil {
		switch {
		case *w.N < 1:
			return nil, llm.Invalid("n", "must be at least 1")
		case *w.N > 1:
			return nil, llm.Unsupported("n", "n > 1 cannot be translated: this model's provider returns one choice")
		}
	}
	return req, nil
}

// checkNested rejects unknown fields inside the nested objects that
// DecodeRequest maps field by field.
func checkNested(fields map[string]json.RawMessage) error {
	if v := fields["stream_options"]; !isNull(v) {
		if err := checkFields(v, "stream_options", streamOptionFields); err != nil {
			return err
		}
	}
	if v := fields["response_format"]; !isNull(v) {
		rf, _ := rawjson.Object(v)
		if err := checkFields(v, "response_format", []string{"type", "json_schema"}); err != nil {
			return err
		}
		if js := rf["json_schema"]; !isNull(js) {
			if err := checkFields(js, "response_format.json_schema", jsonSchemaFields); err != nil {
				return err
			}
		}
	}
	return nil
}

func decodeMessages(req *llm.Request, msgs []oa.ChatMessage, raw []json.RawMessage) error {
	prevTool := false // the previous message was a tool message
	for i, m := range msgs {
		p := index("messages", i)
		var mf map[string]json.RawMessage
		if i < len(raw) && !plainMembers(raw[i], messageFields, "audio", "function_call") {
			mf, _ = rawjson.Object(raw[i])
			if err := checkObject(mf, p, messageFields); err != nil {
				return err
			}
		}
		if m.Name != "" {
			return llm.Unsupported(p+".name", "message names cannot be translated for this model's provider")
		}
		if m.Role != "assistant" && (len(m.ToolCalls) > 0 || m.ReasoningContent != "" || m.Reasoning != "") {
			return llm.Invalid(p, "only assistant messages have tool_calls and reasoning")
		}
		if mf != nil {
			// checkObject let through only these exact keys (or nulls).
			if !isNull(mf["audio"]) {
				return llm.Unsupported(p+".audio", "audio cannot be translated for this model's provider")
			}
			if !isNull(mf["function_call"]) {
				return llm.Unsupported(p+".function_call", "function_call is deprecated and cannot be translated; use tool_calls")
			}
		}
		isTool := false
		switch m.Role {
		case "system", "developer":
			parts, err := decodeContent(m.Content, p+".content", false)
			if err != nil {
				return err
			}
			req.System = append(req.System, parts...)
		case "user":
			parts, err := decodeContent(m.Content, p+".content", true)
			if err != nil {
				return err
			}
			if prevTool {
				last := &req.Messages[len(req.Messages)-1]
				last.Content = append(last.Content, parts...)
			} else {
				req.Messages = append(req.Messages, llm.Message{Role: llm.RoleUser, Content: nonNil(parts)})
			}
		case "assistant":
			parts, err := decodeAssistant(m, p)
			if err != nil {
				return err
			}
			req.Messages = append(req.Messages, llm.Message{Role: llm.RoleAssistant, Content: parts})
		case "tool":
			if m.ToolCallID == "" {
				return llm.Invalid(p+".tool_call_id", "Missing required parameter: 'tool_call_id'.")
			}
			content, err := decodeContent(m.Content, p+".content", false)
			if err != nil {
				return err
			}
			part := llm.Part{Type: llm.PartToolResult, ToolCallID: m.ToolCallID, Content: content}
			if prevTool {
				last := &req.Messages[len(req.Messages)-1]
				last.Content = append(last.Content, part)
			} else {
				req.Messages = append(req.Messages, llm.Message{Role: llm.RoleUser, Content: []llm.Part{part}})
			}
			isTool = true
		case "function":
			return llm.Unsupported(p+".role", "function messages are deprecated and cannot be translated; use tool messages")
		default:
			return llm.Invalid(p+".role", "unknown role %q", m.Role)
		}
		if m.Role != "tool" && m.ToolCallID != "" {
			return llm.Invalid(p+".tool_call_id", "only tool messages have a tool_call_id")
		}
		prevTool = isTool
	}
	return nil
}

func decodeAssistant(m oa.ChatMessage, p string) ([]llm.Part, error) {
	parts := []llm.Part{}
	if m.Refusal != nil && *m.Refusal != "" {
		return nil, llm.Unsupported(p+".refusal", "refusals cannot be translated for this model's provider")
	}
	if r := cmpOr(m.ReasoningContent, m.Reasoning); r != "" {
		parts = append(parts, llm.Part{Type: llm.PartThinking, Text: r})
	}
	var text []llm.Part
	if !isNull(m.Content) && string(bytes.TrimSpace(m.Content)) != "[]" {
		var err error
		if text, err = decodeContent(m.Content, p+".content", false); err != nil {
			return nil, err
		}
	}
	for _, t := range text {
		if t.Text != "" {
			parts = append(parts, t)
		}
	}
	for j, tc := range m.ToolCalls {
		tp := index(p+".tool_calls", j)
		if tc.Type != "function" && tc.Type != "" {
			return nil, llm.Unsupported(tp+".type", "%s tool calls cannot be translated for this model's provider", tc.Type)
		}
		if tc.ID == "" {
			return nil, llm.Invalid(tp+".id", "Missing required parameter: 'id'.")
		}
		if tc.Function.Name == "" {
			return nil, llm.Invalid(tp+".function.name", "Missing required parameter: 'name'.")
		}
		args := strings.TrimSpace(tc.Function.Arguments)
		if args == "" {
			args = "{}"
		}
		if !json.Valid([]byte(args)) {
			return nil, llm.Invalid(tp+".function.arguments", "the arguments are not valid JSON")
		}
		parts = append(parts, llm.Part{Type: llm.PartToolCall, ToolCallID: tc.ID, ToolName: tc.Function.Name,
			Arguments: compact([]byte(args))})
	}
	return parts, nil
}

// decodeContent reads a message content: a string, a list of parts, or
// null. Images are allowed only where images is true.
func decodeContent(raw json.RawMessage, p string, images bool) ([]llm.Part, error) {
	if isNull(raw) {
		return nil, llm.Invalid(p, "Missing required parameter: '%s'.", p)
	}
	if s, ok := rawjson.String(raw); ok {
		return []llm.Part{{Type: llm.PartText, Text: s}}, nil
	}
	rawParts, ok := rawjson.Array(raw)
	if !ok {
		return nil, llm.Invalid(p, "content must be a string or an array of content parts")
	}
	if len(rawParts) == 0 {
		return nil, llm.Invalid(p, "Invalid '%s': empty array. Expected an array with minimum length 1.", p)
	}
	out := make([]llm.Part, 0, len(rawParts))
	for j, rp := range rawParts {
		pp := index(p, j)
		var pf map[string]json.RawMessage
		if !plainMembers(rp, partFields, "image_url") {
			pf, _ = rawjson.Object(rp)
			if err := checkObject(pf, pp, partFields); err != nil {
				return nil, err
			}
		}
		var part oa.ChatContentPart
		if err := decodeContentPart(rp, &part); err != nil {
			return nil, llm.Invalid(pp, "malformed content part")
		}
		switch part.Type {
		case "text":
			out = append(out, llm.Part{Type: llm.PartText, Text: part.Text})
		case "image_url":
			if !images {
				return nil, llm.Invalid(pp+".type", "image parts are only allowed in user messages")
			}
			if part.ImageURL == nil || part.ImageURL.URL == "" {
				return nil, llm.Invalid(pp+".image_url.url", "Missing required parameter: 'url'.")
			}
			if err := checkFields(pf["image_url"], pp+".image_url", imageURLFields); err != nil {
				return nil, err
			}
			out = append(out, imagePart(part.ImageURL.URL, part.ImageURL.Detail))
		case "input_audio":
			return nil, llm.Unsupported(pp, "audio input cannot be translated for this model's provider")
		case "file":
			return nil, llm.Unsupported(pp, "file input cannot be translated for this model's provider")
		case "refusal":
			return nil, llm.Unsupported(pp, "refusals cannot be translated for this model's provider")
		default:
			return nil, llm.Invalid(pp+".type", "unknown content part type %q", part.Type)
		}
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

func decodeTools(req *llm.Request, w *oa.ChatRequest, fields map[string]json.RawMessage) error {
	raw, _ := rawjson.Array(fields["tools"])
	for i, t := range w.Tools {
		p := index("tools", i)
		if t.Type != "function" {
			return llm.Unsupported(p+".type", "%q tools cannot be translated for this model's provider", t.Type)
		}
		if i < len(raw) {
			tf, _ := rawjson.Object(raw[i])
			if err := checkObject(tf, p, toolFields); err != nil {
				return err
			}
			if err := checkFields(tf["function"], p+".function", functionFields); err != nil {
				return err
			}
		}
		if t.Function.Name == "" {
			return llm.Invalid(p+".function.name", "Missing required parameter: 'name'.")
		}
		tool := llm.Tool{Name: t.Function.Name, Description: t.Function.Description}
		if !isNull(t.Function.Parameters) {
			tool.Parameters = compactChecked(t.Function.Parameters)
		}
		if t.Function.Strict != nil {
			tool.Strict = *t.Function.Strict
		}
		req.Tools = append(req.Tools, tool)
	}
	if isNull(w.ToolChoice) {
		return nil
	}
	var mode string
	if json.Unmarshal(w.ToolChoice, &mode) == nil {
		switch mode {
		case "auto", "none", "required":
			req.ToolChoice = &llm.ToolChoice{Mode: llm.ToolChoiceMode(mode)}
			return nil
		}
		return llm.Invalid("tool_choice", "unknown tool_choice %q", mode)
	}
	if err := checkFields(w.ToolChoice, "tool_choice", []string{"type", "function"}); err != nil {
		return err
	}
	var named oa.ChatNamedToolChoice
	if json.Unmarshal(w.ToolChoice, &named) != nil {
		return llm.Invalid("tool_choice", "tool_choice must be a string or an object")
	}
	if named.Type != "function" {
		return llm.Unsupported("tool_choice.type", "tool_choice %q cannot be translated for this model's provider", named.Type)
	}
	if named.Function.Name == "" {
		return llm.Invalid("tool_choice.function.name", "Missing required parameter: 'name'.")
	}
	req.ToolChoice = &llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: named.Function.Name}
	return nil
}

func decodeStop(raw json.RawMessage) ([]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil {
		return nil, llm.Invalid("stop", "stop must be a string or an array of strings")
	}
	if len(many) == 0 {
		return nil, nil
	}
	return many, nil
}

func decodeResponseFormat(rf *oa.ChatResponseFormat) (*llm.ResponseFormat, error) {
	switch rf.Type {
	case "text", "json_object":
		return &llm.ResponseFormat{Type: rf.Type}, nil
	case "json_schema":
		js := rf.JSONSchema
		if js == nil {
			return nil, llm.Invalid("response_format.json_schema", "Missing required parameter: 'response_format.json_schema'.")
		}
		if js.Name == "" {
			return nil, llm.Invalid("response_format.json_schema.name", "Missing required parameter: 'response_format.json_schema.name'.")
		}
		if js.Description != "" {
			return nil, llm.Unsupported("response_format.json_schema.description", "a schema description cannot be translated for this model's provider")
		}
		out := &llm.ResponseFormat{Type: "json_schema", Name: js.Name}
		if !isNull(js.Schema) {
			out.Schema = compactChecked(js.Schema)
		}
		if js.Strict != nil {
			out.Strict = *js.Strict
		}
		return out, nil
	default:
		return nil, llm.Unsupported("response_format.type", "response_format %q cannot be translated for this model's provider", rf.Type)
	}
}

// objectFields decodes body as a JSON object. p names it in errors.
func objectFields(body []byte, p string) (map[string]json.RawMessage, error) {
	fields, ok := rawjson.Object(body)
	if !ok {
		msg := "We could not parse the JSON body of your request: it must be a JSON object."
		if p != "" {
			msg = p + " must be a JSON object"
		}
		return nil, llm.Invalid(p, "%s", msg)
	}
	return fields, nil
}

// checkFields rejects a field of the object raw that is not in allowed and
// not null. raw that is not an object passes: the typed decode reports it.
func checkFields(raw json.RawMessage, p string, allowed []string) error {
	fields, _ := rawjson.Object(raw)
	return checkObject(fields, p, allowed)
}

// plainMembers reports whether every member of the object raw is in
// allowed or null (checkFields would pass it) and none is named in
// special: then the caller need not split raw into a map. Anything else,
// a repeated key included, is left to the map.
func plainMembers(raw []byte, allowed []string, special ...string) bool {
	plain := true
	rawjson.Members(raw, func(k, v []byte) {
		if !plain {
			return
		}
		known := false
		for _, a := range allowed {
			if string(k) == a {
				known = true
				break
			}
		}
		for _, sp := range special {
			if string(k) == sp {
				plain = false
			}
		}
		if !known && !isNull(v) {
			plain = false
		}
	})
	return plain
}

// checkObject is checkFields over an object already split.
func checkObject(fields map[string]json.RawMessage, p string, allowed []string) error {
	clean := true
	for k, v := range fields {
		if !slices.Contains(allowed, k) && !isNull(v) {
			clean = false
			break
		}
	}
	if clean {
		return nil
	}
	for _, k := range sortedKeys(fields) { // the first in sorted order is named
		if !slices.Contains(allowed, k) && !isNull(fields[k]) {
			return llm.Unsupported(p+"."+k, "%s.%s cannot be translated for this model's provider", p, k)
		}
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

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func isNull(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || string(v) == "null"
}

func isFalse(v json.RawMessage) bool { return isNull(v) || string(bytes.TrimSpace(v)) == "false" }

func isZero(v json.RawMessage) bool {
	var n float64
	return isNull(v) || (json.Unmarshal(v, &n) == nil && n == 0)
}

func isEmptyObject(v json.RawMessage) bool {
	var m map[string]json.RawMessage
	return isNull(v) || (json.Unmarshal(v, &m) == nil && len(m) == 0)
}

func isEmptyArray(v json.RawMessage) bool {
	var a []json.RawMessage
	return isNull(v) || (json.Unmarshal(v, &a) == nil && len(a) == 0)
}

func isTextModality(v json.RawMessage) bool {
	var a []string
	return isNull(v) || (json.Unmarshal(v, &a) == nil && (len(a) == 0 || (len(a) == 1 && a[0] == "text")))
}

func isString(v json.RawMessage, allowed ...string) bool {
	var s string
	return isNull(v) || (json.Unmarshal(v, &s) == nil && slices.Contains(allowed, s))
}

// index is p[i], a path in errors.
func index(p string, i int) string { return p + "[" + strconv.Itoa(i) + "]" }

// compactChecked is compact for a value of a checked body: valid JSON, so
// only its space goes, without a second validation.
func compactChecked(raw []byte) json.RawMessage {
	return rawjson.AppendCompact(make([]byte, 0, len(raw)), raw)
}

// compact returns valid JSON without insignificant space, so that the
// canonical form of equal values is equal.
func compact(raw []byte) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return json.RawMessage(raw)
	}
	return b.Bytes()
}

func nonNil(parts []llm.Part) []llm.Part {
	if parts == nil {
		return []llm.Part{}
	}
	return parts
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
