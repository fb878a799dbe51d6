package proxy

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
)

// lifecycleEnv: chat-small deprecated (sunset in the future, successor
// other); "old" past its sunset, refused, successor chat-small; "moved"
// past its sunset, redirected to other; "other" not retiring.
func lifecycleEnv(t *testing.T) *env {
	dep := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	future, past := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), time.Now().Add(-time.Hour).Truncate(time.Second)
	retired := func(name string, on string, succ string) config.Model {
		return config.Model{Name: name, Targets: []config.Target{{Provider: "up", Model: "fake-model-1"}},
			ModelLifecycle: config.ModelLifecycle{DeprecatedAt: &dep, SunsetAt: &past, Successor: succ, OnSunset: on}}
	}
	return newEnvWith(t, func(o *Options) { o.Codecs = dialectCodecs() }, func(f *config.File) {
		f.Models[0].ModelLifecycle = config.ModelLifecycle{DeprecatedAt: &dep, SunsetAt: &future, Successor: "other",
			DeprecationLink: "https://example.com/retire"}
		f.Models = append(f.Models, retired("old", "", "chat-small"), retired("moved", "redirect", "other"))
	})
}

func TestModelLifecycle(t *testing.T) {
	e := lifecycleEnv(t)
	openai := func(model string) (string, string, map[string]string) {
		return "/v1/chat/completions", strings.Replace(chatBody, "chat-small", model, 1), map[string]string{"Authorization": "Bearer " + clientKey}
	}
	anthropic := func(model string) (string, string, map[string]string) {
		return "/v1/messages", `{"model":"` + model + `","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"x-api-key": clientKey, "anthropic-version": "2023-06-01"}
	}
	for _, tc := range []struct {
		name       string
		req        func(string) (string, string, map[string]string)
		model      string
		status     int
		want       []string // in the body
		deprecated bool
		redirect   string // x-sluice-model-redirect
		served     string // x-sluice-model
	}{
		{"openai, deprecated model", openai, "chat-small", 200, []string{`"choices"`}, true, "", "fake-model-1"},
		{"anthropic, deprecated model", anthropic, "chat-small", 200, []string{`"content"`}, true, "", "fake-model-1"},
		{"openai, plain model", openai, "other", 200, []string{`"choices"`}, false, "", "fake-model-2"},
		{"anthropic, plain model", anthropic, "other", 200, []string{`"content"`}, false, "", "fake-model-2"},
		{"openai, after the sunset", openai, "old", 410, []string{`"code":"model_sunset"`, "successor, chat-small", `"param":"model"`}, true, "", ""},
		{"anthropic, after the sunset", anthropic, "old", 410, []string{`"type":"error"`, "invalid_request_error", "successor, chat-small"}, true, "", ""},
		{"openai, redirected after the sunset", openai, "moved", 200, []string{`"choices"`}, true, "moved -> other", "fake-model-2"},
		{"anthropic, redirected after the sunset", anthropic, "moved", 200, []string{`"content"`}, true, "moved -> other", "fake-model-2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, body, hdr := tc.req(tc.model)
			resp := e.post(t, path, body, hdr)
			got := readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s; want %d", resp.StatusCode, got, tc.status)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Fatalf("body %s lacks %q", got, w)
				}
			}
			dep := resp.Header.Get("Deprecation")
			if tc.deprecated != (dep == "@1796083200") {
				t.Fatalf("Deprecation %q", dep)
			}
			if r := resp.Header.Get("X-Sluice-Model-Redirect"); r != tc.redirect {
				t.Fatalf("X-Sluice-Model-Redirect %q, want %q", r, tc.redirect)
			}
			if s := resp.Header.Get("X-Sluice-Model"); s != tc.served {
				t.Fatalf("X-Sluice-Model %q, want %q", s, tc.served)
			}
			if tc.model == "chat-small" {
				links := strings.Join(resp.Header.Values("Link"), ", ")
				if resp.Header.Get("Sunset") != "Tue, 01 Jan 2030 00:00:00 GMT" ||
					!strings.Contains(links, `<https://example.com/retire>; rel="deprecation"`) ||
					!strings.Contains(links, `<https://example.com/retire>; rel="sunset"`) ||
					!strings.Contains(links, `/v1/models/other>; rel="successor-version"`) {
					t.Fatalf("headers %v", resp.Header)
				}
			}
		})
	}
}

// The ledger names the model the client asked for; the model that served
// is the successor's.
func TestModelRedirectLedger(t *testing.T) {
	e := lifecycleEnv(t)
	resp := e.post(t, "/v1/chat/completions", strings.Replace(chatBody, "chat-small", "moved", 1), map[string]string{"Authorization": "Bearer " + clientKey})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, readAll(t, resp))
	}
	readAll(t, resp)
	en := e.waitEntries(t, 1)[0]
	if en.Model != "moved" || en.ServedModel != "fake-model-2" {
		t.Fatalf("ledger Model %q ServedModel %q", en.Model, en.ServedModel)
	}
}
