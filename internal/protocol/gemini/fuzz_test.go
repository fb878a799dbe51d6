package gemini

import (
	"bytes"
	"testing"

	"github.com/sluicehq/sluice/internal/llm"
)

// FuzzDecodeRequest: decoding never panics, and where a request decodes and
// encodes, decode -> encode is idempotent: the body encoded from the
// re-decoded request equals the first encoded body.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range goldenCorpus(f, "client", "request.json") {
		f.Add(s)
	}
	f.Add([]byte(`{"contents":{"parts":{"text":"hi"}}}`))
	f.Add([]byte(`{"contents":[{"parts":[{"text":""}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := Client.DecodeRequest(body, "gemini-2.5-flash")
		if err != nil {
			if _, ok := err.(*llm.Error); !ok {
				t.Fatalf("error %T is not an *llm.Error", err)
			}
			return
		}
		b2, err := Upstream.EncodeRequest(req, "gemini-2.5-flash")
		if err != nil {
			return
		}
		req2, err := Client.DecodeRequest(b2, "gemini-2.5-flash")
		if err != nil {
			t.Fatalf("the encoded request does not decode: %v\n%s", err, b2)
		}
		b3, err := Upstream.EncodeRequest(req2, "gemini-2.5-flash")
		if err != nil {
			t.Fatalf("the re-decoded request does not encode: %v", err)
		}
		if !bytes.Equal(b2, b3) {
			t.Fatalf("encode(decode(encode(decode(b)))) != encode(decode(b)):\n%s\n%s", b2, b3)
		}
	})
}

// FuzzDecodeResponse: decoding never panics, and a decoded answer encodes
// for a Gemini client and decodes back to the same content.
func FuzzDecodeResponse(f *testing.F) {
	for _, s := range goldenCorpus(f, "decode", "body.json") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := Upstream.DecodeResponse(body)
		if err != nil {
			return
		}
		out, err := Client.EncodeResponse(nil, resp)
		if err != nil {
			t.Fatalf("EncodeResponse: %v", err)
		}
		back, err := Upstream.DecodeResponse(out)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, out)
		}
		if a, b := withoutCallIDs(resp), withoutCallIDs(back); !equalJSON(a, b) {
			t.Fatalf("round trip changed the answer:\n%+v\n%+v\n%s", a, b, out)
		}
	})
}

// FuzzStreamReader: any bytes, cut anywhere, never panic, and give
// well-formed events: blocks start before their deltas and stop once, and
// nothing but an error follows the stop.
func FuzzStreamReader(f *testing.F) {
	for _, s := range goldenCorpus(f, "stream", "stream.sse") {
		f.Add(s, uint16(len(s)/2))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		c := int(cut)
		if c > len(data) {
			c = len(data)
		}
		evs, r, _ := readStream(data, []int{c})
		open := map[int]bool{}
		seen := map[int]bool{}
		stopped := false
		for i, e := range evs {
			if stopped && e.Type != llm.EvError {
				t.Fatalf("event %d (%v) after the stop", i, e.Type)
			}
			switch e.Type {
			case llm.EvBlockStart:
				if seen[e.Index] {
					t.Fatalf("block %d started twice", e.Index)
				}
				seen[e.Index], open[e.Index] = true, true
			case llm.EvTextDelta, llm.EvThinkingDelta, llm.EvSignatureDelta, llm.EvToolArgsDelta:
				if !open[e.Index] {
					t.Fatalf("delta for block %d, which is not open", e.Index)
				}
			case llm.EvBlockStop:
				if !open[e.Index] {
					t.Fatalf("stop of block %d, which is not open", e.Index)
				}
				delete(open, e.Index)
			case llm.EvStop:
				if len(open) > 0 {
					t.Fatalf("stop with blocks open: %v", open)
				}
				stopped = true
			}
		}
		if r.Done() != stopped {
			t.Fatalf("Done = %v, but stop seen = %v", r.Done(), stopped)
		}
	})
}

// FuzzDecodeError: any error body decodes without panic to an error with a
// message and an error status.
func FuzzDecodeError(f *testing.F) {
	for _, s := range goldenCorpus(f, "errors", "body") {
		f.Add(s, 400)
	}
	f.Fuzz(func(t *testing.T, body []byte, status int) {
		if status < 400 || status > 599 {
			status = 500
		}
		e := Upstream.DecodeError(status, body)
		if e == nil || e.Message == "" || e.Status < 400 || e.Status > 599 {
			t.Fatalf("DecodeError = %+v", e)
		}
		_ = Client.EncodeError(e)
	})
}

func equalJSON(a, b any) bool {
	x, err1 := marshal(a)
	y, err2 := marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
