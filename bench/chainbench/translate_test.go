package chainbench

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/protocol/anthropic"
	"github.com/sluicehq/sluice/internal/protocol/openai"
	"github.com/sluicehq/sluice/internal/provider"
	anthropicprov "github.com/sluicehq/sluice/internal/provider/anthropic"
	openaiprov "github.com/sluicehq/sluice/internal/provider/openai"
	"github.com/sluicehq/sluice/internal/proxy"
	"github.com/sluicehq/sluice/internal/runtime"
)

// translateBody is the same conversation in both dialects: a system
// prompt, six turns and a tool (about 2.5 KiB). model names the model;
// stream asks for a stream.
func translateBody(dialect, model string, stream bool) string {
	long := strings.Repeat("The quarterly figures show steady growth in every region we track. ", 6)
	sys := "You are a careful analyst. Answer briefly and cite the figures you use. " + long
	tool := `"name":"get_figures","description":"Look up the figures of a region for a quarter.",`
	schema := `{"type":"object","properties":{"region":{"type":"string"},"quarter":{"type":"string","enum":["Q1","Q2","Q3","Q4"]}},"required":["region","quarter"]}`
	head := `{"model":"` + model + `",`
	if stream {
		head += `"stream":true,`
	}
	if dialect == "anthropic" {
		return head + `"max_tokens":1024,"system":"` + sys + `","tools":[{` + tool + `"input_schema":` + schema + `}],"messages":[` +
			`{"role":"user","content":"` + long + ` Summarise Europe for Q3."},` +
			`{"role":"assistant","content":[{"type":"text","text":"Let me look that up."},{"type":"tool_use","id":"call_1","name":"get_figures","input":{"region":"Europe","quarter":"Q3"}}]},` +
			`{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"revenue 12.4M, growth 8%"}]},` +
			`{"role":"assistant","content":"` + long + `"},` +
			`{"role":"user","content":[{"type":"text","text":"And Asia? Two sentences."}]},` +
			`{"role":"assistant","content":"Asia grew faster, at 11%."},{"role":"user","content":"Thanks; and the outlook?"}]}`
	}
	return head + `"max_completion_tokens":1024,"tools":[{"type":"function","function":{` + tool + `"parameters":` + schema + `}}],"messages":[` +
		`{"role":"system","content":"` + sys + `"},{"role":"user","content":"` + long + ` Summarise Europe for Q3."},` +
		`{"role":"assistant","content":"Let me look that up.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_figures","arguments":"{\"region\":\"Europe\",\"quarter\":\"Q3\"}"}}]},` +
		`{"role":"tool","tool_call_id":"call_1","content":"revenue 12.4M, growth 8%"},` +
		`{"role":"assistant","content":"` + long + `"},{"role":"user","content":[{"type":"text","text":"And Asia? Two sentences."}]},` +
		`{"role":"assistant","content":"Asia grew faster, at 11%."},{"role":"user","content":"Thanks; and the outlook?"}]}`
}

// streamChunks is how many text deltas the fake upstreams stream.
const streamChunks = 20

// translateUpstream is one fake provider that speaks both protocols with
// the same text and token counts: OpenAI Chat Completions on
// /v1/chat/completions and Anthropic Messages on /v1/messages, each as a
// complete answer or, when the body asks for a stream, as streamChunks
// text deltas sent at once.
func translateUpstream(b *testing.B) string {
	b.Helper()
	const text = "All done, write to alice@example.org."
	oaWhole := []byte(`{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"` + text +
		`","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":2000,"completion_tokens":9,"total_tokens":2009}}`)
	anWhole := []byte(`{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"` + text +
		`"}],"model":"m","stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":2000,"output_tokens":9}}`)
	var oaStream, anStream bytes.Buffer
	chunk := `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{%s},"finish_reason":%s}]}` + "\n\n"
	fmt.Fprintf(&oaStream, chunk, `"role":"assistant","content":""`, "null")
	anStream.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"m\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":2000,\"output_tokens\":1}}}\n\n")
	anStream.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	for i := range streamChunks {
		fmt.Fprintf(&oaStream, chunk, fmt.Sprintf(`"content":"tok%05d "`, i), "null")
		fmt.Fprintf(&anStream, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"tok%05d \"}}\n\n", i)
	}
	fmt.Fprintf(&oaStream, chunk, "", `"stop"`)
	oaUsage := `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":2000,"completion_tokens":20,"total_tokens":2020}}` + "\n\ndata: [DONE]\n\n"
	anStream.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	anStream.WriteString("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":20}}\n\n")
	anStream.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		stream := bytes.Contains(body, []byte(`"stream":true`))
		anthropicPath := strings.HasSuffix(r.URL.Path, "/messages")
		switch {
		case stream && anthropicPath:
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write(anStream.Bytes())
		case stream:
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write(oaStream.Bytes())
			if bytes.Contains(body, []byte(`"include_usage":true`)) {
				_, _ = io.WriteString(w, oaUsage)
			} else {
				_, _ = io.WriteString(w, "data: [DONE]\n\n")
			}
		case anthropicPath:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(anWhole)
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(oaWhole)
		}
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

// BenchmarkTranslated pairs a pass-through (OpenAI client, OpenAI
// upstream) with translated requests of the same conversation: an
// Anthropic client to the OpenAI upstream (a2o) and an OpenAI client to an
// Anthropic upstream (o2a), whole answers and streams; compare their
// cpu-µs/op with the pass-through's of the same kind.
func BenchmarkTranslated(b *testing.B) {
	for _, tc := range []struct {
		name, path, dialect, model string
		stream                     bool
	}{
		{"passthrough", "/v1/chat/completions", "openai", "plain", false},
		{"anthropic-to-openai", "/v1/messages", "anthropic", "plain", false},
		{"openai-to-anthropic", "/v1/chat/completions", "openai", "claude", false},
		{"stream/passthrough", "/v1/chat/completions", "openai", "plain", true},
		{"stream/anthropic-to-openai", "/v1/messages", "anthropic", "plain", true},
		{"stream/openai-to-anthropic", "/v1/chat/completions", "openai", "claude", true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv := translatingGateway(b)
			drivePath(b, srv, tc.path, translateBody(tc.dialect, tc.model, tc.stream), tc.stream)
		})
	}
}

// BenchmarkTranslatedRatio measures each translated row against the
// pass-through of its kind (whole answer or stream) in alternating batches
// of 25 requests on one gateway, so that a busy machine slows both sides
// alike: it reports both sides' cpu-µs/op and their ratio, the figure the
// 1.4x target is about.
func BenchmarkTranslatedRatio(b *testing.B) {
	for _, tc := range []struct {
		name, path, dialect, model string
		stream                     bool
	}{
		{"anthropic-to-openai", "/v1/messages", "anthropic", "plain", false},
		{"openai-to-anthropic", "/v1/chat/completions", "openai", "claude", false},
		{"stream/anthropic-to-openai", "/v1/messages", "anthropic", "plain", true},
		{"stream/openai-to-anthropic", "/v1/chat/completions", "openai", "claude", true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			srv := translatingGateway(b)
			pass := poster(b, srv, "/v1/chat/completions", translateBody("openai", "plain", tc.stream), tc.stream)
			xlat := poster(b, srv, tc.path, translateBody(tc.dialect, tc.model, tc.stream), tc.stream)
			pass(20)
			xlat(20)
			const batch = 25
			var passCPU, xlatCPU time.Duration
			n := 0
			b.ReportAllocs()
			b.ResetTimer()
			for n < b.N {
				k := min(batch, b.N-n)
				c0 := cpuTime()
				pass(k)
				c1 := cpuTime()
				xlat(k)
				c2 := cpuTime()
				passCPU += c1 - c0
				xlatCPU += c2 - c1
				n += k
			}
			b.StopTimer()
			b.ReportMetric(float64(passCPU.Microseconds())/float64(b.N), "pass-cpu-µs/op")
			b.ReportMetric(float64(xlatCPU.Microseconds())/float64(b.N), "xlat-cpu-µs/op")
			b.ReportMetric(float64(xlatCPU)/float64(passCPU), "ratio")
		})
	}
}

// translatingGateway serves "plain" from an OpenAI provider and "claude"
// from an Anthropic one (both translateUpstream), with the OpenAI and
// Anthropic client and upstream codecs, in process.
func translatingGateway(b *testing.B) *httptest.Server {
	b.Helper()
	up := translateUpstream(b)
	pricing := config.Pricing{InputPerMTok: 1, OutputPerMTok: 2}
	f := &config.File{Version: 1,
		Providers: []config.Provider{{Name: "up", Type: "openai", BaseURL: up + "/v1", APIKey: "x"}, {Name: "an", Type: "anthropic", BaseURL: up, APIKey: "x"}},
		Models: []config.Model{{Name: "plain", Targets: []config.Target{{Provider: "up", Model: "m"}}, Pricing: pricing},
			{Name: "claude", Targets: []config.Target{{Provider: "an", Model: "m"}}, Pricing: pricing}},
		Keys: []config.Key{{Name: "bench", Key: benchKey}},
	}
	if err := f.Validate(); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	reg := provider.Registry{
		"openai": func(s provider.Spec) (provider.Adapter, error) {
			return openaiprov.New(openaiprov.Options{Name: s.Name, BaseURL: s.BaseURL, APIKey: s.APIKey, Client: client, Timeout: s.Timeout}), nil
		},
		"anthropic": func(s provider.Spec) (provider.Adapter, error) {
			s.Client = client
			return anthropicprov.New(s)
		},
	}
	snap, err := runtime.Compile(runtime.Inputs{File: f, Registry: reg, Provider: func(p config.Provider) provider.Spec {
		return provider.Spec{Name: p.Name, Type: p.Type, BaseURL: p.BaseURL, APIKey: p.APIKey}
	}})
	if err != nil {
		b.Fatal(err)
	}
	var holder runtime.Holder
	holder.Store(snap)
	mux := http.NewServeMux()
	proxy.New(proxy.Options{Snapshots: &holder, Ledger: discard{}, Codecs: proxy.Codecs{
		Clients: map[provider.Protocol]llm.ClientCodec{provider.ProtocolOpenAI: openai.Client, provider.ProtocolAnthropic: anthropic.Client},
		Upstreams: map[provider.Protocol]llm.UpstreamCodec{provider.ProtocolOpenAI: openai.Upstream,
			provider.ProtocolAnthropic: anthropic.Upstream},
	}}).Register(mux)
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	return srv
}

// drivePath sends b.N requests to path one at a time (see poster) and
// reports the process's CPU time per request.
func drivePath(b *testing.B, srv *httptest.Server, path, body string, stream bool) {
	b.Helper()
	post := poster(b, srv, path, body, stream)
	post(20)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	post(b.N)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}

// poster returns a function that sends n requests to path one at a time,
// reads each answer whole and checks that a stream ended in its dialect's
// terminal event.
func poster(b *testing.B, srv *httptest.Server, path, body string, stream bool) func(n int) {
	b.Helper()
	end := "data: [DONE]"
	if path == "/v1/messages" {
		end = `{"type":"message_stop"}`
	}
	return func(n int) {
		for range n {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+benchKey)
			req.Header.Set("x-api-key", benchKey)
			req.Header.Set("anthropic-version", "2023-06-01")
			resp, err := srv.Client().Do(req)
			if err != nil {
				b.Fatal(err)
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("%s: status %d: %s", path, resp.StatusCode, out)
			}
			if stream && !bytes.Contains(out, []byte(end)) {
				b.Fatalf("%s: stream without %s: %s", path, end, out)
			}
		}
	}
}
