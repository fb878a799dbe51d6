package meter

import (
	"strings"
	"testing"
)

func TestCost(t *testing.T) {
	// $3 input, $15 output, $0.30 cached input per million tokens: one token
	// of each class is 3, 15 and 0.3 micro-dollars.
	sonnet := PriceFromDollars(3, 15, 0.30)
	tests := []struct {
		name  string
		price Price
		u     Usage
		want  int64
	}{
		{"zero", PriceFromDollars(0.15, 0.60, 0.075), Usage{}, 0},
		{"input and output", PriceFromDollars(0.15, 0.60, 0.075), Usage{InputTokens: 1_000_000, OutputTokens: 1_000_000}, 750_000},
		{"cached tokens at cached price", PriceFromDollars(1, 2, 0.5), Usage{InputTokens: 1000, CachedTokens: 400, OutputTokens: 10}, 600 + 200 + 20},
		{"no cached price means input price", PriceFromDollars(1, 2, 0), Usage{InputTokens: 1000, CachedTokens: 400}, 1000},
		{"one input token", sonnet, Usage{InputTokens: 1}, 3},
		{"one output token", sonnet, Usage{OutputTokens: 1}, 15},
		{"one cached token rounds to zero", sonnet, Usage{InputTokens: 1, CachedTokens: 1}, 0},
		{"ten cached tokens", sonnet, Usage{InputTokens: 10, CachedTokens: 10}, 3},
		{"no cached tokens: all input at input price", sonnet, Usage{InputTokens: 1000}, 3000},
		// Cache-write tokens are part of InputTokens and cost the input price.
		{"cache-write tokens at input price", sonnet, Usage{InputTokens: 1000, CacheWriteTokens: 1000}, 3000},
		{"cached and cache-write tokens", sonnet, Usage{InputTokens: 1000, CachedTokens: 500, CacheWriteTokens: 300, OutputTokens: 100}, 500*3 + 150 + 100*15},
		// Reasoning tokens are part of OutputTokens and are not charged twice.
		{"reasoning tokens inside output", sonnet, Usage{InputTokens: 10, OutputTokens: 100, ReasoningTokens: 60}, 30 + 1500},
		{"rounds half up", PriceFromDollars(0.15, 0, 0), Usage{InputTokens: 10}, 2},
		{"rounds down below half", PriceFromDollars(0.14, 0, 0), Usage{InputTokens: 10}, 1},
		{"exactly half a micro-dollar rounds up", Price{Input: 500_000}, Usage{InputTokens: 1}, 1},
		{"just under half a micro-dollar rounds down", Price{Input: 499_999}, Usage{InputTokens: 1}, 0},
		{"just under one and a half rounds down", Price{Output: 1_499_999}, Usage{OutputTokens: 1}, 1},
		{"estimated usage costs the same", sonnet, Usage{InputTokens: 1000, OutputTokens: 100, Estimated: true}, 3000 + 1500},
		{"negative counts are ignored", PriceFromDollars(1, 1, 1), Usage{InputTokens: -5, OutputTokens: -5, CachedTokens: -1}, 0},
		{"cached above input is capped", PriceFromDollars(1, 1, 0.5), Usage{InputTokens: 10, CachedTokens: 20}, 5},
		{"cached without input costs nothing", sonnet, Usage{CachedTokens: 5}, 0},
		{"cached with negative input costs nothing", sonnet, Usage{InputTokens: -3, CachedTokens: 5, OutputTokens: 1}, 15},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.price.Cost(tc.u); got != tc.want {
				t.Fatalf("Cost = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestPriceFromDollars(t *testing.T) {
	tests := []struct {
		name                  string
		input, output, cached float64
		want                  Price
	}{
		{"all three", 3, 15, 0.30, Price{Input: 3_000_000, Output: 15_000_000, CachedInput: 300_000}},
		{"no cached price", 2.5, 10, 0, Price{Input: 2_500_000, Output: 10_000_000, CachedInput: 2_500_000}},
		{"fractions of a micro-dollar round", 0.0000004, 0.0000006, 0.0000015, Price{Input: 0, Output: 1, CachedInput: 2}},
		{"inexact binary fractions round to the intended figure", 0.29, 0.07, 0.035, Price{Input: 290_000, Output: 70_000, CachedInput: 35_000}},
		{"free model", 0, 0, 0, Price{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := PriceFromDollars(tc.input, tc.output, tc.cached); got != tc.want {
				t.Fatalf("PriceFromDollars = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// The figures below are o200k_base token counts: " cat" and "hello" are one
// token, " 7" is two.
func TestCountText(t *testing.T) {
	cats := strings.Repeat(" cat", exactLimit/4) // exactly 32 KiB, 8192 tokens
	sevens := strings.Repeat(" 7", 512)          // 1 KiB, 1024 tokens
	tests := []struct {
		name string
		s    string
		want int64
	}{
		{"empty", "", 0},
		{"one word", "hello", 1},
		{"two words", "hello world", 2},
		{"punctuation", "Be brief.", 3},
		{"digits in groups of three", "1234567890", 4},
		{"invalid UTF-8 is still counted", "\xff\xfe", 1},
		{"exactly 32 KiB is counted exactly", cats, 8192},
		// Past 32 KiB only the first 32 KiB are counted and the figure is
		// scaled by length: 8192 x 33/32, not the exact 8192 + 1024.
		{"33 KiB is extrapolated from the first 32", cats + sevens, 8448},
		{"64 KiB of the same text", cats + cats, 16384},
		{"64 KiB, dense half last", cats + strings.Repeat(sevens, 32), 16384},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CountText(tc.s); got != tc.want {
				t.Fatalf("CountText = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestEstimateChatInput(t *testing.T) {
	// Token counts of the texts used below (o200k_base): "system", "user",
	// "assistant", "tool", "Hi", "hello", "f" 1 each; "hello world" 2;
	// "Be brief." 3; "What is in this picture?" 6.
	const (
		toolCalls = `[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]` // 22 tokens
		fnCall    = `{"name":"f","arguments":"{}"}`                                            // 9 tokens
		tools     = `[{"type":"function","function":{"name":"get_weather"}}]`                  // 14 tokens
	)
	tests := []struct {
		name string
		body string
		want int64
	}{
		{"no messages: the reply priming only", `{"model":"m"}`, 3},
		{"empty messages", `{"messages":[]}`, 3},
		{"empty message", `{"messages":[{}]}`, 3 + 3},
		{"one user message", `{"messages":[{"role":"user","content":"hello world"}]}`, 3 + 3 + 1 + 2},
		{"two messages", `{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]}`, 3 + 2*3 + 1 + 3 + 1 + 1},
		{"every string field counts", `{"messages":[{"role":"user","name":"f","content":"Hi"}]}`, 3 + 3 + 1 + 1 + 1},
		{"text parts", `{"messages":[{"role":"user","content":[{"type":"text","text":"hello world"},{"type":"text","text":"Hi"}]}]}`, 3 + 3 + 1 + 2 + 1},
		{"an image is 85 tokens", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:,"}}]}]}`, 3 + 3 + 1 + 85},
		{"text and two images", `{"messages":[{"role":"user","content":[{"type":"text","text":"What is in this picture?"},{"type":"image_url","image_url":{"url":"a"}},{"type":"image_url","image_url":{"url":"b"}}]}]}`, 3 + 3 + 1 + 6 + 2*85},
		{"an unknown part counts nothing", `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA"}}]}]}`, 3 + 3 + 1},
		{"tool calls count as their JSON", `{"messages":[{"role":"assistant","content":null,"tool_calls":` + toolCalls + `}]}`, 3 + 3 + 1 + 22},
		{"a function call object counts as its JSON", `{"messages":[{"role":"assistant","function_call":` + fnCall + `}]}`, 3 + 3 + 1 + 9},
		{"numbers and booleans count nothing", `{"messages":[{"role":"tool","content":"Hi","weight":7,"cached":true}]}`, 3 + 3 + 1 + 1},
		{"tools count as their JSON", `{"messages":[{"role":"user","content":"Hi"}],"tools":` + tools + `}`, 3 + 3 + 1 + 1 + 14},
		{"not JSON", `hello`, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := EstimateChatInput([]byte(tc.body)); got != tc.want {
				t.Fatalf("EstimateChatInput = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestEstimateEmbeddingInput(t *testing.T) {
	tests := []struct {
		name string
		body string
		want int64
	}{
		{"one string", `{"input":"hello world"}`, 2},
		{"empty string", `{"input":""}`, 0},
		{"strings", `{"input":["hello world","hello"]}`, 3},
		{"one list of token ids", `{"input":[101,2023,102]}`, 3},
		{"lists of token ids", `{"input":[[101,2023,102],[7,8]]}`, 5},
		{"strings and token ids mixed", `{"input":["hello",[1,2]]}`, 3},
		{"no input", `{"model":"m"}`, 0},
		{"not JSON", `hello`, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := EstimateEmbeddingInput([]byte(tc.body)); got != tc.want {
				t.Fatalf("EstimateEmbeddingInput = %d, want %d", got, tc.want)
			}
		})
	}
}
