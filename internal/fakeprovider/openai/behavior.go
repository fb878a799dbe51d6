package openaifake

import (
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/fakeprovider/fakeserver"
)

// Script headers. A test that goes through the gateway sets them on its client request;
// the gateway forwards them upstream like any other non-credential header.
const (
	// HeaderStatus makes the fake answer with this status (400..599) and an OpenAI error body.
	HeaderStatus = fakeserver.HeaderStatus
	// HeaderDelayMs waits this many milliseconds before sending headers.
	HeaderDelayMs = fakeserver.HeaderDelayMs
	// HeaderHang never answers until the client goes away: "1", "true" or
	// "before-headers" hang before any header; "after-headers" sends 200 and the
	// headers of a stream (or JSON response) first, then hangs.
	HeaderHang = fakeserver.HeaderHang
	// HeaderChunks is the number of content chunks per choice in a stream.
	HeaderChunks = fakeserver.HeaderChunks
	// HeaderChunkDelayMs is the gap between two SSE events of a stream.
	HeaderChunkDelayMs = fakeserver.HeaderChunkDelayMs
	// HeaderUsage places usage in streams: "last" (a final chunk with empty choices,
	// the default when stream_options.include_usage is true), "every" (cumulative
	// usage on every chunk, then the final usage chunk) or "none".
	HeaderUsage = "X-Fake-Usage"
	// HeaderCutAfter sends this many SSE events, then ends the response cleanly
	// without [DONE].
	HeaderCutAfter = fakeserver.HeaderCutAfter
	// HeaderResetAfter sends this many SSE events, then aborts the TCP connection.
	HeaderResetAfter = fakeserver.HeaderResetAfter
	// HeaderRetryAfter is sent back as Retry-After (use it with X-Fake-Status: 429).
	HeaderRetryAfter = fakeserver.HeaderRetryAfter
	// HeaderPromptTokens, HeaderCompletionTokens and HeaderCachedTokens override the
	// usage figures the fake reports.
	HeaderPromptTokens     = "X-Fake-Prompt-Tokens"
	HeaderCompletionTokens = "X-Fake-Completion-Tokens"
	HeaderCachedTokens     = "X-Fake-Cached-Tokens"
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

// UsageMode says where usage goes in a stream.
type UsageMode string

const (
	// UsageDefault sends a last usage chunk when the request asked for
	// stream_options.include_usage, and none otherwise.
	UsageDefault UsageMode = ""
	// UsageLast always sends a last chunk with empty choices and usage.
	UsageLast UsageMode = "last"
	// UsageEvery puts cumulative usage on every chunk and sends the last usage chunk.
	UsageEvery UsageMode = "every"
	// UsageNone never sends usage in a stream.
	UsageNone UsageMode = "none"
)

// Behavior is the script of one request. The zero value answers normally.
type Behavior struct {
	// Status, when 400 or more, answers with this status and an OpenAI error body
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
	// Chunks is the number of content (or tool-argument) chunks per choice in a
	// stream; 0 means one chunk per word. The reply text is padded with filler words
	// when it has fewer words than Chunks.
	Chunks int
	// ChunkDelay is the gap between two SSE events.
	ChunkDelay time.Duration
	// Usage places usage in streams.
	Usage UsageMode
	// CutAfter, when > 0, ends the stream cleanly after this many SSE events, without
	// [DONE]. ResetAfter, when > 0, aborts the connection after this many events.
	// Setting either to -1 (only possible from Go) means "before the first event,
	// after the headers".
	CutAfter   int
	ResetAfter int
	// Content, when set, replaces the reply text of every choice.
	Content string
	// PromptTokens, CompletionTokens and CachedTokens override the usage figures.
	PromptTokens     *int
	CompletionTokens *int
	CachedTokens     *int
}

// ParseHeaders reads a Behavior from the x-fake-* headers of a request. A malformed
// value is an error, which the fake answers with a 400 so that a broken test script is
// noticed.
func ParseHeaders(h http.Header) (*Behavior, error) {
	p := fakeserver.NewHeaders(h)
	b := &Behavior{}
	c := p.Basic()
	b.Status, b.Delay, b.Chunks, b.ChunkDelay, b.CutAfter, b.ResetAfter = c.Status, c.Delay, c.Chunks, c.ChunkDelay, c.CutAfter, c.ResetAfter
	b.PromptTokens = p.OptInt(HeaderPromptTokens)
	b.CompletionTokens = p.OptInt(HeaderCompletionTokens)
	b.CachedTokens = p.OptInt(HeaderCachedTokens)
	b.RetryAfter = p.String(HeaderRetryAfter)
	b.Hang = Hang(p.Hang(HeaderHang))
	switch v := UsageMode(p.Lower(HeaderUsage)); v {
	case UsageDefault, UsageLast, UsageEvery, UsageNone:
		b.Usage = v
	default:
		p.Fail("fake: invalid %s header %q: want last, every or none", HeaderUsage, v)
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return b, nil
}
