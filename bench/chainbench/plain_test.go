package chainbench

import "testing"

// BenchmarkPlain is a pass-through chat completion with every optional
// step off (no guardrail, no cache): the row that compares the chain with
// the code before it (run this file against both trees).
func BenchmarkPlain(b *testing.B) {
	srv := gateway(b, nil)
	drive(b, srv, chatBody("plain", 8<<10), nil, "")
}
