package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Sink stores a batch of entries atomically. Inserting an entry whose
// request id is already stored must be a no-op, so that a batch retried
// after an ambiguous failure, or replayed from the journal, is not counted
// twice.
type Sink interface {
	InsertEntries(ctx context.Context, batch []Entry) error
}

// ErrUnavailable is returned by Admit while the ledger cannot write: the
// request would be served but could not be billed.
var ErrUnavailable = errors.New("the usage ledger cannot write")

// Options tune a Writer.
type Options struct {
	// FlushEvery is the group-commit window (default 100ms).
	FlushEvery time.Duration
	// MaxBatch is the most entries in one transaction (default 512).
	MaxBatch int
	// QueueSize bounds the in-memory queue (default 4096, about 2 MB). The
	// writer holds at most as many again in memory when neither the store
	// nor the journal takes them.
	QueueSize int
	// Journal is the spill file: entries that the store cannot take, or
	// that find the queue full, are appended there and replayed into the
	// store when it writes again. Empty: no journal.
	Journal string
	// JournalMax caps the journal's size in bytes (default 64 MiB, about
	// 100,000 entries). Beyond it entries are lost, counted and logged.
	JournalMax int64
	// RecordWait bounds how long Record waits for room in a full queue
	// before it spills to the journal (default 20ms).
	RecordWait time.Duration
	// AdmitWait bounds how long Admit waits for the ledger to become ready
	// before it refuses (default 200ms).
	AdmitWait time.Duration
	// FailAfter is how many consecutive failed writes make the ledger
	// unready (default 3: about 350ms of failures).
	FailAfter int
	// RetryMax caps the pause between write attempts while the store fails
	// (default 1s): it bounds the time to notice that the store writes again.
	RetryMax time.Duration
	// WriteTimeout bounds one write to the store (default 30s).
	WriteTimeout time.Duration
	Logger       *slog.Logger
}

// Writer queues entries and writes them in batches from one goroutine.
//
// When the store cannot write, the writer spills batches to the journal and
// retries the store with a backoff (50ms doubling to RetryMax). After
// FailAfter consecutive failures, or while the queue is nine tenths full
// and there is no journal to spill to (none, failing, or nine tenths of its
// cap), the ledger is unready: Admit refuses new billable requests, Health says
// why. When the journal cannot take entries either (the same full disk),
// the writer holds up to QueueSize entries in memory and then stops taking
// from the queue; Record never blocks beyond RecordWait and one journal
// append, and counts an entry it can place nowhere as lost. When the store
// writes again, the writer writes the held entries, replays the journal
// and becomes ready.
type Writer struct {
	sink    Sink
	opts    Options
	journal *journal // nil without a journal
	done    chan struct{}
	abort   chan struct{} // closed by Close when its context ends

	// The queue: a ring of QueueSize entries that Record fills and the
	// writer empties. Record wakes the writer only when a batch is due
	// (due entries queued); the FlushEvery timer takes the rest. A Record
	// that cannot queue at once (queue full or deep) leaves the lock and
	// counts itself in slow, which Close waits for before the writer drains.
	mu      sync.Mutex // guards the fields below
	ring    []Entry
	head, n int           // the oldest entry's index; how many are queued
	room    chan struct{} // closed when the writer takes entries; nil while no Record waits
	closed  bool
	slow    sync.WaitGroup // Records past the closed check that did not queue at once
	due     int            // min(MaxBatch, QueueSize/2), at least 1: below the queue's spill and refusal marks
	wake    chan struct{}  // one token: a batch is due
	closing chan struct{}  // closed by Close once no Record can queue
	depth   atomic.Int64   // n, for readers that do not lock

	// Written by the writer goroutine, read by Admit and Health.
	failures    atomic.Int64 // consecutive failed writes
	held        atomic.Int64 // entries held in memory: in neither store nor journal
	writeErrors atomic.Int64
	spilled     atomic.Int64
	replayed    atomic.Int64
	lost        atomic.Int64
	// journalFailing is set by a failed journal append and cleared by a
	// successful one.
	journalFailing atomic.Bool

	emu       sync.Mutex // guards the fields below
	lastErr   string
	lastErrAt time.Time
	lostLog   time.Time // when a loss was last logged
	lostSince int64     // losses since lostLog
}

// NewWriter starts the writer goroutine. Close stops it after draining.
// Entries left in the journal by an earlier process are replayed first.
func NewWriter(sink Sink, opts Options) (*Writer, error) {
	w, err := newWriter(sink, opts)
	if err != nil {
		return nil, err
	}
	go w.run()
	return w, nil
}

// newWriter is NewWriter without the writer goroutine.
func newWriter(sink Sink, opts Options) (*Writer, error) {
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = 100 * time.Millisecond
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 4096
	}
	if opts.JournalMax <= 0 {
		opts.JournalMax = 64 << 20
	}
	if opts.RecordWait <= 0 {
		opts.RecordWait = 20 * time.Millisecond
	}
	if opts.AdmitWait <= 0 {
		opts.AdmitWait = 200 * time.Millisecond
	}
	if opts.FailAfter <= 0 {
		opts.FailAfter = 3
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	w := &Writer{sink: sink, opts: opts, done: make(chan struct{}), abort: make(chan struct{}),
		ring: make([]Entry, opts.QueueSize), due: max(1, min(opts.MaxBatch, opts.QueueSize/2)), wake: make(chan struct{}, 1), closing: make(chan struct{})}
	if opts.Journal != "" {
		j, err := openJournal(opts.Journal, opts.JournalMax)
		if err != nil {
			return nil, err
		}
		w.journal = j
	}
	return w, nil
}

// Record queues e. It is safe for concurrent use and never blocks for
// long: when the queue is full it waits at most RecordWait (not at all
// while the store fails) and then appends e to the journal. An entry that
// fits neither is counted as lost and logged, and Record returns false.
// While the store fails, entries that reached no upstream (no attempts:
// nothing to bill) leave the last quarter of the queue to billable ones.
// After Close it writes nothing and returns false.
//
// Queuing is a copy under a mutex; the writer goroutine is woken only when
// a batch is due, not per entry.
func (w *Writer) Record(e Entry) bool {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false
	}
	failing := w.failures.Load() > 0
	if w.queueable(&e, failing) {
		w.push(&e)
		w.mu.Unlock()
		return true
	}
	w.slow.Add(1) // before Close sets closed: Close waits for it
	w.mu.Unlock()
	defer w.slow.Done()
	return w.recordSlow(&e, failing)
}

// queueable reports whether e goes straight into the queue: there is room,
// the queue is not so deep that a burst spills to the journal, and, while
// the store fails, an entry with nothing to bill leaves the last quarter.
// w.mu is held.
func (w *Writer) queueable(e *Entry, failing bool) bool {
	size := w.opts.QueueSize
	switch {
	case w.n >= size:
		return false
	case failing:
		return len(e.Attempts) > 0 || w.n < size*3/4
	default:
		return w.journal == nil || w.journalFailing.Load() || w.n < size*9/10
	}
}

// push appends e to the queue and wakes the writer when a batch is due.
// w.mu is held and the queue has room.
func (w *Writer) push(e *Entry) {
	w.ring[(w.head+w.n)%len(w.ring)] = *e
	w.n++
	w.depth.Store(int64(w.n))
	if w.n == w.due {
		select {
		case w.wake <- struct{}{}:
		default: // the writer has a token already
		}
	}
}

// recordSlow places an entry that Record could not queue at once.
func (w *Writer) recordSlow(e *Entry, failing bool) bool {
	if !failing && w.spillBurst(e) {
		return true
	}
	if !failing || len(e.Attempts) > 0 || w.depth.Load() < int64(w.opts.QueueSize*3/4) {
		wait := w.opts.RecordWait
		if failing {
			wait = 0
		}
		if w.enqueue(e, wait) {
			return true
		}
	}
	err := w.journal.append([]Entry{*e})
	w.journalFailing.Store(err != nil && w.journal != nil)
	if err == nil {
		w.spilled.Add(1)
		return true
	}
	w.lose(1, e.RequestID, err)
	return false
}

// enqueue queues e when the queue has room, waiting at most wait for the
// writer to make some.
func (w *Writer) enqueue(e *Entry, wait time.Duration) bool {
	var timer *time.Timer
	for {
		w.mu.Lock()
		if w.n < w.opts.QueueSize {
			w.push(e)
			w.mu.Unlock()
			if timer != nil {
				timer.Stop()
			}
			return true
		}
		if wait <= 0 {
			w.mu.Unlock()
			return false
		}
		if w.room == nil {
			w.room = make(chan struct{})
		}
		room := w.room
		w.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(wait)
		}
		select {
		case <-room:
		case <-timer.C:
			return false
		}
	}
}

// take appends to dst up to max of the oldest queued entries and removes
// them from the queue; with all false, only when a batch is due.
func (w *Writer) take(dst []Entry, max int, all bool) []Entry {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n == 0 || (!all && w.n < w.due) {
		return dst
	}
	k := min(w.n, max)
	for k > 0 {
		seg := w.ring[w.head:min(w.head+k, len(w.ring))]
		dst = append(dst, seg...)
		clear(seg) // let the collector have the entries' strings
		w.head = (w.head + len(seg)) % len(w.ring)
		w.n -= len(seg)
		k -= len(seg)
	}
	w.depth.Store(int64(w.n))
	if w.room != nil {
		close(w.room)
		w.room = nil
	}
	return dst
}

// spillBurst appends e to the journal when the queue is nine tenths full
// while the store writes: a burst that the store takes slowly. A failed
// append marks the journal failing, which makes Admit refuse while the
// queue is deep, and leaves e to the queue's last tenth, kept for the
// requests already admitted.
func (w *Writer) spillBurst(e *Entry) bool {
	if w.journal == nil || w.journalFailing.Load() || w.depth.Load() < int64(w.opts.QueueSize*9/10) {
		return false
	}
	if err := w.journal.append([]Entry{*e}); err != nil {
		w.journalFailing.Store(true)
		w.setErr(err)
		return false
	}
	w.spilled.Add(1)
	return true
}

// Pending is the number of entries queued and not yet written.
func (w *Writer) Pending() int { return int(w.depth.Load()) }

// Close drains the queue, writes what remains (to the journal if the store
// fails) and waits for the writer to stop, or for ctx to end: then it stops
// the writer, and entries that neither the store nor the journal took are
// counted as lost.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	first := !w.closed
	w.closed = true
	w.mu.Unlock()
	if first {
		w.slow.Wait() // a Record that found the queue full may still queue
		close(w.closing)
	}
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
	}
	select {
	case <-w.abort:
	default:
		close(w.abort)
	}
	select {
	case <-w.done:
	case <-time.After(time.Second):
	}
	return ctx.Err()
}

func (w *Writer) run() {
	defer close(w.done)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // stops a write in progress when Close gives up
		defer wg.Done()
		select {
		case <-w.abort:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	var held []Entry
	batch := make([]Entry, 0, w.opts.MaxBatch)
	var retryAt time.Time
	backoff := 50 * time.Millisecond
	retry := func() {
		if err := w.recover(ctx, &held); err != nil {
			w.fail(err)
			retryAt = time.Now().Add(backoff)
			backoff = min(backoff*2, w.opts.RetryMax)
			return
		}
		backoff = 50 * time.Millisecond
	}
	if w.journal.bytes() > 0 {
		retry()
	}
	timer := time.NewTimer(w.opts.FlushEvery)
	defer timer.Stop()
	for {
		wake, closing := w.wake, w.closing
		if len(held) >= w.opts.QueueSize {
			wake, closing = nil, nil // the queue is the rest of the memory bound
		}
		select {
		case <-wake:
			batch = w.flush(ctx, batch, &held, false)
			if w.failures.Load() > 0 && retryAt.IsZero() {
				retryAt = time.Now().Add(backoff)
			}
		case <-closing:
			w.drain(ctx, w.take(held, w.opts.QueueSize, true))
			return
		case <-w.abort: // Close gave up while the queue was not being read
			w.giveUp(w.take(held, w.opts.QueueSize, true))
			return
		case <-timer.C:
			batch = w.flush(ctx, batch, &held, true)
			switch {
			case w.failures.Load() > 0:
				if retryAt.IsZero() {
					retryAt = time.Now().Add(backoff)
				} else if !time.Now().Before(retryAt) {
					retry()
				}
			case len(held) > 0 || w.journal.bytes() > 0:
				retry()
			}
			next := w.opts.FlushEvery
			if w.failures.Load() > 0 {
				next = min(next, max(time.Until(retryAt), time.Millisecond))
			} else {
				retryAt = time.Time{}
			}
			timer.Reset(next)
		}
	}
}

// flush writes batches of at most MaxBatch entries from the queue: the
// due ones (all false) or every queued entry, while the writer has room to
// hold what neither the store nor the journal takes.
func (w *Writer) flush(ctx context.Context, batch []Entry, held *[]Entry, all bool) []Entry {
	for len(*held) < w.opts.QueueSize {
		batch = w.take(batch[:0], w.opts.MaxBatch, all)
		if len(batch) == 0 {
			break
		}
		w.write(ctx, batch, held)
	}
	return batch
}

// write stores a batch. While the store fails (failures > 0) it does not
// try the store, which recover probes with a backoff, but appends the
// batch to the journal; when the journal fails too, the batch is held.
func (w *Writer) write(ctx context.Context, batch []Entry, held *[]Entry) {
	if w.failures.Load() == 0 {
		err := w.insert(ctx, batch)
		if err == nil {
			return
		}
		w.fail(err)
	}
	if w.journal != nil {
		err := w.journal.append(batch)
		w.journalFailing.Store(err != nil)
		if err == nil {
			w.spilled.Add(int64(len(batch)))
			return
		}
		w.setErr(err)
	}
	*held = append(*held, batch...)
	w.held.Store(int64(len(*held)))
}

// recover writes the held entries, then replays the journal. On success the
// ledger is ready again.
func (w *Writer) recover(ctx context.Context, held *[]Entry) error {
	for len(*held) > 0 {
		chunk := (*held)[:min(len(*held), w.opts.MaxBatch)]
		if err := w.insert(ctx, chunk); err != nil {
			return err
		}
		*held = (*held)[len(chunk):]
		w.held.Store(int64(len(*held)))
	}
	*held = nil
	n, bad, err := w.journal.replay(func(b []Entry) error { return w.insert(ctx, b) }, w.opts.MaxBatch)
	w.replayed.Add(int64(n))
	if bad > 0 {
		w.lose(int64(bad), "", errors.New("journal lines that do not decode (cut by a crash)"))
	}
	if err != nil {
		return err
	}
	if f := w.failures.Swap(0); f > 0 {
		w.opts.Logger.Info("ledger writes again", "failed_writes", f, "replayed", n)
	} else if n > 0 {
		w.opts.Logger.Info("ledger journal replayed", "entries", n)
	}
	return nil
}

func (w *Writer) insert(ctx context.Context, batch []Entry) error {
	ctx, cancel := context.WithTimeout(ctx, w.opts.WriteTimeout)
	defer cancel()
	return w.sink.InsertEntries(ctx, batch)
}

// drain writes what remains at Close, retrying the store until Close gives
// up; then it counts what is still held as lost.
func (w *Writer) drain(ctx context.Context, rest []Entry) {
	defer w.journal.close()
	var held []Entry
	for i := 0; i < len(rest); i += w.opts.MaxBatch {
		w.write(ctx, rest[i:min(i+w.opts.MaxBatch, len(rest))], &held)
	}
	backoff := 50 * time.Millisecond
	for len(held) > 0 || w.journal.bytes() > 0 {
		err := w.recover(ctx, &held)
		if err == nil {
			return
		}
		w.fail(err)
		if w.journal.append(held) == nil {
			w.spilled.Add(int64(len(held)))
			held = nil
			w.held.Store(0)
			return // the journal is replayed at the next start
		}
		select {
		case <-w.abort:
			w.giveUp(held)
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, w.opts.RetryMax)
	}
}

// giveUp places what remains when Close stops waiting: in the journal if
// it takes them, else they are counted as lost.
func (w *Writer) giveUp(rest []Entry) {
	defer w.journal.close()
	if len(rest) == 0 {
		return
	}
	if err := w.journal.append(rest); err != nil {
		w.lose(int64(len(rest)), rest[0].RequestID, fmt.Errorf("closed while the store and the journal failed: %w", err))
		return
	}
	w.spilled.Add(int64(len(rest)))
}

func (w *Writer) fail(err error) {
	n := w.failures.Add(1)
	w.writeErrors.Add(1)
	w.setErr(err)
	if n == 1 || n == int64(w.opts.FailAfter) || n%100 == 0 {
		w.opts.Logger.Error("ledger write failed; spilling to the journal and retrying", "consecutive_failures", n,
			"held", w.held.Load(), "journal_bytes", w.journal.bytes(), "err", err)
	}
}

func (w *Writer) setErr(err error) {
	w.emu.Lock()
	defer w.emu.Unlock()
	w.lastErr, w.lastErrAt = err.Error(), time.Now()
}

// lose counts n entries as lost and logs it, at most once a second.
func (w *Writer) lose(n int64, requestID string, cause error) {
	w.lost.Add(n)
	w.emu.Lock()
	defer w.emu.Unlock()
	w.lostSince += n
	if time.Since(w.lostLog) < time.Second {
		return
	}
	w.opts.Logger.Error("ledger entries lost: neither the store nor the journal could take them",
		"entries", w.lostSince, "lost_total", w.lost.Load(), "request_id", requestID, "err", cause)
	w.lostLog, w.lostSince = time.Now(), 0
}

// Health is the ledger's state, as /healthz and the admin API report it.
type Health struct {
	// Ready is false while the ledger cannot write: billable requests are
	// refused until it is true again.
	Ready  bool   `json:"ready" doc:"False while the ledger cannot write; billable requests get 503 until it writes again."`
	Reason string `json:"reason,omitempty" doc:"Why the ledger is not ready."`
	// QueueDepth and QueueCapacity are the in-memory queue's fill.
	QueueDepth    int `json:"queue_depth" doc:"Entries queued, not yet written."`
	QueueCapacity int `json:"queue_capacity" doc:"The queue's bound."`
	// Held is the number of entries in memory that neither the store nor
	// the journal took.
	Held                int64      `json:"held" doc:"Entries held in memory because neither the store nor the journal took them."`
	ConsecutiveFailures int64      `json:"consecutive_failures" doc:"Failed store writes since the last success."`
	WriteErrors         int64      `json:"write_errors" doc:"Failed store writes (cumulative)."`
	LastError           string     `json:"last_error,omitempty" doc:"The last store or journal error."`
	LastErrorAt         *time.Time `json:"last_error_at,omitempty"`
	JournalBytes        int64      `json:"journal_bytes" doc:"Bytes in the spill journal, waiting to be replayed."`
	JournalMax          int64      `json:"journal_max_bytes" doc:"The journal's cap."`
	Spilled             int64      `json:"spilled" doc:"Entries written to the journal (cumulative)."`
	Replayed            int64      `json:"replayed" doc:"Entries replayed from the journal into the store (cumulative)."`
	Lost                int64      `json:"lost" doc:"Entries that neither the store nor the journal could take (cumulative)."`
}

// Health reports the ledger's state. It is safe for concurrent use.
func (w *Writer) Health() Health {
	h := Health{QueueDepth: w.Pending(), QueueCapacity: w.opts.QueueSize, Held: w.held.Load(),
		ConsecutiveFailures: w.failures.Load(), WriteErrors: w.writeErrors.Load(), JournalBytes: w.journal.bytes(),
		Spilled: w.spilled.Load(), Replayed: w.replayed.Load(), Lost: w.lost.Load()}
	if w.journal != nil {
		h.JournalMax = w.opts.JournalMax
	}
	w.emu.Lock()
	if w.lastErr != "" {
		h.LastError = w.lastErr
		at := w.lastErrAt.UTC()
		h.LastErrorAt = &at
	}
	w.emu.Unlock()
	h.Reason = w.unready()
	h.Ready = h.Reason == ""
	return h
}

// unready says why the ledger cannot take billable work, or "".
func (w *Writer) unready() string {
	if f := w.failures.Load(); f >= int64(w.opts.FailAfter) {
		return fmt.Sprintf("ledger store failing (%d consecutive failed writes)", f)
	}
	if h := w.held.Load(); h > 0 {
		return fmt.Sprintf("ledger store and journal failing (%d entries held in memory)", h)
	}
	if n, size := w.Pending(), w.opts.QueueSize; n >= size*9/10 {
		// A deep queue while the store writes is a burst, not a failure:
		// Record spills what finds it full to the journal, replayed at the
		// next commit. Refuse only when the journal cannot take the spill.
		switch {
		case w.journal == nil:
			return fmt.Sprintf("ledger queue full (%d of %d)", n, size)
		case w.journalFailing.Load():
			return fmt.Sprintf("ledger queue full (%d of %d) and its journal failing", n, size)
		case w.journal.bytes() >= w.opts.JournalMax*9/10:
			return fmt.Sprintf("ledger queue full (%d of %d) and its journal full", n, size)
		}
	}
	return ""
}

// Admit returns nil when the ledger can record a new billable request. While
// it cannot, Admit waits at most AdmitWait (or until ctx ends) for it to
// recover, and then returns an error wrapping ErrUnavailable with the
// reason.
func (w *Writer) Admit(ctx context.Context) error {
	reason := w.unready()
	if reason == "" {
		return nil
	}
	deadline := time.NewTimer(w.opts.AdmitWait)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s", ErrUnavailable, reason)
		case <-deadline.C:
			return fmt.Errorf("%w: %s", ErrUnavailable, reason)
		case <-tick.C:
			if reason = w.unready(); reason == "" {
				return nil
			}
		}
	}
}

// RetryAfter is the pause a refused client is told to wait: the longest
// pause between two write attempts.
func (w *Writer) RetryAfter() time.Duration { return w.opts.RetryMax }
