// Package sse parses and writes Server-Sent Events as the LLM providers send
// them. The Parser is incremental: it is fed bytes as they arrive, in chunks
// cut anywhere, and yields whole events, so that a proxy can tap a stream it
// forwards without buffering it.
package sse

import (
	"bytes"
	"errors"
)

// Event is one dispatched SSE event. Data joins multiple data lines with
// "\n". The slices are only valid until the next call to Feed.
type Event struct {
	Event []byte
	Data  []byte
	ID    []byte
}

// ErrLineTooLong is returned when a line exceeds the parser's limit.
var ErrLineTooLong = errors.New("sse: line too long")

// DefaultMaxLine bounds one SSE line (1 MiB), so that a hostile upstream
// cannot make Sluice buffer without limit.
const DefaultMaxLine = 1 << 20

// Parser is an incremental SSE parser. The zero value is ready to use with
// DefaultMaxLine. A Parser is not safe for concurrent use.
type Parser struct {
	MaxLine int

	line    []byte // a partial line carried between Feed calls
	data    []byte
	event   []byte
	id      []byte
	hasData bool
	sawCR   bool // the last byte fed was '\r': a following '\n' belongs to it
}

// Feed parses p and calls emit for every event completed by it. It returns
// ErrLineTooLong if a line exceeds the limit; the parser is then unusable.
func (p *Parser) Feed(b []byte, emit func(Event)) error {
	max := p.MaxLine
	if max <= 0 {
		max = DefaultMaxLine
	}
	for len(b) > 0 {
		if p.sawCR {
			p.sawCR = false
			if b[0] == '\n' {
				b = b[1:]
				continue
			}
		}
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			if len(p.line)+len(b) > max {
				return ErrLineTooLong
			}
			p.line = append(p.line, b...)
			return nil
		}
		var line []byte
		if len(p.line) > 0 {
			if len(p.line)+i > max {
				return ErrLineTooLong
			}
			p.line = append(p.line, b[:i]...)
			line = p.line
		} else {
			if i > max {
				return ErrLineTooLong
			}
			line = b[:i]
		}
		if b[i] == '\r' {
			p.sawCR = true
		}
		b = b[i+1:]
		p.processLine(line, emit)
		p.line = p.line[:0]
	}
	return nil
}

func (p *Parser) processLine(line []byte, emit func(Event)) {
	if len(line) == 0 {
		if p.hasData || len(p.event) > 0 {
			emit(Event{Event: p.event, Data: p.data, ID: p.id})
		}
		p.data = p.data[:0]
		p.event = p.event[:0]
		p.hasData = false
		return
	}
	if line[0] == ':' {
		return // comment
	}
	field, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "data":
		if p.hasData {
			p.data = append(p.data, '\n')
		}
		p.data = append(p.data, value...)
		p.hasData = true
	case "event":
		p.event = append(p.event[:0], value...)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.id = append(p.id[:0], value...)
		}
	}
}

// Pending reports whether bytes of an unfinished event are buffered: a
// stream that ends while Pending is true was cut mid-event.
func (p *Parser) Pending() bool { return len(p.line) > 0 || p.hasData }

// IsDone reports whether data is exactly the OpenAI terminal marker "[DONE]".
func IsDone(data []byte) bool { return string(data) == "[DONE]" }

// AppendEvent appends the wire form of an event with the given name (may be
// empty) and single-line JSON data.
func AppendEvent(dst []byte, event string, data []byte) []byte {
	if event != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, event...)
		dst = append(dst, '\n')
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		dst = append(dst, "data: "...)
		dst = append(dst, data[:i]...)
		dst = append(dst, '\n')
		data = data[i+1:]
	}
	dst = append(dst, "data: "...)
	dst = append(dst, data...)
	return append(dst, '\n', '\n')
}
