package openaifake

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Script headers. A test that goes through the gateway sets them on its client request;
// the gateway forwards them upstream like any other non-credential header.
const (
	// HeaderStatus makes the fake answer with this status (400..599) and an OpenAI error body.
	HeaderStatus = "X-Fake-Status"
	// HeaderDelayMs waits this many milliseconds before sending headers.
	HeaderDelayMs = "X-Fake-Delay-Ms"
	// HeaderHang never answers until the client goes away: "1", "true" or
	// "before-headers" hang before any header; "after-headers" sends 200 and the
	// headers of a stream (or JSON response) first, then hangs.
	HeaderHang = "X-Fake-Hang"
	// HeaderChunks is the number of content chunks per choice in a stream.
	HeaderChunks = "X-Fake-Chunks"
	// HeaderChunkDelayMs is the gap between two SSE events of a stream.
	HeaderChunkDelayMs = "X-Fake-Chunk-Delay-Ms"
	// HeaderUsage places usage in streams: "last" (a final chunk with empty choices,
	// the default when stream_options.include_usage is true), "every" (cumulative
	// usage on every chunk, then the final usage chunk) or "none".
	HeaderUsage = "X-Fake-Usage"
	// HeaderCutAfter sends this many SSE events, then ends the response cleanly
	// without [DONE].
	HeaderCutAfter = "X-Fake-Cut-After"
	// HeaderResetAfter sends this many SSE events, then aborts the TCP connection.
	HeaderResetAfter = "X-Fake-Reset-After"
	// HeaderRetryAfter is sent back as Retry-After (use it with X-Fake-Status: 429).
	HeaderRetryAfter = "X-Fake-Retry-After"
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
	switch v := UsageMode(strings.ToLower(strings.TrimSpace(h.Get(HeaderUsage)))); v {
	case UsageDefault, UsageLast, UsageEvery, UsageNone:
		b.Usage = v
	default:
		if err == nil {
			err = fmt.Errorf("fake: invalid %s header %q: want last, every or none", HeaderUsage, v)
		}
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}
