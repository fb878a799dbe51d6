package ledger_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/store"
)

// switchSink fails every write while down, like a store on a full disk,
// and counts how often each request id was stored.
type switchSink struct {
	down atomic.Bool
	mu   sync.Mutex
	got  map[string]int
}

func newSwitchSink() *switchSink { return &switchSink{got: map[string]int{}} }

func (s *switchSink) InsertEntries(_ context.Context, b []ledger.Entry) error {
	if s.down.Load() {
		return errors.New("database or disk is full (5) (SQLITE_FULL)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range b {
		s.got[e.RequestID]++
	}
	return nil
}

func (s *switchSink) stored() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.got))
	for k, v := range s.got {
		out[k] = v
	}
	return out
}

func billable(id string) ledger.Entry {
	return ledger.Entry{RequestID: id, Time: time.Now(), Endpoint: "chat.completions", Status: ledger.StatusOK, HTTPStatus: 200,
		Model: "m", Provider: "p", InputTokens: 10, OutputTokens: 20, CostMicros: 7, Latency: 1500 * time.Microsecond,
		Attempts: []ledger.Attempt{{N: 1, Provider: "p", Model: "m", Status: ledger.StatusOK, HTTPStatus: 200, Latency: time.Millisecond}}}
}

// closeWithin closes w, giving up after d (a store that never comes back
// would keep Close waiting).
func closeWithin(w *ledger.Writer, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_ = w.Close(ctx)
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

func TestWriterWhenStoreCannotWrite(t *testing.T) {
	const sent = 300
	tests := []struct {
		name       string
		journalMax int64 // 0: no journal
		wantLost   bool
	}{
		// The journal takes what the store cannot: nothing is lost.
		{"journal takes the spill", 1 << 20, false},
		// The journal is on the same full disk: the writer holds a queue's
		// worth in memory, then Record counts the rest as lost.
		{"journal cannot write either", 0, true},
		// The journal reached its byte cap: the same, with what fit in it.
		{"journal at its cap", 4 << 10, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := newSwitchSink()
			opts := ledger.Options{FlushEvery: 5 * time.Millisecond, MaxBatch: 16, QueueSize: 64, RetryMax: 40 * time.Millisecond,
				AdmitWait: 150 * time.Millisecond}
			if tc.journalMax > 0 {
				opts.Journal, opts.JournalMax = filepath.Join(t.TempDir(), "ledger.journal"), tc.journalMax
			}
			w, err := ledger.NewWriter(sink, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer closeWithin(w, 2*time.Second)
			if err := w.Admit(context.Background()); err != nil {
				t.Fatalf("Admit on a healthy ledger: %v", err)
			}

			sink.down.Store(true)
			accepted := map[string]bool{}
			var slowest time.Duration
			for i := range sent {
				id := fmt.Sprintf("r%d", i)
				start := time.Now()
				if w.Record(billable(id)) {
					accepted[id] = true
				}
				slowest = max(slowest, time.Since(start))
			}
			if slowest > 500*time.Millisecond { // RecordWait is 20ms; the bound is loose for loaded machines
				t.Errorf("Record blocked %v with the store down, want at most 500ms", slowest)
			}
			waitFor(t, 3*time.Second, "the ledger still reports ready with the store down", func() bool {
				h := w.Health()
				return !h.Ready && h.ConsecutiveFailures >= 3
			})
			start := time.Now()
			err = w.Admit(context.Background())
			if took := time.Since(start); !errors.Is(err, ledger.ErrUnavailable) || took < 100*time.Millisecond || took > time.Second {
				t.Errorf("Admit with the store down = %v after %v, want ErrUnavailable after about 150ms", err, took)
			}
			h := w.Health()
			if h.LastError == "" || h.WriteErrors < 3 || h.Reason == "" {
				t.Errorf("health with the store down = %+v, want the reason, the last error and the write errors", h)
			}
			if lost := h.Lost; (lost > 0) != tc.wantLost || int(lost)+len(accepted) != sent {
				t.Errorf("lost %d and accepted %d of %d, want lost>0 = %v", lost, len(accepted), sent, tc.wantLost)
			}
			if !tc.wantLost && h.JournalBytes == 0 {
				t.Errorf("journal holds %d bytes with the store down", h.JournalBytes)
			}
			if tc.wantLost && h.Held == 0 {
				t.Errorf("no entries held in memory with the journal failing: %+v", h)
			}

			sink.down.Store(false)
			took := waitFor(t, 3*time.Second, "the ledger did not recover after the store came back", func() bool {
				h := w.Health()
				return h.Ready && h.JournalBytes == 0 && h.Held == 0 && w.Pending() == 0 && len(sink.stored()) == len(accepted)
			})
			t.Logf("recovered %d entries in %v after the store came back", len(accepted), took)
			if err := w.Admit(context.Background()); err != nil {
				t.Errorf("Admit after recovery: %v", err)
			}
			for id, n := range sink.stored() {
				if n != 1 || !accepted[id] {
					t.Errorf("entry %s stored %d times (accepted: %v)", id, n, accepted[id])
				}
			}
		})
	}
}

// TestJournalReplayedAfterKill kills a process with entries in its journal
// and starts a writer on the same journal, as a restart does.
func TestJournalReplayedAfterKill(t *testing.T) {
	const n = 500
	if path := os.Getenv("SLUICE_LEDGER_CHILD_JOURNAL"); path != "" {
		journalChild(path, n)
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.journal")
	cmd := exec.Command(os.Args[0], "-test.run=^TestJournalReplayedAfterKill$")
	cmd.Env = append(os.Environ(), "SLUICE_LEDGER_CHILD_JOURNAL="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "spilled" {
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no Close, no drain
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// A crash in the middle of an append leaves a cut line.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`{"request_id":"cut-by-the-cra`)
	f.Close()

	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w, err := ledger.NewWriter(st, ledger.Options{Journal: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := st.CountRequests(context.Background())
	if err != nil || got != n {
		t.Fatalf("after the restart the store has %d entries (err %v), want the %d from the journal", got, err, n)
	}
	if h := w.Health(); h.Replayed != n || h.Lost != 1 || h.JournalBytes != 0 {
		t.Fatalf("health after replay = %+v, want %d replayed, the cut line lost, an empty journal", h, n)
	}
	for _, p := range []string{path, path + ".replay"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s remains after the replay (err %v)", p, err)
		}
	}
}

// journalChild records n entries against a store that cannot write, says
// "spilled" once they are all in the journal, and waits to be killed.
func journalChild(path string, n int) {
	sink := newSwitchSink()
	sink.down.Store(true)
	w, err := ledger.NewWriter(sink, ledger.Options{Journal: path, FlushEvery: 5 * time.Millisecond})
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	for i := range n {
		w.Record(billable("k" + strconv.Itoa(i)))
	}
	for w.Health().Spilled < int64(n) {
		time.Sleep(time.Millisecond)
	}
	fmt.Println("spilled")
	time.Sleep(time.Minute)
	os.Exit(3)
}
