package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestLease(t *testing.T) { forEach(t, testLease) }

func testLease(t *testing.T, s *Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	// Twenty nodes race for a free lease: exactly one wins.
	var mu sync.Mutex
	var winners []string
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := fmt.Sprintf("node-%d", i)
			ok, err := s.AcquireLease(ctx, "l", h, t0, 10*time.Second)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				winners = append(winners, h)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("winners %v, want one", winners)
	}
	w := winners[0]
	for _, tc := range []struct {
		name   string
		holder string
		at     time.Duration
		want   bool
	}{
		{"another node while it is held", "other", 5 * time.Second, false},
		{"the holder renews", w, 9 * time.Second, true},
		{"another node before the renewed expiry", "other", 18 * time.Second, false},
		{"another node after expiry", "other", 19 * time.Second, true},
		{"the old holder has lost it", w, 20 * time.Second, false},
	} {
		ok, err := s.AcquireLease(ctx, "l", tc.holder, t0.Add(tc.at), 10*time.Second)
		if err != nil || ok != tc.want {
			t.Fatalf("%s: %v, %v; want %v", tc.name, ok, err, tc.want)
		}
	}
	if h, _, err := s.LeaseHolder(ctx, "l"); err != nil || h != "other" {
		t.Fatalf("holder %q, %v", h, err)
	}
	if err := s.ReleaseLease(ctx, "l", w); err != nil { // not the holder: nothing happens
		t.Fatal(err)
	}
	if h, _, _ := s.LeaseHolder(ctx, "l"); h != "other" {
		t.Fatalf("a non-holder released the lease")
	}
	if err := s.ReleaseLease(ctx, "l", "other"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LeaseHolder(ctx, "l"); err != ErrNotFound {
		t.Fatalf("released lease: %v", err)
	}
}
