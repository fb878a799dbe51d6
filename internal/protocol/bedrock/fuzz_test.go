package bedrock

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	wire "github.com/sluicehq/sluice/internal/apischema/bedrock"
	"github.com/sluicehq/sluice/internal/llm"
)

// seeds returns section name of every golden file of kind.
func seeds(f *testing.F, kind, name string) []string {
	files, _ := filepath.Glob(filepath.Join("testdata", kind, "*.txtar"))
	var out []string
	for _, file := range files {
		a, err := readArchive(file)
		if err != nil {
			f.Fatal(err)
		}
		if s, ok := a.Get(name); ok {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		f.Fatalf("no seeds in testdata/%s", kind)
	}
	return out
}

// FuzzEncodeRequest: any canonical request either encodes to a valid
// Converse body or is refused with a 400 naming the field; never a panic.
func FuzzEncodeRequest(f *testing.F) {
	for _, s := range seeds(f, "encode", "request.json") {
		f.Add(s, "anthropic.claude-3-5-sonnet-20240620-v1:0")
		f.Add(s, "us.amazon.nova-pro-v1:0")
	}
	f.Fuzz(func(t *testing.T, in, model string) {
		var req llm.Request
		if json.Unmarshal([]byte(in), &req) != nil {
			return
		}
		body, err := Upstream.EncodeRequest(&req, model)
		if err != nil {
			var le *llm.Error
			if !errors.As(err, &le) || le.Status != 400 || le.Param == "" {
				t.Fatalf("error %v is not a 400 naming a Param", err)
			}
			return
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		var cr wire.ConverseRequest
		if err := dec.Decode(&cr); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		// Encoding is deterministic.
		again, _ := Upstream.EncodeRequest(&req, model)
		if !bytes.Equal(body, again) {
			t.Fatal("encoding is not deterministic")
		}
	})
}

// FuzzDecodeResponse: no panic; a decoded answer has a stop reason and
// valid tool arguments.
func FuzzDecodeResponse(f *testing.F) {
	for _, s := range seeds(f, "response", "response.json") {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := Upstream.DecodeResponse(body)
		if err != nil {
			return
		}
		if resp.StopReason == "" || resp.Content == nil {
			t.Fatalf("response %+v", resp)
		}
		for _, p := range resp.Content {
			if p.Type == llm.PartToolCall && !json.Valid(p.Arguments) {
				t.Fatalf("tool call arguments %q", p.Arguments)
			}
		}
	})
}

// FuzzStreamReader: no panic, and the same events whether the bytes come
// whole or in pieces; events are well formed (no delta outside a block,
// EvStop at most once and only when Done).
func FuzzStreamReader(f *testing.F) {
	for _, s := range seeds(f, "stream", "frames") {
		b, _, err := buildStream(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(5))
	}
	f.Fuzz(func(t *testing.T, raw []byte, step uint8) {
		whole := runStream([][]byte{raw})
		n := int(step%32) + 1
		var pieces [][]byte
		for b := raw; len(b) > 0; {
			k := min(n, len(b))
			pieces = append(pieces, b[:k])
			b = b[k:]
		}
		cut := runStream(pieces)
		a, b := mustJSON(t, whole), mustJSON(t, cut)
		if a != b {
			t.Fatalf("whole:\n%s\npieces:\n%s", a, b)
		}
		open := map[int]bool{}
		stops := 0
		for _, ev := range append(whole.Events, whole.AfterEnd...) {
			switch ev.Type {
			case "block_start":
				if open[*ev.Index] {
					t.Fatalf("block %d started twice", *ev.Index)
				}
				open[*ev.Index] = true
			case "text_delta", "thinking_delta", "signature_delta", "tool_args_delta":
				if !open[*ev.Index] {
					t.Fatalf("%s outside block %d", ev.Type, *ev.Index)
				}
			case "block_stop":
				if !open[*ev.Index] {
					t.Fatalf("stop of unopened block %d", *ev.Index)
				}
				delete(open, *ev.Index)
			case "stop":
				stops++
				if len(open) > 0 || !whole.Done {
					t.Fatalf("EvStop with open blocks %v or before Done", open)
				}
			}
		}
		if stops > 1 {
			t.Fatalf("%d EvStop", stops)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzDecodeError: any status and body give an error with that status, a
// kind and a message.
func FuzzDecodeError(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "error", "*.txtar"))
	for _, file := range files {
		a, err := readArchive(file)
		if err != nil {
			f.Fatal(err)
		}
		st, _ := a.Get("status")
		body, _ := a.Get("body")
		status, _ := strconv.Atoi(strings.TrimSpace(st))
		f.Add(status, []byte(body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := Upstream.DecodeError(status, body)
		if e == nil || e.Status != status || e.Type == "" || e.Message == "" {
			t.Fatalf("DecodeError(%d, %q) = %+v", status, body, e)
		}
	})
}
