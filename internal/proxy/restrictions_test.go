package proxy

import (
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/provider/openai"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/store"
)

// restrictedKey is one restricted key, declared in the file or stored
// (created through the admin API).
type restrictedKey struct {
	name, secret string
	models       []string
	endpoints    []string
	networks     []string
	tags         []string
	expires      *time.Time
}

func hashHex(key string) string { h := auth.HashKey(key); return hex.EncodeToString(h[:]) }

// restrictionsHandler serves the file's models with each key declared
// both ways: "cfg-"+secret in the file, "api-"+secret in the store.
// Model alpha routes keys tagged "premium" to the upstream model
// "a-premium". The upstream is upURL, or unreachable when empty.
func restrictionsHandler(t *testing.T, upURL string, keys []restrictedKey) http.Handler {
	t.Helper()
	if upURL == "" {
		upURL = "http://127.0.0.1:1/v1"
	}
	file := &config.File{
		Version:   1,
		Providers: []config.Provider{{Name: "up", Type: "openai", BaseURL: upURL, APIKey: providerKey}},
		Models: []config.Model{
			{Name: "alpha", Targets: []config.Target{{Provider: "up", Model: "a"}},
				Routes: []config.Route{{Name: "premium", Match: config.Match{KeyTags: []string{"premium"}},
					Targets: []config.Target{{Provider: "up", Model: "a-premium"}}}}},
			{Name: "beta", Targets: []config.Target{{Provider: "up", Model: "b"}}},
		},
		Access: config.Access{TrustedProxies: []string{"10.0.0.0/8"}},
	}
	var stored []store.KeyRecord
	for _, k := range keys {
		file.Keys = append(file.Keys, config.Key{Name: "cfg-" + k.name, Key: "cfg-" + k.secret, Models: k.models,
			Endpoints: k.endpoints, SourceNetworks: k.networks, ExpiresAt: k.expires, Tags: k.tags})
		stored = append(stored, store.KeyRecord{ID: "key_api_" + k.name, Name: "api-" + k.name, Hash: hashHex("api-" + k.secret),
			Models: k.models, Endpoints: k.endpoints, SourceCIDRs: k.networks, ExpiresAt: k.expires, Tags: k.tags, CreatedAt: time.Now()})
	}
	if err := file.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := provider.Registry{"openai": func(s provider.Spec) (provider.Adapter, error) {
		return openai.New(openai.Options{Name: s.Name, BaseURL: s.BaseURL, APIKey: s.APIKey}), nil
	}}
	snap, err := runtime.Compile(runtime.Inputs{File: file, Registry: reg, StoredKeys: stored, Provider: func(p config.Provider) provider.Spec {
		return provider.Spec{Name: p.Name, Type: p.Type, BaseURL: p.BaseURL, APIKey: p.APIKey}
	}})
	if err != nil {
		t.Fatal(err)
	}
	var holder runtime.Holder
	holder.Store(snap)
	mux := http.NewServeMux()
	New(Options{Snapshots: &holder, Ledger: &recorder{}, Codecs: dialectCodecs()}).Register(mux)
	return mux
}

// modelIngresses reach every ingress with model m and key k.
func modelIngresses(k, m string) []struct{ name, method, path, body string } {
	return []struct{ name, method, path, body string }{
		{"chat", "POST", "/v1/chat/completions", `{"model":"` + m + `","messages":[{"role":"user","content":"hi"}]}`},
		{"responses", "POST", "/v1/responses", `{"model":"` + m + `","input":"hi"}`},
		{"messages", "POST", "/v1/messages", `{"model":"` + m + `","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`},
		{"count_tokens", "POST", "/v1/messages/count_tokens", `{"model":"` + m + `","messages":[{"role":"user","content":"hi"}]}`},
		{"embeddings", "POST", "/v1/embeddings", `{"model":"` + m + `","input":"hi"}`},
		{"gemini generate", "POST", "/v1beta/models/" + m + ":generateContent", `{"contents":[{"parts":[{"text":"hi"}]}]}`},
		{"gemini stream", "POST", "/v1beta/models/" + m + ":streamGenerateContent?alt=sse", `{"contents":[{"parts":[{"text":"hi"}]}]}`},
		{"gemini count", "POST", "/v1beta/models/" + m + ":countTokens", `{"contents":[{"parts":[{"text":"hi"}]}]}`},
	}
}

func serveAs(h http.Handler, method, path, body, key, remote string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = remote
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("X-Api-Key", key)
	req.Header.Set("X-Goog-Api-Key", key)
	req.Header.Set("Anthropic-Version", "2023-06-01")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestKeyRestrictionsEveryIngress: a key's model allow-list, expiry,
// endpoints and source networks hold on every ingress, for keys from the
// file and keys created through the admin API alike.
func TestKeyRestrictionsEveryIngress(t *testing.T) {
	past, future := time.Now().Add(-time.Second), time.Now().Add(time.Hour)
	h := restrictionsHandler(t, "", []restrictedKey{
		{name: "alpha-only", secret: "alpha-only-secret-0001", models: []string{"alpha"}},
		{name: "expired", secret: "expired-key-secret-0001", expires: &past},
		{name: "valid", secret: "valid-key-secret-000001", expires: &future},
		{name: "chat-only", secret: "chat-only-secret-000001", endpoints: []string{"chat"}},
		{name: "office", secret: "office-net-secret-00001", networks: []string{"192.0.2.0/24"}},
	})
	for _, kind := range []string{"cfg-", "api-"} {
		for _, in := range modelIngresses("", "beta") {
			refused := func(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
				t.Helper()
				if w.Code != status || !strings.Contains(w.Body.String(), code) && !strings.Contains(w.Body.String(), codeText[code]) {
					t.Fatalf("status %d, want %d (%s): %s", w.Code, status, code, w.Body)
				}
			}
			passed := func(t *testing.T, w *httptest.ResponseRecorder) {
				t.Helper()
				if w.Code == 401 || w.Code == 403 {
					t.Fatalf("refused: %d %s", w.Code, w.Body)
				}
			}
			t.Run(kind+in.name, func(t *testing.T) {
				beta := in
				alpha := modelIngresses("", "alpha")
				var a struct{ name, method, path, body string }
				for _, x := range alpha {
					if x.name == in.name {
						a = x
					}
				}
				refused(t, serveAs(h, beta.method, beta.path, beta.body, kind+"alpha-only-secret-0001", "192.0.2.1:1", nil), 403, "model_not_allowed")
				passed(t, serveAs(h, a.method, a.path, a.body, kind+"alpha-only-secret-0001", "192.0.2.1:1", nil))
				refused(t, serveAs(h, a.method, a.path, a.body, kind+"expired-key-secret-0001", "192.0.2.1:1", nil), 401, "expired_api_key")
				passed(t, serveAs(h, a.method, a.path, a.body, kind+"valid-key-secret-000001", "192.0.2.1:1", nil))
				if in.name != "chat" {
					refused(t, serveAs(h, a.method, a.path, a.body, kind+"chat-only-secret-000001", "192.0.2.1:1", nil), 403, "endpoint_not_allowed")
				}
				passed(t, serveAs(h, a.method, a.path, a.body, kind+"office-net-secret-00001", "192.0.2.1:1", nil))
				refused(t, serveAs(h, a.method, a.path, a.body, kind+"office-net-secret-00001", "203.0.113.9:1", nil), 403, "source_not_allowed")
				// A forged X-Forwarded-For from an untrusted peer is ignored.
				refused(t, serveAs(h, a.method, a.path, a.body, kind+"office-net-secret-00001", "203.0.113.9:1",
					map[string]string{"X-Forwarded-For": "192.0.2.1"}), 403, "source_not_allowed")
				// From a trusted proxy it is believed.
				passed(t, serveAs(h, a.method, a.path, a.body, kind+"office-net-secret-00001", "10.1.2.3:1",
					map[string]string{"X-Forwarded-For": "192.0.2.1"}))
			})
		}
		t.Run(kind+"models listing", func(t *testing.T) {
			w := serveAs(h, "GET", "/v1/models", "", kind+"alpha-only-secret-0001", "192.0.2.1:1", nil)
			if w.Code != 200 || !strings.Contains(w.Body.String(), `"alpha"`) || strings.Contains(w.Body.String(), `"beta"`) {
				t.Fatalf("listing %d: %s", w.Code, w.Body)
			}
			if w := serveAs(h, "GET", "/v1/models", "", kind+"expired-key-secret-0001", "192.0.2.1:1", nil); w.Code != 401 {
				t.Fatalf("expired key listed models: %d", w.Code)
			}
		})
	}
}

// codeText are the messages of refusals whose dialect (Anthropic,
// Gemini) carries no error code.
var codeText = map[string]string{
	"model_not_allowed":    "is not allowed to use the model",
	"expired_api_key":      "This API key has expired.",
	"endpoint_not_allowed": "may not call this endpoint",
	"source_not_allowed":   "may not be used from this network",
}

// TestClientAddr: X-Forwarded-For is believed only from trusted proxies,
// and the rightmost untrusted hop is the client.
func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name, remote string
		xff          []string
		want         string // "" for no address
	}{
		{"untrusted peer, forged header ignored", "203.0.113.9:1", []string{"192.0.2.1"}, "203.0.113.9"},
		{"trusted peer, header used", "10.0.0.1:1", []string{"192.0.2.1"}, "192.0.2.1"},
		{"trusted peer, no header", "10.0.0.1:1", nil, "10.0.0.1"},
		{"chain: rightmost untrusted hop wins", "10.0.0.1:1", []string{"198.51.100.1, 192.0.2.1, 10.0.0.2"}, "192.0.2.1"},
		{"chain over several headers", "10.0.0.1:1", []string{"198.51.100.1", "192.0.2.1, 10.9.9.9"}, "192.0.2.1"},
		{"chain of trusted hops only", "10.0.0.1:1", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3"},
		{"IPv6 peer untrusted", "[2001:db8::1]:1", []string{"192.0.2.1"}, "2001:db8::1"},
		{"IPv6 trusted peer", "[fd00::1]:1", []string{"2001:db8::7"}, "2001:db8::7"},
		{"IPv4-mapped IPv6 peer is IPv4", "[::ffff:10.0.0.1]:1", []string{"::ffff:192.0.2.1"}, "192.0.2.1"},
		{"IPv4-mapped untrusted peer", "[::ffff:203.0.113.9]:1", []string{"192.0.2.1"}, "203.0.113.9"},
		{"malformed hop matches nothing", "10.0.0.1:1", []string{"192.0.2.1, not-an-ip"}, ""},
		{"port in hop is malformed", "10.0.0.1:1", []string{"192.0.2.1:80"}, ""},
		{"malformed peer", "garbage", []string{"192.0.2.1"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got := clientAddr(r, peerAddr(r), trusted)
			if tc.want == "" {
				if got.IsValid() {
					t.Fatalf("got %v, want no address", got)
				}
				return
			}
			if got != netip.MustParseAddr(tc.want) {
				t.Fatalf("got %v, want %s", got, tc.want)
			}
		})
	}
}

// TestKeyTagsRouteEveryIngress: a route that matches key tags serves
// tagged keys, and only them, on every ingress that reaches an upstream,
// for keys from the file and keys created through the admin API alike.
func TestKeyTagsRouteEveryIngress(t *testing.T) {
	up := &jsonUpstream{}
	upSrv := httptest.NewServer(up)
	t.Cleanup(upSrv.Close)
	h := restrictionsHandler(t, upSrv.URL, []restrictedKey{
		{name: "premium", secret: "premium-key-secret-00001", tags: []string{"premium"}},
		{name: "plain", secret: "plain-key-secret-0000001", tags: []string{"basic"}},
	})
	for _, kind := range []string{"cfg-", "api-"} {
		for _, in := range modelIngresses("", "alpha") {
			if in.name == "count_tokens" || in.name == "gemini count" {
				continue // counted offline: no upstream
			}
			for secret, want := range map[string]string{"premium-key-secret-00001": "a-premium", "plain-key-secret-0000001": "a"} {
				t.Run(kind+in.name+"/"+want, func(t *testing.T) {
					up.mu.Lock()
					before := len(up.seen)
					up.mu.Unlock()
					serveAs(h, in.method, in.path, in.body, kind+secret, "192.0.2.1:1", nil)
					up.mu.Lock()
					seen := up.seen[before:]
					up.mu.Unlock()
					if len(seen) != 1 || seen[0].Model != want {
						t.Fatalf("upstream saw %+v, want model %q", seen, want)
					}
				})
			}
		}
	}
}
