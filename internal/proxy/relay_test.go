package proxy

// A gateway in front of scripted raw upstreams of each protocol, and the
// tests of how answers are relayed: framing checked, bodies streamed with a
// bounded memory, usage read from the tail.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/llm"
	protocolanthropic "github.com/sluicehq/sluice/internal/protocol/anthropic"
	protocolbedrock "github.com/sluicehq/sluice/internal/protocol/bedrock"
	protocolgemini "github.com/sluicehq/sluice/internal/protocol/gemini"
	protocolopenai "github.com/sluicehq/sluice/internal/protocol/openai"
	protocolresponses "github.com/sluicehq/sluice/internal/protocol/responses"
	"github.com/sluicehq/sluice/internal/provider"
	provanthropic "github.com/sluicehq/sluice/internal/provider/anthropic"
	provbedrock "github.com/sluicehq/sluice/internal/provider/bedrock"
	provgemini "github.com/sluicehq/sluice/internal/provider/gemini"
	"github.com/sluicehq/sluice/internal/provider/openai"
	"github.com/sluicehq/sluice/internal/route"
	"github.com/sluicehq/sluice/internal/runtime"
)

// gateway is a data plane serving model "m" over the targets "a", "b", ...
type gateway struct {
	url    string
	rec    *recorder
	health *route.Registry
	h      *Handler
}

// allCodecs are the codecs the app wires.
func allCodecs() Codecs {
	return Codecs{
		Clients: map[provider.Protocol]llm.ClientCodec{
			provider.ProtocolOpenAI: protocolopenai.Client, provider.ProtocolResponses: protocolresponses.Client,
			provider.ProtocolAnthropic: protocolanthropic.Client, provider.ProtocolGemini: protocolgemini.Client,
		},
		Upstreams: map[provider.Protocol]llm.UpstreamCodec{
			provider.ProtocolOpenAI: protocolopenai.Upstream, provider.ProtocolAnthropic: protocolanthropic.Upstream,
			provider.ProtocolGemini: protocolgemini.Upstream, provider.ProtocolBedrock: protocolbedrock.Upstream,
		},
		ResponsesTap:   protocolresponses.NewTap,
		ResponsesUsage: protocolresponses.UsageFromBody,
	}
}

// newGateway starts one upstream per handler, all of provider type typ,
// as targets "a", "b", ... of model "m" (priced $1/$1 per Mtok), in that
// order. mutate may change the file before it is compiled.
func newGateway(t *testing.T, typ string, mutate func(*config.File), handlers ...http.Handler) *gateway {
	t.Helper()
	g := &gateway{rec: &recorder{}, health: route.NewRegistry(route.HealthOptions{})}
	file := &config.File{Version: 1, Keys: []config.Key{{Name: "dev", Key: clientKey}},
		Models: []config.Model{{Name: "m", Pricing: config.Pricing{InputPerMTok: 1, OutputPerMTok: 1}}}}
	for i, h := range handlers {
		name := string(rune('a' + i))
		base := newTestServer(t, h)
		if typ == config.TypeOpenAI {
			base += "/v1"
		}
		p := config.Provider{Name: name, Type: typ, BaseURL: base, APIKey: providerKey}
		if typ == config.TypeBedrock {
			p.Region = "us-east-1"
		}
		file.Providers = append(file.Providers, p)
		file.Models[0].Targets = append(file.Models[0].Targets, config.Target{Provider: name, Model: "up-" + name})
	}
	if mutate != nil {
		mutate(file)
	}
	if err := file.Validate(); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: provider.ConnectTimeout(ctx, time.Second)}
			return d.DialContext(ctx, network, addr)
		}}}
	t.Cleanup(client.CloseIdleConnections)
	reg := provider.Registry{
		config.TypeOpenAI: func(s provider.Spec) (provider.Adapter, error) {
			return openai.New(openai.Options{Name: s.Name, BaseURL: s.BaseURL, APIKey: s.APIKey, Client: client, Timeout: s.Timeout}), nil
		},
		config.TypeAnthropic: provanthropic.New,
		config.TypeGemini:    provgemini.New,
		config.TypeBedrock:   provbedrock.New,
	}
	snap, err := runtime.Compile(runtime.Inputs{File: file, Registry: reg, Health: g.health, Provider: func(p config.Provider) provider.Spec {
		return provider.Spec{Name: p.Name, Type: p.Type, BaseURL: p.BaseURL, APIKey: p.APIKey, Region: p.Region, Client: client}
	}})
	if err != nil {
		t.Fatal(err)
	}
	var holder runtime.Holder
	holder.Store(snap)
	mux := http.NewServeMux()
	g.h = New(Options{Snapshots: &holder, Ledger: g.rec, Codecs: allCodecs()})
	g.h.Register(mux)
	g.url = newTestServer(t, mux)
	return g
}

// clientRequest is a request in a protocol's own dialect, for model "m".
func clientRequest(t testing.TB, base, proto string, stream bool, body string) *http.Request {
	t.Helper()
	var path string
	switch proto {
	case "openai":
		path = "/v1/chat/completions"
	case "responses":
		path = "/v1/responses"
	case "anthropic":
		path = "/v1/messages"
	case "gemini":
		path = "/v1beta/models/m:generateContent"
		if stream {
			path = "/v1beta/models/m:streamGenerateContent?alt=sse"
		}
	}
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	switch proto {
	case "anthropic":
		req.Header.Set("X-Api-Key", clientKey)
		req.Header.Set("Anthropic-Version", "2023-06-01")
	case "gemini":
		req.Header.Set("X-Goog-Api-Key", clientKey)
	default:
		req.Header.Set("Authorization", "Bearer "+clientKey)
	}
	return req
}

// clientBody is a minimal request body of a protocol.
func clientBody(proto string, stream bool) string {
	switch proto {
	case "responses":
		return fmt.Sprintf(`{"model":"m","stream":%v,"input":"hi"}`, stream)
	case "anthropic":
		return fmt.Sprintf(`{"model":"m","stream":%v,"max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`, stream)
	case "gemini":
		return `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	}
	return fmt.Sprintf(`{"model":"m","stream":%v,"messages":[{"role":"user","content":"hi"}]}`, stream)
}

func (g *gateway) do(t testing.TB, proto string, stream bool, body string) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(clientRequest(t, g.url, proto, stream, body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body) // a cut body is read as far as it goes
	return resp, string(b)
}

// entry waits for the one ledger entry.
func (g *gateway) entry(t testing.TB) ledger.Entry {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got := g.rec.all(); len(got) > 0 || time.Now().After(deadline) {
			if len(got) != 1 {
				t.Fatalf("ledger has %d entries, want 1: %+v", len(got), got)
			}
			return got[0]
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawUpstream answers every request with the status, content type and
// body given, flushing after each piece of body.
func rawUpstream(status int, contentType string, body ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		for _, b := range body {
			_, _ = io.WriteString(w, b)
			http.NewResponseController(w).Flush()
		}
	})
}

// streamOf writes SSE events: name (may be "") and data pairs.
func streamOf(pairs ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i] != "" {
			b.WriteString("event: " + pairs[i] + "\n")
		}
		b.WriteString("data: " + pairs[i+1] + "\n\n")
	}
	return b.String()
}

func sseData(data ...string) string {
	var pairs []string
	for _, d := range data {
		pairs = append(pairs, "", d)
	}
	return streamOf(pairs...)
}

const chatChunk = `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"up-a","choices":[{"index":0,"delta":{"content":"hello "},"finish_reason":null}]}`

// A pass-through stream whose data line is not JSON ends with the
// dialect's error event, without the terminal event that follows it, and
// is recorded truncated: for each protocol that passes through.
func TestBrokenStreamEventEndsTheStream(t *testing.T) {
	const broken = `{"id":"c1","choices":[{"delta":{"content":"x"`
	tests := []struct {
		proto, typ string
		body       string // the whole upstream stream, in one write
		terminal   string // what must not reach the client
		errEvent   string // the client's error event
	}{
		{"openai", config.TypeOpenAI, sseData(chatChunk, broken, `{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`, "[DONE]"),
			"[DONE]", `"upstream_stream_truncated"`},
		{"anthropic", config.TypeAnthropic, streamOf(
			"message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"up-a","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}`,
			"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
			"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hello"`,
			"message_stop", `{"type":"message_stop"}`), "message_stop", `"type":"error"`},
		{"gemini", config.TypeGemini, sseData(
			`{"candidates":[{"content":{"role":"model","parts":[{"text":"hello "}]}}],"usageMetadata":{"promptTokenCount":5}}`,
			`{"candidates":[{"content":{"role":"model","parts":[{"text":"wor`,
			`{"candidates":[{"content":{"role":"model","parts":[{"text":"ld"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3}}`),
			`"finishReason":"STOP"`, `"error"`},
		{"responses", config.TypeOpenAI, streamOf(
			"response.created", `{"type":"response.created","response":{"id":"r1","model":"up-a","status":"in_progress"}}`,
			"response.output_text.delta", `{"type":"response.output_text.delta","output_index":0,"delta":"hel`,
			"response.completed", `{"type":"response.completed","response":{"id":"r1","model":"up-a","status":"completed","usage":{"input_tokens":5,"output_tokens":2,"total_tokens":7}}}`),
			"response.completed", `"error"`},
	}
	for _, tc := range tests {
		t.Run(tc.proto, func(t *testing.T) {
			g := newGateway(t, tc.typ, nil, rawUpstream(200, "text/event-stream", tc.body))
			resp, body := g.do(t, tc.proto, true, clientBody(tc.proto, true))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if strings.Contains(body, tc.terminal) || !strings.Contains(body, tc.errEvent) {
				t.Fatalf("the client saw the terminal event %q after a broken one, or no error event:\n%s", tc.terminal, body)
			}
			if strings.Contains(body, `"hello"`+"\n") || strings.Contains(body, `"wor`+"\n") {
				t.Fatalf("the broken event reached the client:\n%s", body)
			}
			e := g.entry(t)
			if e.Status != ledger.StatusTruncated || !strings.Contains(e.Error, "malformed") {
				t.Fatalf("entry %+v", e)
			}
		})
	}
}

// A non-streamed 200 whose body is not complete JSON is not a success: a
// small one is answered 502 (nothing was relayed), a large one, already
// streaming to the client, is recorded truncated.
func TestCorruptBodyIsNotASuccess(t *testing.T) {
	full := `{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"` +
		strings.Repeat("word ", 100_000) + `"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":100000,"total_tokens":100007}}`
	small := `{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":1,"total_tokens":8}}`
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantLedger ledger.Status
	}{
		{"small truncated", small[:len(small)-20], 502, ledger.StatusUpstreamError},
		{"small with a stray byte", small + "x", 502, ledger.StatusUpstreamError},
		{"small complete", small, 200, ledger.StatusOK},
		{"large truncated", full[:len(full)-20], 200, ledger.StatusTruncated},
		{"large broken inside", strings.Replace(full, `"finish_reason":"stop"`, `"finish_reason":stop`, 1), 200, ledger.StatusTruncated},
		{"large complete", full, 200, ledger.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t, config.TypeOpenAI, nil, rawUpstream(200, "application/json", tc.body))
			resp, body := g.do(t, "openai", false, clientBody("openai", false))
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, tc.wantStatus, body)
			}
			e := g.entry(t)
			if e.Status != tc.wantLedger || len(e.Attempts) != 1 || e.Attempts[0].Status != tc.wantLedger {
				t.Fatalf("entry %+v", e)
			}
			if tc.wantLedger != ledger.StatusOK && e.Error == "" {
				t.Fatalf("no error recorded: %+v", e)
			}
			if tc.wantLedger == ledger.StatusOK && (e.Estimated || e.InputTokens != 7) {
				t.Fatalf("usage not read from the body: %+v", e)
			}
		})
	}
}

// embeddingBody is an OpenAI embeddings answer of about size bytes, its
// usage at the end.
func embeddingBody(size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"object":"list","data":[`)
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"object":"embedding","index":%d,"embedding":[`, i)
		for j := range 256 {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString("-0.0123456789")
		}
		b.WriteString("]}")
	}
	b.WriteString(`],"model":"up-a","usage":{"prompt_tokens":4242,"total_tokens":4242}}`)
	return b.Bytes()
}

// A 20 MB non-streamed answer is relayed whole, byte for byte, with the
// usage read from its tail, and the gateway allocates far less than the
// body per request (it is streamed, not buffered).
func TestLargeBodyIsStreamedAndMeteredFromItsTail(t *testing.T) {
	big := embeddingBody(20 << 20)
	g := newGateway(t, config.TypeOpenAI, nil, rawUpstream(200, "application/json", string(big)))
	const body = `{"model":"m","input":"hello"}`
	post := func() int {
		req := clientRequest(t, g.url, "openai", false, body)
		req.URL.Path = "/v1/embeddings"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		n, _ := io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return int(n)
	}
	if n := post(); n != len(big) {
		t.Fatalf("relayed %d bytes of %d", n, len(big))
	}
	// Allocations per request, measured over several, in this process
	// (the upstream's writes and the client's reads included).
	const n = 4
	var before, after goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&before)
	for range n {
		post()
	}
	goruntime.ReadMemStats(&after)
	perRequest := (after.TotalAlloc - before.TotalAlloc) / n
	t.Logf("%d KiB allocated per 20 MB request", perRequest>>10)
	if perRequest > 4<<20 {
		t.Fatalf("%d bytes allocated per request for a %d-byte answer: the body is buffered", perRequest, len(big))
	}
	entries := g.rec.all()
	if len(entries) != n+1 {
		t.Fatalf("%d entries", len(entries))
	}
	for _, e := range entries {
		if e.Status != ledger.StatusOK || e.Estimated || e.InputTokens != 4242 {
			t.Fatalf("usage not read from the tail: %+v", e)
		}
	}
}

// Many concurrent large answers: the heap's high-water mark stays far
// below answers x size.
func TestConcurrentLargeBodiesHeapBound(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 200 MB")
	}
	big := embeddingBody(10 << 20)
	g := newGateway(t, config.TypeOpenAI, nil, rawUpstream(200, "application/json", string(big)))
	const clients = 20
	stop := make(chan struct{})
	var peak uint64
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		var ms goruntime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				goruntime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
	}()
	goruntime.GC()
	var base goruntime.MemStats
	goruntime.ReadMemStats(&base)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := clientRequest(t, g.url, "openai", false, `{"model":"m","input":"x"}`)
			req.URL.Path = "/v1/embeddings"
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			r := bufio.NewReaderSize(resp.Body, 32<<10)
			_, _ = io.Copy(io.Discard, r)
			resp.Body.Close()
		}()
	}
	wg.Wait()
	close(stop)
	watch.Wait()
	grown := int64(peak) - int64(base.HeapInuse)
	t.Logf("heap high-water %d MiB above the start for %d concurrent 10 MB answers", grown>>20, clients)
	if grown > 64<<20 {
		t.Fatalf("heap grew by %d MiB for %d x 10 MB answers", grown>>20, clients)
	}
}

// Each protocol's usage is read from the tail of a large answer.
func TestLargeBodyUsageFromTailPerProtocol(t *testing.T) {
	pad := strings.Repeat("lorem ipsum ", 100_000) // 1.2 MB, past the whole-body limit
	tests := []struct {
		proto, typ, body string
		wantIn, wantOut  int64
	}{
		{"openai", config.TypeOpenAI, `{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"` + pad + `"},"finish_reason":"stop"}],"usage":{"prompt_tokens":31,"completion_tokens":41,"total_tokens":72}}`, 31, 41},
		{"responses", config.TypeOpenAI, `{"id":"r1","object":"response","status":"completed","output":[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"` + pad + `"}]}],"usage":{"input_tokens":32,"output_tokens":42,"total_tokens":74}}`, 32, 42},
		{"anthropic", config.TypeAnthropic, `{"id":"msg_1","type":"message","role":"assistant","model":"up-a","content":[{"type":"text","text":"` + pad + `"}],"stop_reason":"end_turn","usage":{"input_tokens":33,"output_tokens":43}}`, 33, 43},
		{"gemini", config.TypeGemini, `{"candidates":[{"content":{"role":"model","parts":[{"text":"` + pad + `"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":34,"candidatesTokenCount":44,"totalTokenCount":78}}`, 34, 44},
	}
	for _, tc := range tests {
		t.Run(tc.proto, func(t *testing.T) {
			g := newGateway(t, tc.typ, nil, rawUpstream(200, "application/json", tc.body))
			resp, body := g.do(t, tc.proto, false, clientBody(tc.proto, false))
			if resp.StatusCode != 200 || body != tc.body {
				t.Fatalf("status %d; the body was not relayed as it is (%d of %d bytes)", resp.StatusCode, len(body), len(tc.body))
			}
			e := g.entry(t)
			if e.Status != ledger.StatusOK || e.Estimated || e.InputTokens != tc.wantIn || e.OutputTokens != tc.wantOut {
				t.Fatalf("entry %s estimated %v %d/%d, want ok %d/%d from the tail", e.Status, e.Estimated, e.InputTokens, e.OutputTokens, tc.wantIn, tc.wantOut)
			}
		})
	}
}
