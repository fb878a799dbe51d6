package trace

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// batcher is a span processor that exports ended spans in batches from
// one goroutine, off the request path. Its queue is bounded: OnEnd never
// blocks, and a span that finds the queue full is dropped and counted.
// (The SDK's own batch processor drops silently, or blocks.)
type batcher struct {
	exp      sdktrace.SpanExporter
	queue    chan sdktrace.ReadOnlySpan
	maxBatch int
	every    time.Duration
	// onDrop and onFail count spans lost to a full queue and to failed
	// exports; either may be nil.
	onDrop, onFail func(n int)

	dropped atomic.Int64
	flushes chan chan struct{}
	stop    chan struct{}
	stopped atomic.Bool
	done    sync.WaitGroup // the export goroutine
}

var _ sdktrace.SpanProcessor = (*batcher)(nil)

func newBatcher(exp sdktrace.SpanExporter, queue, maxBatch int, every time.Duration, onDrop, onFail func(int)) *batcher {
	b := &batcher{
		exp: exp, queue: make(chan sdktrace.ReadOnlySpan, queue), maxBatch: maxBatch, every: every,
		onDrop: onDrop, onFail: onFail, flushes: make(chan chan struct{}), stop: make(chan struct{}),
	}
	b.done.Add(1)
	go b.run()
	return b
}

func (b *batcher) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd queues s for export, or drops it when the queue is full.
func (b *batcher) OnEnd(s sdktrace.ReadOnlySpan) {
	if b.stopped.Load() || !s.SpanContext().IsSampled() {
		return
	}
	select {
	case b.queue <- s:
	default:
		b.dropped.Add(1)
		if b.onDrop != nil {
			b.onDrop(1)
		}
	}
}

// Dropped is the number of spans dropped because the queue was full.
func (b *batcher) Dropped() int64 { return b.dropped.Load() }

func (b *batcher) run() {
	defer b.done.Done()
	tick := time.NewTicker(b.every)
	defer tick.Stop()
	batch := make([]sdktrace.ReadOnlySpan, 0, b.maxBatch)
	export := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := b.exp.ExportSpans(ctx, batch); err != nil && b.onFail != nil {
			b.onFail(len(batch))
		}
		cancel()
		clear(batch)
		batch = batch[:0]
	}
	// drain moves what is queued now into batches and exports them.
	drain := func() {
		for {
			select {
			case s := <-b.queue:
				if batch = append(batch, s); len(batch) == b.maxBatch {
					export()
				}
			default:
				export()
				return
			}
		}
	}
	for {
		select {
		case s := <-b.queue:
			if batch = append(batch, s); len(batch) == b.maxBatch {
				export()
			}
		case <-tick.C:
			export()
		case ack := <-b.flushes:
			drain()
			close(ack)
		case <-b.stop:
			drain()
			return
		}
	}
}

// ForceFlush exports every span queued before the call.
func (b *batcher) ForceFlush(ctx context.Context) error {
	if b.stopped.Load() {
		return nil
	}
	ack := make(chan struct{})
	select {
	case b.flushes <- ack:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown exports what is queued, stops the goroutine and shuts the
// exporter down. Spans ended after it are ignored.
func (b *batcher) Shutdown(ctx context.Context) error {
	if b.stopped.Swap(true) {
		return nil
	}
	close(b.stop)
	finished := make(chan struct{})
	go func() { b.done.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.exp.Shutdown(ctx)
}
