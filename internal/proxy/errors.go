package proxy

import (
	"errors"
	"fmt"
	"net/http"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/ledger"
)

// Error is a request failure with a client-safe message. Cause is logged
// and never shown to the client.
type Error struct {
	Status int
	Type   string // the error type in the client's dialect
	Code   string
	Param  string
	Msg    string
	Cause  error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Msg, e.Cause)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Msg)
}

func (e *Error) Unwrap() error { return e.Cause }

func errBadRequest(code, param, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: oa.TypeInvalidRequest, Code: code, Param: param, Msg: fmt.Sprintf(format, args...)}
}

var (
	errNoKey = &Error{Status: http.StatusUnauthorized, Type: oa.TypeInvalidRequest, Code: "invalid_api_key",
		Msg: "Missing or invalid API key. Pass a Sluice key as 'Authorization: Bearer <key>'."}
	errTooLarge = &Error{Status: http.StatusRequestEntityTooLarge, Type: oa.TypeInvalidRequest, Code: "request_too_large",
		Msg: "The request body is larger than this gateway accepts."}
)

// asError turns any error into an *Error, hiding unknown causes.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Type: oa.TypeServer, Msg: "Internal error.", Cause: err}
}

// statusOf classifies an HTTP status for the ledger.
func statusOf(code int) ledger.Status {
	switch {
	case code < 400:
		return ledger.StatusOK
	case code == 499:
		return ledger.StatusCancelled
	case code == http.StatusTooManyRequests || code >= 500:
		return ledger.StatusUpstreamError
	default:
		return ledger.StatusClientError
	}
}

// writeError renders e in the OpenAI dialect.
func writeError(w http.ResponseWriter, e *Error, requestID string) {
	body := oa.MarshalError(e.Type, e.Code, e.Param, e.Msg, requestID)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}
