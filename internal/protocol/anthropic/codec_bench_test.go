package anthropic

import (
	"io"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/llm"
)

// benchStream is a 200-delta text stream, as Anthropic sends it.
func benchStream() []byte {
	var b strings.Builder
	b.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n")
	b.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	for range 200 {
		b.WriteString("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" word\"}}\n\n")
	}
	b.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	b.WriteString("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":200}}\n\n")
	b.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	return []byte(b.String())
}

// BenchmarkStreamReader measures the metering tap: decoding a whole stream.
func BenchmarkStreamReader(b *testing.B) {
	data := benchStream()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := Upstream.NewStreamReader()
		if err := r.Feed(data, func(llm.Event) {}); err != nil || !r.Done() {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/203, "ns/event")
}

// BenchmarkStreamWriter measures rendering canonical events as Anthropic SSE.
func BenchmarkStreamWriter(b *testing.B) {
	var evs []llm.Event
	r := Upstream.NewStreamReader()
	_ = r.Feed(benchStream(), func(ev llm.Event) { evs = append(evs, ev) })
	b.ReportAllocs()
	for b.Loop() {
		w := Client.NewStreamWriter(io.Discard, &llm.Request{Model: "m"})
		for _, ev := range evs {
			if err := w.Write(ev); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(evs)), "ns/event")
}

// BenchmarkTranslateRequest measures a client request decoded and encoded for
// the upstream.
func BenchmarkTranslateRequest(b *testing.B) {
	body := []byte(`{"model":"claude-sonnet-4-5","max_tokens":1024,"system":"Be brief.","tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"location":{"type":"string"}}}}],"messages":[{"role":"user","content":"What's the weather in Paris?"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"location":"Paris"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"18C"}]}]}`)
	b.ReportAllocs()
	for b.Loop() {
		req, err := Client.DecodeRequest(body, "")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Upstream.EncodeRequest(req, "m"); err != nil {
			b.Fatal(err)
		}
	}
}

// typicalRequest is a 2-4 KiB Messages request: a system prompt, six turns
// (one of them a tool round trip) and one tool.
func typicalRequest() []byte {
	long := strings.Repeat("The quarterly figures show steady growth in every region we track. ", 6)
	return []byte(`{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,"temperature":0.2,` +
		`"system":[{"type":"text","text":"You are a careful analyst. Answer briefly and cite the figures you use. ` + long + `","cache_control":{"type":"ephemeral"}}],` +
		`"tools":[{"name":"get_figures","description":"Look up the figures of a region for a quarter.","input_schema":{"type":"object","properties":{"region":{"type":"string","description":"the region"},"quarter":{"type":"string","enum":["Q1","Q2","Q3","Q4"]}},"required":["region","quarter"]}}],` +
		`"messages":[` +
		`{"role":"user","content":"` + long + ` Summarise Europe for Q3."},` +
		`{"role":"assistant","content":[{"type":"text","text":"Let me look that up."},{"type":"tool_use","id":"toolu_1","name":"get_figures","input":{"region":"Europe","quarter":"Q3"}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"revenue 12.4M, growth 8%, churn 2.1%"}]}]},` +
		`{"role":"assistant","content":[{"type":"text","text":"` + long + `"}]},` +
		`{"role":"user","content":[{"type":"text","text":"And how does that compare with Asia? Keep it to two sentences."}]},` +
		`{"role":"assistant","content":"Asia grew faster, at 11%, but from a smaller base."}]}`)
}

// BenchmarkDecodeRequest measures decoding a typical client request.
func BenchmarkDecodeRequest(b *testing.B) {
	body := typicalRequest()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Client.DecodeRequest(body, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeResponse measures rendering a canonical response for an
// Anthropic client.
func BenchmarkEncodeResponse(b *testing.B) {
	resp := &llm.Response{ID: "msg_1", Model: "m", Content: []llm.Part{{Type: llm.PartText, Text: strings.Repeat("word ", 200)}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Client.EncodeResponse(&llm.Request{Model: "m"}, resp); err != nil {
			b.Fatal(err)
		}
	}
}
