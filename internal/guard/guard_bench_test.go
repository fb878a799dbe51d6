package guard

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// prompt8K is 8 KiB of prose with a little personal data in it.
var prompt8K = func() string {
	var b strings.Builder
	para := "The quarterly report shows revenue growth of 12 percent across the northern region, " +
		"driven by renewals and two new enterprise accounts. Contact the account lead at " +
		"maria.lopez@example.com or +44 20 7946 0958 for the pipeline details. "
	for b.Len() < 8<<10 {
		b.WriteString(para)
	}
	return b.String()[:8<<10]
}()

func defaultSet(b *testing.B) *Set {
	return mustSet(b, Input,
		Spec{Name: "pii", Type: "pii", Action: Mask, On: []Stage{Input, Output}},
		Spec{Name: "injection", Type: "injection", Action: Block},
		Spec{Name: "deny", Type: "words", Words: []string{"project falcon", "internal only"}, Action: Block},
		Spec{Name: "no-secrets", Type: "regex", Patterns: []string{`sk-[A-Za-z0-9]{20,}`}, Action: Block},
	)
}

// BenchmarkApplyDefaultSet8K runs every built-in detector, the injection
// heuristics, a deny list and a regex over an 8 KiB prompt, and reports
// the 99th percentile of one run.
func BenchmarkApplyDefaultSet8K(b *testing.B) {
	s := defaultSet(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(prompt8K)))
	var d []time.Duration
	for b.Loop() {
		t0 := time.Now()
		s.Apply(prompt8K, NewMasker())
		d = append(d, time.Since(t0))
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkStreamDefaultSet8K feeds the same text as 4-byte deltas, as a
// response stream arrives.
func BenchmarkStreamDefaultSet8K(b *testing.B) {
	s := defaultSet(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(prompt8K)))
	for b.Loop() {
		st := s.Stream(NewMasker())
		for i := 0; i < len(prompt8K); i += 4 {
			st.Write(prompt8K[i:min(i+4, len(prompt8K))])
		}
		st.Flush()
	}
}
