package meter

import "testing"

func TestCost(t *testing.T) {
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
		{"rounds half up", PriceFromDollars(0.15, 0, 0), Usage{InputTokens: 10}, 2},
		{"rounds down below half", PriceFromDollars(0.14, 0, 0), Usage{InputTokens: 10}, 1},
		{"negative counts are ignored", PriceFromDollars(1, 1, 1), Usage{InputTokens: -5, OutputTokens: -5, CachedTokens: -1}, 0},
		{"cached above input is capped", PriceFromDollars(1, 1, 0.5), Usage{InputTokens: 10, CachedTokens: 20}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.price.Cost(tc.u); got != tc.want {
				t.Fatalf("Cost = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestEstimates(t *testing.T) {
	if n := CountText("hello world"); n != 2 {
		t.Fatalf("CountText = %d, want 2", n)
	}
	body := []byte(`{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"hello world"},{"type":"image_url","image_url":{"url":"data:,"}}]}]}`)
	got := EstimateChatInput(body)
	// 3 priming + 2 messages x 3 + role words + "Be brief." + "hello world" + 85 image.
	if got < 95 || got > 110 {
		t.Fatalf("EstimateChatInput = %d, want about 100", got)
	}
	if n := EstimateEmbeddingInput([]byte(`{"input":["hello world","hello"]}`)); n != 3 {
		t.Fatalf("EstimateEmbeddingInput = %d, want 3", n)
	}
}
