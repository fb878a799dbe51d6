package gemini

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	geminifake "github.com/sluicehq/sluice/internal/fakeprovider/gemini"
	"github.com/sluicehq/sluice/internal/llm"
	protocol "github.com/sluicehq/sluice/internal/protocol/gemini"
	"github.com/sluicehq/sluice/internal/provider"
)

const testKey = "AIza-adapter-test"

func newAdapter(t *testing.T, spec provider.Spec) *Adapter {
	t.Helper()
	a, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	return a.(*Adapter)
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name, base, version, wantBase string
		wantErr                       bool
	}{
		{"default", "", "", "https://generativelanguage.googleapis.com/v1beta", false},
		{"root", "https://generativelanguage.googleapis.com/", "", "https://generativelanguage.googleapis.com/v1beta", false},
		{"root with api_version", "https://generativelanguage.googleapis.com", "v1", "https://generativelanguage.googleapis.com/v1", false},
		{"versioned root", "https://proxy.example.com/gemini/v1beta/", "v1", "https://proxy.example.com/gemini/v1beta", false},
		{"v1alpha", "http://127.0.0.1:8080/v1alpha", "", "http://127.0.0.1:8080/v1alpha", false},
		{"not a version", "https://example.com/v1x", "", "https://example.com/v1x/v1beta", false},
		{"no scheme", "generativelanguage.googleapis.com", "", "", true},
		{"query", "https://example.com/?key=abc", "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(provider.Spec{Name: "g", Type: "gemini", BaseURL: tc.base, APIVersion: tc.version})
			if tc.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				if strings.Contains(err.Error(), "abc") {
					t.Errorf("error %q repeats the URL's query", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := a.(*Adapter).base; got != tc.wantBase {
				t.Errorf("base %q, want %q", got, tc.wantBase)
			}
			if a.Protocol() != provider.ProtocolGemini || a.Name() != "g" || a.Timeout() != DefaultTimeout {
				t.Errorf("protocol %q name %q timeout %v", a.Protocol(), a.Name(), a.Timeout())
			}
		})
	}
}

func TestURL(t *testing.T) {
	a := newAdapter(t, provider.Spec{})
	const root = "https://generativelanguage.googleapis.com/v1beta/"
	for _, tc := range []struct {
		op     provider.Operation
		model  string
		stream bool
		want   string
	}{
		{provider.OpChat, "gemini-2.5-flash", false, root + "models/gemini-2.5-flash:generateContent"},
		{provider.OpChat, "gemini-2.5-flash", true, root + "models/gemini-2.5-flash:streamGenerateContent?alt=sse"},
		{provider.OpCountTokens, "gemini-2.5-flash", false, root + "models/gemini-2.5-flash:countTokens"},
		{provider.OpCountTokens, "gemini-2.5-flash", true, root + "models/gemini-2.5-flash:countTokens"},
		{provider.OpChat, "models/gemini-2.5-pro", false, root + "models/gemini-2.5-pro:generateContent"},
		{provider.OpChat, "tunedModels/my-model-123", false, root + "tunedModels/my-model-123:generateContent"},
		{provider.OpChat, "evil:streamGenerateContent?x=/../../", false, root + "models/evil%3AstreamGenerateContent%3Fx=%2F..%2F..%2F:generateContent"},
	} {
		got, ok := a.URL(tc.op, tc.model, tc.stream)
		if !ok || got != tc.want {
			t.Errorf("URL(%s, %q, %v) = %q, %v; want %q", tc.op, tc.model, tc.stream, got, ok, tc.want)
		}
	}
	for _, op := range []provider.Operation{provider.OpEmbeddings, provider.OpResponses} {
		if _, ok := a.URL(op, "m", false); ok {
			t.Errorf("URL(%s) is served", op)
		}
	}
}

func TestDo(t *testing.T) {
	srv, base := geminifake.Start(t, geminifake.Options{APIKey: testKey})
	a := newAdapter(t, provider.Spec{Name: "gemini", BaseURL: base, APIKey: testKey, Headers: map[string]string{"X-Team": "ml"}})
	req := &llm.Request{Model: "gemini-2.5-flash", Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: "hello world"}}}}}
	body, err := protocol.Upstream.EncodeRequest(req, "gemini-2.5-flash")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("generateContent", func(t *testing.T) {
		resp, err := a.Do(ctx, &provider.Request{Op: provider.OpChat, Model: "gemini-2.5-flash", Body: body,
			Header: http.Header{"X-Fake-Prompt-Tokens": {"12"}}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, raw)
		}
		out, err := protocol.Upstream.DecodeResponse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if out.Content[0].Text != "Echo: hello world" || out.Usage.InputTokens != 12 || out.StopReason != llm.StopEndTurn {
			t.Errorf("answer %+v", out)
		}
		rec, _ := srv.Last()
		if rec.Header.Get("X-Goog-Api-Key") != testKey || rec.Header.Get("X-Team") != "ml" || rec.Header.Get("Content-Type") != "application/json" {
			t.Errorf("headers %v", rec.Header)
		}
		if strings.Contains(rec.RawQuery, testKey) || strings.Contains(rec.Path, testKey) {
			t.Errorf("the key is in the URL: %s?%s", rec.Path, rec.RawQuery)
		}
	})

	t.Run("stream", func(t *testing.T) {
		resp, err := a.Do(ctx, &provider.Request{Op: provider.OpChat, Model: "gemini-2.5-flash", Body: body, Stream: true})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		r := protocol.Upstream.NewStreamReader()
		var text string
		buf := make([]byte, 7)
		for {
			n, err := resp.Body.Read(buf)
			if ferr := r.Feed(buf[:n], func(e llm.Event) { text += e.Text }); ferr != nil {
				t.Fatal(ferr)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !r.Done() || text != "Echo: hello world" {
			t.Errorf("done=%v text=%q", r.Done(), text)
		}
		rec, _ := srv.Last()
		if rec.RawQuery != "alt=sse" || rec.Header.Get("Accept") != "text/event-stream" {
			t.Errorf("query %q accept %q", rec.RawQuery, rec.Header.Get("Accept"))
		}
	})

	t.Run("countTokens", func(t *testing.T) {
		cbody, err := protocol.EncodeCountTokensRequest(req, "gemini-2.5-flash")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := a.Do(ctx, &provider.Request{Op: provider.OpCountTokens, Model: "gemini-2.5-flash", Body: cbody})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		n, err := protocol.DecodeCountTokensResponse(raw)
		if err != nil || n != 2 {
			t.Errorf("totalTokens %d, %v: %s", n, err, raw)
		}
	})

	t.Run("upstream error", func(t *testing.T) {
		bad := newAdapter(t, provider.Spec{BaseURL: base, APIKey: "AIza-wrong"})
		resp, err := bad.Do(ctx, &provider.Request{Op: provider.OpChat, Model: "gemini-2.5-flash", Body: body})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		e := protocol.Upstream.DecodeError(resp.StatusCode, raw)
		if e.Status != 400 || e.Type != "authentication" {
			t.Errorf("error %+v", e)
		}
	})

	t.Run("unsupported", func(t *testing.T) {
		for _, op := range []provider.Operation{provider.OpEmbeddings, provider.OpResponses} {
			if _, err := a.Do(ctx, &provider.Request{Op: op, Model: "m", Body: body}); !errors.Is(err, provider.ErrUnsupported) {
				t.Errorf("%s: %v, want ErrUnsupported", op, err)
			}
		}
		if _, err := a.Do(ctx, &provider.Request{Op: provider.OpChat, Body: body}); err == nil {
			t.Error("a request without a model was sent")
		}
	})

	t.Run("cancel", func(t *testing.T) {
		srv.Reset()
		ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		resp, err := a.Do(ctx, &provider.Request{Op: provider.OpChat, Model: "gemini-2.5-flash", Body: body, Stream: true,
			Header: http.Header{geminifake.HeaderHang: {"before-headers"}}})
		if err == nil {
			resp.Body.Close()
			t.Fatal("a hanging request returned")
		}
		if _, ok := srv.WaitCancelled(5 * time.Second); !ok {
			t.Error("the upstream request was not cancelled")
		}
	})
}

// TestEscapedModelReachesFake: a model name with reserved characters is
// sent escaped and arrives whole.
func TestEscapedModelReachesFake(t *testing.T) {
	srv, base := geminifake.Start(t, geminifake.Options{})
	a := newAdapter(t, provider.Spec{BaseURL: base})
	resp, err := a.Do(context.Background(), &provider.Request{Op: provider.OpChat, Model: "my model:v2", Body: []byte(`{"contents":[{"parts":[{"text":"x"}]}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"modelVersion": "my model:v2"`) {
		t.Errorf("status %d: %s", resp.StatusCode, raw)
	}
	if rec, _ := srv.Last(); rec.Path != "/v1beta/models/my model:v2:generateContent" {
		t.Errorf("path %q", rec.Path)
	}
}
