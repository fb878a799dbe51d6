package cache

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
)

// blind lists the words the test embedder does not see: articles and
// fillers, and, to play the worst case of a real embedding model (which
// puts "turn the lights on" and "... off" above 0.95), negations, switch
// words and numbers. To this embedder every negation pair below is the
// same prompt, so only the signature keeps them apart.
var blind = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the of to for in at me my i do does please is it can
		not no never nt isnt cant dont doesnt on off with without enable disable open closed up down
		safe unsafe out five twelve`) {
		blind[w] = true
	}
}

// bagEmbed is a deterministic test embedder: a hashed bag of the words
// that are not blind, in 256 dimensions.
func bagEmbed(_ context.Context, text string) ([]float32, error) {
	v := make([]float32, 256)
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\''
	}) {
		w = strings.ReplaceAll(w, "'", "")
		if blind[w] || strings.IndexFunc(w, unicode.IsDigit) >= 0 {
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(w))
		v[h.Sum32()%256]++
	}
	v[0] += 0.01 // never the zero vector
	return v, nil
}

// oneHot embeds the prompt "n" as the n-th unit vector: no two prompts
// are alike.
func oneHot(_ context.Context, text string) ([]float32, error) {
	var n int
	if _, err := fmt.Sscan(text, &n); err != nil {
		return nil, err
	}
	v := make([]float32, 128)
	v[n%128] = 1
	return v, nil
}

func newSem(t *testing.T, cfg SemanticConfig) *Semantic {
	t.Helper()
	return newSemWith(t, bagEmbed, cfg)
}

func newSemWith(t *testing.T, e Embedder, cfg SemanticConfig) *Semantic {
	t.Helper()
	c, err := NewSemantic(e, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// hitAfter stores an answer for stored and reports whether asked finds it.
func hitAfter(t *testing.T, c *Semantic, stored, asked string) (bool, float64) {
	t.Helper()
	ctx := context.Background()
	p, err := c.Probe(ctx, "org-1", "gpt-4o-mini", stored)
	if err != nil {
		t.Fatal(err)
	}
	c.Put(p, []byte("answer to "+stored))
	q, err := c.Probe(ctx, "org-1", "gpt-4o-mini", asked)
	if err != nil {
		t.Fatal(err)
	}
	_, sim, ok := c.Lookup(q)
	return ok, sim
}

func TestSemanticNegationPairsNeverHit(t *testing.T) {
	pairs := [][2]string{
		{"turn the lights on", "turn the lights off"},
		{"Is ibuprofen safe during pregnancy?", "Is ibuprofen not safe during pregnancy?"},
		{"Is it safe to eat raw eggs?", "Is it unsafe to eat raw eggs?"},
		{"Should I take the medicine with food?", "Should I take the medicine without food?"},
		{"I can swim, which sport suits me?", "I can't swim, which sport suits me?"},
		{"I can swim, which sport suits me?", "I cannot swim, which sport suits me?"},
		{"Enable two-factor authentication on my account", "Disable two-factor authentication on my account"},
		{"Transfer 100 euros to savings", "Transfer 1000 euros to savings"},
		{"Set the thermostat to 21 degrees", "Set the thermostat to 12 degrees"},
		{"Set an alarm for 7:30", "Set an alarm for 7:45"},
		{"Is the museum open on Mondays?", "Is the museum closed on Mondays?"},
		{"Turn the volume up", "Turn the volume down"},
		{"Does this recipe contain nuts?", "Does this recipe contain no nuts?"},
		{"List the countries that use the euro", "List the countries that don't use the euro"},
		{"List the countries that use the euro", "List the countries that don’t use the euro"},
		{"How do I log in to the portal?", "How do I log out of the portal?"},
		{"Convert 5 miles to kilometres", "Convert 12 miles to kilometres"},
		{"Never share the password with the team", "Share the password with the team"},
	}
	for _, p := range pairs {
		for _, dir := range [][2]string{p, {p[1], p[0]}} {
			t.Run(dir[0]+" / "+dir[1], func(t *testing.T) {
				c := newSem(t, SemanticConfig{})
				if ok, sim := hitAfter(t, c, dir[0], dir[1]); ok {
					t.Errorf("hit (similarity %.3f) between opposite prompts", sim)
				}
			})
		}
	}
}

func TestSemanticParaphrasesHit(t *testing.T) {
	pairs := [][2]string{
		{"What is the capital of France?", "what is the capital of france"},
		{"How do I reverse a list in Python?", "In Python, how do I reverse a list?"},
		{"Give me a recipe for banana bread", "Please give me a banana bread recipe"},
		{"Isn't it raining in London today?", "Is it not raining in London today?"},
		{"Convert 5 miles to kilometres", "Convert five miles to kilometres"},
		{"Turn the lights on in the kitchen", "In the kitchen, turn the lights on"},
		{"Transfer 1,000 euros to savings", "transfer 1000 euros to savings."},
	}
	for _, p := range pairs {
		t.Run(p[0]+" / "+p[1], func(t *testing.T) {
			c := newSem(t, SemanticConfig{})
			if ok, sim := hitAfter(t, c, p[0], p[1]); !ok {
				t.Errorf("miss (similarity %.3f) between paraphrases", sim)
			}
		})
	}
}

func TestSemanticThreshold(t *testing.T) {
	// Five content words against six: cosine 5/sqrt(30) = 0.913.
	a, b := "reverse list python quickly today", "reverse list python quickly today efficiently"
	for _, tc := range []struct {
		threshold float64
		hit       bool
	}{{0, false}, {0.95, false}, {0.92, false}, {0.91, true}, {0.5, true}} {
		c := newSem(t, SemanticConfig{Threshold: tc.threshold})
		if ok, sim := hitAfter(t, c, a, b); ok != tc.hit {
			t.Errorf("threshold %v: hit %v (similarity %.3f), want %v", tc.threshold, ok, sim, tc.hit)
		}
	}
}

func TestSemanticScopeAndModel(t *testing.T) {
	ctx := context.Background()
	c := newSem(t, SemanticConfig{})
	const prompt = "What is the capital of France?"
	p, _ := c.Probe(ctx, "org-1", "gpt-4o-mini", prompt)
	c.Put(p, []byte("Paris"))
	for _, tc := range []struct {
		scope, model string
		hit          bool
	}{
		{"org-1", "gpt-4o-mini", true},
		{"org-2", "gpt-4o-mini", false},
		{"org-1", "gpt-4o", false},
		{"", "gpt-4o-mini", false},
		{"org-1gpt-4o-mini", "", false},
	} {
		q, err := c.Probe(ctx, tc.scope, tc.model, prompt)
		if err != nil {
			t.Fatal(err)
		}
		ans, _, ok := c.Lookup(q)
		if ok != tc.hit || (ok && string(ans) != "Paris") {
			t.Errorf("scope %q model %q: hit %v %q, want %v", tc.scope, tc.model, ok, ans, tc.hit)
		}
	}
	// The answer handed out is a copy.
	q, _ := c.Probe(ctx, "org-1", "gpt-4o-mini", prompt)
	ans, _, _ := c.Lookup(q)
	ans[0] = 'X'
	if again, _, _ := c.Lookup(q); string(again) != "Paris" {
		t.Errorf("stored answer changed to %q", again)
	}
}

func TestSemanticBounds(t *testing.T) {
	ctx := context.Background()
	probe := func(c *Semantic, i int) *Probe {
		p, err := c.Probe(ctx, "org", "m", fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("entries, least recently used first", func(t *testing.T) {
		c := newSemWith(t, oneHot, SemanticConfig{MaxEntries: 3})
		for i := range 3 {
			c.Put(probe(c, i), []byte("a"))
		}
		if _, _, ok := c.Lookup(probe(c, 0)); !ok { // 0 is now the most recent
			t.Fatal("entry 0 missing")
		}
		c.Put(probe(c, 3), []byte("a"))
		if c.Len() != 3 {
			t.Errorf("Len %d, want 3", c.Len())
		}
		for i, want := range []bool{true, false, true, true} {
			if _, _, ok := c.Lookup(probe(c, i)); ok != want {
				t.Errorf("entry %d: hit %v, want %v", i, ok, want)
			}
		}
	})
	t.Run("bytes", func(t *testing.T) {
		c := newSemWith(t, oneHot, SemanticConfig{MaxBytes: 8 << 10})
		for i := range 20 {
			c.Put(probe(c, i), make([]byte, 1000))
		}
		if c.bytes > 8<<10 || c.Len() > 7 || c.Len() == 0 {
			t.Errorf("%d entries, %d bytes, bound 8 KiB", c.Len(), c.bytes)
		}
		c.Put(probe(c, 99), make([]byte, 9<<10))
		if _, _, ok := c.Lookup(probe(c, 99)); ok {
			t.Error("an answer over the byte bound was stored")
		}
	})
	t.Run("prompt size", func(t *testing.T) {
		calls := 0
		c, _ := NewSemantic(func(ctx context.Context, s string) ([]float32, error) {
			calls++
			return oneHot(ctx, s)
		}, SemanticConfig{MaxPromptBytes: 100})
		if _, err := c.Probe(ctx, "org", "m", strings.Repeat("x", 101)); !errors.Is(err, ErrPromptTooLong) || calls != 0 {
			t.Errorf("err %v after %d embedding calls, want ErrPromptTooLong and none", err, calls)
		}
	})
	t.Run("ttl", func(t *testing.T) {
		now := time.Unix(1000, 0)
		c := newSemWith(t, oneHot, SemanticConfig{TTL: time.Minute, Now: func() time.Time { return now }})
		c.Put(probe(c, 1), []byte("a"))
		now = now.Add(59 * time.Second)
		if _, _, ok := c.Lookup(probe(c, 1)); !ok {
			t.Error("miss before the TTL")
		}
		now = now.Add(time.Second)
		if _, _, ok := c.Lookup(probe(c, 1)); ok || c.Len() != 0 {
			t.Errorf("hit %v, %d entries after the TTL", ok, c.Len())
		}
	})
}

func TestSemanticConfigAndEmbedderErrors(t *testing.T) {
	for _, cfg := range []SemanticConfig{{Threshold: -0.1}, {Threshold: 1.01}, {Threshold: math.NaN()}, {MaxEntries: -1}, {TTL: -time.Second}} {
		if _, err := NewSemantic(bagEmbed, cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	if _, err := NewSemantic(nil, SemanticConfig{}); err == nil {
		t.Error("nil embedder accepted")
	}
	boom := errors.New("boom")
	for name, e := range map[string]Embedder{
		"error": func(context.Context, string) ([]float32, error) { return nil, boom },
		"zero":  func(context.Context, string) ([]float32, error) { return make([]float32, 8), nil },
		"empty": func(context.Context, string) ([]float32, error) { return nil, nil },
		"nan":   func(context.Context, string) ([]float32, error) { return []float32{float32(math.NaN()), 1}, nil },
		"inf":   func(context.Context, string) ([]float32, error) { return []float32{float32(math.Inf(1)), 1}, nil },
	} {
		c, _ := NewSemantic(e, SemanticConfig{})
		if _, err := c.Probe(context.Background(), "org", "m", "hi"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// Vectors of another length (another embedding model) never match.
	dim := 4
	c, _ := NewSemantic(func(context.Context, string) ([]float32, error) { return make([]float32, dim), nil }, SemanticConfig{})
	c.embed = func(context.Context, string) ([]float32, error) {
		v := make([]float32, dim)
		v[0] = 1
		return v, nil
	}
	p, _ := c.Probe(context.Background(), "org", "m", "hi")
	c.Put(p, []byte("a"))
	dim = 5
	q, _ := c.Probe(context.Background(), "org", "m", "hi")
	if _, _, ok := c.Lookup(q); ok {
		t.Error("hit across vector lengths")
	}
}

func TestSemanticConcurrent(t *testing.T) {
	c := newSem(t, SemanticConfig{MaxEntries: 50})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				p, err := c.Probe(context.Background(), fmt.Sprint("org", g%2), "m", fmt.Sprintf("topic%d question", i%70))
				if err != nil {
					t.Error(err)
					return
				}
				if _, _, ok := c.Lookup(p); !ok {
					c.Put(p, []byte("a"))
				}
			}
		}()
	}
	wg.Wait()
	if c.Len() > 50 {
		t.Errorf("Len %d over the bound", c.Len())
	}
}

func TestSignature(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Turn the lights ON", "on|"},
		{"I don't and can’t, never", "not not not|"},
		{"Transfer 1,000.50 EUR on 2024-01-05 and five more", "more on|1000.50 2024 01 05 5"},
		{"no numbers here", "not|"},
		{"Version 1.2.3.", "|1.2.3"},
	} {
		if got := signature(tc.in); got != tc.want {
			t.Errorf("signature(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDot(t *testing.T) {
	for n := range 10 {
		a, b := make([]float32, n), make([]float32, n)
		want := 0.0
		for i := range n {
			a[i], b[i] = float32(i+1), float32(2*i-3)
			want += float64(i+1) * float64(2*i-3)
		}
		if got := dot(a, b); got != want {
			t.Errorf("length %d: dot %v, want %v", n, got, want)
		}
	}
}
