package openai

import (
	"reflect"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/jsonlimit"
	"github.com/sluicehq/sluice/internal/protocol/rawjson"
)

// wireDecoder decodes a Chat Completions request body into the wire types
// exactly as json.Unmarshal does (FuzzWireDecode holds it to that), without
// reflection and without validating the body again: it runs only on JSON
// that passed jsonlimit.Check. Like encoding/json it matches keys exactly
// or else case-insensitively, lets the last of repeated keys win (decoding
// a repeated array or object into what the first one left), leaves fields
// alone on null except pointers, slices and raw values, and reports the
// first type mismatch as a *json.UnmarshalTypeError with the same Field
// (the JSON names from the top, without indexes), Type and Value.
type wireDecoder struct {
	rawjson.Decoder
}

// decodeChatRequest is json.Unmarshal(body, w) for a checked body.
func decodeChatRequest(body []byte, w *oa.ChatRequest) error {
	d := wireDecoder{}
	d.chatRequest(body, w)
	if d.Err != nil {
		return d.Err
	}
	return nil
}

// decodeContentPart is json.Unmarshal(raw, p) for a checked value.
func decodeContentPart(raw []byte, p *oa.ChatContentPart) error {
	d := wireDecoder{}
	d.contentPart(raw, p)
	if d.Err != nil {
		return d.Err
	}
	return nil
}

var (
	typeChatRequest    = reflect.TypeFor[oa.ChatRequest]()
	typeMessages       = reflect.TypeFor[[]oa.ChatMessage]()
	typeMessage        = reflect.TypeFor[oa.ChatMessage]()
	typeTools          = reflect.TypeFor[[]oa.ChatTool]()
	typeTool           = reflect.TypeFor[oa.ChatTool]()
	typeFunction       = reflect.TypeFor[oa.ChatFunction]()
	typeToolCalls      = reflect.TypeFor[[]oa.ChatToolCall]()
	typeToolCall       = reflect.TypeFor[oa.ChatToolCall]()
	typeFunctionCall   = reflect.TypeFor[oa.ChatFunctionCall]()
	typeResponseFormat = reflect.TypeFor[oa.ChatResponseFormat]()
	typeJSONSchema     = reflect.TypeFor[oa.ChatJSONSchema]()
	typeStreamOptions  = reflect.TypeFor[oa.ChatStreamOptions]()
	typeContentPart    = reflect.TypeFor[oa.ChatContentPart]()
	typeImageURL       = reflect.TypeFor[oa.ChatImageURL]()
)

var chatRequestFields = []string{"model", "messages", "tools", "tool_choice", "parallel_tool_calls", "max_tokens",
	"max_completion_tokens", "temperature", "top_p", "top_k", "stop", "seed", "frequency_penalty", "presence_penalty",
	"response_format", "reasoning_effort", "stream", "stream_options", "user", "safety_identifier", "n"}

func (d *wireDecoder) chatRequest(raw []byte, w *oa.ChatRequest) {
	d.Object(raw, typeChatRequest, chatRequestFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.String(v, &w.Model)
		case 1:
			rawjson.Slice(&d.Decoder, v, &w.Messages, typeMessages, d.message)
		case 2:
			rawjson.Slice(&d.Decoder, v, &w.Tools, typeTools, d.tool)
		case 3:
			d.Raw(v, &w.ToolChoice)
		case 4:
			rawjson.Ptr(v, &w.ParallelToolCalls, d.Bool)
		case 5:
			rawjson.Ptr(v, &w.MaxTokens, d.Int)
		case 6:
			rawjson.Ptr(v, &w.MaxCompletionTokens, d.Int)
		case 7:
			rawjson.Ptr(v, &w.Temperature, d.Float64)
		case 8:
			rawjson.Ptr(v, &w.TopP, d.Float64)
		case 9:
			rawjson.Ptr(v, &w.TopK, d.Int)
		case 10:
			d.Raw(v, &w.Stop)
		case 11:
			rawjson.Ptr(v, &w.Seed, d.Int64)
		case 12:
			rawjson.Ptr(v, &w.FrequencyPenalty, d.Float64)
		case 13:
			rawjson.Ptr(v, &w.PresencePenalty, d.Float64)
		case 14:
			rawjson.Ptr(v, &w.ResponseFormat, d.responseFormat)
		case 15:
			d.String(v, &w.ReasoningEffort)
		case 16:
			d.Bool(v, &w.Stream)
		case 17:
			rawjson.Ptr(v, &w.StreamOptions, d.streamOptions)
		case 18:
			d.String(v, &w.User)
		case 19:
			d.String(v, &w.SafetyIdentifier)
		case 20:
			rawjson.Ptr(v, &w.N, d.Int)
		}
	})
}

var messageWireFields = []string{"role", "content", "name", "tool_calls", "tool_call_id", "refusal", "reasoning_content", "reasoning"}

func (d *wireDecoder) message(raw []byte, m *oa.ChatMessage) {
	d.Object(raw, typeMessage, messageWireFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.String(v, &m.Role)
		case 1:
			d.Raw(v, &m.Content)
		case 2:
			d.String(v, &m.Name)
		case 3:
			rawjson.Slice(&d.Decoder, v, &m.ToolCalls, typeToolCalls, d.toolCall)
		case 4:
			d.String(v, &m.ToolCallID)
		case 5:
			rawjson.Ptr(v, &m.Refusal, d.String)
		case 6:
			d.String(v, &m.ReasoningContent)
		case 7:
			d.String(v, &m.Reasoning)
		}
	})
}

var (
	toolCallWireFields     = []string{"id", "type", "function"}
	functionCallWireFields = []string{"name", "arguments"}
)

func (d *wireDecoder) toolCall(raw []byte, c *oa.ChatToolCall) {
	d.Object(raw, typeToolCall, toolCallWireFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.String(v, &c.ID)
		case 1:
			d.String(v, &c.Type)
		case 2:
			d.Object(v, typeFunctionCall, functionCallWireFields, func(i int, v []byte) {
				if i == 0 {
					d.String(v, &c.Function.Name)
				} else {
					d.String(v, &c.Function.Arguments)
				}
			})
		}
	})
}

var (
	toolWireFields     = []string{"type", "function"}
	functionWireFields = []string{"name", "description", "parameters", "strict"}
)

func (d *wireDecoder) tool(raw []byte, t *oa.ChatTool) {
	d.Object(raw, typeTool, toolWireFields, func(i int, v []byte) {
		if i == 0 {
			d.String(v, &t.Type)
			return
		}
		f := &t.Function
		d.Object(v, typeFunction, functionWireFields, func(i int, v []byte) {
			switch i {
			case 0:
				d.String(v, &f.Name)
			case 1:
				d.String(v, &f.Description)
			case 2:
				d.Raw(v, &f.Parameters)
			case 3:
				rawjson.Ptr(v, &f.Strict, d.Bool)
			}
		})
	})
}

var (
	responseFormatWireFields = []string{"type", "json_schema"}
	jsonSchemaWireFields     = []string{"name", "description", "schema", "strict"}
	streamOptionsWireFields  = []string{"include_usage", "include_obfuscation"}
)

func (d *wireDecoder) responseFormat(raw []byte, rf *oa.ChatResponseFormat) {
	d.Object(raw, typeResponseFormat, responseFormatWireFields, func(i int, v []byte) {
		if i == 0 {
			d.String(v, &rf.Type)
			return
		}
		rawjson.Ptr(v, &rf.JSONSchema, func(raw []byte, js *oa.ChatJSONSchema) {
			d.Object(raw, typeJSONSchema, jsonSchemaWireFields, func(i int, v []byte) {
				switch i {
				case 0:
					d.String(v, &js.Name)
				case 1:
					d.String(v, &js.Description)
				case 2:
					d.Raw(v, &js.Schema)
				case 3:
					rawjson.Ptr(v, &js.Strict, d.Bool)
				}
			})
		})
	})
}

func (d *wireDecoder) streamOptions(raw []byte, so *oa.ChatStreamOptions) {
	d.Object(raw, typeStreamOptions, streamOptionsWireFields, func(i int, v []byte) {
		if i == 0 {
			d.Bool(v, &so.IncludeUsage)
		} else {
			rawjson.Ptr(v, &so.IncludeObfuscation, d.Bool)
		}
	})
}

var (
	contentPartWireFields = []string{"type", "text", "image_url", "input_audio", "file", "refusal"}
	imageURLWireFields    = []string{"url", "detail"}
)

func (d *wireDecoder) contentPart(raw []byte, p *oa.ChatContentPart) {
	d.Object(raw, typeContentPart, contentPartWireFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.String(v, &p.Type)
		case 1:
			d.String(v, &p.Text)
		case 2:
			rawjson.Ptr(v, &p.ImageURL, func(raw []byte, u *oa.ChatImageURL) {
				d.Object(raw, typeImageURL, imageURLWireFields, func(i int, v []byte) {
					if i == 0 {
						d.String(v, &u.URL)
					} else {
						d.String(v, &u.Detail)
					}
				})
			})
		case 3:
			d.Raw(v, &p.InputAudio)
		case 4:
			d.Raw(v, &p.File)
		case 5:
			d.String(v, &p.Refusal)
		}
	})
}

// decodeStreamChunk reads an upstream stream chunk as json.Unmarshal does,
// when it can: data that is not valid JSON nested at most 256 levels, or
// holds a value of the wrong type, is left to json.Unmarshal (ok false),
// so that errors stay encoding/json's own.
func decodeStreamChunk(data []byte, c *streamChunk) (ok bool) {
	if jsonlimit.Check(data, 256) != nil {
		return false
	}
	d := wireDecoder{}
	d.Object(data, typeChatRequest, streamChunkFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.String(v, &c.ID)
		case 1:
			d.String(v, &c.Object)
		case 2:
			d.Int64(v, &c.Created)
		case 3:
			d.String(v, &c.Model)
		case 4:
			rawjson.Slice(&d.Decoder, v, &c.Choices, typeMessages, d.chunkChoice)
		case 5:
			rawjson.Ptr(v, &c.Usage, d.usage)
		case 6:
			d.Raw(v, &c.Error)
		}
	})
	return d.Err == nil
}

var (
	streamChunkFields   = []string{"id", "object", "created", "model", "choices", "usage", "error"}
	chunkChoiceFields   = []string{"index", "delta", "logprobs", "finish_reason"}
	deltaFields         = []string{"role", "content", "reasoning_content", "reasoning", "refusal", "tool_calls"}
	toolCallDeltaFields = []string{"index", "id", "type", "function"}
	functionDeltaFields = []string{"name", "arguments"}
	usageFields         = []string{"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details", "completion_tokens_details", "prompt_cache_hit_tokens"}
	promptDetailsFields = []string{"cached_tokens", "cache_write_tokens"}
	outputDetailsFields = []string{"reasoning_tokens"}
)

// The chunk's parts; a mismatch only needs to be noticed (the caller falls
// back to encoding/json), so the types named in errors are approximate.

func (d *wireDecoder) chunkChoice(raw []byte, ch *oa.ChatChunkChoice) {
	d.Object(raw, typeMessage, chunkChoiceFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.Int(v, &ch.Index)
		case 1:
			dl := &ch.Delta
			d.Object(v, typeMessage, deltaFields, func(i int, v []byte) {
				switch i {
				case 0:
					d.String(v, &dl.Role)
				case 1:
					rawjson.Ptr(v, &dl.Content, d.String)
				case 2:
					rawjson.Ptr(v, &dl.ReasoningContent, d.String)
				case 3:
					rawjson.Ptr(v, &dl.Reasoning, d.String)
				case 4:
					rawjson.Ptr(v, &dl.Refusal, d.String)
				case 5:
					rawjson.Slice(&d.Decoder, v, &dl.ToolCalls, typeMessages, d.toolCallDelta)
				}
			})
		case 2:
			d.Raw(v, &ch.Logprobs)
		case 3:
			rawjson.Ptr(v, &ch.FinishReason, d.String)
		}
	})
}

func (d *wireDecoder) toolCallDelta(raw []byte, tc *oa.ChatToolCallDelta) {
	d.Object(raw, typeMessage, toolCallDeltaFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.Int(v, &tc.Index)
		case 1:
			d.String(v, &tc.ID)
		case 2:
			d.String(v, &tc.Type)
		case 3:
			d.Object(v, typeMessage, functionDeltaFields, func(i int, v []byte) {
				if i == 0 {
					d.String(v, &tc.Function.Name)
				} else {
					d.String(v, &tc.Function.Arguments)
				}
			})
		}
	})
}

func (d *wireDecoder) usage(raw []byte, u *oa.ChatUsage) {
	d.Object(raw, typeMessage, usageFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.Int64(v, &u.PromptTokens)
		case 1:
			d.Int64(v, &u.CompletionTokens)
		case 2:
			d.Int64(v, &u.TotalTokens)
		case 3:
			rawjson.Ptr(v, &u.PromptTokensDetails, func(raw []byte, p *oa.PromptTokensDetails) {
				d.Object(raw, typeMessage, promptDetailsFields, func(i int, v []byte) {
					if i == 0 {
						d.Int64(v, &p.CachedTokens)
					} else {
						d.Int64(v, &p.CacheWriteTokens)
					}
				})
			})
		case 4:
			rawjson.Ptr(v, &u.CompletionTokensDetails, func(raw []byte, p *oa.CompletionTokensDetails) {
				d.Object(raw, typeMessage, outputDetailsFields, func(_ int, v []byte) {
					d.Int64(v, &p.ReasoningTokens)
				})
			})
		case 5:
			rawjson.Ptr(v, &u.PromptCacheHitTokens, d.Int64)
		}
	})
}

var (
	completionFields = []string{"id", "object", "created", "model", "choices", "usage"}
	choiceFields     = []string{"index", "message", "logprobs", "finish_reason"}
	messageOutFields = []string{"role", "content", "refusal", "tool_calls", "reasoning_content", "reasoning"}
)

// decodeCompletion reads an upstream chat completion as json.Unmarshal
// does, when it can (see decodeStreamChunk).
func decodeCompletion(body []byte, w *oa.ChatCompletion) (ok bool) {
	if jsonlimit.Check(body, 256) != nil {
		return false
	}
	d := wireDecoder{}
	d.Object(body, typeMessage, completionFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.String(v, &w.ID)
		case 1:
			d.String(v, &w.Object)
		case 2:
			d.Int64(v, &w.Created)
		case 3:
			d.String(v, &w.Model)
		case 4:
			rawjson.Slice(&d.Decoder, v, &w.Choices, typeMessages, d.choice)
		case 5:
			rawjson.Ptr(v, &w.Usage, d.usage)
		}
	})
	return d.Err == nil
}

func (d *wireDecoder) choice(raw []byte, ch *oa.ChatChoice) {
	d.Object(raw, typeMessage, choiceFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.Int(v, &ch.Index)
		case 1:
			m := &ch.Message
			d.Object(v, typeMessage, messageOutFields, func(i int, v []byte) {
				switch i {
				case 0:
					d.String(v, &m.Role)
				case 1:
					rawjson.Ptr(v, &m.Content, d.String)
				case 2:
					rawjson.Ptr(v, &m.Refusal, d.String)
				case 3:
					rawjson.Slice(&d.Decoder, v, &m.ToolCalls, typeToolCalls, d.toolCall)
				case 4:
					d.String(v, &m.ReasoningContent)
				case 5:
					d.String(v, &m.Reasoning)
				}
			})
		case 2:
			d.Raw(v, &ch.Logprobs)
		case 3:
			rawjson.Ptr(v, &ch.FinishReason, d.String)
		}
	})
}
