package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/sluicehq/sluice/internal/golden"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/llm"
)

var testClient = ClientCodec{
	Now:   func() time.Time { return time.Unix(1700000000, 0) },
	NewID: func() string { return "chatcmpl-sluice" },
}

// TestClientGolden runs testdata/client: a client request decoded to the
// canonical form (or a 400), and canonical answers, streams and errors
// rendered for the client.
func TestClientGolden(t *testing.T) {
	goldenSpec.ClientCodecCases(t, "client", *update, testClient, "gpt-test", checkFixedPoint)
}

// checkFixedPoint checks that a decoded request encoded for an OpenAI
// upstream decodes to the same request.
func checkFixedPoint(t *testing.T, body []byte, r *llm.Request) {
	t.Helper()
	enc, err := Upstream.EncodeRequest(r, r.Model)
	if err != nil {
		t.Fatalf("re-encode %s: %v", body, err)
	}
	r2, err := testClient.DecodeRequest(enc, "")
	if err != nil {
		t.Fatalf("re-decode %s: %v", enc, err)
	}
	want := *r
	if want.Stream {
		want.IncludeUsage = true // the upstream encoder always asks for usage
	}
	if diff := cmp.Diff(&want, r2); diff != "" {
		t.Errorf("decode -> encode -> decode is not a fixed point (-first +second):\n%s\nencoded: %s", diff, enc)
	}
}

// TestUpstreamGolden runs testdata/upstream: a canonical request encoded
// for OpenAI, and OpenAI answers, streams and errors decoded.
func TestUpstreamGolden(t *testing.T) {
	for _, path := range golden.Files(t, "upstream") {
		t.Run(golden.CaseName(path), func(t *testing.T) {
			goldenSpec.Run(t, path, *update, func(t *testing.T, a *golden.Archive) map[string]string {
				out := map[string]string{}
				if s, ok := a.Get("canonical-request.json"); ok {
					var req llm.Request
					if err := json.Unmarshal([]byte(s), &req); err != nil {
						t.Fatalf("canonical-request.json: %v", err)
					}
					body, err := Upstream.EncodeRequest(&req, "gpt-upstream")
					if err != nil {
						out["error.json"] = golden.ErrorJSON(t, err)
					} else {
						out["upstream-request.json"] = golden.IndentRaw(t, body)
					}
				}
				if s, ok := a.Get("upstream-response.json"); ok {
					resp, err := Upstream.DecodeResponse([]byte(s))
					if err != nil {
						out["canonical-response.json"] = golden.ErrorJSON(t, err)
					} else {
						out["canonical-response.json"] = golden.IndentJSON(t, resp)
					}
				}
				if s, ok := a.Get("upstream-stream.sse"); ok {
					out["events.json"] = golden.IndentJSON(t, readStream(t, []byte(s), nil))
				}
				if s, ok := a.Get("upstream-error"); ok {
					first, body, _ := strings.Cut(s, "\n")
					status, err := strconv.Atoi(strings.TrimSpace(first))
					if err != nil {
						t.Fatalf("upstream-error: first line must be the status: %v", err)
					}
					out["decoded-error.json"] = golden.IndentJSON(t, Upstream.DecodeError(status, []byte(body)))
				}
				return out
			})
		})
	}
}

// streamResult is what a reader made of a whole stream.
type streamResult struct {
	Events []golden.Event `json:"events"`
	Done   bool           `json:"done"`
	Usage  *llm.Usage     `json:"usage,omitempty"`
	Err    string         `json:"err,omitempty"`
}

// readStream feeds stream to a new reader in the pieces cut gives (whole
// when nil).
func readStream(t *testing.T, stream []byte, cut func([]byte) [][]byte) streamResult {
	t.Helper()
	r := Upstream.NewStreamReader()
	var evs []llm.Event
	emit := func(ev llm.Event) { evs = append(evs, ev) }
	pieces := [][]byte{stream}
	if cut != nil {
		pieces = cut(stream)
	}
	var res streamResult
	for _, p := range pieces {
		if err := r.Feed(p, emit); err != nil {
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

func streamCases(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, path := range golden.Files(t, "upstream") {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := golden.Parse(string(data)).Get("upstream-stream.sse"); ok {
			out[golden.CaseName(path)] = []byte(s)
		}
	}
	return out
}

// TestStreamSplitInvariance feeds every golden stream byte by byte and in
// random cuts: the events are the same as when it is fed whole.
func TestStreamSplitInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for name, stream := range streamCases(t) {
		t.Run(name, func(t *testing.T) {
			whole := readStream(t, stream, nil)
			normalizeIDs(&whole)
			bytewise := readStream(t, stream, func(b []byte) [][]byte {
				var out [][]byte
				for i := range b {
					out = append(out, b[i:i+1])
				}
				return out
			})
			normalizeIDs(&bytewise)
			if diff := cmp.Diff(whole, bytewise); diff != "" {
				t.Errorf("byte by byte (-whole +split):\n%s", diff)
			}
			for trial := 0; trial < 20; trial++ {
				got := readStream(t, stream, func(b []byte) [][]byte { return randomCuts(rng, b) })
				normalizeIDs(&got)
				if diff := cmp.Diff(whole, got); diff != "" {
					t.Fatalf("random cuts (-whole +split):\n%s", diff)
				}
			}
		})
	}
}

// normalizeIDs blanks the tool call ids the reader makes up when the
// upstream sends none.
func normalizeIDs(r *streamResult) {
	for i := range r.Events {
		if b := r.Events[i].Block; b != nil && strings.HasPrefix(b.ToolCallID, "call_") && len(b.ToolCallID) == 29 {
			b.ToolCallID = "call_generated"
		}
	}
}

func randomCuts(rng *rand.Rand, b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := 1 + rng.IntN(min(len(b), 40))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// TestStreamTruncated cuts every golden stream before its [DONE]: the
// reader must not report it done, nor emit a stop.
func TestStreamTruncated(t *testing.T) {
	for name, stream := range streamCases(t) {
		t.Run(name, func(t *testing.T) {
			i := bytes.LastIndex(stream, []byte("data: [DONE]"))
			if i < 0 {
				t.Skip("no [DONE] in this stream")
			}
			for cut := 0; cut < i; cut += max(1, i/50) {
				res := readStream(t, stream[:cut], nil)
				if res.Done {
					t.Fatalf("cut at %d of %d: Done() = true", cut, len(stream))
				}
				for _, ev := range res.Events {
					if ev.Type == "stop" {
						t.Fatalf("cut at %d: a stop event was emitted", cut)
					}
				}
			}
			if res := readStream(t, stream[:i+len("data: [DONE]")], nil); res.Done {
				t.Errorf("[DONE] without its blank line counted as done")
			}
		})
	}
}

// TestWriterReaderRoundTrip renders every golden event list with the
// client writer and reads it back with the upstream reader: text, thinking,
// tool calls, stop reason and usage survive.
func TestWriterReaderRoundTrip(t *testing.T) {
	for _, path := range golden.Files(t, "client") {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		a := golden.Parse(string(data))
		s, ok := a.Get("canonical-events.json")
		if !ok {
			continue
		}
		t.Run(golden.CaseName(path), func(t *testing.T) {
			evs := golden.ParseEvents(t, s)
			req := &llm.Request{Model: "m", Stream: true, IncludeUsage: true}
			var buf bytes.Buffer
			if err := golden.WriteEvents(testClient.NewStreamWriter(&buf, req), evs); err != nil {
				t.Fatal(err)
			}
			res := readStream(t, buf.Bytes(), nil)
			want, got := fold(evs), fold(golden.ParseEvents(t, mustJSON(t, res.Events)))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round trip (-written +read):\n%s\nstream:\n%s", diff, buf.String())
			}
		})
	}
}

// folded is the content of a stream, whatever its block boundaries.
type folded struct {
	Text, Thinking string
	Tools          []string
	Stop           llm.StopReason
	Usage          *llm.Usage
	Failed         bool
}

func fold(evs []llm.Event) folded {
	var f folded
	blocks := map[int]int{}
	for _, ev := range evs {
		switch ev.Type {
		case llm.EvBlockStart:
			if ev.Block.Type == llm.PartToolCall {
				blocks[ev.Index] = len(f.Tools)
				f.Tools = append(f.Tools, ev.Block.ToolCallID+" "+ev.Block.ToolName+" ")
			}
		case llm.EvTextDelta:
			f.Text += ev.Text
		case llm.EvThinkingDelta:
			f.Thinking += ev.Text
		case llm.EvToolArgsDelta:
			f.Tools[blocks[ev.Index]] += ev.Text
		case llm.EvStop:
			f.Stop = ev.StopReason
			if f.Stop == llm.StopSequence || f.Stop == llm.StopPauseTurn {
				f.Stop = llm.StopEndTurn
			}
			if f.Stop == llm.StopRefusal {
				f.Stop = llm.StopContentFilter
			}
			f.Usage = ev.Usage
		case llm.EvError: // the writer ends the stream there
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

// TestReaderErrorLine checks that an error line is an EvError with the
// error's kind, and leaves the stream not done.
func TestReaderErrorLine(t *testing.T) {
	stream := "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n" +
		"data: {\"error\":{\"message\":\"Rate limit reached\",\"type\":\"rate_limit_error\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}\n\n"
	res := readStream(t, []byte(stream), nil)
	if res.Done {
		t.Error("Done() after an error line")
	}
	last := res.Events[len(res.Events)-1]
	if last.Type != "error" || last.Err == nil || last.Err.Status != 429 || last.Err.Type != "rate_limit" {
		t.Errorf("last event = %+v, want a 429 rate_limit error", last)
	}
}

func TestReaderMalformed(t *testing.T) {
	for _, stream := range []string{
		"data: {not json}\n\n",
		"data: " + strings.Repeat("x", 2<<20) + "\n\n",
	} {
		r := NewStreamReader()
		if err := r.Feed([]byte(stream), func(llm.Event) {}); err == nil {
			t.Errorf("Feed(%.40q...) = nil, want an error", stream)
		}
	}
}

// TestDecodeRequestErrorsAre400 checks the type and status of every
// DecodeRequest failure over a set of bad bodies.
func TestDecodeRequestErrorsAre400(t *testing.T) {
	tests := []struct {
		name, body, param string
	}{
		{"not json", `{`, ""},
		{"array", `[]`, ""},
		{"no model", `{"messages":[{"role":"user","content":"hi"}]}`, "model"},
		{"no messages", `{"model":"m","messages":[]}`, "messages"},
		{"bad role", `{"model":"m","messages":[{"role":"robot","content":"hi"}]}`, "messages[0].role"},
		{"bad type", `{"model":"m","temperature":"hot","messages":[{"role":"user","content":"hi"}]}`, "temperature"},
		{"bad content", `{"model":"m","messages":[{"role":"user","content":5}]}`, "messages[0].content"},
		{"tool without id", `{"model":"m","messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id"},
		{"bad arguments", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{"}}]}]}`, "messages[0].tool_calls[0].function.arguments"},
		{"n zero", `{"model":"m","n":0,"messages":[{"role":"user","content":"hi"}]}`, "n"},
		{"effort", `{"model":"m","reasoning_effort":"max","messages":[{"role":"user","content":"hi"}]}`, "reasoning_effort"},
		{"tool choice", `{"model":"m","tool_choice":"sometimes","messages":[{"role":"user","content":"hi"}]}`, "tool_choice"},
		{"allowed tools", `{"model":"m","tool_choice":{"type":"allowed_tools","allowed_tools":{}},"messages":[{"role":"user","content":"hi"}]}`, "tool_choice.allowed_tools"},
		{"stop", `{"model":"m","stop":5,"messages":[{"role":"user","content":"hi"}]}`, "stop"},
		{"image in system", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"http://x"}}]}]}`, "messages[0].content[0].type"},
		{"part field", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}}]}]}`, "messages[0].content[0].cache_control"},
		{"tool field", `{"model":"m","tools":[{"type":"function","function":{"name":"f"},"cache_control":{}}],"messages":[{"role":"user","content":"hi"}]}`, "tools[0].cache_control"},
		{"legacy function_call", `{"model":"m","messages":[{"role":"assistant","function_call":{"name":"f","arguments":"{}"}}]}`, "messages[0].function_call"},
		{"stream options", `{"model":"m","stream":true,"stream_options":{"include_usage":true,"chunk":1},"messages":[{"role":"user","content":"hi"}]}`, "stream_options.chunk"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Client.DecodeRequest([]byte(tc.body), "")
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *llm.Error", err)
			}
			if e.Status != 400 || e.Type != "invalid_request" || e.Param != tc.param {
				t.Errorf("err = %+v, want 400 invalid_request with param %q", e, tc.param)
			}
		})
	}
}

// TestModelOutsideBody checks that a model named outside the body wins.
func TestModelOutsideBody(t *testing.T) {
	r, err := Client.DecodeRequest([]byte(`{"model":"a","messages":[{"role":"user","content":"hi"}]}`), "b")
	if err != nil || r.Model != "b" {
		t.Fatalf("model = %v, %v; want b", r, err)
	}
}

// TestUpstreamOptions covers the UpstreamCodec switches.
func TestUpstreamOptions(t *testing.T) {
	req := &llm.Request{Model: "m", MaxTokens: 10, Messages: []llm.Message{
		{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "hi"}}},
		{Role: llm.RoleAssistant, Content: []llm.Part{{Type: llm.PartThinking, Text: "hmm", Signature: "sig"}, {Type: llm.PartText, Text: "yo"}}},
	}}
	body, err := UpstreamCodec{LegacyMaxTokens: true, OmitReasoning: true}.EncodeRequest(req, "")
	if err != nil {
		t.Fatal(err)
	}
	s := string(body)
	if !strings.Contains(s, `"max_tokens":10`) || strings.Contains(s, "max_completion_tokens") || strings.Contains(s, "reasoning_content") {
		t.Errorf("body = %s", s)
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
		checkFixedPoint(t, body, r)
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("the canonical request does not marshal: %v", err)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	for _, path := range golden.Files(f, "upstream") {
		a := archiveOf(f, path)
		if s, ok := a.Get("upstream-response.json"); ok {
			f.Add([]byte(s), 200)
		}
		if s, ok := a.Get("upstream-error"); ok {
			_, body, _ := strings.Cut(s, "\n")
			f.Add([]byte(body), 429)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, status int) {
		if resp, err := Upstream.DecodeResponse(body); err == nil {
			if _, err := json.Marshal(resp); err != nil {
				t.Fatalf("the canonical response does not marshal: %v", err)
			}
			if _, err := testClient.EncodeResponse(&llm.Request{Model: "m"}, resp); err != nil {
				t.Fatalf("EncodeResponse: %v", err)
			}
		}
		e := Upstream.DecodeError(status, body)
		if e == nil || e.Message == "" || e.Status < 400 {
			t.Fatalf("DecodeError(%d) = %+v", status, e)
		}
	})
}

func FuzzStreamReader(f *testing.F) {
	for _, path := range golden.Files(f, "upstream") {
		if s, ok := archiveOf(f, path).Get("upstream-stream.sse"); ok {
			f.Add([]byte(s), uint16(7))
		}
	}
	f.Fuzz(func(t *testing.T, stream []byte, cut uint16) {
		r := NewStreamReader()
		n := max(1, int(cut)%64)
		var buf bytes.Buffer
		w := testClient.NewStreamWriter(&buf, &llm.Request{Model: "m", IncludeUsage: true})
		for len(stream) > 0 {
			k := min(n, len(stream))
			if err := r.Feed(stream[:k], func(ev llm.Event) { _ = w.Write(ev) }); err != nil {
				return
			}
			stream = stream[k:]
		}
		if !r.Done() {
			_ = w.Fail(nil)
		}
	})
}

func archiveOf(f *testing.F, path string) *golden.Archive {
	data, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return golden.Parse(string(data))
}
