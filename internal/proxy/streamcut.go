package proxy

import (
	"bytes"

	"github.com/tidwall/gjson"
)

// eventCutter feeds a pass-through stream to its tap line by line, so that
// when the tap finds an event malformed, the bytes relayed stop at the
// start of that event: the client never sees the broken event, nor the
// terminal event that may follow it in the same read. Lines end at '\n';
// an event ends at a blank line.
type eventCutter struct {
	midLine bool // the last piece fed ended inside a line
	// inEvent: bytes of an event not yet ended have reached the client, so
	// an error event written next must first end it ("\n\n").
	inEvent bool
}

// feed passes in to tap line by line and returns what may be relayed:
// all of in, or, once tap fails, the bytes before the failing event.
func (c *eventCutter) feed(in []byte, tap func([]byte) error) ([]byte, error) {
	start := 0
	startInEvent := c.inEvent
	for pos := 0; pos < len(in); {
		end := len(in)
		nl := bytes.IndexByte(in[pos:], '\n')
		if nl >= 0 {
			end = pos + nl + 1
		}
		line := in[pos:end]
		if err := tap(line); err != nil {
			c.inEvent = start == 0 && startInEvent
			return in[:start], err
		}
		blank := !c.midLine && (len(line) == 1 || (len(line) == 2 && line[0] == '\r')) && nl >= 0
		c.midLine = nl < 0
		if blank {
			start, startInEvent, c.inEvent = end, false, false
		} else {
			c.inEvent = true
		}
		pos = end
	}
	return in, nil
}

// removeMember deletes the member whose value is v (a top-level result of
// gjson over data) from the JSON object data, with its key and one
// adjacent comma, leaving every other byte as it was.
func removeMember(data []byte, v gjson.Result) []byte {
	if v.Index <= 0 || v.Index+len(v.Raw) > len(data) {
		return data
	}
	i := v.Index - 1
	for i >= 0 && isSpace(data[i]) {
		i--
	}
	if i < 0 || data[i] != ':' {
		return data
	}
	i--
	for i >= 0 && isSpace(data[i]) {
		i--
	}
	if i < 0 || data[i] != '"' {
		return data
	}
	// Find the key's opening quote (keys here have no escaped quotes).
	k := bytes.LastIndexByte(data[:i], '"')
	if k < 0 {
		return data
	}
	j := k - 1
	for j >= 0 && isSpace(data[j]) {
		j--
	}
	end := v.Index + len(v.Raw)
	out := make([]byte, 0, len(data))
	switch {
	case j >= 0 && data[j] == ',':
		out = append(out, data[:j]...)
		return append(out, data[end:]...)
	case j >= 0 && data[j] == '{':
		e := end
		for e < len(data) && isSpace(data[e]) {
			e++
		}
		if e < len(data) && data[e] == ',' {
			e++
		}
		out = append(out, data[:k]...)
		return append(out, data[e:]...)
	}
	return data
}

// withIncludeUsage returns the chat request body with
// stream_options.include_usage set to true, every other byte unchanged:
// an existing include_usage value is replaced, an existing stream_options
// object gains the member, or the body gains a stream_options member.
func withIncludeUsage(body []byte) []byte {
	if v := gjson.GetBytes(body, "stream_options.include_usage"); v.Exists() && v.Index > 0 {
		return splice(body, v.Index, v.Index+len(v.Raw), "true")
	}
	if so := gjson.GetBytes(body, "stream_options"); so.IsObject() && so.Index > 0 {
		i := so.Index + 1 // after '{'
		member := `"include_usage":true`
		if inner := bytes.TrimSpace(body[i : so.Index+len(so.Raw)-1]); len(inner) > 0 {
			member += ","
		}
		return splice(body, i, i, member)
	} else if so.Exists() {
		return body // not an object: the upstream will refuse it either way
	}
	i := bytes.IndexByte(body, '{')
	if i < 0 {
		return body
	}
	member := `"stream_options":{"include_usage":true}`
	if inner := bytes.TrimSpace(body[i+1:]); len(inner) > 0 && inner[0] != '}' {
		member += ","
	}
	return splice(body, i+1, i+1, member)
}

// splice replaces body[from:to] with s in a new slice.
func splice(body []byte, from, to int, s string) []byte {
	out := make([]byte, 0, len(body)-(to-from)+len(s))
	out = append(out, body[:from]...)
	out = append(out, s...)
	return append(out, body[to:]...)
}
