package llm

import (
	"io"

	"github.com/sluicehq/sluice/internal/meter"
)

// ClientCodec is a protocol as clients speak it: it decodes their requests
// and encodes answers and errors in their dialect. Implementations are
// stateless and safe for concurrent use.
type ClientCodec interface {
	// Name is the protocol's name, such as "anthropic".
	Name() string
	// DecodeRequest parses a request body. model is the model named outside
	// the body (Gemini puts it in the URL path); "" when the body has it.
	// A body that is malformed or asks for something that cannot be
	// translated returns an *Error with Status 400 naming the field.
	DecodeRequest(body []byte, model string) (*Request, error)
	// EncodeResponse renders a complete answer. req is the decoded request.
	EncodeResponse(req *Request, resp *Response) ([]byte, error)
	// NewStreamWriter returns a writer that renders stream events as the
	// client expects them (SSE in every protocol here) onto w. It holds the
	// per-stream state and is used by one goroutine.
	NewStreamWriter(w io.Writer, req *Request) StreamWriter
	// EncodeError renders an error body in the client's dialect.
	EncodeError(e *Error) []byte
}

// CheckedDecoder is an optional ability of a ClientCodec: it decodes a body
// that its caller has already checked with jsonlimit.Check(body,
// jsonlimit.MaxDepth) (valid JSON, bounded depth) without scanning it
// again. It must decode exactly as DecodeRequest does.
type CheckedDecoder interface {
	DecodeCheckedRequest(body []byte, model string) (*Request, error)
}

// DecodeChecked is c.DecodeRequest for a body that passed
// jsonlimit.Check(body, jsonlimit.MaxDepth): the codec's
// DecodeCheckedRequest when it has one. Call it only where the body
// provably went through that check.
func DecodeChecked(c ClientCodec, body []byte, model string) (*Request, error) {
	if cd, ok := c.(CheckedDecoder); ok {
		return cd.DecodeCheckedRequest(body, model)
	}
	return c.DecodeRequest(body, model)
}

// StreamWriter renders canonical events in a client's protocol.
type StreamWriter interface {
	// Write renders one event. It returns the writer's error (the client
	// went away).
	Write(ev Event) error
	// Fail ends a stream that cannot complete (the upstream cut it) with an
	// explicit error event in the dialect: never a fabricated stop.
	Fail(e *Error) error
}

// UpstreamCodec is a protocol as an upstream provider speaks it.
// Implementations are stateless and safe for concurrent use.
type UpstreamCodec interface {
	// Name is the protocol's name.
	Name() string
	// EncodeRequest renders req for the upstream model. An *Error with
	// Status 400 and Param reports a field the upstream cannot take.
	EncodeRequest(req *Request, model string) ([]byte, error)
	// DecodeResponse parses a complete (non-streamed) 2xx answer.
	DecodeResponse(body []byte) (*Response, error)
	// NewStreamReader returns an incremental decoder of a streamed answer.
	NewStreamReader() StreamReader
	// DecodeError turns a non-2xx answer into an *Error.
	DecodeError(status int, body []byte) *Error
}

// StreamReader decodes an upstream stream incrementally.
type StreamReader interface {
	// Feed parses bytes as they arrive, cut anywhere, and emits the events
	// they complete. An error means the stream is malformed.
	Feed(b []byte, emit func(Event)) error
	// Done reports whether the upstream's terminal event has been seen
	// ([DONE], message_stop, a finishReason with usage, messageStop +
	// metadata). A stream that ends before Done is truncated.
	Done() bool
	// Usage is the cumulative usage seen so far, and whether any was.
	Usage() (u Usage, ok bool)
}

// Usage aliases meter.Usage so that codecs need import only this package.
type Usage = meter.Usage
