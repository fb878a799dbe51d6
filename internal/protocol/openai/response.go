package openai

import (
	"encoding/json"
	"strings"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/llm"
)

// EncodeResponse implements llm.ClientCodec. Thinking becomes
// reasoning_content; redacted thinking and signatures have no place in this
// protocol and are left out.
func (c ClientCodec) EncodeResponse(req *llm.Request, resp *llm.Response) ([]byte, error) {
	msg := oa.ChatMessageOut{Role: "assistant"}
	var text, thinking []string
	for _, p := range resp.Content {
		switch p.Type {
		case llm.PartText:
			text = append(text, p.Text)
		case llm.PartThinking:
			if p.Text != "" {
				thinking = append(thinking, p.Text)
			}
		case llm.PartToolCall:
			msg.ToolCalls = append(msg.ToolCalls, oa.ChatToolCall{ID: p.ToolCallID, Type: "function",
				Function: oa.ChatFunctionCall{Name: p.ToolName, Arguments: argumentsText(p.Arguments)}})
		}
	}
	if len(text) > 0 || len(msg.ToolCalls) == 0 {
		s := strings.Join(text, "")
		msg.Content = &s
	}
	msg.ReasoningContent = strings.Join(thinking, "\n\n")
	finish := finishReason(resp.StopReason)
	out := oa.ChatCompletion{
		ID:      resp.ID,
		Object:  "chat.completion",
		Created: resp.Created,
		Model:   cmpOr(resp.Model, req.Model),
		Choices: []oa.ChatChoice{{Index: 0, Message: msg, Logprobs: json.RawMessage("null"), FinishReason: &finish}},
		Usage:   chatUsage(resp.Usage),
	}
	if out.ID == "" {
		out.ID = c.newID()
	}
	if out.Created == 0 {
		out.Created = c.now().Unix()
	}
	return appendChatCompletion(make([]byte, 0, 512), &out)
}

func argumentsText(a json.RawMessage) string {
	if len(a) == 0 {
		return "{}"
	}
	return string(compact(a))
}

// finishReason maps a canonical stop reason to an OpenAI finish_reason.
func finishReason(r llm.StopReason) string {
	switch r {
	case llm.StopMaxTokens:
		return "length"
	case llm.StopToolUse:
		return "tool_calls"
	case llm.StopContentFilter, llm.StopRefusal:
		return "content_filter"
	default: // end_turn, stop_sequence, pause_turn
		return "stop"
	}
}

// stopReason maps an OpenAI finish_reason to a canonical stop reason.
func stopReason(f string, toolCalls bool) llm.StopReason {
	switch f {
	case "length":
		return llm.StopMaxTokens
	case "tool_calls", "function_call":
		return llm.StopToolUse
	case "content_filter":
		return llm.StopContentFilter
	}
	// Some servers (Ollama among them) say "stop" after tool calls.
	if toolCalls {
		return llm.StopToolUse
	}
	return llm.StopEndTurn
}

func chatUsage(u llm.Usage) *oa.ChatUsage {
	out := &oa.ChatUsage{
		PromptTokens:            u.InputTokens,
		CompletionTokens:        u.OutputTokens,
		TotalTokens:             u.InputTokens + u.OutputTokens,
		PromptTokensDetails:     &oa.PromptTokensDetails{CachedTokens: u.CachedTokens, CacheWriteTokens: u.CacheWriteTokens},
		CompletionTokensDetails: &oa.CompletionTokensDetails{ReasoningTokens: u.ReasoningTokens},
	}
	return out
}

// usageOf converts an OpenAI usage object (already in the canonical
// convention: prompt includes cached, completion includes reasoning).
func usageOf(u *oa.ChatUsage) llm.Usage {
	out := llm.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
	if d := u.PromptTokensDetails; d != nil {
		out.CachedTokens = d.CachedTokens
		out.CacheWriteTokens = d.CacheWriteTokens
	}
	if out.CachedTokens == 0 && u.PromptCacheHitTokens != nil {
		out.CachedTokens = *u.PromptCacheHitTokens
	}
	if d := u.CompletionTokensDetails; d != nil {
		out.ReasoningTokens = d.ReasoningTokens
	}
	return out
}

// DecodeResponse implements llm.UpstreamCodec. Only the first choice is
// read: Sluice never asks for more.
func (UpstreamCodec) DecodeResponse(body []byte) (*llm.Response, error) {
	var w oa.ChatCompletion
	if !decodeCompletion(body, &w) {
		w = oa.ChatCompletion{}
		if err := json.Unmarshal(body, &w); err != nil {
			return nil, badUpstream("the upstream returned a malformed chat completion")
		}
	}
	if len(w.Choices) == 0 {
		if e := errorInBody(body); e != nil {
			return nil, e
		}
		return nil, badUpstream("the upstream returned a chat completion without choices")
	}
	ch := w.Choices[0]
	m := ch.Message
	resp := &llm.Response{ID: w.ID, Model: w.Model, Created: w.Created, Content: []llm.Part{}}
	if r := cmpOr(m.ReasoningContent, m.Reasoning); r != "" {
		resp.Content = append(resp.Content, llm.Part{Type: llm.PartThinking, Text: r})
	}
	if m.Content != nil && (*m.Content != "" || len(m.ToolCalls) == 0) {
		resp.Content = append(resp.Content, llm.Part{Type: llm.PartText, Text: *m.Content})
	}
	if m.Refusal != nil && *m.Refusal != "" {
		resp.Content = append(resp.Content, llm.Part{Type: llm.PartText, Text: *m.Refusal})
	}
	for _, tc := range m.ToolCalls {
		resp.Content = append(resp.Content, llm.Part{Type: llm.PartToolCall, ToolCallID: tc.ID,
			ToolName: tc.Function.Name, Arguments: upstreamArguments(tc.Function.Arguments)})
	}
	var finish string
	if ch.FinishReason != nil {
		finish = *ch.FinishReason
	}
	resp.StopReason = stopReason(finish, len(m.ToolCalls) > 0)
	if m.Refusal != nil && *m.Refusal != "" {
		resp.StopReason = llm.StopRefusal
	}
	if w.Usage != nil {
		resp.Usage = usageOf(w.Usage)
	}
	return resp, nil
}

// upstreamArguments turns a model's argument text into canonical JSON:
// empty becomes {}, and text that is not JSON (a model can produce it) is
// kept as a JSON string rather than lost.
func upstreamArguments(s string) json.RawMessage {
	t := strings.TrimSpace(s)
	switch {
	case t == "":
		return json.RawMessage("{}")
	case json.Valid([]byte(t)):
		return compact([]byte(t))
	default:
		b, _ := marshal(s)
		return b
	}
}

func badUpstream(msg string) *llm.Error {
	return &llm.Error{Status: 502, Type: "server", Message: msg}
}
