package translate

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
)

// Bedrock's ConverseStream answers are AWS event-stream frames. A case
// lists them readably in upstream_events.txt, one message a line:
//
//	<event type> <JSON payload>          an event (":message-type" event)
//	!<exception type> <JSON payload>     an exception
//
// (blank lines and lines starting with "#" are skipped), and holds their
// bytes in upstream_stream.hex, which the stream reader is fed. The frames
// are written by this file's own encoder, not the codec's, so that the two
// check each other.

// frameEvent is one event-stream message of a case.
type frameEvent struct {
	exception bool
	typ       string
	payload   []byte
}

func parseFrameEvents(s string) ([]frameEvent, error) {
	var out []frameEvent
	for n, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		typ, payload, ok := strings.Cut(line, " ")
		if !ok || !json.Valid([]byte(payload)) {
			return nil, fmt.Errorf("line %d: want \"<type> <JSON>\", got %q", n+1, line)
		}
		ev := frameEvent{typ: typ, payload: []byte(payload)}
		if t, ok := strings.CutPrefix(typ, "!"); ok {
			ev.exception, ev.typ = true, t
		}
		out = append(out, ev)
	}
	return out, nil
}

// encodeFrames renders messages as Bedrock sends them: headers
// :event-type (or :exception-type), :content-type, :message-type.
func encodeFrames(evs []frameEvent) []byte {
	var out []byte
	for _, ev := range evs {
		var hdr []byte
		if ev.exception {
			hdr = appendStringHeader(hdr, ":exception-type", ev.typ)
		} else {
			hdr = appendStringHeader(hdr, ":event-type", ev.typ)
		}
		hdr = appendStringHeader(hdr, ":content-type", "application/json")
		if ev.exception {
			hdr = appendStringHeader(hdr, ":message-type", "exception")
		} else {
			hdr = appendStringHeader(hdr, ":message-type", "event")
		}
		total := 12 + len(hdr) + len(ev.payload) + 4
		start := len(out)
		out = binary.BigEndian.AppendUint32(out, uint32(total))
		out = binary.BigEndian.AppendUint32(out, uint32(len(hdr)))
		out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[start:start+8]))
		out = append(out, hdr...)
		out = append(out, ev.payload...)
		out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[start:]))
	}
	return out
}

func appendStringHeader(b []byte, name, value string) []byte {
	b = append(b, byte(len(name)))
	b = append(b, name...)
	b = append(b, 7) // string
	b = binary.BigEndian.AppendUint16(b, uint16(len(value)))
	return append(b, value...)
}

// decodeFrames splits event-stream bytes into messages, checking the
// CRCs, for the semantic reader of Bedrock streams.
func decodeFrames(b []byte) ([]frameEvent, error) {
	var out []frameEvent
	for len(b) > 0 {
		if len(b) < 16 {
			return out, fmt.Errorf("%d trailing bytes", len(b))
		}
		total := int(binary.BigEndian.Uint32(b))
		hlen := int(binary.BigEndian.Uint32(b[4:]))
		if total < 16 || total > len(b) || 12+hlen+4 > total {
			return out, fmt.Errorf("bad prelude: total %d, headers %d, %d bytes left", total, hlen, len(b))
		}
		if crc32.ChecksumIEEE(b[:8]) != binary.BigEndian.Uint32(b[8:]) {
			return out, fmt.Errorf("bad prelude CRC")
		}
		if crc32.ChecksumIEEE(b[:total-4]) != binary.BigEndian.Uint32(b[total-4:]) {
			return out, fmt.Errorf("bad message CRC")
		}
		headers := map[string]string{}
		h := b[12 : 12+hlen]
		for len(h) > 0 {
			n := int(h[0])
			if len(h) < 1+n+3 || h[1+n] != 7 {
				return out, fmt.Errorf("unexpected header encoding")
			}
			name := string(h[1 : 1+n])
			vlen := int(binary.BigEndian.Uint16(h[2+n:]))
			if len(h) < 4+n+vlen {
				return out, fmt.Errorf("short header value")
			}
			headers[name] = string(h[4+n : 4+n+vlen])
			h = h[4+n+vlen:]
		}
		ev := frameEvent{typ: headers[":event-type"], payload: bytes.Clone(b[12+hlen : total-4])}
		if headers[":message-type"] == "exception" {
			ev.exception, ev.typ = true, headers[":exception-type"]
		}
		out = append(out, ev)
		b = b[total:]
	}
	return out, nil
}

func TestFrameRoundTrip(t *testing.T) {
	evs, err := parseFrameEvents("# a comment\nmessageStart {\"role\":\"assistant\"}\n\n!throttlingException {\"message\":\"slow down\"}\n")
	if err != nil || len(evs) != 2 {
		t.Fatalf("parse: %v, %+v", err, evs)
	}
	b := encodeFrames(evs)
	back, err := decodeFrames(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 || back[0].typ != "messageStart" || back[0].exception || !back[1].exception ||
		back[1].typ != "throttlingException" || string(back[1].payload) != `{"message":"slow down"}` {
		t.Errorf("round trip: %+v", back)
	}
	b[len(b)-1] ^= 1
	if _, err := decodeFrames(b); err == nil {
		t.Error("a corrupt CRC was accepted")
	}
	if _, err := parseFrameEvents("messageStart not-json"); err == nil {
		t.Error("a line without a JSON payload was accepted")
	}
}
