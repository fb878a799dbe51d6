package openai

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"

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
	err   *json.UnmarshalTypeError
	stack []string
}

// decodeChatRequest is json.Unmarshal(body, w) for a checked body.
func decodeChatRequest(body []byte, w *oa.ChatRequest) error {
	d := wireDecoder{stack: make([]string, 0, 4)}
	d.chatRequest(body, w)
	if d.err != nil {
		return d.err
	}
	return nil
}

// decodeContentPart is json.Unmarshal(raw, p) for a checked value.
func decodeContentPart(raw []byte, p *oa.ChatContentPart) error {
	d := wireDecoder{}
	d.contentPart(raw, p)
	if d.err != nil {
		return d.err
	}
	return nil
}

var (
	typeString         = reflect.TypeFor[string]()
	typeBool           = reflect.TypeFor[bool]()
	typeInt            = reflect.TypeFor[int]()
	typeInt64          = reflect.TypeFor[int64]()
	typeFloat64        = reflect.TypeFor[float64]()
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

// fail records the first type mismatch: a value of JSON kind k where t
// was expected (value overrides the kind's name, as for numbers out of
// range).
func (d *wireDecoder) fail(k byte, t reflect.Type, value string) {
	if d.err != nil {
		return
	}
	if value == "" {
		value = kindName(k)
	}
	d.err = &json.UnmarshalTypeError{Value: value, Type: t, Field: strings.Join(d.stack, ".")}
}

func kindName(k byte) string {
	switch k {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// field finds key among names: exactly, else case-insensitively, as
// encoding/json matches struct fields; -1 when none matches.
func field(key []byte, names []string) int {
	for i, n := range names {
		if string(key) == n {
			return i
		}
	}
	for i, n := range names {
		if strings.EqualFold(string(key), n) {
			return i
		}
	}
	return -1
}

// object calls set for each member of raw whose key names a field. A
// value that is not an object is a mismatch with t, null leaves the
// struct alone.
func (d *wireDecoder) object(raw []byte, t reflect.Type, names []string, set func(i int, v []byte)) {
	switch k := rawjson.Kind(raw); k {
	case '{':
		rawjson.Members(raw, func(key, v []byte) {
			if i := field(key, names); i >= 0 {
				d.stack = append(d.stack, names[i])
				set(i, v)
				d.stack = d.stack[:len(d.stack)-1]
			}
		})
	case 'n':
	default:
		d.fail(k, t, "")
	}
}

// slice decodes the array raw into *s as encoding/json does: into the
// elements already there, growing or shortening the slice; null sets it
// to nil, an empty array to an empty slice.
func slice[T any](d *wireDecoder, raw []byte, s *[]T, t reflect.Type, elem func(v []byte, e *T)) {
	switch k := rawjson.Kind(raw); k {
	case '[':
		a := *s
		i := 0
		rawjson.Elements(raw, func(v []byte) {
			if i >= len(a) {
				if i >= cap(a) {
					var zero T
					a = append(a, zero)
				} else {
					a = a[:i+1]
				}
			}
			elem(v, &a[i])
			i++
		})
		if i == 0 {
			a = make([]T, 0)
		}
		*s = a[:i]
	case 'n':
		*s = nil
	default:
		d.fail(k, t, "")
	}
}

func (d *wireDecoder) str(raw []byte, s *string) {
	switch k := rawjson.Kind(raw); k {
	case '"':
		*s, _ = rawjson.String(raw)
	case 'n':
	default:
		d.fail(k, typeString, "")
	}
}

func (d *wireDecoder) boolean(raw []byte, b *bool) {
	switch k := rawjson.Kind(raw); k {
	case 't', 'f':
		*b = k == 't'
	case 'n':
	default:
		d.fail(k, typeBool, "")
	}
}

// decodePtr decodes raw into **p: null sets it to nil, anything else decodes
// into the value it points to (allocated when nil).
func decodePtr[T any](raw []byte, p **T, decode func(raw []byte, v *T)) {
	if rawjson.Kind(raw) == 'n' {
		*p = nil
		return
	}
	if *p == nil {
		*p = new(T)
	}
	decode(raw, *p)
}

func (d *wireDecoder) integer(raw []byte, n *int) {
	var n64 int64
	if d.number(raw, typeInt, func(s string) bool {
		var err error
		n64, err = strconv.ParseInt(s, 10, 64)
		return err == nil
	}) {
		*n = int(n64)
	}
}

func (d *wireDecoder) integer64(raw []byte, n *int64) {
	var n64 int64
	if d.number(raw, typeInt64, func(s string) bool {
		var err error
		n64, err = strconv.ParseInt(s, 10, 64)
		return err == nil
	}) {
		*n = n64
	}
}

func (d *wireDecoder) float(raw []byte, f *float64) {
	var v float64
	if d.number(raw, typeFloat64, func(s string) bool {
		var err error
		v, err = strconv.ParseFloat(s, 64)
		return err == nil
	}) {
		*f = v
	}
}

// number parses the number raw with parse; anything else but null is a
// mismatch with t. It reports whether a number was parsed.
func (d *wireDecoder) number(raw []byte, t reflect.Type, parse func(string) bool) bool {
	switch k := rawjson.Kind(raw); k {
	case '{', '[', '"', 't', 'f':
		d.fail(k, t, "")
	case 'n', 0:
	default:
		s := strings.TrimRight(string(raw), " \t\r\n")
		if parse(s) {
			return true
		}
		d.fail(k, t, "number "+s)
	}
	return false
}

// rawValue is json.RawMessage's UnmarshalJSON: the value's bytes, null
// included (they alias raw).
func rawValue(raw []byte, m *json.RawMessage) {
	*m = raw
}

var chatRequestFields = []string{"model", "messages", "tools", "tool_choice", "parallel_tool_calls", "max_tokens",
	"max_completion_tokens", "temperature", "top_p", "top_k", "stop", "seed", "frequency_penalty", "presence_penalty",
	"response_format", "reasoning_effort", "stream", "stream_options", "user", "safety_identifier", "n"}

func (d *wireDecoder) chatRequest(raw []byte, w *oa.ChatRequest) {
	d.object(raw, typeChatRequest, chatRequestFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.str(v, &w.Model)
		case 1:
			slice(d, v, &w.Messages, typeMessages, d.message)
		case 2:
			slice(d, v, &w.Tools, typeTools, d.tool)
		case 3:
			rawValue(v, &w.ToolChoice)
		case 4:
			decodePtr(v, &w.ParallelToolCalls, d.boolean)
		case 5:
			decodePtr(v, &w.MaxTokens, d.integer)
		case 6:
			decodePtr(v, &w.MaxCompletionTokens, d.integer)
		case 7:
			decodePtr(v, &w.Temperature, d.float)
		case 8:
			decodePtr(v, &w.TopP, d.float)
		case 9:
			decodePtr(v, &w.TopK, d.integer)
		case 10:
			rawValue(v, &w.Stop)
		case 11:
			decodePtr(v, &w.Seed, d.integer64)
		case 12:
			decodePtr(v, &w.FrequencyPenalty, d.float)
		case 13:
			decodePtr(v, &w.PresencePenalty, d.float)
		case 14:
			decodePtr(v, &w.ResponseFormat, d.responseFormat)
		case 15:
			d.str(v, &w.ReasoningEffort)
		case 16:
			d.boolean(v, &w.Stream)
		case 17:
			decodePtr(v, &w.StreamOptions, d.streamOptions)
		case 18:
			d.str(v, &w.User)
		case 19:
			d.str(v, &w.SafetyIdentifier)
		case 20:
			decodePtr(v, &w.N, d.integer)
		}
	})
}

var messageWireFields = []string{"role", "content", "name", "tool_calls", "tool_call_id", "refusal", "reasoning_content", "reasoning"}

func (d *wireDecoder) message(raw []byte, m *oa.ChatMessage) {
	d.object(raw, typeMessage, messageWireFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.str(v, &m.Role)
		case 1:
			rawValue(v, &m.Content)
		case 2:
			d.str(v, &m.Name)
		case 3:
			slice(d, v, &m.ToolCalls, typeToolCalls, d.toolCall)
		case 4:
			d.str(v, &m.ToolCallID)
		case 5:
			decodePtr(v, &m.Refusal, d.str)
		case 6:
			d.str(v, &m.ReasoningContent)
		case 7:
			d.str(v, &m.Reasoning)
		}
	})
}

var (
	toolCallWireFields     = []string{"id", "type", "function"}
	functionCallWireFields = []string{"name", "arguments"}
)

func (d *wireDecoder) toolCall(raw []byte, c *oa.ChatToolCall) {
	d.object(raw, typeToolCall, toolCallWireFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.str(v, &c.ID)
		case 1:
			d.str(v, &c.Type)
		case 2:
			d.object(v, typeFunctionCall, functionCallWireFields, func(i int, v []byte) {
				if i == 0 {
					d.str(v, &c.Function.Name)
				} else {
					d.str(v, &c.Function.Arguments)
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
	d.object(raw, typeTool, toolWireFields, func(i int, v []byte) {
		if i == 0 {
			d.str(v, &t.Type)
			return
		}
		f := &t.Function
		d.object(v, typeFunction, functionWireFields, func(i int, v []byte) {
			switch i {
			case 0:
				d.str(v, &f.Name)
			case 1:
				d.str(v, &f.Description)
			case 2:
				rawValue(v, &f.Parameters)
			case 3:
				decodePtr(v, &f.Strict, d.boolean)
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
	d.object(raw, typeResponseFormat, responseFormatWireFields, func(i int, v []byte) {
		if i == 0 {
			d.str(v, &rf.Type)
			return
		}
		decodePtr(v, &rf.JSONSchema, func(raw []byte, js *oa.ChatJSONSchema) {
			d.object(raw, typeJSONSchema, jsonSchemaWireFields, func(i int, v []byte) {
				switch i {
				case 0:
					d.str(v, &js.Name)
				case 1:
					d.str(v, &js.Description)
				case 2:
					rawValue(v, &js.Schema)
				case 3:
					decodePtr(v, &js.Strict, d.boolean)
				}
			})
		})
	})
}

func (d *wireDecoder) streamOptions(raw []byte, so *oa.ChatStreamOptions) {
	d.object(raw, typeStreamOptions, streamOptionsWireFields, func(i int, v []byte) {
		if i == 0 {
			d.boolean(v, &so.IncludeUsage)
		} else {
			decodePtr(v, &so.IncludeObfuscation, d.boolean)
		}
	})
}

var (
	contentPartWireFields = []string{"type", "text", "image_url", "input_audio", "file", "refusal"}
	imageURLWireFields    = []string{"url", "detail"}
)

func (d *wireDecoder) contentPart(raw []byte, p *oa.ChatContentPart) {
	d.object(raw, typeContentPart, contentPartWireFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.str(v, &p.Type)
		case 1:
			d.str(v, &p.Text)
		case 2:
			decodePtr(v, &p.ImageURL, func(raw []byte, u *oa.ChatImageURL) {
				d.object(raw, typeImageURL, imageURLWireFields, func(i int, v []byte) {
					if i == 0 {
						d.str(v, &u.URL)
					} else {
						d.str(v, &u.Detail)
					}
				})
			})
		case 3:
			rawValue(v, &p.InputAudio)
		case 4:
			rawValue(v, &p.File)
		case 5:
			d.str(v, &p.Refusal)
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
	d.object(data, typeChatRequest, streamChunkFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.str(v, &c.ID)
		case 1:
			d.str(v, &c.Object)
		case 2:
			d.integer64(v, &c.Created)
		case 3:
			d.str(v, &c.Model)
		case 4:
			slice(&d, v, &c.Choices, typeMessages, d.chunkChoice)
		case 5:
			decodePtr(v, &c.Usage, d.usage)
		case 6:
			rawValue(v, &c.Error)
		}
	})
	return d.err == nil
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
	d.object(raw, typeMessage, chunkChoiceFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.integer(v, &ch.Index)
		case 1:
			dl := &ch.Delta
			d.object(v, typeMessage, deltaFields, func(i int, v []byte) {
				switch i {
				case 0:
					d.str(v, &dl.Role)
				case 1:
					decodePtr(v, &dl.Content, d.str)
				case 2:
					decodePtr(v, &dl.ReasoningContent, d.str)
				case 3:
					decodePtr(v, &dl.Reasoning, d.str)
				case 4:
					decodePtr(v, &dl.Refusal, d.str)
				case 5:
					slice(d, v, &dl.ToolCalls, typeMessages, d.toolCallDelta)
				}
			})
		case 2:
			rawValue(v, &ch.Logprobs)
		case 3:
			decodePtr(v, &ch.FinishReason, d.str)
		}
	})
}

func (d *wireDecoder) toolCallDelta(raw []byte, tc *oa.ChatToolCallDelta) {
	d.object(raw, typeMessage, toolCallDeltaFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.integer(v, &tc.Index)
		case 1:
			d.str(v, &tc.ID)
		case 2:
			d.str(v, &tc.Type)
		case 3:
			d.object(v, typeMessage, functionDeltaFields, func(i int, v []byte) {
				if i == 0 {
					d.str(v, &tc.Function.Name)
				} else {
					d.str(v, &tc.Function.Arguments)
				}
			})
		}
	})
}

func (d *wireDecoder) usage(raw []byte, u *oa.ChatUsage) {
	d.object(raw, typeMessage, usageFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.integer64(v, &u.PromptTokens)
		case 1:
			d.integer64(v, &u.CompletionTokens)
		case 2:
			d.integer64(v, &u.TotalTokens)
		case 3:
			decodePtr(v, &u.PromptTokensDetails, func(raw []byte, p *oa.PromptTokensDetails) {
				d.object(raw, typeMessage, promptDetailsFields, func(i int, v []byte) {
					if i == 0 {
						d.integer64(v, &p.CachedTokens)
					} else {
						d.integer64(v, &p.CacheWriteTokens)
					}
				})
			})
		case 4:
			decodePtr(v, &u.CompletionTokensDetails, func(raw []byte, p *oa.CompletionTokensDetails) {
				d.object(raw, typeMessage, outputDetailsFields, func(_ int, v []byte) {
					d.integer64(v, &p.ReasoningTokens)
				})
			})
		case 5:
			decodePtr(v, &u.PromptCacheHitTokens, d.integer64)
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
	d.object(body, typeMessage, completionFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.str(v, &w.ID)
		case 1:
			d.str(v, &w.Object)
		case 2:
			d.integer64(v, &w.Created)
		case 3:
			d.str(v, &w.Model)
		case 4:
			slice(&d, v, &w.Choices, typeMessages, d.choice)
		case 5:
			decodePtr(v, &w.Usage, d.usage)
		}
	})
	return d.err == nil
}

func (d *wireDecoder) choice(raw []byte, ch *oa.ChatChoice) {
	d.object(raw, typeMessage, choiceFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.integer(v, &ch.Index)
		case 1:
			m := &ch.Message
			d.object(v, typeMessage, messageOutFields, func(i int, v []byte) {
				switch i {
				case 0:
					d.str(v, &m.Role)
				case 1:
					decodePtr(v, &m.Content, d.str)
				case 2:
					decodePtr(v, &m.Refusal, d.str)
				case 3:
					slice(d, v, &m.ToolCalls, typeToolCalls, d.toolCall)
				case 4:
					d.str(v, &m.ReasoningContent)
				case 5:
					d.str(v, &m.Reasoning)
				}
			})
		case 2:
			rawValue(v, &ch.Logprobs)
		case 3:
			decodePtr(v, &ch.FinishReason, d.str)
		}
	})
}
