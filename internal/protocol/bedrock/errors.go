package bedrock

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	wire "github.com/sluicehq/sluice/internal/apischema/bedrock"
	"github.com/sluicehq/sluice/internal/llm"
)

// DecodeError implements llm.UpstreamCodec. Bedrock puts the error type in
// the x-amzn-ErrorType header, which DecodeError does not see: the kind
// comes from "__type" (or "code") when the body has it, else from the
// status (ValidationException 400, AccessDeniedException 403,
// ResourceNotFoundException 404, ModelTimeoutException 408,
// ThrottlingException 429, InternalServerException 500,
// ServiceUnavailableException 503).
func (codec) DecodeError(status int, body []byte) *llm.Error {
	var b struct {
		Type     string `json:"__type"`
		Code     string `json:"code"`
		Message  string `json:"message"`
		MessageU string `json:"Message"`
	}
	isJSON := json.Unmarshal(body, &b) == nil
	msg := b.Message
	if msg == "" {
		msg = b.MessageU
	}
	if msg == "" && !isJSON {
		msg = strings.TrimSpace(string(body))
		if len(msg) > 512 {
			msg = msg[:512]
			for !utf8.ValidString(msg) {
				msg = msg[:len(msg)-1]
			}
		}
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	if msg == "" {
		msg = "upstream error"
	}
	code := b.Type
	if code == "" {
		code = b.Code
	}
	return &llm.Error{Status: status, Type: errorKind(ErrorCode(code), status), Message: msg}
}

// ErrorCode reduces an AWS error type as the x-amzn-ErrorType header or the
// "__type" field give it ("aws.protocols#ThrottlingException",
// "ValidationException:http://internal.amazon.com/coral/...") to its name.
func ErrorCode(s string) string {
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '#'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

// errorKind maps an AWS error name (or, without one, the status) to the
// generic kind.
func errorKind(code string, status int) string {
	switch code {
	case wire.ErrThrottling, wire.ErrServiceQuotaExceeded:
		return "rate_limit"
	case wire.ErrServiceUnavailable, wire.ErrModelNotReady:
		return "overloaded"
	case wire.ErrInternalServer, wire.ErrModelError, wire.ErrModelStreamError, wire.ErrModelTimeout:
		return "server"
	case wire.ErrAccessDenied:
		return "permission"
	case wire.ErrResourceNotFound:
		return "not_found"
	case wire.ErrValidation, wire.ErrConflict:
		return "invalid_request"
	case wire.ErrInvalidSignature, wire.ErrUnrecognizedClient, wire.ErrMissingAuthToken,
		wire.ErrExpiredToken, wire.ErrIncompleteSignature:
		return "authentication"
	}
	switch status {
	case http.StatusRequestTimeout, http.StatusFailedDependency:
		return "server"
	}
	return llm.ErrorTypeForStatus(status)
}

// streamException turns an exception message of a ConverseStream into an
// error: its :exception-type gives the status the same exception has as an
// HTTP answer.
func streamException(typ string, payload []byte) *llm.Error {
	var b struct {
		Message         string `json:"message"`
		OriginalMessage string `json:"originalMessage"`
	}
	_ = json.Unmarshal(payload, &b)
	msg := b.Message
	if msg == "" {
		msg = b.OriginalMessage
	}
	if msg == "" {
		msg = typ
	}
	var status int
	var code string
	switch typ {
	case wire.ExceptionThrottling:
		status, code = http.StatusTooManyRequests, wire.ErrThrottling
	case wire.ExceptionValidation:
		status, code = http.StatusBadRequest, wire.ErrValidation
	case wire.ExceptionModelStreamError:
		status, code = http.StatusFailedDependency, wire.ErrModelStreamError
	case wire.ExceptionServiceUnavailable:
		status, code = http.StatusServiceUnavailable, wire.ErrServiceUnavailable
	default: // internalServerException and anything new
		status, code = http.StatusInternalServerError, wire.ErrInternalServer
	}
	return &llm.Error{Status: status, Type: errorKind(code, status), Message: msg}
}
