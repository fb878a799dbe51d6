package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

// A burst of entries that a slow but working store cannot keep up with
// (the entries of many streams that end together) deepens the queue; the
// overflow goes to the journal and no billable request is refused. Every
// entry is stored exactly once.
func TestBurstOnSlowStoreRefusesNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    ledger.Options
		workers int
		each    int
	}{
		{"defaults, 20000 entries, 50ms a batch", ledger.Options{}, 200, 100},
		{"small queue", ledger.Options{QueueSize: 256, MaxBatch: 64, FlushEvery: 10 * time.Millisecond}, 50, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := slowSink{switchSink: newSwitchSink(), pause: 50 * time.Millisecond}
			opts := tc.opts
			opts.Journal, opts.Logger = filepath.Join(t.TempDir(), "ledger.journal"), quiet
			w, err := ledger.NewWriter(sink, opts)
			if err != nil {
				t.Fatal(err)
			}
			var refused, dropped atomic.Int64
			var reason atomic.Value
			var wg sync.WaitGroup
			for g := range tc.workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range tc.each {
						if err := w.Admit(context.Background()); err != nil {
							refused.Add(1)
							reason.Store(err.Error())
							continue
						}
						if !w.Record(billable(fmt.Sprintf("%d-%d", g, i))) {
							dropped.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			h := w.Health()
			closeWithin(w, 30*time.Second)
			sent := tc.workers * tc.each
			if refused.Load() != 0 || dropped.Load() != 0 {
				t.Errorf("%d of %d refused (%v), %d not recorded; want none", refused.Load(), sent, reason.Load(), dropped.Load())
			}
			if h.Spilled == 0 {
				t.Errorf("nothing spilled: the burst never filled the queue, the test proves nothing (%+v)", h)
			}
			got := sink.stored()
			twice := 0
			for _, n := range got {
				if n != 1 {
					twice++
				}
			}
			if len(got) != sent-int(refused.Load()) || twice != 0 {
				t.Errorf("stored %d distinct entries (%d more than once), want %d once each", len(got), twice, sent)
			}
			t.Logf("spilled %d of %d to the journal during the burst", h.Spilled, sent)
		})
	}
}

// The full-disk guarantees stand beside the burst: a failing store, or a
// deep queue with no journal room to spill to, makes Admit refuse within
// its bound (200ms).
func TestLedgerRefusesWhenItCannotWrite(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   ledger.Options
		fill   bool // hold the store and fill the queue
		reason string
	}{
		{"store failing", ledger.Options{FlushEvery: 5 * time.Millisecond}, false, "ledger store failing"},
		{"queue full, journal at its cap", ledger.Options{QueueSize: 10, MaxBatch: 1, FlushEvery: time.Hour, JournalMax: 1}, true,
			"and its journal"},
		{"queue full, no journal", ledger.Options{QueueSize: 10, MaxBatch: 1, FlushEvery: time.Hour}, true, "ledger queue full (10 of 10)"},
		// The journal's directory is gone: the first spill fails, at nine
		// tenths, and the last tenth takes the entries already admitted.
		{"queue full, journal cannot append", ledger.Options{QueueSize: 10, MaxBatch: 1, FlushEvery: time.Hour}, true,
			"and its journal failing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.Logger = quiet
			switch {
			case strings.Contains(tc.name, "cannot append"):
				opts.Journal = filepath.Join(t.TempDir(), "gone", "ledger.journal")
			case !strings.Contains(tc.name, "no journal"):
				opts.Journal = filepath.Join(t.TempDir(), "ledger.journal")
			}
			var sink ledger.Sink
			release := make(chan struct{})
			if tc.fill {
				sink = blockSink{release: release}
			} else {
				s := newSwitchSink()
				s.down.Store(true)
				sink = s
			}
			w, err := ledger.NewWriter(sink, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { close(release); closeWithin(w, time.Second) }()
			w.Record(billable("first"))
			if tc.fill {
				waitFor(t, 3*time.Second, "the writer did not take the first entry", func() bool { return w.Pending() == 0 })
				for i := range 10 {
					w.Record(billable(fmt.Sprint(i)))
				}
			}
			waitFor(t, 3*time.Second, "still ready", func() bool { return !w.Health().Ready })
			start := time.Now()
			err = w.Admit(context.Background())
			took := time.Since(start)
			if !errors.Is(err, ledger.ErrUnavailable) || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("Admit: %v, want ErrUnavailable: %s", err, tc.reason)
			}
			if took > 200*time.Millisecond+150*time.Millisecond { // slack for a loaded machine
				t.Errorf("refused after %v, want within 200ms", took)
			}
			if h := w.Health(); h.Lost != 0 {
				t.Errorf("%d entries of admitted requests lost, want none: %+v", h.Lost, h)
			}
		})
	}
}
