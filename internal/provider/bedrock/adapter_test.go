package bedrock

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	bedrockfake "github.com/sluicehq/sluice/internal/fakeprovider/bedrock"
	"github.com/sluicehq/sluice/internal/llm"
	protocol "github.com/sluicehq/sluice/internal/protocol/bedrock"
	"github.com/sluicehq/sluice/internal/provider"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const claude = "anthropic.claude-3-5-sonnet-20240620-v1:0"

func TestNew(t *testing.T) {
	keys := func(s provider.Spec) provider.Spec {
		s.AWSAccessKeyID, s.AWSSecretAccessKey = "AKID", "SECRET"
		return s
	}
	cases := []struct {
		name    string
		spec    provider.Spec
		wantErr string
		wantURL string
	}{
		{"keys and region", keys(provider.Spec{Region: "eu-west-3"}), "", "https://bedrock-runtime.eu-west-3.amazonaws.com"},
		{"base url", keys(provider.Spec{Region: "us-east-1", BaseURL: "http://localhost:9/"}), "", "http://localhost:9"},
		{"api key and region", provider.Spec{Region: "us-east-1", APIKey: "k"}, "", "https://bedrock-runtime.us-east-1.amazonaws.com"},
		{"api key and base url, no region", provider.Spec{BaseURL: "https://proxy.example", APIKey: "k"}, "", "https://proxy.example"},
		{"no credentials", provider.Spec{Region: "us-east-1"}, "AWS credentials or a Bedrock API key", ""},
		{"key id without secret", provider.Spec{Region: "us-east-1", AWSAccessKeyID: "AKID"}, "both", ""},
		{"token without keys", provider.Spec{Region: "us-east-1", APIKey: "k", AWSSessionToken: "t"}, "session token", ""},
		{"no region", keys(provider.Spec{BaseURL: "https://x"}), "region", ""},
		{"bad base url", keys(provider.Spec{Region: "r", BaseURL: "ftp://x"}), "invalid base URL", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Name = "aws"
			a, err := New(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ad := a.(*Adapter)
			if ad.base != tc.wantURL || ad.Name() != "aws" || ad.Protocol() != provider.ProtocolBedrock || ad.Timeout() != DefaultTimeout {
				t.Errorf("adapter %+v", ad)
			}
		})
	}
}

// captureTransport records the request and answers 200 without a network.
type captureTransport struct{ req *http.Request }

func (c *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.req = r
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("{}")), Header: http.Header{}, Request: r}, nil
}

func TestDoRequest(t *testing.T) {
	ct := &captureTransport{}
	a, err := newAdapter(provider.Spec{Name: "aws", Region: "us-west-2", AWSAccessKeyID: "AKIDEXAMPLE",
		AWSSecretAccessKey: "secret", AWSSessionToken: "tok", Headers: map[string]string{"X-Custom": "1"},
		Client: &http.Client{Transport: ct}}, func() time.Time { return time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC) })
	if err != nil {
		t.Fatal(err)
	}
	fwd := http.Header{"X-Trace": {"abc"}, "X-Amz-Date": {"19990101T000000Z"}, "X-Amz-Security-Token": {"client"}, "Authorization": {"Bearer client"}}
	body := []byte(`{"messages":[]}`)
	for _, stream := range []bool{false, true} {
		resp, err := a.Do(context.Background(), &provider.Request{Op: provider.OpChat, Model: claude, Stream: stream, Body: body, Header: fwd})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		r := ct.req
		wantPath := "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
		wantAccept := "application/json"
		if stream {
			wantPath += "-stream"
			wantAccept = "application/vnd.amazon.eventstream"
		}
		if r.URL.EscapedPath() != wantPath || r.URL.RequestURI() != wantPath || r.Host != "bedrock-runtime.us-west-2.amazonaws.com" {
			t.Errorf("URL %s (%s), Host %s", r.URL, r.URL.RequestURI(), r.Host)
		}
		h := r.Header
		if h.Get("Content-Type") != "application/json" || h.Get("Accept") != wantAccept || h.Get("X-Trace") != "abc" || h.Get("X-Custom") != "1" ||
			h.Get("X-Amz-Date") != "20240102T030405Z" || h.Get("X-Amz-Security-Token") != "tok" {
			t.Errorf("headers %v", h)
		}
		auth := h.Get("Authorization")
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-west-2/bedrock/aws4_request, SignedHeaders=accept;content-length;content-type;host;x-amz-date;x-amz-security-token;x-custom;x-trace, Signature=") {
			t.Errorf("Authorization %s", auth)
		}
		if len(h.Values("Authorization")) != 1 || len(h.Values("X-Amz-Security-Token")) != 1 {
			t.Errorf("client credentials forwarded: %v", h)
		}
	}
	if fwd.Get("X-Amz-Date") != "19990101T000000Z" {
		t.Error("Do modified the caller's headers")
	}

	bearer, _ := newAdapter(provider.Spec{Region: "us-east-1", APIKey: "bedrock-key", Client: &http.Client{Transport: ct}}, time.Now)
	resp, err := bearer.Do(context.Background(), &provider.Request{Op: provider.OpChat, Model: "m", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct.req.Header.Get("Authorization") != "Bearer bedrock-key" || ct.req.Header.Get("X-Amz-Date") != "" {
		t.Errorf("bearer headers %v", ct.req.Header)
	}
}

func TestDoUnsupported(t *testing.T) {
	a, _ := New(provider.Spec{Region: "us-east-1", APIKey: "k", Client: &http.Client{Transport: &captureTransport{}}})
	for _, op := range []provider.Operation{provider.OpEmbeddings, provider.OpResponses, provider.OpCountTokens} {
		if _, err := a.Do(context.Background(), &provider.Request{Op: op, Model: "m"}); !errors.Is(err, provider.ErrUnsupported) {
			t.Errorf("%s: %v", op, err)
		}
	}
	if _, err := a.Do(context.Background(), &provider.Request{Op: provider.OpChat}); err == nil {
		t.Error("no error without a model")
	}
}

func TestHostHeader(t *testing.T) {
	for in, want := range map[string]string{
		"https://h.example:443/x": "h.example",
		"http://h.example:80/x":   "h.example",
		"https://h.example:8443":  "h.example:8443",
		"http://127.0.0.1:9000":   "127.0.0.1:9000",
		"https://[::1]:443":       "[::1]",
	} {
		a, err := newAdapter(provider.Spec{Region: "r", APIKey: "k", BaseURL: in}, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		ct := &captureTransport{}
		a.client = &http.Client{Transport: ct}
		a.send = provider.NewSender(a.client)
		resp, err := a.Do(context.Background(), &provider.Request{Op: provider.OpChat, Model: "m"})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ct.req.Host != want {
			t.Errorf("%s: Host %s, want %s", in, ct.req.Host, want)
		}
	}
}

// e2e: canonical request -> Converse body -> signed request -> fake (which
// verifies the signature) -> canonical answer.
type e2e struct {
	fake   *bedrockfake.Server
	client *http.Client
	spec   provider.Spec
}

func newE2E(t *testing.T, opts bedrockfake.Options) *e2e {
	t.Helper()
	fake, base := bedrockfake.Start(t, opts)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &e2e{fake: fake, client: &http.Client{Transport: tr}, spec: provider.Spec{Name: "aws", Type: "bedrock", BaseURL: base,
		Region: bedrockfake.TestRegion, AWSAccessKeyID: bedrockfake.TestAccessKeyID, AWSSecretAccessKey: bedrockfake.TestSecretAccessKey}}
}

func (e *e2e) adapter(t *testing.T, mod func(*provider.Spec)) provider.Adapter {
	t.Helper()
	spec := e.spec
	spec.Client = e.client
	if mod != nil {
		mod(&spec)
	}
	a, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func do(t *testing.T, a provider.Adapter, model string, req *llm.Request, headers map[string]string) *http.Response {
	t.Helper()
	body, err := protocol.Upstream.EncodeRequest(req, model)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	for k, v := range headers {
		h.Set(k, v)
	}
	resp, err := a.Do(context.Background(), &provider.Request{Op: provider.OpChat, Model: model, Body: body, Stream: req.Stream, Header: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func userText(s string) []llm.Message {
	return []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: s}}}}
}

// readStream decodes a streamed answer with the protocol's StreamReader,
// reading in small pieces.
func readStream(t *testing.T, body io.Reader) ([]llm.Event, *protocol.StreamReader) {
	t.Helper()
	r := protocol.NewStreamReader()
	var evs []llm.Event
	emit := func(ev llm.Event) { evs = append(evs, ev) }
	buf := make([]byte, 5)
	for {
		n, err := body.Read(buf)
		if ferr := r.Feed(buf[:n], emit); ferr != nil {
			t.Fatal(ferr)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := r.End(emit); err != nil {
		t.Fatal(err)
	}
	return evs, r
}

func TestEndToEnd(t *testing.T) {
	e := newE2E(t, bedrockfake.Options{AccessKeyID: bedrockfake.TestAccessKeyID, SecretAccessKey: bedrockfake.TestSecretAccessKey,
		Region: bedrockfake.TestRegion, SessionToken: "session-token/xyz="})
	a := e.adapter(t, func(s *provider.Spec) { s.AWSSessionToken = "session-token/xyz=" })
	models := []string{claude, "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0", "meta.llama3-70b-instruct-v1:0"}
	for _, model := range models {
		t.Run(model, func(t *testing.T) {
			// Not streamed.
			resp := do(t, a, model, &llm.Request{Messages: userText("hello world")}, map[string]string{bedrockfake.HeaderCacheReadTokens: "7"})
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			got, err := protocol.Upstream.DecodeResponse(body)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Content) != 1 || got.Content[0].Text != "Echo: hello world" || got.StopReason != llm.StopEndTurn ||
				got.Usage != (llm.Usage{InputTokens: 2 + 7, OutputTokens: 3, CachedTokens: 7}) {
				t.Errorf("answer %+v", got)
			}
			if r, _ := e.fake.Last(); bedrockfake.ModelID(r) != model {
				t.Errorf("the fake saw model %q", bedrockfake.ModelID(r))
			}
			// Streamed, with tools and thinking.
			req := &llm.Request{Messages: userText("Paris"), Stream: true, MaxTokens: 4096,
				Thinking: &llm.Thinking{BudgetTokens: 1024},
				Tools:    []llm.Tool{{Name: "get_weather", Parameters: []byte(`{"type":"object","properties":{"city":{"type":"string"}}}`)}}}
			resp = do(t, a, model, req, nil)
			if resp.StatusCode != 200 {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			evs, r := readStream(t, resp.Body)
			if !r.Done() {
				t.Fatal("stream not Done")
			}
			var thinking, sig, args string
			var call *llm.Part
			for _, ev := range evs {
				switch ev.Type {
				case llm.EvThinkingDelta:
					thinking += ev.Text
				case llm.EvSignatureDelta:
					sig += ev.Text
				case llm.EvToolArgsDelta:
					args += ev.Text
				case llm.EvBlockStart:
					if ev.Block.Type == llm.PartToolCall {
						call = ev.Block
					}
				}
			}
			last := evs[len(evs)-1]
			if thinking != "Thinking about: Paris" || sig != bedrockfake.Signature(thinking) || call == nil || call.ToolName != "get_weather" ||
				args != `{"city":"Paris"}` || last.Type != llm.EvStop || last.StopReason != llm.StopToolUse || last.Usage == nil {
				t.Errorf("thinking %q sig %q call %+v args %s last %+v", thinking, sig, call, args, last)
			}
		})
	}
}

func TestEndToEndErrors(t *testing.T) {
	e := newE2E(t, bedrockfake.Options{AccessKeyID: bedrockfake.TestAccessKeyID, SecretAccessKey: bedrockfake.TestSecretAccessKey, Region: bedrockfake.TestRegion})
	cases := []struct {
		name     string
		mod      func(*provider.Spec)
		now      func() time.Time
		headers  map[string]string
		status   int
		wantType string
	}{
		{"wrong secret", func(s *provider.Spec) { s.AWSSecretAccessKey = "nope" }, nil, nil, 403, "authentication"},
		{"wrong region", func(s *provider.Spec) { s.Region = "eu-west-1" }, nil, nil, 403, "authentication"},
		{"clock skew", nil, func() time.Time { return time.Now().Add(-time.Hour) }, nil, 403, "authentication"},
		{"throttled", nil, nil, map[string]string{bedrockfake.HeaderStatus: "429"}, 429, "rate_limit"},
		{"unavailable", nil, nil, map[string]string{bedrockfake.HeaderStatus: "503"}, 503, "overloaded"},
		{"validation", nil, nil, map[string]string{bedrockfake.HeaderStatus: "400"}, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := e.spec
			spec.Client = e.client
			if tc.mod != nil {
				tc.mod(&spec)
			}
			now := tc.now
			if now == nil {
				now = time.Now
			}
			a, err := newAdapter(spec, now)
			if err != nil {
				t.Fatal(err)
			}
			resp := do(t, a, claude, &llm.Request{Messages: userText("hi")}, tc.headers)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			le := protocol.Upstream.DecodeError(resp.StatusCode, body)
			// The adapter copied x-amzn-ErrorType into the body.
			typ := protocol.ErrorCode(resp.Header.Get("X-Amzn-Errortype"))
			if typ == "" || !strings.Contains(string(body), `"__type":"`+typ+`"`) {
				t.Errorf("x-amzn-ErrorType %q, body %s", typ, body)
			}
			if le.Type != tc.wantType {
				t.Errorf("DecodeError = %+v, want type %s", le, tc.wantType)
			}
			if le.Message == "" || le.Status != tc.status {
				t.Errorf("DecodeError = %+v", le)
			}
		})
	}
}

func TestEndToEndStreamFaults(t *testing.T) {
	e := newE2E(t, bedrockfake.Options{AccessKeyID: bedrockfake.TestAccessKeyID, SecretAccessKey: bedrockfake.TestSecretAccessKey, Region: bedrockfake.TestRegion})
	a := e.adapter(t, nil)
	req := &llm.Request{Messages: userText("a b c"), Stream: true}
	t.Run("throttling exception", func(t *testing.T) {
		resp := do(t, a, claude, req, map[string]string{bedrockfake.HeaderExceptionAfter: "2"})
		evs, r := readStream(t, resp.Body)
		last := evs[len(evs)-1]
		if r.Done() || last.Type != llm.EvError || last.Err.Status != 429 || last.Err.Type != "rate_limit" {
			t.Errorf("done %v, last %+v", r.Done(), last)
		}
	})
	t.Run("cut before messageStop", func(t *testing.T) {
		resp := do(t, a, claude, req, map[string]string{bedrockfake.HeaderCutAfter: "4"})
		evs, r := readStream(t, resp.Body)
		for _, ev := range evs {
			if ev.Type == llm.EvStop {
				t.Error("EvStop on a cut stream")
			}
		}
		if r.Done() {
			t.Error("Done on a cut stream")
		}
	})
	t.Run("no metadata", func(t *testing.T) {
		resp := do(t, a, claude, req, map[string]string{bedrockfake.HeaderMetadata: "none"})
		evs, r := readStream(t, resp.Body)
		last := evs[len(evs)-1]
		if !r.Done() || last.Type != llm.EvStop || last.Usage != nil {
			t.Errorf("done %v, last %+v", r.Done(), last)
		}
		if _, ok := r.Usage(); ok {
			t.Error("usage without metadata")
		}
	})
}

func TestCancel(t *testing.T) {
	e := newE2E(t, bedrockfake.Options{AccessKeyID: bedrockfake.TestAccessKeyID, SecretAccessKey: bedrockfake.TestSecretAccessKey, Region: bedrockfake.TestRegion})
	a := e.adapter(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		body, _ := protocol.Upstream.EncodeRequest(&llm.Request{Messages: userText("hi")}, claude)
		_, err := a.Do(ctx, &provider.Request{Op: provider.OpChat, Model: claude, Body: body,
			Header: http.Header{bedrockfake.HeaderHang: {"1"}}})
		errc <- err
	}()
	if !e.fake.WaitCount(1, 2*time.Second) {
		t.Fatal("no request")
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("error %v", err)
	}
	if _, ok := e.fake.WaitCancelled(2 * time.Second); !ok {
		t.Error("the fake did not see the cancellation")
	}
}

func TestTypeErrorBody(t *testing.T) {
	big := strings.Repeat("x", maxErrorBody+10)
	cases := []struct {
		name, header, body, want string
	}{
		{"adds the type", "ThrottlingException", `{"message":"slow down"}`, `{"__type":"ThrottlingException","message":"slow down"}`},
		{"keeps the header's full form", "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/", ` {"message":"x"} `,
			`{"__type":"ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/","message":"x"}`},
		{"empty object", "InternalServerException", `{}`, `{"__type":"InternalServerException"}`},
		{"already typed", "ThrottlingException", `{"__type":"X","message":"m"}`, `{"__type":"X","message":"m"}`},
		{"not JSON", "ThrottlingException", `<html>`, `<html>`},
		{"no header", "", `{"message":"m"}`, `{"message":"m"}`},
		{"quote in header", `a"b`, `{"message":"m"}`, `{"message":"m"}`},
		{"too long", "ThrottlingException", big, big},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: 429, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(tc.body)), ContentLength: int64(len(tc.body))}
			if tc.header != "" {
				resp.Header.Set("X-Amzn-Errortype", tc.header)
			}
			typeErrorBody(resp)
			got, err := io.ReadAll(resp.Body)
			if err != nil || string(got) != tc.want {
				t.Errorf("body %.100s (%v), want %.100s", got, err, tc.want)
			}
			if resp.ContentLength >= 0 && resp.ContentLength != int64(len(got)) {
				t.Errorf("ContentLength %d for %d bytes", resp.ContentLength, len(got))
			}
			if err := resp.Body.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}
