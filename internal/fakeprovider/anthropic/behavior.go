package anthropicfake

import (
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/fakeprovider/fakeserver"
)

// Script headers. A test that goes through the gateway sets them on its client request;
// the gateway forwards them upstream like any other non-credential header. The names
// they share with the OpenAI fake mean the same there.
const (
	// HeaderStatus makes the fake answer with this status (400..599) and an Anthropic
	// error body; 529 is overloaded_error.
	HeaderStatus = fakeserver.HeaderStatus
	// HeaderDelayMs waits this many milliseconds before sending headers.
	HeaderDelayMs = fakeserver.HeaderDelayMs
	// HeaderHang never answers until the client goes away: "1", "true" or
	// "before-headers" hang before any header; "after-headers" sends 200 and the
	// headers of a stream (or JSON response) first, then hangs.
	HeaderHang = fakeserver.HeaderHang
	// HeaderChunks is the number of text_delta (or input_json_delta) events per block.
	HeaderChunks = fakeserver.HeaderChunks
	// HeaderChunkDelayMs is the gap between two SSE events of a stream.
	HeaderChunkDelayMs = fakeserver.HeaderChunkDelayMs
	// HeaderCutAfter sends this many SSE events (ping included), then ends the
	// response cleanly without message_stop.
	HeaderCutAfter = fakeserver.HeaderCutAfter
	// HeaderResetAfter sends this many SSE events, then aborts the TCP connection.
	HeaderResetAfter = fakeserver.HeaderResetAfter
	// HeaderErrorAfter sends this many SSE events, then an "error" event with an
	// overloaded_error, and ends the response, as Anthropic does when it is
	// overloaded mid-stream.
	HeaderErrorAfter = "X-Fake-Error-After"
	// HeaderRetryAfter is sent back as Retry-After (use it with X-Fake-Status: 429).
	HeaderRetryAfter = fakeserver.HeaderRetryAfter
	// HeaderToolCalls is how many tool_use blocks the fake answers with when it calls
	// tools (cycling through the request's tools), unless the request disables
	// parallel tool use; 1 by default.
	HeaderToolCalls = "X-Fake-Tool-Calls"
	// HeaderRedactedThinking adds a redacted_thinking block after the thinking block
	// when thinking is on ("1" or "true").
	HeaderRedactedThinking = "X-Fake-Redacted-Thinking"
	// HeaderInputTokens, HeaderOutputTokens, HeaderCacheReadTokens and
	// HeaderCacheCreationTokens override the usage figures, as Anthropic reports them:
	// input_tokens excludes both cache fields.
	HeaderInputTokens         = "X-Fake-Input-Tokens"
	HeaderOutputTokens        = "X-Fake-Output-Tokens"
	HeaderCacheReadTokens     = "X-Fake-Cache-Read-Tokens"
	HeaderCacheCreationTokens = "X-Fake-Cache-Creation-Tokens"
)

// Hang says whether and where a response stops and waits for the client to go away.
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
	// Status, when 400 or more, answers with this status and an Anthropic error body
	// (or Body when set).
	Status int
	// RetryAfter is sent as the Retry-After header of an error response.
	RetryAfter string
	// Body, when not nil, is sent verbatim as the JSON response (with Status, or 200).
	Body []byte
	// Delay waits before sending headers.
	Delay time.Duration
	// Hang stops the response until the client goes away.
	Hang Hang
	// Chunks is the number of delta events per content block in a stream; 0 means one
	// per word (text) or per 8 bytes (tool input). The reply text is padded with
	// filler words when it has fewer words than Chunks.
	Chunks int
	// ChunkDelay is the gap between two SSE events.
	ChunkDelay time.Duration
	// CutAfter, when > 0, ends the stream cleanly after this many SSE events, without
	// message_stop. ResetAfter, when > 0, aborts the connection after this many
	// events. ErrorAfter, when > 0, sends an overloaded_error event after this many
	// events and ends the stream. Setting CutAfter or ResetAfter to -1 (only possible
	// from Go) means "before the first event, after the headers".
	CutAfter   int
	ResetAfter int
	ErrorAfter int
	// ToolCalls is the number of tool_use blocks when the fake calls tools (default 1).
	ToolCalls int
	// RedactedThinking adds a redacted_thinking block when thinking is on.
	RedactedThinking bool
	// Content, when set, replaces the reply text.
	Content string
	// InputTokens, OutputTokens, CacheReadTokens and CacheCreationTokens override the
	// usage figures.
	InputTokens         *int
	OutputTokens        *int
	CacheReadTokens     *int
	CacheCreationTokens *int
}

// ParseHeaders reads a Behavior from the x-fake-* headers of a request. A malformed
// value is an error, which the fake answers with a 400 so that a broken test script is
// noticed.
func ParseHeaders(h http.Header) (*Behavior, error) {
	p := fakeserver.NewHeaders(h)
	b := &Behavior{}
	c := p.Basic()
	b.Status, b.Delay, b.Chunks, b.ChunkDelay, b.CutAfter, b.ResetAfter = c.Status, c.Delay, c.Chunks, c.ChunkDelay, c.CutAfter, c.ResetAfter
	b.ErrorAfter = p.Int(HeaderErrorAfter, 0)
	b.ToolCalls = p.Int(HeaderToolCalls, 1)
	b.InputTokens = p.OptInt(HeaderInputTokens)
	b.OutputTokens = p.OptInt(HeaderOutputTokens)
	b.CacheReadTokens = p.OptInt(HeaderCacheReadTokens)
	b.CacheCreationTokens = p.OptInt(HeaderCacheCreationTokens)
	b.RetryAfter = p.String(HeaderRetryAfter)
	b.RedactedThinking = p.Bool(HeaderRedactedThinking)
	b.Hang = Hang(p.Hang(HeaderHang))
	if err := p.Err(); err != nil {
		return nil, err
	}
	return b, nil
}
