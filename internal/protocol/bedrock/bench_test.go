package bedrock

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/llm"
)

// BenchmarkStreamReader decodes a 200-delta text stream fed in 1 KiB reads.
func BenchmarkStreamReader(b *testing.B) {
	var src strings.Builder
	src.WriteString("event messageStart {\"role\":\"assistant\"}\n")
	for i := range 200 {
		fmt.Fprintf(&src, "event contentBlockDelta {\"contentBlockIndex\":0,\"delta\":{\"text\":\" word%d\"},\"p\":\"abcdefghijklmnop\"}\n", i)
	}
	src.WriteString("event contentBlockStop {\"contentBlockIndex\":0}\nevent messageStop {\"stopReason\":\"end_turn\"}\n")
	src.WriteString("event metadata {\"usage\":{\"inputTokens\":10,\"outputTokens\":200,\"totalTokens\":210}}\n")
	stream, _, err := buildStream(src.String())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	events := 0
	for b.Loop() {
		r := NewStreamReader()
		for s := stream; len(s) > 0; {
			n := min(1024, len(s))
			if err := r.Feed(s[:n], func(llm.Event) { events++ }); err != nil {
				b.Fatal(err)
			}
			s = s[n:]
		}
	}
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}

// BenchmarkEncodeRequest encodes a multi-turn request with tools.
func BenchmarkEncodeRequest(b *testing.B) {
	req := &llm.Request{
		System: []llm.Part{{Type: llm.PartText, Text: "You are helpful."}},
		Tools:  []llm.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}},
	}
	for i := range 20 {
		req.Messages = append(req.Messages,
			llm.Message{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: strings.Repeat("question ", 50)}}},
			llm.Message{Role: llm.RoleAssistant, Content: []llm.Part{{Type: llm.PartText, Text: fmt.Sprintf("answer %d", i)}}})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Upstream.EncodeRequest(req, "anthropic.claude-3-5-sonnet-20240620-v1:0"); err != nil {
			b.Fatal(err)
		}
	}
}
