package anthropicfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// messagesRequest is the part of a Messages (or count_tokens) request the fake reads.
type messagesRequest struct {
	Model         string          `json:"model"`
	MaxTokens     *int            `json:"max_tokens"`
	Messages      []inMessage     `json:"messages"`
	System        json.RawMessage `json:"system"`
	Stream        bool            `json:"stream"`
	StopSequences []string        `json:"stop_sequences"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	TopK          *int            `json:"top_k"`
	Tools         []inTool        `json:"tools"`
	ToolChoice    *struct {
		Type                   string `json:"type"`
		Name                   string `json:"name"`
		DisableParallelToolUse *bool  `json:"disable_parallel_tool_use"`
	} `json:"tool_choice"`
	Thinking *struct {
		Type         string `json:"type"`
		BudgetTokens *int   `json:"budget_tokens"`
	} `json:"thinking"`
	OutputConfig *struct {
		Effort string `json:"effort"`
		Format *struct {
			Type   string          `json:"type"`
			Schema json.RawMessage `json:"schema"`
		} `json:"format"`
	} `json:"output_config"`
}

type inMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type inTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// custom reports whether t is a client tool (not a server tool such as web search).
func (t inTool) custom() bool { return t.Type == "" || t.Type == "custom" }

// inBlock is a content block of a request.
type inBlock struct {
	Type   string  `json:"type"`
	Text   *string `json:"text"`
	Source *struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type"`
		Data      string `json:"data"`
		URL       string `json:"url"`
	} `json:"source"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	Thinking  *string         `json:"thinking"`
	Signature *string         `json:"signature"`
	Data      string          `json:"data"`
}

// Top-level fields of the two endpoints; anything else is "Extra inputs are not
// permitted", as the API says.
var (
	messageFields = []string{"model", "messages", "max_tokens", "system", "stop_sequences", "stream", "temperature", "top_p", "top_k",
		"tools", "tool_choice", "thinking", "metadata", "output_config", "service_tier", "container", "mcp_servers", "cache_control",
		"inference_geo", "speed", "diagnostics", "context_management"}
	countFields = []string{"model", "messages", "system", "tools", "tool_choice", "thinking", "output_config", "cache_control",
		"speed", "mcp_servers", "context_management"}
)

var (
	toolIDPattern   = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	toolNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)
	imageTypes      = []string{"image/jpeg", "image/png", "image/gif", "image/webp"}
	knownBlocks     = []string{"text", "image", "document", "search_result", "thinking", "redacted_thinking", "tool_use", "tool_result",
		"server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
		"bash_code_execution_tool_result", "text_editor_code_execution_tool_result", "tool_search_tool_result", "container_upload"}
)

// apiError is a 4xx the fake answers with.
type apiError struct {
	status int
	typ    string
	msg    string
}

func invalid(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: errInvalidRequest, msg: fmt.Sprintf(format, args...)}
}

// parseRequest decodes and validates a request body as the API does, for the
// Messages endpoint or (count) for count_tokens.
func parseRequest(body []byte, count bool) (*messagesRequest, *apiError) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return nil, invalid("There was an error parsing the body of your request: the body must be a JSON object")
	}
	allowed := messageFields
	if count {
		allowed = countFields
	}
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			return nil, invalid("%s: Extra inputs are not permitted", k)
		}
	}
	var req messagesRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, invalid("There was an error parsing the body of your request: %v", err)
	}
	if e := validate(&req, count); e != nil {
		return nil, e
	}
	return &req, nil
}

func validate(req *messagesRequest, count bool) *apiError {
	switch {
	case req.Model == "":
		return invalid("model: Field required")
	case !count && req.MaxTokens == nil:
		return invalid("max_tokens: Field required")
	case !count && *req.MaxTokens < 1:
		return invalid("max_tokens: Input should be greater than or equal to 1")
	case len(req.Messages) == 0:
		return invalid("messages: Field required")
	case req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 1):
		return invalid("temperature: Input should be less than or equal to 1")
	case req.TopP != nil && (*req.TopP < 0 || *req.TopP > 1):
		return invalid("top_p: Input should be less than or equal to 1")
	}
	if e := validateSystem(req.System); e != nil {
		return e
	}
	if e := validateTools(req); e != nil {
		return e
	}
	if th := req.Thinking; th != nil {
		switch th.Type {
		case "enabled":
			if th.BudgetTokens == nil {
				return invalid("thinking.enabled.budget_tokens: Field required")
			}
			if *th.BudgetTokens < 1024 {
				return invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
			}
			if !count && *th.BudgetTokens >= *req.MaxTokens {
				return invalid("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size")
			}
		case "disabled", "adaptive":
		default:
			return invalid("thinking: Input tag '%s' found using 'type' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'", th.Type)
		}
	}
	if oc := req.OutputConfig; oc != nil {
		if oc.Effort != "" && !slices.Contains([]string{"low", "medium", "high", "xhigh", "max"}, oc.Effort) {
			return invalid("output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'")
		}
		if f := oc.Format; f != nil {
			if f.Type != "json_schema" {
				return invalid("output_config.format.type: Input should be 'json_schema'")
			}
			if !isObject(f.Schema) {
				return invalid("output_config.format.schema: Input should be a valid dictionary")
			}
		}
	}
	return validateMessages(req.Messages)
}

func validateSystem(raw json.RawMessage) *apiError {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return nil
	}
	var blocks []inBlock
	if json.Unmarshal(raw, &blocks) != nil {
		return invalid("system: Input should be a valid string or list")
	}
	for i, b := range blocks {
		if b.Type != "text" {
			return invalid("system.%d.type: Input should be 'text'", i)
		}
		if b.Text == nil || *b.Text == "" {
			return invalid("system: text content blocks must be non-empty")
		}
	}
	return nil
}

func validateTools(req *messagesRequest) *apiError {
	names := map[string]bool{}
	for i, t := range req.Tools {
		if !t.custom() {
			continue
		}
		if !toolNamePattern.MatchString(t.Name) {
			return invalid("tools.%d.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'", i)
		}
		if names[t.Name] {
			return invalid("tools: Tool names must be unique.")
		}
		names[t.Name] = true
		var schema struct {
			Type string `json:"type"`
		}
		if !isObject(t.InputSchema) || json.Unmarshal(t.InputSchema, &schema) != nil {
			return invalid("tools.%d.custom.input_schema: Field required", i)
		}
		if schema.Type != "object" {
			return invalid("tools.%d.custom.input_schema.type: Input should be 'object'", i)
		}
	}
	if tc := req.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto", "none":
		case "any":
			if len(req.Tools) == 0 {
				return invalid("tool_choice: tool_choice may only be specified while providing tools")
			}
		case "tool":
			if !names[tc.Name] {
				return invalid("tool_choice: Tool '%s' not found in provided tools", tc.Name)
			}
		default:
			return invalid("tool_choice: Input tag '%s' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'", tc.Type)
		}
	}
	return nil
}

// validateMessages checks roles, content blocks, the pairing of tool_use and
// tool_result blocks, and thinking signatures.
func validateMessages(msgs []inMessage) *apiError {
	var prevToolUses []string // the tool_use ids of the previous assistant message
	for i, m := range msgs {
		switch m.Role {
		case "user", "assistant", "system":
		default:
			return invalid("messages.%d.role: Input should be 'user', 'assistant' or 'system'", i)
		}
		blocks, str, ok := contentBlocks(m.Content)
		if !ok {
			return invalid("messages.%d.content: Input should be a valid string or list", i)
		}
		last := i == len(msgs)-1
		if blocks == nil && str == "" || blocks != nil && len(blocks) == 0 {
			if !(last && m.Role == "assistant") {
				return invalid("messages.%d: all messages must have non-empty content except for the optional final assistant message", i)
			}
		}
		var toolUses, results []string
		for j, b := range blocks {
			path := fmt.Sprintf("messages.%d.content.%d", i, j)
			if e := validateBlock(b, m.Role, path); e != nil {
				return e
			}
			switch b.Type {
			case "tool_use":
				toolUses = append(toolUses, b.ID)
			case "tool_result":
				if !slices.Contains(prevToolUses, b.ToolUseID) {
					return invalid("%s: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", path, b.ToolUseID)
				}
				results = append(results, b.ToolUseID)
			}
		}
		if len(prevToolUses) > 0 && m.Role == "user" {
			for _, id := range prevToolUses {
				if !slices.Contains(results, id) {
					return invalid("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", i-1, id)
				}
			}
		}
		prevToolUses = toolUses
	}
	return nil
}

func validateBlock(b inBlock, role, path string) *apiError {
	only := func(roles ...string) *apiError {
		if slices.Contains(roles, role) {
			return nil
		}
		return invalid("%s.type: %s blocks are not allowed in %s messages", path, b.Type, role)
	}
	switch b.Type {
	case "text":
		if b.Text == nil || *b.Text == "" {
			return invalid("messages: text content blocks must be non-empty")
		}
	case "image":
		if e := only("user"); e != nil {
			return e
		}
		if e := validateImage(b, path); e != nil {
			return e
		}
	case "tool_use":
		if e := only("assistant"); e != nil {
			return e
		}
		if !toolIDPattern.MatchString(b.ID) {
			return invalid("%s.id: String should match pattern '^[a-zA-Z0-9_-]+$'", path)
		}
		if b.Name == "" {
			return invalid("%s.name: Field required", path)
		}
		if !isObject(b.Input) {
			return invalid("%s.input: Input should be a valid dictionary", path)
		}
	case "tool_result":
		if e := only("user"); e != nil {
			return e
		}
		if !toolIDPattern.MatchString(b.ToolUseID) {
			return invalid("%s.tool_use_id: String should match pattern '^[a-zA-Z0-9_-]+$'", path)
		}
		if len(b.Content) > 0 && string(b.Content) != "null" {
			var s string
			var parts []inBlock
			if json.Unmarshal(b.Content, &s) != nil && json.Unmarshal(b.Content, &parts) != nil {
				return invalid("%s.content: Input should be a valid string or list", path)
			}
			for k, p := range parts {
				switch p.Type {
				case "text", "image", "document", "search_result":
					if e := validateBlock(p, "user", fmt.Sprintf("%s.content.%d", path, k)); e != nil {
						return e
					}
				default:
					return invalid("%s.content.%d.type: Input tag '%s' found using 'type' does not match any of the expected tags", path, k, p.Type)
				}
			}
		}
	case "thinking":
		if e := only("assistant"); e != nil {
			return e
		}
		if b.Thinking == nil || b.Signature == nil {
			return invalid("%s: thinking blocks need thinking and signature", path)
		}
		if *b.Signature != Signature(*b.Thinking) {
			return invalid("%s: Invalid `signature` in `thinking` block", path)
		}
	case "redacted_thinking":
		if e := only("assistant"); e != nil {
			return e
		}
		if b.Data == "" {
			return invalid("%s.data: Field required", path)
		}
	default:
		if !slices.Contains(knownBlocks, b.Type) {
			return invalid("%s.type: Input tag '%s' found using 'type' does not match any of the expected tags", path, b.Type)
		}
	}
	return nil
}

func validateImage(b inBlock, path string) *apiError {
	src := b.Source
	if src == nil {
		return invalid("%s.source: Field required", path)
	}
	switch src.Type {
	case "base64":
		if !slices.Contains(imageTypes, src.MediaType) {
			return invalid("%s.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'", path)
		}
		if src.Data == "" {
			return invalid("%s.source.base64.data: Field required", path)
		}
	case "url":
		if !strings.HasPrefix(src.URL, "http://") && !strings.HasPrefix(src.URL, "https://") {
			return invalid("%s.source.url.url: Input should be a valid URL", path)
		}
	case "file":
	default:
		return invalid("%s.source: Input tag '%s' found using 'type' does not match any of the expected tags: 'base64', 'url', 'file'", path, src.Type)
	}
	return nil
}

// contentBlocks decodes a message content: blocks, or a string (blocks nil).
func contentBlocks(raw json.RawMessage) (blocks []inBlock, str string, ok bool) {
	if json.Unmarshal(raw, &str) == nil {
		return nil, str, true
	}
	if json.Unmarshal(raw, &blocks) == nil && blocks != nil {
		return blocks, "", true
	}
	return nil, "", false
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	var m map[string]json.RawMessage
	return len(raw) > 0 && raw[0] == '{' && json.Unmarshal(raw, &m) == nil
}
