package anthropicfake

import (
	"encoding/json"
	"net/http"

	"github.com/sluicehq/sluice/internal/fakeprovider/fakeserver"
)

// Error types of Anthropic's error envelope.
const (
	errInvalidRequest  = "invalid_request_error"
	errAuthentication  = "authentication_error"
	errBilling         = "billing_error"
	errPermission      = "permission_error"
	errNotFound        = "not_found_error"
	errRequestTooLarge = "request_too_large"
	errRateLimit       = "rate_limit_error"
	errAPI             = "api_error"
	errTimeout         = "timeout_error"
	errOverloaded      = "overloaded_error"
)

// ErrorBody is Anthropic's error envelope:
// {"type":"error","error":{"type","message"},"request_id"}.
type ErrorBody struct {
	Type      string      `json:"type"`
	Error     ErrorObject `json:"error"`
	RequestID string      `json:"request_id,omitempty"`
}

// ErrorObject is the inside of an ErrorBody.
type ErrorObject struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// statusErrorType is the error type Anthropic sends with a status.
func statusErrorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return errAuthentication
	case status == http.StatusPaymentRequired:
		return errBilling
	case status == http.StatusForbidden:
		return errPermission
	case status == http.StatusNotFound:
		return errNotFound
	case status == http.StatusRequestEntityTooLarge:
		return errRequestTooLarge
	case status == http.StatusTooManyRequests:
		return errRateLimit
	case status == http.StatusGatewayTimeout:
		return errTimeout
	case status == 529:
		return errOverloaded
	case status >= 500:
		return errAPI
	}
	return errInvalidRequest
}

// scriptedMessage is the message of an x-fake-status error.
func scriptedMessage(status int) string {
	switch status {
	case 529:
		return "Overloaded"
	case http.StatusTooManyRequests:
		return "fake: Number of requests has exceeded your rate limit."
	}
	if t := http.StatusText(status); t != "" {
		return "fake: scripted error " + t
	}
	return "fake: scripted error"
}

// writeError writes an Anthropic error with the request id of the response.
func writeError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, ErrorBody{Type: "error", Error: ErrorObject{Type: typ, Message: msg}, RequestID: w.Header().Get("Request-Id")})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if _, err := w.Write(b); err == nil {
		fakeserver.MarkComplete(w)
	}
}
