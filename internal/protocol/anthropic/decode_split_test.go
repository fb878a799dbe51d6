package anthropic

import "testing"

// TestDecodeRequestAllocations: a typical request is decoded in one pass
// over the body; rescanning each nested value (once per level, as
// encoding/json into maps of raw values did) cost 463 allocations.
func TestDecodeRequestAllocations(t *testing.T) {
	body := typicalRequest()
	n := testing.AllocsPerRun(20, func() {
		if _, err := Client.DecodeRequest(body, ""); err != nil {
			t.Fatal(err)
		}
	})
	if n > 250 {
		t.Fatalf("DecodeRequest of a typical request: %v allocations, want at most 250", n)
	}
}
