package geminifake

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	api "github.com/sluicehq/sluice/internal/apischema/gemini"
	openaifake "github.com/sluicehq/sluice/internal/fakeprovider/openai"
	"github.com/sluicehq/sluice/internal/llm"
	protocol "github.com/sluicehq/sluice/internal/protocol/gemini"
)

const testKey = "AIza-test-key"

// post sends body to path (relative to the fake's root) with the test key
// in the header and the given extra headers.
func post(t *testing.T, base, path, body string, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-goog-api-key", testKey)
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeAnswer(t *testing.T, resp *http.Response) *api.GenerateContentResponse {
	t.Helper()
	body := readAll(t, resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var out api.GenerateContentResponse
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("decode: %v: %s", err, body)
	}
	return &out
}

func decodeError(t *testing.T, resp *http.Response) api.ErrorObject {
	t.Helper()
	body := readAll(t, resp.Body)
	var out api.ErrorBody
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("decode error: %v: %s", err, body)
	}
	if out.Error.Code != resp.StatusCode {
		t.Errorf("error code %d, HTTP status %d", out.Error.Code, resp.StatusCode)
	}
	return out.Error
}

const generate = "/v1beta/models/gemini-2.5-flash:generateContent"

func TestGenerate(t *testing.T) {
	_, base := Start(t, Options{APIKey: testKey})
	weather := `"tools":[{"functionDeclarations":[{"name":"get_weather","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"},"unit":{"type":"STRING","enum":["C","F"]}}}}]}]`
	cases := []struct {
		name       string
		path       string
		body       string
		headers    map[string]string
		wantParts  []api.Part
		wantFinish string
		wantUsage  api.UsageMetadata
	}{
		{
			name:       "echo",
			body:       `{"systemInstruction":{"parts":[{"text":"be brief"}]},"contents":[{"role":"user","parts":[{"text":"hello there world"}]}]}`,
			wantParts:  []api.Part{{Text: ptr("Echo: hello there world")}},
			wantFinish: "STOP",
			wantUsage:  api.UsageMetadata{PromptTokenCount: 5, CandidatesTokenCount: 4, TotalTokenCount: 9},
		},
		{
			name:       "snake case and single objects, key in the query",
			path:       "/v1beta/models/gemini-2.5-flash:generateContent?key=" + testKey,
			headers:    map[string]string{"x-goog-api-key": ""},
			body:       `{"contents":{"parts":{"text":"hi"}},"generation_config":{"max_output_tokens":10}}`,
			wantParts:  []api.Part{{Text: ptr("Echo: hi")}},
			wantFinish: "STOP",
			wantUsage:  api.UsageMetadata{PromptTokenCount: 1, CandidatesTokenCount: 2, TotalTokenCount: 3},
		},
		{
			name:       "stop sequence",
			body:       `{"contents":[{"parts":[{"text":"one two three four"}]}],"generationConfig":{"stopSequences":["three"]}}`,
			wantParts:  []api.Part{{Text: ptr("Echo: one two ")}},
			wantFinish: "STOP",
			wantUsage:  api.UsageMetadata{PromptTokenCount: 4, CandidatesTokenCount: 3, TotalTokenCount: 7},
		},
		{
			name:       "max output tokens",
			body:       `{"contents":[{"parts":[{"text":"one two three four"}]}],"generationConfig":{"maxOutputTokens":2}}`,
			wantParts:  []api.Part{{Text: ptr("Echo: one")}},
			wantFinish: "MAX_TOKENS",
			wantUsage:  api.UsageMetadata{PromptTokenCount: 4, CandidatesTokenCount: 2, TotalTokenCount: 6},
		},
		{
			name:       "function call",
			body:       `{"contents":[{"parts":[{"text":"weather in Paris"}]}],` + weather + `}`,
			wantParts:  []api.Part{{FunctionCall: &api.FunctionCall{Name: "get_weather", Args: json.RawMessage(`{"city":"weather in Paris","unit":"C"}`)}}},
			wantFinish: "STOP",
			wantUsage:  api.UsageMetadata{PromptTokenCount: 3, CandidatesTokenCount: 4, TotalTokenCount: 7},
		},
		{
			name:       "mode NONE answers text",
			body:       `{"contents":[{"parts":[{"text":"weather"}]}],` + weather + `,"toolConfig":{"functionCallingConfig":{"mode":"NONE"}}}`,
			wantParts:  []api.Part{{Text: ptr("Echo: weather")}},
			wantFinish: "STOP",
			wantUsage:  api.UsageMetadata{PromptTokenCount: 1, CandidatesTokenCount: 2, TotalTokenCount: 3},
		},
		{
			name: "after a function response, text",
			body: `{"contents":[{"parts":[{"text":"weather"}]},{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"x"}}}]},` +
				`{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"output":"sunny"}}}]}],` + weather + `}`,
			wantParts:  []api.Part{{Text: ptr(`Echo: {"output":"sunny"}`)}},
			wantFinish: "STOP",
			wantUsage:  api.UsageMetadata{PromptTokenCount: 11, CandidatesTokenCount: 2, TotalTokenCount: 13},
		},
		{
			name:       "thoughts, signed",
			body:       `{"contents":[{"parts":[{"text":"why is the sky blue"}]}],"generationConfig":{"thinkingConfig":{"includeThoughts":true}}}`,
			wantParts:  []api.Part{{Text: ptr("Thinking about: why is the sky blue"), Thought: true}, {Text: ptr("Echo: why is the sky blue"), ThoughtSignature: "SIG"}},
			wantFinish: "STOP",
			wantUsage:  api.UsageMetadata{PromptTokenCount: 5, CandidatesTokenCount: 6, ThoughtsTokenCount: 7, TotalTokenCount: 18},
		},
		{
			name:       "JSON with a schema",
			body:       `{"contents":[{"parts":[{"text":"a color"}]}],"generationConfig":{"responseMimeType":"application/json","responseJsonSchema":{"type":"object","properties":{"name":{"type":"string"},"n":{"type":"integer"}}}}}`,
			wantParts:  []api.Part{{Text: ptr(`{"n":1,"name":"a color"}`)}},
			wantFinish: "STOP",
			wantUsage:  api.UsageMetadata{PromptTokenCount: 2, CandidatesTokenCount: 2, TotalTokenCount: 4},
		},
		{
			name:       "usage overrides",
			body:       `{"contents":[{"parts":[{"text":"hi"}]}]}`,
			headers:    map[string]string{HeaderPromptTokens: "100", HeaderCompletionTokens: "20", HeaderCachedTokens: "64", HeaderThoughtsTokens: "7"},
			wantParts:  []api.Part{{Text: ptr("Echo: hi")}},
			wantFinish: "STOP",
			wantUsage:  api.UsageMetadata{PromptTokenCount: 100, CandidatesTokenCount: 20, CachedContentTokenCount: 64, ThoughtsTokenCount: 7, TotalTokenCount: 127},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = generate
			}
			body := readAll(t, post(t, base, path, tc.body, tc.headers).Body)
			var out api.GenerateContentResponse
			if err := json.Unmarshal(body, &out); err != nil || len(out.Candidates) != 1 {
				t.Fatalf("answer %s: %v", body, err)
			}
			c := out.Candidates[0]
			if c.FinishReason != tc.wantFinish {
				t.Errorf("finishReason %q, want %q", c.FinishReason, tc.wantFinish)
			}
			if c.Content == nil || c.Content.Role != "model" {
				t.Fatalf("content %+v", c.Content)
			}
			got, _ := json.Marshal(c.Content.Parts)
			for i := range tc.wantParts {
				if tc.wantParts[i].ThoughtSignature == "SIG" {
					tc.wantParts[i].ThoughtSignature = Signature(out.ResponseID)
				}
			}
			want, _ := json.Marshal(tc.wantParts)
			if string(got) != string(want) {
				t.Errorf("parts\n%s\nwant\n%s", got, want)
			}
			u := *out.UsageMetadata
			u.PromptTokensDetails = nil
			if !reflect.DeepEqual(u, tc.wantUsage) {
				t.Errorf("usage %+v, want %+v", u, tc.wantUsage)
			}
			if out.ModelVersion != "gemini-2.5-flash" || !strings.HasPrefix(out.ResponseID, "fake") {
				t.Errorf("modelVersion %q responseId %q", out.ModelVersion, out.ResponseID)
			}
			// The gateway's codec reads the answer.
			if _, err := protocol.Upstream.DecodeResponse(body); err != nil {
				t.Errorf("the codec cannot decode the answer: %v", err)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestRejects(t *testing.T) {
	_, base := Start(t, Options{APIKey: testKey})
	cases := []struct {
		name, path, body string
		headers          map[string]string
		wantStatus       int
		wantGRPC         string
		wantMsg          string
	}{
		{"no key", generate, `{"contents":[{"parts":[{"text":"x"}]}]}`, map[string]string{"x-goog-api-key": ""}, 403, "PERMISSION_DENIED", "unregistered callers"},
		{"wrong key", generate, `{"contents":[{"parts":[{"text":"x"}]}]}`, map[string]string{"x-goog-api-key": "AIza-wrong"}, 400, "INVALID_ARGUMENT", "API key not valid"},
		{"not JSON", generate, `{`, nil, 400, "INVALID_ARGUMENT", "Invalid JSON payload"},
		{"no contents", generate, `{}`, nil, 400, "INVALID_ARGUMENT", "contents is not specified"},
		{"unknown field", generate, `{"contents":[{"parts":[{"text":"x"}]}],"model_params":{}}`, nil, 400, "INVALID_ARGUMENT", `Unknown name "model_params"`},
		{"function call id", generate, `{"contents":[{"parts":[{"text":"x"}]},{"role":"model","parts":[{"functionCall":{"id":"c1","name":"f","args":{}}}]}]}`, nil, 400, "INVALID_ARGUMENT",
			`Unknown name "id" at 'contents[1].parts[0].function_call'`},
		{"function response id", generate, `{"contents":[{"parts":[{"functionResponse":{"id":"c1","name":"f","response":{}}}]}]}`, nil, 400, "INVALID_ARGUMENT",
			`Unknown name "id" at 'contents[0].parts[0].function_response'`},
		{"nameless function response", generate, `{"contents":[{"parts":[{"functionResponse":{"response":{}}}]}]}`, nil, 400, "INVALID_ARGUMENT", "Name cannot be empty"},
		{"bad role", generate, `{"contents":[{"role":"assistant","parts":[{"text":"x"}]}]}`, nil, 400, "INVALID_ARGUMENT", "valid role"},
		{"empty parts", generate, `{"contents":[{"role":"user","parts":[]}]}`, nil, 400, "INVALID_ARGUMENT", "must not be empty"},
		{"bad signature", generate, `{"contents":[{"parts":[{"text":"x"}]},{"role":"model","parts":[{"text":"y","thoughtSignature":"not base64!"}]}]}`, nil, 400, "INVALID_ARGUMENT", "Base64 decoding failed"},
		{"gemini 3 unsigned call", "/v1beta/models/gemini-3-pro-preview:generateContent",
			`{"contents":[{"parts":[{"text":"x"}]},{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]},{"parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`,
			nil, 400, "INVALID_ARGUMENT", "missing a thought_signature"},
		{"unknown method", "/v1beta/models/gemini-2.5-flash:embedContent", `{}`, nil, 404, "NOT_FOUND", "embedContent"},
		{"scripted 429", generate, `{"contents":[{"parts":[{"text":"x"}]}]}`, map[string]string{HeaderStatus: "429", HeaderRetryAfter: "7"}, 429, "RESOURCE_EXHAUSTED", "quota"},
		{"scripted 503", generate, `{"contents":[{"parts":[{"text":"x"}]}]}`, map[string]string{HeaderStatus: "503"}, 503, "UNAVAILABLE", "overloaded"},
		{"bad script", generate, `{"contents":[{"parts":[{"text":"x"}]}]}`, map[string]string{HeaderStatus: "200"}, 400, "INVALID_ARGUMENT", "X-Fake-Status"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, base, tc.path, tc.body, tc.headers)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, readAll(t, resp.Body))
			}
			e := decodeError(t, resp)
			if e.Status != tc.wantGRPC || !strings.Contains(e.Message, tc.wantMsg) {
				t.Errorf("error %+v, want %s containing %q", e, tc.wantGRPC, tc.wantMsg)
			}
			if strings.Contains(e.Message, testKey) {
				t.Error("the error echoes the key")
			}
			if tc.headers[HeaderRetryAfter] != "" && resp.Header.Get("Retry-After") != tc.headers[HeaderRetryAfter] {
				t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
			}
		})
	}
	// A signed Gemini 3 call (or the documented skip signature) passes.
	for _, sig := range []string{"c2lnbmVk", "skip_thought_signature_validator"} {
		resp := post(t, base, "/v1beta/models/gemini-3-pro-preview:generateContent",
			`{"contents":[{"parts":[{"text":"x"}]},{"role":"model","parts":[{"functionCall":{"name":"f","args":{}},"thoughtSignature":"`+sig+`"}]},{"parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`, nil)
		if resp.StatusCode != 200 {
			t.Errorf("signature %q: status %d: %s", sig, resp.StatusCode, readAll(t, resp.Body))
		}
	}
}

// sseChunks reads an alt=sse body into its data payloads.
func sseChunks(t *testing.T, r io.Reader) ([]string, error) {
	t.Helper()
	var out []string
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if data, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "data: "); ok {
			out = append(out, data)
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// readWithCodec feeds a stream body to the gateway's Gemini stream reader.
func readWithCodec(t *testing.T, body []byte) ([]llm.Event, llm.StreamReader) {
	t.Helper()
	r := protocol.Upstream.NewStreamReader()
	var evs []llm.Event
	if err := r.Feed(body, func(e llm.Event) { evs = append(evs, e) }); err != nil {
		t.Fatalf("the codec cannot read the stream: %v\n%s", err, body)
	}
	return evs, r
}

func foldText(evs []llm.Event) (text, thinking, sig string, calls []string) {
	for _, e := range evs {
		switch e.Type {
		case llm.EvTextDelta:
			text += e.Text
		case llm.EvThinkingDelta:
			thinking += e.Text
		case llm.EvSignatureDelta:
			sig += e.Text
		case llm.EvBlockStart:
			if e.Block.Type == llm.PartToolCall {
				calls = append(calls, e.Block.ToolName)
			}
		}
	}
	return
}

const streamPath = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"

func TestStream(t *testing.T) {
	srv, base := Start(t, Options{APIKey: testKey})
	t.Run("text", func(t *testing.T) {
		resp := post(t, base, streamPath, `{"contents":[{"parts":[{"text":"the quick brown fox"}]}],"generationConfig":{"thinkingConfig":{"includeThoughts":true}}}`,
			map[string]string{HeaderChunks: "3"})
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Errorf("Content-Type %q", ct)
		}
		body := readAll(t, resp.Body)
		if !strings.Contains(string(body), "\r\n\r\n") {
			t.Error("chunks are not separated by CRLF CRLF")
		}
		chunks, err := sseChunks(t, strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		if len(chunks) != 4 { // the thought, then three text pieces
			t.Fatalf("%d chunks: %q", len(chunks), chunks)
		}
		var last api.GenerateContentResponse
		if err := json.Unmarshal([]byte(chunks[len(chunks)-1]), &last); err != nil {
			t.Fatal(err)
		}
		if last.Candidates[0].FinishReason != "STOP" || last.UsageMetadata.CandidatesTokenCount != 5 || last.UsageMetadata.ThoughtsTokenCount != 6 {
			t.Errorf("last chunk %s", chunks[len(chunks)-1])
		}
		evs, r := readWithCodec(t, body)
		text, thinking, sig, _ := foldText(evs)
		if !r.Done() || text != "Echo: the quick brown fox" || thinking != "Thinking about: the quick brown fox" || sig == "" {
			t.Errorf("codec read done=%v text=%q thinking=%q sig=%q", r.Done(), text, thinking, sig)
		}
		if rec, _ := srv.Last(); rec.Events != 4 || rec.Status != 200 {
			t.Errorf("log: events %d status %d", rec.Events, rec.Status)
		}
	})
	t.Run("function call", func(t *testing.T) {
		resp := post(t, base, "/v1beta/models/gemini-3-pro-preview:streamGenerateContent?alt=sse",
			`{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f","parametersJsonSchema":{"type":"object","properties":{"q":{"type":"string"}}}}]}]}`, nil)
		evs, r := readWithCodec(t, readAll(t, resp.Body))
		_, _, sig, calls := foldText(evs)
		if !r.Done() || len(calls) != 1 || calls[0] != "f" || sig == "" {
			t.Errorf("done=%v calls=%v sig=%q", r.Done(), calls, sig)
		}
		if evs[len(evs)-1].StopReason != llm.StopToolUse {
			t.Errorf("stop %v", evs[len(evs)-1])
		}
	})
	t.Run("JSON array without alt=sse", func(t *testing.T) {
		resp := post(t, base, "/v1beta/models/gemini-2.5-flash:streamGenerateContent", `{"contents":[{"parts":[{"text":"a b c"}]}]}`, nil)
		body := readAll(t, resp.Body)
		var arr []api.GenerateContentResponse
		if err := json.Unmarshal(body, &arr); err != nil || len(arr) != 4 {
			t.Fatalf("array of %d: %v\n%s", len(arr), err, body)
		}
		evs, r := readWithCodec(t, body)
		if text, _, _, _ := foldText(evs); !r.Done() || text != "Echo: a b c" {
			t.Errorf("done=%v text=%q", r.Done(), text)
		}
	})
	t.Run("cut after", func(t *testing.T) {
		resp := post(t, base, streamPath, `{"contents":[{"parts":[{"text":"a b c d"}]}]}`, map[string]string{HeaderCutAfter: "2"})
		body := readAll(t, resp.Body)
		chunks, _ := sseChunks(t, strings.NewReader(string(body)))
		if len(chunks) != 2 || strings.Contains(string(body), "finishReason") {
			t.Errorf("chunks %q", chunks)
		}
		if _, r := readWithCodec(t, body); r.Done() {
			t.Error("a cut stream reads as done")
		}
	})
	t.Run("reset after", func(t *testing.T) {
		resp := post(t, base, streamPath, `{"contents":[{"parts":[{"text":"a b c d"}]}]}`, map[string]string{HeaderResetAfter: "1"})
		chunks, err := sseChunks(t, resp.Body)
		if err == nil || len(chunks) != 1 {
			t.Errorf("chunks %q, err %v; want one chunk then a reset", chunks, err)
		}
	})
}

func TestHangAndCancel(t *testing.T) {
	srv, base := Start(t, Options{})
	for _, hang := range []string{"before-headers", "after-headers"} {
		t.Run(hang, func(t *testing.T) {
			srv.Reset()
			req, _ := http.NewRequest(http.MethodPost, base+streamPath, strings.NewReader(`{"contents":[{"parts":[{"text":"x"}]}]}`))
			req.Header.Set(HeaderHang, hang)
			client := &http.Client{Timeout: 200 * time.Millisecond}
			resp, err := client.Do(req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if err == nil {
				t.Fatal("a hanging request completed")
			}
			if _, ok := srv.WaitCancelled(5 * time.Second); !ok {
				t.Error("the fake did not see the client go away")
			}
		})
	}
	t.Run("delay", func(t *testing.T) {
		start := time.Now()
		resp := post(t, base, generate, `{"contents":[{"parts":[{"text":"x"}]}]}`, map[string]string{HeaderDelayMs: "50"})
		decodeAnswer(t, resp)
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Errorf("answered after %v", d)
		}
	})
}

func TestScript(t *testing.T) {
	srv, base := Start(t, Options{Script: func(r *http.Request) *Behavior {
		if strings.Contains(r.URL.Path, "gemini-2.5-pro") {
			return &Behavior{Content: "scripted answer"}
		}
		return nil
	}})
	out := decodeAnswer(t, post(t, base, "/v1beta/models/gemini-2.5-pro:generateContent", `{"contents":[{"parts":[{"text":"x"}]}]}`, nil))
	if got := *out.Candidates[0].Content.Parts[0].Text; got != "scripted answer" {
		t.Errorf("text %q", got)
	}
	out = decodeAnswer(t, post(t, base, generate, `{"contents":[{"parts":[{"text":"x"}]}]}`, nil))
	if got := *out.Candidates[0].Content.Parts[0].Text; got != openaifake.Reply("x", 0, 0) {
		t.Errorf("text %q", got)
	}
	if srv.Count() != 2 {
		t.Errorf("count %d", srv.Count())
	}
	rec, _ := srv.Last()
	if rec.Path != "/v1beta/models/gemini-2.5-flash:generateContent" || rec.Method != http.MethodPost || rec.InFlight() {
		t.Errorf("last request %+v", rec)
	}
}

func TestCountTokens(t *testing.T) {
	_, base := Start(t, Options{APIKey: testKey})
	const path = "/v1beta/models/gemini-2.5-flash:countTokens"
	for _, tc := range []struct {
		name, body string
		want       int64
	}{
		{"contents", `{"contents":[{"parts":[{"text":"one two three"}]}]}`, 3},
		{"generateContentRequest", `{"generateContentRequest":{"model":"models/gemini-2.5-flash","systemInstruction":{"parts":[{"text":"be brief"}]},"contents":[{"parts":[{"text":"one two three"}]}]}}`, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, base, path, tc.body, nil)
			body := readAll(t, resp.Body)
			n, err := protocol.DecodeCountTokensResponse(body)
			if err != nil || n != tc.want || resp.StatusCode != 200 {
				t.Errorf("status %d, totalTokens %d (%v), want %d: %s", resp.StatusCode, n, err, tc.want, body)
			}
		})
	}
	resp := post(t, base, path, `{"contents":[{"parts":[{"text":"a"}]}],"generateContentRequest":{"contents":[{"parts":[{"text":"b"}]}]}}`, nil)
	if resp.StatusCode != 400 {
		t.Errorf("both forms: status %d", resp.StatusCode)
	}
}

func TestModels(t *testing.T) {
	_, base := Start(t, Options{Models: []string{"gemini-x"}})
	resp, err := http.Get(base + "/v1beta/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := readAll(t, resp.Body)
	if !strings.Contains(string(body), `"models/gemini-x"`) {
		t.Errorf("models: %s", body)
	}
	resp2, err := http.Get(base + "/v1beta/models/nope")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	if resp2.StatusCode != 404 {
		t.Errorf("unknown model: status %d", resp2.StatusCode)
	}
}

func TestParseHeaders(t *testing.T) {
	for _, tc := range []struct {
		h       map[string]string
		wantErr bool
	}{
		{map[string]string{HeaderStatus: "503", HeaderChunks: "2", HeaderHang: "after-headers"}, false},
		{map[string]string{HeaderStatus: "abc"}, true},
		{map[string]string{HeaderChunks: "0"}, true},
		{map[string]string{HeaderHang: "sometimes"}, true},
	} {
		h := http.Header{}
		for k, v := range tc.h {
			h.Set(k, v)
		}
		_, err := ParseHeaders(h)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseHeaders(%v) error %v, want error %v", tc.h, err, tc.wantErr)
		}
	}
}

func TestClosed(t *testing.T) {
	srv, base := Start(t, Options{})
	srv.Close()
	resp := post(t, base, generate, `{"contents":[{"parts":[{"text":"x"}]}]}`, nil)
	if resp.StatusCode != 503 {
		t.Errorf("status %d after Close", resp.StatusCode)
	}
	if e := decodeError(t, resp); e.Status != "UNAVAILABLE" {
		t.Errorf("error %+v", e)
	}
}
