package ratelimit

import "testing"

// BenchmarkAdmitDone is one request's limiter cost in memory.
func BenchmarkAdmitDone(b *testing.B) {
	l := New(nil)
	lim := Limits{RPM: 1 << 40, MaxConcurrent: 100, BudgetMicros: 1 << 50, BudgetPeriod: Monthly}
	b.ReportAllocs()
	for b.Loop() {
		tk, d := l.Admit("bench", lim, 10)
		if d != nil {
			b.Fatal(d)
		}
		tk.Done(10, 1)
	}
}
