package bedrock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// The AWS event-stream framing (application/vnd.amazon.eventstream), as
// github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream reads and writes it.
// A message is
//
//	[total length u32][headers length u32][prelude CRC32 u32]
//	[headers][payload][message CRC32 u32]
//
// big-endian, where the prelude CRC covers the first 8 bytes and the
// message CRC everything before it (both CRC-32/IEEE). A header is
// [name length u8][name][value type u8][value], the value typed:
// 0 true, 1 false, 2 int8, 3 int16, 4 int32, 5 int64, 6 bytes (u16 length),
// 7 string (u16 length), 8 timestamp (int64 ms since the epoch), 9 UUID
// (16 bytes).

// MaxFrameSize is the largest event-stream message the decoder accepts.
// Bedrock's messages are a few KiB; a larger length means a corrupt or
// hostile stream.
const MaxFrameSize = 16 << 20

const (
	preludeLen = 12 // total length, headers length, prelude CRC
	minFrame   = preludeLen + 4
)

// Header value types.
const (
	typeTrue byte = iota
	typeFalse
	typeInt8
	typeInt16
	typeInt32
	typeInt64
	typeBytes
	typeString
	typeTimestamp
	typeUUID
)

// Header is one typed event-stream header. Value is one of bool, int8,
// int16, int32, int64, []byte, string, time.Time or UUID.
type Header struct {
	Name  string
	Value any
}

// UUID is the value of a UUID header.
type UUID [16]byte

// Message is one event-stream message.
type Message struct {
	Headers []Header
	Payload []byte
}

// String returns the string value of header name, and whether there is one.
func (m *Message) String(name string) (string, bool) {
	for _, h := range m.Headers {
		if h.Name == name {
			s, ok := h.Value.(string)
			return s, ok
		}
	}
	return "", false
}

// ErrFrame is wrapped by every framing error (bad length, bad CRC, bad
// header).
var ErrFrame = errors.New("bedrock: malformed event-stream message")

func frameErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFrame, fmt.Sprintf(format, args...))
}

// AppendMessage appends the encoding of m to dst.
func AppendMessage(dst []byte, m Message) ([]byte, error) {
	var hdr []byte
	for _, h := range m.Headers {
		if len(h.Name) == 0 || len(h.Name) > 255 {
			return dst, fmt.Errorf("bedrock: header name %q: length must be 1..255", h.Name)
		}
		hdr = append(hdr, byte(len(h.Name)))
		hdr = append(hdr, h.Name...)
		switch v := h.Value.(type) {
		case bool:
			if v {
				hdr = append(hdr, typeTrue)
			} else {
				hdr = append(hdr, typeFalse)
			}
		case int8:
			hdr = append(hdr, typeInt8, byte(v))
		case int16:
			hdr = binary.BigEndian.AppendUint16(append(hdr, typeInt16), uint16(v))
		case int32:
			hdr = binary.BigEndian.AppendUint32(append(hdr, typeInt32), uint32(v))
		case int64:
			hdr = binary.BigEndian.AppendUint64(append(hdr, typeInt64), uint64(v))
		case []byte:
			if len(v) > 1<<15-1 {
				return dst, fmt.Errorf("bedrock: header %q: value too long", h.Name)
			}
			hdr = binary.BigEndian.AppendUint16(append(hdr, typeBytes), uint16(len(v)))
			hdr = append(hdr, v...)
		case string:
			if len(v) > 1<<15-1 {
				return dst, fmt.Errorf("bedrock: header %q: value too long", h.Name)
			}
			hdr = binary.BigEndian.AppendUint16(append(hdr, typeString), uint16(len(v)))
			hdr = append(hdr, v...)
		case time.Time:
			hdr = binary.BigEndian.AppendUint64(append(hdr, typeTimestamp), uint64(v.UnixMilli()))
		case UUID:
			hdr = append(append(hdr, typeUUID), v[:]...)
		default:
			return dst, fmt.Errorf("bedrock: header %q: unsupported value type %T", h.Name, h.Value)
		}
	}
	total := minFrame + len(hdr) + len(m.Payload)
	if total > MaxFrameSize {
		return dst, fmt.Errorf("bedrock: event-stream message of %d bytes exceeds %d", total, MaxFrameSize)
	}
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(total))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(hdr)))
	dst = binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:start+8]))
	dst = append(dst, hdr...)
	dst = append(dst, m.Payload...)
	dst = binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
	return dst, nil
}

// Decoder splits an event-stream into messages. Bytes may be cut anywhere;
// the decoder holds at most one incomplete message. Errors are sticky. The
// zero value is ready to use; it is used by one goroutine.
type Decoder struct {
	buf   []byte // the incomplete message, from its first byte
	total int    // its length once the prelude is known, else 0
	err   error
}

// Feed decodes the messages that b completes and calls fn for each. The
// message (its payload and []byte headers) is valid only during the call.
// An error from fn stops decoding and is returned.
func (d *Decoder) Feed(b []byte, fn func(*Message) error) error {
	if d.err != nil {
		return d.err
	}
	if err := d.feed(b, fn); err != nil {
		d.err = err
		d.buf, d.total = nil, 0
		return err
	}
	return nil
}

func (d *Decoder) feed(b []byte, fn func(*Message) error) error {
	for len(b) > 0 {
		if len(d.buf) == 0 && len(b) >= preludeLen {
			// Fast path: decode straight from b when it holds the whole message.
			total, err := checkPrelude(b[:preludeLen])
			if err != nil {
				return err
			}
			if len(b) >= total {
				if err := decodeFrame(b[:total], fn); err != nil {
					return err
				}
				b = b[total:]
				continue
			}
		}
		need := preludeLen
		if d.total > 0 {
			need = d.total
		}
		n := min(need-len(d.buf), len(b))
		d.buf = append(d.buf, b[:n]...)
		b = b[n:]
		if len(d.buf) < need {
			return nil
		}
		if d.total == 0 {
			total, err := checkPrelude(d.buf)
			if err != nil {
				return err
			}
			d.total = total
			continue
		}
		err := decodeFrame(d.buf, fn)
		d.total = 0
		if cap(d.buf) > 1<<20 {
			d.buf = nil // do not keep a large buffer for the rest of the stream
		} else {
			d.buf = d.buf[:0]
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Pending returns the number of bytes of an incomplete message held.
func (d *Decoder) Pending() int { return len(d.buf) }

// checkPrelude validates the 12-byte prelude p and returns the total length.
func checkPrelude(p []byte) (int, error) {
	total := binary.BigEndian.Uint32(p[0:4])
	hlen := binary.BigEndian.Uint32(p[4:8])
	if got, want := crc32.ChecksumIEEE(p[:8]), binary.BigEndian.Uint32(p[8:12]); got != want {
		return 0, frameErr("prelude checksum %08x, want %08x", got, want)
	}
	if total < minFrame || total > MaxFrameSize {
		return 0, frameErr("message length %d out of range [%d, %d]", total, minFrame, MaxFrameSize)
	}
	if hlen > total-minFrame {
		return 0, frameErr("headers length %d exceeds message length %d", hlen, total)
	}
	return int(total), nil
}

// decodeFrame decodes one whole message f whose prelude has been checked.
func decodeFrame(f []byte, fn func(*Message) error) error {
	end := len(f) - 4
	if got, want := crc32.ChecksumIEEE(f[:end]), binary.BigEndian.Uint32(f[end:]); got != want {
		return frameErr("message checksum %08x, want %08x", got, want)
	}
	hlen := int(binary.BigEndian.Uint32(f[4:8]))
	headers, err := decodeHeaders(f[preludeLen : preludeLen+hlen])
	if err != nil {
		return err
	}
	return fn(&Message{Headers: headers, Payload: f[preludeLen+hlen : end]})
}

// intern returns the strings every Bedrock message repeats without
// allocating them again.
func intern(b []byte) string {
	switch string(b) {
	case ":event-type":
		return ":event-type"
	case ":content-type":
		return ":content-type"
	case ":message-type":
		return ":message-type"
	case ":exception-type":
		return ":exception-type"
	case "event":
		return "event"
	case "exception":
		return "exception"
	case "application/json":
		return "application/json"
	case "messageStart":
		return "messageStart"
	case "contentBlockStart":
		return "contentBlockStart"
	case "contentBlockDelta":
		return "contentBlockDelta"
	case "contentBlockStop":
		return "contentBlockStop"
	case "messageStop":
		return "messageStop"
	case "metadata":
		return "metadata"
	}
	return string(b)
}

func decodeHeaders(b []byte) ([]Header, error) {
	hs := make([]Header, 0, 3)
	for len(b) > 0 {
		n := int(b[0])
		if len(b) < 1+n+1 {
			return nil, frameErr("truncated header")
		}
		name := intern(b[1 : 1+n])
		typ := b[1+n]
		b = b[2+n:]
		var v any
		fixed := func(size int) ([]byte, bool) {
			if len(b) < size {
				return nil, false
			}
			x := b[:size]
			b = b[size:]
			return x, true
		}
		ok := true
		var x []byte
		switch typ {
		case typeTrue:
			v = true
		case typeFalse:
			v = false
		case typeInt8:
			if x, ok = fixed(1); ok {
				v = int8(x[0])
			}
		case typeInt16:
			if x, ok = fixed(2); ok {
				v = int16(binary.BigEndian.Uint16(x))
			}
		case typeInt32:
			if x, ok = fixed(4); ok {
				v = int32(binary.BigEndian.Uint32(x))
			}
		case typeInt64:
			if x, ok = fixed(8); ok {
				v = int64(binary.BigEndian.Uint64(x))
			}
		case typeTimestamp:
			if x, ok = fixed(8); ok {
				v = time.UnixMilli(int64(binary.BigEndian.Uint64(x))).UTC()
			}
		case typeUUID:
			if x, ok = fixed(16); ok {
				v = UUID(x)
			}
		case typeBytes, typeString:
			if x, ok = fixed(2); ok {
				if x, ok = fixed(int(binary.BigEndian.Uint16(x))); ok {
					if typ == typeString {
						v = intern(x)
					} else {
						v = x
					}
				}
			}
		default:
			return nil, frameErr("header %q: unknown value type %d", name, typ)
		}
		if !ok {
			return nil, frameErr("header %q: truncated value", name)
		}
		hs = append(hs, Header{Name: name, Value: v})
	}
	return hs, nil
}
