package proxy

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/sluicehq/sluice/internal/cache"
	"github.com/sluicehq/sluice/internal/config"
)

// semUpstream answers chat like textUpstream and embeddings with a bag of
// words: word order, case and punctuation do not move the vector, and,
// like real embedding models, it barely sees polarity words (it drops
// them), so "turn the lights on" and "... off" embed alike.
type semUpstream struct {
	chat   *textUpstream
	fail   atomic.Bool
	embeds atomic.Int32
}

func (u *semUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/embeddings") {
		u.chat.ServeHTTP(w, r)
		return
	}
	u.embeds.Add(1)
	if u.fail.Load() {
		http.Error(w, `{"error":{"message":"embedding model down"}}`, http.StatusInternalServerError)
		return
	}
	body, _ := io.ReadAll(r.Body)
	vec := make([]float32, 64)
	for _, w := range strings.FieldsFunc(strings.ToLower(gjson.GetBytes(body, "input").Str), func(r rune) bool { return r < 'a' || r > 'z' }) {
		if w == "on" || w == "off" || w == "not" {
			continue
		}
		h := fnv.New32a()
		_, _ = h.Write([]byte(w))
		vec[h.Sum32()%64]++
	}
	out, _ := json.Marshal(map[string]any{"object": "list", "model": gjson.GetBytes(body, "model").Str,
		"data": []any{map[string]any{"object": "embedding", "index": 0, "embedding": vec}}})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// semEnv serves model "sm" (semantic cache, embeddings by model "emb")
// and the organisation keys of guardEnv, in front of up.
func semEnv(t *testing.T, up *semUpstream, global bool) *env {
	t.Helper()
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	sem, err := cache.NewSemantic(Embed, cache.SemanticConfig{Threshold: 1e-9, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	threshold := 0.95
	return newEnvWith(t, func(o *Options) {
		o.Codecs = dialectCodecs()
		o.Semantic = sem
	}, func(f *config.File) {
		f.Providers[0].BaseURL = srv.URL + "/v1"
		if global {
			f.Cache.Scope = config.CacheScopeGlobal
		}
		f.Models = append(f.Models,
			config.Model{Name: "sm", Targets: []config.Target{{Provider: "up", Model: "gpt-4o-mini"}},
				Cache:   &config.ModelCache{Mode: "semantic", Threshold: &threshold, EmbeddingModel: "emb", TTL: config.Duration(60e9)},
				Pricing: config.Pricing{InputPerMTok: 1, OutputPerMTok: 2}},
			config.Model{Name: "emb", Targets: []config.Target{{Provider: "up", Model: "text-embedding-3-small"}}},
		)
		f.Orgs = []config.Org{
			{Name: "a", Teams: []config.Team{{Name: "ta", Applications: []config.App{{Name: "aa"}}}}},
			{Name: "b", Teams: []config.Team{{Name: "tb", Applications: []config.App{{Name: "ab"}}}}},
		}
		f.Keys = append(f.Keys, config.Key{Name: "in-a", Key: orgAKey, Application: "a/ta/aa"}, config.Key{Name: "in-b", Key: orgBKey, Application: "b/tb/ab"})
	})
}

// A paraphrase of an answered prompt is a hit, answered as an exact hit
// is (header, ledger, saved cost, the client's dialect, streamed or not);
// the opposite request, another organisation and a failing embedding model
// are misses that reach the upstream and succeed.
func TestSemanticCache(t *testing.T) {
	const (
		first      = "Tell me the capital of France, please."
		paraphrase = "please tell me the capital of france"
		lightsOn   = "Turn the lights on."
		lightsOff  = "turn the lights off"
	)
	tests := []struct {
		name          string
		first, second string
		secondKey     string
		failEmbedding bool // the embedding model fails for the second request
		global        bool // cache.scope: global (the exact cache's sharing)
		want          string
	}{
		{"paraphrase hits", first, paraphrase, orgAKey, false, false, "hit"},
		{"negation misses", lightsOn, lightsOff, orgAKey, false, false, "miss"},
		{"below the threshold misses", first, first + " Now.", orgAKey, false, false, "miss"}, // cosine 0.935
		{"other organisation misses", first, paraphrase, orgBKey, false, false, "miss"},
		{"other organisation misses under global scope", first, paraphrase, orgBKey, false, true, "miss"},
		{"embedding failure bypasses", first, paraphrase, orgAKey, true, false, "miss"},
	}
	for _, in := range guardIngresses() {
		for _, stream := range []bool{false, true} {
			for _, tc := range tests {
				t.Run(fmt.Sprintf("%s/stream=%v/%s", in.name, stream, tc.name), func(t *testing.T) {
					up := &semUpstream{chat: &textUpstream{reply: "Paris, of course."}}
					e := semEnv(t, up, tc.global)
					a := in.ask(t, e, orgAKey, "sm", tc.first, stream, nil)
					if a.status != 200 || a.header.Get("X-Sluice-Cache") != "miss" || a.text != "Paris, of course." {
						t.Fatalf("first: %d %q %q: %s", a.status, a.header.Get("X-Sluice-Cache"), a.text, a.body)
					}
					e.waitEntries(t, 1)
					up.fail.Store(tc.failEmbedding)
					calls := up.chat.count()
					b := in.ask(t, e, tc.secondKey, "sm", tc.second, stream, nil)
					if b.status != 200 || b.text != "Paris, of course." || b.header.Get("X-Sluice-Cache") != tc.want {
						t.Fatalf("second: %d %q (want %s) %q: %s", b.status, b.header.Get("X-Sluice-Cache"), tc.want, b.text, b.body)
					}
					if stream && !strings.Contains(b.body, in.end) {
						t.Fatalf("the stream has no %s: %s", in.end, b.body)
					}
					wantCalls := calls + 1
					if tc.want == "hit" {
						wantCalls = calls
					}
					if got := up.chat.count(); got != wantCalls {
						t.Fatalf("upstream chat calls %d, want %d", got, wantCalls)
					}
					if up.embeds.Load() != 2 {
						t.Fatalf("%d embedding calls, want 2", up.embeds.Load())
					}
					entries := e.waitEntries(t, 2)
					le := entries[len(entries)-1]
					if le.Cache != tc.want || (tc.want == "hit") != (le.Provider == "cache" && le.SavedCostMicros > 0) {
						t.Fatalf("ledger: cache %q provider %q saved %d", le.Cache, le.Provider, le.SavedCostMicros)
					}
				})
			}
		}
	}
}

// A request with tools is never embedded nor answered by the semantic
// cache (the exact cache still applies).
func TestSemanticCacheSkipsTools(t *testing.T) {
	up := &semUpstream{chat: &textUpstream{reply: "Paris, of course."}}
	e := semEnv(t, up, false)
	hdr := map[string]string{"Authorization": "Bearer " + orgAKey}
	for i, text := range []string{"Tell me the capital of France, please.", "please tell me the capital of france"} {
		body := fmt.Sprintf(`{"model":"sm","messages":[{"role":"user","content":%q}],"tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object"}}}]}`, text)
		resp := e.post(t, "/v1/chat/completions", body, hdr)
		raw := readAll(t, resp)
		if resp.StatusCode != 200 || resp.Header.Get("X-Sluice-Cache") != "miss" {
			t.Fatalf("request %d: %d %q: %s", i, resp.StatusCode, resp.Header.Get("X-Sluice-Cache"), raw)
		}
	}
	if up.embeds.Load() != 0 || up.chat.count() != 2 {
		t.Fatalf("%d embedding calls, %d chat calls; want 0 and 2", up.embeds.Load(), up.chat.count())
	}
}
