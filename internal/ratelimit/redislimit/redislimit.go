// Package redislimit is the Redis (or Valkey) implementation of
// ratelimit.Store: the limits, budget reservations and concurrency leases
// that every node of a cluster shares, each operation one atomic Lua script
// and one round trip (see scripts.go for the keys). The admission of several
// subjects at once (a request's key, team, organisation...) is one script
// too: all or none, with no other client's command in between, so it needs a
// single Redis or Valkey, not a Redis Cluster.
//
// It also carries the cluster's "keys changed" notice (PublishKeysChanged,
// WatchKeys), so that a key revoked on one node stops working on every node.
//
// The client fails fast: no retries, and every dial, read and write bounded
// by Options.Timeout, because the ratelimit.Limiter in front of it decides
// locally whenever it fails.
package redislimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/sluicehq/sluice/internal/ratelimit"
)

// Options configure a Store.
type Options struct {
	// Addr is host:port, or a redis:// or rediss:// URL (with a password
	// and database number if needed).
	Addr string
	// Timeout bounds dialing, reading and writing (default
	// ratelimit.DefaultTimeout); callers
	// bound each operation with their context as well.
	Timeout time.Duration
	// PoolSize is the most connections (default 64).
	PoolSize int
	// Prefix starts every key name (default "sluice:rl:"), so that a Redis
	// can serve several clusters.
	Prefix string
}

// Store is limiter state in Redis.
type Store struct {
	c      *redis.Client
	prefix string
	addr   string
}

var _ ratelimit.Store = (*Store)(nil)

// clientLog sends go-redis's own log lines to slog at debug level. The
// client logs every failed dial, a line per probe during an outage, which
// the Limiter already reports once (and in its health).
type clientLog struct{}

func (clientLog) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}

var setLogger sync.Once

// New returns a Store for the Redis at o.Addr. It does not connect: the
// first operation does, and a Redis that is down is only a failed operation.
func New(o Options) (*Store, error) {
	if o.Timeout <= 0 {
		o.Timeout = ratelimit.DefaultTimeout
	}
	if o.PoolSize <= 0 {
		o.PoolSize = 64
	}
	if o.Prefix == "" {
		o.Prefix = "sluice:rl:"
	}
	setLogger.Do(func() { redis.SetLogger(clientLog{}) }) // process-wide
	opt := &redis.Options{Addr: o.Addr}
	if strings.Contains(o.Addr, "://") {
		var err error
		if opt, err = redis.ParseURL(o.Addr); err != nil {
			return nil, fmt.Errorf("redis address: %w", err)
		}
	}
	if opt.Addr == "" {
		return nil, errors.New("redis address: empty")
	}
	opt.Protocol = 2 // RESP2: Redis and Valkey both speak it (the client still opens each connection with HELLO 2)
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	opt.MaxRetries = -1
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = o.Timeout, o.Timeout, o.Timeout, o.Timeout
	opt.DialerRetries = 1
	opt.ContextTimeoutEnabled = true
	opt.PoolSize = o.PoolSize
	return &Store{c: redis.NewClient(opt), prefix: o.Prefix, addr: opt.Addr}, nil
}

// Close closes the connections.
func (s *Store) Close() error { return s.c.Close() }

// String names the store for logs and health.
func (s *Store) String() string { return "redis " + s.addr }

// key names one of key id's Redis keys.
func (s *Store) key(id, suffix string) string {
	return s.prefix + "{" + id + "}:" + suffix
}

// keys returns the prelude's KEYS for key id at now.
func (s *Store) keys(id string, now, periodStart time.Time) []string {
	minute := strconv.FormatInt(now.Unix()/60, 10)
	var start int64
	if !periodStart.IsZero() {
		start = periodStart.Unix()
	}
	return []string{s.key(id, "tickets"), s.key(id, "reserved"), s.key(id, "req:"+minute),
		s.key(id, "tok:"+minute), s.key(id, "spent:"+strconv.FormatInt(start, 10))}
}

const windowTTL = 2 * time.Minute

// stateTTL is how long a key's tickets and reservations outlive their last
// change (real time: the Limiter renews leases every lease/3).
func stateTTL(lease time.Duration) int64 {
	return (2*lease + time.Minute).Milliseconds()
}

// Settle implements ratelimit.Store.
func (s *Store) Settle(ctx context.Context, st ratelimit.Settlement) (ratelimit.Counters, error) {
	res, err := settleScript.Run(ctx, s.c, s.keys(st.Key, st.Now, st.PeriodStart),
		st.Now.UnixMilli(), 0, windowTTL.Milliseconds(), st.PeriodTTL.Milliseconds(), st.SeedMicros,
		st.Ticket, st.CostMicros, st.Tokens).Slice()
	if err != nil {
		return ratelimit.Counters{}, err
	}
	v, err := parse(res)
	return v.Counters, err
}

// AdmitAll implements ratelimit.Store: one script, one round trip.
func (s *Store) AdmitAll(ctx context.Context, as []ratelimit.Admission) (int, []ratelimit.Verdict, error) {
	if len(as) == 0 {
		return -1, nil, nil
	}
	now, lease := as[0].Now, as[0].LeaseUntil
	keys := make([]string, 0, 5*len(as))
	args := make([]any, 0, 4+8*len(as))
	args = append(args, now.UnixMilli(), stateTTL(lease.Sub(now)), windowTTL.Milliseconds(), lease.UnixMilli())
	for _, a := range as {
		lim := a.Limits
		keys = append(keys, s.keys(a.Key, now, a.PeriodStart)...)
		args = append(args, a.PeriodTTL.Milliseconds(), a.SeedMicros, lim.RPM, lim.TPM, lim.MaxConcurrent,
			lim.BudgetMicros, a.WorstMicros, a.Ticket)
	}
	res, err := admitAllScript.Run(ctx, s.c, keys, args...).Slice()
	if err != nil {
		return 0, nil, err
	}
	if len(res) == 0 {
		return 0, nil, errors.New("redislimit: admit-all script returned nothing")
	}
	denied, ok := res[0].(int64)
	if !ok || denied < -1 || denied >= int64(len(as)) {
		return 0, nil, fmt.Errorf("redislimit: admit-all script returned %v for the refusing subject", res[0])
	}
	want := len(as)
	if denied >= 0 {
		want = int(denied) + 1
	}
	vs, err := parseAll(res[1:], want)
	return int(denied), vs, err
}

// SettleAll implements ratelimit.Store: one script, one round trip.
func (s *Store) SettleAll(ctx context.Context, ss []ratelimit.Settlement) ([]ratelimit.Counters, error) {
	if len(ss) == 0 {
		return nil, nil
	}
	now := ss[0].Now
	keys := make([]string, 0, 5*len(ss))
	args := make([]any, 0, 2+5*len(ss))
	args = append(args, now.UnixMilli(), windowTTL.Milliseconds())
	for _, st := range ss {
		keys = append(keys, s.keys(st.Key, now, st.PeriodStart)...)
		args = append(args, st.PeriodTTL.Milliseconds(), st.SeedMicros, st.Ticket, st.CostMicros, st.Tokens)
	}
	res, err := settleAllScript.Run(ctx, s.c, keys, args...).Slice()
	if err != nil {
		return nil, err
	}
	vs, err := parseAll(res, len(ss))
	if err != nil {
		return nil, err
	}
	cs := make([]ratelimit.Counters, len(vs))
	for i, v := range vs {
		cs[i] = v.Counters
	}
	return cs, nil
}

// Cancel implements ratelimit.Store: one script, one round trip.
func (s *Store) Cancel(ctx context.Context, cs []ratelimit.Cancellation) error {
	if len(cs) == 0 {
		return nil
	}
	keys := make([]string, 0, 3*len(cs))
	args := make([]any, 0, len(cs))
	for _, c := range cs {
		keys = append(keys, s.key(c.Key, "tickets"), s.key(c.Key, "reserved"),
			s.key(c.Key, "req:"+strconv.FormatInt(c.Admitted.Unix()/60, 10)))
		args = append(args, c.Ticket)
	}
	return cancelScript.Run(ctx, s.c, keys, args...).Err()
}

// Read implements ratelimit.Store.
func (s *Store) Read(ctx context.Context, id string, now, periodStart time.Time) (ratelimit.Counters, error) {
	res, err := readScript.Run(ctx, s.c, s.keys(id, now, periodStart), now.UnixMilli()).Slice()
	if err != nil {
		return ratelimit.Counters{}, err
	}
	v, err := parse(res)
	return v.Counters, err
}

// seedTTL keeps a seeded spend for the longest period (a month) plus a
// day, since Seed does not say which period starts at periodStart; the
// admit and settle scripts give a spend they start its exact TTL.
const seedTTL = 33 * 24 * time.Hour

// Seed implements ratelimit.Store.
func (s *Store) Seed(ctx context.Context, id string, periodStart time.Time, spentMicros int64) (int64, error) {
	var ttl int64
	if !periodStart.IsZero() {
		ttl = max(time.Until(periodStart.Add(seedTTL)), time.Hour).Milliseconds()
	}
	return seedScript.Run(ctx, s.c, s.keys(id, periodStart, periodStart)[4:], spentMicros, ttl).Int64()
}

// Renew implements ratelimit.Store: one pipeline, one round trip.
func (s *Store) Renew(ctx context.Context, leases []ratelimit.Lease, now, until time.Time) error {
	ttl := time.Duration(stateTTL(until.Sub(now))) * time.Millisecond
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, l := range leases {
			k := s.key(l.Key, "tickets")
			p.ZAddXX(ctx, k, redis.Z{Score: float64(until.UnixMilli()), Member: l.Ticket})
			p.PExpire(ctx, k, ttl)
			p.PExpire(ctx, s.key(l.Key, "reserved"), ttl)
		}
		return nil
	})
	return err
}

// Ping implements ratelimit.Store.
func (s *Store) Ping(ctx context.Context) error { return s.c.Ping(ctx).Err() }

// parse reads a script's {denied, requests, tokens, concurrent, spent,
// reserved, started}.
func parse(res []any) (ratelimit.Verdict, error) {
	if len(res) != 7 {
		return ratelimit.Verdict{}, fmt.Errorf("redislimit: script returned %d values, want 7", len(res))
	}
	var v ratelimit.Verdict
	denied, ok := res[0].(string)
	if !ok {
		return v, fmt.Errorf("redislimit: script returned %T for the verdict", res[0])
	}
	n := make([]int64, 6)
	for i := range n {
		if n[i], ok = res[i+1].(int64); !ok {
			return v, fmt.Errorf("redislimit: script returned %T for value %d", res[i+1], i+1)
		}
	}
	v.Denied = denied
	v.Requests, v.Tokens, v.Concurrent, v.SpentMicros, v.ReservedMicros, v.Started = n[0], n[1], n[2], n[3], n[4], n[5] == 1
	return v, nil
}

// parseAll reads n groups of a script's seven values (see parse).
func parseAll(res []any, n int) ([]ratelimit.Verdict, error) {
	if len(res) != 7*n {
		return nil, fmt.Errorf("redislimit: script returned %d values, want %d", len(res), 7*n)
	}
	vs := make([]ratelimit.Verdict, n)
	for i := range vs {
		v, err := parse(res[7*i : 7*i+7])
		if err != nil {
			return nil, err
		}
		vs[i] = v
	}
	return vs, nil
}

// keysChannel carries the "keys changed" notice.
const keysChannel = "keys-changed"

// PublishKeysChanged tells every node's WatchKeys that keys changed (one was
// revoked, created or edited in the shared database).
func (s *Store) PublishKeysChanged(ctx context.Context) error {
	return s.c.Publish(ctx, s.prefix+keysChannel, "1").Err()
}

// WatchKeys calls changed for every notice that PublishKeysChanged sends,
// and also each time it (re)subscribes, since notices sent while it was
// disconnected are lost. It returns when ctx ends; the caller owns its
// goroutine. changed runs on WatchKeys's goroutine and should not block long.
func (s *Store) WatchKeys(ctx context.Context, changed func()) {
	ps := s.c.Subscribe(ctx, s.prefix+keysChannel)
	// A Receive blocked on the socket does not see ctx end: closing ps
	// ends it.
	stop, closed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(closed)
		select {
		case <-ctx.Done():
		case <-stop:
		}
		_ = ps.Close()
	}()
	defer func() { close(stop); <-closed }()
	for {
		msg, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// The next Receive reconnects and subscribes again.
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		switch msg.(type) {
		case *redis.Subscription, *redis.Message:
			changed()
		}
	}
}
