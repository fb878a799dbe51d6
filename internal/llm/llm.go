// Package llm is Sluice's canonical model of a chat exchange: the hub that
// every protocol translates to and from when a client and an upstream speak
// different protocols (OpenAI Chat, OpenAI Responses, Anthropic Messages,
// Gemini, Bedrock Converse). Requests whose protocols match never pass
// through it: they are forwarded byte for byte.
//
// The model follows Anthropic's content blocks, the richest of the
// protocols: a message is a list of typed parts, and a stream is a sequence
// of block start / delta / stop events. Token usage follows the OpenAI
// convention (input includes cached and cache-write tokens; output includes
// reasoning tokens); codecs convert at the edge, once.
package llm

import (
	"encoding/json"
	"fmt"

	"github.com/sluicehq/sluice/internal/meter"
)

// Role is a message author.
type Role string

// Roles. Tool results travel as PartToolResult parts in a RoleUser message
// (Anthropic's form); codecs for protocols with a separate tool role split
// and merge them.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// PartType is the kind of a content part.
type PartType string

// Part types.
const (
	PartText             PartType = "text"
	PartImage            PartType = "image"
	PartToolCall         PartType = "tool_call"
	PartToolResult       PartType = "tool_result"
	PartThinking         PartType = "thinking"
	PartRedactedThinking PartType = "redacted_thinking"
)

// Part is one piece of message content. Which fields are set depends on Type.
type Part struct {
	Type PartType `json:"type"`

	// Text is the text of PartText and PartThinking.
	Text string `json:"text,omitempty"`

	// Image: either URL (http(s) or data: URL as the client sent it) or
	// MediaType + Data (base64, without a data: prefix).
	URL       string `json:"url,omitempty"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	// Detail is OpenAI's image detail ("low", "high", "auto"), if given.
	Detail string `json:"detail,omitempty"`

	// ToolCallID links a PartToolCall to its PartToolResult.
	ToolCallID string `json:"tool_call_id,omitempty"`
	// ToolName and Arguments (a JSON object, as text) of a PartToolCall.
	ToolName  string          `json:"tool_name,omitempty"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	// Content of a PartToolResult: text and image parts.
	Content []Part `json:"content,omitempty"`
	// IsError marks a PartToolResult that reports a failure.
	IsError bool `json:"is_error,omitempty"`

	// Signature of a PartThinking block, opaque, to be returned unchanged.
	Signature string `json:"signature,omitempty"`
	// RedactedData of a PartRedactedThinking block, opaque.
	RedactedData string `json:"redacted_data,omitempty"`
}

// Message is one turn.
type Message struct {
	Role    Role   `json:"role"`
	Content []Part `json:"content"`
}

// Tool is a function the model may call.
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"` // a JSON Schema object
	Strict      bool            `json:"strict,omitempty"`
}

// ToolChoiceMode says whether and which tool the model must call.
type ToolChoiceMode string

// Tool choice modes.
const (
	ToolChoiceAuto     ToolChoiceMode = "auto"
	ToolChoiceNone     ToolChoiceMode = "none"
	ToolChoiceRequired ToolChoiceMode = "required" // any tool
	ToolChoiceTool     ToolChoiceMode = "tool"     // the tool named Name
)

// ToolChoice constrains tool use.
type ToolChoice struct {
	Mode ToolChoiceMode `json:"mode"`
	Name string         `json:"name,omitempty"`
}

// ResponseFormat asks for JSON output.
type ResponseFormat struct {
	Type   string          `json:"type"` // "text", "json_object" or "json_schema"
	Name   string          `json:"name,omitempty"`
	Schema json.RawMessage `json:"schema,omitempty"`
	Strict bool            `json:"strict,omitempty"`
}

// Thinking configures extended thinking / reasoning.
type Thinking struct {
	// BudgetTokens is Anthropic's and Gemini's thinking budget (0 = unset).
	BudgetTokens int `json:"budget_tokens,omitempty"`
	// Effort is OpenAI's reasoning effort ("minimal", "low", "medium", "high").
	Effort string `json:"effort,omitempty"`
	// Disabled is an explicit request for no thinking.
	Disabled bool `json:"disabled,omitempty"`
}

// Request is a chat request in canonical form.
type Request struct {
	Model    string    `json:"model"`
	System   []Part    `json:"system,omitempty"` // text parts
	Messages []Message `json:"messages"`

	Tools             []Tool      `json:"tools,omitempty"`
	ToolChoice        *ToolChoice `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool       `json:"parallel_tool_calls,omitempty"`

	MaxTokens   int      `json:"max_tokens,omitempty"` // 0 = unset
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	TopK        *int     `json:"top_k,omitempty"`
	Stop        []string `json:"stop,omitempty"`
	Seed        *int64   `json:"seed,omitempty"`
	// FrequencyPenalty and PresencePenalty are OpenAI's sampling penalties.
	FrequencyPenalty *float64 `json:"frequency_penalty,omitempty"`
	PresencePenalty  *float64 `json:"presence_penalty,omitempty"`

	ResponseFormat *ResponseFormat `json:"response_format,omitempty"`
	Thinking       *Thinking       `json:"thinking,omitempty"`

	Stream bool `json:"stream,omitempty"`
	// IncludeUsage is OpenAI's stream_options.include_usage: the client
	// wants a usage chunk at the end of the stream.
	IncludeUsage bool `json:"include_usage,omitempty"`

	// User is an end-user id for abuse tracking (OpenAI "user", Anthropic
	// metadata.user_id).
	User string `json:"user,omitempty"`
}

// StopReason is why generation ended, in Anthropic's vocabulary.
type StopReason string

// Stop reasons.
const (
	StopEndTurn       StopReason = "end_turn"
	StopMaxTokens     StopReason = "max_tokens"
	StopSequence      StopReason = "stop_sequence"
	StopToolUse       StopReason = "tool_use"
	StopContentFilter StopReason = "content_filter"
	StopRefusal       StopReason = "refusal"
	StopPauseTurn     StopReason = "pause_turn"
)

// Response is a complete (non-streamed) answer.
type Response struct {
	ID         string      `json:"id"`
	Model      string      `json:"model"`
	Content    []Part      `json:"content"` // text, tool_call, thinking, redacted_thinking
	StopReason StopReason  `json:"stop_reason"`
	StopSeq    string      `json:"stop_sequence,omitempty"`
	Usage      meter.Usage `json:"usage"`
	// Created is a Unix time in seconds; 0 means now.
	Created int64 `json:"created,omitempty"`
}

// EventType is the kind of a stream event.
type EventType int

// Stream events. A well-formed stream is: Start, then for each content
// block BlockStart, deltas, BlockStop (blocks may interleave only by
// Index), then Stop. An upstream error mid-stream is an Error event.
const (
	EvStart          EventType = iota + 1 // ID, Model, Usage (input side, if known)
	EvBlockStart                          // Index, Block (Type; ToolCallID and ToolName for tool calls)
	EvTextDelta                           // Index, Text
	EvThinkingDelta                       // Index, Text
	EvSignatureDelta                      // Index, Text (a signature fragment)
	EvToolArgsDelta                       // Index, Text (a fragment of the JSON arguments)
	EvBlockStop                           // Index
	EvStop                                // StopReason, StopSeq, Usage (final, cumulative)
	EvError                               // Err
)

// Event is one stream event.
type Event struct {
	Type       EventType
	Index      int
	Block      *Part
	Text       string
	ID         string
	Model      string
	StopReason StopReason
	StopSeq    string
	// Usage, when set, is the cumulative usage known at this point.
	Usage *meter.Usage
	Err   *Error
}

// Error is a failure to be shown to the client in its own dialect: a
// request that cannot be translated (Status 400 and the Param that cannot
// be mapped) or an upstream error.
type Error struct {
	Status  int    `json:"status"`
	Type    string `json:"type"` // a generic kind: invalid_request, authentication, permission, not_found, rate_limit, overloaded, server
	Param   string `json:"param,omitempty"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("%s: %s", e.Param, e.Message)
	}
	return e.Message
}

// Unsupported returns the 400 for a field that cannot be translated.
func Unsupported(param, format string, args ...any) *Error {
	return &Error{Status: 400, Type: "invalid_request", Param: param, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns the 400 for a malformed field.
func Invalid(param, format string, args ...any) *Error {
	return &Error{Status: 400, Type: "invalid_request", Param: param, Message: fmt.Sprintf(format, args...)}
}

// ErrorTypeForStatus maps an HTTP status to a generic error kind.
func ErrorTypeForStatus(status int) string {
	switch {
	case status == 401:
		return "authentication"
	case status == 403:
		return "permission"
	case status == 404:
		return "not_found"
	case status == 413:
		return "request_too_large"
	case status == 429:
		return "rate_limit"
	case status == 529 || status == 503:
		return "overloaded"
	case status >= 500:
		return "server"
	default:
		return "invalid_request"
	}
}
