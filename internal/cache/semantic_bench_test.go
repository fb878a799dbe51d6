package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkSemanticLookup is one lookup among 10,000 entries (the default
// bound) of one scope and model, 1,536-dimensional vectors (the size of
// common embedding models), every entry with the probe's signature so
// that each is compared. The embedding call itself is not included.
func BenchmarkSemanticLookup(b *testing.B) {
	const dim, n = 1536, 10000
	r := rand.New(rand.NewPCG(1, 2))
	vec := func() []float32 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	next := vec()
	c, err := NewSemantic(func(context.Context, string) ([]float32, error) { return next, nil }, SemanticConfig{})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		next = vec()
		p, _ := c.Probe(context.Background(), "org", "m", fmt.Sprint("question ", i%3))
		c.Put(p, []byte("answer"))
	}
	next = vec()
	p, _ := c.Probe(context.Background(), "org", "m", "question 1")
	b.ReportAllocs()
	for b.Loop() {
		c.Lookup(p)
	}
}
