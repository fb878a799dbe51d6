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
	queue   chan Entry
	done    chan struct{}
	abort   chan struct{} // closed by Close when its context ends

	mu     sync.RWMutex // guards closed: Record holds it shared while it sends, Close exclusively
	closed bool

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
	w := &Writer{sink: sink, opts: opts, queue: make(chan Entry, opts.QueueSize), done: make(chan struct{}), abort: make(chan struct{})}
	if opts.Journal != "" {
		j, err := openJournal(opts.Journal, opts.JournalMax)
		if err != nil {
			return nil, err
		}
		w.journal = j
	}
	go w.run()
	return w, nil
}

// Record queues e. It is safe for concurrent use and never blocks for
// long: when the queue is full it waits at most RecordWait (not at all
// while the store fails) and then appends e to the journal. An entry that
// fits neither is counted as lost and logged, and Record returns false.
// While the store fails, entries that reached no upstream (no attempts:
// nothing to bill) leave the last quarter of the queue to billable ones.
// After Close it writes nothing and returns false.
func (w *Writer) Record(e Entry) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return false
	}
	failing := w.failures.Load() > 0
	if !failing && w.spillBurst(e) {
		return true
	}
	if !failing || len(e.Attempts) > 0 || len(w.queue) < w.opts.QueueSize*3/4 {
		select {
		case w.queue <- e:
			return true
		default:
		}
		if !failing {
			t := time.NewTimer(w.opts.RecordWait)
			select {
			case w.queue <- e:
				t.Stop()
				return true
			case <-t.C:
			}
		}
	}
	err := w.journal.append([]Entry{e})
	w.journalFailing.Store(err != nil && w.journal != nil)
	if err == nil {
		w.spilled.Add(1)
		return true
	}
	w.lose(1, e.RequestID, err)
	return false
}

// spillBurst appends e to the journal when the queue is nine tenths full
// while the store writes: a burst that the store takes slowly. A failed
// append marks the journal failing, which makes Admit refuse while the
// queue is deep, and leaves e to the queue's last tenth, kept for the
// requests already admitted.
func (w *Writer) spillBurst(e Entry) bool {
	if w.journal == nil || w.journalFailing.Load() || len(w.queue) < w.opts.QueueSize*9/10 {
		return false
	}
	if err := w.journal.append([]Entry{e}); err != nil {
		w.journalFailing.Store(true)
		w.setErr(err)
		return false
	}
	w.spilled.Add(1)
	return true
}

// Pending is the number of entries queued and not yet written.
func (w *Writer) Pending() int { return len(w.queue) }

// Close drains the queue, writes what remains (to the journal if the store
// fails) and waits for the writer to stop, or for ctx to end: then it stops
// the writer, and entries that neither the store nor the journal took are
// counted as lost.
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
		queue := w.queue
		if len(held) >= w.opts.QueueSize {
			queue = nil // the queue is the rest of the memory bound
		}
		select {
		case e, ok := <-queue:
			if !ok {
				w.drain(ctx, append(held, batch...))
				return
			}
			batch = append(batch, e)
			if len(batch) >= w.opts.MaxBatch {
				w.write(ctx, batch, &held)
				batch = batch[:0]
				if w.failures.Load() > 0 && retryAt.IsZero() {
					retryAt = time.Now().Add(backoff)
				}
			}
		case <-w.abort: // Close gave up while the queue was not being read
			rest := append(held, batch...)
			for e := range w.queue {
				rest = append(rest, e)
			}
			w.giveUp(rest)
			return
		case <-timer.C:
			if len(batch) > 0 {
				w.write(ctx, batch, &held)
				batch = batch[:0]
			}
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
	h := Health{QueueDepth: len(w.queue), QueueCapacity: cap(w.queue), Held: w.held.Load(),
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
	if n := len(w.queue); n >= cap(w.queue)*9/10 {
		// A deep queue while the store writes is a burst, not a failure:
		// Record spills what finds it full to the journal, replayed at the
		// next commit. Refuse only when the journal cannot take the spill.
		switch {
		case w.journal == nil:
			return fmt.Sprintf("ledger queue full (%d of %d)", n, cap(w.queue))
		case w.journalFailing.Load():
			return fmt.Sprintf("ledger queue full (%d of %d) and its journal failing", n, cap(w.queue))
		case w.journal.bytes() >= w.opts.JournalMax*9/10:
			return fmt.Sprintf("ledger queue full (%d of %d) and its journal full", n, cap(w.queue))
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
