package anthropic

import (
	"errors"
	"testing"

	"github.com/sluicehq/sluice/internal/llm"
)

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

// TestDecodeRequestNamesFirstExtraField: with several extra fields in an
// object, the first in sorted order is named, whatever order the body has
// them in.
func TestDecodeRequestNamesFirstExtraField(t *testing.T) {
	for _, tc := range []struct{ body, param string }{
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x","zz":1,"bb":2}]}`, "messages.0.bb"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"x","zz":1,"aa":2}]}]}`, "messages.0.content.0.aa"},
		{`{"zz":1,"model":"m","max_tokens":5,"messages":[],"bb":2}`, "bb"},
	} {
		_, err := Client.DecodeRequest([]byte(tc.body), "")
		var e *llm.Error
		if !errors.As(err, &e) || e.Param != tc.param {
			t.Errorf("%s: %v, want param %q", tc.body, err, tc.param)
		}
	}
}
