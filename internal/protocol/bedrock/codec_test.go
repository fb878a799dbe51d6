package bedrock

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/sluicehq/sluice/internal/golden"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	wire "github.com/sluicehq/sluice/internal/apischema/bedrock"
	"github.com/sluicehq/sluice/internal/llm"
)

var update = flag.Bool("update", false, "rewrite the result sections of testdata/*/*.txtar")

func TestMain(m *testing.M) {
	newID = func() string { return "msg_bdrk_test" }
	os.Exit(m.Run())
}

// runGolden runs fn on every testdata/<kind>/*.txtar archive: fn returns the
// result section, which is compared with the file's (or written with
// -update).
func runGolden(t *testing.T, kind string, fn func(t *testing.T, a *golden.Archive) string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", kind, "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files for %s: %v", kind, err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".txtar")
		t.Run(name, func(t *testing.T) {
			a, err := readArchive(file)
			if err != nil {
				t.Fatal(err)
			}
			got := fn(t, a)
			if !strings.HasSuffix(got, "\n") {
				got += "\n"
			}
			if *update {
				setSection(a, "result.json", got)
				if err := os.WriteFile(file, []byte(a.Format()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, ok := a.Get("result.json")
			if !ok {
				t.Fatalf("%s has no result.json section (run with -update)", file)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("result mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func indentJSON(t testing.TB, v any) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func errorJSON(t testing.TB, err error) string {
	t.Helper()
	var le *llm.Error
	if errors.As(err, &le) {
		return indentJSON(t, map[string]any{"error": le})
	}
	return indentJSON(t, map[string]any{"error": err.Error()})
}

// TestEncodeRequest: llm.Request (request.json, model) -> Converse body.
func TestEncodeRequest(t *testing.T) {
	runGolden(t, "encode", func(t *testing.T, a *golden.Archive) string {
		in, _ := a.Get("request.json")
		model, _ := a.Get("model")
		var req llm.Request
		if err := json.Unmarshal([]byte(in), &req); err != nil {
			t.Fatalf("request.json: %v", err)
		}
		body, err := Upstream.EncodeRequest(&req, strings.TrimSpace(model))
		if err != nil {
			var le *llm.Error
			if !errors.As(err, &le) || le.Status != 400 || le.Param == "" {
				t.Errorf("error %v is not a 400 *llm.Error naming a Param", err)
			}
			return errorJSON(t, err)
		}
		// The body must be a valid Converse request, without unknown fields.
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		var cr wire.ConverseRequest
		if err := dec.Decode(&cr); err != nil {
			t.Errorf("body is not a Converse request: %v", err)
		}
		var out bytes.Buffer
		if err := json.Indent(&out, body, "", "  "); err != nil {
			t.Fatal(err)
		}
		return out.String()
	})
}

// TestDecodeResponse: Converse body (response.json) -> llm.Response.
func TestDecodeResponse(t *testing.T) {
	runGolden(t, "response", func(t *testing.T, a *golden.Archive) string {
		in, _ := a.Get("response.json")
		resp, err := Upstream.DecodeResponse([]byte(in))
		if err != nil {
			return errorJSON(t, err)
		}
		return indentJSON(t, resp)
	})
}

// TestDecodeError: status + body -> llm.Error.
func TestDecodeError(t *testing.T) {
	runGolden(t, "error", func(t *testing.T, a *golden.Archive) string {
		st, _ := a.Get("status")
		body, _ := a.Get("body")
		status, err := strconv.Atoi(strings.TrimSpace(st))
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		e := Upstream.DecodeError(status, []byte(strings.TrimSuffix(body, "\n")))
		if e == nil || e.Status != status || e.Message == "" || e.Type == "" {
			t.Errorf("DecodeError = %+v", e)
		}
		return indentJSON(t, e)
	})
}

// eventJSON is an llm.Event as the golden files show it.
type eventJSON struct {
	Type       string         `json:"type"`
	Index      *int           `json:"index,omitempty"`
	Block      *llm.Part      `json:"block,omitempty"`
	Text       string         `json:"text,omitempty"`
	ID         string         `json:"id,omitempty"`
	Model      string         `json:"model,omitempty"`
	StopReason llm.StopReason `json:"stop_reason,omitempty"`
	StopSeq    string         `json:"stop_seq,omitempty"`
	Usage      *llm.Usage     `json:"usage,omitempty"`
	Err        *llm.Error     `json:"error,omitempty"`
}

var eventNames = map[llm.EventType]string{
	llm.EvStart: "start", llm.EvBlockStart: "block_start", llm.EvTextDelta: "text_delta",
	llm.EvThinkingDelta: "thinking_delta", llm.EvSignatureDelta: "signature_delta",
	llm.EvToolArgsDelta: "tool_args_delta", llm.EvBlockStop: "block_stop", llm.EvStop: "stop", llm.EvError: "error",
}

func toEventJSON(ev llm.Event) eventJSON {
	e := eventJSON{Type: eventNames[ev.Type], Block: ev.Block, Text: ev.Text, ID: ev.ID, Model: ev.Model,
		StopReason: ev.StopReason, StopSeq: ev.StopSeq, Usage: ev.Usage, Err: ev.Err}
	if e.Type == "" {
		e.Type = fmt.Sprintf("unknown(%d)", ev.Type)
	}
	switch ev.Type {
	case llm.EvBlockStart, llm.EvTextDelta, llm.EvThinkingDelta, llm.EvSignatureDelta, llm.EvToolArgsDelta, llm.EvBlockStop:
		i := ev.Index
		e.Index = &i
	}
	return e
}

// streamResult is what a stream produces, as the golden files show it.
type streamResult struct {
	Events   []eventJSON `json:"events"`
	FeedErr  string      `json:"feed_error,omitempty"`
	Done     bool        `json:"done"`
	Usage    *llm.Usage  `json:"usage"`
	AfterEnd []eventJSON `json:"after_end,omitempty"`
	EndErr   string      `json:"end_error,omitempty"`
}

// runStream feeds stream in the given pieces and ends it.
func runStream(pieces [][]byte) streamResult {
	r := NewStreamReader()
	var res streamResult
	emit := func(ev llm.Event) { res.Events = append(res.Events, toEventJSON(ev)) }
	for _, p := range pieces {
		if err := r.Feed(p, emit); err != nil {
			res.FeedErr = err.Error()
			break
		}
	}
	res.Done = r.Done()
	if u, ok := r.Usage(); ok {
		res.Usage = &u
	}
	n := len(res.Events)
	if err := r.End(emit); err != nil {
		res.EndErr = err.Error()
	}
	res.AfterEnd = res.Events[n:]
	res.Events = res.Events[:n]
	return res
}

// cuts splits b at random points (and sometimes into single bytes).
func cuts(b []byte, rng *rand.Rand) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := 1 + rng.IntN(min(len(b), 1+rng.IntN(64)))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

func bytewise(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

// TestStreamReader: frames (a readable list) -> binary event stream ->
// events. Every stream gives the same result fed whole, byte by byte and in
// random cuts.
func TestStreamReader(t *testing.T) {
	runGolden(t, "stream", func(t *testing.T, a *golden.Archive) string {
		src, _ := a.Get("frames")
		stream, _, err := buildStream(src)
		if err != nil {
			t.Fatalf("frames: %v", err)
		}
		whole := runStream([][]byte{stream})
		got := indentJSON(t, whole)
		if s := indentJSON(t, runStream(bytewise(stream))); s != got {
			t.Errorf("byte by byte:\n%s\nwhole:\n%s", s, got)
		}
		rng := rand.New(rand.NewPCG(1, uint64(len(stream))))
		for range 20 {
			if s := indentJSON(t, runStream(cuts(stream, rng))); s != got {
				t.Fatalf("random cuts:\n%s\nwhole:\n%s", s, got)
			}
		}
		return got
	})
}

// TestStreamTruncated: a stream cut anywhere before the end of its
// messageStop frame is not Done, and yields no EvStop.
func TestStreamTruncated(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "stream", "*.txtar"))
	for _, file := range files {
		a, err := readArchive(file)
		if err != nil {
			t.Fatal(err)
		}
		src, _ := a.Get("frames")
		stream, stopEnd, err := buildStream(src)
		if err != nil {
			t.Fatal(err)
		}
		if stopEnd < 0 {
			continue
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			for n := range stopEnd {
				res := runStream([][]byte{stream[:n]})
				if res.Done {
					t.Fatalf("cut at %d of %d: Done", n, stopEnd)
				}
				for _, ev := range append(res.Events, res.AfterEnd...) {
					if ev.Type == "stop" {
						t.Fatalf("cut at %d: EvStop", n)
					}
				}
			}
			if res := runStream([][]byte{stream[:stopEnd]}); !res.Done {
				t.Fatalf("not Done after messageStop")
			}
		})
	}
}

// buildStream encodes a frames section: one message per line,
//
//	event <event-type> <json payload>
//	exception <exception-type> <json payload>
//	error <error-code> <error message>
//	hex <raw bytes>
//
// as Bedrock frames them. It returns the stream and the offset just after
// the messageStop frame (-1 without one).
func buildStream(src string) ([]byte, int, error) {
	var out []byte
	stopEnd := -1
	for line := range strings.Lines(src) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kind, rest, _ := strings.Cut(line, " ")
		name, payload, _ := strings.Cut(rest, " ")
		var m Message
		switch kind {
		case "event":
			m = Message{Headers: []Header{
				{Name: wire.HeaderEventType, Value: name},
				{Name: wire.HeaderContentType, Value: "application/json"},
				{Name: wire.HeaderMessageType, Value: wire.MessageTypeEvent},
			}, Payload: []byte(payload)}
		case "exception":
			m = Message{Headers: []Header{
				{Name: wire.HeaderExceptionType, Value: name},
				{Name: wire.HeaderContentType, Value: "application/json"},
				{Name: wire.HeaderMessageType, Value: wire.MessageTypeException},
			}, Payload: []byte(payload)}
		case "error":
			m = Message{Headers: []Header{
				{Name: wire.HeaderErrorCode, Value: name},
				{Name: wire.HeaderErrorMessage, Value: payload},
				{Name: wire.HeaderMessageType, Value: wire.MessageTypeError},
			}}
		case "hex":
			var raw []byte
			if _, err := fmt.Sscanf(rest, "%x", &raw); err != nil {
				return nil, 0, err
			}
			out = append(out, raw...)
			continue
		default:
			return nil, 0, fmt.Errorf("unknown frame kind %q", kind)
		}
		if kind == "event" && payload != "" && !json.Valid([]byte(payload)) {
			return nil, 0, fmt.Errorf("invalid JSON payload: %s", payload)
		}
		var err error
		out, err = AppendMessage(out, m)
		if err != nil {
			return nil, 0, err
		}
		if kind == "event" && name == wire.EventMessageStop && stopEnd < 0 {
			stopEnd = len(out)
		}
	}
	return out, stopEnd, nil
}

func TestUpstreamName(t *testing.T) {
	if Upstream.Name() != "bedrock" {
		t.Errorf("Name = %q", Upstream.Name())
	}
	if _, ok := Upstream.NewStreamReader().(*StreamReader); !ok {
		t.Error("NewStreamReader is not a *StreamReader")
	}
}

// TestStreamUsageNormalised checks the token convention directly.
func TestStreamUsageNormalised(t *testing.T) {
	stream, _, err := buildStream(`event messageStart {"role":"assistant"}
event messageStop {"stopReason":"end_turn"}
event metadata {"usage":{"inputTokens":10,"outputTokens":5,"totalTokens":45,"cacheReadInputTokens":20,"cacheWriteInputTokens":10}}`)
	if err != nil {
		t.Fatal(err)
	}
	r := NewStreamReader()
	var stop *llm.Event
	if err := r.Feed(stream, func(ev llm.Event) {
		if ev.Type == llm.EvStop {
			stop = &ev
		}
	}); err != nil {
		t.Fatal(err)
	}
	want := llm.Usage{InputTokens: 40, OutputTokens: 5, CachedTokens: 20, CacheWriteTokens: 10}
	if u, ok := r.Usage(); !ok || u != want {
		t.Errorf("Usage = %+v, %v; want %+v", u, ok, want)
	}
	if stop == nil || stop.Usage == nil || *stop.Usage != want {
		t.Errorf("EvStop = %+v", stop)
	}
}

// TestStreamErrorsSticky: a malformed frame is an error, and stays one.
func TestStreamErrorsSticky(t *testing.T) {
	stream, _, _ := buildStream(`event messageStart {"role":"assistant"}`)
	bad := bytes.Clone(stream)
	bad[len(bad)-1] ^= 0xff
	r := NewStreamReader()
	emit := func(llm.Event) {}
	if err := r.Feed(bad, emit); !errors.Is(err, ErrFrame) {
		t.Fatalf("Feed = %v, want ErrFrame", err)
	}
	if err := r.Feed(stream, emit); !errors.Is(err, ErrFrame) {
		t.Fatalf("second Feed = %v, want the sticky error", err)
	}
	// A frame whose JSON payload is broken.
	r = NewStreamReader()
	broken, _ := AppendMessage(nil, Message{Headers: []Header{
		{Name: wire.HeaderEventType, Value: wire.EventContentBlockDelta},
		{Name: wire.HeaderMessageType, Value: wire.MessageTypeEvent},
	}, Payload: []byte(`{"contentBlockIndex":`)})
	if err := r.Feed(broken, emit); err == nil {
		t.Fatal("broken payload accepted")
	}
}

// TestResponseRoundTrip: an answer's content, sent back as an assistant
// turn, encodes to the blocks Bedrock answered with (thinking signatures,
// redacted reasoning and tool calls included).
func TestResponseRoundTrip(t *testing.T) {
	for _, name := range []string{"text", "tool_use", "thinking", "max_tokens"} {
		t.Run(name, func(t *testing.T) {
			a, err := readArchive(filepath.Join("testdata", "response", name+".txtar"))
			if err != nil {
				t.Fatal(err)
			}
			in, _ := a.Get("response.json")
			resp, err := Upstream.DecodeResponse([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			req := &llm.Request{Messages: []llm.Message{
				{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "q"}}},
				{Role: llm.RoleAssistant, Content: resp.Content},
			}, Tools: []llm.Tool{{Name: "get_weather"}}}
			body, err := Upstream.EncodeRequest(req, "anthropic.claude-3-7-sonnet-20250219-v1:0")
			if err != nil {
				t.Fatal(err)
			}
			var sent wire.ConverseRequest
			var answered wire.ConverseResponse
			if err := json.Unmarshal(body, &sent); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(in), &answered); err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(sent.Messages[1].Content)
			want, _ := json.Marshal(answered.Output.Message.Content)
			if !jsonEqual(got, want) {
				t.Errorf("sent back\n%s\nanswered\n%s", got, want)
			}
		})
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && cmp.Equal(x, y)
}

// TestStreamRoundTrip: the blocks of a streamed answer, accumulated from the
// events, encode to the blocks Bedrock streamed.
func TestStreamRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		want string // the content blocks to send back
	}{
		{"thinking", `[{"reasoningContent":{"reasoningText":{"text":"97 is odd and not divisible by 3, 5 or 7.","signature":"EqQBCkgIARABGAIiQLsig"}}},{"text":"Yes, 97 is prime."}]`},
		{"redacted_thinking", `[{"reasoningContent":{"redactedContent":"RW5jcnlwdGVkIHJlYXNvbmluZw=="}},{"text":"Done."}]`},
		{"tool_use", `[{"text":"Let me check."},{"toolUse":{"toolUseId":"tooluse_kZJMlvQmRJ6eAyJE5GIl7Q","name":"get_weather","input":{"city":"Paris"}}}]`},
		{"parallel_tool_calls", `[{"toolUse":{"toolUseId":"t1","name":"get_weather","input":{"city":"Paris"}}},{"toolUse":{"toolUseId":"t2","name":"get_weather","input":{"city":"Rome"}}}]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := readArchive(filepath.Join("testdata", "stream", tc.name+".txtar"))
			if err != nil {
				t.Fatal(err)
			}
			src, _ := a.Get("frames")
			stream, _, err := buildStream(src)
			if err != nil {
				t.Fatal(err)
			}
			var parts []llm.Part
			at := map[int]int{} // event index -> parts index
			err = NewStreamReader().Feed(stream, func(ev llm.Event) {
				switch ev.Type {
				case llm.EvBlockStart:
					at[ev.Index] = len(parts)
					parts = append(parts, *ev.Block)
				case llm.EvTextDelta, llm.EvThinkingDelta:
					parts[at[ev.Index]].Text += ev.Text
				case llm.EvSignatureDelta:
					parts[at[ev.Index]].Signature += ev.Text
				case llm.EvToolArgsDelta:
					p := &parts[at[ev.Index]]
					p.Arguments = append(p.Arguments, ev.Text...)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			req := &llm.Request{Messages: []llm.Message{
				{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "q"}}},
				{Role: llm.RoleAssistant, Content: parts},
			}, Tools: []llm.Tool{{Name: "get_weather"}}}
			body, err := Upstream.EncodeRequest(req, "anthropic.claude-3-7-sonnet-20250219-v1:0")
			if err != nil {
				t.Fatal(err)
			}
			var sent wire.ConverseRequest
			if err := json.Unmarshal(body, &sent); err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(sent.Messages[1].Content)
			if !jsonEqual(got, []byte(tc.want)) {
				t.Errorf("sent back\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
