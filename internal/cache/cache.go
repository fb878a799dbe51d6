package cache

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Key identifies an answer. It is a SHA-256 over the scope, the client
// protocol, the resolved model and target, and the canonical request, so
// that a request from another scope (by default another organisation)
// never shares an entry.
type Key [32]byte

// String is the key in hexadecimal.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// Request is what an answer depends on.
type Request struct {
	// Scope isolates tenants: the organisation id by default, or a wider
	// name when sharing is configured explicitly.
	Scope string
	// Protocol is the client protocol (answers are stored in its shape).
	Protocol string
	// Model and Target are the model the client named and the upstream
	// (provider and model) that answers it.
	Model, Target string
	// Body is the client's JSON request.
	Body []byte
	// Drop lists top-level members that do not change the answer (for
	// example "stream" and "stream_options", when a hit is replayed in
	// either form).
	Drop []string
}

// KeyOf computes a request's key.
func KeyOf(r Request) (Key, error) {
	canon, err := Canonical(r.Body, r.Drop...)
	if err != nil {
		return Key{}, err
	}
	h := sha256.New()
	for _, part := range []string{"sluice-cache-v1", r.Scope, r.Protocol, r.Model, r.Target} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write([]byte(part))
	}
	h.Write(canon)
	var k Key
	h.Sum(k[:0])
	return k, nil
}

// Store keeps answers. Implementations are safe for concurrent use. A Get
// of an expired entry is a miss.
type Store interface {
	Get(ctx context.Context, k Key) ([]byte, bool, error)
	Set(ctx context.Context, k Key, value []byte, ttl time.Duration) error
	Delete(ctx context.Context, k Key) error
}

// Stats count a store's traffic.
type Stats struct {
	Hits, Misses, Sets, Evictions atomic.Int64
}

// Memory is a Store bounded in bytes: when full it drops the least
// recently used entries. Values are copied in and out.
type Memory struct {
	max   int64
	now   func() time.Time
	Stats Stats

	mu sync.Mutex // guards the fields below
	ll *list.List // front: most recently used
	m  map[Key]*list.Element
	n  int64 // bytes held (values plus per-entry overhead)
}

type entry struct {
	key     Key
	value   []byte
	expires time.Time
}

// entryOverhead approximates an entry's bookkeeping bytes.
const entryOverhead = 128

// NewMemory returns a store holding at most maxBytes.
func NewMemory(maxBytes int64) *Memory {
	return &Memory{max: maxBytes, now: time.Now, ll: list.New(), m: map[Key]*list.Element{}}
}

// Bytes is what the store holds now.
func (c *Memory) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Len is the number of entries.
func (c *Memory) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

func (c *Memory) Get(_ context.Context, k Key) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[k]
	if !ok {
		c.Stats.Misses.Add(1)
		return nil, false, nil
	}
	e := el.Value.(*entry)
	if !c.now().Before(e.expires) {
		c.remove(el)
		c.Stats.Misses.Add(1)
		return nil, false, nil
	}
	c.ll.MoveToFront(el)
	c.Stats.Hits.Add(1)
	return append([]byte(nil), e.value...), true, nil
}

// ErrTooLarge is returned for a value larger than the whole store.
var ErrTooLarge = errors.New("cache: value larger than the cache")

func (c *Memory) Set(_ context.Context, k Key, value []byte, ttl time.Duration) error {
	size := int64(len(value)) + entryOverhead
	if size > c.max {
		return ErrTooLarge
	}
	if ttl <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[k]; ok {
		c.remove(el)
	}
	for c.n+size > c.max {
		c.remove(c.ll.Back())
		c.Stats.Evictions.Add(1)
	}
	e := &entry{key: k, value: append([]byte(nil), value...), expires: c.now().Add(ttl)}
	c.m[k] = c.ll.PushFront(e)
	c.n += size
	c.Stats.Sets.Add(1)
	return nil
}

func (c *Memory) Delete(_ context.Context, k Key) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[k]; ok {
		c.remove(el)
	}
	return nil
}

// remove drops el; c.mu is held.
func (c *Memory) remove(el *list.Element) {
	e := el.Value.(*entry)
	c.ll.Remove(el)
	delete(c.m, e.key)
	c.n -= int64(len(e.value)) + entryOverhead
}

// Redis is a Store shared by every node through Redis; entries expire with
// Redis's own TTL.
type Redis struct {
	c      redis.UniversalClient
	prefix string
	Stats  Stats
}

// NewRedis returns a store in Redis under keys "<prefix>cache:<hex>".
func NewRedis(c redis.UniversalClient, prefix string) *Redis {
	return &Redis{c: c, prefix: prefix + "cache:"}
}

// DialRedis returns a store in the Redis at addr (host:port or a redis://
// URL) under keys "sluice:cache:<hex>", each operation bounded by timeout.
// It does not connect: the first operation does, and a Redis that is down
// is a failed operation, which the data plane treats as a miss.
func DialRedis(addr string, timeout time.Duration) (*Redis, error) {
	opt := &redis.Options{Addr: addr}
	if strings.Contains(addr, "://") {
		var err error
		if opt, err = redis.ParseURL(addr); err != nil {
			return nil, fmt.Errorf("redis address: %w", err)
		}
	}
	if opt.Addr == "" {
		return nil, errors.New("redis address: empty")
	}
	opt.Protocol = 2 // RESP2: Redis and Valkey both speak it
	opt.DisableIdentity = true
	opt.MaxRetries = -1
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = timeout, timeout, timeout, timeout
	opt.ContextTimeoutEnabled = true
	return NewRedis(redis.NewClient(opt), "sluice:"), nil
}

// Close closes the store's connections.
func (r *Redis) Close() error { return r.c.Close() }

func (r *Redis) Get(ctx context.Context, k Key) ([]byte, bool, error) {
	v, err := r.c.Get(ctx, r.prefix+k.String()).Bytes()
	if errors.Is(err, redis.Nil) {
		r.Stats.Misses.Add(1)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	r.Stats.Hits.Add(1)
	return v, true, nil
}

func (r *Redis) Set(ctx context.Context, k Key, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return nil
	}
	r.Stats.Sets.Add(1)
	return r.c.Set(ctx, r.prefix+k.String(), value, ttl).Err()
}

func (r *Redis) Delete(ctx context.Context, k Key) error {
	return r.c.Del(ctx, r.prefix+k.String()).Err()
}

var (
	_ Store = (*Memory)(nil)
	_ Store = (*Redis)(nil)
)
