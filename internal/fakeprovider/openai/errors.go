package openaifake

import (
	"encoding/json"
	"net/http"

	"github.com/sluicehq/sluice/internal/fakeprovider/fakeserver"
)

// ErrorBody is OpenAI's error envelope: {"error":{"message","type","param","code"}}.
// Param and Code are null when empty, as OpenAI sends them.
type ErrorBody struct {
	Error ErrorObject `json:"error"`
}

// ErrorObject is the inside of an ErrorBody.
type ErrorObject struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

type apiError struct {
	status          int
	msg, typ, param string
	code            string
}

// statusError is the error OpenAI sends for a status, used for x-fake-status.
func statusError(status int) *apiError {
	e := &apiError{status: status, msg: "fake: scripted error " + http.StatusText(status)}
	switch {
	case status == http.StatusUnauthorized:
		e.typ, e.code = "invalid_request_error", "invalid_api_key"
	case status == http.StatusForbidden:
		e.typ, e.code = "permission_denied", "unsupported_country_region_territory"
	case status == http.StatusNotFound:
		e.typ, e.code = "invalid_request_error", "model_not_found"
	case status == http.StatusTooManyRequests:
		e.typ, e.code = "requests", "rate_limit_exceeded"
		e.msg = "fake: Rate limit reached for requests. Please try again later."
	case status >= 500:
		e.typ = "server_error"
		e.msg = "fake: The server had an error while processing your request. Sorry about that!"
	default:
		e.typ = "invalid_request_error"
	}
	return e
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	writeError(w, e.status, e.msg, e.typ, e.param, e.code)
}

// writeError writes an OpenAI-shaped error; empty param and code become null.
func writeError(w http.ResponseWriter, status int, msg, typ, param, code string) {
	obj := ErrorObject{Message: msg, Type: typ}
	if param != "" {
		obj.Param = &param
	}
	if code != "" {
		obj.Code = &code
	}
	writeJSON(w, status, ErrorBody{Error: obj})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if _, err := w.Write(append(b, '\n')); err == nil {
		fakeserver.MarkComplete(w)
	}
}
