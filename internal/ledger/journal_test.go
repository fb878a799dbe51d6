package ledger_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

var quiet = slog.New(slog.DiscardHandler)

// spill writes ids to the journal at path, as a process whose store cannot
// write leaves them there when it stops. (Its last replay at Close renames
// the journal to path+".replay"; spill moves it back unless that file was
// there before.)
func spill(t *testing.T, path string, ids ...string) {
	t.Helper()
	_, err := os.Stat(path + ".replay")
	interrupted := err == nil
	sink := newSwitchSink()
	sink.down.Store(true)
	w, err := ledger.NewWriter(sink, ledger.Options{Journal: path, FlushEvery: time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if !w.Record(fixedEntry(id)) {
			t.Fatalf("Record(%s) refused", id)
		}
	}
	closeWithin(w, 2*time.Second)
	if h := w.Health(); h.Spilled != int64(len(ids)) || h.Lost != 0 {
		t.Fatalf("spilled %d of %d entries, lost %d", h.Spilled, len(ids), h.Lost)
	}
	if !interrupted {
		if err := os.Rename(path+".replay", path); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

// fixedEntry is a billable entry whose journal line has the same length
// for every id of the same length.
func fixedEntry(id string) ledger.Entry {
	e := billable(id)
	e.Time = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	return e
}

// appendCut adds a line cut by a crash (no newline) to the journal.
func appendCut(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(`{"request_id":"cut-by-the-cra`); err != nil {
		t.Fatal(err)
	}
}

// budgetSink stores its first ok inserts and fails the rest until up is set,
// like a store that fails in the middle of a replay.
type budgetSink struct {
	*switchSink
	mu sync.Mutex
	ok int
}

func (s *budgetSink) InsertEntries(ctx context.Context, b []ledger.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ok > 0 {
		s.ok--
		s.switchSink.mu.Lock()
		defer s.switchSink.mu.Unlock()
		for _, e := range b {
			s.got[e.RequestID]++
		}
		return nil
	}
	return s.switchSink.InsertEntries(ctx, b)
}

// TestReplayCountsEachEntryOnce replays a journal into a store that fails
// for a while: a replay that fails leaves the journal to be replayed again,
// and its entries, replayed or cut, are counted once, when a replay finishes.
func TestReplayCountsEachEntryOnce(t *testing.T) {
	tests := []struct {
		name     string
		good     int  // entries in the journal
		cut      bool // a line cut by a crash at its end
		maxBatch int
		okFirst  int // inserts that succeed before the store fails
	}{
		{"store down from the start, cut line", 1, true, 512, 0},
		{"store down from the start", 3, false, 512, 0},
		{"store fails after the first batch", 3, false, 2, 1},
		{"store fails after the first batch, cut line", 3, true, 2, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ledger.journal")
			var ids []string
			for i := range tc.good {
				ids = append(ids, fmt.Sprint("j", i))
			}
			spill(t, path, ids...)
			wantLost := int64(0)
			if tc.cut {
				appendCut(t, path)
				wantLost = 1
			}

			sink := &budgetSink{switchSink: newSwitchSink(), ok: tc.okFirst}
			sink.down.Store(true)
			w, err := ledger.NewWriter(sink, ledger.Options{Journal: path, FlushEvery: 2 * time.Millisecond, MaxBatch: tc.maxBatch,
				RetryMax: 5 * time.Millisecond, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer closeWithin(w, 2*time.Second)
			waitFor(t, 3*time.Second, "no failed replays", func() bool { return w.Health().ConsecutiveFailures >= 4 })
			if h := w.Health(); h.Replayed != 0 || h.Lost != 0 {
				t.Errorf("with the replay failing: replayed %d, lost %d, want 0 and 0 until a replay finishes", h.Replayed, h.Lost)
			}

			sink.down.Store(false)
			waitFor(t, 3*time.Second, "the journal was not replayed", func() bool {
				h := w.Health()
				return h.Ready && h.JournalBytes == 0
			})
			h := w.Health()
			if h.Replayed != int64(tc.good) || h.Lost != wantLost {
				t.Errorf("after the replay: replayed %d, lost %d, want %d and %d", h.Replayed, h.Lost, tc.good, wantLost)
			}
			if got := sink.stored(); len(got) != tc.good {
				t.Errorf("store has %d entries, want %d", len(got), tc.good)
			}
		})
	}
}

// TestReplayAtStart starts writers on journals left by earlier processes: a
// journal, and one whose replay a crash interrupted (path+".replay").
func TestReplayAtStart(t *testing.T) {
	tests := []struct {
		name              string
		interrupted, tail int // entries in path+".replay" and in path
		maxBatch          int
		cut               bool // the interrupted replay's file ends with a line cut by a crash
	}{
		{"one entry", 0, 1, 512, false},
		{"a batch and one more", 0, 3, 2, false},
		{"two full batches", 0, 4, 2, false},
		{"interrupted replay only", 2, 0, 512, false},
		{"interrupted replay and a journal", 2, 3, 512, false},
		{"interrupted replay and a journal, small batches", 3, 1, 2, false},
		{"interrupted replay with a cut line, and a journal", 2, 3, 512, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ledger.journal")
			var want []string
			if tc.interrupted > 0 {
				var ids []string
				for i := range tc.interrupted {
					ids = append(ids, fmt.Sprint("old", i))
				}
				spill(t, path, ids...)
				if err := os.Rename(path, path+".replay"); err != nil {
					t.Fatal(err)
				}
				if tc.cut {
					appendCut(t, path+".replay")
				}
				want = append(want, ids...)
			}
			if tc.tail > 0 {
				var ids []string
				for i := range tc.tail {
					ids = append(ids, fmt.Sprint("new", i))
				}
				spill(t, path, ids...)
				want = append(want, ids...)
			}

			sink := newSwitchSink()
			// No flush comes for an hour: the journal is replayed as the
			// writer starts, not at its first commit or at Close.
			w, err := ledger.NewWriter(sink, ledger.Options{Journal: path, MaxBatch: tc.maxBatch, FlushEvery: time.Hour, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, 3*time.Second, "the journal was not replayed at start", func() bool { return len(sink.stored()) == len(want) })
			if err := w.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := sink.stored()
			for _, id := range want {
				if got[id] != 1 {
					t.Errorf("entry %s stored %d times, want 1", id, got[id])
				}
			}
			wantLost := int64(0)
			if tc.cut {
				wantLost = 1
			}
			if h := w.Health(); h.Replayed != int64(len(want)) || h.Lost != wantLost || h.JournalBytes != 0 || len(got) != len(want) {
				t.Errorf("health %+v, %d stored, want %d replayed and stored, %d lost, an empty journal", h, len(got), len(want), wantLost)
			}
			for _, p := range []string{path, path + ".replay"} {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("%s remains after the replay (err %v)", p, err)
				}
			}
		})
	}
}

// TestJournalCap fills the journal to exactly its cap: the cap is the most
// bytes the journal holds, so an entry that ends exactly there fits.
func TestJournalCap(t *testing.T) {
	// The size of one entry's line, measured with an uncapped journal.
	probe := filepath.Join(t.TempDir(), "probe.journal")
	spill(t, probe, "e0")
	fi, err := os.Stat(probe)
	if err != nil {
		t.Fatal(err)
	}
	line := fi.Size()

	tests := []struct {
		name      string
		max       int64
		wantSpill int64
	}{
		{"cap one byte short of one entry", line - 1, 0},
		{"cap exactly one entry", line, 1},
		{"cap exactly two entries", 2 * line, 2},
		{"cap one byte short of two entries", 2*line - 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ledger.journal")
			sink := newSwitchSink()
			sink.down.Store(true)
			w, err := ledger.NewWriter(sink, ledger.Options{Journal: path, JournalMax: tc.max, FlushEvery: time.Hour, MaxBatch: 1,
				Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer closeWithin(w, 100*time.Millisecond)
			// Each entry fills a batch: the writer writes it at once, and
			// spills it to the journal when the store fails.
			for _, id := range []string{"e0", "e1"} {
				w.Record(fixedEntry(id))
				waitFor(t, 3*time.Second, "the entry was not written", func() bool {
					h := w.Health()
					return w.Pending() == 0 && h.Spilled+h.Held > 0 && h.WriteErrors > 0
				})
				time.Sleep(5 * time.Millisecond)
			}
			waitFor(t, 3*time.Second, "the entries were not placed", func() bool {
				h := w.Health()
				return h.Spilled+h.Held == 2
			})
			if h := w.Health(); h.Spilled != tc.wantSpill || h.JournalBytes != tc.wantSpill*line || h.JournalMax != tc.max {
				t.Errorf("spilled %d (%d bytes of %d), want %d (%d bytes)", h.Spilled, h.JournalBytes, h.JournalMax, tc.wantSpill, tc.wantSpill*line)
			}
		})
	}
}

// The journal holds billing records: only the gateway's user may read it.
func TestJournalIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.journal")
	spill(t, path, "e0")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("journal mode %v, want -rw-------", perm)
	}
}

// A journal path that cannot be a file (its directory is a file) is a
// configuration error that NewWriter reports.
func TestNewWriterJournalPathError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := ledger.NewWriter(newSwitchSink(), ledger.Options{Journal: filepath.Join(file, "ledger.journal"), Logger: quiet})
	if err == nil || w != nil {
		t.Fatalf("NewWriter = %v, %v; want an error", w, err)
	}
}

// slowSink stores every batch, each after a pause: a store that is slower
// than the requests, not failing.
type slowSink struct {
	*switchSink
	pause time.Duration
}

func (s slowSink) InsertEntries(ctx context.Context, b []ledger.Entry) error {
	time.Sleep(s.pause)
	return s.switchSink.InsertEntries(ctx, b)
}

// Entries that found the queue full while the store writes (slowly) are
// spilled to the journal and replayed at the next commit, without waiting
// for a failure or for Close.
func TestSpillReplayedWhileStoreWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.journal")
	sink := slowSink{switchSink: newSwitchSink(), pause: 20 * time.Millisecond}
	w, err := ledger.NewWriter(sink, ledger.Options{Journal: path, QueueSize: 2, MaxBatch: 1, RecordWait: time.Millisecond,
		FlushEvery: 5 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer closeWithin(w, 2*time.Second)
	const sent = 20
	for i := range sent {
		if !w.Record(billable(fmt.Sprint(i))) {
			t.Fatalf("Record %d refused", i)
		}
	}
	if w.Health().Spilled == 0 {
		t.Fatal("nothing spilled: the queue never filled")
	}
	waitFor(t, 5*time.Second, "the spilled entries were not replayed", func() bool {
		h := w.Health()
		return len(sink.stored()) == sent && h.JournalBytes == 0
	})
	if h := w.Health(); h.Replayed != h.Spilled || h.WriteErrors != 0 || h.Lost != 0 {
		t.Errorf("health %+v: want every spilled entry replayed, no write error, none lost", h)
	}
}
