package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/sluicehq/sluice/internal/golden"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/llm"
)

var update = flag.Bool("update", false, "rewrite the generated sections of testdata/golden/*.txtar")

// Golden cases live in testdata/golden/<case>.txtar. Each holds inputs and
// the outputs the codecs produce from them; -update rewrites the outputs.
//
//	client/request.json   Anthropic request        -> client/canonical.json (or client/error.json)
//	client/response.json  canonical llm.Response   -> client/body.json
//	client/events.json    canonical events         -> client/stream.sse (client/fail.json: Fail at the end)
//	upstream/canonical.json  llm.Request            -> upstream/request.json (or upstream/error.json)
//	upstream/response.json   Anthropic message body -> upstream/decoded.json
//	upstream/stream.sse      Anthropic SSE          -> upstream/events.json
//	upstream/error_status + upstream/error_body     -> upstream/decoded_error.json

func goldenFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	return files
}

func loadArchive(t testing.TB, file string) *golden.Archive {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return golden.Parse(string(data))
}

func TestGolden(t *testing.T) {
	for _, file := range goldenFiles(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".txtar")
		t.Run(name, func(t *testing.T) {
			a := loadArchive(t, file)
			g := &goldenCase{t: t, a: a}
			g.clientRequest()
			g.clientResponse()
			g.clientStream()
			g.upstreamRequest()
			g.upstreamResponse()
			g.upstreamStream()
			g.upstreamError()
			if *update && g.changed {
				a.Sort(sectionOrder)
				if err := os.WriteFile(file, []byte(a.Format()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// sectionOrder is the order of the sections in a golden file: each input
// followed by what it produces.
var sectionOrder = []string{
	"client/request.json", "client/canonical.json", "client/error.json",
	"client/response.json", "client/body.json",
	"client/events.json", "client/fail.json", "client/stream.sse",
	"upstream/canonical.json", "upstream/request.json", "upstream/error.json",
	"upstream/response.json", "upstream/decoded.json",
	"upstream/stream.sse", "upstream/events.json",
	"upstream/error_status", "upstream/error_body", "upstream/decoded_error.json",
}

type goldenCase struct {
	t       *testing.T
	a       *golden.Archive
	changed bool
}

// check compares an output section with what the codec produced, or
// records it under -update. Only one of the alternatives (for example
// canonical.json or error.json) is kept.
func (g *goldenCase) check(name, got string, others ...string) {
	g.t.Helper()
	if !strings.HasSuffix(got, "\n") {
		got += "\n"
	}
	if *update {
		for _, o := range others {
			if _, ok := g.a.Get(o); ok {
				g.a.Remove(o)
				g.changed = true
			}
		}
		if old, ok := g.a.Get(name); !ok || old != got {
			g.a.Set(name, got)
			g.changed = true
		}
		return
	}
	want, ok := g.a.Get(name)
	if !ok {
		g.t.Errorf("section %s missing; got:\n%s(run go test -update)", name, got)
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		g.t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

func (g *goldenCase) clientRequest() {
	in, ok := g.a.Get("client/request.json")
	if !ok {
		return
	}
	req, err := Client.DecodeRequest([]byte(in), "")
	if err != nil {
		g.check("client/error.json", errorJSON(g.t, err), "client/canonical.json")
		return
	}
	g.check("client/canonical.json", indent(g.t, req), "client/error.json")
}

func (g *goldenCase) clientResponse() {
	in, ok := g.a.Get("client/response.json")
	if !ok {
		return
	}
	var resp llm.Response
	mustUnmarshal(g.t, in, &resp)
	req := g.canonicalRequest()
	body, err := Client.EncodeResponse(req, &resp)
	if err != nil {
		g.t.Fatalf("EncodeResponse: %v", err)
	}
	if !json.Valid(body) {
		g.t.Fatalf("EncodeResponse wrote invalid JSON: %s", body)
	}
	g.check("client/body.json", string(body))
}

// canonicalRequest is the request a client case's answers belong to.
func (g *goldenCase) canonicalRequest() *llm.Request {
	if in, ok := g.a.Get("client/canonical.json"); ok {
		var req llm.Request
		mustUnmarshal(g.t, in, &req)
		return &req
	}
	return &llm.Request{Model: "claude-test"}
}

func (g *goldenCase) clientStream() {
	in, ok := g.a.Get("client/events.json")
	if !ok {
		return
	}
	var evs []jsonEvent
	mustUnmarshal(g.t, in, &evs)
	var out bytes.Buffer
	w := Client.NewStreamWriter(&out, g.canonicalRequest())
	for _, e := range evs {
		if err := w.Write(e.event()); err != nil {
			g.t.Fatal(err)
		}
	}
	if f, ok := g.a.Get("client/fail.json"); ok {
		var e llm.Error
		mustUnmarshal(g.t, f, &e)
		if err := w.Fail(&e); err != nil {
			g.t.Fatal(err)
		}
	}
	g.check("client/stream.sse", out.String())
}

func (g *goldenCase) upstreamRequest() {
	in, ok := g.a.Get("upstream/canonical.json")
	if !ok {
		return
	}
	var req llm.Request
	mustUnmarshal(g.t, in, &req)
	body, err := Upstream.EncodeRequest(&req, "")
	if err != nil {
		g.check("upstream/error.json", errorJSON(g.t, err), "upstream/request.json")
		return
	}
	g.check("upstream/request.json", string(body), "upstream/error.json")
}

func (g *goldenCase) upstreamResponse() {
	in, ok := g.a.Get("upstream/response.json")
	if !ok {
		return
	}
	resp, err := Upstream.DecodeResponse([]byte(in))
	if err != nil {
		g.t.Fatalf("DecodeResponse: %v", err)
	}
	g.check("upstream/decoded.json", indent(g.t, resp))
}

func (g *goldenCase) upstreamStream() {
	in, ok := g.a.Get("upstream/stream.sse")
	if !ok {
		return
	}
	res := readStream(g.t, [][]byte{[]byte(in)})
	g.check("upstream/events.json", indent(g.t, res))
}

func (g *goldenCase) upstreamError() {
	st, ok := g.a.Get("upstream/error_status")
	if !ok {
		return
	}
	status, err := strconv.Atoi(strings.TrimSpace(st))
	if err != nil {
		g.t.Fatal(err)
	}
	body, _ := g.a.Get("upstream/error_body")
	e := Upstream.DecodeError(status, []byte(strings.TrimSuffix(body, "\n")))
	g.check("upstream/decoded_error.json", indent(g.t, e))
}

// streamResult is what a stream reader made of a whole stream.
type streamResult struct {
	Events []jsonEvent `json:"events"`
	Done   bool        `json:"done"`
	Usage  *llm.Usage  `json:"usage"`
	Err    string      `json:"error,omitempty"`
}

// readStream feeds chunks to a fresh reader.
func readStream(t testing.TB, chunks [][]byte) streamResult {
	t.Helper()
	r := Upstream.NewStreamReader()
	var res streamResult
	for _, c := range chunks {
		if err := r.Feed(c, func(ev llm.Event) { res.Events = append(res.Events, toJSONEvent(ev)) }); err != nil {
			res.Err = err.Error()
			break
		}
	}
	res.Done = r.Done()
	if u, ok := r.Usage(); ok {
		res.Usage = &u
	}
	return res
}

// jsonEvent is llm.Event in a readable JSON form.
type jsonEvent struct {
	Type       string         `json:"type"`
	Index      int            `json:"index"`
	Block      *llm.Part      `json:"block,omitempty"`
	Text       string         `json:"text,omitempty"`
	ID         string         `json:"id,omitempty"`
	Model      string         `json:"model,omitempty"`
	StopReason llm.StopReason `json:"stop_reason,omitempty"`
	StopSeq    string         `json:"stop_sequence,omitempty"`
	Usage      *llm.Usage     `json:"usage,omitempty"`
	Err        *llm.Error     `json:"error,omitempty"`
}

var eventNames = map[llm.EventType]string{
	llm.EvStart:          "start",
	llm.EvBlockStart:     "block_start",
	llm.EvTextDelta:      "text_delta",
	llm.EvThinkingDelta:  "thinking_delta",
	llm.EvSignatureDelta: "signature_delta",
	llm.EvToolArgsDelta:  "tool_args_delta",
	llm.EvBlockStop:      "block_stop",
	llm.EvStop:           "stop",
	llm.EvError:          "error",
}

func toJSONEvent(ev llm.Event) jsonEvent {
	name, ok := eventNames[ev.Type]
	if !ok {
		name = fmt.Sprintf("unknown(%d)", ev.Type)
	}
	return jsonEvent{Type: name, Index: ev.Index, Block: ev.Block, Text: ev.Text, ID: ev.ID, Model: ev.Model,
		StopReason: ev.StopReason, StopSeq: ev.StopSeq, Usage: ev.Usage, Err: ev.Err}
}

func (e jsonEvent) event() llm.Event {
	ev := llm.Event{Index: e.Index, Block: e.Block, Text: e.Text, ID: e.ID, Model: e.Model,
		StopReason: e.StopReason, StopSeq: e.StopSeq, Usage: e.Usage, Err: e.Err}
	for t, n := range eventNames {
		if n == e.Type {
			ev.Type = t
		}
	}
	return ev
}

func errorJSON(t testing.TB, err error) string {
	t.Helper()
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("error is not an *llm.Error: %v", err)
	}
	return indent(t, e)
}

func indent(t testing.TB, v any) string {
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

func mustUnmarshal(t testing.TB, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("unmarshal %T: %v\n%s", v, err, s)
	}
}
