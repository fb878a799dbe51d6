// Package openai holds the OpenAI API wire shapes that Sluice itself writes:
// error bodies, model lists and stream error events. Types only, no logic
// beyond encoding.
package openai

import "encoding/json"

// ErrorBody is the OpenAI error envelope.
type ErrorBody struct {
	Error ErrorObject `json:"error"`
}

// ErrorObject is the inner error. Param and Code are null when empty.
type ErrorObject struct {
	Message   string  `json:"message"`
	Type      string  `json:"type"`
	Param     *string `json:"param"`
	Code      *string `json:"code"`
	RequestID string  `json:"request_id,omitempty"`
}

// Error types used by OpenAI.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeAuthentication = "authentication_error"
	TypePermission     = "permission_error"
	TypeNotFound       = "not_found_error"
	TypeRateLimit      = "rate_limit_error"
	TypeServer         = "server_error"
	TypeUpstream       = "upstream_error"
)

// MarshalError encodes an error body.
func MarshalError(typ, code, param, msg, requestID string) []byte {
	e := ErrorObject{Message: msg, Type: typ, RequestID: requestID}
	if code != "" {
		e.Code = &code
	}
	if param != "" {
		e.Param = &param
	}
	b, _ := json.Marshal(ErrorBody{Error: e})
	return b
}

// Model is an entry of GET /v1/models.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// ModelList is the body of GET /v1/models.
type ModelList struct {
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}
