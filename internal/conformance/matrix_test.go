package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/sluicehq/sluice/internal/app"
)

var update = flag.Bool("update", false, "rewrite docs/compatibility.md")

const (
	clientKey   = "gw-conformance-key-000001"
	adminToken  = "conformance-admin-token-01"
	providerKey = "sk-conformance-provider"
)

// A fakeProvider is a started fake upstream and the config lines that
// point a provider of its type at it.
type fakeProvider struct {
	kind string // the config type
	yaml string // the providers[] entry
}

// ingresses are the client protocols, in matrix order.
var ingresses = []string{"openai-chat", "openai-responses", "anthropic", "gemini"}

// cases are the matrix columns per cell.
var cases = []string{"plain", "stream", "tools", "tools+stream", "images", "usage"}

// tinyPNG is a 1x1 PNG.
const tinyPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

type cell struct {
	ingress, provider, kase string
}

type result struct {
	ok     bool
	detail string
}

// request builds a client request for a cell: method path, headers, body.
func request(base, ingress, model, kase string) (string, http.Header, []byte) {
	stream := strings.HasSuffix(kase, "stream")
	tools := strings.HasPrefix(kase, "tools")
	images := kase == "images"
	h := http.Header{"Content-Type": {"application/json"}}
	prompt := "Say hello to the conformance suite"
	switch ingress {
	case "openai-chat":
		h.Set("Authorization", "Bearer "+clientKey)
		body := map[string]any{"model": model, "messages": []any{map[string]any{"role": "user", "content": prompt}}}
		if images {
			body["messages"] = []any{map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "text", "text": prompt},
				map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64," + tinyPNG}}}}}
		}
		if stream {
			body["stream"] = true
			body["stream_options"] = map[string]any{"include_usage": true}
		}
		if tools {
			body["tools"] = []any{map[string]any{"type": "function", "function": map[string]any{"name": "get_weather",
				"description": "Weather in a city", "parameters": weatherSchema}}}
		}
		return base + "/v1/chat/completions", h, mustJSON(body)
	case "openai-responses":
		h.Set("Authorization", "Bearer "+clientKey)
		body := map[string]any{"model": model, "input": prompt}
		if images {
			body["input"] = []any{map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "input_text", "text": prompt},
				map[string]any{"type": "input_image", "image_url": "data:image/png;base64," + tinyPNG}}}}
		}
		if stream {
			body["stream"] = true
		}
		if tools {
			body["tools"] = []any{map[string]any{"type": "function", "name": "get_weather", "description": "Weather in a city", "parameters": weatherSchema}}
		}
		return base + "/v1/responses", h, mustJSON(body)
	case "anthropic":
		h.Set("X-Api-Key", clientKey)
		h.Set("Anthropic-Version", "2023-06-01")
		content := any(prompt)
		if images {
			content = []any{map[string]any{"type": "image", "source": map[string]any{"type": "base64", "media_type": "image/png", "data": tinyPNG}},
				map[string]any{"type": "text", "text": prompt}}
		}
		body := map[string]any{"model": model, "max_tokens": 256, "messages": []any{map[string]any{"role": "user", "content": content}}}
		if stream {
			body["stream"] = true
		}
		if tools {
			body["tools"] = []any{map[string]any{"name": "get_weather", "description": "Weather in a city", "input_schema": weatherSchema}}
		}
		return base + "/v1/messages", h, mustJSON(body)
	case "gemini":
		h.Set("X-Goog-Api-Key", clientKey)
		parts := []any{map[string]any{"text": prompt}}
		if images {
			parts = append(parts, map[string]any{"inlineData": map[string]any{"mimeType": "image/png", "data": tinyPNG}})
		}
		body := map[string]any{"contents": []any{map[string]any{"role": "user", "parts": parts}}}
		if tools {
			body["tools"] = []any{map[string]any{"functionDeclarations": []any{map[string]any{"name": "get_weather",
				"description": "Weather in a city", "parameters": weatherSchema}}}}
		}
		method := "generateContent"
		if stream {
			method = "streamGenerateContent?alt=sse"
		}
		return base + "/v1beta/models/" + model + ":" + method, h, mustJSON(body)
	}
	panic("unknown ingress " + ingress)
}

var weatherSchema = map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// answer is what a client saw.
type answer struct {
	text     string
	toolName string
	toolArgs string
	terminal bool // the protocol's end-of-stream marker (or a complete body)
	inTok    int64
	outTok   int64
	errEvent string
}

// parse reads a response in the ingress's dialect.
func parse(ingress string, stream bool, body []byte) answer {
	var a answer
	if !stream {
		a.terminal = json.Valid(body)
		j := gjson.ParseBytes(body)
		switch ingress {
		case "openai-chat":
			a.text = j.Get("choices.0.message.content").Str
			a.toolName = j.Get("choices.0.message.tool_calls.0.function.name").Str
			a.toolArgs = j.Get("choices.0.message.tool_calls.0.function.arguments").Str
			a.inTok, a.outTok = j.Get("usage.prompt_tokens").Int(), j.Get("usage.completion_tokens").Int()
		case "openai-responses":
			j.Get("output").ForEach(func(_, item gjson.Result) bool {
				switch item.Get("type").Str {
				case "message":
					item.Get("content").ForEach(func(_, c gjson.Result) bool { a.text += c.Get("text").Str; return true })
				case "function_call":
					a.toolName, a.toolArgs = item.Get("name").Str, item.Get("arguments").Str
				}
				return true
			})
			a.inTok, a.outTok = j.Get("usage.input_tokens").Int(), j.Get("usage.output_tokens").Int()
		case "anthropic":
			j.Get("content").ForEach(func(_, c gjson.Result) bool {
				switch c.Get("type").Str {
				case "text":
					a.text += c.Get("text").Str
				case "tool_use":
					a.toolName, a.toolArgs = c.Get("name").Str, c.Get("input").Raw
				}
				return true
			})
			a.inTok, a.outTok = j.Get("usage.input_tokens").Int(), j.Get("usage.output_tokens").Int()
		case "gemini":
			j.Get("candidates.0.content.parts").ForEach(func(_, p gjson.Result) bool {
				if fc := p.Get("functionCall"); fc.Exists() {
					a.toolName, a.toolArgs = fc.Get("name").Str, fc.Get("args").Raw
				} else if !p.Get("thought").Bool() {
					a.text += p.Get("text").Str
				}
				return true
			})
			a.inTok, a.outTok = j.Get("usageMetadata.promptTokenCount").Int(), j.Get("usageMetadata.candidatesTokenCount").Int()
		}
		return a
	}
	toolArgs := map[int]string{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if e, ok := strings.CutPrefix(line, "event: "); ok {
			event = e
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		j := gjson.Parse(data)
		if event == "error" || j.Get("error").Exists() {
			a.errEvent = data
		}
		switch ingress {
		case "openai-chat":
			if data == "[DONE]" {
				a.terminal = true
				continue
			}
			a.text += j.Get("choices.0.delta.content").Str
			j.Get("choices.0.delta.tool_calls").ForEach(func(_, tc gjson.Result) bool {
				if n := tc.Get("function.name").Str; n != "" {
					a.toolName = n
				}
				toolArgs[int(tc.Get("index").Int())] += tc.Get("function.arguments").Str
				return true
			})
			if u := j.Get("usage"); u.IsObject() {
				a.inTok, a.outTok = u.Get("prompt_tokens").Int(), u.Get("completion_tokens").Int()
			}
		case "openai-responses":
			switch j.Get("type").Str {
			case "response.output_text.delta":
				a.text += j.Get("delta").Str
			case "response.output_item.added":
				if j.Get("item.type").Str == "function_call" {
					a.toolName = j.Get("item.name").Str
				}
			case "response.function_call_arguments.delta":
				toolArgs[0] += j.Get("delta").Str
			case "response.completed":
				a.terminal = true
				a.inTok, a.outTok = j.Get("response.usage.input_tokens").Int(), j.Get("response.usage.output_tokens").Int()
			}
		case "anthropic":
			switch j.Get("type").Str {
			case "message_start":
				a.inTok = j.Get("message.usage.input_tokens").Int()
			case "content_block_start":
				if j.Get("content_block.type").Str == "tool_use" {
					a.toolName = j.Get("content_block.name").Str
				}
			case "content_block_delta":
				a.text += j.Get("delta.text").Str
				toolArgs[0] += j.Get("delta.partial_json").Str
			case "message_delta":
				a.outTok = j.Get("usage.output_tokens").Int()
				if in := j.Get("usage.input_tokens"); in.Exists() {
					a.inTok = in.Int() + j.Get("usage.cache_read_input_tokens").Int() + j.Get("usage.cache_creation_input_tokens").Int()
				}
			case "message_stop":
				a.terminal = true
			}
		case "gemini":
			j.Get("candidates.0.content.parts").ForEach(func(_, p gjson.Result) bool {
				if fc := p.Get("functionCall"); fc.Exists() {
					a.toolName, toolArgs[0] = fc.Get("name").Str, fc.Get("args").Raw
				} else if !p.Get("thought").Bool() {
					a.text += p.Get("text").Str
				}
				return true
			})
			if j.Get("candidates.0.finishReason").Exists() {
				a.terminal = true
			}
			if u := j.Get("usageMetadata"); u.Exists() {
				a.inTok, a.outTok = u.Get("promptTokenCount").Int(), u.Get("candidatesTokenCount").Int()
			}
		}
	}
	a.toolArgs = toolArgs[0]
	return a
}

// check judges a cell.
func check(kase string, status int, a answer, entry gjson.Result) result {
	if status != 200 {
		return result{false, fmt.Sprintf("HTTP %d", status)}
	}
	if a.errEvent != "" {
		return result{false, "error event: " + a.errEvent}
	}
	if !a.terminal {
		return result{false, "no terminal event"}
	}
	if strings.HasPrefix(kase, "tools") {
		if a.toolName != "get_weather" {
			return result{false, fmt.Sprintf("tool call %q, want get_weather", a.toolName)}
		}
		if !json.Valid([]byte(a.toolArgs)) {
			return result{false, fmt.Sprintf("tool arguments %q are not JSON", a.toolArgs)}
		}
	} else if strings.TrimSpace(a.text) == "" {
		return result{false, "no text"}
	}
	if entry.Get("status").Str != "ok" {
		return result{false, "ledger status " + entry.Get("status").Str + ": " + entry.Get("error").Str}
	}
	if kase == "usage" || kase == "stream" {
		if a.inTok <= 0 || a.outTok <= 0 {
			return result{false, fmt.Sprintf("client saw usage %d/%d", a.inTok, a.outTok)}
		}
		if entry.Get("estimated").Bool() || entry.Get("input_tokens").Int() <= 0 || entry.Get("output_tokens").Int() <= 0 || entry.Get("cost_micros").Int() <= 0 {
			return result{false, "ledger usage " + entry.Raw}
		}
	}
	return result{ok: true}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startGateway runs Sluice in-process with one model per provider kind.
func startGateway(t *testing.T, fakes []fakeProvider) string {
	t.Helper()
	var cfg strings.Builder
	cfg.WriteString("version: 1\nproviders:\n")
	for _, f := range fakes {
		cfg.WriteString(f.yaml)
	}
	cfg.WriteString("models:\n")
	for _, f := range fakes {
		fmt.Fprintf(&cfg, "  - {name: m-%s, targets: [{provider: p-%s, model: %s}], pricing: {input_per_mtok: 1, output_per_mtok: 2}}\n", f.kind, f.kind, upstreamModel[f.kind])
	}
	fmt.Fprintf(&cfg, "keys:\n  - {name: conformance, key: %s}\n", clientKey)
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLUICE_ADMIN_TOKEN", adminToken)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs bytes.Buffer
	var mu sync.Mutex
	go func() {
		done <- app.Main(ctx, []string{"serve", "--config", path, "--listen", addr, "--data-dir", filepath.Join(dir, "data")},
			io.Discard, writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) }))
	}()
	t.Cleanup(func() { cancel(); <-done })
	for i := 0; ; i++ {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-done:
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("gateway exited: %v\n%s\nconfig:\n%s", err, logs.String(), cfg.String())
		default:
		}
		if i > 500 {
			t.Fatal("gateway not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "http://" + addr
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var upstreamModel = map[string]string{
	"openai": "fake-model-1", "azure-openai": "my-deployment", "anthropic": "claude-sonnet-4-5",
	"gemini": "gemini-2.5-flash", "bedrock": "anthropic.claude-3-5-sonnet-20240620-v1:0",
}

func ledgerEntry(t *testing.T, base, requestID string) gjson.Result {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, base+"/admin/v1/requests?limit=50", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, e := range gjson.GetBytes(b, "data").Array() {
				if e.Get("request_id").Str == requestID {
					return e
				}
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
	return gjson.Result{}
}

// TestMatrix runs every cell and checks docs/compatibility.md matches.
func TestMatrix(t *testing.T) {
	fakes := startFakes(t)
	base := startGateway(t, fakes)
	results := map[cell]result{}
	for _, in := range ingresses {
		for _, f := range fakes {
			for _, k := range cases {
				c := cell{in, f.kind, k}
				t.Run(in+"/"+f.kind+"/"+k, func(t *testing.T) {
					url, hdr, body := request(base, in, "m-"+f.kind, k)
					req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
					req.Header = hdr
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					data, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					a := parse(in, strings.HasSuffix(k, "stream"), data)
					entry := ledgerEntry(t, base, resp.Header.Get("X-Request-Id"))
					r := check(k, resp.StatusCode, a, entry)
					results[c] = r
					if !r.ok {
						t.Errorf("%s: %s\nresponse: %.600s", c, r.detail, data)
					}
				})
			}
		}
	}
	doc := render(fakes, results)
	path := filepath.Join("..", "..", "docs", "compatibility.md")
	if *update {
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	old, _ := os.ReadFile(path)
	if string(old) != doc {
		t.Errorf("docs/compatibility.md is out of date; run: go test ./internal/conformance -run TestMatrix -update")
	}
}

func render(fakes []fakeProvider, results map[cell]result) string {
	var b strings.Builder
	b.WriteString("# Compatibility matrix\n\n")
	b.WriteString("Generated by `go test ./internal/conformance -run TestMatrix -update`; do not edit by hand.\n\n")
	b.WriteString("Each cell sends a request in the client's protocol through the gateway to a fake provider that speaks\n")
	b.WriteString("that provider's wire format, and checks what the client gets back (text or the tool call with JSON\n")
	b.WriteString("arguments, the protocol's terminal event, usage where asked) and the ledger entry (status `ok`;\n")
	b.WriteString("for `stream` and `usage`, reported, not estimated, token counts and a cost). Same-protocol cells are\n")
	b.WriteString("forwarded byte for byte; the others are translated through the canonical model.\n\n")
	fmt.Fprintf(&b, "| client \\ provider | case |")
	for _, f := range fakes {
		fmt.Fprintf(&b, " %s |", f.kind)
	}
	b.WriteString("\n|---|---|")
	for range fakes {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	var failures []string
	for _, in := range ingresses {
		for _, k := range cases {
			fmt.Fprintf(&b, "| %s | %s |", in, k)
			for _, f := range fakes {
				r := results[cell{in, f.kind, k}]
				if r.ok {
					b.WriteString(" pass |")
				} else {
					b.WriteString(" **fail** |")
					failures = append(failures, fmt.Sprintf("- %s -> %s, %s: %s", in, f.kind, k, r.detail))
				}
			}
			b.WriteString("\n")
		}
	}
	sort.Strings(failures)
	if len(failures) > 0 {
		b.WriteString("\n## Failures\n\n" + strings.Join(failures, "\n") + "\n")
	}
	return b.String()
}

func (c cell) String() string { return c.ingress + " -> " + c.provider + " (" + c.kase + ")" }

var _ = httptest.NewServer
