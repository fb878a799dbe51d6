package anthropic

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/llm"
)

// goldenStreams returns the upstream streams of the golden files by case.
func goldenStreams(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, file := range goldenFiles(t) {
		if s, ok := loadArchive(t, file).Get("upstream/stream.sse"); ok {
			out[strings.TrimSuffix(filepath.Base(file), ".txtar")] = s
		}
	}
	if len(out) == 0 {
		t.Fatal("no golden streams")
	}
	return out
}

// TestStreamSplitInvariance feeds every golden stream whole, byte by byte,
// with CRLF line ends, and in random cuts: the events are the same.
func TestStreamSplitInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for name, s := range goldenStreams(t) {
		t.Run(name, func(t *testing.T) {
			whole := readStream(t, [][]byte{[]byte(s)})
			var bytewise [][]byte
			for i := range len(s) {
				bytewise = append(bytewise, []byte{s[i]})
			}
			if diff := cmp.Diff(whole, readStream(t, bytewise)); diff != "" {
				t.Errorf("byte by byte (-whole +got):\n%s", diff)
			}
			crlf := strings.ReplaceAll(s, "\n", "\r\n")
			if diff := cmp.Diff(whole, readStream(t, [][]byte{[]byte(crlf)})); diff != "" {
				t.Errorf("CRLF (-whole +got):\n%s", diff)
			}
			for range 20 {
				var chunks [][]byte
				for rest := []byte(s); len(rest) > 0; {
					n := min(1+rng.IntN(64), len(rest))
					chunks = append(chunks, rest[:n])
					rest = rest[n:]
				}
				if diff := cmp.Diff(whole, readStream(t, chunks)); diff != "" {
					t.Fatalf("random cuts (-whole +got):\n%s", diff)
				}
			}
		})
	}
}

// TestStreamTruncated cuts every golden stream at every byte before the
// end of its message_stop event: Done is false, and no stop is emitted.
func TestStreamTruncated(t *testing.T) {
	for name, s := range goldenStreams(t) {
		t.Run(name, func(t *testing.T) {
			whole := readStream(t, [][]byte{[]byte(s)})
			end := strings.Index(s, "event: message_stop")
			if end < 0 {
				if whole.Done {
					t.Fatal("done without message_stop")
				}
				return
			}
			if !whole.Done {
				t.Fatal("complete stream not done")
			}
			end += strings.Index(s[end:], "\n\n") + 2
			// Fed byte by byte, the reader has seen every prefix in turn.
			r := Upstream.NewStreamReader()
			stopped := false
			for cut := range end {
				if r.Done() || stopped {
					t.Fatalf("done after %d of %d bytes", cut, end)
				}
				if err := r.Feed([]byte{s[cut]}, func(ev llm.Event) { stopped = stopped || ev.Type == llm.EvStop }); err != nil {
					t.Fatal(err)
				}
			}
			if !r.Done() || !stopped {
				t.Fatal("not done at the end of message_stop")
			}
		})
	}
}

// TestStreamWriterReaderRoundTrip renders the events of every golden stream
// with the client writer and reads them back with the upstream reader.
func TestStreamWriterReaderRoundTrip(t *testing.T) {
	for name, s := range goldenStreams(t) {
		t.Run(name, func(t *testing.T) {
			first := readStream(t, [][]byte{[]byte(s)})
			var out bytes.Buffer
			w := Client.NewStreamWriter(&out, &llm.Request{Model: "claude-test"})
			for _, ev := range first.Events {
				if err := w.Write(ev.event()); err != nil {
					t.Fatal(err)
				}
			}
			second := readStream(t, [][]byte{out.Bytes()})
			if first.Done != second.Done {
				t.Errorf("done %v, after the round trip %v", first.Done, second.Done)
			}
			// The writer numbers blocks from 0 in start order, as Anthropic
			// does; a stream with skipped (server tool) blocks is renumbered.
			if diff := cmp.Diff(renumber(first.Events), second.Events); diff != "" {
				t.Errorf("events (-first +round trip):\n%s\n%s", diff, out.String())
			}
		})
	}
}

func TestStreamWriter(t *testing.T) {
	text := &llm.Part{Type: llm.PartText}
	u := &llm.Usage{InputTokens: 10, OutputTokens: 2}
	cases := []struct {
		name   string
		events []llm.Event
		fail   *llm.Error
		want   []string // the SSE event names written
	}{
		{
			name:   "no start event: message_start is written first",
			events: []llm.Event{{Type: llm.EvTextDelta, Text: "hi"}, {Type: llm.EvStop, StopReason: llm.StopEndTurn, Usage: u}},
			want:   []string{"message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"},
		},
		{
			name: "events after the stop are dropped",
			events: []llm.Event{{Type: llm.EvStart}, {Type: llm.EvStop, StopReason: llm.StopEndTurn},
				{Type: llm.EvTextDelta, Text: "late"}, {Type: llm.EvStop}},
			want: []string{"message_start", "message_delta", "message_stop"},
		},
		{
			name:   "fail after the stop writes nothing",
			events: []llm.Event{{Type: llm.EvStart}, {Type: llm.EvStop, StopReason: llm.StopEndTurn}},
			fail:   &llm.Error{Status: 502, Type: "server", Message: "cut"},
			want:   []string{"message_start", "message_delta", "message_stop"},
		},
		{
			name: "fail before anything: only the error",
			fail: &llm.Error{Status: 529, Type: "overloaded", Message: "Overloaded"},
			want: []string{"error"},
		},
		{
			name: "a delta after its block stopped is dropped; a repeated start is ignored",
			events: []llm.Event{{Type: llm.EvStart}, {Type: llm.EvBlockStart, Block: text}, {Type: llm.EvBlockStart, Block: text},
				{Type: llm.EvBlockStop}, {Type: llm.EvTextDelta, Text: "x"}},
			want: []string{"message_start", "content_block_start", "content_block_stop"},
		},
		{
			name:   "a non-response block is not rendered, nor its deltas",
			events: []llm.Event{{Type: llm.EvStart}, {Type: llm.EvBlockStart, Index: 3, Block: &llm.Part{Type: llm.PartImage}}, {Type: llm.EvTextDelta, Index: 3, Text: "x"}, {Type: llm.EvBlockStop, Index: 3}},
			want:   []string{"message_start"},
		},
		{
			name:   "an error event ends the stream",
			events: []llm.Event{{Type: llm.EvStart}, {Type: llm.EvError, Err: &llm.Error{Status: 500, Type: "server", Message: "x"}}, {Type: llm.EvStop}},
			want:   []string{"message_start", "error"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			w := Client.NewStreamWriter(&out, nil)
			for _, ev := range tc.events {
				if err := w.Write(ev); err != nil {
					t.Fatal(err)
				}
			}
			if tc.fail != nil {
				if err := w.Fail(tc.fail); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for _, line := range strings.Split(out.String(), "\n") {
				if name, ok := strings.CutPrefix(line, "event: "); ok {
					got = append(got, name)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s\n%s", diff, out.String())
			}
		})
	}
}

func TestStreamReaderMalformed(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"invalid JSON", "event: message_start\ndata: {nope\n\n", true},
		{"empty data is skipped", "event: message_start\ndata: \n\n", false},
		{"ping without data", "event: ping\n\n", false},
		{"line too long", "data: " + strings.Repeat("x", 2<<20), true},
		{"comment", ": hello\n\n", false},
		{"delta for an unknown block", "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":7,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n", false},
		{"type from data without event line", "data: {\"type\":\"message_stop\"}\n\n", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := readStream(t, [][]byte{[]byte(tc.in)})
			if (res.Err != "") != tc.wantErr {
				t.Errorf("error = %q, want error %v", res.Err, tc.wantErr)
			}
		})
	}
	// After an error, the reader stays broken.
	r := Upstream.NewStreamReader()
	if r.Feed([]byte("data: {\n\n"), func(llm.Event) {}) == nil {
		t.Fatal("no error")
	}
	if r.Feed([]byte("data: {\"type\":\"message_stop\"}\n\n"), func(llm.Event) {}) == nil || r.Done() {
		t.Fatal("a broken reader went on")
	}
}

// renumber gives blocks consecutive indexes in start order.
func renumber(evs []jsonEvent) []jsonEvent {
	index := map[int]int{}
	out := make([]jsonEvent, len(evs))
	for i, ev := range evs {
		switch ev.Type {
		case "start", "stop", "error":
		default:
			n, ok := index[ev.Index]
			if !ok {
				n = len(index)
				index[ev.Index] = n
			}
			ev.Index = n
		}
		out[i] = ev
	}
	return out
}

func TestStreamReaderPending(t *testing.T) {
	r := Upstream.NewStreamReader().(interface{ Pending() bool })
	feed := func(s string) {
		if err := r.(llm.StreamReader).Feed([]byte(s), func(llm.Event) {}); err != nil {
			t.Fatal(err)
		}
	}
	feed("event: ping\ndata: {\"type\":\"ping\"}\n\n")
	if r.Pending() {
		t.Error("pending after a whole event")
	}
	feed("event: message_start\ndata: {\"type\":")
	if !r.Pending() {
		t.Error("not pending inside an event")
	}
}
