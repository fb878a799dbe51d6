package anthropic

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	wire "github.com/sluicehq/sluice/internal/apischema/anthropic"
	"github.com/sluicehq/sluice/internal/llm"
)

// DefaultMaxTokens is the max_tokens Sluice sends Anthropic when the
// client gave none: Anthropic requires the field, other protocols do not.
// 4096 is what every current Claude model can produce; when a thinking
// budget is at least that large, max_tokens is the budget plus 4096, since
// Anthropic requires max_tokens to exceed budget_tokens.
const DefaultMaxTokens = 4096

// EncodeRequest implements llm.UpstreamCodec.
func (upstreamCodec) EncodeRequest(req *llm.Request, model string) ([]byte, error) {
	out, err := encodeRequest(req, model)
	if err != nil {
		return nil, err
	}
	return marshalRequest(out)
}

// EncodeCountTokensRequest renders req as the body of POST
// /v1/messages/count_tokens: a Messages body without max_tokens, stream,
// sampling and metadata.
func EncodeCountTokensRequest(req *llm.Request, model string) ([]byte, error) {
	out, err := encodeRequest(req, model)
	if err != nil {
		return nil, err
	}
	out.MaxTokens, out.Stream, out.StopSequences = 0, false, nil
	out.Temperature, out.TopP, out.TopK, out.Metadata = nil, nil, nil, nil
	return marshalRequest(out)
}

// DecodeCountTokensResponse reads the input_tokens of a count_tokens answer.
func DecodeCountTokensResponse(body []byte) (int64, error) {
	var r struct {
		InputTokens *int64 `json:"input_tokens"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, fmt.Errorf("anthropic: count_tokens answer: %w", err)
	}
	if r.InputTokens == nil {
		return 0, fmt.Errorf("anthropic: count_tokens answer has no input_tokens")
	}
	return *r.InputTokens, nil
}

func encodeRequest(req *llm.Request, model string) (*wire.MessagesRequest, error) {
	if req == nil {
		return nil, llm.Invalid("", "no request")
	}
	out := &wire.MessagesRequest{
		Model:         model,
		MaxTokens:     req.MaxTokens,
		StopSequences: req.Stop,
		Temperature:   req.Temperature,
		TopP:          req.TopP,
		TopK:          req.TopK,
		Stream:        req.Stream,
		Messages:      make([]wire.MessageParam, 0, len(req.Messages)),
	}
	if out.Model == "" {
		out.Model = req.Model
	}
	switch {
	case req.Seed != nil:
		return nil, llm.Unsupported("seed", "Anthropic has no seed parameter")
	case req.FrequencyPenalty != nil && *req.FrequencyPenalty != 0:
		return nil, llm.Unsupported("frequency_penalty", "Anthropic has no frequency penalty")
	case req.PresencePenalty != nil && *req.PresencePenalty != 0:
		return nil, llm.Unsupported("presence_penalty", "Anthropic has no presence penalty")
	}
	if req.User != "" {
		out.Metadata = &wire.Metadata{UserID: req.User}
	}
	if err := encodeSystem(out, req.System); err != nil {
		return nil, err
	}
	for i, m := range req.Messages {
		mp, err := encodeMessage(m, i)
		if err != nil {
			return nil, err
		}
		out.Messages = append(out.Messages, mp)
	}
	for _, t := range req.Tools {
		schema := t.Parameters
		if isAbsent(schema) {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, wire.Tool{Name: t.Name, Description: t.Description, InputSchema: schema, Strict: t.Strict})
	}
	encodeToolChoice(out, req)
	if err := encodeThinking(out, req); err != nil {
		return nil, err
	}
	if err := encodeResponseFormat(out, req.ResponseFormat); err != nil {
		return nil, err
	}
	if out.MaxTokens <= 0 {
		out.MaxTokens = DefaultMaxTokens
		if out.Thinking != nil && out.Thinking.BudgetTokens >= DefaultMaxTokens {
			out.MaxTokens = out.Thinking.BudgetTokens + DefaultMaxTokens
		}
	}
	return out, nil
}

func encodeSystem(out *wire.MessagesRequest, parts []llm.Part) error {
	if len(parts) == 0 {
		return nil
	}
	blocks := make([]wire.TextBlock, 0, len(parts))
	for i, p := range parts {
		if p.Type != llm.PartText {
			return llm.Unsupported(fmt.Sprintf("system.%d", i), "a system prompt can only hold text, not %s", p.Type)
		}
		blocks = append(blocks, wire.TextBlock{Type: wire.BlockText, Text: p.Text})
	}
	var err error
	if len(blocks) == 1 {
		out.System = textJSON(blocks[0].Text)
	} else {
		out.System, err = json.Marshal(blocks)
	}
	return err
}

// encodeMessage renders one message. Text parts that are empty are left
// out (Anthropic rejects empty text blocks; an empty text says nothing),
// as are thinking parts without a signature, which Anthropic cannot verify
// and would reject (it ignores the thinking of earlier turns anyway). In a
// user message, tool results go first, as Anthropic requires.
func encodeMessage(m llm.Message, i int) (wire.MessageParam, error) {
	// Paths are for errors only: built when one is returned.
	path := func() string { return "messages." + strconv.Itoa(i) }
	var mp wire.MessageParam
	switch m.Role {
	case llm.RoleUser, llm.RoleAssistant:
		mp.Role = string(m.Role)
	default:
		return mp, llm.Invalid(path()+".role", "unknown role %q", m.Role)
	}
	parts := m.Content
	if slices.ContainsFunc(parts, skipped) {
		parts = slices.DeleteFunc(slices.Clone(parts), skipped)
	}
	if m.Role == llm.RoleUser && !resultsFirst(parts) {
		results := make([]llm.Part, 0, len(parts))
		other := make([]llm.Part, 0, len(parts))
		for _, p := range parts {
			if p.Type == llm.PartToolResult {
				results = append(results, p)
			} else {
				other = append(other, p)
			}
		}
		parts = append(results, other...)
	}
	var err error
	if len(parts) == 0 || (len(parts) == 1 && parts[0].Type == llm.PartText) {
		text := ""
		if len(parts) == 1 {
			text = parts[0].Text
		}
		mp.Content = textJSON(text)
		return mp, nil
	}
	blocks := make([]any, 0, len(parts))
	for j, p := range parts {
		b, err := encodePart(p, func() string { return path() + ".content." + strconv.Itoa(j) }, m.Role)
		if err != nil {
			return mp, err
		}
		blocks = append(blocks, b)
	}
	mp.Content, err = appendBlocks(make([]byte, 0, 256), blocks)
	return mp, err
}

// skipped reports a part that encodeMessage leaves out: an empty text, or
// thinking without a signature.
func skipped(p llm.Part) bool {
	return p.Type == llm.PartText && p.Text == "" || p.Type == llm.PartThinking && p.Signature == ""
}

// resultsFirst reports whether no tool result follows another part.
func resultsFirst(parts []llm.Part) bool {
	other := false
	for _, p := range parts {
		if p.Type != llm.PartToolResult {
			other = true
		} else if other {
			return false
		}
	}
	return true
}

func encodePart(p llm.Part, pathOf func() string, role llm.Role) (any, error) {
	wrongRole := func() error {
		return llm.Unsupported(pathOf(), "Anthropic does not take %s content in a %s message", p.Type, role)
	}
	switch p.Type {
	case llm.PartText:
		return wire.TextBlock{Type: wire.BlockText, Text: p.Text}, nil
	case llm.PartImage:
		if role != llm.RoleUser {
			return nil, wrongRole()
		}
		return encodeImage(p, pathOf())
	case llm.PartToolCall:
		if role != llm.RoleAssistant {
			return nil, wrongRole()
		}
		input, err := toolInput(p.Arguments)
		if err != nil {
			return nil, llm.Invalid(pathOf()+".arguments", "tool call arguments must be a JSON object")
		}
		if p.ToolCallID == "" {
			return nil, llm.Invalid(pathOf()+".tool_call_id", "a tool call needs an id")
		}
		return wire.ToolUseBlock{Type: wire.BlockToolUse, ID: toolID(p.ToolCallID), Name: p.ToolName, Input: input}, nil
	case llm.PartToolResult:
		if role != llm.RoleUser {
			return nil, wrongRole()
		}
		if p.ToolCallID == "" {
			return nil, llm.Invalid(pathOf()+".tool_call_id", "a tool result needs the id of its call")
		}
		b := wire.ToolResultBlock{Type: wire.BlockToolResult, ToolUseID: toolID(p.ToolCallID), IsError: p.IsError}
		content, err := encodeToolResultContent(p.Content, pathOf()+".content")
		if err != nil {
			return nil, err
		}
		b.Content = content
		return b, nil
	case llm.PartThinking:
		if role != llm.RoleAssistant {
			return nil, wrongRole()
		}
		return wire.ThinkingBlock{Type: wire.BlockThinking, Thinking: p.Text, Signature: p.Signature}, nil
	case llm.PartRedactedThinking:
		if role != llm.RoleAssistant {
			return nil, wrongRole()
		}
		return wire.RedactedThinkingBlock{Type: wire.BlockRedactedThinking, Data: p.RedactedData}, nil
	}
	return nil, llm.Unsupported(pathOf(), "unknown content type %q", p.Type)
}

// encodeToolResultContent renders a tool result's content: nothing, a
// string for one text, else text and image blocks.
func encodeToolResultContent(parts []llm.Part, path string) (json.RawMessage, error) {
	switch {
	case len(parts) == 0:
		return nil, nil
	case len(parts) == 1 && parts[0].Type == llm.PartText:
		return textJSON(parts[0].Text), nil
	}
	blocks := make([]any, 0, len(parts))
	for k, q := range parts {
		qpath := fmt.Sprintf("%s.%d", path, k)
		switch q.Type {
		case llm.PartText:
			if q.Text == "" {
				continue
			}
			blocks = append(blocks, wire.TextBlock{Type: wire.BlockText, Text: q.Text})
		case llm.PartImage:
			img, err := encodeImage(q, qpath)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, img)
		default:
			return nil, llm.Unsupported(qpath, "a tool result can only hold text and images, not %s", q.Type)
		}
	}
	if len(blocks) == 0 {
		return nil, nil
	}
	return appendBlocks(nil, blocks)
}

// encodeImage renders an image: base64 data (also from a data: URL) or an
// http(s) URL. OpenAI's detail "low" asks for a downscaled image, which
// Anthropic cannot be told; "auto" and "high" are what Anthropic does.
func encodeImage(p llm.Part, path string) (wire.ImageBlock, error) {
	b := wire.ImageBlock{Type: wire.BlockImage}
	if p.Detail == "low" {
		return b, llm.Unsupported(path+".detail", "Anthropic has no low-detail image mode")
	}
	switch {
	case p.Data != "":
		if p.MediaType == "" {
			return b, llm.Invalid(path+".media_type", "a base64 image needs a media type")
		}
		b.Source = wire.ImageSource{Type: wire.SourceBase64, MediaType: p.MediaType, Data: p.Data}
	case strings.HasPrefix(p.URL, "data:"):
		mediaType, data, ok := parseDataURL(p.URL)
		if !ok {
			return b, llm.Invalid(path+".url", "a data: URL image must be base64-encoded")
		}
		b.Source = wire.ImageSource{Type: wire.SourceBase64, MediaType: mediaType, Data: data}
	case strings.HasPrefix(p.URL, "https://") || strings.HasPrefix(p.URL, "http://"):
		b.Source = wire.ImageSource{Type: wire.SourceURL, URL: p.URL}
	default:
		return b, llm.Invalid(path+".url", "an image needs base64 data, a data: URL or an http(s) URL")
	}
	return b, nil
}

// parseDataURL splits "data:<media type>;base64,<data>".
func parseDataURL(u string) (mediaType, data string, ok bool) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return "", "", false
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok {
		return "", "", false
	}
	mediaType, ok = strings.CutSuffix(meta, ";base64")
	if !ok || mediaType == "" {
		return "", "", false
	}
	return mediaType, data, true
}

// toolID makes a tool call id acceptable to Anthropic, which allows only
// [a-zA-Z0-9_-]: other bytes become "_". The mapping is the same for a call
// and its result, so they stay linked.
func toolID(id string) string {
	ok := true
	for i := 0; i < len(id); i++ {
		if !idByte(id[i]) {
			ok = false
			break
		}
	}
	if ok {
		return id
	}
	b := []byte(id)
	for i, c := range b {
		if !idByte(c) {
			b[i] = '_'
		}
	}
	return string(b)
}

func idByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// encodeToolChoice renders tool_choice. ParallelToolCalls false becomes
// disable_parallel_tool_use (on an "auto" choice when there is none); true
// is Anthropic's default and is written only on an explicit choice.
func encodeToolChoice(out *wire.MessagesRequest, req *llm.Request) {
	tc := req.ToolChoice
	if tc == nil {
		if req.ParallelToolCalls != nil && !*req.ParallelToolCalls && len(req.Tools) > 0 {
			disable := true
			out.ToolChoice = &wire.ToolChoice{Type: wire.ToolChoiceAuto, DisableParallelToolUse: &disable}
		}
		return
	}
	c := &wire.ToolChoice{}
	switch tc.Mode {
	case llm.ToolChoiceNone:
		out.ToolChoice = &wire.ToolChoice{Type: wire.ToolChoiceNone}
		return
	case llm.ToolChoiceRequired:
		c.Type = wire.ToolChoiceAny
	case llm.ToolChoiceTool:
		c.Type, c.Name = wire.ToolChoiceTool, tc.Name
	default:
		c.Type = wire.ToolChoiceAuto
	}
	if req.ParallelToolCalls != nil {
		disable := !*req.ParallelToolCalls
		c.DisableParallelToolUse = &disable
	}
	out.ToolChoice = c
}

// encodeThinking renders thinking and output_config.effort. A budget is
// manual thinking ("enabled"); an effort or an empty Thinking (no budget,
// no effort) is adaptive thinking, where the model decides, with the effort
// in output_config. OpenAI's "minimal" effort is Anthropic's "low"; "none"
// is thinking disabled.
func encodeThinking(out *wire.MessagesRequest, req *llm.Request) error {
	th := req.Thinking
	if th == nil {
		return nil
	}
	effort := th.Effort
	switch effort {
	case "", "low", "medium", "high", "xhigh", "max":
	case "minimal":
		effort = "low"
	case "none":
		effort = ""
		if th.BudgetTokens <= 0 {
			out.Thinking = &wire.ThinkingConfig{Type: wire.ThinkingDisabled}
			return nil
		}
	default:
		return llm.Unsupported("reasoning_effort", "Anthropic has no %q effort (low, medium, high, xhigh, max)", th.Effort)
	}
	switch {
	case th.Disabled:
		out.Thinking = &wire.ThinkingConfig{Type: wire.ThinkingDisabled}
	case th.BudgetTokens > 0:
		out.Thinking = &wire.ThinkingConfig{Type: wire.ThinkingEnabled, BudgetTokens: th.BudgetTokens}
	default:
		out.Thinking = &wire.ThinkingConfig{Type: wire.ThinkingAdaptive}
	}
	if effort != "" {
		out.OutputConfig = &wire.OutputConfig{Effort: effort}
	}
	return nil
}

// encodeResponseFormat maps JSON mode to Anthropic's structured output
// (output_config.format). Anthropic enforces the schema, as OpenAI's strict
// mode does; the format's name has no Anthropic counterpart and only labels
// it. json_object has no counterpart: Anthropic needs a schema.
func encodeResponseFormat(out *wire.MessagesRequest, rf *llm.ResponseFormat) error {
	if rf == nil {
		return nil
	}
	switch rf.Type {
	case "", "text":
		return nil
	case "json_schema":
		if isAbsent(rf.Schema) {
			return llm.Invalid("response_format", "a json_schema response format needs a schema")
		}
		if out.OutputConfig == nil {
			out.OutputConfig = &wire.OutputConfig{}
		}
		out.OutputConfig.Format = &wire.OutputFormat{Type: "json_schema", Schema: rf.Schema}
		return nil
	case "json_object":
		return llm.Unsupported("response_format", "Anthropic has no JSON object mode: use a json_schema response format with a schema")
	}
	return llm.Unsupported("response_format", "unknown response format %q", rf.Type)
}

// DecodeResponse implements llm.UpstreamCodec. Content blocks with no
// canonical form (server tool blocks, which only appear when the client
// asked for server tools and the request went through unchanged) are
// skipped, so that pass-through metering still reads the usage.
func (upstreamCodec) DecodeResponse(body []byte) (*llm.Response, error) {
	var m wire.MessageDecoded
	if !decodeMessage(body, &m) {
		m = wire.MessageDecoded{}
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, fmt.Errorf("anthropic: decoding the message: %w", err)
		}
	}
	if m.Type != "" && m.Type != "message" {
		return nil, fmt.Errorf("anthropic: expected a message, got %q", m.Type)
	}
	resp := &llm.Response{
		ID:         m.ID,
		Model:      m.Model,
		Content:    make([]llm.Part, 0, len(m.Content)),
		StopReason: stopFromWire(m.StopReason),
	}
	if m.StopSequence != nil {
		resp.StopSeq = *m.StopSequence
	}
	if m.Usage != nil {
		var c counts
		c.apply(m.Usage)
		resp.Usage = c.usage()
	}
	for _, b := range m.Content {
		switch b.Type {
		case wire.BlockText:
			resp.Content = append(resp.Content, llm.Part{Type: llm.PartText, Text: b.Text})
		case wire.BlockToolUse:
			args := b.Input
			if isAbsent(args) {
				args = json.RawMessage("{}")
			} else if c, err := compactObject(args, ""); err == nil {
				args = c
			}
			resp.Content = append(resp.Content, llm.Part{Type: llm.PartToolCall, ToolCallID: b.ID, ToolName: b.Name, Arguments: args})
		case wire.BlockThinking:
			resp.Content = append(resp.Content, llm.Part{Type: llm.PartThinking, Text: b.Thinking, Signature: b.Signature})
		case wire.BlockRedactedThinking:
			resp.Content = append(resp.Content, llm.Part{Type: llm.PartRedactedThinking, RedactedData: b.Data})
		}
	}
	return resp, nil
}

// NewStreamReader implements llm.UpstreamCodec.
func (upstreamCodec) NewStreamReader() llm.StreamReader { return &streamReader{} }
