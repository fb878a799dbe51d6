package openai

import "testing"

// TestDecodeRequestAllocations: the raw fields of a typical request are
// split from the checked body once; decoding them again with encoding/json
// at every level (the body was scanned four times) cost 371 allocations.
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
