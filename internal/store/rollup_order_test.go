package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

// Ledger batches from several nodes touch the same rollup rows in
// different orders; they must never deadlock. On PostgreSQL an unordered
// upsert deadlocks within a few rounds (and one batch fails after the
// server's deadlock_timeout); SQLite has one writer and runs the same test
// as a check of the sums.
func TestRollupUpsertsNeverDeadlock(t *testing.T) { forEach(t, testRollupUpsertsNeverDeadlock) }

func testRollupUpsertsNeverDeadlock(t *testing.T, s *Store) {
	ctx := context.Background()
	if err := s.PrepareRollups(ctx); err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Truncate(time.Minute)
	const writers, rounds, models = 4, 6, 24
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for r := range rounds {
				batch := make([]ledger.Entry, models)
				for i := range batch {
					batch[i] = ledger.Entry{RequestID: fmt.Sprintf("w%d-r%d-%d", w, r, i), Time: base,
						Endpoint: "chat.completions", Model: fmt.Sprintf("m%02d", i), Status: ledger.StatusOK,
						HTTPStatus: 200, Attempts: []ledger.Attempt{}}
				}
				rng.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
				if err := s.InsertEntries(ctx, batch); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a ledger batch failed: %v", err)
	}
	n, err := s.CountRequests(ctx)
	if err != nil || n != writers*rounds*models {
		t.Fatalf("requests = %d, %v; want %d", n, err, writers*rounds*models)
	}
	var sum int64
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(SUM(requests), 0) FROM analytics_rollup WHERE grain = 'm'`).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if sum != writers*rounds*models {
		t.Errorf("rollup requests = %d, want %d", sum, writers*rounds*models)
	}
}
