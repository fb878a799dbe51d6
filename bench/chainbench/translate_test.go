package chainbench

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/protocol/anthropic"
	"github.com/sluicehq/sluice/internal/protocol/openai"
	"github.com/sluicehq/sluice/internal/provider"
	openaiprov "github.com/sluicehq/sluice/internal/provider/openai"
	"github.com/sluicehq/sluice/internal/proxy"
	"github.com/sluicehq/sluice/internal/runtime"
)

// translateBody is the same conversation in both dialects: a system
// prompt, six turns and a tool (about 2.5 KiB).
func translateBody(dialect string) string {
	long := strings.Repeat("The quarterly figures show steady growth in every region we track. ", 6)
	sys := "You are a careful analyst. Answer briefly and cite the figures you use. " + long
	tool := `"name":"get_figures","description":"Look up the figures of a region for a quarter.",`
	schema := `{"type":"object","properties":{"region":{"type":"string"},"quarter":{"type":"string","enum":["Q1","Q2","Q3","Q4"]}},"required":["region","quarter"]}`
	if dialect == "anthropic" {
		return `{"model":"plain","max_tokens":1024,"system":"` + sys + `","tools":[{` + tool + `"input_schema":` + schema + `}],"messages":[` +
			`{"role":"user","content":"` + long + ` Summarise Europe for Q3."},` +
			`{"role":"assistant","content":[{"type":"text","text":"Let me look that up."},{"type":"tool_use","id":"call_1","name":"get_figures","input":{"region":"Europe","quarter":"Q3"}}]},` +
			`{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"revenue 12.4M, growth 8%"}]},` +
			`{"role":"assistant","content":"` + long + `"},` +
			`{"role":"user","content":[{"type":"text","text":"And Asia? Two sentences."}]},` +
			`{"role":"assistant","content":"Asia grew faster, at 11%."},{"role":"user","content":"Thanks; and the outlook?"}]}`
	}
	return `{"model":"plain","max_completion_tokens":1024,"tools":[{"type":"function","function":{` + tool + `"parameters":` + schema + `}}],"messages":[` +
		`{"role":"system","content":"` + sys + `"},{"role":"user","content":"` + long + ` Summarise Europe for Q3."},` +
		`{"role":"assistant","content":"Let me look that up.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_figures","arguments":"{\"region\":\"Europe\",\"quarter\":\"Q3\"}"}}]},` +
		`{"role":"tool","tool_call_id":"call_1","content":"revenue 12.4M, growth 8%"},` +
		`{"role":"assistant","content":"` + long + `"},{"role":"user","content":[{"type":"text","text":"And Asia? Two sentences."}]},` +
		`{"role":"assistant","content":"Asia grew faster, at 11%."},{"role":"user","content":"Thanks; and the outlook?"}]}`
}

// BenchmarkTranslated pairs a pass-through (OpenAI client, OpenAI
// upstream) with a translated request (Anthropic client, the same OpenAI
// upstream) of the same conversation; compare their cpu-µs/op.
func BenchmarkTranslated(b *testing.B) {
	b.Run("passthrough", func(b *testing.B) {
		srv := gatewayWith(b, nil)
		drivePath(b, srv, "/v1/chat/completions", translateBody("openai"))
	})
	b.Run("anthropic-to-openai", func(b *testing.B) {
		srv := gatewayWith(b, map[provider.Protocol]llm.ClientCodec{provider.ProtocolAnthropic: anthropic.Client})
		drivePath(b, srv, "/v1/messages", translateBody("anthropic"))
	})
}

// gatewayWith is gateway with more client codecs registered (nil: gateway
// itself).
func gatewayWith(b *testing.B, clients map[provider.Protocol]llm.ClientCodec) *httptest.Server {
	b.Helper()
	if clients == nil {
		return gateway(b, nil)
	}
	f := &config.File{Version: 1,
		Providers: []config.Provider{{Name: "up", Type: "openai", BaseURL: upstream(b), APIKey: "x"}},
		Models:    []config.Model{{Name: "plain", Targets: []config.Target{{Provider: "up", Model: "m"}}, Pricing: config.Pricing{InputPerMTok: 1, OutputPerMTok: 2}}},
		Keys:      []config.Key{{Name: "bench", Key: benchKey}},
	}
	if err := f.Validate(); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	reg := provider.Registry{"openai": func(s provider.Spec) (provider.Adapter, error) {
		return openaiprov.New(openaiprov.Options{Name: s.Name, BaseURL: s.BaseURL, APIKey: s.APIKey, Client: client, Timeout: s.Timeout}), nil
	}}
	snap, err := runtime.Compile(runtime.Inputs{File: f, Registry: reg, Provider: func(p config.Provider) provider.Spec {
		return provider.Spec{Name: p.Name, Type: p.Type, BaseURL: p.BaseURL, APIKey: p.APIKey}
	}})
	if err != nil {
		b.Fatal(err)
	}
	var holder runtime.Holder
	holder.Store(snap)
	clients[provider.ProtocolOpenAI] = openai.Client
	mux := http.NewServeMux()
	proxy.New(proxy.Options{Snapshots: &holder, Ledger: discard{}, Codecs: proxy.Codecs{
		Clients:   clients,
		Upstreams: map[provider.Protocol]llm.UpstreamCodec{provider.ProtocolOpenAI: openai.Upstream},
	}}).Register(mux)
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	return srv
}

// drivePath sends b.N requests to path one at a time and reports the
// process's CPU time per request.
func drivePath(b *testing.B, srv *httptest.Server, path, body string) {
	b.Helper()
	post := func(n int) {
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
		}
	}
	post(20)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	post(b.N)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}
