// Package gemini holds the wire shapes of Google's Gemini API
// (generativelanguage.googleapis.com, v1beta): generateContent and
// streamGenerateContent requests and responses, countTokens, and the error
// envelope. Types only, no logic. Field names are the API's JSON (camelCase)
// names; the API also accepts snake_case names, which the protocol package
// normalises before decoding into these types.
//
// Opaque values that must survive unchanged (function arguments and
// responses, JSON schemas, base64 bytes) are kept as json.RawMessage or
// string. Fields that Sluice cannot translate are still declared, as
// json.RawMessage, so that a decoder can tell that they were sent.
package gemini

import "encoding/json"

// GenerateContentRequest is the body of models/{model}:generateContent and
// :streamGenerateContent. The model is named in the URL path; Model is only
// set inside a CountTokensRequest's generateContentRequest.
type GenerateContentRequest struct {
	Model             string            `json:"model,omitempty"`
	Contents          []Content         `json:"contents"`
	SystemInstruction *Content          `json:"systemInstruction,omitempty"`
	Tools             []Tool            `json:"tools,omitempty"`
	ToolConfig        *ToolConfig       `json:"toolConfig,omitempty"`
	SafetySettings    []SafetySetting   `json:"safetySettings,omitempty"`
	GenerationConfig  *GenerationConfig `json:"generationConfig,omitempty"`
	CachedContent     string            `json:"cachedContent,omitempty"`
	// Labels is Vertex AI's; the Developer API rejects it.
	Labels json.RawMessage `json:"labels,omitempty"`
}

// Roles of a Content.
const (
	RoleUser  = "user"
	RoleModel = "model"
	// RoleFunction is the legacy role of a turn of function responses.
	RoleFunction = "function"
)

// Content is one turn: a role and its parts.
type Content struct {
	Role  string `json:"role,omitempty"`
	Parts []Part `json:"parts"`
}

// Part is one piece of content. Exactly one data field is set (text,
// inlineData, fileData, functionCall, functionResponse, ...); Thought and
// ThoughtSignature may accompany it.
type Part struct {
	Text             *string           `json:"text,omitempty"`
	InlineData       *Blob             `json:"inlineData,omitempty"`
	FileData         *FileData         `json:"fileData,omitempty"`
	FunctionCall     *FunctionCall     `json:"functionCall,omitempty"`
	FunctionResponse *FunctionResponse `json:"functionResponse,omitempty"`

	// Thought marks a part that is a thought summary.
	Thought bool `json:"thought,omitempty"`
	// ThoughtSignature is an opaque base64 signature to be sent back
	// unchanged, on the same part, in the next turn.
	ThoughtSignature string `json:"thoughtSignature,omitempty"`

	ExecutableCode      json.RawMessage `json:"executableCode,omitempty"`
	CodeExecutionResult json.RawMessage `json:"codeExecutionResult,omitempty"`
	ToolCall            json.RawMessage `json:"toolCall,omitempty"`
	ToolResponse        json.RawMessage `json:"toolResponse,omitempty"`
	VideoMetadata       json.RawMessage `json:"videoMetadata,omitempty"`
	MediaResolution     json.RawMessage `json:"mediaResolution,omitempty"`
	SpeechMetadata      json.RawMessage `json:"speechMetadata,omitempty"`
	// MediaProcessing only applies to video.
	MediaProcessing json.RawMessage `json:"mediaProcessing,omitempty"`
	// AudioTranscription is output only.
	AudioTranscription json.RawMessage `json:"audioTranscription,omitempty"`
	// PartMetadata is client-side metadata that the model does not read.
	PartMetadata json.RawMessage `json:"partMetadata,omitempty"`
}

// Blob is inline bytes: Data is base64.
type Blob struct {
	MimeType    string `json:"mimeType,omitempty"`
	Data        string `json:"data,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

// FileData references a file by URI (a Files API URI, or a public URL).
type FileData struct {
	MimeType    string `json:"mimeType,omitempty"`
	FileURI     string `json:"fileUri,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

// FunctionCall is a call the model asks for. ID is only sent by newer
// models, in responses; the Developer API rejects it in requests.
type FunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name,omitempty"`
	Args json.RawMessage `json:"args,omitempty"` // a JSON object

	PartialArgs  json.RawMessage `json:"partialArgs,omitempty"`
	WillContinue *bool           `json:"willContinue,omitempty"`
}

// FunctionResponse is the result of a FunctionCall, matched to it by Name
// (and ID where the API supports it).
type FunctionResponse struct {
	ID       string                 `json:"id,omitempty"`
	Name     string                 `json:"name,omitempty"`
	Response json.RawMessage        `json:"response,omitempty"` // a JSON object
	Parts    []FunctionResponsePart `json:"parts,omitempty"`

	WillContinue *bool           `json:"willContinue,omitempty"`
	Scheduling   json.RawMessage `json:"scheduling,omitempty"`
}

// FunctionResponsePart is media returned by a function (Gemini 3).
type FunctionResponsePart struct {
	InlineData *Blob     `json:"inlineData,omitempty"`
	FileData   *FileData `json:"fileData,omitempty"`
}

// Tool is one entry of tools[]. Only FunctionDeclarations are translatable;
// the built-in tools are declared so that their presence can be detected.
type Tool struct {
	FunctionDeclarations []FunctionDeclaration `json:"functionDeclarations,omitempty"`

	GoogleSearch          json.RawMessage `json:"googleSearch,omitempty"`
	GoogleSearchRetrieval json.RawMessage `json:"googleSearchRetrieval,omitempty"`
	CodeExecution         json.RawMessage `json:"codeExecution,omitempty"`
	URLContext            json.RawMessage `json:"urlContext,omitempty"`
	FileSearch            json.RawMessage `json:"fileSearch,omitempty"`
	GoogleMaps            json.RawMessage `json:"googleMaps,omitempty"`
	ComputerUse           json.RawMessage `json:"computerUse,omitempty"`
	Retrieval             json.RawMessage `json:"retrieval,omitempty"`
	EnterpriseWebSearch   json.RawMessage `json:"enterpriseWebSearch,omitempty"`
	MCPServers            json.RawMessage `json:"mcpServers,omitempty"`
}

// FunctionDeclaration declares a function. Parameters is the API's OpenAPI
// subset schema; ParametersJSONSchema is a full JSON Schema. At most one is
// set.
type FunctionDeclaration struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description,omitempty"`
	Parameters           json.RawMessage `json:"parameters,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`

	Response           json.RawMessage `json:"response,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
	Behavior           string          `json:"behavior,omitempty"`
}

// ToolConfig configures tool use.
type ToolConfig struct {
	FunctionCallingConfig *FunctionCallingConfig `json:"functionCallingConfig,omitempty"`

	RetrievalConfig                  json.RawMessage `json:"retrievalConfig,omitempty"`
	IncludeServerSideToolInvocations *bool           `json:"includeServerSideToolInvocations,omitempty"`
}

// Function calling modes.
const (
	ModeUnspecified = "MODE_UNSPECIFIED"
	ModeAuto        = "AUTO"
	ModeAny         = "ANY"
	ModeNone        = "NONE"
	ModeValidated   = "VALIDATED"
)

// FunctionCallingConfig says whether and which functions the model may call.
type FunctionCallingConfig struct {
	Mode                        string   `json:"mode,omitempty"`
	AllowedFunctionNames        []string `json:"allowedFunctionNames,omitempty"`
	StreamFunctionCallArguments *bool    `json:"streamFunctionCallArguments,omitempty"`
}

// SafetySetting is one harm category threshold.
type SafetySetting struct {
	Category  string `json:"category,omitempty"`
	Threshold string `json:"threshold,omitempty"`
	Method    string `json:"method,omitempty"`
}

// GenerationConfig holds the sampling and output options.
type GenerationConfig struct {
	MaxOutputTokens    *int            `json:"maxOutputTokens,omitempty"`
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"topP,omitempty"`
	TopK               *float64        `json:"topK,omitempty"` // an integer, sent as a number by some clients
	StopSequences      []string        `json:"stopSequences,omitempty"`
	Seed               *int64          `json:"seed,omitempty"`
	CandidateCount     *int            `json:"candidateCount,omitempty"`
	PresencePenalty    *float64        `json:"presencePenalty,omitempty"`
	FrequencyPenalty   *float64        `json:"frequencyPenalty,omitempty"`
	ResponseMimeType   string          `json:"responseMimeType,omitempty"`
	ResponseSchema     json.RawMessage `json:"responseSchema,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
	ThinkingConfig     *ThinkingConfig `json:"thinkingConfig,omitempty"`

	ResponseLogprobs           *bool           `json:"responseLogprobs,omitempty"`
	Logprobs                   *int            `json:"logprobs,omitempty"`
	ResponseModalities         []string        `json:"responseModalities,omitempty"`
	SpeechConfig               json.RawMessage `json:"speechConfig,omitempty"`
	MediaResolution            string          `json:"mediaResolution,omitempty"`
	ImageConfig                json.RawMessage `json:"imageConfig,omitempty"`
	EnableEnhancedCivicAnswers *bool           `json:"enableEnhancedCivicAnswers,omitempty"`
	AudioTimestamp             *bool           `json:"audioTimestamp,omitempty"`
	RoutingConfig              json.RawMessage `json:"routingConfig,omitempty"`
	ModelSelectionConfig       json.RawMessage `json:"modelSelectionConfig,omitempty"`
	EnableAffectiveDialog      *bool           `json:"enableAffectiveDialog,omitempty"`
}

// ThinkingConfig configures thinking. ThinkingBudget -1 is dynamic, 0 off.
// ThinkingLevel (MINIMAL, LOW, MEDIUM, HIGH) is Gemini 3's alternative.
type ThinkingConfig struct {
	IncludeThoughts bool   `json:"includeThoughts,omitempty"`
	ThinkingBudget  *int   `json:"thinkingBudget,omitempty"`
	ThinkingLevel   string `json:"thinkingLevel,omitempty"`
}

// GenerateContentResponse is a complete answer, or one chunk of a stream.
type GenerateContentResponse struct {
	Candidates     []Candidate     `json:"candidates,omitempty"`
	PromptFeedback *PromptFeedback `json:"promptFeedback,omitempty"`
	UsageMetadata  *UsageMetadata  `json:"usageMetadata,omitempty"`
	ModelVersion   string          `json:"modelVersion,omitempty"`
	ResponseID     string          `json:"responseId,omitempty"`
	// Error is set on an error chunk of a stream.
	Error *ErrorObject `json:"error,omitempty"`
}

// Finish reasons.
const (
	FinishUnspecified       = "FINISH_REASON_UNSPECIFIED"
	FinishStop              = "STOP"
	FinishMaxTokens         = "MAX_TOKENS"
	FinishSafety            = "SAFETY"
	FinishRecitation        = "RECITATION"
	FinishLanguage          = "LANGUAGE"
	FinishOther             = "OTHER"
	FinishBlocklist         = "BLOCKLIST"
	FinishProhibitedContent = "PROHIBITED_CONTENT"
	FinishSPII              = "SPII"
	FinishMalformedCall     = "MALFORMED_FUNCTION_CALL"
	FinishImageSafety       = "IMAGE_SAFETY"
)

// Candidate is one generated answer.
type Candidate struct {
	Content       *Content        `json:"content,omitempty"`
	FinishReason  string          `json:"finishReason,omitempty"`
	FinishMessage string          `json:"finishMessage,omitempty"`
	Index         int             `json:"index"`
	SafetyRatings json.RawMessage `json:"safetyRatings,omitempty"`
}

// PromptFeedback reports a prompt that was blocked.
type PromptFeedback struct {
	BlockReason        string          `json:"blockReason,omitempty"`
	BlockReasonMessage string          `json:"blockReasonMessage,omitempty"`
	SafetyRatings      json.RawMessage `json:"safetyRatings,omitempty"`
}

// UsageMetadata is the token count of an answer. PromptTokenCount includes
// CachedContentTokenCount; ThoughtsTokenCount is not part of
// CandidatesTokenCount; TotalTokenCount is the sum of prompt, tool-use
// prompt, candidates and thoughts.
type UsageMetadata struct {
	PromptTokenCount        int64 `json:"promptTokenCount,omitempty"`
	CachedContentTokenCount int64 `json:"cachedContentTokenCount,omitempty"`
	CandidatesTokenCount    int64 `json:"candidatesTokenCount,omitempty"`
	ToolUsePromptTokenCount int64 `json:"toolUsePromptTokenCount,omitempty"`
	ThoughtsTokenCount      int64 `json:"thoughtsTokenCount,omitempty"`
	TotalTokenCount         int64 `json:"totalTokenCount,omitempty"`

	PromptTokensDetails     []ModalityTokenCount `json:"promptTokensDetails,omitempty"`
	CacheTokensDetails      []ModalityTokenCount `json:"cacheTokensDetails,omitempty"`
	CandidatesTokensDetails []ModalityTokenCount `json:"candidatesTokensDetails,omitempty"`
}

// ModalityTokenCount is a token count for one modality (TEXT, IMAGE, ...).
type ModalityTokenCount struct {
	Modality   string `json:"modality,omitempty"`
	TokenCount int64  `json:"tokenCount,omitempty"`
}

// CountTokensRequest is the body of models/{model}:countTokens: either
// Contents, or a whole GenerateContentRequest (whose Model is
// "models/{model}").
type CountTokensRequest struct {
	Contents               []Content               `json:"contents,omitempty"`
	GenerateContentRequest *GenerateContentRequest `json:"generateContentRequest,omitempty"`
}

// CountTokensResponse is the answer of countTokens.
type CountTokensResponse struct {
	TotalTokens             int64                `json:"totalTokens"`
	CachedContentTokenCount int64                `json:"cachedContentTokenCount,omitempty"`
	PromptTokensDetails     []ModalityTokenCount `json:"promptTokensDetails,omitempty"`
}

// ErrorBody is Google's error envelope: {"error":{"code","message","status"}}.
type ErrorBody struct {
	Error ErrorObject `json:"error"`
}

// ErrorObject is the inside of an ErrorBody. Code is the HTTP status;
// Status the google.rpc.Code name.
type ErrorObject struct {
	Code    int           `json:"code"`
	Message string        `json:"message"`
	Status  string        `json:"status,omitempty"`
	Details []ErrorDetail `json:"details,omitempty"`
}

// ErrorDetail is one entry of details[]: a typed google.rpc message.
type ErrorDetail struct {
	Type            string           `json:"@type"`
	Reason          string           `json:"reason,omitempty"`
	Domain          string           `json:"domain,omitempty"`
	Metadata        json.RawMessage  `json:"metadata,omitempty"`
	FieldViolations []FieldViolation `json:"fieldViolations,omitempty"`
	RetryDelay      string           `json:"retryDelay,omitempty"`
}

// FieldViolation names a bad request field (google.rpc.BadRequest).
type FieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

// Detail types.
const (
	TypeBadRequest = "type.googleapis.com/google.rpc.BadRequest"
	TypeErrorInfo  = "type.googleapis.com/google.rpc.ErrorInfo"
	TypeRetryInfo  = "type.googleapis.com/google.rpc.RetryInfo"
)

// Status names of google.rpc.Code, as they appear in ErrorObject.Status.
const (
	StatusInvalidArgument    = "INVALID_ARGUMENT"
	StatusFailedPrecondition = "FAILED_PRECONDITION"
	StatusUnauthenticated    = "UNAUTHENTICATED"
	StatusPermissionDenied   = "PERMISSION_DENIED"
	StatusNotFound           = "NOT_FOUND"
	StatusResourceExhausted  = "RESOURCE_EXHAUSTED"
	StatusCancelled          = "CANCELLED"
	StatusInternal           = "INTERNAL"
	StatusUnimplemented      = "UNIMPLEMENTED"
	StatusUnavailable        = "UNAVAILABLE"
	StatusDeadlineExceeded   = "DEADLINE_EXCEEDED"
)

// StatusForHTTP returns the google.rpc.Code name Google sends with an HTTP
// status.
func StatusForHTTP(code int) string {
	switch code {
	case 400, 413:
		return StatusInvalidArgument
	case 401:
		return StatusUnauthenticated
	case 403:
		return StatusPermissionDenied
	case 404:
		return StatusNotFound
	case 429:
		return StatusResourceExhausted
	case 499:
		return StatusCancelled
	case 501:
		return StatusUnimplemented
	case 502, 503, 529:
		return StatusUnavailable
	case 504:
		return StatusDeadlineExceeded
	}
	if code >= 500 {
		return StatusInternal
	}
	return StatusFailedPrecondition
}
