package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/sluicehq/sluice/internal/golden"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/protocol/openai"
)

var testClient = ClientCodec{
	Now:   func() time.Time { return time.Unix(1700000000, 0) },
	NewID: func() string { return "0123abcd" },
}

// TestClientGolden runs testdata/client: a Responses request decoded to the
// canonical form (or a 400), and canonical answers, streams and errors
// rendered as the Responses API does.
func TestClientGolden(t *testing.T) {
	goldenSpec.ClientCodecCases(t, "client", *update, testClient, "gpt-test", nil)
}

// TestTapGolden runs testdata/tap: Responses streams and bodies as OpenAI
// sends them, read by the metering tap.
func TestTapGolden(t *testing.T) {
	for _, path := range golden.Files(t, "tap") {
		t.Run(golden.CaseName(path), func(t *testing.T) {
			goldenSpec.Run(t, path, *update, func(t *testing.T, a *golden.Archive) map[string]string {
				out := map[string]string{}
				if s, ok := a.Get("upstream-stream.sse"); ok {
					out["events.json"] = golden.IndentJSON(t, readStream(t, []byte(s), nil))
				}
				if s, ok := a.Get("upstream-response.json"); ok {
					u, ok := UsageFromBody([]byte(s))
					out["usage.json"] = golden.IndentJSON(t, map[string]any{"ok": ok, "usage": u})
				}
				return out
			})
		})
	}
}

type streamResult struct {
	Events []golden.Event `json:"events"`
	Done   bool           `json:"done"`
	Usage  *llm.Usage     `json:"usage,omitempty"`
	Err    string         `json:"err,omitempty"`
}

func readStream(t *testing.T, stream []byte, cut func([]byte) [][]byte) streamResult {
	t.Helper()
	r := NewTap()
	var evs []llm.Event
	pieces := [][]byte{stream}
	if cut != nil {
		pieces = cut(stream)
	}
	var res streamResult
	for _, p := range pieces {
		if err := r.Feed(p, func(ev llm.Event) { evs = append(evs, ev) }); err != nil {
			res.Err = err.Error()
			break
		}
	}
	res.Events = golden.Events(evs)
	res.Done = r.Done()
	if u, ok := r.Usage(); ok {
		res.Usage = &u
	}
	return res
}

// streams returns the Responses streams of the golden files: the tap's
// inputs, and the client writer's outputs.
func streams(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, dir := range []string{"tap", "client"} {
		for _, path := range golden.Files(t, dir) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			a := golden.Parse(string(data))
			for _, name := range []string{"upstream-stream.sse", "stream.sse"} {
				if s, ok := a.Get(name); ok {
					out[dir+"/"+golden.CaseName(path)] = []byte(s)
				}
			}
		}
	}
	return out
}

// TestTapSplitInvariance feeds every golden stream byte by byte and in
// random cuts: the events are the same as when it is fed whole.
func TestTapSplitInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for name, stream := range streams(t) {
		t.Run(name, func(t *testing.T) {
			whole := readStream(t, stream, nil)
			bytewise := readStream(t, stream, func(b []byte) [][]byte {
				var out [][]byte
				for i := range b {
					out = append(out, b[i:i+1])
				}
				return out
			})
			if diff := cmp.Diff(whole, bytewise); diff != "" {
				t.Errorf("byte by byte (-whole +split):\n%s", diff)
			}
			for trial := 0; trial < 20; trial++ {
				got := readStream(t, stream, func(b []byte) [][]byte {
					var out [][]byte
					for len(b) > 0 {
						n := 1 + rng.IntN(min(len(b), 40))
						out = append(out, b[:n])
						b = b[n:]
					}
					return out
				})
				if diff := cmp.Diff(whole, got); diff != "" {
					t.Fatalf("random cuts (-whole +split):\n%s", diff)
				}
			}
		})
	}
}

// TestTapTruncated cuts every golden stream before its terminal event:
// the tap must not report it done, nor emit a stop.
func TestTapTruncated(t *testing.T) {
	for name, stream := range streams(t) {
		t.Run(name, func(t *testing.T) {
			end := -1
			for _, term := range []string{"event: response.completed", "event: response.incomplete", "event: response.failed"} {
				if i := bytes.LastIndex(stream, []byte(term)); i > end {
					end = i
				}
			}
			if end < 0 {
				t.Skip("no terminal event")
			}
			for cut := 0; cut < end; cut += max(1, end/40) {
				res := readStream(t, stream[:cut], nil)
				if res.Done {
					t.Fatalf("cut at %d: Done() = true", cut)
				}
				for _, ev := range res.Events {
					if ev.Type == "stop" {
						t.Fatalf("cut at %d: a stop event was emitted", cut)
					}
				}
			}
			if !readStream(t, stream, nil).Done {
				t.Error("the whole stream is not done")
			}
		})
	}
}

// TestWriterTapRoundTrip renders every golden event list with the client
// writer and reads it back with the tap: text, thinking with its signature,
// tool calls, stop reason and usage survive.
func TestWriterTapRoundTrip(t *testing.T) {
	for _, path := range golden.Files(t, "client") {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s, ok := golden.Parse(string(data)).Get("canonical-events.json")
		if !ok {
			continue
		}
		t.Run(golden.CaseName(path), func(t *testing.T) {
			evs := golden.ParseEvents(t, s)
			var buf bytes.Buffer
			if err := golden.WriteEvents(testClient.NewStreamWriter(&buf, &llm.Request{Model: "m", Stream: true}), evs); err != nil {
				t.Fatal(err)
			}
			res := readStream(t, buf.Bytes(), nil)
			back := golden.ParseEvents(t, mustJSON(t, res.Events))
			if diff := cmp.Diff(fold(evs), fold(back)); diff != "" {
				t.Errorf("round trip (-written +read):\n%s\nstream:\n%s", diff, buf.String())
			}
		})
	}
}

type folded struct {
	Text, Thinking, Signature string
	Tools                     []string
	Stop                      llm.StopReason
	Usage                     *llm.Usage
	Failed                    bool
}

func fold(evs []llm.Event) folded {
	var f folded
	blocks := map[int]int{}
	for _, ev := range evs {
		switch ev.Type {
		case llm.EvBlockStart:
			if ev.Block != nil && ev.Block.Type == llm.PartToolCall {
				blocks[ev.Index] = len(f.Tools)
				f.Tools = append(f.Tools, ev.Block.ToolCallID+" "+ev.Block.ToolName+" ")
			}
		case llm.EvTextDelta:
			f.Text += ev.Text
		case llm.EvThinkingDelta:
			f.Thinking += ev.Text
		case llm.EvSignatureDelta:
			f.Signature += ev.Text
		case llm.EvToolArgsDelta:
			f.Tools[blocks[ev.Index]] += ev.Text
		case llm.EvStop:
			f.Stop = ev.StopReason
			switch f.Stop {
			case llm.StopSequence, llm.StopPauseTurn:
				f.Stop = llm.StopEndTurn
			case llm.StopRefusal:
				f.Stop = llm.StopContentFilter
			}
			if f.Usage = ev.Usage; f.Usage == nil {
				f.Usage = &llm.Usage{}
			}
		case llm.EvError:
			f.Failed = true
			return f
		}
	}
	return f
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDecodeRequestErrorsAre400 checks the status and param of decode
// failures over a set of bad bodies.
func TestDecodeRequestErrorsAre400(t *testing.T) {
	tests := []struct{ name, body, param string }{
		{"not json", `{`, ""},
		{"no model", `{"input":"hi"}`, "model"},
		{"no input", `{"model":"m"}`, "input"},
		{"input number", `{"model":"m","input":5}`, "input"},
		{"empty input", `{"model":"m","input":[]}`, "input"},
		{"bad role", `{"model":"m","input":[{"role":"robot","content":"x"}]}`, "input[0].role"},
		{"bad args", `{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{"}]}`, "input[0].arguments"},
		{"output without call id", `{"model":"m","input":[{"type":"function_call_output","output":"x"}]}`, "input[0].call_id"},
		{"unknown item", `{"model":"m","input":[{"type":"computer_call","call_id":"c"}]}`, "input[0].type"},
		{"effort", `{"model":"m","input":"hi","reasoning":{"effort":"max"}}`, "reasoning.effort"},
		{"instructions list", `{"model":"m","input":"hi","instructions":[{"role":"system","content":"x"}]}`, "instructions"},
		{"bad temperature", `{"model":"m","input":"hi","temperature":"warm"}`, "temperature"},
		{"tool choice", `{"model":"m","input":"hi","tool_choice":"maybe"}`, "tool_choice"},
		{"include", `{"model":"m","input":"hi","include":["web_search_call.action.sources"]}`, "include"},
		{"image in assistant", `{"model":"m","input":[{"role":"assistant","content":[{"type":"input_image","image_url":"http://x"}]}]}`, "input[0].content[0].type"},
		{"annotations", `{"model":"m","input":[{"role":"assistant","content":[{"type":"output_text","text":"x","annotations":[{"type":"url_citation"}]}]}]}`, "input[0].content[0].annotations"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Client.DecodeRequest([]byte(tc.body), "")
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *llm.Error", err)
			}
			if e.Status != 400 || e.Param != tc.param {
				t.Errorf("err = %+v, want 400 with param %q", e, tc.param)
			}
		})
	}
}

func TestUsageFromBodyMissing(t *testing.T) {
	for _, body := range []string{``, `{}`, `{"usage":null}`, `not json`} {
		if _, ok := UsageFromBody([]byte(body)); ok {
			t.Errorf("UsageFromBody(%q) ok", body)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, path := range golden.Files(f, "client") {
		if s, ok := archiveOf(f, path).Get("request.json"); ok {
			f.Add([]byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := testClient.DecodeRequest(body, "")
		if err != nil {
			var e *llm.Error
			if !errors.As(err, &e) || e.Status != 400 {
				t.Fatalf("DecodeRequest error %v is not a 400 *llm.Error", err)
			}
			return
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("the canonical request does not marshal: %v", err)
		}
		// Whatever decodes must encode for a Chat Completions upstream or
		// fail with a 400, and render back as a response.
		if _, err := openai.Upstream.EncodeRequest(r, "m"); err != nil {
			var e *llm.Error
			if !errors.As(err, &e) || e.Status != 400 {
				t.Fatalf("EncodeRequest error %v is not a 400 *llm.Error", err)
			}
		}
	})
}

func FuzzTap(f *testing.F) {
	for _, path := range golden.Files(f, "tap") {
		if s, ok := archiveOf(f, path).Get("upstream-stream.sse"); ok {
			f.Add([]byte(s), uint16(5))
		}
	}
	f.Fuzz(func(t *testing.T, stream []byte, cut uint16) {
		tap := NewTap()
		var buf bytes.Buffer
		w := testClient.NewStreamWriter(&buf, &llm.Request{Model: "m"})
		n := max(1, int(cut)%64)
		for len(stream) > 0 {
			k := min(n, len(stream))
			if err := tap.Feed(stream[:k], func(ev llm.Event) { _ = w.Write(ev) }); err != nil {
				return
			}
			stream = stream[k:]
		}
		if !tap.Done() {
			_ = w.Fail(nil)
		}
		_, _ = UsageFromBody(buf.Bytes())
	})
}

func archiveOf(f *testing.F, path string) *golden.Archive {
	data, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return golden.Parse(string(data))
}
