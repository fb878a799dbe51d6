package bedrockfake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	wire "github.com/sluicehq/sluice/internal/apischema/bedrock"
	"github.com/sluicehq/sluice/internal/protocol/bedrock"
	"github.com/sluicehq/sluice/internal/provider"
	bedrockprovider "github.com/sluicehq/sluice/internal/provider/bedrock"
)

const claude = "anthropic.claude-3-5-sonnet-20240620-v1:0"

// sdkRequest is a Converse request signed by the AWS SDK for Go v2 signer
// (aws/signer/v4 v1.48.0) at 2024-01-02T03:04:05Z for us-west-2 with the
// documentation's example keys and a session token.
func sdkRequest(path, sig string) *http.Request {
	body := `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`
	r := httptest.NewRequest("POST", "https://bedrock-runtime.us-west-2.amazonaws.com"+path, strings.NewReader(body))
	sum := sha256.Sum256([]byte(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	r.Header.Set("X-Amz-Date", "20240102T030405Z")
	r.Header.Set("X-Amz-Security-Token", "SESSION/TOKEN+=")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-west-2/bedrock/aws4_request, "+
		"SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature="+sig)
	return r
}

func sdkOptions() Options {
	return Options{
		AccessKeyID: TestAccessKeyID, SecretAccessKey: TestSecretAccessKey, Region: "us-west-2",
		SessionToken: "SESSION/TOKEN+=",
		Now:          func() time.Time { return time.Date(2024, 1, 2, 3, 6, 0, 0, time.UTC) },
	}
}

const (
	sdkPathColon = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
	sdkSigColon  = "3773d09b890152dab68fa69d692dd64f16f7e0eb9155b2ebfb70dd2807cf307b"
	sdkPathARN   = "/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse-stream"
	sdkSigARN    = "3183a32420dc74880d5cdd57b891030bdfdce3077126a0e187a843d1462e588a"
)

// TestVerifiesSDKSignatures: requests signed by the AWS SDK pass; any
// change to what was signed fails as AWS fails it.
func TestVerifiesSDKSignatures(t *testing.T) {
	cases := []struct {
		name     string
		req      func() *http.Request
		opts     func(*Options)
		wantCode int
		wantType string
	}{
		{"sdk colon model", func() *http.Request { return sdkRequest(sdkPathColon, sdkSigColon) }, nil, 200, ""},
		{"sdk arn model stream", func() *http.Request { return sdkRequest(sdkPathARN, sdkSigARN) }, nil, 200, ""},
		{"path escaped differently", func() *http.Request {
			return sdkRequest("/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse", sdkSigColon)
		}, nil, 403, wire.ErrInvalidSignature},
		{"wrong signature", func() *http.Request { return sdkRequest(sdkPathColon, strings.Repeat("0", 64)) }, nil, 403, wire.ErrInvalidSignature},
		{"tampered body", func() *http.Request {
			r := sdkRequest(sdkPathColon, sdkSigColon)
			r.Body = io.NopCloser(strings.NewReader(`{"messages":[{"role":"user","content":[{"text":"ho"}]}]}`))
			return r
		}, nil, 403, wire.ErrInvalidSignature},
		{"tampered signed header", func() *http.Request {
			r := sdkRequest(sdkPathColon, sdkSigColon)
			r.Header.Set("Content-Type", "application/json; charset=utf-8")
			return r
		}, nil, 403, wire.ErrInvalidSignature},
		{"unsigned header added", func() *http.Request {
			r := sdkRequest(sdkPathColon, sdkSigColon)
			r.Header.Set("X-Fake-Anything", "1")
			return r
		}, nil, 200, ""},
		{"other host", func() *http.Request {
			r := sdkRequest(sdkPathColon, sdkSigColon)
			r.Host = "bedrock-runtime.us-east-1.amazonaws.com"
			return r
		}, nil, 403, wire.ErrInvalidSignature},
		{"wrong secret", func() *http.Request { return sdkRequest(sdkPathColon, sdkSigColon) },
			func(o *Options) { o.SecretAccessKey = "other" }, 403, wire.ErrInvalidSignature},
		{"unknown key id", func() *http.Request { return sdkRequest(sdkPathColon, sdkSigColon) },
			func(o *Options) { o.AccessKeyID = "AKIDOTHER" }, 403, wire.ErrUnrecognizedClient},
		{"wrong session token", func() *http.Request { return sdkRequest(sdkPathColon, sdkSigColon) },
			func(o *Options) { o.SessionToken = "other" }, 403, wire.ErrUnrecognizedClient},
		{"wrong region", func() *http.Request { return sdkRequest(sdkPathColon, sdkSigColon) },
			func(o *Options) { o.Region = "eu-west-1" }, 403, wire.ErrInvalidSignature},
		{"expired", func() *http.Request { return sdkRequest(sdkPathColon, sdkSigColon) },
			func(o *Options) { o.Now = func() time.Time { return time.Date(2024, 1, 2, 3, 20, 0, 0, time.UTC) } }, 403, wire.ErrInvalidSignature},
		{"no authorization", func() *http.Request {
			r := sdkRequest(sdkPathColon, sdkSigColon)
			r.Header.Del("Authorization")
			return r
		}, nil, 403, wire.ErrMissingAuthToken},
		{"garbled authorization", func() *http.Request {
			r := sdkRequest(sdkPathColon, sdkSigColon)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential")
			return r
		}, nil, 403, wire.ErrIncompleteSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := sdkOptions()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			s := New(opts)
			defer s.Close()
			w := httptest.NewRecorder()
			s.ServeHTTP(w, tc.req())
			if w.Code != tc.wantCode || w.Header().Get(wire.HeaderErrorType) != tc.wantType {
				t.Errorf("%d %s %s", w.Code, w.Header().Get(wire.HeaderErrorType), w.Body)
			}
		})
	}
}

// client returns an adapter for the fake at base.
func client(t *testing.T, base string, mod func(*provider.Spec)) provider.Adapter {
	t.Helper()
	spec := provider.Spec{Name: "bedrock", Type: "bedrock", BaseURL: base, Region: TestRegion,
		AWSAccessKeyID: TestAccessKeyID, AWSSecretAccessKey: TestSecretAccessKey}
	if mod != nil {
		mod(&spec)
	}
	a, err := bedrockprovider.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testOptions() Options {
	return Options{AccessKeyID: TestAccessKeyID, SecretAccessKey: TestSecretAccessKey, Region: TestRegion}
}

func send(t *testing.T, a provider.Adapter, model, body string, stream bool, headers map[string]string) *http.Response {
	t.Helper()
	h := http.Header{}
	for k, v := range headers {
		h.Set(k, v)
	}
	resp, err := a.Do(context.Background(), &provider.Request{Op: provider.OpChat, Model: model, Body: []byte(body), Stream: stream, Header: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decode[T any](t *testing.T, r io.Reader) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(r).Decode(&v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return v
}

func TestConverse(t *testing.T) {
	srv, base := Start(t, testOptions())
	a := client(t, base, nil)
	weather := `{"toolSpec":{"name":"get_weather","inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"},"unit":{"enum":["c","f"]}}}}}}`
	cases := []struct {
		name       string
		body       string
		headers    map[string]string
		wantStop   string
		wantBlocks []string // JSON of each content block
		wantUsage  wire.TokenUsage
		wantFields string
	}{
		{"text", `{"messages":[{"role":"user","content":[{"text":"hello big world"}]}]}`, nil,
			"end_turn", []string{`{"text":"Echo: hello big world"}`}, wire.TokenUsage{InputTokens: 3, OutputTokens: 4, TotalTokens: 7}, ""},
		{"system counts", `{"system":[{"text":"be brief"}],"messages":[{"role":"user","content":[{"text":"hi"}]},{"role":"assistant","content":[{"text":"yo"}]},{"role":"user","content":[{"text":"again"}]}]}`, nil,
			"end_turn", []string{`{"text":"Echo: again"}`}, wire.TokenUsage{InputTokens: 5, OutputTokens: 2, TotalTokens: 7}, ""},
		{"tool use", `{"messages":[{"role":"user","content":[{"text":"Paris please"}]}],"toolConfig":{"tools":[` + weather + `]}}`, nil,
			"tool_use", []string{`{"toolUse":{"toolUseId":"` + ToolUseID(3, "get_weather") + `","name":"get_weather","input":{"city":"Paris please","unit":"c"}}}`},
			wire.TokenUsage{InputTokens: 2, OutputTokens: 3, TotalTokens: 5}, ""},
		{"tool result answered with text", `{"messages":[{"role":"user","content":[{"text":"Paris"}]},{"role":"assistant","content":[{"toolUse":{"toolUseId":"t1","name":"get_weather","input":{}}}]},{"role":"user","content":[{"toolResult":{"toolUseId":"t1","content":[{"text":"sunny"}]}}]}],"toolConfig":{"tools":[` + weather + `]}}`, nil,
			"end_turn", []string{`{"text":"Echo: sunny"}`}, wire.TokenUsage{InputTokens: 2, OutputTokens: 2, TotalTokens: 4}, ""},
		{"thinking", `{"messages":[{"role":"user","content":[{"text":"is 97 prime"}]}],"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}}`, nil,
			"end_turn", []string{`{"reasoningContent":{"reasoningText":{"text":"Thinking about: is 97 prime","signature":"` + Signature("Thinking about: is 97 prime") + `"}}}`, `{"text":"Echo: is 97 prime"}`},
			wire.TokenUsage{InputTokens: 3, OutputTokens: 9, TotalTokens: 12}, ""},
		{"json schema", `{"messages":[{"role":"user","content":[{"text":"Ann"}]}],"outputConfig":{"textFormat":{"type":"json_schema","structure":{"jsonSchema":{"schema":"{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"age\":{\"type\":\"integer\"}}}"}}}}}`, nil,
			"end_turn", []string{`{"text":"{\"age\":1,\"name\":\"Ann\"}"}`}, wire.TokenUsage{InputTokens: 1, OutputTokens: 1, TotalTokens: 2}, ""},
		{"stop sequence named", `{"messages":[{"role":"user","content":[{"text":"a b c d"}]}],"inferenceConfig":{"stopSequences":[" c"," b"]},"additionalModelResponseFieldPaths":["/stop_sequence"]}`, nil,
			"stop_sequence", []string{`{"text":"Echo: a"}`}, wire.TokenUsage{InputTokens: 4, OutputTokens: 2, TotalTokens: 6}, `{"stop_sequence":" b"}`},
		{"max tokens", `{"messages":[{"role":"user","content":[{"text":"a b c d"}]}],"inferenceConfig":{"maxTokens":2}}`, nil,
			"max_tokens", []string{`{"text":"Echo: a"}`}, wire.TokenUsage{InputTokens: 4, OutputTokens: 2, TotalTokens: 6}, ""},
		{"usage override", `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`,
			map[string]string{HeaderInputTokens: "10", HeaderOutputTokens: "5", HeaderCacheReadTokens: "100", HeaderCacheWriteTokens: "20"},
			"end_turn", []string{`{"text":"Echo: hi"}`}, wire.TokenUsage{InputTokens: 10, OutputTokens: 5, TotalTokens: 135, CacheReadInputTokens: ptr(100), CacheWriteInputTokens: ptr(20)}, ""},
		{"content override", `{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`, map[string]string{HeaderContent: "scripted words"},
			"end_turn", []string{`{"text":"scripted words"}`}, wire.TokenUsage{InputTokens: 1, OutputTokens: 2, TotalTokens: 3}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, a, claude, tc.body, false, tc.headers)
			if resp.StatusCode != 200 {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			if resp.Header.Get(wire.HeaderRequestID) == "" || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", resp.Header)
			}
			got := decode[wire.ConverseResponse](t, resp.Body)
			if got.StopReason != tc.wantStop || got.Output.Message == nil || got.Output.Message.Role != "assistant" {
				t.Fatalf("answer %+v", got)
			}
			var blocks []string
			for _, b := range got.Output.Message.Content {
				j, _ := json.Marshal(b)
				blocks = append(blocks, string(j))
			}
			if strings.Join(blocks, "\n") != strings.Join(tc.wantBlocks, "\n") {
				t.Errorf("blocks\n%s\nwant\n%s", strings.Join(blocks, "\n"), strings.Join(tc.wantBlocks, "\n"))
			}
			if gu, _ := json.Marshal(got.Usage); string(gu) != string(mustJSON(tc.wantUsage)) {
				t.Errorf("usage %s, want %s", gu, mustJSON(tc.wantUsage))
			}
			if string(got.AdditionalModelResponseFields) != tc.wantFields {
				t.Errorf("additional fields %s", got.AdditionalModelResponseFields)
			}
		})
	}
	if r, _ := srv.Last(); ModelID(r) != claude || r.RawPath != "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse" {
		t.Errorf("recorded %q %q", ModelID(r), r.RawPath)
	}
}

func ptr[T any](v T) *T { return &v }

// frames reads an event-stream body into its messages and the error that
// ended it.
type frame struct {
	kind    string // event type, or "exception:<type>"
	payload map[string]any
}

func readFrames(r io.Reader) ([]frame, error) {
	var d bedrock.Decoder
	var out []frame
	buf := make([]byte, 7) // small reads: frames arrive in pieces
	for {
		n, err := r.Read(buf)
		if ferr := d.Feed(buf[:n], func(m *bedrock.Message) error {
			f := frame{}
			if mt, _ := m.String(wire.HeaderMessageType); mt == wire.MessageTypeException {
				et, _ := m.String(wire.HeaderExceptionType)
				f.kind = "exception:" + et
			} else {
				f.kind, _ = m.String(wire.HeaderEventType)
			}
			if ct, _ := m.String(wire.HeaderContentType); ct != "application/json" {
				return errors.New("content type " + ct)
			}
			if err := json.Unmarshal(m.Payload, &f.payload); err != nil {
				return err
			}
			out = append(out, f)
			return nil
		}); ferr != nil {
			return out, ferr
		}
		if err == io.EOF {
			if d.Pending() > 0 {
				return out, io.ErrUnexpectedEOF
			}
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func kinds(fs []frame) string {
	var k []string
	for _, f := range fs {
		k = append(k, f.kind)
	}
	return strings.Join(k, " ")
}

func TestConverseStream(t *testing.T) {
	_, base := Start(t, testOptions())
	a := client(t, base, nil)
	cases := []struct {
		name      string
		body      string
		headers   map[string]string
		wantKinds string
		check     func(t *testing.T, fs []frame)
	}{
		{"text", `{"messages":[{"role":"user","content":[{"text":"a b c"}]}]}`, nil,
			"messageStart contentBlockDelta contentBlockDelta contentBlockDelta contentBlockDelta contentBlockStop messageStop metadata",
			func(t *testing.T, fs []frame) {
				var text string
				for _, f := range fs {
					if d, ok := f.payload["delta"].(map[string]any); ok {
						text += d["text"].(string)
					}
					if _, ok := f.payload["p"].(string); !ok {
						t.Errorf("%s without padding", f.kind)
					}
				}
				if text != "Echo: a b c" {
					t.Errorf("text %q", text)
				}
				if fs[6].payload["stopReason"] != "end_turn" {
					t.Errorf("messageStop %v", fs[6].payload)
				}
				u := fs[7].payload["usage"].(map[string]any)
				if u["inputTokens"] != 3.0 || u["outputTokens"] != 4.0 {
					t.Errorf("usage %v", u)
				}
			}},
		{"chunks", `{"messages":[{"role":"user","content":[{"text":"a b c"}]}]}`, map[string]string{HeaderChunks: "2"},
			"messageStart contentBlockDelta contentBlockDelta contentBlockStop messageStop metadata", nil},
		{"tool use", `{"messages":[{"role":"user","content":[{"text":"x"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{"q":{"type":"string"}}}}}}],"toolChoice":{"any":{}}}}`, nil,
			"messageStart contentBlockStart contentBlockDelta contentBlockDelta contentBlockStop messageStop metadata",
			func(t *testing.T, fs []frame) {
				start := fs[1].payload["start"].(map[string]any)["toolUse"].(map[string]any)
				if start["name"] != "f" || start["toolUseId"] == "" {
					t.Errorf("start %v", start)
				}
				in := fs[2].payload["delta"].(map[string]any)["toolUse"].(map[string]any)["input"].(string) +
					fs[3].payload["delta"].(map[string]any)["toolUse"].(map[string]any)["input"].(string)
				if in != `{"q":"x"}` {
					t.Errorf("input %s", in)
				}
				if fs[5].payload["stopReason"] != "tool_use" {
					t.Errorf("stop %v", fs[5].payload)
				}
			}},
		{"thinking", `{"messages":[{"role":"user","content":[{"text":"x"}]}],"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":2000}}}`, nil,
			"messageStart contentBlockDelta contentBlockDelta contentBlockDelta contentBlockDelta contentBlockStop contentBlockDelta contentBlockDelta contentBlockStop messageStop metadata",
			func(t *testing.T, fs []frame) {
				sig := fs[4].payload["delta"].(map[string]any)["reasoningContent"].(map[string]any)["signature"]
				if sig != Signature("Thinking about: x") {
					t.Errorf("signature %v", sig)
				}
				if fs[6].payload["contentBlockIndex"] != 1.0 {
					t.Errorf("text block index %v", fs[6].payload)
				}
			}},
		{"no metadata", `{"messages":[{"role":"user","content":[{"text":"a"}]}]}`, map[string]string{HeaderMetadata: "none"},
			"messageStart contentBlockDelta contentBlockDelta contentBlockStop messageStop", nil},
		{"exception", `{"messages":[{"role":"user","content":[{"text":"a b"}]}]}`, map[string]string{HeaderExceptionAfter: "2"},
			"messageStart contentBlockDelta exception:throttlingException", nil},
		{"exception type", `{"messages":[{"role":"user","content":[{"text":"a b"}]}]}`, map[string]string{HeaderExceptionAfter: "1", HeaderExceptionType: wire.ExceptionModelStreamError},
			"messageStart exception:modelStreamErrorException", nil},
		{"cut", `{"messages":[{"role":"user","content":[{"text":"a b c"}]}]}`, map[string]string{HeaderCutAfter: "3"},
			"messageStart contentBlockDelta contentBlockDelta", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, a, claude, tc.body, true, tc.headers)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != wire.StreamContentType {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			fs, err := readFrames(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if got := kinds(fs); got != tc.wantKinds {
				t.Fatalf("frames\n%s\nwant\n%s", got, tc.wantKinds)
			}
			if tc.check != nil {
				tc.check(t, fs)
			}
		})
	}
}

func TestReset(t *testing.T) {
	srv, base := Start(t, testOptions())
	a := client(t, base, nil)
	resp := send(t, a, claude, `{"messages":[{"role":"user","content":[{"text":"a b c"}]}]}`, true, map[string]string{HeaderResetAfter: "2"})
	fs, err := readFrames(resp.Body)
	if err == nil || len(fs) != 2 {
		t.Errorf("%d frames, error %v", len(fs), err)
	}
	srv.WaitFinished(time.Second)
	if r, _ := srv.Last(); r.Events != 2 || r.Cancelled {
		t.Errorf("record %+v", r)
	}
}

func TestValidation(t *testing.T) {
	_, base := Start(t, testOptions())
	a := client(t, base, nil)
	cases := []struct {
		name, body, want string
	}{
		{"not json", `{`, "Malformed input request"},
		{"unknown field", `{"messages":[{"role":"user","content":[{"text":"a"}]}],"model":"x"}`, "Malformed input request"},
		{"no messages", `{}`, "must start with a user message"},
		{"assistant first", `{"messages":[{"role":"assistant","content":[{"text":"a"}]}]}`, "must start with a user message"},
		{"bad role", `{"messages":[{"role":"system","content":[{"text":"a"}]}]}`, "enum value set: [user, assistant]"},
		{"blank text", `{"messages":[{"role":"user","content":[{"text":" "}]}]}`, "is blank"},
		{"two members", `{"messages":[{"role":"user","content":[{"text":"a","image":{"format":"png","source":{"bytes":"AAAA"}}}]}]}`, "exactly one member"},
		{"tool use without config", `{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"assistant","content":[{"toolUse":{"toolUseId":"t","name":"f","input":{}}}]}]}`, "toolConfig field must be defined"},
		{"bad image format", `{"messages":[{"role":"user","content":[{"image":{"format":"tiff","source":{"bytes":"AAAA"}}}]}]}`, "png, jpeg, gif, webp"},
		{"bad image bytes", `{"messages":[{"role":"user","content":[{"image":{"format":"png","source":{"bytes":"***"}}}]}]}`, "not valid base64"},
		{"unknown tool choice", `{"messages":[{"role":"user","content":[{"text":"a"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{}}}}],"toolChoice":{"tool":{"name":"g"}}}}`, "not in the tools list"},
		{"zero max tokens", `{"messages":[{"role":"user","content":[{"text":"a"}]}],"inferenceConfig":{"maxTokens":0}}`, "maxTokens"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, a, claude, tc.body, false, nil)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 400 || resp.Header.Get(wire.HeaderErrorType) != wire.ErrValidation || !strings.Contains(string(body), tc.want) {
				t.Errorf("%d %s %s", resp.StatusCode, resp.Header.Get(wire.HeaderErrorType), body)
			}
		})
	}
}

func TestScriptedErrors(t *testing.T) {
	_, base := Start(t, testOptions())
	a := client(t, base, nil)
	cases := []struct {
		headers  map[string]string
		status   int
		wantType string
	}{
		{map[string]string{HeaderStatus: "400"}, 400, wire.ErrValidation},
		{map[string]string{HeaderStatus: "403"}, 403, wire.ErrAccessDenied},
		{map[string]string{HeaderStatus: "404"}, 404, wire.ErrResourceNotFound},
		{map[string]string{HeaderStatus: "408"}, 408, wire.ErrModelTimeout},
		{map[string]string{HeaderStatus: "424"}, 424, wire.ErrModelError},
		{map[string]string{HeaderStatus: "429"}, 429, wire.ErrThrottling},
		{map[string]string{HeaderStatus: "429", HeaderErrorType: wire.ErrModelNotReady}, 429, wire.ErrModelNotReady},
		{map[string]string{HeaderStatus: "500"}, 500, wire.ErrInternalServer},
		{map[string]string{HeaderStatus: "503"}, 503, wire.ErrServiceUnavailable},
		{map[string]string{HeaderStatus: "99"}, 400, wire.ErrValidation},
		{map[string]string{HeaderHang: "sideways"}, 400, wire.ErrValidation},
	}
	for _, tc := range cases {
		resp := send(t, a, claude, `{"messages":[{"role":"user","content":[{"text":"a"}]}]}`, true, tc.headers)
		body := decode[wire.ErrorBody](t, resp.Body)
		if resp.StatusCode != tc.status || resp.Header.Get(wire.HeaderErrorType) != tc.wantType || body.Message == "" {
			t.Errorf("%v: %d %s %+v", tc.headers, resp.StatusCode, resp.Header.Get(wire.HeaderErrorType), body)
		}
	}
}

func TestScript(t *testing.T) {
	_, base := Start(t, Options{Script: func(r *http.Request) *Behavior {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte("boom")) {
			return &Behavior{Status: 503}
		}
		if bytes.Contains(body, []byte("raw")) {
			return &Behavior{Body: []byte(`{"custom":true}`)}
		}
		return nil
	}})
	a := client(t, base, nil)
	resp := send(t, a, claude, `{"messages":[{"role":"user","content":[{"text":"boom"}]}]}`, false, nil)
	if resp.StatusCode != 503 {
		t.Errorf("status %d", resp.StatusCode)
	}
	resp = send(t, a, claude, `{"messages":[{"role":"user","content":[{"text":"raw"}]}]}`, false, nil)
	if b, _ := io.ReadAll(resp.Body); string(b) != `{"custom":true}` {
		t.Errorf("body %s", b)
	}
	resp = send(t, a, claude, `{"messages":[{"role":"user","content":[{"text":"plain"}]}]}`, false, map[string]string{HeaderStatus: "429"})
	if resp.StatusCode != 429 {
		t.Errorf("fallback to headers: %d", resp.StatusCode)
	}
}

func TestAPIKey(t *testing.T) {
	_, base := Start(t, Options{APIKey: "bedrock-api-key-123"})
	good := client(t, base, func(s *provider.Spec) {
		s.AWSAccessKeyID, s.AWSSecretAccessKey, s.APIKey = "", "", "bedrock-api-key-123"
	})
	if resp := send(t, good, claude, `{"messages":[{"role":"user","content":[{"text":"a"}]}]}`, false, nil); resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	bad := client(t, base, func(s *provider.Spec) {
		s.AWSAccessKeyID, s.AWSSecretAccessKey, s.APIKey = "", "", "wrong"
	})
	if resp := send(t, bad, claude, `{"messages":[{"role":"user","content":[{"text":"a"}]}]}`, false, nil); resp.StatusCode != 403 {
		t.Errorf("status %d", resp.StatusCode)
	}
}

func TestTiming(t *testing.T) {
	_, base := Start(t, testOptions())
	a := client(t, base, nil)
	start := time.Now()
	resp := send(t, a, claude, `{"messages":[{"role":"user","content":[{"text":"a b"}]}]}`, true, map[string]string{HeaderDelayMs: "100", HeaderChunkDelayMs: "20"})
	fs, err := readFrames(resp.Body)
	// 7 frames, 6 gaps.
	if d := time.Since(start); err != nil || len(fs) != 7 || d < 220*time.Millisecond {
		t.Errorf("%d frames in %v: %v", len(fs), d, err)
	}
}

func TestCancellation(t *testing.T) {
	cases := []struct {
		name    string
		stream  bool
		headers map[string]string
		read    int // frames to read before cancelling; -1 = cancel before headers
	}{
		{"hang before headers", false, map[string]string{HeaderHang: "1"}, -1},
		{"hang after headers", true, map[string]string{HeaderHang: "after-headers"}, 0},
		{"mid-stream", true, map[string]string{HeaderChunks: "50", HeaderChunkDelayMs: "50"}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, base := Start(t, testOptions())
			a := client(t, base, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				h := http.Header{}
				for k, v := range tc.headers {
					h.Set(k, v)
				}
				resp, err := a.Do(ctx, &provider.Request{Op: provider.OpChat, Model: claude, Stream: tc.stream, Header: h,
					Body: []byte(`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`)})
				if err != nil {
					errc <- err
					return
				}
				defer resp.Body.Close()
				var d bedrock.Decoder
				n := 0
				buf := make([]byte, 64)
				for n < tc.read {
					k, err := resp.Body.Read(buf)
					if err != nil {
						errc <- err
						return
					}
					_ = d.Feed(buf[:k], func(*bedrock.Message) error { n++; return nil })
				}
				cancel()
				_, err = io.Copy(io.Discard, resp.Body)
				errc <- err
			}()
			if !srv.WaitCount(1, time.Second) {
				t.Fatal("request never arrived")
			}
			if tc.read < 0 {
				time.Sleep(50 * time.Millisecond)
				cancel()
			}
			if _, ok := srv.WaitCancelled(2 * time.Second); !ok {
				t.Fatalf("the fake did not see the cancellation: %+v", srv.Requests())
			}
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Errorf("client error %v", err)
			}
			if !srv.WaitFinished(time.Second) {
				t.Error("handler did not return")
			}
		})
	}
}

func TestRequestLogConcurrent(t *testing.T) {
	srv, base := Start(t, testOptions())
	a := client(t, base, nil)
	const n = 10
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := a.Do(context.Background(), &provider.Request{Op: provider.OpChat, Model: claude, Stream: i%2 == 0,
				Body: []byte(`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`)})
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			_ = srv.Requests()
		})
	}
	wg.Wait()
	if !srv.WaitFinished(time.Second) || srv.Count() != n {
		t.Errorf("count %d", srv.Count())
	}
	for _, r := range srv.Requests() {
		if r.Status != 200 || r.Header.Get("Authorization") == "" {
			t.Errorf("record %+v", r)
		}
	}
	srv.Reset()
	if srv.Count() != 0 {
		t.Error("Reset kept requests")
	}
}

func TestCloseReleasesHangs(t *testing.T) {
	srv := New(Options{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		req := httptest.NewRequest(http.MethodPost, "/model/m/converse", strings.NewReader(`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`))
		req.Header.Set(HeaderHang, "1")
		srv.ServeHTTP(httptest.NewRecorder(), req)
	}()
	srv.WaitCount(1, time.Second)
	srv.Close()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("hanging handler not released by Close")
	}
}

func TestNotFound(t *testing.T) {
	srv := New(Options{})
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/model/m/invoke", strings.NewReader("{}")))
	if w.Code != 404 || w.Header().Get(wire.HeaderErrorType) == "" {
		t.Errorf("%d %v", w.Code, w.Header())
	}
}
