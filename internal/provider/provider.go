// Package provider defines how Sluice talks to upstream LLM providers.
//
// An Adapter is built once per configured provider, is long-lived and safe
// for concurrent use, and sends requests that are already in the provider's
// own wire protocol. Translation between a client's protocol and a
// provider's lives beside the adapter (files named <client>_<upstream>.go),
// so that a request whose protocols match is forwarded byte for byte.
package provider

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Protocol names a wire protocol spoken by clients and upstreams.
type Protocol string

// Protocols known to this build: the upstream protocols (each has an
// llm.UpstreamCodec) and the client protocols (each has an llm.ClientCodec).
const (
	ProtocolOpenAI    Protocol = "openai"    // OpenAI Chat Completions
	ProtocolResponses Protocol = "responses" // OpenAI Responses (clients only)
	ProtocolAnthropic Protocol = "anthropic" // Anthropic Messages
	ProtocolGemini    Protocol = "gemini"    // Google Gemini generateContent
	ProtocolBedrock   Protocol = "bedrock"   // AWS Bedrock Converse (upstreams only)
)

// Operation is what a request asks of the upstream; the adapter maps it to
// the provider's URL for the model.
type Operation string

// Operations.
const (
	OpChat        Operation = "chat"         // the provider's native chat/generate endpoint
	OpEmbeddings  Operation = "embeddings"   // OpenAI-protocol embeddings
	OpResponses   Operation = "responses"    // OpenAI Responses, for pass-through
	OpCountTokens Operation = "count_tokens" // Anthropic count_tokens, Gemini countTokens
)

// ErrUnsupported is returned by Do for an operation the provider lacks.
var ErrUnsupported = errors.New("operation not supported by this provider")

// Request is one upstream attempt, already in the adapter's protocol.
type Request struct {
	// Op selects the endpoint.
	Op Operation
	// Body is the request body. The adapter must not modify it.
	Body []byte
	// Header holds client headers that may be forwarded; credentials and
	// hop-by-hop headers have already been removed. May be nil.
	Header http.Header
	// Model is the upstream model name (already written into Body for
	// protocols that carry it there; put into the URL for those that do not).
	Model string
	// Stream reports whether a streamed response was asked for.
	Stream bool
	// APIKey, when set, is the credential to use instead of the adapter's
	// configured one (a key chosen from the provider's key pool). Every
	// adapter sends it in its provider's own credential header, in place of
	// the configured key, never beside it.
	APIKey string
}

// KeyOr returns the key for this attempt: the pool's key when set, else
// configured (the provider's own key, possibly "").
func (r *Request) KeyOr(configured string) string {
	if r.APIKey != "" {
		return r.APIKey
	}
	return configured
}

// credentialHeaders carry a credential to some upstream (or to Sluice
// itself, whose clients may send their Sluice key in any of them).
var credentialHeaders = map[string]bool{
	"Authorization": true, "Proxy-Authorization": true, "Cookie": true,
	"Api-Key": true, "X-Api-Key": true, "X-Goog-Api-Key": true, "X-Amz-Security-Token": true,
}

// CopyHeader copies the client headers src (a Request.Header) into dst
// under their canonical names, with their values copied, leaving out every
// credential header: whatever the caller failed to strip, an upstream sees
// only the adapter's own credential, and only once. The copies share one
// allocation; each is capped, so that an append to one reallocates rather
// than reach its neighbour.
func CopyHeader(dst, src http.Header) {
	n := 0
	for _, vs := range src {
		n += len(vs)
	}
	vals := make([]string, 0, n)
	for k, vs := range src {
		k = http.CanonicalHeaderKey(k)
		if credentialHeaders[k] {
			continue
		}
		if dst[k] != nil || len(vs) == 0 {
			dst[k] = append(dst[k], vs...)
			continue
		}
		start := len(vals)
		vals = append(vals, vs...)
		dst[k] = vals[start:len(vals):len(vals)]
	}
}

type connectKey struct{}

// WithConnectTimeout returns a context that carries the connect deadline
// for the upstream dial (the shared transport's dialer reads it).
func WithConnectTimeout(ctx context.Context, d time.Duration) context.Context {
	return &connectCtx{Context: ctx, d: d}
}

// connectCtx is context.WithValue(ctx, connectKey{}, d) in one allocation
// rather than two (the value's and the context's): everything but the
// connect deadline is its parent's, Done and cancellation included.
type connectCtx struct {
	context.Context
	d time.Duration
}

func (c *connectCtx) Value(key any) any {
	if _, ok := key.(connectKey); ok {
		return c.d
	}
	return c.Context.Value(key)
}

// ConnectTimeout returns the connect deadline carried by ctx, or def.
func ConnectTimeout(ctx context.Context, def time.Duration) time.Duration {
	if d, ok := ctx.Value(connectKey{}).(time.Duration); ok && d > 0 {
		return d
	}
	return def
}

// Adapter sends requests to one upstream provider account.
type Adapter interface {
	// Name is the provider's configured name.
	Name() string
	// Protocol is the wire protocol the upstream speaks.
	Protocol() Protocol
	// Do sends req and returns the upstream's response, whatever its status.
	// The caller must close the response body. Cancelling ctx aborts the
	// upstream request at once.
	Do(ctx context.Context, req *Request) (*http.Response, error)
	// Timeout bounds one whole attempt, streaming included.
	Timeout() time.Duration
}
