package ledger

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Sink stores a batch of entries atomically. Inserting an entry whose
// request id is already stored must be a no-op, so that a batch retried
// after an ambiguous failure is not counted twice.
type Sink interface {
	InsertEntries(ctx context.Context, batch []Entry) error
}

// Options tune a Writer.
type Options struct {
	// FlushEvery is the group-commit window (default 100ms).
	FlushEvery time.Duration
	// MaxBatch is the most entries in one transaction (default 512).
	MaxBatch int
	// QueueSize bounds the queue (default 4096, about 2 MB). When it is
	// full, Record blocks: Sluice applies backpressure rather than drop a
	// record.
	QueueSize int
	Logger    *slog.Logger
}

// Writer queues entries and writes them in batches from one goroutine.
type Writer struct {
	sink  Sink
	opts  Options
	queue chan Entry
	done  chan struct{}

	mu     sync.RWMutex // guards closed: Record holds it shared while it sends, Close exclusively
	closed bool
}

// NewWriter starts the writer goroutine. Close stops it after draining.
func NewWriter(sink Sink, opts Options) *Writer {
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = 100 * time.Millisecond
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 4096
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	w := &Writer{sink: sink, opts: opts, queue: make(chan Entry, opts.QueueSize), done: make(chan struct{})}
	go w.run()
	return w
}

// Record queues e. It is safe for concurrent use. After Close it writes
// nothing and returns false.
func (w *Writer) Record(e Entry) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return false
	}
	w.queue <- e
	return true
}

// Pending is the number of entries queued and not yet written.
func (w *Writer) Pending() int { return len(w.queue) }

// Close drains the queue, writes what remains and waits for the writer to
// stop, or for ctx to end.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer) run() {
	defer close(w.done)
	batch := make([]Entry, 0, w.opts.MaxBatch)
	timer := time.NewTimer(w.opts.FlushEvery)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-w.queue:
			if !ok {
				w.flush(batch)
				return
			}
			batch = append(batch, e)
			if len(batch) >= w.opts.MaxBatch {
				w.flush(batch)
				batch = batch[:0]
			}
		case <-timer.C:
			if len(batch) > 0 {
				w.flush(batch)
				batch = batch[:0]
			}
			timer.Reset(w.opts.FlushEvery)
		}
	}
}

// flush writes a batch, retrying with backoff while the store fails: a
// record is never dropped because the database is briefly unavailable.
func (w *Writer) flush(batch []Entry) {
	if len(batch) == 0 {
		return
	}
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := w.sink.InsertEntries(ctx, batch)
		cancel()
		if err == nil {
			return
		}
		w.opts.Logger.Error("ledger write failed; retrying", "entries", len(batch), "attempt", attempt, "err", err)
		time.Sleep(backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
}
