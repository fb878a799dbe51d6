package geminifake

import (
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/fakeprovider/fakeserver"
)

// Script headers, the same as the OpenAI fake's where they mean the same. A
// test that goes through the gateway sets them on its client request; the
// gateway forwards them upstream like any other non-credential header.
const (
	// HeaderStatus makes the fake answer with this status (400..599) and a
	// Google error body.
	HeaderStatus = fakeserver.HeaderStatus
	// HeaderDelayMs waits this many milliseconds before sending headers.
	HeaderDelayMs = fakeserver.HeaderDelayMs
	// HeaderHang never answers until the client goes away: "1", "true" or
	// "before-headers" hang before any header; "after-headers" sends 200
	// and the headers first, then hangs.
	HeaderHang = fakeserver.HeaderHang
	// HeaderChunks is the number of text chunks of a stream.
	HeaderChunks = fakeserver.HeaderChunks
	// HeaderChunkDelayMs is the gap between two chunks of a stream.
	HeaderChunkDelayMs = fakeserver.HeaderChunkDelayMs
	// HeaderCutAfter sends this many chunks, then ends the response cleanly
	// without the chunk that holds the finishReason.
	HeaderCutAfter = fakeserver.HeaderCutAfter
	// HeaderResetAfter sends this many chunks, then aborts the TCP
	// connection.
	HeaderResetAfter = fakeserver.HeaderResetAfter
	// HeaderRetryAfter is sent back as Retry-After (with X-Fake-Status: 429).
	HeaderRetryAfter = fakeserver.HeaderRetryAfter
	// HeaderPromptTokens, HeaderCompletionTokens (candidatesTokenCount),
	// HeaderCachedTokens (cachedContentTokenCount) and HeaderThoughtsTokens
	// (thoughtsTokenCount) override the usage the fake reports.
	HeaderPromptTokens     = "X-Fake-Prompt-Tokens"
	HeaderCompletionTokens = "X-Fake-Completion-Tokens"
	HeaderCachedTokens     = "X-Fake-Cached-Tokens"
	HeaderThoughtsTokens   = "X-Fake-Thoughts-Tokens"
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
	// Status, when 400 or more, answers with this status and a Google error
	// body (or Body when set).
	Status int
	// RetryAfter is sent as the Retry-After header of an error response.
	RetryAfter string
	// Body, when not nil, is sent verbatim as the JSON response (with
	// Status, or 200).
	Body []byte
	// Delay waits before sending headers.
	Delay time.Duration
	// Hang stops the response until the client goes away.
	Hang Hang
	// Chunks is the number of text chunks of a stream; 0 means one chunk
	// per word. The reply is padded with filler words when it has fewer
	// words than Chunks.
	Chunks int
	// ChunkDelay is the gap between two chunks.
	ChunkDelay time.Duration
	// CutAfter, when > 0, ends the stream cleanly after this many chunks,
	// without the finishReason chunk. ResetAfter, when > 0, aborts the
	// connection after this many chunks. Setting either to -1 (only
	// possible from Go) means "before the first chunk, after the headers".
	CutAfter   int
	ResetAfter int
	// Content, when set, replaces the reply text.
	Content string
	// PromptTokens, CompletionTokens, CachedTokens and ThoughtsTokens
	// override the usage figures.
	PromptTokens     *int
	CompletionTokens *int
	CachedTokens     *int
	ThoughtsTokens   *int
}

// ParseHeaders reads a Behavior from the x-fake-* headers of a request. A
// malformed value is an error, which the fake answers with a 400 so that a
// broken test script is noticed.
func ParseHeaders(h http.Header) (*Behavior, error) {
	p := fakeserver.NewHeaders(h)
	b := &Behavior{}
	c := p.Basic()
	b.Status, b.Delay, b.Chunks, b.ChunkDelay, b.CutAfter, b.ResetAfter = c.Status, c.Delay, c.Chunks, c.ChunkDelay, c.CutAfter, c.ResetAfter
	b.PromptTokens = p.OptInt(HeaderPromptTokens)
	b.CompletionTokens = p.OptInt(HeaderCompletionTokens)
	b.CachedTokens = p.OptInt(HeaderCachedTokens)
	b.ThoughtsTokens = p.OptInt(HeaderThoughtsTokens)
	b.RetryAfter = p.String(HeaderRetryAfter)
	b.Hang = Hang(p.Hang(HeaderHang))
	if err := p.Err(); err != nil {
		return nil, err
	}
	return b, nil
}
