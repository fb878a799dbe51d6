package responses

import (
	"github.com/sluicehq/sluice/internal/golden"
	"io"
	"os"
	"testing"

	"github.com/sluicehq/sluice/internal/llm"
)

func benchInput(b *testing.B, dir, name, section string) []byte {
	b.Helper()
	data, err := os.ReadFile("testdata/" + dir + "/" + name + ".txtar")
	if err != nil {
		b.Fatal(err)
	}
	s, ok := golden.Parse(string(data)).Get(section)
	if !ok {
		b.Fatalf("%s has no %s", name, section)
	}
	return []byte(s)
}

func BenchmarkDecodeRequest(b *testing.B) {
	body := benchInput(b, "client", "tool_roundtrip", "request.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Client.DecodeRequest(body, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTap reads a whole stream: the metering tap's cost.
func BenchmarkTap(b *testing.B) {
	stream := benchInput(b, "tap", "reasoning", "upstream-stream.sse")
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		tap := NewTap()
		if err := tap.Feed(stream, func(llm.Event) {}); err != nil || !tap.Done() {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamWriter(b *testing.B) {
	var evs []llm.Event
	if err := NewTap().Feed(benchInput(b, "tap", "reasoning", "upstream-stream.sse"), func(ev llm.Event) { evs = append(evs, ev) }); err != nil {
		b.Fatal(err)
	}
	req := &llm.Request{Model: "m", Stream: true}
	b.ReportAllocs()
	for b.Loop() {
		w := Client.NewStreamWriter(io.Discard, req)
		for _, ev := range evs {
			if err := w.Write(ev); err != nil {
				b.Fatal(err)
			}
		}
	}
}
