package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/golden"
	"github.com/sluicehq/sluice/internal/llm"
)

var update = flag.Bool("update", false, "rewrite the output sections of the golden files")

// goldenSpec names the sections the runs write (the others are inputs) and
// puts each output right after its input in a rewritten file.
var goldenSpec = golden.Spec{
	Outputs: map[string]bool{
		"canonical.json": true, "error.json": true, "body.json": true, "stream.sse": true,
		"upstream-request.json": true, "canonical-response.json": true, "events.json": true,
		"decoded-error.json": true, "error-bodies.json": true, "usage.json": true,
	},
	Order: []string{
		"request.json", "canonical.json", "error.json", "response.json", "body.json",
		"canonical-events.json", "stream.sse", "errors.json", "error-bodies.json",
		"canonical-request.json", "upstream-request.json", "upstream-response.json", "canonical-response.json",
		"upstream-stream.sse", "events.json", "upstream-error", "decoded-error.json", "usage.json",
	},
}

func indentJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b) + "\n"
}

// indentRaw re-indents a JSON body for a readable golden section.
func indentRaw(t *testing.T, b []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("indent %q: %v", b, err)
	}
	return out.String() + "\n"
}

func errorJSON(t *testing.T, err error) string {
	t.Helper()
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *llm.Error", err, err)
	}
	return indentJSON(t, e)
}

// testEvent is llm.Event with readable type names, for golden files.
type testEvent struct {
	Type       string         `json:"type"`
	Index      int            `json:"index,omitempty"`
	Block      *llm.Part      `json:"block,omitempty"`
	Text       string         `json:"text,omitempty"`
	ID         string         `json:"id,omitempty"`
	Model      string         `json:"model,omitempty"`
	StopReason llm.StopReason `json:"stop_reason,omitempty"`
	StopSeq    string         `json:"stop_seq,omitempty"`
	Usage      *llm.Usage     `json:"usage,omitempty"`
	Err        *llm.Error     `json:"err,omitempty"`
}

var eventNames = map[llm.EventType]string{
	llm.EvStart: "start", llm.EvBlockStart: "block_start", llm.EvTextDelta: "text",
	llm.EvThinkingDelta: "thinking", llm.EvSignatureDelta: "signature", llm.EvToolArgsDelta: "tool_args",
	llm.EvBlockStop: "block_stop", llm.EvStop: "stop", llm.EvError: "error",
}

func toTestEvents(evs []llm.Event) []testEvent {
	out := make([]testEvent, len(evs))
	for i, e := range evs {
		out[i] = testEvent{Type: eventNames[e.Type], Index: e.Index, Block: e.Block, Text: e.Text, ID: e.ID,
			Model: e.Model, StopReason: e.StopReason, StopSeq: e.StopSeq, Usage: e.Usage, Err: e.Err}
	}
	return out
}

// fromTestEvents reads events; type "fail" (only for writers) is returned
// as an EvError with Index -1.
func fromTestEvents(t *testing.T, data string) []llm.Event {
	t.Helper()
	var tes []testEvent
	if err := json.Unmarshal([]byte(data), &tes); err != nil {
		t.Fatalf("events: %v", err)
	}
	byName := map[string]llm.EventType{}
	for k, v := range eventNames {
		byName[v] = k
	}
	out := make([]llm.Event, len(tes))
	for i, e := range tes {
		typ, ok := byName[e.Type]
		idx := e.Index
		if e.Type == "fail" {
			typ, ok, idx = llm.EvError, true, -1
		}
		if !ok {
			t.Fatalf("unknown event type %q", e.Type)
		}
		out[i] = llm.Event{Type: typ, Index: idx, Block: e.Block, Text: e.Text, ID: e.ID, Model: e.Model,
			StopReason: e.StopReason, StopSeq: e.StopSeq, Usage: e.Usage, Err: e.Err}
	}
	return out
}

// writeEvents renders events with w; an EvError with Index -1 calls Fail.
func writeEvents(w llm.StreamWriter, evs []llm.Event) error {
	for _, ev := range evs {
		var err error
		if ev.Type == llm.EvError && ev.Index == -1 {
			err = w.Fail(ev.Err)
		} else {
			err = w.Write(ev)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func goldenFiles(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files in testdata/%s: %v", dir, err)
	}
	return files
}

func caseName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".txtar")
}
