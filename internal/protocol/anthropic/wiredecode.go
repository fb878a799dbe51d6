package anthropic

import (
	"reflect"

	wire "github.com/sluicehq/sluice/internal/apischema/anthropic"
	"github.com/sluicehq/sluice/internal/jsonlimit"
	"github.com/sluicehq/sluice/internal/protocol/rawjson"
)

var (
	messageDecodedFields = []string{"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}
	blockFields          = []string{"type", "text", "citations", "source", "id", "name", "input", "tool_use_id", "content", "is_error", "thinking", "signature", "data"}
	imageSourceFields    = []string{"type", "media_type", "data", "url", "file_id"}
	usageDeltaFields     = []string{"input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens", "output_tokens_details"}
	thinkingTokensFields = []string{"thinking_tokens"}

	typeMessageDecoded = reflect.TypeFor[wire.MessageDecoded]()
)

// decodeMessage reads an upstream message as json.Unmarshal does, when it
// can: a body that is not valid JSON nested at most 256 levels, or holds a
// value of the wrong type, is left to json.Unmarshal (ok false), so that
// errors stay encoding/json's own (FuzzMessageDecode holds it to that).
// The types named in its errors are approximate: a mismatch only needs to
// be noticed.
func decodeMessage(body []byte, m *wire.MessageDecoded) (ok bool) {
	if jsonlimit.Check(body, 256) != nil {
		return false
	}
	d := &rawjson.Decoder{}
	decodeMessageInto(d, body, m)
	return d.Err == nil
}

func decodeMessageInto(d *rawjson.Decoder, body []byte, m *wire.MessageDecoded) {
	t := typeMessageDecoded
	d.Object(body, t, messageDecodedFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.String(v, &m.ID)
		case 1:
			d.String(v, &m.Type)
		case 2:
			d.String(v, &m.Role)
		case 3:
			d.String(v, &m.Model)
		case 4:
			rawjson.Slice(d, v, &m.Content, t, func(raw []byte, b *wire.Block) { decodeBlock(d, raw, b) })
		case 5:
			rawjson.Ptr(v, &m.StopReason, d.String)
		case 6:
			rawjson.Ptr(v, &m.StopSequence, d.String)
		case 7:
			rawjson.Ptr(v, &m.Usage, func(raw []byte, u *wire.UsageDelta) { decodeUsageDelta(d, raw, u) })
		}
	})
}

func decodeBlock(d *rawjson.Decoder, raw []byte, b *wire.Block) {
	t := typeMessageDecoded
	d.Object(raw, t, blockFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.String(v, &b.Type)
		case 1:
			d.String(v, &b.Text)
		case 2:
			d.Raw(v, &b.Citations)
		case 3:
			rawjson.Ptr(v, &b.Source, func(raw []byte, s *wire.ImageSource) {
				d.Object(raw, t, imageSourceFields, func(i int, v []byte) {
					d.String(v, [...]*string{&s.Type, &s.MediaType, &s.Data, &s.URL, &s.FileID}[i])
				})
			})
		case 4:
			d.String(v, &b.ID)
		case 5:
			d.String(v, &b.Name)
		case 6:
			d.Raw(v, &b.Input)
		case 7:
			d.String(v, &b.ToolUseID)
		case 8:
			d.Raw(v, &b.Content)
		case 9:
			rawjson.Ptr(v, &b.IsError, d.Bool)
		case 10:
			d.String(v, &b.Thinking)
		case 11:
			d.String(v, &b.Signature)
		case 12:
			d.String(v, &b.Data)
		}
	})
}

func decodeUsageDelta(d *rawjson.Decoder, raw []byte, u *wire.UsageDelta) {
	d.Object(raw, typeMessageDecoded, usageDeltaFields, func(i int, v []byte) {
		switch i {
		case 0:
			rawjson.Ptr(v, &u.InputTokens, d.Int64)
		case 1:
			rawjson.Ptr(v, &u.CacheCreationInputTokens, d.Int64)
		case 2:
			rawjson.Ptr(v, &u.CacheReadInputTokens, d.Int64)
		case 3:
			rawjson.Ptr(v, &u.OutputTokens, d.Int64)
		case 4:
			rawjson.Ptr(v, &u.OutputTokensDetails, func(raw []byte, o *struct {
				ThinkingTokens *int64 `json:"thinking_tokens"`
			}) {
				d.Object(raw, typeMessageDecoded, thinkingTokensFields, func(_ int, v []byte) {
					rawjson.Ptr(v, &o.ThinkingTokens, d.Int64)
				})
			})
		}
	})
}

var (
	streamEventFields = []string{"type", "message", "index", "content_block", "delta", "usage", "error"}
	streamDeltaFields = []string{"type", "text", "partial_json", "thinking", "signature", "stop_reason", "stop_sequence"}
	errorObjectFields = []string{"type", "message"}
)

// decodeStreamEvent reads a stream event as json.Unmarshal does, when it
// can (see decodeMessage; FuzzStreamEventDecode holds it to that).
func decodeStreamEvent(data []byte, ev *wire.StreamEvent) (ok bool) {
	if jsonlimit.Check(data, 256) != nil {
		return false
	}
	d := &rawjson.Decoder{}
	t := typeMessageDecoded
	d.Object(data, t, streamEventFields, func(i int, v []byte) {
		switch i {
		case 0:
			d.String(v, &ev.Type)
		case 1:
			rawjson.Ptr(v, &ev.Message, func(raw []byte, m *wire.MessageDecoded) { decodeMessageInto(d, raw, m) })
		case 2:
			d.Int(v, &ev.Index)
		case 3:
			rawjson.Ptr(v, &ev.ContentBlock, func(raw []byte, b *wire.Block) { decodeBlock(d, raw, b) })
		case 4:
			rawjson.Ptr(v, &ev.Delta, func(raw []byte, sd *wire.StreamDelta) {
				d.Object(raw, t, streamDeltaFields, func(i int, v []byte) {
					switch i {
					case 5:
						rawjson.Ptr(v, &sd.StopReason, d.String)
					case 6:
						rawjson.Ptr(v, &sd.StopSequence, d.String)
					default:
						d.String(v, [...]*string{&sd.Type, &sd.Text, &sd.PartialJSON, &sd.Thinking, &sd.Signature}[i])
					}
				})
			})
		case 5:
			rawjson.Ptr(v, &ev.Usage, func(raw []byte, u *wire.UsageDelta) { decodeUsageDelta(d, raw, u) })
		case 6:
			rawjson.Ptr(v, &ev.Error, func(raw []byte, e *wire.ErrorObject) {
				d.Object(raw, t, errorObjectFields, func(i int, v []byte) {
					d.String(v, [...]*string{&e.Type, &e.Message}[i])
				})
			})
		}
	})
	return d.Err == nil
}
