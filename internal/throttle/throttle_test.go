package throttle

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestThrottleBurstThenRate(t *testing.T) {
	clk := newFakeClock()
	th := New(5, clk.Now) // 5 per minute: one every 12 s after the burst
	for i := range 5 {
		if ok, _ := th.Allow("1.2.3.4"); !ok {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
		th.Fail("1.2.3.4")
	}
	ok, retry := th.Allow("1.2.3.4")
	if ok || retry != 12*time.Second {
		t.Fatalf("after 5 failures Allow = %v, %v; want false, 12s", ok, retry)
	}
	if ok, _ := th.Allow("5.6.7.8"); !ok {
		t.Fatal("another key is refused")
	}
	clk.Advance(11 * time.Second)
	if ok, retry := th.Allow("1.2.3.4"); ok || retry != time.Second {
		t.Fatalf("after 11 s Allow = %v, %v; want false, 1s", ok, retry)
	}
	clk.Advance(time.Second)
	if ok, _ := th.Allow("1.2.3.4"); !ok {
		t.Fatal("refused after retryAfter elapsed")
	}
	th.Fail("1.2.3.4") // one more failure uses the one slot that came back
	if ok, retry := th.Allow("1.2.3.4"); ok || retry != 12*time.Second {
		t.Fatalf("after the slot was used Allow = %v, %v; want false, 12s", ok, retry)
	}
	clk.Advance(time.Minute)
	for i := range 5 {
		if ok, _ := th.Allow("1.2.3.4"); !ok {
			t.Fatalf("after a quiet minute attempt %d refused", i+1)
		}
		th.Fail("1.2.3.4")
	}
	if ok, _ := th.Allow("1.2.3.4"); ok {
		t.Fatal("the full burst did not come back exactly")
	}
}

func TestThrottleDebtIsCapped(t *testing.T) {
	clk := newFakeClock()
	th := New(10, clk.Now)
	for range 1000 { // a client that keeps failing while refused
		th.Fail("k")
	}
	ok, retry := th.Allow("k")
	if ok || retry != 6*time.Second {
		t.Fatalf("Allow = %v, %v; want false, one interval (6s)", ok, retry)
	}
	clk.Advance(6 * time.Second)
	if ok, _ := th.Allow("k"); !ok {
		t.Fatal("still refused one interval after the last failure")
	}
}

func TestThrottleSucceedClears(t *testing.T) {
	clk := newFakeClock()
	th := New(2, clk.Now)
	th.Fail("admin@example.com")
	th.Fail("admin@example.com")
	if ok, _ := th.Allow("admin@example.com"); ok {
		t.Fatal("not throttled after 2 failures")
	}
	th.Succeed("admin@example.com")
	if ok, _ := th.Allow("admin@example.com"); !ok {
		t.Fatal("still throttled after Succeed")
	}
	if th.Len() != 0 {
		t.Fatalf("Len = %d after Succeed, want 0", th.Len())
	}
}

func TestThrottleLowPerMinute(t *testing.T) {
	clk := newFakeClock()
	th := New(0, clk.Now) // taken as 1
	if ok, _ := th.Allow("k"); !ok {
		t.Fatal("first attempt refused")
	}
	th.Fail("k")
	if ok, retry := th.Allow("k"); ok || retry != time.Minute {
		t.Fatalf("Allow = %v, %v; want false, 1m", ok, retry)
	}
}

func TestThrottleMemoryBounded(t *testing.T) {
	clk := newFakeClock()
	const maxKeys = 64 * 16
	th := newThrottle(3, clk.Now, maxKeys)
	for i := range 50_000 {
		th.Fail(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255))
	}
	if n := th.Len(); n > maxKeys || n < maxKeys/2 {
		t.Fatalf("Len = %d after 50k distinct active keys, want <= %d (and not emptied)", n, maxKeys)
	}
}

// TestThrottleEvictsIdleFirst fills one shard with idle keys and one throttled key, then
// adds a key to that shard: the idle keys go, the throttled one stays.
func TestThrottleEvictsIdleFirst(t *testing.T) {
	clk := newFakeClock()
	th := newThrottle(3, clk.Now, 64*8) // 8 keys per shard
	const victim = "victim@example.com"
	shard, _ := th.locate(victim)
	var same []string // keys in the victim's shard
	for i := 0; len(same) < 8; i++ {
		k := fmt.Sprintf("other-%d", i)
		if s, _ := th.locate(k); s == shard {
			same = append(same, k)
		}
	}
	for _, k := range same[:7] {
		th.Fail(k)
	}
	clk.Advance(2 * time.Minute) // those 7 are idle now
	for range 3 {
		th.Fail(victim)
	}
	if len(shard.tat) != 8 {
		t.Fatalf("shard holds %d keys, want 8 (full)", len(shard.tat))
	}
	th.Fail(same[7]) // needs room
	if ok, _ := th.Allow(victim); ok {
		t.Fatal("the throttled key was evicted while idle keys were there")
	}
	if len(shard.tat) != 2 {
		t.Fatalf("shard holds %d keys after the sweep, want 2", len(shard.tat))
	}
}

func TestThrottleAllowDoesNotAllocate(t *testing.T) {
	th := New(5, nil)
	th.Fail("present")
	key := "absent"
	if n := testing.AllocsPerRun(1000, func() {
		th.Allow("present")
		th.Allow(key)
	}); n != 0 {
		t.Fatalf("Allow allocates %.1f times per call", n)
	}
	if n := testing.AllocsPerRun(1000, func() { th.Fail("present") }); n != 0 {
		t.Fatalf("Fail on a tracked key allocates %.1f times per call", n)
	}
}

func TestThrottleConcurrent(t *testing.T) {
	th := New(5, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := fmt.Sprintf("k%d", (g*7+i)%50)
				if ok, _ := th.Allow(k); ok {
					th.Fail(k)
				}
				if i%97 == 0 {
					th.Succeed(k)
				}
			}
		})
	}
	wg.Wait()
	if n := th.Len(); n > 50 {
		t.Fatalf("Len = %d, want <= 50 keys", n)
	}
}
