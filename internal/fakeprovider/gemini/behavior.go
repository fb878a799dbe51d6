package geminifake

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Script headers, the same as the OpenAI fake's where they mean the same. A
// test that goes through the gateway sets them on its client request; the
// gateway forwards them upstream like any other non-credential header.
const (
	// HeaderStatus makes the fake answer with this status (400..599) and a
	// Google error body.
	HeaderStatus = "X-Fake-Status"
	// HeaderDelayMs waits this many milliseconds before sending headers.
	HeaderDelayMs = "X-Fake-Delay-Ms"
	// HeaderHang never answers until the client goes away: "1", "true" or
	// "before-headers" hang before any header; "after-headers" sends 200
	// and the headers first, then hangs.
	HeaderHang = "X-Fake-Hang"
	// HeaderChunks is the number of text chunks of a stream.
	HeaderChunks = "X-Fake-Chunks"
	// HeaderChunkDelayMs is the gap between two chunks of a stream.
	HeaderChunkDelayMs = "X-Fake-Chunk-Delay-Ms"
	// HeaderCutAfter sends this many chunks, then ends the response cleanly
	// without the chunk that holds the finishReason.
	HeaderCutAfter = "X-Fake-Cut-After"
	// HeaderResetAfter sends this many chunks, then aborts the TCP
	// connection.
	HeaderResetAfter = "X-Fake-Reset-After"
	// HeaderRetryAfter is sent back as Retry-After (with X-Fake-Status: 429).
	HeaderRetryAfter = "X-Fake-Retry-After"
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
	b := &Behavior{}
	var err error
	intHeader := func(name string, min int) int {
		v := strings.TrimSpace(h.Get(name))
		if v == "" || err != nil {
			return 0
		}
		n, convErr := strconv.Atoi(v)
		if convErr != nil || n < min {
			err = fmt.Errorf("fake: invalid %s header %q: want an integer >= %d", name, v, min)
			return 0
		}
		return n
	}
	optInt := func(name string) *int {
		if h.Get(name) == "" {
			return nil
		}
		n := intHeader(name, 0)
		return &n
	}
	b.Status = intHeader(HeaderStatus, 0)
	if b.Status != 0 && (b.Status < 400 || b.Status > 599) && err == nil {
		err = fmt.Errorf("fake: invalid %s header %d: want 400..599", HeaderStatus, b.Status)
	}
	b.Delay = time.Duration(intHeader(HeaderDelayMs, 0)) * time.Millisecond
	b.Chunks = intHeader(HeaderChunks, 1)
	b.ChunkDelay = time.Duration(intHeader(HeaderChunkDelayMs, 0)) * time.Millisecond
	b.CutAfter = intHeader(HeaderCutAfter, 0)
	b.ResetAfter = intHeader(HeaderResetAfter, 0)
	b.PromptTokens = optInt(HeaderPromptTokens)
	b.CompletionTokens = optInt(HeaderCompletionTokens)
	b.CachedTokens = optInt(HeaderCachedTokens)
	b.ThoughtsTokens = optInt(HeaderThoughtsTokens)
	b.RetryAfter = strings.TrimSpace(h.Get(HeaderRetryAfter))
	switch v := strings.ToLower(strings.TrimSpace(h.Get(HeaderHang))); v {
	case "", "0", "false":
	case "1", "true", "before-headers":
		b.Hang = HangBeforeHeaders
	case "after-headers":
		b.Hang = HangAfterHeaders
	default:
		if err == nil {
			err = fmt.Errorf("fake: invalid %s header %q", HeaderHang, v)
		}
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}
