//go:build linux

package guard

import (
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// threadCPU is the CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID):
// unlike wall time it does not count the time the thread waited for a core,
// so percentiles measured on a loaded machine stay the engine's own.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

// percentiles reports the p50 and p99 of d, wall and CPU, in µs.
func percentiles(b *testing.B, wall, cpu []time.Duration) {
	slices.Sort(wall)
	slices.Sort(cpu)
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	b.ReportMetric(us(wall[len(wall)/2]), "p50-wall-µs")
	b.ReportMetric(us(wall[len(wall)*99/100]), "p99-wall-µs")
	b.ReportMetric(us(cpu[len(cpu)/2]), "p50-cpu-µs")
	b.ReportMetric(us(cpu[len(cpu)*99/100]), "p99-cpu-µs")
}

// BenchmarkCostDefaultSet8K: the default set (every PII and secret
// detector, injection heuristics, a deny list, a regex) over an 8 KiB
// prompt, one call at a time, with the wall and the thread-CPU percentiles
// of one call.
func BenchmarkCostDefaultSet8K(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s := defaultSet(b)
	var wall, cpu []time.Duration
	for b.Loop() {
		w0, c0 := time.Now(), threadCPU()
		s.Apply(prompt8K, NewMasker())
		cpu = append(cpu, threadCPU()-c0)
		wall = append(wall, time.Since(w0))
	}
	percentiles(b, wall, cpu)
}

// BenchmarkCostStreamFirstToken is what the default set adds to a stream's
// first token: a fresh stream and the first short delta of an answer, timed
// from Write to its return; held-bytes is how many of the delta's bytes
// were held back for the next delta rather than emitted.
func BenchmarkCostStreamFirstToken(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s := defaultSet(b)
	const first = "Sure! Here is"
	var wall, cpu []time.Duration
	held := 0
	for b.Loop() {
		w0, c0 := time.Now(), threadCPU()
		out := s.Stream(NewMasker()).Write(first)
		cpu = append(cpu, threadCPU()-c0)
		wall = append(wall, time.Since(w0))
		held = max(held, len(first)-len(out))
	}
	percentiles(b, wall, cpu)
	b.ReportMetric(float64(held), "held-bytes")
}
