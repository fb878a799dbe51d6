package bedrockfake

import (
	"net/http"
	"time"

	wire "github.com/sluicehq/sluice/internal/apischema/bedrock"
	"github.com/sluicehq/sluice/internal/fakeprovider/fakeserver"
)

// Script headers. A test that goes through the gateway sets them on its
// client request; the gateway forwards them upstream like any other
// non-credential header. They are not signed, and need not be.
const (
	// HeaderStatus makes the fake answer with this status (400..599) and a
	// Bedrock error body, typed by x-amzn-ErrorType after the status
	// (ValidationException 400, AccessDeniedException 403,
	// ResourceNotFoundException 404, ModelTimeoutException 408,
	// ModelErrorException 424, ThrottlingException 429,
	// InternalServerException 500, ServiceUnavailableException 503).
	HeaderStatus = fakeserver.HeaderStatus
	// HeaderErrorType overrides the error type of HeaderStatus.
	HeaderErrorType = "X-Fake-Error-Type"
	// HeaderDelayMs waits this many milliseconds before sending headers.
	HeaderDelayMs = fakeserver.HeaderDelayMs
	// HeaderHang never answers until the client goes away: "1", "true" or
	// "before-headers" hang before any header; "after-headers" sends 200 and
	// the headers first, then hangs.
	HeaderHang = fakeserver.HeaderHang
	// HeaderChunks is the number of text (or tool input) deltas in a stream.
	HeaderChunks = fakeserver.HeaderChunks
	// HeaderChunkDelayMs is the gap between two event-stream messages.
	HeaderChunkDelayMs = fakeserver.HeaderChunkDelayMs
	// HeaderCutAfter sends this many event-stream messages, then ends the
	// response cleanly (so a cut before messageStop leaves it out).
	HeaderCutAfter = fakeserver.HeaderCutAfter
	// HeaderResetAfter sends this many messages, then aborts the connection.
	HeaderResetAfter = fakeserver.HeaderResetAfter
	// HeaderExceptionAfter sends this many messages, then an exception
	// message (throttlingException unless HeaderExceptionType says
	// otherwise), and ends the response.
	HeaderExceptionAfter = "X-Fake-Exception-After"
	// HeaderExceptionType is the :exception-type of HeaderExceptionAfter.
	HeaderExceptionType = "X-Fake-Exception-Type"
	// HeaderMetadata "none" leaves out the metadata event (usage) after
	// messageStop.
	HeaderMetadata = "X-Fake-Metadata"
	// HeaderContent replaces the reply text.
	HeaderContent = "X-Fake-Content"
	// HeaderInputTokens, HeaderOutputTokens, HeaderCacheReadTokens and
	// HeaderCacheWriteTokens override the usage figures the fake reports
	// (Bedrock's convention: inputTokens excludes the cache tokens).
	HeaderInputTokens      = "X-Fake-Input-Tokens"
	HeaderOutputTokens     = "X-Fake-Output-Tokens"
	HeaderCacheReadTokens  = "X-Fake-Cache-Read-Tokens"
	HeaderCacheWriteTokens = "X-Fake-Cache-Write-Tokens"
)

// Hang says whether and where a response stops and waits for the client
// to go away.
type Hang int

const (
	// NoHang answers normally.
	NoHang Hang = iota
	// HangBeforeHeaders sends nothing.
	HangBeforeHeaders
	// HangAfterHeaders sends the status and headers, then nothing.
	HangAfterHeaders
)

// Behavior is the script of one request. The zero value answers normally.
type Behavior struct {
	// Status, when 400 or more, answers with this status and a Bedrock
	// error (or Body when set).
	Status int
	// ErrorType overrides the x-amzn-ErrorType that goes with Status.
	ErrorType string
	// Body, when not nil, is sent verbatim as the JSON response.
	Body []byte
	// Delay waits before sending headers.
	Delay time.Duration
	// Hang stops the response until the client goes away.
	Hang Hang
	// Chunks is the number of text or tool-input deltas of a stream; 0 means
	// one per word (tool input: 8-byte pieces).
	Chunks int
	// ChunkDelay is the gap between two event-stream messages.
	ChunkDelay time.Duration
	// CutAfter, when > 0, ends the stream cleanly after this many messages.
	// ResetAfter, when > 0, aborts the connection after this many.
	// ExceptionAfter, when > 0, sends an exception message after this many
	// and ends the stream. -1 (only from Go) means "right after the headers".
	CutAfter       int
	ResetAfter     int
	ExceptionAfter int
	// ExceptionType is the exception of ExceptionAfter; throttlingException
	// when empty.
	ExceptionType string
	// NoMetadata leaves out the metadata event.
	NoMetadata bool
	// Content, when set, replaces the reply text.
	Content string
	// InputTokens, OutputTokens, CacheReadTokens and CacheWriteTokens
	// override the usage figures.
	InputTokens      *int
	OutputTokens     *int
	CacheReadTokens  *int
	CacheWriteTokens *int
}

// ParseHeaders reads a Behavior from the x-fake-* headers of a request. A
// malformed value is an error, which the fake answers with a 400 so that a
// broken test script is noticed.
func ParseHeaders(h http.Header) (*Behavior, error) {
	p := fakeserver.NewHeaders(h)
	b := &Behavior{}
	c := p.Basic()
	b.Status, b.Delay, b.Chunks, b.ChunkDelay, b.CutAfter, b.ResetAfter = c.Status, c.Delay, c.Chunks, c.ChunkDelay, c.CutAfter, c.ResetAfter
	b.ErrorType = p.String(HeaderErrorType)
	b.ExceptionAfter = p.Int(HeaderExceptionAfter, 0)
	b.ExceptionType = p.String(HeaderExceptionType)
	b.Content = h.Get(HeaderContent)
	b.InputTokens = p.OptInt(HeaderInputTokens)
	b.OutputTokens = p.OptInt(HeaderOutputTokens)
	b.CacheReadTokens = p.OptInt(HeaderCacheReadTokens)
	b.CacheWriteTokens = p.OptInt(HeaderCacheWriteTokens)
	switch v := p.Lower(HeaderMetadata); v {
	case "", "1", "true":
	case "none", "0", "false":
		b.NoMetadata = true
	default:
		p.Fail("fake: invalid %s header %q: want none", HeaderMetadata, v)
	}
	b.Hang = Hang(p.Hang(HeaderHang))
	switch b.ExceptionType {
	case "", wire.ExceptionThrottling, wire.ExceptionModelStreamError, wire.ExceptionValidation,
		wire.ExceptionInternalServer, wire.ExceptionServiceUnavailable:
	default:
		p.Fail("fake: invalid %s header %q", HeaderExceptionType, b.ExceptionType)
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return b, nil
}
