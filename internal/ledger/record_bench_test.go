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

// BenchmarkRecord measures Record with the writer goroutine's work
// included: cpu-µs/op is the process's CPU time (user and system,
// getrusage) per entry, steadier than wall time on a busy machine.
// "parallel": eight producers per processor record in a tight loop.
// "alone": one producer does about 10µs of work between entries, like a
// request goroutine between two ledger entries, so that the other
// processors are idle and a hand-off that wakes the writer per entry
// shows; cpu-µs/op counts the work too, work-µs/op is the work alone
// (measured first), and the ledger's share is their difference.
func BenchmarkRecord(b *testing.B) {
	e := billable("req_000000000001")
	e.KeyID, e.KeyName, e.ServedModel = "key_1", "k", "m"
	// produce records b.N entries and returns the CPU time of its own work
	// per entry, in nanoseconds.
	run := func(b *testing.B, produce func(w *ledger.Writer) float64) {
		w, err := ledger.NewWriter(discardSink{}, ledger.Options{Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		cpu0 := cpuTime()
		work := produce(w)
		if err := w.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
		if work > 0 {
			b.ReportMetric(work/1e3, "work-µs/op")
		}
		if h := w.Health(); h.Lost != 0 || h.Spilled != 0 {
			b.Fatalf("lost %d, spilled %d: want every entry written", h.Lost, h.Spilled)
		}
	}
	b.Run("parallel", func(b *testing.B) {
		run(b, func(w *ledger.Writer) float64 {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !w.Record(e) {
						b.Error("Record refused an entry")
						return
					}
				}
			})
			return 0
		})
	})
	b.Run("alone", func(b *testing.B) {
		const rounds, calibrate = 5000, 2000 // about 10µs a round
		cpu0 := cpuTime()
		for range calibrate {
			spin(rounds)
		}
		each := float64((cpuTime() - cpu0).Nanoseconds()) / calibrate
		run(b, func(w *ledger.Writer) float64 {
			for range b.N {
				if !w.Record(e) {
					b.Fatal("Record refused an entry")
				}
				spin(rounds)
			}
			return each
		})
	})
}

var spinSink uint64

// spin burns CPU for a fixed number of rounds, without yielding.
func spin(rounds int) {
	x := spinSink | 1
	for range rounds {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	spinSink = x
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
