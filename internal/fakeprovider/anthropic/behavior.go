package anthropicfake

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Script headers. A test that goes through the gateway sets them on its client request;
// the gateway forwards them upstream like any other non-credential header. The names
// they share with the OpenAI fake mean the same there.
const (
	// HeaderStatus makes the fake answer with this status (400..599) and an Anthropic
	// error body; 529 is overloaded_error.
	HeaderStatus = "X-Fake-Status"
	// HeaderDelayMs waits this many milliseconds before sending headers.
	HeaderDelayMs = "X-Fake-Delay-Ms"
	// HeaderHang never answers until the client goes away: "1", "true" or
	// "before-headers" hang before any header; "after-headers" sends 200 and the
	// headers of a stream (or JSON response) first, then hangs.
	HeaderHang = "X-Fake-Hang"
	// HeaderChunks is the number of text_delta (or input_json_delta) events per block.
	HeaderChunks = "X-Fake-Chunks"
	// HeaderChunkDelayMs is the gap between two SSE events of a stream.
	HeaderChunkDelayMs = "X-Fake-Chunk-Delay-Ms"
	// HeaderCutAfter sends this many SSE events (ping included), then ends the
	// response cleanly without message_stop.
	HeaderCutAfter = "X-Fake-Cut-After"
	// HeaderResetAfter sends this many SSE events, then aborts the TCP connection.
	HeaderResetAfter = "X-Fake-Reset-After"
	// HeaderErrorAfter sends this many SSE events, then an "error" event with an
	// overloaded_error, and ends the response, as Anthropic does when it is
	// overloaded mid-stream.
	HeaderErrorAfter = "X-Fake-Error-After"
	// HeaderRetryAfter is sent back as Retry-After (use it with X-Fake-Status: 429).
	HeaderRetryAfter = "X-Fake-Retry-After"
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
	b.ErrorAfter = intHeader(HeaderErrorAfter, 0)
	b.ToolCalls = intHeader(HeaderToolCalls, 1)
	b.InputTokens = optInt(HeaderInputTokens)
	b.OutputTokens = optInt(HeaderOutputTokens)
	b.CacheReadTokens = optInt(HeaderCacheReadTokens)
	b.CacheCreationTokens = optInt(HeaderCacheCreationTokens)
	b.RetryAfter = strings.TrimSpace(h.Get(HeaderRetryAfter))
	switch v := strings.ToLower(strings.TrimSpace(h.Get(HeaderRedactedThinking))); v {
	case "", "0", "false":
	case "1", "true":
		b.RedactedThinking = true
	default:
		if err == nil {
			err = fmt.Errorf("fake: invalid %s header %q", HeaderRedactedThinking, v)
		}
	}
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
