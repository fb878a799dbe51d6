package ledger_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

// discardSink stores nothing: the benchmarks measure the writer alone.
type discardSink struct{}

func (discardSink) InsertEntries(context.Context, []ledger.Entry) error { return nil }

// BenchmarkRecord measures Record from parallel producers, with the writer
// goroutine's work included: cpu-µs/op is the process's CPU time (user and
// system, getrusage) per entry, steadier than wall time on a busy machine.
// "busy" producers record in a tight loop; "paced" ones pause 100µs between
// entries, like request goroutines that wait for their upstream, so that
// processors go idle and a hand-off that wakes the writer per entry shows.
func BenchmarkRecord(b *testing.B) {
	for _, bc := range []struct {
		name  string
		pause time.Duration
	}{
		{"busy", 0},
		{"paced", 100 * time.Microsecond},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w, err := ledger.NewWriter(discardSink{}, ledger.Options{Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			e := billable("req_000000000001")
			e.KeyID, e.KeyName, e.ServedModel = "key_1", "k", "m"
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !w.Record(e) {
						b.Error("Record refused an entry")
						return
					}
					if bc.pause > 0 {
						time.Sleep(bc.pause)
					}
				}
			})
			if err := w.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
			if h := w.Health(); h.Lost != 0 || h.Spilled != 0 {
				b.Fatalf("lost %d, spilled %d: want every entry written", h.Lost, h.Spilled)
			}
		})
	}
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
