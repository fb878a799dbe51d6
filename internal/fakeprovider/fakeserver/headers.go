package fakeserver

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The x-fake-* headers that mean the same in every fake. Each fake documents
// them again under its own names (openaifake.HeaderStatus, ...).
const (
	HeaderStatus       = "X-Fake-Status"
	HeaderDelayMs      = "X-Fake-Delay-Ms"
	HeaderHang         = "X-Fake-Hang"
	HeaderChunks       = "X-Fake-Chunks"
	HeaderChunkDelayMs = "X-Fake-Chunk-Delay-Ms"
	HeaderCutAfter     = "X-Fake-Cut-After"
	HeaderResetAfter   = "X-Fake-Reset-After"
	HeaderRetryAfter   = "X-Fake-Retry-After"
)

// Basic is the part of a script that every fake reads from the same headers.
type Basic struct {
	Status     int
	Delay      time.Duration
	Chunks     int
	ChunkDelay time.Duration
	CutAfter   int
	ResetAfter int
}

// Basic reads HeaderStatus, HeaderDelayMs, HeaderChunks, HeaderChunkDelayMs,
// HeaderCutAfter and HeaderResetAfter, in that order.
func (p *Headers) Basic() Basic {
	return Basic{
		Status:     p.Status(HeaderStatus),
		Delay:      p.Millis(HeaderDelayMs),
		Chunks:     p.Int(HeaderChunks, 1),
		ChunkDelay: p.Millis(HeaderChunkDelayMs),
		CutAfter:   p.Int(HeaderCutAfter, 0),
		ResetAfter: p.Int(HeaderResetAfter, 0),
	}
}

// Hang values, as every fake's Hang type numbers them.
const (
	NoHang = iota
	HangBeforeHeaders
	HangAfterHeaders
)

// Headers reads x-fake-* headers. The first malformed value is kept as the error
// (Err) and later reads of integers return 0, so that a fake answers a broken test
// script with a 400 that names the first bad header.
type Headers struct {
	h   http.Header
	err error
}

// NewHeaders returns a reader of h.
func NewHeaders(h http.Header) *Headers { return &Headers{h: h} }

// Err is the first malformed value met, or nil.
func (p *Headers) Err() error { return p.err }

// Fail records an error unless one is already recorded.
func (p *Headers) Fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf(format, args...)
	}
}

// Int reads an integer >= min; 0 when absent or after an error.
func (p *Headers) Int(name string, min int) int {
	v := strings.TrimSpace(p.h.Get(name))
	if v == "" || p.err != nil {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		p.err = fmt.Errorf("fake: invalid %s header %q: want an integer >= %d", name, v, min)
		return 0
	}
	return n
}

// OptInt reads an integer >= 0, nil when absent.
func (p *Headers) OptInt(name string) *int {
	if p.h.Get(name) == "" {
		return nil
	}
	n := p.Int(name, 0)
	return &n
}

// Millis reads a duration in milliseconds.
func (p *Headers) Millis(name string) time.Duration {
	return time.Duration(p.Int(name, 0)) * time.Millisecond
}

// Status reads a status, 0 or 400..599.
func (p *Headers) Status(name string) int {
	n := p.Int(name, 0)
	if n != 0 && (n < 400 || n > 599) {
		p.Fail("fake: invalid %s header %d: want 400..599", name, n)
	}
	return n
}

// String reads a trimmed value.
func (p *Headers) String(name string) string { return strings.TrimSpace(p.h.Get(name)) }

// Lower reads a trimmed, lower-cased value.
func (p *Headers) Lower(name string) string { return strings.ToLower(p.String(name)) }

// Bool reads "", "0", "false" (false) or "1", "true" (true).
func (p *Headers) Bool(name string) bool {
	switch v := p.Lower(name); v {
	case "", "0", "false":
	case "1", "true":
		return true
	default:
		p.Fail("fake: invalid %s header %q", name, v)
	}
	return false
}

// Hang reads "", "0", "false" (NoHang); "1", "true", "before-headers"
// (HangBeforeHeaders); or "after-headers" (HangAfterHeaders).
func (p *Headers) Hang(name string) int {
	switch v := p.Lower(name); v {
	case "", "0", "false":
	case "1", "true", "before-headers":
		return HangBeforeHeaders
	case "after-headers":
		return HangAfterHeaders
	default:
		p.Fail("fake: invalid %s header %q", name, v)
	}
	return NoHang
}
