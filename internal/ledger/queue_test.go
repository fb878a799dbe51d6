package ledger

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"
)

// Record wakes the writer only when a batch is due: the entry that makes
// the queue hold min(MaxBatch, QueueSize/2) entries gives the writer its
// one token; the entries before it give none.
func TestRecordWakesWriterOnlyWhenBatchDue(t *testing.T) {
	tests := []struct {
		maxBatch, queue int
		records         int
		woken           bool
	}{
		{maxBatch: 4, queue: 16, records: 3, woken: false},
		{maxBatch: 4, queue: 16, records: 4, woken: true},
		{maxBatch: 4, queue: 16, records: 9, woken: true}, // one token, not two
		{maxBatch: 512, queue: 8, records: 3, woken: false},
		{maxBatch: 512, queue: 8, records: 4, woken: true}, // half a queue is due whatever MaxBatch says
		{maxBatch: 8, queue: 8, records: 4, woken: true},
		{maxBatch: 1, queue: 1, records: 1, woken: true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.maxBatch, "/", tc.queue, "/", tc.records), func(t *testing.T) {
			w, err := newWriter(nil, Options{MaxBatch: tc.maxBatch, QueueSize: tc.queue, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.records {
				if !w.Record(Entry{RequestID: fmt.Sprint(i), Attempts: []Attempt{{N: 1}}}) {
					t.Fatalf("Record %d refused", i)
				}
				if i < max(1, min(tc.maxBatch, tc.queue/2))-1 && len(w.wake) != 0 {
					t.Fatalf("the writer was woken after %d entries, before a batch was due", i+1)
				}
			}
			if woken := len(w.wake) == 1; woken != tc.woken {
				t.Errorf("after %d entries woken %v, want %v", tc.records, woken, tc.woken)
			}
			if w.Pending() != tc.records {
				t.Errorf("pending %d, want %d", w.Pending(), tc.records)
			}
		})
	}
}

// The writer takes entries oldest first, at most max at a time, across the
// ring's end, and leaves the taken slots empty.
func TestTakeKeepsOrderAcrossTheRingsEnd(t *testing.T) {
	tests := []struct {
		queue, maxBatch int
		rounds          []int // entries recorded before each take
	}{
		{queue: 5, maxBatch: 3, rounds: []int{4, 3, 5, 2, 5}},
		{queue: 4, maxBatch: 4, rounds: []int{4, 1, 4, 3}},
		{queue: 7, maxBatch: 2, rounds: []int{7, 6, 1, 2}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.queue, "/", tc.maxBatch), func(t *testing.T) {
			w, err := newWriter(nil, Options{MaxBatch: tc.maxBatch, QueueSize: tc.queue, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			next, want := 0, 0
			for _, n := range tc.rounds {
				for range n {
					if w.Pending() == tc.queue {
						break
					}
					w.Record(Entry{RequestID: fmt.Sprint(next), Attempts: []Attempt{{N: 1}}})
					next++
				}
				for w.Pending() > 0 {
					got := w.take(nil, tc.maxBatch, true)
					if len(got) != min(tc.maxBatch, len(got)+w.Pending()) || len(got) == 0 {
						t.Fatalf("took %d entries with %d left, max %d", len(got), w.Pending(), tc.maxBatch)
					}
					for _, e := range got {
						if e.RequestID != fmt.Sprint(want) {
							t.Fatalf("took %q, want %d", e.RequestID, want)
						}
						want++
					}
				}
			}
			if want != next {
				t.Errorf("took %d entries, recorded %d", want, next)
			}
			if i := slices.IndexFunc(w.ring, func(e Entry) bool { return e.RequestID != "" }); i >= 0 {
				t.Errorf("slot %d still holds %q after it was taken", i, w.ring[i].RequestID)
			}
		})
	}
}
