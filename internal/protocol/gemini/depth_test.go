package gemini

import (
	"strings"
	"testing"
)

// TestDecodeRequestBoundsDepth: the request decoder refuses JSON nested
// deeper than 128 levels wherever it sits, even in a field it passes
// through, before any recursive parser sees it, and accepts the limit.
func TestDecodeRequestBoundsDepth(t *testing.T) {
	protocolDecode := func(b []byte) error { _, err := ClientCodec{}.DecodeRequest(b, "m"); return err }
	wrap := func(p string) []byte {
		return []byte(`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","x":` + p + `}}]}]}`)
	}
	tests := []struct {
		name string
		body []byte
		deep bool
	}{
		{"deep array", wrap(strings.Repeat("[", 200) + strings.Repeat("]", 200)), true},
		{"deep object", wrap(strings.Repeat(`{"a":`, 200) + "1" + strings.Repeat("}", 200)), true},
		{"9 MiB of [", []byte(`{"model":"m","x":` + strings.Repeat("[", 9<<20)), true},
		{"shallow", wrap(strings.Repeat("[", 100) + strings.Repeat("]", 100)), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := protocolDecode(tc.body)
			refused := err != nil && strings.Contains(err.Error(), "deeper than 128 levels")
			if refused != tc.deep {
				t.Fatalf("deep=%v, decoder said %v", tc.deep, err)
			}
		})
	}
}
