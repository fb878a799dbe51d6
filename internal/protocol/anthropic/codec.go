// Package anthropic translates Anthropic's Messages API to and from the
// canonical model of internal/llm, in both roles: Client, for clients that
// speak Anthropic to Sluice, and Upstream, for Anthropic as the provider.
//
// The codecs are only used when the client's protocol differs from the
// upstream's; Anthropic to Anthropic is forwarded byte for byte, with the
// Upstream stream reader and response decoder metering it.
//
// Conventions at this edge:
//   - Usage: Anthropic's input_tokens excludes cache_read_input_tokens and
//     cache_creation_input_tokens; the canonical InputTokens includes both.
//     output_tokens includes output_tokens_details.thinking_tokens, which
//     becomes ReasoningTokens.
//   - Fields that cannot be translated are rejected with a 400 naming them,
//     except a few hints that have no meaning elsewhere and are documented
//     as ignored where they are read (cache_control, diagnostics,
//     eager_input_streaming).
//   - Requests without max_tokens get DefaultMaxTokens, since Anthropic
//     requires it.
package anthropic

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"

	wire "github.com/sluicehq/sluice/internal/apischema/anthropic"
	"github.com/sluicehq/sluice/internal/llm"
)

// Name is the protocol's name.
const Name = "anthropic"

// Client is Anthropic Messages as clients speak it.
var Client llm.ClientCodec = clientCodec{}

// Upstream is Anthropic Messages as the provider speaks it.
var Upstream llm.UpstreamCodec = upstreamCodec{}

type clientCodec struct{}

type upstreamCodec struct{}

func (clientCodec) Name() string   { return Name }
func (upstreamCodec) Name() string { return Name }

// errorTypes maps canonical error kinds to Anthropic error types.
var errorTypes = map[string]string{
	"invalid_request":   wire.ErrInvalidRequest,
	"authentication":    wire.ErrAuthentication,
	"permission":        wire.ErrPermission,
	"not_found":         wire.ErrNotFound,
	"request_too_large": wire.ErrRequestTooLarge,
	"rate_limit":        wire.ErrRateLimit,
	"overloaded":        wire.ErrOverloaded,
	"server":            wire.ErrAPI,
	"billing":           wire.ErrBilling,
	"timeout":           wire.ErrTimeout,
}

// kinds maps Anthropic error types to canonical kinds (those of
// llm.ErrorTypeForStatus) and the status the API uses for them, needed for
// stream error events, which carry none.
var kinds = map[string]struct {
	kind   string
	status int
}{
	wire.ErrInvalidRequest:  {"invalid_request", http.StatusBadRequest},
	wire.ErrAuthentication:  {"authentication", http.StatusUnauthorized},
	wire.ErrBilling:         {"", http.StatusPaymentRequired}, // no canonical kind: by status
	wire.ErrPermission:      {"permission", http.StatusForbidden},
	wire.ErrNotFound:        {"not_found", http.StatusNotFound},
	wire.ErrRequestTooLarge: {"request_too_large", http.StatusRequestEntityTooLarge},
	wire.ErrRateLimit:       {"rate_limit", http.StatusTooManyRequests},
	wire.ErrTimeout:         {"server", http.StatusGatewayTimeout},
	wire.ErrAPI:             {"server", http.StatusInternalServerError},
	wire.ErrOverloaded:      {"overloaded", 529},
}

// anthropicErrorType returns the Anthropic type of a canonical error.
func anthropicErrorType(e *llm.Error) string {
	if t, ok := errorTypes[e.Type]; ok {
		return t
	}
	if e.Status == 0 {
		return wire.ErrAPI
	}
	return errorTypes[llm.ErrorTypeForStatus(e.Status)]
}

// errorBody renders e as Anthropic's error envelope. A Param is put in
// front of the message, as Anthropic words its own validation errors
// ("max_tokens: Field required").
func errorBody(e *llm.Error) []byte {
	if e == nil {
		e = &llm.Error{Status: http.StatusInternalServerError, Type: "server", Message: "Internal error."}
	}
	b, _ := json.Marshal(wire.ErrorBody{Type: "error", Error: wire.ErrorObject{Type: anthropicErrorType(e), Message: e.Error()}})
	return b
}

// EncodeError implements llm.ClientCodec.
func (clientCodec) EncodeError(e *llm.Error) []byte { return errorBody(e) }

// DecodeError implements llm.UpstreamCodec.
func (upstreamCodec) DecodeError(status int, body []byte) *llm.Error {
	e := &llm.Error{Status: status, Type: llm.ErrorTypeForStatus(status)}
	var env wire.ErrorBody
	if json.Unmarshal(body, &env) == nil && env.Error.Type != "" {
		if k, ok := kinds[env.Error.Type]; ok && k.kind != "" {
			e.Type = k.kind
		}
		e.Message = env.Error.Message
	}
	if e.Message == "" {
		e.Message = fallbackMessage(status, body)
	}
	return e
}

// streamError converts the error object of a stream "error" event.
func streamError(obj *wire.ErrorObject) *llm.Error {
	e := &llm.Error{Status: http.StatusInternalServerError, Type: "server", Message: "upstream stream error"}
	if obj == nil {
		return e
	}
	if k, ok := kinds[obj.Type]; ok {
		e.Status, e.Type = k.status, k.kind
		if k.kind == "" {
			e.Type = llm.ErrorTypeForStatus(k.status)
		}
	}
	if obj.Message != "" {
		e.Message = obj.Message
	}
	return e
}

// fallbackMessage describes an error body that is not Anthropic's
// envelope: its text when short and printable, else the status text.
func fallbackMessage(status int, body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && len(body) <= 512 && printable(body) {
		return string(body)
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "upstream error"
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\t' {
			return false
		}
	}
	return json.Valid(b) || !bytes.ContainsAny(b, "<>")
}

// fromWireUsage normalises Anthropic usage (input excludes cache tokens).
func fromWireUsage(input, cacheWrite, cacheRead, output, thinking int64) llm.Usage {
	return llm.Usage{
		InputTokens:      input + cacheWrite + cacheRead,
		OutputTokens:     output,
		CachedTokens:     cacheRead,
		CacheWriteTokens: cacheWrite,
		ReasoningTokens:  thinking,
	}
}

// toWireUsage converts canonical usage to Anthropic's split.
func toWireUsage(u llm.Usage) wire.Usage {
	w := wire.Usage{
		InputTokens:              max(u.InputTokens-u.CachedTokens-u.CacheWriteTokens, 0),
		CacheCreationInputTokens: u.CacheWriteTokens,
		CacheReadInputTokens:     u.CachedTokens,
		OutputTokens:             u.OutputTokens,
	}
	if u.ReasoningTokens > 0 {
		w.OutputTokensDetails = &wire.OutputTokensDetails{ThinkingTokens: u.ReasoningTokens}
	}
	return w
}

// stopToWire maps a canonical stop reason to Anthropic's.
func stopToWire(r llm.StopReason) string {
	switch r {
	case llm.StopContentFilter:
		return wire.StopRefusal
	case "":
		return wire.StopEndTurn
	}
	return string(r)
}

// stopFromWire maps an Anthropic stop reason to the canonical one.
// model_context_window_exceeded is a length stop: max_tokens.
func stopFromWire(s *string) llm.StopReason {
	if s == nil {
		return ""
	}
	if *s == wire.StopModelContextWindowExceeded {
		return llm.StopMaxTokens
	}
	return llm.StopReason(*s)
}

// newMessageID returns an Anthropic-style id for a response that has none.
func newMessageID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "msg_sluice_" + hex.EncodeToString(b[:])
}
