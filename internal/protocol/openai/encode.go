package openai

import (
	"encoding/json"
	"fmt"
	"strings"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/llm"
)

// EncodeRequest implements llm.UpstreamCodec.
func (u UpstreamCodec) EncodeRequest(req *llm.Request, model string) ([]byte, error) {
	if model == "" {
		model = req.Model
	}
	w := oa.ChatRequest{Model: model, Messages: []oa.ChatMessage{}}
	if len(req.System) > 0 {
		content, err := textContent(req.System, "system")
		if err != nil {
			return nil, err
		}
		w.Messages = append(w.Messages, oa.ChatMessage{Role: "system", Content: content})
	}
	for i, m := range req.Messages {
		p := index("messages", i)
		var err error
		switch m.Role {
		case llm.RoleUser:
			w.Messages, err = encodeUser(w.Messages, m, p)
		case llm.RoleAssistant:
			var msg oa.ChatMessage
			msg, err = u.encodeAssistant(m, p)
			w.Messages = append(w.Messages, msg)
		default:
			err = llm.Invalid(p+".role", "unknown role %q", m.Role)
		}
		if err != nil {
			return nil, err
		}
	}

	for i, t := range req.Tools {
		fn := oa.ChatFunction{Name: t.Name, Description: t.Description}
		if len(t.Parameters) > 0 {
			if !json.Valid(t.Parameters) {
				return nil, llm.Invalid(fmt.Sprintf("tools[%d].parameters", i), "the parameters are not valid JSON")
			}
			fn.Parameters = t.Parameters
		}
		if t.Strict {
			fn.Strict = ptr(true)
		}
		w.Tools = append(w.Tools, oa.ChatTool{Type: "function", Function: fn})
	}
	if tc := req.ToolChoice; tc != nil {
		switch tc.Mode {
		case llm.ToolChoiceAuto, llm.ToolChoiceNone, llm.ToolChoiceRequired:
			w.ToolChoice, _ = marshal(string(tc.Mode))
		case llm.ToolChoiceTool:
			var named oa.ChatNamedToolChoice
			named.Type = "function"
			named.Function.Name = tc.Name
			w.ToolChoice, _ = marshal(named)
		default:
			return nil, llm.Invalid("tool_choice", "unknown tool choice mode %q", tc.Mode)
		}
	}
	w.ParallelToolCalls = req.ParallelToolCalls
	if req.MaxTokens > 0 {
		n := req.MaxTokens
		if u.LegacyMaxTokens {
			w.MaxTokens = &n
		} else {
			w.MaxCompletionTokens = &n
		}
	}
	w.Temperature, w.TopP, w.TopK, w.Seed = req.Temperature, req.TopP, req.TopK, req.Seed
	w.FrequencyPenalty, w.PresencePenalty = req.FrequencyPenalty, req.PresencePenalty
	if len(req.Stop) > 0 {
		w.Stop, _ = marshal(req.Stop)
	}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "text", "json_object":
			w.ResponseFormat = &oa.ChatResponseFormat{Type: rf.Type}
		case "json_schema":
			js := &oa.ChatJSONSchema{Name: rf.Name, Schema: rf.Schema}
			if js.Name == "" {
				js.Name = "response" // required by OpenAI
			}
			if rf.Strict {
				js.Strict = ptr(true)
			}
			w.ResponseFormat = &oa.ChatResponseFormat{Type: "json_schema", JSONSchema: js}
		default:
			return nil, llm.Unsupported("response_format", "response format %q cannot be sent to OpenAI", rf.Type)
		}
	}
	if th := req.Thinking; th != nil {
		switch {
		case th.Effort != "":
			w.ReasoningEffort = th.Effort
		case th.BudgetTokens > 0:
			w.ReasoningEffort = effortForBudget(th.BudgetTokens)
		}
	}
	if req.Stream {
		w.Stream = true
		// Always: Sluice meters every stream, whatever the client asked.
		w.StreamOptions = &oa.ChatStreamOptions{IncludeUsage: true}
	}
	w.User = req.User
	return encodeChatRequest(&w)
}

// effortForBudget maps a thinking budget in tokens to a reasoning effort.
func effortForBudget(budget int) string {
	switch {
	case budget < 8192:
		return "low"
	case budget < 24576:
		return "medium"
	default:
		return "high"
	}
}

// encodeUser appends a canonical user message: its tool results first, as
// tool messages, then the rest as one user message.
func encodeUser(out []oa.ChatMessage, m llm.Message, p string) ([]oa.ChatMessage, error) {
	var rest []oa.ChatContentPart
	onlyText := true
	for j, part := range m.Content {
		pp := func() string { return index(p+".content", j) } // for errors only
		switch part.Type {
		case llm.PartToolResult:
			content, err := toolResultContent(part, pp())
			if err != nil {
				return nil, err
			}
			out = append(out, oa.ChatMessage{Role: "tool", ToolCallID: part.ToolCallID, Content: content})
		case llm.PartText:
			rest = append(rest, oa.ChatContentPart{Type: "text", Text: part.Text})
		case llm.PartImage:
			url := part.URL
			if url == "" {
				if part.Data == "" || part.MediaType == "" {
					return nil, llm.Invalid(pp(), "an image needs a URL or media type and data")
				}
				url = "data:" + part.MediaType + ";base64," + part.Data
			}
			rest = append(rest, oa.ChatContentPart{Type: "image_url", ImageURL: &oa.ChatImageURL{URL: url, Detail: part.Detail}})
			onlyText = false
		default:
			return nil, llm.Invalid(pp()+".type", "%s parts cannot be in a user message", part.Type)
		}
	}
	msg := oa.ChatMessage{Role: "user"}
	switch {
	case len(rest) == 0 && len(m.Content) > 0:
		return out, nil // tool results only
	case len(rest) == 0:
		msg.Content = json.RawMessage(`""`)
	case onlyText && len(rest) == 1:
		msg.Content = textJSON(rest[0].Text)
	default:
		msg.Content = partsJSON(rest)
	}
	return append(out, msg), nil
}

func toolResultContent(part llm.Part, p string) (json.RawMessage, error) {
	texts := make([]llm.Part, 0, len(part.Content))
	for k, c := range part.Content {
		if c.Type != llm.PartText {
			return nil, llm.Unsupported(fmt.Sprintf("%s.content[%d]", p, k), "OpenAI tool results carry only text, not %s", c.Type)
		}
		texts = append(texts, c)
	}
	if part.IsError {
		if len(texts) == 0 {
			texts = append(texts, llm.Part{Type: llm.PartText, Text: "Error"})
		} else {
			texts[0].Text = "Error: " + texts[0].Text
		}
	}
	if len(texts) == 0 {
		return textJSON(""), nil
	}
	return textContent(texts, p+".content")
}

// textContent renders text parts as a string content, or as a list of text
// parts when there are several.
func textContent(parts []llm.Part, p string) (json.RawMessage, error) {
	for j, part := range parts {
		if part.Type != llm.PartText {
			return nil, llm.Unsupported(fmt.Sprintf("%s[%d]", p, j), "only text can be sent here, not %s", part.Type)
		}
	}
	if len(parts) == 1 {
		return textJSON(parts[0].Text), nil
	}
	list := make([]oa.ChatContentPart, len(parts))
	for j, part := range parts {
		list[j] = oa.ChatContentPart{Type: "text", Text: part.Text}
	}
	return partsJSON(list), nil
}

func (u UpstreamCodec) encodeAssistant(m llm.Message, p string) (oa.ChatMessage, error) {
	msg := oa.ChatMessage{Role: "assistant"}
	var texts []llm.Part
	var thinking []string
	for j, part := range m.Content {
		switch part.Type {
		case llm.PartText:
			texts = append(texts, part)
		case llm.PartThinking:
			if part.Text != "" {
				thinking = append(thinking, part.Text)
			}
		case llm.PartRedactedThinking:
			// Opaque to every model but the one that made it.
		case llm.PartToolCall:
			msg.ToolCalls = append(msg.ToolCalls, oa.ChatToolCall{ID: part.ToolCallID, Type: "function",
				Function: oa.ChatFunctionCall{Name: part.ToolName, Arguments: argumentsText(part.Arguments)}})
		default:
			return msg, llm.Unsupported(index(p+".content", j), "%s parts cannot be in an OpenAI assistant message", part.Type)
		}
	}
	if len(thinking) > 0 && !u.OmitReasoning {
		msg.ReasoningContent = strings.Join(thinking, "\n\n")
	}
	switch {
	case len(texts) > 0:
		c, err := textContent(texts, p+".content")
		if err != nil {
			return msg, err
		}
		msg.Content = c
	case len(msg.ToolCalls) == 0:
		msg.Content = json.RawMessage(`""`)
	}
	return msg, nil
}

func ptr[T any](v T) *T { return &v }
