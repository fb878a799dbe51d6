// Package anthropic holds the wire shapes of Anthropic's Messages API
// (https://docs.anthropic.com/en/api/messages) as Sluice reads and writes
// them: requests, responses, stream events, errors and token counts. Types
// only, no logic: the translation lives in internal/protocol/anthropic.
//
// The shapes follow github.com/anthropics/anthropic-sdk-go/v2 v2.15.0.
// Unions whose variants Sluice tells apart by a "type" field (content
// blocks, stream events, deltas) are decoded into one struct holding every
// variant's fields and encoded from one struct per variant, so that each
// variant's required fields are always written, empty or not.
package anthropic

import "encoding/json"

// Header names and values of the API.
const (
	HeaderAPIKey  = "X-Api-Key"
	HeaderVersion = "Anthropic-Version"
	HeaderBeta    = "Anthropic-Beta"
	// DefaultVersion is the only anthropic-version the API has.
	DefaultVersion = "2023-06-01"
)

// MessagesRequest is the body of POST /v1/messages as Sluice encodes it for
// an upstream. Fields appear in the order of Anthropic's documentation.
type MessagesRequest struct {
	Model         string          `json:"model"`
	MaxTokens     int             `json:"max_tokens,omitempty"` // omitted only in count_tokens bodies
	System        json.RawMessage `json:"system,omitempty"`     // a string or []TextBlock
	Messages      []MessageParam  `json:"messages"`
	Tools         []Tool          `json:"tools,omitempty"`
	ToolChoice    *ToolChoice     `json:"tool_choice,omitempty"`
	Thinking      *ThinkingConfig `json:"thinking,omitempty"`
	OutputConfig  *OutputConfig   `json:"output_config,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	TopK          *int            `json:"top_k,omitempty"`
	Metadata      *Metadata       `json:"metadata,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
}

// MessageParam is one input message. Content is a string or a list of
// content blocks.
type MessageParam struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// Message roles.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleSystem    = "system"
)

// Content block types.
const (
	BlockText             = "text"
	BlockImage            = "image"
	BlockToolUse          = "tool_use"
	BlockToolResult       = "tool_result"
	BlockThinking         = "thinking"
	BlockRedactedThinking = "redacted_thinking"
)

// TextBlock is a text content block.
type TextBlock struct {
	Type string `json:"type"` // "text"
	Text string `json:"text"`
}

// ImageBlock is an image content block (requests only).
type ImageBlock struct {
	Type   string      `json:"type"` // "image"
	Source ImageSource `json:"source"`
}

// ImageSource is where an image's bytes come from.
type ImageSource struct {
	Type      string `json:"type"` // "base64", "url" or "file"
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
	FileID    string `json:"file_id,omitempty"`
}

// Image source types.
const (
	SourceBase64 = "base64"
	SourceURL    = "url"
	SourceFile   = "file"
)

// ToolUseBlock is the model's call of a client tool.
type ToolUseBlock struct {
	Type  string          `json:"type"` // "tool_use"
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"` // a JSON object
}

// ToolResultBlock returns a tool's result to the model (requests only).
type ToolResultBlock struct {
	Type      string          `json:"type"` // "tool_result"
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content,omitempty"` // a string or []block (text, image)
	IsError   bool            `json:"is_error,omitempty"`
}

// ThinkingBlock is extended thinking with its signature.
type ThinkingBlock struct {
	Type      string `json:"type"` // "thinking"
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"`
}

// RedactedThinkingBlock is thinking the API encrypted.
type RedactedThinkingBlock struct {
	Type string `json:"type"` // "redacted_thinking"
	Data string `json:"data"`
}

// Block is the decoding form of every content block: the fields of all
// variants, told apart by Type.
type Block struct {
	Type string `json:"type"`
	// text
	Text      string          `json:"text"`
	Citations json.RawMessage `json:"citations,omitempty"`
	// image
	Source *ImageSource `json:"source,omitempty"`
	// tool_use
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input,omitempty"`
	// tool_result
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content,omitempty"`
	IsError   *bool           `json:"is_error,omitempty"`
	// thinking, redacted_thinking
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"`
	Data      string `json:"data"`
}

// Tool is a client tool definition.
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
	Strict      bool            `json:"strict,omitempty"`
}

// ToolChoice constrains tool use. Type is "auto", "any", "tool" or "none";
// DisableParallelToolUse is not allowed with "none".
type ToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse *bool  `json:"disable_parallel_tool_use,omitempty"`
}

// Tool choice types.
const (
	ToolChoiceAuto = "auto"
	ToolChoiceAny  = "any"
	ToolChoiceTool = "tool"
	ToolChoiceNone = "none"
)

// ThinkingConfig configures extended thinking. Type is "enabled" (with
// BudgetTokens), "disabled" or "adaptive".
type ThinkingConfig struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens,omitempty"`
	Display      string `json:"display,omitempty"`
}

// Thinking config types.
const (
	ThinkingEnabled  = "enabled"
	ThinkingDisabled = "disabled"
	ThinkingAdaptive = "adaptive"
)

// OutputConfig configures the output: effort and structured output.
type OutputConfig struct {
	Effort string        `json:"effort,omitempty"` // low, medium, high, xhigh, max
	Format *OutputFormat `json:"format,omitempty"`
}

// OutputFormat is a structured output format: Type "json_schema".
type OutputFormat struct {
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema"`
}

// Metadata is request metadata.
type Metadata struct {
	UserID string `json:"user_id,omitempty"`
}

// Message is a complete response of POST /v1/messages. Content holds one
// of the block types above per element.
type Message struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"` // "message"
	Role         string  `json:"role"` // "assistant"
	Model        string  `json:"model"`
	Content      []any   `json:"content"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        Usage   `json:"usage"`
}

// Stop reasons.
const (
	StopEndTurn                    = "end_turn"
	StopMaxTokens                  = "max_tokens"
	StopSequence                   = "stop_sequence"
	StopToolUse                    = "tool_use"
	StopPauseTurn                  = "pause_turn"
	StopRefusal                    = "refusal"
	StopModelContextWindowExceeded = "model_context_window_exceeded"
)

// Usage is a message's token usage. InputTokens excludes both cache
// fields; OutputTokens includes the thinking tokens.
type Usage struct {
	InputTokens              int64                `json:"input_tokens"`
	CacheCreationInputTokens int64                `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64                `json:"cache_read_input_tokens"`
	OutputTokens             int64                `json:"output_tokens"`
	OutputTokensDetails      *OutputTokensDetails `json:"output_tokens_details,omitempty"`
}

// OutputTokensDetails breaks output tokens down.
type OutputTokensDetails struct {
	ThinkingTokens int64 `json:"thinking_tokens"`
}

// MessageDecoded is the decoding form of a Message: content blocks as
// Block, and usage figures whose presence can be told.
type MessageDecoded struct {
	ID           string      `json:"id"`
	Type         string      `json:"type"`
	Role         string      `json:"role"`
	Model        string      `json:"model"`
	Content      []Block     `json:"content"`
	StopReason   *string     `json:"stop_reason"`
	StopSequence *string     `json:"stop_sequence"`
	Usage        *UsageDelta `json:"usage"`
}

// UsageDelta is usage whose fields may each be absent or null, as in
// message_delta events, where every figure present is cumulative.
type UsageDelta struct {
	InputTokens              *int64 `json:"input_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	OutputTokensDetails      *struct {
		ThinkingTokens *int64 `json:"thinking_tokens"`
	} `json:"output_tokens_details"`
}

// Stream event types (the SSE "event:" name equals the data's "type").
const (
	EventMessageStart      = "message_start"
	EventMessageDelta      = "message_delta"
	EventMessageStop       = "message_stop"
	EventContentBlockStart = "content_block_start"
	EventContentBlockDelta = "content_block_delta"
	EventContentBlockStop  = "content_block_stop"
	EventPing              = "ping"
	EventError             = "error"
)

// Delta types of content_block_delta.
const (
	DeltaText      = "text_delta"
	DeltaInputJSON = "input_json_delta"
	DeltaThinking  = "thinking_delta"
	DeltaSignature = "signature_delta"
	DeltaCitations = "citations_delta"
)

// MessageStartEvent opens a stream.
type MessageStartEvent struct {
	Type    string  `json:"type"`
	Message Message `json:"message"`
}

// ContentBlockStartEvent opens block Index; ContentBlock is one of the
// block types with empty text, thinking, signature or input.
type ContentBlockStartEvent struct {
	Type         string `json:"type"`
	Index        int    `json:"index"`
	ContentBlock any    `json:"content_block"`
}

// ContentBlockDeltaEvent extends block Index; Delta is a TextDelta,
// InputJSONDelta, ThinkingDelta or SignatureDelta.
type ContentBlockDeltaEvent struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
	Delta any    `json:"delta"`
}

// TextDelta extends a text block.
type TextDelta struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// InputJSONDelta is a fragment of a tool_use block's input JSON.
type InputJSONDelta struct {
	Type        string `json:"type"`
	PartialJSON string `json:"partial_json"`
}

// ThinkingDelta extends a thinking block.
type ThinkingDelta struct {
	Type     string `json:"type"`
	Thinking string `json:"thinking"`
}

// SignatureDelta carries a thinking block's signature.
type SignatureDelta struct {
	Type      string `json:"type"`
	Signature string `json:"signature"`
}

// ContentBlockStopEvent closes block Index.
type ContentBlockStopEvent struct {
	Type  string `json:"type"`
	Index int    `json:"index"`
}

// MessageDeltaEvent carries the stop reason and the cumulative usage.
type MessageDeltaEvent struct {
	Type  string       `json:"type"`
	Delta MessageDelta `json:"delta"`
	Usage DeltaUsage   `json:"usage"`
}

// MessageDelta is the top-level change of a message_delta event.
type MessageDelta struct {
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

// DeltaUsage is the usage of a message_delta event as Sluice writes it:
// output_tokens always, the input side when known.
type DeltaUsage struct {
	InputTokens              *int64               `json:"input_tokens,omitempty"`
	CacheCreationInputTokens *int64               `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     *int64               `json:"cache_read_input_tokens,omitempty"`
	OutputTokens             int64                `json:"output_tokens"`
	OutputTokensDetails      *OutputTokensDetails `json:"output_tokens_details,omitempty"`
}

// MessageStopEvent ends a stream.
type MessageStopEvent struct {
	Type string `json:"type"`
}

// StreamEvent is the decoding form of every stream event.
type StreamEvent struct {
	Type         string          `json:"type"`
	Message      *MessageDecoded `json:"message,omitempty"`
	Index        int             `json:"index"`
	ContentBlock *Block          `json:"content_block,omitempty"`
	Delta        *StreamDelta    `json:"delta,omitempty"`
	Usage        *UsageDelta     `json:"usage,omitempty"`
	Error        *ErrorObject    `json:"error,omitempty"`
}

// StreamDelta is the decoding form of both delta kinds: a block delta
// (Type set) and a message delta (stop fields).
type StreamDelta struct {
	Type         string  `json:"type"`
	Text         string  `json:"text"`
	PartialJSON  string  `json:"partial_json"`
	Thinking     string  `json:"thinking"`
	Signature    string  `json:"signature"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

// ErrorBody is the error envelope of every non-2xx answer and of stream
// "error" events.
type ErrorBody struct {
	Type      string      `json:"type"` // "error"
	Error     ErrorObject `json:"error"`
	RequestID string      `json:"request_id,omitempty"`
}

// ErrorObject is the inside of an ErrorBody.
type ErrorObject struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// Error types.
const (
	ErrInvalidRequest  = "invalid_request_error"
	ErrAuthentication  = "authentication_error"
	ErrBilling         = "billing_error"
	ErrPermission      = "permission_error"
	ErrNotFound        = "not_found_error"
	ErrRequestTooLarge = "request_too_large"
	ErrRateLimit       = "rate_limit_error"
	ErrTimeout         = "timeout_error"
	ErrAPI             = "api_error"
	ErrOverloaded      = "overloaded_error"
)

// CountTokensResponse is the body of POST /v1/messages/count_tokens.
type CountTokensResponse struct {
	InputTokens int64 `json:"input_tokens"`
}
