package proxy

import (
	"testing"

	"github.com/sluicehq/sluice/internal/config"
)

// TestCanaryIsSticky: a canary route keeps each key (or end user) on one
// target, request after request; a route of another policy does not read
// the sticky value at all.
func TestCanaryIsSticky(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sticky string
		// each client is a key and a user field ("" : none)
		clients [][2]string
	}{
		{"by key", "key", [][2]string{{clientKey, ""}, {limitedKey, ""}}},
		{"by user", "user", [][2]string{{clientKey, "alice"}, {clientKey, "bob"}, {clientKey, "carol"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(f *config.File) {
				f.Models[0].Targets = []config.Target{{Provider: "up", Model: "fake-model-1", Weight: 50},
					{Provider: "up", Model: "fake-model-2", Weight: 50}}
				f.Models[0].Routing = config.Routing{Policy: "canary", Sticky: tc.sticky}
			})
			for _, cl := range tc.clients {
				body := `{"model":"chat-small","messages":[{"role":"user","content":"hi"}]}`
				if cl[1] != "" {
					body = `{"model":"chat-small","user":"` + cl[1] + `","messages":[{"role":"user","content":"hi"}]}`
				}
				first := ""
				for i := range 10 {
					resp := e.post(t, "/v1/chat/completions", body, map[string]string{"Authorization": "Bearer " + cl[0]})
					if b := readAll(t, resp); resp.StatusCode != 200 {
						t.Fatalf("%d %s", resp.StatusCode, b)
					}
					got := resp.Header.Get("X-Sluice-Model")
					if i == 0 {
						first = got
					} else if got != first {
						t.Fatalf("client %q: request %d went to %q, the first to %q", cl, i, got, first)
					}
				}
			}
		})
	}
}
