package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
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
