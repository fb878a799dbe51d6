// Package meter turns token counts into money and estimates token counts
// offline when an upstream does not report them.
package meter

import (
	"math"
	"sync"

	"github.com/tidwall/gjson"
	"github.com/tiktoken-go/tokenizer"
)

// Usage is a normalised token count. InputTokens includes CachedTokens and
// CacheWriteTokens (the OpenAI convention); OutputTokens includes
// ReasoningTokens.
type Usage struct {
	InputTokens      int64
	OutputTokens     int64
	CachedTokens     int64
	CacheWriteTokens int64
	ReasoningTokens  int64
	// Estimated is true when the figures were counted by Sluice rather than
	// reported by the upstream.
	Estimated bool
}

// Price is a model's pricing in micro-dollars per million tokens, so that
// cost arithmetic is exact integer arithmetic.
type Price struct {
	Input       int64
	Output      int64
	CachedInput int64
}

// PriceFromDollars converts dollars per million tokens. A zero cached price
// means cached tokens cost the same as other input tokens.
func PriceFromDollars(input, output, cachedInput float64) Price {
	p := Price{Input: toMicros(input), Output: toMicros(output), CachedInput: toMicros(cachedInput)}
	if cachedInput == 0 {
		p.CachedInput = p.Input
	}
	return p
}

func toMicros(d float64) int64 { return int64(math.Round(d * 1e6)) }

// Cost returns the cost of u in micro-dollars, rounded to the nearest one.
func (p Price) Cost(u Usage) int64 {
	cached := min(max(u.CachedTokens, 0), max(u.InputTokens, 0))
	uncached := max(u.InputTokens, 0) - cached
	picos := uncached*p.Input + cached*p.CachedInput + max(u.OutputTokens, 0)*p.Output
	// picos is in micro-dollars per million tokens x tokens: divide by 1e6, rounding half up.
	return (picos + 500_000) / 1_000_000
}

var codec = sync.OnceValue(func() tokenizer.Codec {
	c, err := tokenizer.Get(tokenizer.O200kBase)
	if err != nil {
		panic("meter: o200k_base tokenizer missing: " + err.Error())
	}
	return c
})

// Warm builds the tokenizer's tables ahead of the first request that needs
// them (it takes about 150 ms).
func Warm() { codec() }

// exactLimit is the most text CountText tokenizes; the tokenizer costs
// about 0.2 µs a byte, so longer texts are sampled and extrapolated.
const exactLimit = 32 << 10

// CountText counts the tokens of s with the o200k_base encoding. For models
// of other families, and for texts longer than 32 KiB (counted from a
// sample), the figure is an estimate.
func CountText(s string) int64 {
	if s == "" {
		return 0
	}
	sample := s
	if len(s) > exactLimit {
		sample = s[:exactLimit]
	}
	n, err := codec().Count(sample)
	if err != nil {
		return int64(len(s)+3) / 4
	}
	if len(sample) < len(s) {
		return int64(float64(n) * float64(len(s)) / float64(len(sample)))
	}
	return int64(n)
}

// EstimateChatInput estimates the prompt tokens of an OpenAI chat request
// body with OpenAI's published accounting: 3 tokens per message, the text of
// every string field in it, and 3 tokens priming the reply. Images count a
// flat 85 tokens (low detail).
func EstimateChatInput(body []byte) int64 {
	var n int64 = 3
	gjson.GetBytes(body, "messages").ForEach(func(_, msg gjson.Result) bool {
		n += 3
		msg.ForEach(func(k, v gjson.Result) bool {
			switch {
			case k.Str == "content" && v.IsArray():
				v.ForEach(func(_, part gjson.Result) bool {
					if t := part.Get("text"); t.Exists() {
						n += CountText(t.Str)
					} else if part.Get("image_url").Exists() {
						n += 85
					}
					return true
				})
			case v.Type == gjson.String:
				n += CountText(v.Str)
			case v.IsArray() || v.IsObject():
				n += CountText(v.Raw)
			}
			return true
		})
		return true
	})
	if t := gjson.GetBytes(body, "tools"); t.Exists() {
		n += CountText(t.Raw)
	}
	return n
}

// EstimateEmbeddingInput estimates the tokens of an embeddings request's input.
func EstimateEmbeddingInput(body []byte) int64 {
	in := gjson.GetBytes(body, "input")
	if in.Type == gjson.String {
		return CountText(in.Str)
	}
	var n int64
	in.ForEach(func(_, v gjson.Result) bool {
		if v.Type == gjson.String {
			n += CountText(v.Str)
		} else if v.IsArray() {
			n += int64(len(v.Array())) // already token ids
		} else {
			n++
		}
		return true
	})
	return n
}
