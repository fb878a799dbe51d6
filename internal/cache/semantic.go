package cache

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Embedder turns a prompt into a vector. The data plane supplies one that
// calls the model configured for embeddings; the cache never calls a
// network itself. It must be safe for concurrent use.
type Embedder func(ctx context.Context, text string) ([]float32, error)

// DefaultThreshold is the cosine similarity a semantic hit needs when the
// configuration names none. Real embedding models put many paraphrases
// above 0.95, but negation pairs too ("turn the lights on" / "turn the
// lights off"), which is why a hit also needs the same polarity words and
// numbers (see signature).
const DefaultThreshold = 0.95

// SemanticConfig bounds a semantic cache.
type SemanticConfig struct {
	// Threshold is the least cosine similarity of a hit, in (0, 1];
	// 0 means DefaultThreshold.
	Threshold float64
	// MaxEntries bounds the entries of all scopes together (least
	// recently used dropped first); 0 means 10,000.
	MaxEntries int
	// MaxBytes bounds the stored answers and vectors together; 0 means
	// 64 MiB.
	MaxBytes int64
	// MaxPromptBytes: a longer prompt is neither looked up nor stored
	// (it is not embedded); 0 means 32 KiB.
	MaxPromptBytes int
	// TTL is how long an entry lives; 0 means one hour.
	TTL time.Duration
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Semantic is a cache of answers looked up by the similarity of prompts:
// an answer stored for a prompt is returned for another prompt of the
// same scope (organisation) and model whose embedding has a cosine
// similarity of at least the threshold with it, and which has the same
// negation and polarity words and the same numbers. It is safe for
// concurrent use; it holds everything in memory, bounded by entries and
// bytes, and scans one scope and model's entries per lookup.
type Semantic struct {
	embed Embedder
	cfg   SemanticConfig

	mu      sync.Mutex
	lru     *list.List // of *semEntry, most recent first
	buckets map[semBucket][]*semEntry
	bytes   int64
}

type semBucket struct{ scope, model string }

type semEntry struct {
	bucket  semBucket
	vec     []float32 // unit length
	sig     string
	answer  []byte
	expires time.Time
	size    int64
	// el is the entry's place in the LRU list, nil once removed (guarded
	// by mu; every other field is fixed once stored).
	el *list.Element
}

// NewSemantic returns an empty semantic cache that embeds prompts with
// embed.
func NewSemantic(embed Embedder, cfg SemanticConfig) (*Semantic, error) {
	if embed == nil {
		return nil, errors.New("semantic cache: no embedder")
	}
	if cfg.Threshold == 0 {
		cfg.Threshold = DefaultThreshold
	}
	if math.IsNaN(cfg.Threshold) || cfg.Threshold <= 0 || cfg.Threshold > 1 {
		return nil, fmt.Errorf("semantic cache: threshold %v is not in (0, 1]", cfg.Threshold)
	}
	if cfg.MaxEntries < 0 || cfg.MaxBytes < 0 || cfg.MaxPromptBytes < 0 || cfg.TTL < 0 {
		return nil, errors.New("semantic cache: negative bound")
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = 10000
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 64 << 20
	}
	if cfg.MaxPromptBytes == 0 {
		cfg.MaxPromptBytes = 32 << 10
	}
	if cfg.TTL == 0 {
		cfg.TTL = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Semantic{embed: embed, cfg: cfg, lru: list.New(), buckets: map[semBucket][]*semEntry{}}, nil
}

// ErrPromptTooLong is returned by Probe for a prompt over MaxPromptBytes:
// the request bypasses the semantic cache.
var ErrPromptTooLong = errors.New("semantic cache: prompt too long")

// A Probe is one prompt, embedded once: Lookup uses it, and Put stores the
// answer under it on a miss.
type Probe struct {
	bucket semBucket
	vec    []float32
	sig    string
}

// Probe embeds prompt for scope (the organisation, or a wider name when
// sharing is configured) and model (the model the client named). The
// prompt is everything the answer depends on, as text: the system prompt
// and every message, not the last user message alone.
func (c *Semantic) Probe(ctx context.Context, scope, model, prompt string) (*Probe, error) {
	if len(prompt) > c.cfg.MaxPromptBytes {
		return nil, ErrPromptTooLong
	}
	v, err := c.embed(ctx, prompt)
	if err != nil {
		return nil, fmt.Errorf("semantic cache: embedding: %w", err)
	}
	u, ok := unit(v)
	if !ok {
		return nil, errors.New("semantic cache: embedding is empty, zero or not finite")
	}
	return &Probe{bucket: semBucket{scope, model}, vec: u, sig: signature(prompt)}, nil
}

// Lookup returns the stored answer most similar to p, if its similarity is
// at least the threshold and its prompt had the same signature. The
// comparison runs outside the lock (entries do not change once stored), so
// lookups of other scopes and models are not held up by a long scan.
func (c *Semantic) Lookup(p *Probe) (answer []byte, similarity float64, ok bool) {
	now := c.cfg.Now()
	c.mu.Lock()
	cands := slices.Clone(c.buckets[p.bucket])
	c.mu.Unlock()
	var best *semEntry
	bestSim := -2.0
	var expired []*semEntry
	for _, e := range cands {
		if !now.Before(e.expires) {
			expired = append(expired, e)
			continue
		}
		if e.sig != p.sig || len(e.vec) != len(p.vec) {
			continue
		}
		if s := dot(e.vec, p.vec); s > bestSim {
			best, bestSim = e, s
		}
	}
	hit := best != nil && bestSim >= c.cfg.Threshold
	if len(expired) > 0 || hit {
		c.mu.Lock()
		for _, e := range expired {
			if e.el != nil {
				c.remove(e.el)
			}
		}
		if hit && best.el != nil {
			c.lru.MoveToFront(best.el)
		}
		c.mu.Unlock()
	}
	if !hit {
		return nil, max(bestSim, 0), false
	}
	return slices.Clone(best.answer), bestSim, true
}

// Put stores answer under p. Only complete, successful answers belong here,
// as in the exact cache. An answer larger than the byte bound is not
// stored.
func (c *Semantic) Put(p *Probe, answer []byte) {
	e := &semEntry{
		bucket:  p.bucket,
		vec:     p.vec,
		sig:     p.sig,
		answer:  slices.Clone(answer),
		expires: c.cfg.Now().Add(c.cfg.TTL),
	}
	e.size = int64(len(e.answer)+4*len(e.vec)+len(e.sig)+len(p.bucket.scope)+len(p.bucket.model)) + 128
	if e.size > c.cfg.MaxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e.el = c.lru.PushFront(e)
	c.buckets[e.bucket] = append(c.buckets[e.bucket], e)
	c.bytes += e.size
	for c.lru.Len() > c.cfg.MaxEntries || c.bytes > c.cfg.MaxBytes {
		c.remove(c.lru.Back())
	}
}

// Len is the number of entries held (expired ones included until a
// lookup of their scope and model drops them).
func (c *Semantic) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// remove drops an entry; the caller holds mu.
func (c *Semantic) remove(el *list.Element) {
	e := el.Value.(*semEntry)
	c.lru.Remove(el)
	e.el = nil
	c.bytes -= e.size
	b := c.buckets[e.bucket]
	if i := slices.Index(b, e); i >= 0 {
		b[i] = b[len(b)-1]
		b[len(b)-1] = nil
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		delete(c.buckets, e.bucket)
	} else {
		c.buckets[e.bucket] = b
	}
}

// unit returns v scaled to length 1 (as float64 sums, then float32).
func unit(v []float32) ([]float32, bool) {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if len(v) == 0 || n == 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return nil, false
	}
	n = math.Sqrt(n)
	u := make([]float32, len(v))
	for i, x := range v {
		u[i] = float32(float64(x) / n)
	}
	return u, true
}

// dot is the dot product of two vectors of the same length, in four
// float32 lanes (the vectors are unit length, so float32 sums are exact
// enough for a threshold in the second decimal).
func dot(a, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return float64(s0 + s1 + s2 + s3)
}

// polarity holds the words that flip or switch a prompt's meaning while
// barely moving its embedding: negations, and the members of common
// opposite pairs (on/off, enable/disable, open/close, ...; for pairs whose
// other member is a common word, only the rarer one: out for log in/out,
// under for over/under, against for for/against). Embedding
// models put "turn the lights on" and "turn the lights off", or "is X
// safe" and "is X not safe", above 0.95 cosine, because the sentences share
// every other word and their topic; the answers are opposite. A hit
// therefore also needs the same polarity words (as a multiset) and the
// same numbers (in order), which costs some hits between true paraphrases
// ("is it not raining" / "is it dry") and never returns an answer to the
// opposite question.
var polarity = func() map[string]string {
	m := map[string]string{}
	for _, w := range strings.Fields(`not no nor never none nothing nobody nowhere neither without
		cannot cant dont doesnt didnt isnt arent wasnt werent wont wouldnt shouldnt couldnt mustnt
		havent hasnt hadnt neednt aint non`) {
		m[w] = "not"
	}
	for _, w := range strings.Fields(`on off enable enabled disable disabled open opened close closed
		start stop started stopped up down increase decrease raise lower allow deny allowed denied
		lock unlock locked unlocked true false yes include exclude add remove buy sell before after
		above below more less most least maximum minimum max min higher lower safe unsafe legal illegal
		always first last hot cold out accept reject win lose pass fail positive negative plus minus
		under against`) {
		m[w] = w
	}
	return m
}()

var numberWords = map[string]string{
	"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
	"seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
	"twenty": "20", "hundred": "100", "thousand": "1000", "million": "1e6", "billion": "1e9",
	"half": "0.5", "double": "x2", "twice": "x2", "triple": "x3",
}

// signature is the sorted polarity words and the numbers, in order, of a
// prompt: two prompts may share an answer only when their signatures are
// equal.
func signature(prompt string) string {
	var pol, nums []string
	for _, w := range words(prompt) {
		if isNumberToken(w) {
			nums = append(nums, strings.TrimRight(strings.ReplaceAll(w, ",", ""), "."))
			continue
		}
		if n, ok := numberWords[w]; ok {
			nums = append(nums, n)
			continue
		}
		if p, ok := polarity[w]; ok {
			pol = append(pol, p)
			continue
		}
		if contraction(w) {
			pol = append(pol, "not")
		}
	}
	slices.Sort(pol)
	return strings.Join(pol, " ") + "|" + strings.Join(nums, " ")
}

// contraction reports whether w (apostrophe removed) is a verb with n't
// not in the list: mightnt, oughtnt, shant.
func contraction(w string) bool {
	switch w {
	case "mightnt", "oughtnt", "shant", "darent", "maynt":
		return true
	}
	return false
}

func isNumberToken(w string) bool {
	has := false
	for _, r := range w {
		switch {
		case '0' <= r && r <= '9':
			has = true
		case r == '.' || r == ',':
		default:
			return false
		}
	}
	return has
}

// words lowers prompt and splits it into words of letters and digits;
// apostrophes inside a word are dropped (don't -> dont), and dots and
// commas stay inside numbers (1,000.5).
func words(prompt string) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			out = append(out, b.String())
			b.Reset()
		}
	}
	rs := []rune(prompt)
	for i, r := range rs {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		case (r == '\'' || r == '’') && b.Len() > 0 && i+1 < len(rs) && unicode.IsLetter(rs[i+1]):
			// inside a word: don't, isn’t
		case (r == '.' || r == ',') && b.Len() > 0 && i+1 < len(rs) && unicode.IsDigit(rs[i+1]) && isNumberToken(b.String()):
			b.WriteRune(r)
		default:
			flush()
		}
	}
	flush()
	return out
}
