// Package throttle limits failed attempts per key (a client address, an account, a hashed
// API key) in memory. Both the data plane (invalid API keys per client address) and the
// admin sign-in (failed logins) use it; it depends on nothing else in Sluice.
package throttle

import (
	"hash/maphash"
	"sync"
	"time"
)

// DefaultMaxKeys bounds how many keys a Throttle tracks.
const DefaultMaxKeys = 100_000

const (
	throttleShardBits = 6
	throttleShards    = 1 << throttleShardBits
)

// Throttle limits failed attempts per key (a client IP, an email, a hashed API key).
//
// Each key may fail perMinute times in a burst; after that one more failure is allowed
// every minute/perMinute (a GCRA, so there is no cliff at a window edge). Allow only
// looks; Fail records a failure; Succeed forgets the key. A check-then-act race lets a
// few concurrent attempts through past the limit; callers that need an exact bound
// serialize per key themselves.
//
// Keys are never stored: each is reduced to a 128-bit keyed hash, so an entry costs the
// same for a 5-byte IP and a 1 MiB attacker-chosen email, and Allow never allocates.
// Two keys that collide share a counter; with random seeds that is not something an
// attacker can aim for. At most DefaultMaxKeys keys are tracked: idle keys are
// dropped first and, when every tracked key is still throttled, random ones are. A
// flood of more distinct keys than that within a minute can therefore wash out one
// key's count; pair an IP key with an account key so that one of them holds.
//
// A Throttle is safe for concurrent use. Its memory is per process: with several
// replicas, each one throttles on its own.
type Throttle struct {
	interval int64 // ns between allowed failures: one minute / perMinute
	burst    int64 // ns of debt at which a key is refused: perMinute * interval
	now      func() time.Time
	base     time.Time // zero of the int64 clock below; carries a monotonic reading
	seed1    maphash.Seed
	seed2    maphash.Seed
	perShard int
	shards   [throttleShards]throttleShard
}

type throttleKey [2]uint64

type throttleShard struct {
	// mu guards tat.
	mu sync.Mutex
	// tat is each key's theoretical arrival time in ns since base: the key is refused
	// while tat-now > burst-interval; an entry with tat <= now is idle.
	tat map[throttleKey]int64
	_   [48]byte // pad to 64 bytes: keep neighbouring shards' locks off one cache line
}

// New returns a Throttle that allows perMinute failures per key per minute
// (values below 1 are taken as 1). now is the clock; nil means time.Now.
func New(perMinute int, now func() time.Time) *Throttle {
	return newThrottle(perMinute, now, DefaultMaxKeys)
}

func newThrottle(perMinute int, now func() time.Time, maxKeys int) *Throttle {
	perMinute = max(perMinute, 1)
	if now == nil {
		now = time.Now
	}
	interval := int64(time.Minute) / int64(perMinute)
	t := &Throttle{
		interval: interval,
		burst:    interval * int64(perMinute),
		now:      now,
		base:     now(),
		seed1:    maphash.MakeSeed(),
		seed2:    maphash.MakeSeed(),
		perShard: max(maxKeys/throttleShards, 1),
	}
	for i := range t.shards {
		t.shards[i].tat = make(map[throttleKey]int64)
	}
	return t
}

func (t *Throttle) locate(key string) (*throttleShard, throttleKey) {
	k := throttleKey{maphash.String(t.seed1, key), maphash.String(t.seed2, key)}
	return &t.shards[k[0]>>(64-throttleShardBits)], k
}

func (t *Throttle) clock() int64 { return int64(t.now().Sub(t.base)) }

// Allow reports whether key may make another attempt now and, when it may not, how long
// until it may. It does not count the attempt: call Fail when the attempt fails.
func (t *Throttle) Allow(key string) (ok bool, retryAfter time.Duration) {
	s, k := t.locate(key)
	s.mu.Lock()
	tat, found := s.tat[k]
	s.mu.Unlock()
	if !found {
		return true, 0
	}
	if wait := tat - t.clock() - (t.burst - t.interval); wait > 0 {
		return false, time.Duration(wait)
	}
	return true, 0
}

// Fail records a failed attempt by key.
func (t *Throttle) Fail(key string) {
	s, k := t.locate(key)
	now := t.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	tat, found := s.tat[k]
	if !found && len(s.tat) >= t.perShard {
		t.makeRoom(s, now)
	}
	// Debt is capped at burst so that a key that keeps failing while refused is
	// refused for one interval past its last failure, not for hours.
	s.tat[k] = min(max(tat, now)+t.interval, now+t.burst)
}

// Succeed forgets key's failures. Call it for the key whose credential succeeded (the
// account), not for a key that many clients share (an IP behind a NAT), or one good
// login would reset an attacker's count.
func (t *Throttle) Succeed(key string) {
	s, k := t.locate(key)
	s.mu.Lock()
	delete(s.tat, k)
	s.mu.Unlock()
}

// Len returns how many keys are tracked, idle ones included.
func (t *Throttle) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}

// makeRoom frees at least an eighth of a full shard, so that the O(shard) sweep runs
// once per perShard/8 inserts: idle entries first, then random ones (map order).
// s.mu must be held.
func (t *Throttle) makeRoom(s *throttleShard, now int64) {
	for k, tat := range s.tat {
		if tat <= now {
			delete(s.tat, k)
		}
	}
	target := t.perShard - max(t.perShard/8, 1)
	for k := range s.tat {
		if len(s.tat) <= target {
			break
		}
		delete(s.tat, k)
	}
}
