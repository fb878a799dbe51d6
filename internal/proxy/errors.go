package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/provider"
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
	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration
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

// dialectError is an upstream error, decoded into canonical form, to be
// rendered in the client's dialect with the upstream's status.
type dialectError struct {
	status int
	err    *llm.Error
}

func (e *dialectError) Error() string { return e.err.Error() }

// toCanonical converts any error into the status, canonical error and
// OpenAI code to render.
func toCanonical(err error) (int, *llm.Error, string, error) {
	var de *dialectError
	if errors.As(err, &de) {
		return de.status, de.err, "", nil
	}
	var le *llm.Error
	if errors.As(err, &le) {
		status := le.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		return status, le, "", nil
	}
	e := asError(err)
	return e.Status, &llm.Error{Status: e.Status, Type: llm.ErrorTypeForStatus(e.Status), Param: e.Param, Message: e.Msg}, e.Code, e.Cause
}

// openAITypes maps canonical error kinds to OpenAI error types.
var openAITypes = map[string]string{
	"invalid_request": oa.TypeInvalidRequest, "authentication": oa.TypeAuthentication, "permission": oa.TypePermission,
	"not_found": oa.TypeNotFound, "rate_limit": oa.TypeRateLimit, "request_too_large": oa.TypeInvalidRequest,
	"overloaded": oa.TypeServer, "server": oa.TypeServer,
}

// writeError renders err in the dialect of the client's protocol and
// returns the status and message for the ledger.
func (h *Handler) writeError(w http.ResponseWriter, c *Call, err error) (int, string) {
	status, le, code, _ := toCanonical(err)
	var body []byte
	if cc := h.opts.Codecs.Clients[c.in.proto]; cc != nil && c.in.proto != provider.ProtocolOpenAI {
		body = cc.EncodeError(le)
	} else {
		var pe *Error
		if errors.As(err, &pe) {
			body = oa.MarshalError(pe.Type, pe.Code, pe.Param, pe.Msg, c.id)
		} else {
			typ := openAITypes[le.Type]
			if typ == "" {
				typ = oa.TypeInvalidRequest
			}
			body = oa.MarshalError(typ, code, le.Param, le.Message, c.id)
		}
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Del("Content-Length")
	if pe := (*Error)(nil); errors.As(err, &pe) && pe.RetryAfter > 0 {
		hdr.Set("Retry-After", strconv.FormatInt(int64((pe.RetryAfter+time.Second-1)/time.Second), 10))
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return status, le.Message
}
