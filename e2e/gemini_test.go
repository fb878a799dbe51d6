package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	openaifake "github.com/sluicehq/sluice/internal/fakeprovider/openai"
)

// Gemini clients, driven with raw HTTP (no Gemini SDK installs offline) as Google's
// REST documentation shows them: generateContent, streamGenerateContent?alt=sse and
// countTokens under /v1beta/models/{model}, the key as ?key= or x-goog-api-key.
// m-gemini is passed through byte for byte; m-openai is translated to Chat
// Completions.

var geminiTargets = []target{tGemini, tOpenAI}

// geminiCall sends a Gemini request to the protocols gateway. With inQuery the key
// goes in ?key=, otherwise in x-goog-api-key.
func geminiCall(t *testing.T, g *gateway, model, method string, body any, key string, inQuery bool, marker string) (*http.Response, []byte, []byte) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1beta/models/" + model + ":" + method
	q := url.Values{}
	if method == "streamGenerateContent" {
		q.Set("alt", "sse")
	}
	headers := map[string]string{"X-E2e-Marker": marker}
	if inQuery {
		q.Set("key", key)
	} else {
		headers["X-Goog-Api-Key"] = key
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	resp, out := raw(t, g, http.MethodPost, path, data, headers)
	return resp, out, data
}

// sseChunks returns the JSON payloads of a Gemini SSE stream ("data: {...}" events).
func sseChunks(t *testing.T, body []byte) []gjson.Result {
	t.Helper()
	var out []gjson.Result
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			if line != "" && !strings.HasPrefix(line, ":") {
				t.Errorf("unexpected SSE line %q", line)
			}
			continue
		}
		if !json.Valid([]byte(data)) {
			t.Fatalf("SSE data is not JSON: %q", data)
		}
		out = append(out, gjson.Parse(data))
	}
	return out
}

// checkGeminiUpstream checks what the gateway sent upstream for a Gemini client.
func checkGeminiUpstream(t *testing.T, tg target, up upstreamReq, clientBody []byte, method string) {
	t.Helper()
	checkProvenance(t, tg.kind, up)
	switch tg.kind {
	case "gemini":
		if want := "/v1beta/models/" + tg.served + ":" + method; up.Path != want {
			t.Errorf("gemini upstream path %q, want %q", up.Path, want)
		}
		if !bytes.Equal(up.Body, clientBody) {
			t.Errorf("passed-through body differs from the client's:\n got: %s\nwant: %s", up.Body, clientBody)
		}
		if method == "streamGenerateContent" && up.RawQuery != "alt=sse" {
			t.Errorf("gemini upstream query %q, want alt=sse and nothing else", up.RawQuery)
		}
	case "openai":
		if up.Path != "/v1/chat/completions" || gjson.GetBytes(up.Body, "model").Str != tg.served {
			t.Errorf("openai upstream: %s with model %q", up.Path, gjson.GetBytes(up.Body, "model").Str)
		}
	}
}

func TestGeminiGenerateContent(t *testing.T) {
	g := protocolsGateway(t)
	const prompt = "hello from a gemini client"
	want := openaifake.Reply(prompt, 0, 0)
	in, out := int64(openaifake.CountTokens("answer briefly "+prompt)), int64(openaifake.CountTokens(want))
	for _, tg := range geminiTargets {
		for _, stream := range []bool{false, true} {
			t.Run(tg.model+"/"+mode(stream), func(t *testing.T) {
				method := "generateContent"
				if stream {
					method = "streamGenerateContent"
				}
				marker := randHex(6)
				resp, body, sent := geminiCall(t, g, tg.model, method, map[string]any{
					"systemInstruction": map[string]any{"parts": []any{map[string]any{"text": "answer briefly"}}},
					"contents":          []any{map[string]any{"role": "user", "parts": []any{map[string]any{"text": prompt}}}},
					"generationConfig":  map[string]any{"maxOutputTokens": 256, "temperature": 0.2},
				}, protoKey, true, marker)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				var text string
				var last gjson.Result
				if stream {
					if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
						t.Errorf("Content-Type %q, want text/event-stream", ct)
					}
					chunks := sseChunks(t, body)
					if len(chunks) < 2 {
						t.Fatalf("%d chunks, want several: %s", len(chunks), body)
					}
					for i, c := range chunks {
						if c.Get("candidates.0.content.role").Str != "model" {
							t.Errorf("chunk %d: candidates[0].content.role = %q: %s", i, c.Get("candidates.0.content.role").Str, c.Raw)
						}
						text += c.Get("candidates.0.content.parts.0.text").Str
						if i < len(chunks)-1 && c.Get("candidates.0.finishReason").Exists() {
							t.Errorf("chunk %d of %d has a finishReason: %s", i, len(chunks), c.Raw)
						}
					}
					last = chunks[len(chunks)-1]
				} else {
					if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
						t.Errorf("Content-Type %q, want application/json", ct)
					}
					last = gjson.ParseBytes(body)
					if last.Get("candidates.0.content.role").Str != "model" || len(last.Get("candidates").Array()) != 1 {
						t.Errorf("candidates: %s", body)
					}
					text = last.Get("candidates.0.content.parts.0.text").Str
				}
				if text != want {
					t.Errorf("text %q, want %q", text, want)
				}
				if last.Get("modelVersion").Str != tg.served || last.Get("responseId").Str == "" || last.Get("candidates.0.index").Raw != "0" {
					t.Errorf("modelVersion (want %q), responseId or candidates[0].index missing: %s", tg.served, last.Raw)
				}
				u := last.Get("usageMetadata")
				if last.Get("candidates.0.finishReason").Str != "STOP" || u.Get("promptTokenCount").Int() != in ||
					u.Get("candidatesTokenCount").Int() != out || u.Get("totalTokenCount").Int() != in+out {
					t.Errorf("finishReason/usageMetadata of the last chunk, want STOP and %d+%d=%d tokens: %s", in, out, in+out, last.Raw)
				}
				up := received(t, tg.kind, marker, 1)[0]
				nowhereElse(t, tg.kind, marker)
				checkGeminiUpstream(t, tg, up, sent, method)
				e := g.entryByID(t, resp.Header.Get("X-Request-Id"))
				checkEntry(t, e, wantEntry{endpoint: "gemini.generate_content", key: "proto", model: tg.model, served: tg.served, provider: tg.provider,
					status: "ok", httpStatus: 200, stream: stream, input: in, output: out, cached: 0})
				if e.CostMicros <= 0 {
					t.Errorf("cost_micros = %d", e.CostMicros)
				}
			})
		}
	}
}

func TestGeminiFunctionCalling(t *testing.T) {
	g := protocolsGateway(t)
	const prompt = "weather in Rome today"
	tools := []any{map[string]any{"functionDeclarations": []any{map[string]any{
		"name": "get_weather", "description": "Weather in a city",
		"parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}},
	}}}}
	for _, tg := range geminiTargets {
		t.Run(tg.model, func(t *testing.T) {
			marker := randHex(6)
			user := map[string]any{"role": "user", "parts": []any{map[string]any{"text": prompt}}}
			resp, body, _ := geminiCall(t, g, tg.model, "generateContent", map[string]any{"contents": []any{user}, "tools": tools}, protoKey, false, marker)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			call := gjson.GetBytes(body, "candidates.0.content.parts.#(functionCall).functionCall")
			if call.Get("name").Str != "get_weather" || call.Get("args.city").Str != prompt {
				t.Fatalf("functionCall %s, want get_weather({city: %q}): %s", call.Raw, prompt, body)
			}
			if call.Get("id").Exists() {
				t.Errorf("functionCall carries an id, which the Gemini API does not send: %s", call.Raw)
			}
			if fr := gjson.GetBytes(body, "candidates.0.finishReason").Str; fr != "STOP" {
				t.Errorf("finishReason %q, want STOP (Gemini's reason for a function call)", fr)
			}
			e1 := g.entryByID(t, resp.Header.Get("X-Request-Id"))
			if e1.Status != "ok" || e1.InputTokens != gjson.GetBytes(body, "usageMetadata.promptTokenCount").Int() ||
				e1.OutputTokens != gjson.GetBytes(body, "usageMetadata.candidatesTokenCount").Int() || e1.CostMicros <= 0 {
				t.Errorf("ledger entry %+v does not match usageMetadata %s", e1, gjson.GetBytes(body, "usageMetadata").Raw)
			}

			// The function's response goes back by name, as Gemini pairs them.
			model := gjson.GetBytes(body, "candidates.0.content").Value()
			answer := map[string]any{"role": "user", "parts": []any{map[string]any{"functionResponse": map[string]any{
				"name": "get_weather", "response": map[string]any{"forecast": "18C and sunny"}}}}}
			resp, body, _ = geminiCall(t, g, tg.model, "generateContent", map[string]any{"contents": []any{user, model, answer}, "tools": tools}, protoKey, false, marker)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("turn 2: status %d: %s", resp.StatusCode, body)
			}
			text := gjson.GetBytes(body, "candidates.0.content.parts.0.text").Str
			if !strings.HasPrefix(text, "Echo:") || !strings.Contains(text, "18C") {
				t.Errorf("turn 2: text %q, want the echo of the function's response", text)
			}
			ups := received(t, tg.kind, marker, 2)
			checkProvenance(t, tg.kind, ups[1])
			if tg.kind == "openai" {
				b := gjson.ParseBytes(ups[1].Body)
				id := b.Get("messages.1.tool_calls.0.id").Str
				if id == "" || b.Get("messages.2.role").Str != "tool" || b.Get("messages.2.tool_call_id").Str != id {
					t.Errorf("openai upstream: the tool call and its result are not paired by id: %s", ups[1].Body)
				}
			}
			e2 := g.entryByID(t, resp.Header.Get("X-Request-Id"))
			if e2.Status != "ok" || e2.Provider != tg.provider {
				t.Errorf("turn 2 ledger entry %+v", e2)
			}
		})
	}
}

func TestGeminiCountTokens(t *testing.T) {
	g := protocolsGateway(t)
	const prompt = "count these five words please"
	for _, tg := range geminiTargets {
		t.Run(tg.model, func(t *testing.T) {
			marker := randHex(6)
			resp, body, sent := geminiCall(t, g, tg.model, "countTokens", map[string]any{
				"contents": []any{map[string]any{"role": "user", "parts": []any{map[string]any{"text": prompt}}}},
			}, protoKey, true, marker)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			n := gjson.GetBytes(body, "totalTokens").Int()
			e := g.entryByID(t, resp.Header.Get("X-Request-Id"))
			if e.Endpoint != "gemini.count_tokens" || e.Status != "ok" || e.Model != tg.model || e.CostMicros != 0 {
				t.Errorf("ledger entry %+v: want gemini.count_tokens, ok, no cost", e)
			}
			if tg.kind == "gemini" {
				if n != 5 {
					t.Errorf("totalTokens = %d, want 5: %s", n, body)
				}
				up := received(t, "gemini", marker, 1)[0]
				checkGeminiUpstream(t, tg, up, sent, "countTokens")
				return
			}
			if n <= 0 || !e.Estimated || e.InputTokens != n {
				t.Errorf("totalTokens = %d; ledger %+v: want an estimate > 0", n, e)
			}
			nowhereElse(t, "", marker)
		})
	}
}

// TestGeminiKeyInQueryIsNotLogged sends the key as ?key= on requests that succeed
// and on requests that fail in the gateway, upstream, or on the way (the paths that
// log), and checks it never reaches the gateway's log or the upstream.
func TestGeminiKeyInQueryIsNotLogged(t *testing.T) {
	g := protocolsGateway(t)
	contents := map[string]any{"contents": []any{map[string]any{"role": "user", "parts": []any{map[string]any{"text": "secret-free text"}}}}}
	wrongKey := "gw-test-CANARY-wrong-" + randHex(8)
	cases := []struct {
		name, model, method, key string
		headers                  map[string]string
		status                   int
	}{
		{name: "ok", model: "m-gemini", method: "generateContent", key: protoKey, status: 200},
		{name: "stream", model: "m-gemini", method: "streamGenerateContent", key: protoKey, status: 200},
		{name: "translated", model: "m-openai", method: "generateContent", key: protoKey, status: 200},
		{name: "wrong key", model: "m-gemini", method: "generateContent", key: wrongKey, status: 401},
		{name: "unknown model", model: "m-nope", method: "generateContent", key: protoKey, status: 404},
		{name: "unknown method", model: "m-gemini", method: "embedContent", key: protoKey, status: 404},
		{name: "upstream 500", model: "m-gemini", method: "generateContent", key: protoKey, status: 500,
			headers: map[string]string{"X-Fake-Status": "500"}},
		{name: "upstream 503 stream", model: "m-openai", method: "streamGenerateContent", key: protoKey, status: 503,
			headers: map[string]string{"X-Fake-Status": "503"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			marker := randHex(6)
			data, _ := json.Marshal(contents)
			q := url.Values{"key": {tc.key}}
			if tc.method == "streamGenerateContent" {
				q.Set("alt", "sse")
			}
			headers := map[string]string{"X-E2e-Marker": marker}
			for k, v := range tc.headers {
				headers[k] = v
			}
			resp, body := raw(t, g, http.MethodPost, "/v1beta/models/"+tc.model+":"+tc.method+"?"+q.Encode(), data, headers)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.status >= 400 && !gjson.GetBytes(body, "error.message").Exists() {
				t.Errorf("error body is not Google-shaped ({error: {code, message, status}}): %s", body)
			}
			if strings.Contains(string(body), tc.key) {
				t.Errorf("the response echoes the key")
			}
			for _, k := range []string{"gemini", "openai"} {
				for _, r := range withMarkerAt(k, marker) {
					checkProvenance(t, k, r)
					if strings.Contains(r.RawQuery, "key=") {
						t.Errorf("the %s upstream got a key in its query: %q", k, r.RawQuery)
					}
				}
			}
		})
	}
	// Every request above has left its ledger entry (the log is written before).
	g.waitEntry(t, "the last request", func(e LedgerEntry) bool { return e.Endpoint == "gemini.generate_content" && e.HTTPStatus == 503 })
	log := g.log.String()
	for name, s := range map[string]string{"client key": protoKey, "wrong key": wrongKey, "provider key": provKey} {
		if strings.Contains(log, s) {
			t.Errorf("the gateway's log contains the %s", name)
		}
	}
	if strings.Contains(log, "key=") {
		t.Errorf("the gateway's log contains a key= query parameter:\n%s", log)
	}
}
