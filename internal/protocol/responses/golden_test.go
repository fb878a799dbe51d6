package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/llm"
)

var update = flag.Bool("update", false, "rewrite the output sections of the golden files")

// archive is a txtar-like file: a comment, then sections that start with a
// "-- name --" line.
type archive struct {
	Comment string
	Files   []archiveFile
}

type archiveFile struct {
	Name string
	Data string
}

func parseArchive(data string) archive {
	var a archive
	cur := -1
	for line := range strings.Lines(data) {
		trimmed := strings.TrimRight(line, "\n")
		if name, ok := strings.CutPrefix(trimmed, "-- "); ok {
			if name, ok := strings.CutSuffix(name, " --"); ok {
				a.Files = append(a.Files, archiveFile{Name: name})
				cur = len(a.Files) - 1
				continue
			}
		}
		if cur < 0 {
			a.Comment += line
		} else {
			a.Files[cur].Data += line
		}
	}
	return a
}

func (a archive) format() string {
	var b strings.Builder
	b.WriteString(a.Comment)
	for _, f := range a.Files {
		fmt.Fprintf(&b, "-- %s --\n", f.Name)
		b.WriteString(f.Data)
		if f.Data != "" && !strings.HasSuffix(f.Data, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

func (a archive) get(name string) (string, bool) {
	for _, f := range a.Files {
		if f.Name == name {
			return f.Data, true
		}
	}
	return "", false
}

// set replaces or appends an output section.
func (a *archive) set(name, data string) {
	for i := range a.Files {
		if a.Files[i].Name == name {
			a.Files[i].Data = data
			return
		}
	}
	a.Files = append(a.Files, archiveFile{Name: name, Data: data})
}

// golden runs one golden file: produce computes the output sections from
// the archive's inputs; they are compared with the file's, or written with
// -update.
func golden(t *testing.T, path string, produce func(t *testing.T, a archive) map[string]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a := parseArchive(string(data))
	out := produce(t, a)
	if *update {
		for _, name := range sortedNames(out) {
			a.set(name, out[name])
		}
		// Drop output sections that the run no longer produces.
		kept := a.Files[:0]
		for _, f := range a.Files {
			if _, isOut := out[f.Name]; isOut || !isOutput(f.Name) {
				kept = append(kept, f)
			}
		}
		a.Files = kept
		slices.SortStableFunc(a.Files, func(x, y archiveFile) int { return sectionRank(x.Name) - sectionRank(y.Name) })
		if err := os.WriteFile(path, []byte(a.format()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for _, name := range sortedNames(out) {
		want, ok := a.get(name)
		if !ok {
			t.Errorf("%s: missing section %q (run with -update)", path, name)
			continue
		}
		if diff := cmp.Diff(want, out[name]); diff != "" {
			t.Errorf("%s: section %q differs (-want +got):\n%s", path, name, diff)
		}
	}
	for _, f := range a.Files {
		if _, ok := out[f.Name]; isOutput(f.Name) && !ok {
			t.Errorf("%s: section %q is no longer produced (run with -update)", path, f.Name)
		}
	}
}

// outputs are the section names a run writes; everything else is input.
var outputs = map[string]bool{
	"canonical.json": true, "error.json": true, "body.json": true, "stream.sse": true,
	"upstream-request.json": true, "canonical-response.json": true, "events.json": true,
	"decoded-error.json": true, "error-bodies.json": true, "usage.json": true,
}

func isOutput(name string) bool { return outputs[name] }

// sectionOrder puts each output right after its input.
var sectionOrder = []string{
	"request.json", "canonical.json", "error.json", "response.json", "body.json",
	"canonical-events.json", "stream.sse", "errors.json", "error-bodies.json",
	"canonical-request.json", "upstream-request.json", "upstream-response.json", "canonical-response.json",
	"upstream-stream.sse", "events.json", "upstream-error", "decoded-error.json", "usage.json",
}

func sectionRank(name string) int {
	if i := slices.Index(sectionOrder, name); i >= 0 {
		return i
	}
	return len(sectionOrder)
}

func sortedNames(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

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
