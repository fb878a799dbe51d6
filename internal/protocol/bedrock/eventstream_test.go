package bedrock

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Vectors from the AWS SDK for Go v2
// (aws/protocol/eventstream/testdata/encoded/{positive,negative}).
var (
	vecAllHeaders = "000000cc000000af0fae64ca0a6576656e742d74797065040000a00c0c636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0a626f6f6c2066616c73650109626f6f6c207472756500046279746502cf08627974652062756606001449276d2061206c6974746c6520746561706f74210974696d657374616d70080000000000845fed05696e74313603002a05696e7436340500000000028757b20475756964090102030405060708090a0b0c0d0e0f107b27666f6f273a27626172277daba5f10c"
	vecEmpty      = "000000100000000005c248eb7d98c8ff"
	vecInt32      = "0000002d0000001041c424b80a6576656e742d74797065040000a00c7b27666f6f273a27626172277d36f480a0"
	vecNoHeaders  = "0000001d00000000fd528c5a7b27666f6f273a27626172277dc3653936"
	vecOneString  = "0000003d0000002007fd83960c636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e7b27666f6f273a27626172277d8d9c08b1"

	negCorruptedHeaderLen = "0000003d0000002107fd83960c636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e7b27666f6f273a27626172277d8d9c08b1"
	negCorruptedHeaders   = "0000003d0000002007fd83960c636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e7b61666f6f273a27626172277d8d9c08b1"
	negCorruptedLength    = "0000003e0000002007fd83960c636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e7b27666f6f273a27626172277d8d9c08b1"
	negCorruptedPayload   = "0000001d00000000fd528c5a5b27666f6f273a27626172277dc3653936"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type decoded struct {
	Headers []Header
	Payload []byte
}

func decodeAll(b []byte, pieces [][]byte) ([]decoded, error) {
	msgs, _, err := decodeAllPending(b, pieces)
	return msgs, err
}

// decodeAllPending also returns the bytes of an incomplete message left.
func decodeAllPending(b []byte, pieces [][]byte) ([]decoded, int, error) {
	var d Decoder
	var out []decoded
	fn := func(m *Message) error {
		hs := make([]Header, len(m.Headers))
		for i, h := range m.Headers {
			if v, ok := h.Value.([]byte); ok {
				h.Value = bytes.Clone(v)
			}
			hs[i] = h
		}
		out = append(out, decoded{Headers: hs, Payload: bytes.Clone(m.Payload)})
		return nil
	}
	if pieces == nil {
		pieces = [][]byte{b}
	}
	for _, p := range pieces {
		if err := d.Feed(p, fn); err != nil {
			return out, d.Pending(), err
		}
	}
	return out, d.Pending(), nil
}

func TestDecodeAWSVectors(t *testing.T) {
	payload := []byte("{'foo':'bar'}")
	cases := []struct {
		name string
		hex  string
		want decoded
	}{
		{"all_headers", vecAllHeaders, decoded{Headers: []Header{
			{"event-type", int32(40972)},
			{"content-type", "application/json"},
			{"bool false", false},
			{"bool true", true},
			{"byte", int8(-49)},
			{"byte buf", []byte("I'm a little teapot!")},
			{"timestamp", time.UnixMilli(8675309).UTC()},
			{"int16", int16(42)},
			{"int64", int64(42424242)},
			{"uuid", UUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
		}, Payload: payload}},
		{"empty_message", vecEmpty, decoded{Payload: []byte{}}},
		{"int32_header", vecInt32, decoded{Headers: []Header{{"event-type", int32(40972)}}, Payload: payload}},
		{"payload_no_headers", vecNoHeaders, decoded{Payload: payload}},
		{"payload_one_str_header", vecOneString, decoded{Headers: []Header{{"content-type", "application/json"}}, Payload: payload}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := unhex(t, tc.hex)
			got, err := decodeAll(raw, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("%d messages", len(got))
			}
			if diff := cmp.Diff(tc.want, got[0], cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// Encoding gives back the exact bytes.
			enc, err := AppendMessage(nil, Message(tc.want))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, raw) {
				t.Errorf("encoded\n%x\nwant\n%x", enc, raw)
			}
			// Byte by byte, the same.
			got2, err := decodeAll(raw, bytewise(raw))
			if err != nil || len(got2) != 1 || !cmp.Equal(got2[0], got[0], cmpopts.EquateEmpty()) {
				t.Errorf("byte by byte: %v %+v", err, got2)
			}
		})
	}
}

func TestDecodeAWSNegativeVectors(t *testing.T) {
	for name, h := range map[string]string{
		"corrupted_header_len": negCorruptedHeaderLen,
		"corrupted_headers":    negCorruptedHeaders,
		"corrupted_length":     negCorruptedLength,
		"corrupted_payload":    negCorruptedPayload,
	} {
		t.Run(name, func(t *testing.T) {
			raw := unhex(t, h)
			// Pad so that a corrupted length still completes a "message".
			raw = append(raw, make([]byte, 8)...)
			if _, err := decodeAll(raw, nil); !errors.Is(err, ErrFrame) {
				t.Errorf("error %v, want ErrFrame", err)
			}
		})
	}
}

// frame builds a raw message with a valid prelude CRC, the given lengths
// and body, and a valid message CRC.
func frame(total, hlen uint32, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, total)
	b = binary.BigEndian.AppendUint32(b, hlen)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	b = append(b, body...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

func TestDecoderLimits(t *testing.T) {
	cases := []struct {
		name string
		raw  []byte
	}{
		{"too large", frame(MaxFrameSize+1, 0, nil)[:preludeLen]},
		{"too small", frame(15, 0, nil)[:preludeLen]},
		{"headers longer than message", frame(20, 5, []byte{1, 2, 3, 4})},
		{"truncated header name", frame(18, 2, []byte{5, 'a'})},
		{"unknown header type", frame(19, 3, []byte{1, 'a', 42})},
		{"truncated string value", frame(21, 5, []byte{1, 'a', 7, 0, 9})},
		{"truncated int64", frame(20, 4, []byte{1, 'a', 5, 0})},
		{"truncated uuid", frame(19, 3, []byte{1, 'a', 9})},
		{"bad prelude crc", func() []byte {
			b := frame(16, 0, nil)
			b[8] ^= 1
			return b
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			err := d.Feed(tc.raw, func(*Message) error { return nil })
			if !errors.Is(err, ErrFrame) {
				t.Errorf("error %v, want ErrFrame", err)
			}
			// Fed in pieces, the same error, and no more than one frame held.
			var d2 Decoder
			for _, p := range bytewise(tc.raw) {
				if err = d2.Feed(p, func(*Message) error { return nil }); err != nil {
					break
				}
			}
			if !errors.Is(err, ErrFrame) {
				t.Errorf("bytewise error %v, want ErrFrame", err)
			}
		})
	}
}

// TestDecoderHoldsOneFrame checks that the decoder buffers at most the
// incomplete message, never what it has already decoded.
func TestDecoderHoldsOneFrame(t *testing.T) {
	var stream []byte
	for i := range 50 {
		stream, _ = AppendMessage(stream, Message{Headers: []Header{{Name: "n", Value: int32(i)}}, Payload: bytes.Repeat([]byte("x"), i*10)})
	}
	var d Decoder
	n := 0
	rng := rand.New(rand.NewPCG(7, 7))
	for _, p := range cuts(stream, rng) {
		if err := d.Feed(p, func(*Message) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if d.Pending() > preludeLen+49*10+20 {
			t.Fatalf("holding %d bytes", d.Pending())
		}
	}
	if n != 50 || d.Pending() != 0 {
		t.Errorf("%d messages, %d pending", n, d.Pending())
	}
}

func TestAppendMessageErrors(t *testing.T) {
	cases := []Message{
		{Headers: []Header{{Name: "", Value: "x"}}},
		{Headers: []Header{{Name: "a", Value: 3.5}}},
		{Headers: []Header{{Name: "a", Value: string(make([]byte, 1<<15))}}},
		{Payload: make([]byte, MaxFrameSize)},
	}
	for i, m := range cases {
		if _, err := AppendMessage(nil, m); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
}

func TestCallbackErrorStops(t *testing.T) {
	var stream []byte
	stream, _ = AppendMessage(stream, Message{Payload: []byte("a")})
	stream, _ = AppendMessage(stream, Message{Payload: []byte("b")})
	var d Decoder
	boom := errors.New("boom")
	n := 0
	err := d.Feed(stream, func(*Message) error { n++; return boom })
	if !errors.Is(err, boom) || n != 1 {
		t.Errorf("err %v after %d messages", err, n)
	}
}

// FuzzDecoder: no panic; whatever decodes re-encodes to the same bytes
// (decode -> encode is a fixed point), whole or cut.
func FuzzDecoder(f *testing.F) {
	for _, h := range []string{vecAllHeaders, vecEmpty, vecInt32, vecNoHeaders, vecOneString,
		negCorruptedHeaderLen, negCorruptedHeaders, negCorruptedLength, negCorruptedPayload} {
		b, _ := hex.DecodeString(h)
		f.Add(b, uint8(3))
	}
	f.Fuzz(func(t *testing.T, raw []byte, step uint8) {
		msgs, pending, err := decodeAllPending(raw, nil)
		var re []byte
		for _, m := range msgs {
			var encErr error
			re, encErr = AppendMessage(re, Message(m))
			if encErr != nil {
				t.Fatalf("decoded message does not encode: %v", encErr)
			}
		}
		if err == nil && !bytes.Equal(re, raw[:len(raw)-pending]) {
			t.Fatalf("re-encoded\n%x\nwant\n%x", re, raw)
		}
		// The same in pieces of step bytes.
		n := int(step%16) + 1
		var pieces [][]byte
		for b := raw; len(b) > 0; {
			k := min(n, len(b))
			pieces = append(pieces, b[:k])
			b = b[k:]
		}
		msgs2, err2 := decodeAll(raw, pieces)
		if (err == nil) != (err2 == nil) || !cmp.Equal(msgs, msgs2, cmpopts.EquateEmpty()) {
			t.Fatalf("whole: %v %d msgs; pieces: %v %d msgs", err, len(msgs), err2, len(msgs2))
		}
	})
}
