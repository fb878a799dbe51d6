package openai

import "encoding/json"

// Responses API wire shapes (POST /v1/responses), as far as Sluice's
// translating codec reads and writes them.

// ResponsesRequest is a Responses request body. Input is a string or a list
// of ResponsesItem.
type ResponsesRequest struct {
	Model              string               `json:"model"`
	Input              json.RawMessage      `json:"input"`
	Instructions       json.RawMessage      `json:"instructions,omitempty"`
	Tools              []json.RawMessage    `json:"tools,omitempty"` // ResponsesTool, or a built-in tool
	ToolChoice         json.RawMessage      `json:"tool_choice,omitempty"`
	ParallelToolCalls  *bool                `json:"parallel_tool_calls,omitempty"`
	MaxOutputTokens    *int                 `json:"max_output_tokens,omitempty"`
	Temperature        *float64             `json:"temperature,omitempty"`
	TopP               *float64             `json:"top_p,omitempty"`
	Text               *ResponsesText       `json:"text,omitempty"`
	Reasoning          *ResponsesReasoning  `json:"reasoning,omitempty"`
	Stream             bool                 `json:"stream,omitempty"`
	Store              *bool                `json:"store,omitempty"`
	User               string               `json:"user,omitempty"`
	SafetyIdentifier   string               `json:"safety_identifier,omitempty"`
	Include            []string             `json:"include,omitempty"`
	Metadata           map[string]string    `json:"metadata,omitempty"`
	PreviousResponseID string               `json:"previous_response_id,omitempty"`
	StreamOptions      *ResponsesStreamOpts `json:"stream_options,omitempty"`
}

// ResponsesStreamOpts is stream_options.
type ResponsesStreamOpts struct {
	IncludeObfuscation *bool `json:"include_obfuscation,omitempty"`
}

// ResponsesToolChoice is the object form of tool_choice.
type ResponsesToolChoice struct {
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
}

// ResponsesTool is a function tool (flat, unlike Chat Completions).
type ResponsesTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ResponsesText is the text configuration.
type ResponsesText struct {
	Format    *ResponsesTextFormat `json:"format,omitempty"`
	Verbosity *string              `json:"verbosity,omitempty"`
}

// ResponsesTextFormat is text.format.
type ResponsesTextFormat struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ResponsesReasoning is the reasoning configuration.
type ResponsesReasoning struct {
	Effort  *string `json:"effort"`
	Summary *string `json:"summary"`
}

// ResponsesItem is an input or output item of any type, as decoded.
type ResponsesItem struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Status  string          `json:"status,omitempty"`
	Role    string          `json:"role,omitempty"`
	Content json.RawMessage `json:"content,omitempty"` // message: string or parts; reasoning: parts

	CallID    string          `json:"call_id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Arguments string          `json:"arguments,omitempty"`
	Output    json.RawMessage `json:"output,omitempty"`

	Summary          []ResponsesSummaryText `json:"summary,omitempty"`
	EncryptedContent *string                `json:"encrypted_content,omitempty"`
}

// ResponsesContentPart is a part of a message's content or of a function
// call output: input_text, input_image, input_file, output_text, refusal,
// reasoning_text.
type ResponsesContentPart struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	ImageURL string `json:"image_url,omitempty"`
	FileID   string `json:"file_id,omitempty"`
	Detail   string `json:"detail,omitempty"`
	Refusal  string `json:"refusal,omitempty"`
}

// ResponsesSummaryText is a part of a reasoning item's summary.
type ResponsesSummaryText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// ResponsesObject is a Responses API response object.
type ResponsesObject struct {
	ID                 string               `json:"id"`
	Object             string               `json:"object"`
	CreatedAt          int64                `json:"created_at"`
	Status             string               `json:"status"`
	Background         bool                 `json:"background"`
	Error              *ResponsesError      `json:"error"`
	IncompleteDetails  *ResponsesIncomplete `json:"incomplete_details"`
	Instructions       *string              `json:"instructions"`
	MaxOutputTokens    *int                 `json:"max_output_tokens"`
	Model              string               `json:"model"`
	Output             []any                `json:"output"`
	ParallelToolCalls  bool                 `json:"parallel_tool_calls"`
	PreviousResponseID *string              `json:"previous_response_id"`
	Reasoning          ResponsesReasoning   `json:"reasoning"`
	Store              bool                 `json:"store"`
	Temperature        *float64             `json:"temperature"`
	Text               ResponsesText        `json:"text"`
	ToolChoice         json.RawMessage      `json:"tool_choice"`
	Tools              []ResponsesTool      `json:"tools"`
	TopP               *float64             `json:"top_p"`
	Truncation         string               `json:"truncation"`
	Usage              *ResponsesUsage      `json:"usage"`
	User               *string              `json:"user"`
	Metadata           map[string]string    `json:"metadata"`
}

// ResponsesError is the error of a failed response.
type ResponsesError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ResponsesIncomplete says why a response is incomplete: max_output_tokens
// or content_filter.
type ResponsesIncomplete struct {
	Reason string `json:"reason"`
}

// ResponsesUsage is a response's usage. InputTokens includes cached and
// cache-write tokens; OutputTokens includes reasoning tokens.
type ResponsesUsage struct {
	InputTokens         int64                  `json:"input_tokens"`
	InputTokensDetails  ResponsesInputDetails  `json:"input_tokens_details"`
	OutputTokens        int64                  `json:"output_tokens"`
	OutputTokensDetails ResponsesOutputDetails `json:"output_tokens_details"`
	TotalTokens         int64                  `json:"total_tokens"`
}

// ResponsesInputDetails breaks input tokens down.
type ResponsesInputDetails struct {
	CachedTokens     int64 `json:"cached_tokens"`
	CacheWriteTokens int64 `json:"cache_write_tokens"`
}

// ResponsesOutputDetails breaks output tokens down.
type ResponsesOutputDetails struct {
	ReasoningTokens int64 `json:"reasoning_tokens"`
}

// ResponsesMessage is an output message item.
type ResponsesMessage struct {
	Type    string                `json:"type"` // "message"
	ID      string                `json:"id"`
	Status  string                `json:"status"`
	Role    string                `json:"role"`
	Content []ResponsesOutputText `json:"content"`
}

// ResponsesOutputText is an output_text content part.
type ResponsesOutputText struct {
	Type        string `json:"type"` // "output_text"
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
	Logprobs    []any  `json:"logprobs"`
}

// ResponsesFunctionCall is a function_call output item.
type ResponsesFunctionCall struct {
	Type      string `json:"type"` // "function_call"
	ID        string `json:"id"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
	Status    string `json:"status"`
}

// ResponsesReasoningItem is a reasoning output item.
type ResponsesReasoningItem struct {
	Type             string                 `json:"type"` // "reasoning"
	ID               string                 `json:"id"`
	Summary          []ResponsesSummaryText `json:"summary"`
	EncryptedContent *string                `json:"encrypted_content,omitempty"`
}

// ResponsesEvent is a stream event. Which fields are set depends on Type;
// the error event has its own shape (ResponsesErrorEvent).
type ResponsesEvent struct {
	Type           string           `json:"type"`
	SequenceNumber int64            `json:"sequence_number"`
	Response       *ResponsesObject `json:"response,omitempty"`
	OutputIndex    *int             `json:"output_index,omitempty"`
	ItemID         string           `json:"item_id,omitempty"`
	ContentIndex   *int             `json:"content_index,omitempty"`
	SummaryIndex   *int             `json:"summary_index,omitempty"`
	Item           any              `json:"item,omitempty"`
	Part           any              `json:"part,omitempty"`
	Delta          *string          `json:"delta,omitempty"`
	Text           *string          `json:"text,omitempty"`
	Name           string           `json:"name,omitempty"`
	Arguments      *string          `json:"arguments,omitempty"`
	Logprobs       json.RawMessage  `json:"logprobs,omitempty"`
}

// ResponsesErrorEvent is the "error" stream event.
type ResponsesErrorEvent struct {
	Type           string  `json:"type"` // "error"
	SequenceNumber int64   `json:"sequence_number"`
	Code           *string `json:"code"`
	Message        string  `json:"message"`
	Param          *string `json:"param"`
}
