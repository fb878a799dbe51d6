package openai

import (
	"github.com/sluicehq/sluice/internal/golden"
	"io"
	"os"
	"strings"
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

// typicalRequest is a 2-4 KiB chat request: a system prompt, six turns (one
// of them a tool round trip) and one tool.
func typicalRequest() []byte {
	long := strings.Repeat("The quarterly figures show steady growth in every region we track. ", 6)
	return []byte(`{"model":"gpt-4o","max_completion_tokens":1024,"stream":true,"stream_options":{"include_usage":true},"temperature":0.2,` +
		`"tools":[{"type":"function","function":{"name":"get_figures","description":"Look up the figures of a region for a quarter.","parameters":{"type":"object","properties":{"region":{"type":"string","description":"the region"},"quarter":{"type":"string","enum":["Q1","Q2","Q3","Q4"]}},"required":["region","quarter"]}}}],` +
		`"messages":[{"role":"system","content":"You are a careful analyst. Answer briefly and cite the figures you use. ` + long + `"},` +
		`{"role":"user","content":"` + long + ` Summarise Europe for Q3."},` +
		`{"role":"assistant","content":"Let me look that up.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_figures","arguments":"{\"region\":\"Europe\",\"quarter\":\"Q3\"}"}}]},` +
		`{"role":"tool","tool_call_id":"call_1","content":"revenue 12.4M, growth 8%, churn 2.1%"},` +
		`{"role":"assistant","content":"` + long + `"},` +
		`{"role":"user","content":[{"type":"text","text":"And how does that compare with Asia? Keep it to two sentences."}]},` +
		`{"role":"assistant","content":"Asia grew faster, at 11%, but from a smaller base."}]}`)
}

// BenchmarkDecodeTypicalRequest measures decoding typicalRequest.
func BenchmarkDecodeTypicalRequest(b *testing.B) {
	body := typicalRequest()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Client.DecodeRequest(body, ""); err != nil {
			b.Fatal(err)
		}
	}
}
