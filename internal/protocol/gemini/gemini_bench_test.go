package gemini

import (
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
	return []byte(parseArchive(string(data)).files[section])
}

func BenchmarkDecodeRequest(b *testing.B) {
	body := benchInput(b, "client", "tool_round_trip", "request.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Client.DecodeRequest(body, "gemini-2.5-flash"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	req, err := Client.DecodeRequest(benchInput(b, "client", "tool_round_trip", "request.json"), "gemini-2.5-flash")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Upstream.EncodeRequest(req, "gemini-2.5-flash"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamReader(b *testing.B) {
	data := benchInput(b, "stream", "thinking", "stream.sse")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	events := 0
	for b.Loop() {
		r := Upstream.NewStreamReader()
		if err := r.Feed(data, func(llm.Event) { events++ }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}
