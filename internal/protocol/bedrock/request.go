package bedrock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	wire "github.com/sluicehq/sluice/internal/apischema/bedrock"
	"github.com/sluicehq/sluice/internal/llm"
)

// EncodeRequest implements llm.UpstreamCodec. The model is not written into
// the body (Converse takes it from the URL); it only selects the form of
// model-specific fields (top_k for Amazon Nova).
//
// Mapping:
//   - system text parts -> system[].text; messages -> messages (text,
//     image as base64 bytes, tool_call -> toolUse, tool_result ->
//     toolResult with status "error" when IsError, thinking ->
//     reasoningContent.reasoningText {text, signature}, redacted_thinking ->
//     reasoningContent.redactedContent, its RedactedData being the base64
//     text of the blob). Empty text parts are left out: Bedrock rejects
//     blank text.
//   - max_tokens, temperature, top_p, stop -> inferenceConfig.
//   - tools -> toolConfig.tools[].toolSpec; tool_choice auto/required/tool
//     -> toolChoice auto/any/tool.
//   - response_format json_schema -> outputConfig.textFormat (a JSON
//     schema); thinking.effort -> outputConfig.effort.
//   - top_k -> additionalModelRequestFields.top_k (Amazon Nova:
//     additionalModelRequestFields.inferenceConfig.topK); thinking budget ->
//     additionalModelRequestFields.thinking {"type":"enabled",
//     "budget_tokens":N} and thinking disabled -> {"type":"disabled"}, the
//     Anthropic Claude form (other models reject them upstream).
//   - user -> requestMetadata.user.
//   - with stop sequences and an Anthropic model id,
//     additionalModelResponseFieldPaths ["/stop_sequence"], so that the
//     answer says which sequence stopped it.
func (codec) EncodeRequest(req *llm.Request, model string) ([]byte, error) {
	out, err := encodeRequest(req, model)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

func encodeRequest(req *llm.Request, model string) (*wire.ConverseRequest, *llm.Error) {
	if req == nil {
		return nil, llm.Invalid("messages", "empty request")
	}
	switch {
	case req.Seed != nil:
		return nil, llm.Unsupported("seed", "Bedrock Converse has no seed parameter")
	case req.FrequencyPenalty != nil:
		return nil, llm.Unsupported("frequency_penalty", "Bedrock Converse has no frequency penalty")
	case req.PresencePenalty != nil:
		return nil, llm.Unsupported("presence_penalty", "Bedrock Converse has no presence penalty")
	case req.ParallelToolCalls != nil && !*req.ParallelToolCalls:
		return nil, llm.Unsupported("parallel_tool_calls", "Bedrock Converse cannot disable parallel tool calls")
	}
	out := &wire.ConverseRequest{}
	for i, p := range req.System {
		if p.Type != llm.PartText {
			return nil, llm.Unsupported(fmt.Sprintf("system[%d]", i), "Bedrock Converse system prompts are text only, not %q", p.Type)
		}
		if p.Text == "" {
			continue
		}
		out.System = append(out.System, wire.SystemContentBlock{Text: ptr(p.Text)})
	}
	out.Messages = make([]wire.Message, 0, len(req.Messages))
	for i, m := range req.Messages {
		msg, err := encodeMessage(i, m)
		if err != nil {
			return nil, err
		}
		out.Messages = append(out.Messages, msg)
	}

	var inf wire.InferenceConfig
	if req.MaxTokens > 0 {
		inf.MaxTokens = ptr(req.MaxTokens)
	} else if req.MaxTokens < 0 {
		return nil, llm.Invalid("max_tokens", "must be positive")
	}
	inf.Temperature = req.Temperature
	inf.TopP = req.TopP
	inf.StopSequences = req.Stop
	if inf.MaxTokens != nil || inf.Temperature != nil || inf.TopP != nil || len(inf.StopSequences) > 0 {
		out.InferenceConfig = &inf
	}
	if len(req.Stop) > 0 && isAnthropic(model) {
		// Converse says stop_sequence but not which one; Claude reports it.
		out.AdditionalModelResponseFieldPaths = []string{"/stop_sequence"}
	}

	tc, err := encodeTools(req)
	if err != nil {
		return nil, err
	}
	out.ToolConfig = tc

	extra := map[string]any{}
	if req.TopK != nil {
		if isNova(model) {
			extra["inferenceConfig"] = map[string]any{"topK": *req.TopK}
		} else {
			extra["top_k"] = *req.TopK
		}
	}
	if t := req.Thinking; t != nil {
		switch {
		case t.Disabled:
			extra["thinking"] = map[string]any{"type": "disabled"}
		case t.BudgetTokens > 0:
			extra["thinking"] = map[string]any{"type": "enabled", "budget_tokens": t.BudgetTokens}
		case t.BudgetTokens < 0:
			return nil, llm.Invalid("thinking.budget_tokens", "must be positive")
		}
		if t.Effort != "" && !t.Disabled {
			switch t.Effort {
			case "low", "medium", "high", "xhigh", "max":
				out.OutputConfig = &wire.OutputConfig{Effort: t.Effort}
			default:
				return nil, llm.Unsupported("thinking.effort", "Bedrock Converse effort is low, medium, high, xhigh or max, not %q", t.Effort)
			}
		}
	}
	if len(extra) > 0 {
		b, mErr := json.Marshal(extra)
		if mErr != nil {
			return nil, llm.Invalid("thinking", "%v", mErr)
		}
		out.AdditionalModelRequestFields = b
	}

	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "", "text":
		case "json_schema":
			if len(rf.Schema) == 0 || !json.Valid(rf.Schema) {
				return nil, llm.Invalid("response_format", "json_schema needs a valid JSON schema")
			}
			if out.OutputConfig == nil {
				out.OutputConfig = &wire.OutputConfig{}
			}
			out.OutputConfig.TextFormat = &wire.OutputFormat{
				Type: wire.OutputFormatJSONSchema,
				Structure: wire.OutputFormatStructure{JSONSchema: &wire.JSONSchemaDefinition{
					Schema: string(rf.Schema),
					Name:   rf.Name,
				}},
			}
		default:
			return nil, llm.Unsupported("response_format", "Bedrock Converse supports structured output only as a JSON schema (json_schema), not %q", rf.Type)
		}
	}

	if req.User != "" {
		if !metadataValue.MatchString(req.User) {
			return nil, llm.Unsupported("user", "Bedrock requestMetadata values allow only letters, digits, spaces and :_@$#=/+,.- (at most 256)")
		}
		out.RequestMetadata = map[string]string{"user": req.User}
	}
	return out, nil
}

// metadataValue is the pattern of a requestMetadata value.
var metadataValue = regexp.MustCompile(`^[a-zA-Z0-9\s:_@$#=/+,.-]{1,256}$`)

func isNova(model string) bool { return strings.Contains(model, "amazon.nova") }

func isAnthropic(model string) bool { return strings.Contains(model, "anthropic.") }

func encodeMessage(i int, m llm.Message) (wire.Message, *llm.Error) {
	var msg wire.Message
	switch m.Role {
	case llm.RoleUser:
		msg.Role = wire.RoleUser
	case llm.RoleAssistant:
		msg.Role = wire.RoleAssistant
	default:
		return msg, llm.Unsupported(fmt.Sprintf("messages[%d].role", i), "Bedrock Converse roles are user and assistant, not %q", m.Role)
	}
	msg.Content = make([]wire.ContentBlock, 0, len(m.Content))
	for j, p := range m.Content {
		param := fmt.Sprintf("messages[%d].content[%d]", i, j)
		var b wire.ContentBlock
		switch p.Type {
		case llm.PartText:
			if p.Text == "" {
				continue
			}
			b.Text = ptr(p.Text)
		case llm.PartImage:
			img, err := encodeImage(param, p)
			if err != nil {
				return msg, err
			}
			b.Image = img
		case llm.PartToolCall:
			args := json.RawMessage(p.Arguments)
			if len(strings.TrimSpace(string(args))) == 0 {
				args = json.RawMessage("{}")
			} else if !json.Valid(args) || !isObject(args) {
				return msg, llm.Invalid(param+".arguments", "tool call arguments are not a JSON object")
			}
			b.ToolUse = &wire.ToolUseBlock{ToolUseID: p.ToolCallID, Name: p.ToolName, Input: args}
		case llm.PartToolResult:
			tr := &wire.ToolResultBlock{ToolUseID: p.ToolCallID, Content: make([]wire.ToolResultContentBlock, 0, len(p.Content))}
			if p.IsError {
				tr.Status = wire.ToolResultError
			}
			for k, c := range p.Content {
				cparam := fmt.Sprintf("%s.content[%d]", param, k)
				switch c.Type {
				case llm.PartText:
					tr.Content = append(tr.Content, wire.ToolResultContentBlock{Text: ptr(c.Text)})
				case llm.PartImage:
					img, err := encodeImage(cparam, c)
					if err != nil {
						return msg, err
					}
					tr.Content = append(tr.Content, wire.ToolResultContentBlock{Image: img})
				default:
					return msg, llm.Unsupported(cparam, "Bedrock tool results hold text and images, not %q", c.Type)
				}
			}
			b.ToolResult = tr
		case llm.PartThinking:
			if p.Signature == "" {
				// Reasoning from another protocol carries no signature, and
				// Bedrock's Claude models refuse unsigned reasoning blocks.
				continue
			}
			b.ReasoningContent = &wire.ReasoningContentBlock{ReasoningText: &wire.ReasoningTextBlock{Text: p.Text, Signature: p.Signature}}
		case llm.PartRedactedThinking:
			if p.RedactedData == "" {
				return msg, llm.Invalid(param, "redacted thinking without data")
			}
			b.ReasoningContent = &wire.ReasoningContentBlock{RedactedContent: p.RedactedData}
		default:
			return msg, llm.Unsupported(param, "Bedrock Converse cannot carry a %q part", p.Type)
		}
		msg.Content = append(msg.Content, b)
	}
	return msg, nil
}

// imageFormats maps media types to Converse image formats.
var imageFormats = map[string]string{
	"image/png":  wire.ImagePNG,
	"image/jpeg": wire.ImageJPEG,
	"image/jpg":  wire.ImageJPEG,
	"image/gif":  wire.ImageGIF,
	"image/webp": wire.ImageWebP,
}

// encodeImage maps an image part: base64 data or a data: URL. Converse takes
// image bytes (or S3 locations) only, and Sluice does not fetch URLs.
func encodeImage(param string, p llm.Part) (*wire.ImageBlock, *llm.Error) {
	switch p.Detail {
	case "", "auto":
	default:
		return nil, llm.Unsupported(param+".detail", "Bedrock Converse has no image detail setting")
	}
	mediaType, data := p.MediaType, p.Data
	if data == "" && p.URL != "" {
		rest, ok := strings.CutPrefix(p.URL, "data:")
		if !ok {
			return nil, llm.Unsupported(param, "Bedrock Converse takes images as bytes, not URLs (Sluice does not fetch image URLs); send the image as base64 data")
		}
		meta, payload, ok := strings.Cut(rest, ",")
		params := strings.Split(meta, ";")
		if !ok || len(params) < 2 || !strings.EqualFold(params[len(params)-1], "base64") {
			return nil, llm.Invalid(param, "a data: URL image must be base64-encoded")
		}
		mediaType, data = params[0], payload
	}
	if data == "" {
		return nil, llm.Invalid(param, "image without data")
	}
	format, ok := imageFormats[strings.ToLower(strings.TrimSpace(mediaType))]
	if !ok {
		return nil, llm.Unsupported(param, "Bedrock Converse images are png, jpeg, gif or webp, not %q", mediaType)
	}
	return &wire.ImageBlock{Format: format, Source: wire.ImageSource{Bytes: data}}, nil
}

var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

func encodeTools(req *llm.Request) (*wire.ToolConfig, *llm.Error) {
	choice := req.ToolChoice
	if len(req.Tools) == 0 {
		if choice != nil && (choice.Mode == llm.ToolChoiceRequired || choice.Mode == llm.ToolChoiceTool) {
			return nil, llm.Invalid("tool_choice", "tool_choice %q needs tools", choice.Mode)
		}
		return nil, nil
	}
	tc := &wire.ToolConfig{Tools: make([]wire.Tool, 0, len(req.Tools))}
	for i, t := range req.Tools {
		if t.Name == "" {
			return nil, llm.Invalid(fmt.Sprintf("tools[%d].name", i), "tool without a name")
		}
		schema := t.Parameters
		if len(schema) == 0 || string(schema) == "null" {
			schema = emptySchema
		} else if !json.Valid(schema) {
			return nil, llm.Invalid(fmt.Sprintf("tools[%d].parameters", i), "not valid JSON")
		}
		spec := &wire.ToolSpec{Name: t.Name, Description: t.Description, InputSchema: wire.ToolInputSchema{JSON: schema}}
		if t.Strict {
			spec.Strict = ptr(true)
		}
		tc.Tools = append(tc.Tools, wire.Tool{ToolSpec: spec})
	}
	if choice != nil {
		switch choice.Mode {
		case llm.ToolChoiceAuto, "":
			tc.ToolChoice = &wire.ToolChoice{Auto: &struct{}{}}
		case llm.ToolChoiceRequired:
			tc.ToolChoice = &wire.ToolChoice{Any: &struct{}{}}
		case llm.ToolChoiceTool:
			if choice.Name == "" {
				return nil, llm.Invalid("tool_choice", "tool_choice names no tool")
			}
			tc.ToolChoice = &wire.ToolChoice{Tool: &wire.SpecificToolChoice{Name: choice.Name}}
		case llm.ToolChoiceNone:
			return nil, llm.Unsupported("tool_choice", "Bedrock Converse has no tool_choice \"none\"; send the request without tools instead")
		default:
			return nil, llm.Invalid("tool_choice", "unknown mode %q", choice.Mode)
		}
	}
	return tc, nil
}

func ptr[T any](v T) *T { return &v }

func isObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}
