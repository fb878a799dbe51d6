// Package bedrock holds the wire shapes of the AWS Bedrock Runtime Converse
// and ConverseStream APIs (restJson1), as the AWS SDK for Go v2
// (service/bedrockruntime) serialises them. Types only, no logic.
//
// Smithy unions (ContentBlock, ToolChoice, ...) are structs whose members
// are pointers: exactly one is set. Document members (tool input, JSON
// schemas, additionalModelRequestFields) are raw JSON. Blob members (image
// bytes, redacted reasoning) are kept as their base64 text so that they
// pass through unchanged.
package bedrock

import "encoding/json"

// ConverseRequest is the body of POST /model/{modelId}/converse and
// /converse-stream. The model id travels in the URL, never in the body.
type ConverseRequest struct {
	Messages                          []Message            `json:"messages,omitempty"`
	System                            []SystemContentBlock `json:"system,omitempty"`
	InferenceConfig                   *InferenceConfig     `json:"inferenceConfig,omitempty"`
	ToolConfig                        *ToolConfig          `json:"toolConfig,omitempty"`
	GuardrailConfig                   json.RawMessage      `json:"guardrailConfig,omitempty"`
	AdditionalModelRequestFields      json.RawMessage      `json:"additionalModelRequestFields,omitempty"`
	PromptVariables                   json.RawMessage      `json:"promptVariables,omitempty"`
	AdditionalModelResponseFieldPaths []string             `json:"additionalModelResponseFieldPaths,omitempty"`
	RequestMetadata                   map[string]string    `json:"requestMetadata,omitempty"`
	PerformanceConfig                 json.RawMessage      `json:"performanceConfig,omitempty"`
	ServiceTier                       json.RawMessage      `json:"serviceTier,omitempty"`
	OutputConfig                      *OutputConfig        `json:"outputConfig,omitempty"`
}

// Conversation roles.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one turn.
type Message struct {
	Role    string         `json:"role"`
	Content []ContentBlock `json:"content"`
}

// ContentBlock is a union: exactly one member is set. Members Sluice does
// not produce (document, video, audio, guardContent, cachePoint,
// citationsContent, searchResult, ...) are kept raw when decoded.
type ContentBlock struct {
	Text             *string                `json:"text,omitempty"`
	Image            *ImageBlock            `json:"image,omitempty"`
	ToolUse          *ToolUseBlock          `json:"toolUse,omitempty"`
	ToolResult       *ToolResultBlock       `json:"toolResult,omitempty"`
	ReasoningContent *ReasoningContentBlock `json:"reasoningContent,omitempty"`
	CitationsContent *CitationsContent      `json:"citationsContent,omitempty"`
	Document         json.RawMessage        `json:"document,omitempty"`
	Video            json.RawMessage        `json:"video,omitempty"`
	Audio            json.RawMessage        `json:"audio,omitempty"`
	GuardContent     json.RawMessage        `json:"guardContent,omitempty"`
	CachePoint       json.RawMessage        `json:"cachePoint,omitempty"`
	SearchResult     json.RawMessage        `json:"searchResult,omitempty"`
}

// Image formats.
const (
	ImagePNG  = "png"
	ImageJPEG = "jpeg"
	ImageGIF  = "gif"
	ImageWebP = "webp"
)

// ImageBlock is an image: png, jpeg, gif or webp.
type ImageBlock struct {
	Format string      `json:"format"`
	Source ImageSource `json:"source"`
}

// ImageSource is a union: base64 bytes or an S3 location.
type ImageSource struct {
	Bytes      string          `json:"bytes,omitempty"` // base64
	S3Location json.RawMessage `json:"s3Location,omitempty"`
}

// ToolUseBlock is a tool call by the model.
type ToolUseBlock struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	Type      string          `json:"type,omitempty"` // "server_tool_use" for server-side tools
}

// Tool result statuses.
const (
	ToolResultSuccess = "success"
	ToolResultError   = "error"
)

// ToolResultBlock answers a ToolUseBlock.
type ToolResultBlock struct {
	ToolUseID string                   `json:"toolUseId"`
	Content   []ToolResultContentBlock `json:"content"`
	Status    string                   `json:"status,omitempty"`
}

// ToolResultContentBlock is a union: text, json, image (document, video,
// searchResult kept raw).
type ToolResultContentBlock struct {
	Text         *string         `json:"text,omitempty"`
	JSON         json.RawMessage `json:"json,omitempty"`
	Image        *ImageBlock     `json:"image,omitempty"`
	Document     json.RawMessage `json:"document,omitempty"`
	Video        json.RawMessage `json:"video,omitempty"`
	SearchResult json.RawMessage `json:"searchResult,omitempty"`
}

// ReasoningContentBlock is a union: reasoning text with its signature, or
// redacted (encrypted) reasoning.
type ReasoningContentBlock struct {
	ReasoningText   *ReasoningTextBlock `json:"reasoningText,omitempty"`
	RedactedContent string              `json:"redactedContent,omitempty"` // base64
}

// ReasoningTextBlock is the model's reasoning and its signature.
type ReasoningTextBlock struct {
	Text      string `json:"text"`
	Signature string `json:"signature,omitempty"`
}

// CitationsContent is generated text with citations.
type CitationsContent struct {
	Content   []CitationGeneratedContent `json:"content,omitempty"`
	Citations json.RawMessage            `json:"citations,omitempty"`
}

// CitationGeneratedContent is a union; only text exists today.
type CitationGeneratedContent struct {
	Text *string `json:"text,omitempty"`
}

// SystemContentBlock is a union: text (guardContent, cachePoint kept raw).
type SystemContentBlock struct {
	Text         *string         `json:"text,omitempty"`
	GuardContent json.RawMessage `json:"guardContent,omitempty"`
	CachePoint   json.RawMessage `json:"cachePoint,omitempty"`
}

// InferenceConfig holds the common inference parameters.
type InferenceConfig struct {
	MaxTokens     *int     `json:"maxTokens,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"topP,omitempty"`
	StopSequences []string `json:"stopSequences,omitempty"`
}

// ToolConfig offers tools to the model.
type ToolConfig struct {
	Tools      []Tool      `json:"tools"`
	ToolChoice *ToolChoice `json:"toolChoice,omitempty"`
}

// Tool is a union: toolSpec (systemTool, cachePoint kept raw).
type Tool struct {
	ToolSpec   *ToolSpec       `json:"toolSpec,omitempty"`
	SystemTool json.RawMessage `json:"systemTool,omitempty"`
	CachePoint json.RawMessage `json:"cachePoint,omitempty"`
}

// ToolSpec describes a function tool.
type ToolSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema ToolInputSchema `json:"inputSchema"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ToolInputSchema is a union: a JSON schema document.
type ToolInputSchema struct {
	JSON json.RawMessage `json:"json"`
}

// ToolChoice is a union: auto, any or a named tool. Converse has no "none".
type ToolChoice struct {
	Auto *struct{}           `json:"auto,omitempty"`
	Any  *struct{}           `json:"any,omitempty"`
	Tool *SpecificToolChoice `json:"tool,omitempty"`
}

// SpecificToolChoice names the tool the model must call.
type SpecificToolChoice struct {
	Name string `json:"name"`
}

// OutputConfig controls the model's output: structured output and effort.
type OutputConfig struct {
	// Effort is low, medium, high, xhigh or max.
	Effort     string        `json:"effort,omitempty"`
	TextFormat *OutputFormat `json:"textFormat,omitempty"`
}

// OutputFormatJSONSchema is the only structured output type.
const OutputFormatJSONSchema = "json_schema"

// OutputFormat is structured output.
type OutputFormat struct {
	Type      string                `json:"type"`
	Structure OutputFormatStructure `json:"structure"`
}

// OutputFormatStructure is a union: a JSON schema.
type OutputFormatStructure struct {
	JSONSchema *JSONSchemaDefinition `json:"jsonSchema,omitempty"`
}

// JSONSchemaDefinition holds a JSON schema as a JSON-encoded string.
type JSONSchemaDefinition struct {
	Schema      string `json:"schema"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
}

// Stop reasons.
const (
	StopEndTurn                    = "end_turn"
	StopToolUse                    = "tool_use"
	StopMaxTokens                  = "max_tokens"
	StopStopSequence               = "stop_sequence"
	StopGuardrailIntervened        = "guardrail_intervened"
	StopContentFiltered            = "content_filtered"
	StopMalformedModelOutput       = "malformed_model_output"
	StopMalformedToolUse           = "malformed_tool_use"
	StopModelContextWindowExceeded = "model_context_window_exceeded"
)

// ConverseResponse is the body of a 2xx Converse answer.
type ConverseResponse struct {
	Output                        ConverseOutput  `json:"output"`
	StopReason                    string          `json:"stopReason"`
	Usage                         *TokenUsage     `json:"usage,omitempty"`
	Metrics                       *Metrics        `json:"metrics,omitempty"`
	AdditionalModelResponseFields json.RawMessage `json:"additionalModelResponseFields,omitempty"`
	Trace                         json.RawMessage `json:"trace,omitempty"`
	PerformanceConfig             json.RawMessage `json:"performanceConfig,omitempty"`
	ServiceTier                   json.RawMessage `json:"serviceTier,omitempty"`
}

// ConverseOutput is a union: the message.
type ConverseOutput struct {
	Message *Message `json:"message,omitempty"`
}

// TokenUsage counts tokens. InputTokens EXCLUDES cache reads and writes.
type TokenUsage struct {
	InputTokens           int             `json:"inputTokens"`
	OutputTokens          int             `json:"outputTokens"`
	TotalTokens           int             `json:"totalTokens"`
	CacheReadInputTokens  *int            `json:"cacheReadInputTokens,omitempty"`
	CacheWriteInputTokens *int            `json:"cacheWriteInputTokens,omitempty"`
	CacheDetails          json.RawMessage `json:"cacheDetails,omitempty"`
}

// Metrics of a call.
type Metrics struct {
	LatencyMs int64 `json:"latencyMs"`
}

// ConverseStream event types (the :event-type header of an event message;
// the payload is the member's JSON).
const (
	EventMessageStart      = "messageStart"
	EventContentBlockStart = "contentBlockStart"
	EventContentBlockDelta = "contentBlockDelta"
	EventContentBlockStop  = "contentBlockStop"
	EventMessageStop       = "messageStop"
	EventMetadata          = "metadata"
)

// Stream exception types (the :exception-type header of an exception
// message; the payload is {"message": ...}).
const (
	ExceptionInternalServer     = "internalServerException"
	ExceptionModelStreamError   = "modelStreamErrorException"
	ExceptionValidation         = "validationException"
	ExceptionThrottling         = "throttlingException"
	ExceptionServiceUnavailable = "serviceUnavailableException"
)

// MessageStartEvent opens the answer.
type MessageStartEvent struct {
	Role string `json:"role"`
}

// ContentBlockStartEvent opens a block that needs a header (tool use).
// Text and reasoning blocks may start with a delta instead.
type ContentBlockStartEvent struct {
	ContentBlockIndex int               `json:"contentBlockIndex"`
	Start             ContentBlockStart `json:"start"`
}

// ContentBlockStart is a union: toolUse (toolResult, image kept raw).
type ContentBlockStart struct {
	ToolUse    *ToolUseBlockStart `json:"toolUse,omitempty"`
	ToolResult json.RawMessage    `json:"toolResult,omitempty"`
	Image      json.RawMessage    `json:"image,omitempty"`
}

// ToolUseBlockStart names a streamed tool call.
type ToolUseBlockStart struct {
	ToolUseID string `json:"toolUseId"`
	Name      string `json:"name"`
	Type      string `json:"type,omitempty"`
}

// ContentBlockDeltaEvent is a piece of a block.
type ContentBlockDeltaEvent struct {
	ContentBlockIndex int               `json:"contentBlockIndex"`
	Delta             ContentBlockDelta `json:"delta"`
}

// ContentBlockDelta is a union.
type ContentBlockDelta struct {
	Text             *string                     `json:"text,omitempty"`
	ToolUse          *ToolUseBlockDelta          `json:"toolUse,omitempty"`
	ReasoningContent *ReasoningContentBlockDelta `json:"reasoningContent,omitempty"`
	ToolResult       json.RawMessage             `json:"toolResult,omitempty"`
	Citation         json.RawMessage             `json:"citation,omitempty"`
	Image            json.RawMessage             `json:"image,omitempty"`
}

// ToolUseBlockDelta is a fragment of the tool input's JSON text.
type ToolUseBlockDelta struct {
	Input string `json:"input"`
}

// ReasoningContentBlockDelta is a union: text, signature or redacted
// content (base64).
type ReasoningContentBlockDelta struct {
	Text            *string `json:"text,omitempty"`
	Signature       *string `json:"signature,omitempty"`
	RedactedContent *string `json:"redactedContent,omitempty"`
}

// ContentBlockStopEvent closes a block.
type ContentBlockStopEvent struct {
	ContentBlockIndex int `json:"contentBlockIndex"`
}

// MessageStopEvent ends the answer.
type MessageStopEvent struct {
	StopReason                    string          `json:"stopReason"`
	AdditionalModelResponseFields json.RawMessage `json:"additionalModelResponseFields,omitempty"`
}

// MetadataEvent follows messageStop with usage and metrics.
type MetadataEvent struct {
	Usage   *TokenUsage     `json:"usage,omitempty"`
	Metrics *Metrics        `json:"metrics,omitempty"`
	Trace   json.RawMessage `json:"trace,omitempty"`
}

// ErrorBody is the body of a non-2xx answer; the error type is in the
// x-amzn-ErrorType header (and sometimes "__type").
type ErrorBody struct {
	Type    string `json:"__type,omitempty"`
	Message string `json:"message"`
}

// HeaderErrorType carries the error type of a non-2xx answer, such as
// "ValidationException" or "ThrottlingException:http://internal.amazon.com/...".
const HeaderErrorType = "X-Amzn-Errortype"

// HeaderRequestID is the request id of every answer.
const HeaderRequestID = "X-Amzn-Requestid"

// Error types of non-2xx answers, and the status each comes with.
const (
	ErrAccessDenied         = "AccessDeniedException"         // 403
	ErrConflict             = "ConflictException"             // 400
	ErrInternalServer       = "InternalServerException"       // 500
	ErrModelError           = "ModelErrorException"           // 424
	ErrModelNotReady        = "ModelNotReadyException"        // 429
	ErrModelStreamError     = "ModelStreamErrorException"     // 424
	ErrModelTimeout         = "ModelTimeoutException"         // 408
	ErrResourceNotFound     = "ResourceNotFoundException"     // 404
	ErrServiceQuotaExceeded = "ServiceQuotaExceededException" // 400
	ErrServiceUnavailable   = "ServiceUnavailableException"   // 503
	ErrThrottling           = "ThrottlingException"           // 429
	ErrValidation           = "ValidationException"           // 400
	// Errors of the AWS front end (signing and credentials), all 403.
	ErrInvalidSignature    = "InvalidSignatureException"
	ErrUnrecognizedClient  = "UnrecognizedClientException"
	ErrMissingAuthToken    = "MissingAuthenticationTokenException"
	ErrExpiredToken        = "ExpiredTokenException"
	ErrIncompleteSignature = "IncompleteSignatureException"
)

// Event-stream header names and message types.
const (
	HeaderEventType     = ":event-type"
	HeaderMessageType   = ":message-type"
	HeaderExceptionType = ":exception-type"
	HeaderContentType   = ":content-type"
	HeaderErrorCode     = ":error-code"
	HeaderErrorMessage  = ":error-message"

	MessageTypeEvent     = "event"
	MessageTypeException = "exception"
	MessageTypeError     = "error"
)

// StreamContentType is the Content-Type of a ConverseStream answer.
const StreamContentType = "application/vnd.amazon.eventstream"
