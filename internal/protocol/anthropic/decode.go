package anthropic

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"

	wire "github.com/sluicehq/sluice/internal/apischema/anthropic"
	"github.com/sluicehq/sluice/internal/jsonlimit"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/protocol/rawjson"
)

// A client request is decoded field by field from maps of raw values, so
// that every unknown or untranslatable field is reported with its path in
// Anthropic's own notation ("messages.0.content.1.type").

// obj is a decoded JSON object.
type obj map[string]json.RawMessage

// fieldRule says what DecodeRequest does with a field.
type fieldRule int

const (
	fieldMapped   fieldRule = iota + 1 // translated
	fieldIgnored                       // a hint with no meaning elsewhere, dropped on translation
	fieldRejected                      // documented by Anthropic, but cannot be translated
)

// topFields are the top-level fields of a Messages request. cache_control
// (automatic prompt caching) and diagnostics (cache-miss reporting) only
// change what Anthropic caches or reports, never the answer, so they are
// ignored when a request is translated to another provider.
var topFields = map[string]fieldRule{
	"model":          fieldMapped,
	"messages":       fieldMapped,
	"max_tokens":     fieldMapped,
	"system":         fieldMapped,
	"stop_sequences": fieldMapped,
	"stream":         fieldMapped,
	"temperature":    fieldMapped,
	"top_p":          fieldMapped,
	"top_k":          fieldMapped,
	"tools":          fieldMapped,
	"tool_choice":    fieldMapped,
	"thinking":       fieldMapped,
	"metadata":       fieldMapped,
	"output_config":  fieldMapped,

	"cache_control": fieldIgnored,
	"diagnostics":   fieldIgnored,

	"service_tier":       fieldRejected,
	"container":          fieldRejected,
	"mcp_servers":        fieldRejected,
	"inference_geo":      fieldRejected,
	"speed":              fieldRejected,
	"context_management": fieldRejected,
}

// countExcluded are the Messages fields that count_tokens does not take.
var countExcluded = []string{"max_tokens", "stream", "stop_sequences", "temperature", "top_p", "top_k", "metadata"}

// DecodeRequest implements llm.ClientCodec. The body of POST /v1/messages
// must carry max_tokens, as Anthropic requires. A streamed request sets
// IncludeUsage: Anthropic streams always report usage.
func (clientCodec) DecodeRequest(body []byte, model string) (*llm.Request, error) {
	if err := checkBody(body); err != nil {
		return nil, err
	}
	return decodeRequest(body, model, false)
}

// DecodeCheckedRequest implements llm.CheckedDecoder: DecodeRequest for a
// body that already passed jsonlimit.Check(body, jsonlimit.MaxDepth).
func (clientCodec) DecodeCheckedRequest(body []byte, model string) (*llm.Request, error) {
	return decodeRequest(body, model, false)
}

// DecodeCountTokensRequest decodes the body of POST
// /v1/messages/count_tokens: a Messages request without max_tokens, stream
// and the sampling fields.
func DecodeCountTokensRequest(body []byte, model string) (*llm.Request, error) {
	if err := checkBody(body); err != nil {
		return nil, err
	}
	return decodeRequest(body, model, true)
}

// EncodeCountTokensResponse renders the answer of count_tokens.
func EncodeCountTokensResponse(inputTokens int64) []byte {
	b, _ := json.Marshal(wire.CountTokensResponse{InputTokens: inputTokens})
	return b
}

// checkBody is one iterative pass that validates the syntax and bounds
// the depth, so that decodeRequest can split the body without validating
// it again. The proxy runs the same check at ingress and then calls
// DecodeCheckedRequest; every other caller goes through it here.
func checkBody(body []byte) error {
	if err := jsonlimit.Check(body, jsonlimit.MaxDepth); jsonlimit.TooDeep(err) {
		return llm.Invalid("", "the request body nests JSON deeper than %d levels", jsonlimit.MaxDepth)
	} else if err != nil {
		return llm.Invalid("", "the request body must be a JSON object")
	}
	return nil
}

// decodeRequest decodes a body that passed checkBody.
func decodeRequest(body []byte, model string, count bool) (*llm.Request, error) {
	top, err := parseObject(body, "")
	if err != nil {
		return nil, llm.Invalid("", "the request body must be a JSON object")
	}
	for _, k := range top.sortedKeys() {
		rule := topFields[k]
		if count && slices.Contains(countExcluded, k) {
			rule = 0
		}
		switch rule {
		case 0:
			return nil, llm.Invalid(k, "Extra inputs are not permitted")
		case fieldRejected:
			return nil, llm.Unsupported(k, "this field cannot be translated to the protocol of this model's provider")
		}
	}
	req := &llm.Request{}
	d := decoder{}

	req.Model = model
	if req.Model == "" {
		if req.Model, err = d.requiredString(top, "model", ""); err != nil {
			return nil, err
		}
	}
	if !count {
		n, ok, err := d.integer(top, "max_tokens", "")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, llm.Invalid("max_tokens", "Field required")
		}
		if n < 1 {
			return nil, llm.Invalid("max_tokens", "must be at least 1")
		}
		req.MaxTokens = n
		if req.Stream, _, err = d.boolean(top, "stream", ""); err != nil {
			return nil, err
		}
		req.IncludeUsage = req.Stream
	}
	if req.System, err = d.system(top["system"], "system"); err != nil {
		return nil, err
	}
	if err := d.messages(req, top["messages"]); err != nil {
		return nil, err
	}
	if err := d.tools(req, top["tools"]); err != nil {
		return nil, err
	}
	if err := d.toolChoice(req, top["tool_choice"]); err != nil {
		return nil, err
	}
	if err := d.thinking(req, top["thinking"]); err != nil {
		return nil, err
	}
	if err := d.outputConfig(req, top["output_config"]); err != nil {
		return nil, err
	}
	if err := d.sampling(req, top); err != nil {
		return nil, err
	}
	if err := d.metadata(req, top["metadata"]); err != nil {
		return nil, err
	}
	return req, nil
}

type decoder struct{}

func (d decoder) sampling(req *llm.Request, top obj) error {
	var err error
	if req.Temperature, err = d.float(top, "temperature", ""); err != nil {
		return err
	}
	if req.TopP, err = d.float(top, "top_p", ""); err != nil {
		return err
	}
	if n, ok, err := d.integer(top, "top_k", ""); err != nil {
		return err
	} else if ok {
		req.TopK = &n
	}
	if raw, ok := present(top, "stop_sequences"); ok {
		if err := json.Unmarshal(raw, &req.Stop); err != nil {
			return llm.Invalid("stop_sequences", "expected a list of strings")
		}
	}
	return nil
}

func (d decoder) metadata(req *llm.Request, raw json.RawMessage) error {
	if isAbsent(raw) {
		return nil
	}
	m, err := parseObject(raw, "metadata")
	if err != nil {
		return err
	}
	if err := m.only("metadata", "user_id"); err != nil {
		return err
	}
	req.User, _, err = d.str(m, "user_id", "metadata")
	return err
}

// system decodes the system prompt: a string or a list of text blocks.
func (d decoder) system(raw json.RawMessage, path string) ([]llm.Part, error) {
	if isAbsent(raw) {
		return nil, nil
	}
	if s, ok := stringValue(raw); ok {
		if s == "" {
			return nil, nil
		}
		return []llm.Part{{Type: llm.PartText, Text: s}}, nil
	}
	items, err := parseArray(raw, path)
	if err != nil {
		return nil, llm.Invalid(path, "expected a string or a list of text blocks")
	}
	parts := make([]llm.Part, 0, len(items))
	for i, item := range items {
		p, err := d.block(item, join(path, i), blockSystem)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	return parts, nil
}

func (d decoder) messages(req *llm.Request, raw json.RawMessage) error {
	if isAbsent(raw) {
		return llm.Invalid("messages", "Field required")
	}
	items, err := parseArray(raw, "messages")
	if err != nil {
		return err
	}
	req.Messages = make([]llm.Message, 0, len(items))
	for i, item := range items {
		path := join("messages", i)
		m, err := parseObject(item, path)
		if err != nil {
			return err
		}
		if err := m.only(path, "role", "content"); err != nil {
			return err
		}
		role, err := d.requiredString(m, "role", path)
		if err != nil {
			return err
		}
		ctx := blockUser
		switch role {
		case wire.RoleUser:
		case wire.RoleAssistant:
			ctx = blockAssistant
		case wire.RoleSystem:
			// System messages before the conversation are the system
			// prompt; later ones have no canonical place.
			if len(req.Messages) > 0 {
				return llm.Unsupported(path+".role", "a system message after the first user or assistant message cannot be translated")
			}
			ctx = blockSystem
		default:
			return llm.Invalid(path+".role", "Input should be 'user', 'assistant' or 'system'")
		}
		content, ok := present(m, "content")
		if !ok {
			return llm.Invalid(path+".content", "Field required")
		}
		parts, err := d.content(content, path+".content", ctx)
		if err != nil {
			return err
		}
		if ctx == blockSystem {
			req.System = append(req.System, parts...)
			continue
		}
		req.Messages = append(req.Messages, llm.Message{Role: llm.Role(role), Content: parts})
	}
	return nil
}

// blockContext says where a content block appears, which decides the block
// types it may have.
type blockContext int

const (
	blockUser blockContext = iota + 1
	blockAssistant
	blockSystem     // text only
	blockToolResult // text and images
)

// content decodes a message content: a string or a list of blocks.
func (d decoder) content(raw json.RawMessage, path string, ctx blockContext) ([]llm.Part, error) {
	if s, ok := stringValue(raw); ok {
		return []llm.Part{{Type: llm.PartText, Text: s}}, nil
	}
	items, err := parseArray(raw, path)
	if err != nil {
		return nil, llm.Invalid(path, "expected a string or a list of content blocks")
	}
	parts := make([]llm.Part, 0, len(items))
	for i, item := range items {
		p, err := d.block(item, join(path, i), ctx)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// block decodes one content block. cache_control is accepted on every
// block and ignored on translation: it marks a prompt-cache breakpoint,
// which other providers place themselves.
func (d decoder) block(raw json.RawMessage, path string, ctx blockContext) (llm.Part, error) {
	m, err := parseObject(raw, path)
	if err != nil {
		return llm.Part{}, err
	}
	typ, err := d.requiredString(m, "type", path)
	if err != nil {
		return llm.Part{}, err
	}
	allowedIn := func(ok bool) error {
		if ok {
			return nil
		}
		return llm.Invalid(path+".type", "a %s block is not allowed here", typ)
	}
	switch typ {
	case wire.BlockText:
		if err := m.only(path, "type", "text", "citations", "cache_control"); err != nil {
			return llm.Part{}, err
		}
		if c, ok := present(m, "citations"); ok && !emptyArray(c) {
			return llm.Part{}, llm.Unsupported(path+".citations", "citations cannot be translated")
		}
		text, err := d.requiredString(m, "text", path)
		return llm.Part{Type: llm.PartText, Text: text}, err

	case wire.BlockImage:
		if err := allowedIn(ctx == blockUser || ctx == blockToolResult); err != nil {
			return llm.Part{}, err
		}
		if err := m.only(path, "type", "source", "cache_control"); err != nil {
			return llm.Part{}, err
		}
		return d.image(m, path)

	case wire.BlockToolUse:
		if err := allowedIn(ctx == blockAssistant); err != nil {
			return llm.Part{}, err
		}
		if err := m.only(path, "type", "id", "name", "input", "cache_control"); err != nil {
			return llm.Part{}, err
		}
		p := llm.Part{Type: llm.PartToolCall}
		if p.ToolCallID, err = d.requiredString(m, "id", path); err != nil {
			return p, err
		}
		if p.ToolName, err = d.requiredString(m, "name", path); err != nil {
			return p, err
		}
		input, ok := present(m, "input")
		if !ok {
			return p, llm.Invalid(path+".input", "Field required")
		}
		if p.Arguments, err = checkedObject(input, path+".input"); err != nil {
			return p, err
		}
		return p, nil

	case wire.BlockToolResult:
		if err := allowedIn(ctx == blockUser); err != nil {
			return llm.Part{}, err
		}
		if err := m.only(path, "type", "tool_use_id", "content", "is_error", "cache_control"); err != nil {
			return llm.Part{}, err
		}
		p := llm.Part{Type: llm.PartToolResult}
		if p.ToolCallID, err = d.requiredString(m, "tool_use_id", path); err != nil {
			return p, err
		}
		if p.IsError, _, err = d.boolean(m, "is_error", path); err != nil {
			return p, err
		}
		if c, ok := present(m, "content"); ok {
			if p.Content, err = d.content(c, path+".content", blockToolResult); err != nil {
				return p, err
			}
		}
		return p, nil

	case wire.BlockThinking:
		if err := allowedIn(ctx == blockAssistant); err != nil {
			return llm.Part{}, err
		}
		if err := m.only(path, "type", "thinking", "signature"); err != nil {
			return llm.Part{}, err
		}
		p := llm.Part{Type: llm.PartThinking}
		if p.Text, err = d.requiredString(m, "thinking", path); err != nil {
			return p, err
		}
		p.Signature, err = d.requiredString(m, "signature", path)
		return p, err

	case wire.BlockRedactedThinking:
		if err := allowedIn(ctx == blockAssistant); err != nil {
			return llm.Part{}, err
		}
		if err := m.only(path, "type", "data"); err != nil {
			return llm.Part{}, err
		}
		data, err := d.requiredString(m, "data", path)
		return llm.Part{Type: llm.PartRedactedThinking, RedactedData: data}, err
	}
	if ctx == blockSystem {
		return llm.Part{}, llm.Invalid(path+".type", "Input should be 'text'")
	}
	return llm.Part{}, llm.Unsupported(path+".type", "content blocks of type %q cannot be translated to the protocol of this model's provider", typ)
}

func (d decoder) image(m obj, path string) (llm.Part, error) {
	path += ".source"
	raw, ok := present(m, "source")
	if !ok {
		return llm.Part{}, llm.Invalid(path, "Field required")
	}
	src, err := parseObject(raw, path)
	if err != nil {
		return llm.Part{}, err
	}
	typ, err := d.requiredString(src, "type", path)
	if err != nil {
		return llm.Part{}, err
	}
	p := llm.Part{Type: llm.PartImage}
	switch typ {
	case wire.SourceBase64:
		if err := src.only(path, "type", "media_type", "data"); err != nil {
			return p, err
		}
		if p.MediaType, err = d.requiredString(src, "media_type", path); err != nil {
			return p, err
		}
		p.Data, err = d.requiredString(src, "data", path)
		return p, err
	case wire.SourceURL:
		if err := src.only(path, "type", "url"); err != nil {
			return p, err
		}
		p.URL, err = d.requiredString(src, "url", path)
		return p, err
	case wire.SourceFile:
		return p, llm.Unsupported(path+".type", "images from the Files API cannot be translated to the protocol of this model's provider")
	}
	return p, llm.Invalid(path+".type", "Input should be 'base64', 'url' or 'file'")
}

// tools decodes client tool definitions; server tools (typed bash_…,
// web_search_…) have no canonical form. eager_input_streaming only changes
// how Anthropic chunks a tool's input in a stream and is ignored on
// translation; cache_control is ignored as on blocks.
func (d decoder) tools(req *llm.Request, raw json.RawMessage) error {
	if isAbsent(raw) {
		return nil
	}
	items, err := parseArray(raw, "tools")
	if err != nil {
		return err
	}
	for i, item := range items {
		path := join("tools", i)
		m, err := parseObject(item, path)
		if err != nil {
			return err
		}
		if typ, ok, err := d.str(m, "type", path); err != nil {
			return err
		} else if ok && typ != "custom" {
			return llm.Unsupported(path+".type", "server tools (%q) cannot be translated to the protocol of this model's provider", typ)
		}
		if err := m.only(path, "type", "name", "description", "input_schema", "strict", "cache_control", "eager_input_streaming"); err != nil {
			return err
		}
		t := llm.Tool{}
		if t.Name, err = d.requiredString(m, "name", path); err != nil {
			return err
		}
		if t.Description, _, err = d.str(m, "description", path); err != nil {
			return err
		}
		if t.Strict, _, err = d.boolean(m, "strict", path); err != nil {
			return err
		}
		schema, ok := present(m, "input_schema")
		if !ok {
			return llm.Invalid(path+".input_schema", "Field required")
		}
		if t.Parameters, err = checkedObject(schema, path+".input_schema"); err != nil {
			return err
		}
		req.Tools = append(req.Tools, t)
	}
	return nil
}

func (d decoder) toolChoice(req *llm.Request, raw json.RawMessage) error {
	if isAbsent(raw) {
		return nil
	}
	const path = "tool_choice"
	m, err := parseObject(raw, path)
	if err != nil {
		return err
	}
	typ, err := d.requiredString(m, "type", path)
	if err != nil {
		return err
	}
	tc := &llm.ToolChoice{}
	switch typ {
	case wire.ToolChoiceAuto:
		tc.Mode = llm.ToolChoiceAuto
		err = m.only(path, "type", "disable_parallel_tool_use")
	case wire.ToolChoiceAny:
		tc.Mode = llm.ToolChoiceRequired
		err = m.only(path, "type", "disable_parallel_tool_use")
	case wire.ToolChoiceTool:
		tc.Mode = llm.ToolChoiceTool
		if err = m.only(path, "type", "name", "disable_parallel_tool_use"); err == nil {
			tc.Name, err = d.requiredString(m, "name", path)
		}
	case wire.ToolChoiceNone:
		tc.Mode = llm.ToolChoiceNone
		err = m.only(path, "type")
	default:
		return llm.Invalid(path+".type", "Input should be 'auto', 'any', 'tool' or 'none'")
	}
	if err != nil {
		return err
	}
	req.ToolChoice = tc
	if disable, ok, err := d.boolean(m, "disable_parallel_tool_use", path); err != nil {
		return err
	} else if ok {
		parallel := !disable
		req.ParallelToolCalls = &parallel
	}
	return nil
}

// thinking decodes the thinking config. "adaptive" becomes a Thinking with
// neither budget nor effort (the model decides); "display" has no
// canonical form.
func (d decoder) thinking(req *llm.Request, raw json.RawMessage) error {
	if isAbsent(raw) {
		return nil
	}
	const path = "thinking"
	m, err := parseObject(raw, path)
	if err != nil {
		return err
	}
	if _, ok := present(m, "display"); ok {
		return llm.Unsupported(path+".display", "thinking display cannot be translated to the protocol of this model's provider")
	}
	typ, err := d.requiredString(m, "type", path)
	if err != nil {
		return err
	}
	th := &llm.Thinking{}
	switch typ {
	case wire.ThinkingEnabled:
		if err := m.only(path, "type", "budget_tokens"); err != nil {
			return err
		}
		n, ok, err := d.integer(m, "budget_tokens", path)
		if err != nil {
			return err
		}
		if !ok {
			return llm.Invalid(path+".budget_tokens", "Field required")
		}
		if n < 1 {
			return llm.Invalid(path+".budget_tokens", "must be at least 1")
		}
		th.BudgetTokens = n
	case wire.ThinkingDisabled:
		if err := m.only(path, "type"); err != nil {
			return err
		}
		th.Disabled = true
	case wire.ThinkingAdaptive:
		if err := m.only(path, "type"); err != nil {
			return err
		}
	default:
		return llm.Invalid(path+".type", "Input should be 'enabled', 'disabled' or 'adaptive'")
	}
	if req.Thinking != nil {
		th.Effort = req.Thinking.Effort
	}
	req.Thinking = th
	return nil
}

// outputConfig decodes output_config: effort (canonical Thinking.Effort)
// and a JSON schema format (canonical ResponseFormat json_schema; Anthropic
// enforces the schema, so it is strict).
func (d decoder) outputConfig(req *llm.Request, raw json.RawMessage) error {
	if isAbsent(raw) {
		return nil
	}
	const path = "output_config"
	m, err := parseObject(raw, path)
	if err != nil {
		return err
	}
	if err := m.only(path, "effort", "format"); err != nil {
		return err
	}
	effort, ok, err := d.str(m, "effort", path)
	if err != nil {
		return err
	}
	if ok {
		switch effort {
		case "low", "medium", "high", "xhigh", "max":
		default:
			return llm.Invalid(path+".effort", "Input should be 'low', 'medium', 'high', 'xhigh' or 'max'")
		}
		if req.Thinking == nil {
			req.Thinking = &llm.Thinking{}
		}
		req.Thinking.Effort = effort
	}
	if fraw, ok := present(m, "format"); ok {
		fpath := path + ".format"
		f, err := parseObject(fraw, fpath)
		if err != nil {
			return err
		}
		if err := f.only(fpath, "type", "schema"); err != nil {
			return err
		}
		typ, err := d.requiredString(f, "type", fpath)
		if err != nil {
			return err
		}
		if typ != "json_schema" {
			return llm.Invalid(fpath+".type", "Input should be 'json_schema'")
		}
		schema, ok := present(f, "schema")
		if !ok {
			return llm.Invalid(fpath+".schema", "Field required")
		}
		s, err := checkedObject(schema, fpath+".schema")
		if err != nil {
			return err
		}
		req.ResponseFormat = &llm.ResponseFormat{Type: "json_schema", Schema: s, Strict: true}
	}
	return nil
}

// Field readers. A JSON null counts as absent.

func (decoder) str(m obj, key, path string) (string, bool, error) {
	raw, ok := present(m, key)
	if !ok {
		return "", false, nil
	}
	s, ok := stringValue(raw)
	if !ok {
		return "", false, llm.Invalid(joinKey(path, key), "Input should be a valid string")
	}
	return s, true, nil
}

func (d decoder) requiredString(m obj, key, path string) (string, error) {
	s, ok, err := d.str(m, key, path)
	if err == nil && !ok {
		err = llm.Invalid(joinKey(path, key), "Field required")
	}
	return s, err
}

func (decoder) boolean(m obj, key, path string) (bool, bool, error) {
	raw, ok := present(m, key)
	if !ok {
		return false, false, nil
	}
	var b bool
	if json.Unmarshal(raw, &b) != nil {
		return false, false, llm.Invalid(joinKey(path, key), "Input should be a valid boolean")
	}
	return b, true, nil
}

func (decoder) integer(m obj, key, path string) (int, bool, error) {
	raw, ok := present(m, key)
	if !ok {
		return 0, false, nil
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
		return 0, false, llm.Invalid(joinKey(path, key), "Input should be a valid integer")
	}
	return int(f), true, nil
}

func (decoder) float(m obj, key, path string) (*float64, error) {
	raw, ok := present(m, key)
	if !ok {
		return nil, nil
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil {
		return nil, llm.Invalid(joinKey(path, key), "Input should be a valid number")
	}
	return &f, nil
}

// JSON helpers.

// The request body passed jsonlimit.Check before anything below runs, so
// every raw value handed to these helpers is a slice of valid JSON: they
// split it without validating it again.

func parseObject(raw json.RawMessage, path string) (obj, error) {
	m, ok := rawjson.Object(raw)
	if !ok {
		return nil, llm.Invalid(path, "Input should be a valid dictionary")
	}
	return m, nil
}

func parseArray(raw json.RawMessage, path string) ([]json.RawMessage, error) {
	a, ok := rawjson.Array(raw)
	if !ok {
		return nil, llm.Invalid(path, "Input should be a valid list")
	}
	return a, nil
}

// stringValue reports whether raw is a JSON string (or null, which
// encoding/json leaves as ""), and its value.
func stringValue(raw []byte) (string, bool) { return rawjson.String(raw) }

// only reports the first key of m, in sorted order, outside allowed.
func (m obj) only(path string, allowed ...string) error {
	bad, found := "", false // the least key outside allowed
	for k := range m {
		if !slices.Contains(allowed, k) && (!found || k < bad) {
			bad, found = k, true
		}
	}
	if found {
		return llm.Invalid(joinKey(path, bad), "Extra inputs are not permitted")
	}
	return nil
}

func (m obj) sortedKeys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// present returns m[key] unless it is missing or null.
func present(m obj, key string) (json.RawMessage, bool) {
	raw, ok := m[key]
	if !ok || isAbsent(raw) {
		return nil, false
	}
	return raw, true
}

func isAbsent(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func emptyArray(raw json.RawMessage) bool {
	var a []json.RawMessage
	return json.Unmarshal(raw, &a) == nil && len(a) == 0
}

// compactObject checks that raw is a JSON object and returns it compacted.
func compactObject(raw json.RawMessage, path string) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, llm.Invalid(path, "Input should be a valid dictionary")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, llm.Invalid(path, "Input should be a valid dictionary")
	}
	return buf.Bytes(), nil
}

// checkedObject is compactObject for a value of a checked body: it is
// valid JSON, so only its space goes, without a second validation.
func checkedObject(raw json.RawMessage, path string) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, llm.Invalid(path, "Input should be a valid dictionary")
	}
	return rawjson.AppendCompact(make([]byte, 0, len(raw)), raw), nil
}

func join(path string, i int) string { return path + "." + strconv.Itoa(i) }

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
