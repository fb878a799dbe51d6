package golden

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/llm"
)

// Files lists testdata/<dir>/*.txtar, failing the test when there are none.
func Files(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files in testdata/%s: %v", dir, err)
	}
	return files
}

// CaseName is a golden file's name without directory and extension.
func CaseName(path string) string { return strings.TrimSuffix(filepath.Base(path), ".txtar") }

// IndentJSON renders v as indented JSON with a final newline.
func IndentJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b) + "\n"
}

// IndentRaw re-indents a JSON body for a readable section.
func IndentRaw(t testing.TB, b []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("indent %q: %v", b, err)
	}
	return out.String() + "\n"
}

// ErrorJSON renders an *llm.Error, failing the test for any other error.
func ErrorJSON(t testing.TB, err error) string {
	t.Helper()
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *llm.Error", err, err)
	}
	return IndentJSON(t, e)
}

// Event is llm.Event with readable type names, for golden files.
type Event struct {
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

// Events converts canonical events to their golden form.
func Events(evs []llm.Event) []Event {
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = Event{Type: eventNames[e.Type], Index: e.Index, Block: e.Block, Text: e.Text, ID: e.ID,
			Model: e.Model, StopReason: e.StopReason, StopSeq: e.StopSeq, Usage: e.Usage, Err: e.Err}
	}
	return out
}

// ParseEvents reads golden events; type "fail" (for writers) is returned as
// an EvError with Index -1, which WriteEvents turns into a Fail call.
func ParseEvents(t testing.TB, data string) []llm.Event {
	t.Helper()
	var tes []Event
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

// WriteEvents renders events with w; an EvError with Index -1 calls Fail.
func WriteEvents(w llm.StreamWriter, evs []llm.Event) error {
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
