package runtime

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
)

// A semantic model is cached exactly too (looked up first), with its own
// threshold or 0.95, and its embedding model.
func TestSemanticCacheSettings(t *testing.T) {
	strict := 0.99
	f := &config.File{Models: []config.Model{
		{Name: "sem", Cache: &config.ModelCache{Mode: "semantic", TTL: config.Duration(time.Minute), EmbeddingModel: "emb"}},
		{Name: "strict", Cache: &config.ModelCache{Mode: "semantic", Threshold: &strict, EmbeddingModel: "emb"}},
		{Name: "exact", Cache: &config.ModelCache{Mode: "exact"}},
		{Name: "emb"},
	}}
	c := compileCache(f)
	tests := []struct {
		model    string
		ttl      time.Duration
		semantic bool
		want     SemanticCache
	}{
		{"sem", time.Minute, true, SemanticCache{Threshold: 0.95, Embedding: "emb"}},
		{"strict", DefaultCacheTTL, true, SemanticCache{Threshold: 0.99, Embedding: "emb"}},
		{"exact", DefaultCacheTTL, false, SemanticCache{}},
	}
	for _, tc := range tests {
		if ttl, ok := c.For(tc.model); !ok || ttl != tc.ttl {
			t.Errorf("%s: exact cache %v %v, want %v", tc.model, ttl, ok, tc.ttl)
		}
		if got, ok := c.Semantic[tc.model]; ok != tc.semantic || got != tc.want {
			t.Errorf("%s: semantic %+v %v, want %+v %v", tc.model, got, ok, tc.want, tc.semantic)
		}
	}
	if _, ok := c.Semantic["emb"]; ok {
		t.Error("a model without cache has semantic settings")
	}
}
