package ratelimit

import "testing"

// BenchmarkAdmitDone is one request's limiter cost in memory.
func BenchmarkAdmitDone(b *testing.B) {
	l := New(nil)
	lim := Limits{RPM: 1 << 40, MaxConcurrent: 100, BudgetMicros: 1 << 50, BudgetPeriod: Monthly}
	b.ReportAllocs()
	for b.Loop() {
		tk, d := admit(l, "bench", lim, 10)
		if d != nil {
			b.Fatal(d)
		}
		tk.Done(10, 1)
	}
}

// threeLevels are a request's key, team and organisation.
var threeLevels = []Subject{
	{ID: "key:k", Limits: Limits{RPM: 1 << 40, MaxConcurrent: 100, BudgetMicros: 1 << 50, BudgetPeriod: Monthly}, WorstMicros: 10},
	{ID: "team:t", Limits: Limits{RPM: 1 << 40, BudgetMicros: 1 << 50, BudgetPeriod: Monthly}, WorstMicros: 10},
	{ID: "org:o", Limits: Limits{BudgetMicros: 1 << 50, BudgetPeriod: Monthly, AlertPercents: [MaxAlerts]int{50, 80, 100}}, WorstMicros: 10},
}

// BenchmarkAdmitAll3 is one request's limiter cost in memory at three
// levels, admitted together.
func BenchmarkAdmitAll3(b *testing.B) {
	l := New(nil)
	b.ReportAllocs()
	for b.Loop() {
		ts, _, d := l.AdmitAll(threeLevels)
		if d != nil {
			b.Fatal(d)
		}
		ts.Done(10, 1)
	}
}
