package openai

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/provider"
)

// captureTransport records the request and answers 200 without a network.
type captureTransport struct{ req *http.Request }

func (c *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.req = r
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("{}")), Header: http.Header{}, Request: r}, nil
}

func send(t *testing.T, a *Adapter, ct *captureTransport, req *provider.Request) *http.Request {
	t.Helper()
	resp, err := a.Do(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return ct.req
}

// TestBaseURLJoining: the operation's path is appended to the base URL as
// configured, whatever trailing slashes it has, keeping its own path
// (OpenAI-compatible servers mount the API at /v1, /openai/v1, /api/v1...).
func TestBaseURLJoining(t *testing.T) {
	cases := []struct {
		base string
		op   provider.Operation
		want string
	}{
		{"https://api.openai.com/v1", provider.OpChat, "https://api.openai.com/v1/chat/completions"},
		{"https://api.openai.com/v1/", provider.OpChat, "https://api.openai.com/v1/chat/completions"},
		{"https://api.openai.com/v1//", provider.OpEmbeddings, "https://api.openai.com/v1/embeddings"},
		{"http://localhost:11434/v1", provider.OpResponses, "http://localhost:11434/v1/responses"},
		{"https://api.groq.com/openai/v1", provider.OpChat, "https://api.groq.com/openai/v1/chat/completions"},
		{"http://vllm:8000", provider.OpChat, "http://vllm:8000/chat/completions"},
		{"http://vllm:8000/", provider.OpChat, "http://vllm:8000/chat/completions"},
	}
	for _, tc := range cases {
		t.Run(tc.base+" "+string(tc.op), func(t *testing.T) {
			ct := &captureTransport{}
			a := New(Options{Name: "up", BaseURL: tc.base, Client: &http.Client{Transport: ct}})
			r := send(t, a, ct, &provider.Request{Op: tc.op, Body: []byte(`{}`)})
			if got := r.URL.String(); got != tc.want {
				t.Errorf("URL %s, want %s", got, tc.want)
			}
			if r.Method != http.MethodPost {
				t.Errorf("method %s", r.Method)
			}
		})
	}
}

// TestHeaders: the Accept header follows the stream flag; configured
// headers (an organization and project among them) override the caller's;
// the caller's headers are not modified.
func TestHeaders(t *testing.T) {
	cases := []struct {
		name       string
		stream     bool
		in         http.Header
		configured map[string]string
		want       map[string]string
	}{
		{"not streamed", false, nil, nil,
			map[string]string{"Accept": "application/json", "Content-Type": "application/json"}},
		{"streamed", true, http.Header{"Accept": {"application/json"}}, nil,
			map[string]string{"Accept": "text/event-stream"}},
		{"client accept kept when not streamed", false, http.Header{"Accept": {"application/x-ndjson"}}, nil,
			map[string]string{"Accept": "application/x-ndjson"}},
		{"client content type replaced", false, http.Header{"Content-Type": {"text/plain"}}, nil,
			map[string]string{"Content-Type": "application/json"}},
		{"organization and project", false,
			http.Header{"Openai-Organization": {"org-client"}, "X-Stainless-Lang": {"python"}},
			map[string]string{"OpenAI-Organization": "org-configured", "OpenAI-Project": "proj-configured"},
			map[string]string{"Openai-Organization": "org-configured", "Openai-Project": "proj-configured", "X-Stainless-Lang": "python"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ct := &captureTransport{}
			a := New(Options{BaseURL: "https://api.openai.com/v1", APIKey: "sk-up", Headers: tc.configured, Client: &http.Client{Transport: ct}})
			before := tc.in.Clone()
			r := send(t, a, ct, &provider.Request{Op: provider.OpChat, Stream: tc.stream, Header: tc.in, Body: []byte(`{}`)})
			for k, want := range tc.want {
				if got := r.Header.Values(k); len(got) != 1 || got[0] != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			for k, vs := range before {
				if got := tc.in[k]; len(got) != len(vs) || got[0] != vs[0] {
					t.Errorf("the caller's header %s changed to %q", k, got)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	a := New(Options{Name: "up", BaseURL: "http://x/v1"})
	if a.Name() != "up" || a.Protocol() != provider.ProtocolOpenAI || a.Timeout() != DefaultTimeout || a.client != http.DefaultClient {
		t.Errorf("adapter %+v", a)
	}
	if b := New(Options{BaseURL: "http://x/v1", Timeout: time.Second}); b.Timeout() != time.Second {
		t.Errorf("timeout %s", b.Timeout())
	}
}
