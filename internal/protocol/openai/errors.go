package openai

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/llm"
)

// errorType maps a generic error kind to OpenAI's error type.
func errorType(kind string) string {
	switch kind {
	case "authentication":
		return oa.TypeAuthentication
	case "permission":
		return oa.TypePermission
	case "not_found":
		return oa.TypeNotFound
	case "rate_limit":
		return oa.TypeRateLimit
	case "server", "overloaded", "":
		return oa.TypeServer
	default: // invalid_request, request_too_large
		return oa.TypeInvalidRequest
	}
}

// errorCode is the code OpenAI-style clients can branch on, where a kind
// has one.
func errorCode(kind string) string {
	switch kind {
	case "overloaded":
		return "overloaded"
	case "request_too_large":
		return "request_too_large"
	}
	return ""
}

// EncodeError implements llm.ClientCodec: {"error":{"message","type","param","code"}}.
func (ClientCodec) EncodeError(e *llm.Error) []byte {
	return oa.MarshalError(errorType(e.Type), errorCode(e.Type), e.Param, e.Message, "")
}

// maxErrorText bounds the text of a non-JSON upstream error kept in the message.
const maxErrorText = 512

// DecodeError implements llm.UpstreamCodec. It reads OpenAI's error shape
// and the shapes of common compatible servers ({"error":"text"},
// {"message":...}, {"detail":...}); any other body becomes its text. Status
// 0 stands for an error line inside a stream that began with 200.
func (UpstreamCodec) DecodeError(status int, body []byte) *llm.Error {
	e := &llm.Error{Status: status, Type: llm.ErrorTypeForStatus(status)}
	switch {
	case status == 0: // an error line inside a stream: its type says what it is
		e.Status, e.Type = 500, "server"
	case status < 400:
		e.Status, e.Type = 502, "server"
	}
	var w struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &w) == nil {
		var obj struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Param   *string         `json:"param"`
			Code    json.RawMessage `json:"code"`
		}
		var s string
		switch {
		case json.Unmarshal(w.Error, &obj) == nil && obj.Message != "":
			e.Message = obj.Message
			if obj.Param != nil {
				e.Param = *obj.Param
			}
			if status == 0 {
				e.Status, e.Type = statusForType(obj.Type)
			}
		case json.Unmarshal(w.Error, &s) == nil && s != "":
			e.Message = s
		case w.Message != "":
			e.Message = w.Message
		case json.Unmarshal(w.Detail, &s) == nil && s != "":
			e.Message = s
		case len(w.Detail) > 0:
			e.Message = string(w.Detail)
		}
	}
	if e.Message == "" {
		e.Message = errorText(status, body)
	}
	return e
}

// statusForType maps an OpenAI error type to a status and generic kind.
func statusForType(t string) (int, string) {
	switch t {
	case oa.TypeInvalidRequest:
		return 400, "invalid_request"
	case oa.TypeAuthentication:
		return 401, "authentication"
	case oa.TypePermission, "permission_denied":
		return 403, "permission"
	case oa.TypeNotFound:
		return 404, "not_found"
	case oa.TypeRateLimit, "requests", "tokens", "insufficient_quota":
		return 429, "rate_limit"
	case "overloaded_error", "overloaded":
		return 503, "overloaded"
	default:
		return 500, "server"
	}
}

// errorInBody reads an OpenAI error object from a 2xx body, as some
// compatible servers send one.
func errorInBody(body []byte) *llm.Error {
	var w struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &w) != nil || isNull(w.Error) {
		return nil
	}
	return UpstreamCodec{}.DecodeError(502, body)
}

// errorText is the message of an error body that is not JSON.
func errorText(status int, body []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(body), "\uFFFD"))
	if len(s) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	if s == "" {
		s = "upstream error"
		if t := http.StatusText(status); t != "" {
			s += ": " + t
		}
	}
	return s
}
