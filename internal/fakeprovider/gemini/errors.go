package geminifake

import (
	"encoding/json"
	"net/http"

	api "github.com/sluicehq/sluice/internal/apischema/gemini"
	"github.com/sluicehq/sluice/internal/fakeprovider/fakeserver"
)

type apiError struct {
	status int
	msg    string
	// reason, when set, goes in a google.rpc.ErrorInfo detail.
	reason string
	// field, when set, goes in a google.rpc.BadRequest detail.
	field string
}

// statusError is the error Google sends for a status, used for
// x-fake-status.
func statusError(status int) *apiError {
	e := &apiError{status: status, msg: "fake: scripted error " + http.StatusText(status)}
	switch status {
	case http.StatusUnauthorized:
		e.msg = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."
	case http.StatusForbidden:
		e.msg = "fake: The caller does not have permission"
	case http.StatusNotFound:
		e.msg = "fake: models/unknown is not found for API version v1beta, or is not supported for generateContent."
	case http.StatusTooManyRequests:
		e.msg = "fake: You exceeded your current quota, please check your plan and billing details."
	case http.StatusInternalServerError:
		e.msg = "fake: An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
	case http.StatusServiceUnavailable:
		e.msg = "fake: The model is overloaded. Please try again later."
	}
	return e
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	obj := api.ErrorObject{Code: e.status, Message: e.msg, Status: api.StatusForHTTP(e.status)}
	if e.reason != "" {
		obj.Details = append(obj.Details, api.ErrorDetail{Type: api.TypeErrorInfo, Reason: e.reason, Domain: "googleapis.com",
			Metadata: json.RawMessage(`{"service":"generativelanguage.googleapis.com"}`)})
	}
	if e.field != "" {
		obj.Details = append(obj.Details, api.ErrorDetail{Type: api.TypeBadRequest,
			FieldViolations: []api.FieldViolation{{Field: e.field, Description: e.msg}}})
	}
	writeJSON(w, e.status, api.ErrorBody{Error: obj})
}

// writeError writes Google's error envelope.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeAPIError(w, &apiError{status: status, msg: msg})
}

// badRequest is a 400 INVALID_ARGUMENT.
func badRequest(msg string) *apiError { return &apiError{status: http.StatusBadRequest, msg: msg} }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	if _, err := w.Write(append(b, '\n')); err == nil {
		fakeserver.MarkComplete(w)
	}
}
