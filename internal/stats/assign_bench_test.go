package stats

import "testing"

func BenchmarkAssign(b *testing.B) {
	weights := []uint32{33, 33, 34}
	b.ReportAllocs()
	for b.Loop() {
		Assign("experiment-0f3c", "user-1234567", weights)
	}
}
