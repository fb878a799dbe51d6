package gemini

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/llm"
)

var update = flag.Bool("update", false, "rewrite the output sections of the golden files in testdata")

// archive is a txtar-like file: a comment, then sections that start with a
// line "-- name --".
type archive struct {
	comment string
	names   []string
	files   map[string]string
}

func parseArchive(data string) *archive {
	a := &archive{files: map[string]string{}}
	cur := ""
	var b strings.Builder
	flush := func() {
		if cur == "" {
			a.comment = b.String()
		} else {
			a.names = append(a.names, cur)
			a.files[cur] = b.String()
		}
		b.Reset()
	}
	for _, line := range strings.SplitAfter(data, "\n") {
		t := strings.TrimRight(line, "\n")
		if strings.HasPrefix(t, "-- ") && strings.HasSuffix(t, " --") && len(t) > 6 {
			flush()
			cur = t[3 : len(t)-3]
			continue
		}
		b.WriteString(line)
	}
	flush()
	return a
}

func (a *archive) format() string {
	var b strings.Builder
	b.WriteString(a.comment)
	for _, n := range a.names {
		fmt.Fprintf(&b, "-- %s --\n", n)
		v := a.files[n]
		b.WriteString(v)
		if v != "" && !strings.HasSuffix(v, "\n") {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// set replaces or adds an output section.
func (a *archive) set(name, content string) {
	if _, ok := a.files[name]; !ok {
		a.names = append(a.names, name)
	}
	a.files[name] = content
}

// drop removes a section.
func (a *archive) drop(name string) {
	if _, ok := a.files[name]; !ok {
		return
	}
	delete(a.files, name)
	for i, n := range a.names {
		if n == name {
			a.names = append(a.names[:i], a.names[i+1:]...)
			return
		}
	}
}

// goldenCases runs fn on every archive in testdata/dir. fn reads its input
// sections and sets its output sections; the result must equal the file,
// or replaces it with -update.
func goldenCases(t *testing.T, dir string, fn func(t *testing.T, a *archive)) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no golden files in testdata/%s", dir)
	}
	sort.Strings(paths)
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".txtar")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			a := parseArchive(string(data))
			fn(t, a)
			got := a.format()
			if got == string(data) {
				return
			}
			if *update {
				if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			t.Errorf("%s differs from the golden file (run go test -update to accept):\n%s", p, cmp.Diff(string(data), got))
		})
	}
}

// goldenCorpus returns one input section of every archive in testdata/dir,
// for fuzz seeds.
func goldenCorpus(tb testing.TB, dir, section string) [][]byte {
	paths, _ := filepath.Glob(filepath.Join("testdata", dir, "*.txtar"))
	var out [][]byte
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		if v, ok := parseArchive(string(data)).files[section]; ok {
			out = append(out, []byte(v))
		}
	}
	return out
}

func indentJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

func indentRaw(t *testing.T, raw []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		t.Fatalf("indent %s: %v", raw, err)
	}
	return buf.String() + "\n"
}

// errorJSON renders an error for a golden file: an *llm.Error as itself,
// anything else as its text.
func errorJSON(t *testing.T, err error) string {
	t.Helper()
	if e, ok := err.(*llm.Error); ok {
		return indentJSON(t, e)
	}
	return indentJSON(t, map[string]string{"go_error": err.Error()})
}

// eventJSON is the golden-file form of an llm.Event.
type eventJSON struct {
	Type       string         `json:"type"`
	Index      int            `json:"index,omitempty"`
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

func toEventJSON(evs []llm.Event) []eventJSON {
	out := make([]eventJSON, 0, len(evs))
	for _, e := range evs {
		out = append(out, eventJSON{
			Type: eventNames[e.Type], Index: e.Index, Block: e.Block, Text: e.Text, ID: e.ID, Model: e.Model,
			StopReason: e.StopReason, StopSeq: e.StopSeq, Usage: e.Usage, Err: e.Err,
		})
	}
	return out
}

func fromEventJSON(t *testing.T, data string) []llm.Event {
	t.Helper()
	var in []eventJSON
	if err := json.Unmarshal([]byte(data), &in); err != nil {
		t.Fatalf("events: %v", err)
	}
	types := map[string]llm.EventType{}
	for k, v := range eventNames {
		types[v] = k
	}
	out := make([]llm.Event, 0, len(in))
	for _, e := range in {
		typ, ok := types[e.Type]
		if !ok {
			t.Fatalf("unknown event type %q", e.Type)
		}
		out = append(out, llm.Event{
			Type: typ, Index: e.Index, Block: e.Block, Text: e.Text, ID: e.ID, Model: e.Model,
			StopReason: e.StopReason, StopSeq: e.StopSeq, Usage: e.Usage, Err: e.Err,
		})
	}
	return out
}

// sseForFile stores a stream with LF line ends (the writer sends CRLF).
func sseForFile(b []byte) string {
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}
