package proxy

import (
	"strings"
	"testing"
)

// BenchmarkChatTapEvent is the cost per event of tapping an OpenAI stream
// on the pass-through path: framing, one JSON validation, the usage check
// and the text kept for an estimate.
func BenchmarkChatTapEvent(b *testing.B) {
	const events = 64
	stream := []byte(strings.Repeat("data: "+chatChunk+"\n\n", events))
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		t := newChatTap(false)
		if out := t.process(stream); len(out) != len(stream) || t.err != nil {
			b.Fatal("stream not relayed whole")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
}

// BenchmarkChatTapEventStripped is the same with the usage member Sluice
// asked for removed from every event.
func BenchmarkChatTapEventStripped(b *testing.B) {
	const events = 64
	stream := []byte(chatStream(true))
	n := strings.Count(string(stream), "data: ")
	stream = []byte(strings.Repeat(string(stream), events/n+1))
	n *= events/n + 1
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		t := newChatTap(true)
		_ = t.process(stream)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}

// BenchmarkJSONChecker is the framing check of a large non-streamed answer.
func BenchmarkJSONChecker(b *testing.B) {
	body := embeddingBody(1 << 20)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var j jsonChecker
		_ = j.Feed(body)
		if err := j.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
