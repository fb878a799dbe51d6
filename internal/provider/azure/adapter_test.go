package azure

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/provider"
)

// seen is what the test server received.
type seen struct {
	method, uri string
	header      http.Header
	body        string
}

func server(t *testing.T) (string, <-chan seen) {
	t.Helper()
	got := make(chan seen, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.RequestURI, r.Header.Clone(), string(b)}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(ts.Close)
	return ts.URL, got
}

func TestDo(t *testing.T) {
	tests := []struct {
		name       string
		base       string // appended to the server URL
		version    string
		key        string
		headers    map[string]string
		req        provider.Request
		wantURI    string
		wantHeader map[string]string // "" means absent
	}{
		{
			name: "chat", key: "azkey",
			req:     provider.Request{Op: provider.OpChat, Model: "gpt-4o-prod", Body: []byte(`{"messages":[]}`)},
			wantURI: "/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21",
			wantHeader: map[string]string{"Api-Key": "azkey", "Authorization": "", "Content-Type": "application/json",
				"Accept": "application/json"},
		},
		{
			name: "chat stream with a version", key: "azkey", version: "2025-04-01-preview",
			req:        provider.Request{Op: provider.OpChat, Model: "o3", Stream: true, Body: []byte(`{"stream":true}`)},
			wantURI:    "/openai/deployments/o3/chat/completions?api-version=2025-04-01-preview",
			wantHeader: map[string]string{"Api-Key": "azkey", "Accept": "text/event-stream"},
		},
		{
			name: "embeddings, base with a trailing /openai/", base: "/openai/", key: "k",
			req:     provider.Request{Op: provider.OpEmbeddings, Model: "embed-3-small", Body: []byte(`{"input":"x"}`)},
			wantURI: "/openai/deployments/embed-3-small/embeddings?api-version=2024-10-21",
		},
		{
			name: "responses use the v1 API", key: "k", version: "2024-10-21",
			req:     provider.Request{Op: provider.OpResponses, Model: "gpt-4.1", Body: []byte(`{"model":"gpt-4.1","input":"hi"}`)},
			wantURI: "/openai/v1/responses",
		},
		{
			name: "api_version v1", key: "k", version: "v1",
			req:     provider.Request{Op: provider.OpChat, Model: "gpt-4o", Body: []byte(`{"model":"gpt-4o"}`)},
			wantURI: "/openai/v1/chat/completions",
		},
		{
			name: "a deployment name is path-escaped", key: "k",
			req:     provider.Request{Op: provider.OpChat, Model: "my deploy/1", Body: []byte(`{}`)},
			wantURI: "/openai/deployments/my%20deploy%2F1/chat/completions?api-version=2024-10-21",
		},
		{
			name:    "no key: an Entra token in headers; client headers forwarded",
			headers: map[string]string{"Authorization": "Bearer entra-token"},
			req: provider.Request{Op: provider.OpChat, Model: "d", Body: []byte(`{}`),
				Header: http.Header{"X-Request-Id": {"abc"}, "Accept": {"application/json; q=1"}}},
			wantURI: "/openai/deployments/d/chat/completions?api-version=2024-10-21",
			wantHeader: map[string]string{"Api-Key": "", "Authorization": "Bearer entra-token", "X-Request-Id": "abc",
				"Accept": "application/json; q=1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url, got := server(t)
			a, err := New(provider.Spec{Name: "az", Type: "azure-openai", BaseURL: url + tc.base, APIKey: tc.key,
				APIVersion: tc.version, Headers: tc.headers})
			if err != nil {
				t.Fatal(err)
			}
			if a.Protocol() != provider.ProtocolOpenAI || a.Name() != "az" || a.Timeout() != DefaultTimeout {
				t.Errorf("protocol %q name %q timeout %v", a.Protocol(), a.Name(), a.Timeout())
			}
			resp, err := a.Do(context.Background(), &tc.req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			s := <-got
			if s.method != http.MethodPost || s.uri != tc.wantURI {
				t.Errorf("%s %s, want POST %s", s.method, s.uri, tc.wantURI)
			}
			if s.body != string(tc.req.Body) {
				t.Errorf("body %q, want %q", s.body, tc.req.Body)
			}
			for k, want := range tc.wantHeader {
				if got := s.header.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	if _, err := New(provider.Spec{Name: "az", BaseURL: "my-resource.openai.azure.com"}); err == nil {
		t.Error("New accepted a base_url without a scheme")
	}
	a, err := New(provider.Spec{Name: "az", BaseURL: "http://127.0.0.1:1", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if a.Timeout() != time.Second {
		t.Errorf("timeout %v", a.Timeout())
	}
	if _, err := a.Do(context.Background(), &provider.Request{Op: provider.OpCountTokens, Model: "d"}); !errors.Is(err, provider.ErrUnsupported) {
		t.Errorf("count_tokens: %v, want ErrUnsupported", err)
	}
	if _, err := a.Do(context.Background(), &provider.Request{Op: provider.OpChat}); err == nil {
		t.Error("chat without a deployment: no error")
	}
}

// TestCancel checks that cancelling the context aborts a request in flight.
func TestCancel(t *testing.T) {
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer ts.Close()
	defer close(release)
	a, err := New(provider.Spec{Name: "az", BaseURL: ts.URL, APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err = a.Do(ctx, &provider.Request{Op: provider.OpChat, Model: "d", Body: []byte(`{}`)})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Error("cancel took too long")
	}
}
