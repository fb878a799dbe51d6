package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	api "github.com/sluicehq/sluice/internal/apischema/gemini"
	"github.com/sluicehq/sluice/internal/llm"
)

// badUpstream is the error for an upstream answer that cannot be parsed.
func badUpstream(format string, args ...any) *llm.Error {
	return &llm.Error{Status: http.StatusBadGateway, Type: "server", Message: fmt.Sprintf(format, args...)}
}

// maxErrorText bounds the part of an unparseable error body quoted in a
// message.
const maxErrorText = 512

// DecodeError implements llm.UpstreamCodec. It reads Google's envelope
// {"error":{"code","message","status","details"}}, also when wrapped in an
// array as the non-SSE stream endpoint sends it; a field named by a
// google.rpc.BadRequest detail becomes Param.
func (UpstreamCodec) DecodeError(status int, body []byte) *llm.Error {
	t := bytes.TrimSpace(body)
	if len(t) > 0 && t[0] == '[' {
		var arr []json.RawMessage
		if json.Unmarshal(t, &arr) == nil && len(arr) > 0 {
			t = arr[0]
		}
	}
	var eb struct {
		Error *api.ErrorObject `json:"error"`
	}
	if json.Unmarshal(t, &eb) == nil && eb.Error != nil && eb.Error.Message != "" {
		return errorFromObject(status, eb.Error)
	}
	msg := strings.TrimSpace(string(t))
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText]
		for !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
		msg += "..."
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	if msg == "" {
		msg = fmt.Sprintf("upstream status %d", status)
	}
	return &llm.Error{Status: status, Type: llm.ErrorTypeForStatus(status), Message: msg}
}

// errorFromObject converts Google's error object; status is the HTTP
// status, or 0 to take the object's code.
func errorFromObject(status int, e *api.ErrorObject) *llm.Error {
	if status == 0 || status == http.StatusOK {
		status = e.Code
	}
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	out := &llm.Error{Status: status, Type: llm.ErrorTypeForStatus(status), Message: e.Message}
	if e.Status == api.StatusResourceExhausted {
		out.Type = "rate_limit"
	}
	for _, d := range e.Details {
		switch {
		case d.Type == api.TypeBadRequest && len(d.FieldViolations) > 0 && out.Param == "":
			out.Param = d.FieldViolations[0].Field
		case d.Type == api.TypeErrorInfo && (d.Reason == "API_KEY_INVALID" || d.Reason == "API_KEY_SERVICE_BLOCKED"):
			// Google answers a bad key with 400 INVALID_ARGUMENT.
			out.Type = "authentication"
		}
	}
	return out
}

// EncodeError implements llm.ClientCodec: Google's envelope, with the
// offending field (Param) in a google.rpc.BadRequest detail.
func (ClientCodec) EncodeError(e *llm.Error) []byte {
	b, _ := marshal(api.ErrorBody{Error: errorObject(e)})
	return b
}

func errorObject(e *llm.Error) api.ErrorObject {
	if e == nil {
		e = &llm.Error{Status: http.StatusInternalServerError, Message: "internal error"}
	}
	code := e.Status
	if code < 400 || code > 599 {
		code = http.StatusInternalServerError
	}
	obj := api.ErrorObject{Code: code, Message: e.Message, Status: api.StatusForHTTP(code)}
	if e.Param != "" {
		obj.Message = e.Error()
		obj.Details = []api.ErrorDetail{{
			Type:            api.TypeBadRequest,
			FieldViolations: []api.FieldViolation{{Field: e.Param, Description: e.Message}},
		}}
	}
	return obj
}
