package anthropic

import (
	"testing"

	"github.com/sluicehq/sluice/internal/golden"
)

// TestDecodeRequestBoundsDepth: the request decoder refuses JSON nested
// deeper than 128 levels wherever it sits, even in a field it passes
// through, before any recursive parser sees it, and accepts the limit.
func TestDecodeRequestBoundsDepth(t *testing.T) {
	golden.DepthBound(t, func(b []byte) error { _, err := Client.DecodeRequest(b, ""); return err }, func(p string) []byte {
		return []byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"f","input_schema":{"type":"object","x":` + p + `}}]}`)
	})
}
