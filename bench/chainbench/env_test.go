// Package chainbench measures the request chain in process: the chain with
// its optional steps off against the chain before them, guardrails on an
// 8 KiB prompt, and a cache hit against a miss. The upstream is an
// in-process fake that answers at once, so the figures are Sluice's own
// cost. Run: go test -run '^$' -bench . -benchtime 3000x ./bench/chainbench
package chainbench

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/protocol/openai"
	"github.com/sluicehq/sluice/internal/provider"
	openaiprov "github.com/sluicehq/sluice/internal/provider/openai"
	"github.com/sluicehq/sluice/internal/proxy"
	"github.com/sluicehq/sluice/internal/runtime"
	upstreamtr "github.com/sluicehq/sluice/internal/upstream"
)

const benchKey = "gw-bench-key-0000000001"

type discard struct{}

func (discard) Record(ledger.Entry) bool { return true }

// upstream answers every chat completion with a short fixed answer.
func upstream(b *testing.B) string {
	b.Helper()
	answer, _ := json.Marshal(map[string]any{"id": "c", "object": "chat.completion", "created": 1, "model": "m",
		"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": "All done, write to alice@example.org."}, "finish_reason": "stop"}},
		"usage":   map[string]any{"prompt_tokens": 2000, "completion_tokens": 9, "total_tokens": 2009}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}))
	b.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

// gateway serves file's models (the provider "up" is added) in process.
func gateway(b *testing.B, mutate func(*config.File)) *httptest.Server {
	b.Helper()
	f := &config.File{Version: 1,
		Providers: []config.Provider{{Name: "up", Type: "openai", BaseURL: upstream(b), APIKey: "x"}},
		Models:    []config.Model{{Name: "plain", Targets: []config.Target{{Provider: "up", Model: "m"}}, Pricing: config.Pricing{InputPerMTok: 1, OutputPerMTok: 2}}},
		Keys:      []config.Key{{Name: "bench", Key: benchKey}},
	}
	if mutate != nil {
		mutate(f)
	}
	if err := f.Validate(); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: upstreamtr.New(upstreamtr.Options{})} // as internal/app wires it
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
	mux := http.NewServeMux()
	proxy.New(proxy.Options{Snapshots: &holder, Ledger: discard{}, Codecs: proxy.Codecs{
		Clients:   map[provider.Protocol]llm.ClientCodec{provider.ProtocolOpenAI: openai.Client},
		Upstreams: map[provider.Protocol]llm.UpstreamCodec{provider.ProtocolOpenAI: openai.Upstream},
	}}).Register(mux)
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	return srv
}

// chatBody is a chat completion for model whose user message is about
// size bytes of prose, with an email and a card number in it.
func chatBody(model string, size int) string {
	var sb strings.Builder
	for sb.Len() < size {
		sb.WriteString("Please summarise the quarterly report for the board; contact bob@example.com or pay with 4111 1111 1111 1111. ")
	}
	msg, _ := json.Marshal(sb.String()[:size])
	return `{"model":"` + model + `","messages":[{"role":"user","content":` + string(msg) + `}]}`
}

// drive sends b.N requests one at a time and reports the latency
// percentiles (µs) beside ns/op.
func drive(b *testing.B, srv *httptest.Server, body string, hdr map[string]string, want string) {
	b.Helper()
	send(b, srv, body, hdr, "", 20) // warm the connections (and the cache)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	lat := send(b, srv, body, hdr, want, b.N)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// cpuTime is the process's user and system CPU time: gateway, upstream
// and client together, all in this process. It is steadier than wall time
// on a busy machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// send sends n requests one at a time and returns their latencies.
func send(b *testing.B, srv *httptest.Server, body string, hdr map[string]string, want string, n int) []time.Duration {
	client := srv.Client()
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+benchKey)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(start))
		if resp.StatusCode != http.StatusOK || (want != "" && resp.Header.Get("X-Sluice-Cache") != want) {
			b.Fatalf("status %d cache %q, want 200 %q", resp.StatusCode, resp.Header.Get("X-Sluice-Cache"), want)
		}
	}
	return lat
}
