package bedrock

import (
	"encoding/json"
	"errors"
	"fmt"

	wire "github.com/sluicehq/sluice/internal/apischema/bedrock"
	"github.com/sluicehq/sluice/internal/llm"
)

// DecodeResponse implements llm.UpstreamCodec. Converse answers carry no id
// and no model: the id is made up and Model is left empty for the caller to
// fill with the model it routed to. Content blocks that the canonical model
// cannot hold (images, documents, server tool results) are skipped;
// citationsContent becomes its text.
func (codec) DecodeResponse(body []byte) (*llm.Response, error) {
	var r wire.ConverseResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("bedrock: decoding Converse response: %w", err)
	}
	if r.Output.Message == nil {
		return nil, errors.New("bedrock: Converse response has no output message")
	}
	resp := &llm.Response{
		ID:         newID(),
		Content:    []llm.Part{},
		StopReason: mapStopReason(r.StopReason),
		StopSeq:    stopSequence(r.AdditionalModelResponseFields),
		Usage:      normaliseUsage(r.Usage),
	}
	for _, b := range r.Output.Message.Content {
		switch {
		case b.Text != nil:
			resp.Content = append(resp.Content, llm.Part{Type: llm.PartText, Text: *b.Text})
		case b.ToolUse != nil:
			args := b.ToolUse.Input
			if len(args) == 0 || string(args) == "null" {
				args = json.RawMessage("{}")
			}
			resp.Content = append(resp.Content, llm.Part{Type: llm.PartToolCall, ToolCallID: b.ToolUse.ToolUseID, ToolName: b.ToolUse.Name, Arguments: args})
		case b.ReasoningContent != nil && b.ReasoningContent.ReasoningText != nil:
			rt := b.ReasoningContent.ReasoningText
			resp.Content = append(resp.Content, llm.Part{Type: llm.PartThinking, Text: rt.Text, Signature: rt.Signature})
		case b.ReasoningContent != nil && b.ReasoningContent.RedactedContent != "":
			resp.Content = append(resp.Content, llm.Part{Type: llm.PartRedactedThinking, RedactedData: b.ReasoningContent.RedactedContent})
		case b.CitationsContent != nil:
			for _, c := range b.CitationsContent.Content {
				if c.Text != nil {
					resp.Content = append(resp.Content, llm.Part{Type: llm.PartText, Text: *c.Text})
				}
			}
		}
	}
	return resp, nil
}

// mapStopReason maps a Converse stop reason to the canonical one.
// guardrail_intervened and content_filtered are content filters;
// model_context_window_exceeded is a length stop; malformed model output or
// tool use ends the turn.
func mapStopReason(s string) llm.StopReason {
	switch s {
	case wire.StopToolUse:
		return llm.StopToolUse
	case wire.StopMaxTokens, wire.StopModelContextWindowExceeded:
		return llm.StopMaxTokens
	case wire.StopStopSequence:
		return llm.StopSequence
	case wire.StopGuardrailIntervened, wire.StopContentFiltered:
		return llm.StopContentFilter
	default:
		return llm.StopEndTurn
	}
}

// stopSequence returns the matched stop sequence that Anthropic models
// report in additionalModelResponseFields (when asked for with
// additionalModelResponseFieldPaths ["/stop_sequence"]).
func stopSequence(fields json.RawMessage) string {
	if len(fields) == 0 {
		return ""
	}
	var f struct {
		StopSequence *string `json:"stop_sequence"`
	}
	if json.Unmarshal(fields, &f) != nil || f.StopSequence == nil {
		return ""
	}
	return *f.StopSequence
}

// normaliseUsage converts Bedrock's usage, whose inputTokens excludes cache
// reads and writes, to the canonical convention (input includes both).
func normaliseUsage(u *wire.TokenUsage) llm.Usage {
	if u == nil {
		return llm.Usage{}
	}
	var read, write int64
	if u.CacheReadInputTokens != nil {
		read = int64(*u.CacheReadInputTokens)
	}
	if u.CacheWriteInputTokens != nil {
		write = int64(*u.CacheWriteInputTokens)
	}
	return llm.Usage{
		InputTokens:      int64(u.InputTokens) + read + write,
		OutputTokens:     int64(u.OutputTokens),
		CachedTokens:     read,
		CacheWriteTokens: write,
	}
}
