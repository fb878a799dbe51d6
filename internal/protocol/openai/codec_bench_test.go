package openai

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

func BenchmarkEncodeRequest(b *testing.B) {
	req, err := Client.DecodeRequest(benchInput(b, "client", "tool_roundtrip", "request.json"), "")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Upstream.EncodeRequest(req, "m"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamReader reads a whole stream: the metering tap's cost.
func BenchmarkStreamReader(b *testing.B) {
	stream := benchInput(b, "upstream", "parallel_tools", "upstream-stream.sse")
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	events := 0
	for b.Loop() {
		r := NewStreamReader()
		if err := r.Feed(stream, func(llm.Event) { events++ }); err != nil || !r.Done() {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}

func BenchmarkStreamWriter(b *testing.B) {
	var evs []llm.Event
	r := NewStreamReader()
	if err := r.Feed(benchInput(b, "upstream", "parallel_tools", "upstream-stream.sse"), func(ev llm.Event) { evs = append(evs, ev) }); err != nil {
		b.Fatal(err)
	}
	req := &llm.Request{Model: "m", Stream: true, IncludeUsage: true}
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
