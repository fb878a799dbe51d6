package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/store"
)

func TestWriterDrainsOnClose(t *testing.T) {
	st, err := store.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Only size and Close flush; what finds the queue full is spilled to the
	// journal and replayed at Close.
	w, err := ledger.NewWriter(st, ledger.Options{FlushEvery: time.Hour, MaxBatch: 300, Journal: filepath.Join(t.TempDir(), "ledger.journal")})
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 20, 250
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				w.Record(ledger.Entry{RequestID: fmt.Sprintf("r-%d-%d", g, i), Time: time.Now(), Endpoint: "chat.completions",
					Status: ledger.StatusOK, HTTPStatus: 200, Attempts: []ledger.Attempt{{N: 1, Provider: "p", Model: "m", Status: ledger.StatusOK}}})
			}
		}()
	}
	wg.Wait()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w.Record(ledger.Entry{RequestID: "late"}) {
		t.Fatal("Record after Close reported success")
	}
	n, err := st.CountRequests(context.Background())
	if err != nil || n != goroutines*each {
		t.Fatalf("stored %d entries (err %v), want %d", n, err, goroutines*each)
	}
}

// flakySink fails its first calls, like a database that is briefly locked.
type flakySink struct {
	fails atomic.Int32
	mu    sync.Mutex
	got   map[string]int
}

func (s *flakySink) InsertEntries(_ context.Context, b []ledger.Entry) error {
	if s.fails.Add(-1) >= 0 {
		return errors.New("database is locked")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range b {
		s.got[e.RequestID]++
	}
	return nil
}

func TestWriterRetriesFailedBatches(t *testing.T) {
	sink := &flakySink{got: map[string]int{}}
	sink.fails.Store(3)
	w, err := ledger.NewWriter(sink, ledger.Options{FlushEvery: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		w.Record(ledger.Entry{RequestID: fmt.Sprint(i)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(sink.got) != 100 {
		t.Fatalf("%d entries stored after retries, want 100", len(sink.got))
	}
}

// nonBillable is an entry that reached no upstream: nothing to bill.
func nonBillable(id string) ledger.Entry {
	return ledger.Entry{RequestID: id, Time: time.Now(), Endpoint: "chat.completions", Status: ledger.StatusLimited, HTTPStatus: 429}
}

// holdQueue starts a writer whose store fails and which has no journal, and
// fills its memory: it holds a queue's worth of entries and reads the queue
// no more. Only size triggers a write (FlushEvery is an hour), so the store
// has failed exactly once.
func holdQueue(t *testing.T, size int) *ledger.Writer {
	t.Helper()
	sink := newSwitchSink()
	sink.down.Store(true)
	// MaxBatch 1 makes every entry a due batch: the writer is woken until the
	// queue is empty, so all size entries reach it without the FlushEvery
	// timer. (With larger batches, entries left below one batch wait for the
	// timer, an hour here.)
	w, err := ledger.NewWriter(sink, ledger.Options{QueueSize: size, MaxBatch: 1, FlushEvery: time.Hour, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for i := range size {
		if !w.Record(billable(fmt.Sprint("held", i))) {
			t.Fatalf("Record %d refused", i)
		}
	}
	waitFor(t, 3*time.Second, "the writer does not hold the entries", func() bool { return w.Health().Held == int64(size) })
	if h := w.Health(); h.ConsecutiveFailures != 1 {
		t.Fatalf("%d failed writes, want 1", h.ConsecutiveFailures)
	}
	return w
}

// While the store fails, entries with nothing to bill take at most three
// quarters of the queue, leaving the rest to billable ones.
func TestRecordLeavesLastQuarterToBillable(t *testing.T) {
	tests := []struct {
		queue                 int
		nonBillable, billable int // how many of each the queue takes
	}{
		{queue: 8, nonBillable: 6, billable: 2},
		{queue: 4, nonBillable: 3, billable: 1},
		{queue: 16, nonBillable: 12, billable: 4},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint("queue ", tc.queue), func(t *testing.T) {
			w := holdQueue(t, tc.queue)
			defer closeWithin(w, 50*time.Millisecond)
			taken := 0
			for i := range tc.queue {
				if w.Record(nonBillable(fmt.Sprint("n", i))) {
					taken++
				}
			}
			if taken != tc.nonBillable || w.Pending() != tc.nonBillable {
				t.Errorf("queue took %d entries with nothing to bill (pending %d), want %d", taken, w.Pending(), tc.nonBillable)
			}
			taken = 0
			for i := range tc.queue {
				if w.Record(billable(fmt.Sprint("b", i))) {
					taken++
				}
			}
			if taken != tc.billable || w.Pending() != tc.queue {
				t.Errorf("queue took %d billable entries (pending %d), want %d", taken, w.Pending(), tc.billable)
			}
			if lost, want := w.Health().Lost, int64(2*tc.queue-tc.nonBillable-tc.billable); lost != want {
				t.Errorf("lost %d, want %d", lost, want)
			}
		})
	}
}

// When Close stops waiting while the writer holds entries it cannot place
// (store and journal failing), every entry still in memory is counted lost.
func TestCloseGivesUpCountsLost(t *testing.T) {
	tests := []struct {
		queue, more int // the held queue's size, entries recorded after it filled
		wantLost    int64
	}{
		{queue: 1, more: 0, wantLost: 1},
		{queue: 1, more: 1, wantLost: 2},
		{queue: 4, more: 6, wantLost: 10}, // 4 held, 4 queued, 2 refused by Record
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.queue, "+", tc.more), func(t *testing.T) {
			w := holdQueue(t, tc.queue)
			for i := range tc.more {
				w.Record(billable(fmt.Sprint("more", i)))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if err := w.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Close = %v, want the context's error", err)
			}
			if lost := w.Health().Lost; lost != tc.wantLost {
				t.Errorf("lost %d after Close gave up, want %d", lost, tc.wantLost)
			}
		})
	}
}

// A store that writes takes every batch directly: nothing goes through the
// journal.
func TestHealthyStoreBypassesJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.journal")
	sink := newSwitchSink()
	w, err := ledger.NewWriter(sink, ledger.Options{Journal: path, FlushEvery: 2 * time.Millisecond, MaxBatch: 4, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		w.Record(billable(fmt.Sprint(i)))
		time.Sleep(time.Millisecond)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h := w.Health(); h.Spilled != 0 || h.Replayed != 0 || h.JournalBytes != 0 || h.WriteErrors != 0 || len(sink.stored()) != 10 {
		t.Errorf("health %+v, %d stored; want all 10 stored and the journal unused", h, len(sink.stored()))
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a journal file exists (err %v)", err)
	}
}

// batchSink records the size of each batch it stores.
type batchSink struct {
	mu    sync.Mutex
	sizes []int
}

func (s *batchSink) InsertEntries(_ context.Context, b []ledger.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sizes = append(s.sizes, len(b))
	return nil
}

func (s *batchSink) batches() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.sizes...)
}

// Without FlushEvery the writer commits every 100ms: entries recorded
// together are written together, and not before the window ends.
func TestDefaultFlushWindowGroupsEntries(t *testing.T) {
	sink := &batchSink{}
	start := time.Now()
	w, err := ledger.NewWriter(sink, ledger.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(w, time.Second)
	for i := range 50 {
		w.Record(billable(fmt.Sprint(i)))
	}
	time.Sleep(20 * time.Millisecond)
	early := sink.batches()
	if time.Since(start) < 80*time.Millisecond && len(early) != 0 {
		t.Errorf("batches %v written %v after the start, want none before 100ms", early, time.Since(start))
	}
	waitFor(t, 2*time.Second, "the entries were not written", func() bool {
		n := 0
		for _, s := range sink.batches() {
			n += s
		}
		return n == 50
	})
	if b := sink.batches(); len(b) > 2 {
		t.Errorf("50 entries recorded together written in batches %v, want one (two if a commit fell between)", b)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b := sink.batches(); slices.Contains(b, 0) {
		t.Errorf("batches %v: the store was asked to write an empty one", b)
	}
	if h := w.Health(); h.QueueCapacity != 4096 {
		t.Errorf("default queue capacity %d, want 4096", h.QueueCapacity)
	}
}

// blockSink stores nothing until release is closed.
type blockSink struct{ release chan struct{} }

func (s blockSink) InsertEntries(ctx context.Context, _ []ledger.Entry) error {
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// A queue nine tenths full makes the ledger unready even while the store
// has not failed: it is not keeping up.
func TestQueueNearlyFullIsUnready(t *testing.T) {
	sink := blockSink{release: make(chan struct{})}
	w, err := ledger.NewWriter(sink, ledger.Options{QueueSize: 10, MaxBatch: 1, FlushEvery: time.Hour, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(w, time.Second)
	defer close(sink.release)
	w.Record(billable("first")) // the writer takes it and blocks in the store
	waitFor(t, 3*time.Second, "the writer did not take the first entry", func() bool { return w.Pending() == 0 })
	for i := range 10 {
		if h := w.Health(); h.Ready != (i < 9) || (h.Reason != "") != (i >= 9) {
			t.Errorf("%d queued: ready %v (%q), want ready below 9", i, h.Ready, h.Reason)
		}
		w.Record(billable(fmt.Sprint(i)))
	}
	if h := w.Health(); h.Ready || h.Reason != "ledger queue full (10 of 10)" || h.ConsecutiveFailures != 0 {
		t.Errorf("full queue: %+v", h)
	}
}

// logSink keeps the consecutive_failures of each "ledger write failed" log.
type logSink struct {
	mu       sync.Mutex
	failures []int64
}

func (l *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (l *logSink) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logSink) WithGroup(string) slog.Handler            { return l }
func (l *logSink) Handle(_ context.Context, r slog.Record) error {
	if !strings.HasPrefix(r.Message, "ledger write failed") {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "consecutive_failures" {
			l.mu.Lock()
			l.failures = append(l.failures, a.Value.Int64())
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

// A failing store is logged at its first failure, when the ledger turns
// unready (FailAfter) and every 100th failure after, not at each retry.
func TestWriteFailuresLoggedSparingly(t *testing.T) {
	for _, failAfter := range []int{3, 5} {
		t.Run(fmt.Sprint("FailAfter ", failAfter), func(t *testing.T) {
			logs := &logSink{}
			sink := newSwitchSink()
			sink.down.Store(true)
			w, err := ledger.NewWriter(sink, ledger.Options{FlushEvery: time.Millisecond, RetryMax: time.Millisecond, FailAfter: failAfter,
				Logger: slog.New(logs)})
			if err != nil {
				t.Fatal(err)
			}
			w.Record(billable("r"))
			waitFor(t, 3*time.Second, "too few failed writes", func() bool { return w.Health().ConsecutiveFailures >= int64(failAfter)+2 })
			closeWithin(w, 20*time.Millisecond)
			n := w.Health().ConsecutiveFailures
			var want []int64
			for i := int64(1); i <= n; i++ {
				if i == 1 || i == int64(failAfter) || i%100 == 0 {
					want = append(want, i)
				}
			}
			logs.mu.Lock()
			defer logs.mu.Unlock()
			if !slices.Equal(logs.failures, want) {
				t.Errorf("after %d failures, logged at %v, want %v", n, logs.failures, want)
			}
		})
	}
}

// gateSink blocks its first write until release is closed, and stores
// every entry.
type gateSink struct {
	*switchSink
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *gateSink) InsertEntries(ctx context.Context, b []ledger.Entry) error {
	first := false
	s.once.Do(func() { first = true })
	if first {
		close(s.entered)
		<-s.release
	}
	return s.switchSink.InsertEntries(ctx, b)
}

// A Record that finds the queue full waits for the writer to take entries,
// not for RecordWait to end; and Close, called while it waits, writes its
// entry too.
func TestRecordWaitsForRoomAndCloseWaitsForIt(t *testing.T) {
	const size = 4
	sink := &gateSink{switchSink: newSwitchSink(), entered: make(chan struct{}), release: make(chan struct{})}
	w, err := ledger.NewWriter(sink, ledger.Options{QueueSize: size, MaxBatch: size, FlushEvery: time.Hour, RecordWait: time.Minute, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	// One batch in the store, which blocks, and a full queue. The writer is
	// woken at half the queue and takes what is queued then (2 to size
	// entries), so the queue is filled up to size after it has entered.
	n := 0
	for ; n < size; n++ {
		if !w.Record(billable(fmt.Sprint(n))) {
			t.Fatalf("Record %d refused", n)
		}
	}
	<-sink.entered
	for ; w.Pending() < size; n++ {
		if !w.Record(billable(fmt.Sprint(n))) {
			t.Fatalf("Record %d refused", n)
		}
	}
	recorded := make(chan time.Duration)
	go func() {
		start := time.Now()
		if !w.Record(billable("waiting")) {
			t.Error("the waiting Record was refused")
		}
		recorded <- time.Since(start)
	}()
	waitFor(t, 3*time.Second, "the queue is not full", func() bool { return w.Pending() == size })
	time.Sleep(20 * time.Millisecond) // the last Record waits for room
	closed := make(chan error)
	go func() { closed <- w.Close(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	close(sink.release)
	select {
	case d := <-recorded:
		if d > 10*time.Second {
			t.Errorf("the waiting Record took %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting Record still waits 10s after the writer made room")
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if got := sink.stored(); len(got) != n+1 || got["waiting"] != 1 {
		t.Errorf("stored %d entries (the waiting one %d times), want %d", len(got), got["waiting"], n+1)
	}
	if h := w.Health(); h.Lost != 0 || h.Spilled != 0 {
		t.Errorf("lost %d, spilled %d; want none", h.Lost, h.Spilled)
	}
}

// A batch as large as the queue is not waited for: the writer takes the
// queue when it is half full, so that a store that writes never sees the
// queue reach its spill mark (nine tenths) or its refusal mark.
func TestBatchAsLargeAsQueueSpillsNothing(t *testing.T) {
	for _, size := range []int{20, 100, 4096} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			sink := newSwitchSink()
			w, err := ledger.NewWriter(sink, ledger.Options{QueueSize: size, MaxBatch: size, FlushEvery: time.Hour,
				Journal: filepath.Join(t.TempDir(), "ledger.journal"), Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			for i := range size {
				if h := w.Health(); !h.Ready {
					t.Fatalf("after %d entries: not ready (%s)", i, h.Reason)
				}
				w.Record(billable(fmt.Sprint(i)))
				if i%(size/10) == 0 {
					time.Sleep(time.Millisecond) // the writer's turn, even on one processor
				}
			}
			if err := w.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if h := w.Health(); h.Spilled != 0 || len(sink.stored()) != size {
				t.Errorf("spilled %d, stored %d of %d; want all stored, none spilled", h.Spilled, len(sink.stored()), size)
			}
		})
	}
}
