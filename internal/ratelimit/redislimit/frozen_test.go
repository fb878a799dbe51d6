package redislimit

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ratelimit"
)

// The tests of a frozen Redis (R2) bound a request's wait by counting, not
// by timing it against a tight bound, so that a stalled machine can neither
// fail nor skip them: a request makes at most one store call, that call's
// context allows at most the Limiter's Timeout (50 ms), the client sends
// no more commands than calls, and once the breaker is open no request
// reaches the store. The client's own timeouts are 10 s here, so a call
// that ends well before them ended by its context's deadline (a 200-fold
// margin, not a latency bound). BenchmarkFrozenRedis measures the
// latencies themselves.

// frozenTimeout is the Limiter's deadline per store operation in these
// tests; clientTimeout bounds the client's dials, reads and writes.
const (
	frozenTimeout = 50 * time.Millisecond
	clientTimeout = 10 * time.Second
)

// frozenOptions: a 50 ms deadline, and a breaker that opens on the fifth
// failure in a row only (not on time), with no probes or renewals during
// the test: only the requests' own calls reach the store.
var frozenOptions = ratelimit.Options{Timeout: frozenTimeout, FailFor: time.Hour, ProbeEvery: time.Hour,
	Logger: slog.New(slog.DiscardHandler)}

// storeCall is one call of the request path to the store.
type storeCall struct {
	op      string
	allowed time.Duration // what the call's context allowed when it began; 0: no deadline
	err     error
	done    bool
	took    time.Duration
}

// timedStore is a Store that records the calls that reach Redis in these
// tests: AdmitAll and SettleAll on a request's path, and Cancel, which
// undoes a timed-out admission in the background. Each is recorded when it
// begins.
type timedStore struct {
	*Store

	mu  sync.Mutex // guards log
	log []storeCall
}

func (s *timedStore) record(ctx context.Context, op string, call func() error) {
	var allowed time.Duration
	if dl, ok := ctx.Deadline(); ok {
		allowed = max(time.Until(dl), time.Nanosecond)
	}
	s.mu.Lock()
	i := len(s.log)
	s.log = append(s.log, storeCall{op: op, allowed: allowed})
	s.mu.Unlock()
	began := time.Now()
	err := call()
	took := time.Since(began)
	s.mu.Lock()
	s.log[i].err, s.log[i].done, s.log[i].took = err, true, took
	s.mu.Unlock()
}

func (s *timedStore) AdmitAll(ctx context.Context, as []ratelimit.Admission) (i int, vs []ratelimit.Verdict, err error) {
	s.record(ctx, "AdmitAll", func() error { i, vs, err = s.Store.AdmitAll(ctx, as); return err })
	return i, vs, err
}

func (s *timedStore) SettleAll(ctx context.Context, ss []ratelimit.Settlement) (cs []ratelimit.Counters, err error) {
	s.record(ctx, "SettleAll", func() error { cs, err = s.Store.SettleAll(ctx, ss); return err })
	return cs, err
}

func (s *timedStore) Cancel(ctx context.Context, cs []ratelimit.Cancellation) (err error) {
	s.record(ctx, "Cancel", func() error { err = s.Store.Cancel(ctx, cs); return err })
	return err
}

// calls returns the calls begun, all of them or those of op.
func (s *timedStore) calls(op string) []storeCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storeCall
	for _, c := range s.log {
		if op == "" || c.op == op {
			out = append(out, c)
		}
	}
	return out
}

// frozenNode is a limiter over a timedStore on the frozen Redis f.
func frozenNode(tb testing.TB, f *frozenRedis, o ratelimit.Options) (*ratelimit.Limiter, *timedStore) {
	tb.Helper()
	s, err := New(Options{Addr: f.addr, Prefix: "sluicetest:frozen:", Timeout: clientTimeout})
	if err != nil {
		tb.Fatal(err)
	}
	ts := &timedStore{Store: s}
	l := ratelimit.NewShared(ts, o)
	tb.Cleanup(func() {
		l.Close()
		_ = s.Close()
	})
	return l, ts
}

// isTimeout reports whether err is a deadline that passed.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// checkBounded fails t unless every call ended, bounded by a deadline of
// at most frozenTimeout, with an error (a frozen Redis answers nothing).
func checkBounded(t *testing.T, calls []storeCall) {
	t.Helper()
	for i, c := range calls {
		if !c.done || c.allowed <= 0 || c.allowed > frozenTimeout || c.err == nil {
			t.Fatalf("store call %d (%s): context allowed %v (want a deadline of at most %v), ended %v, error %v",
				i, c.op, c.allowed, frozenTimeout, c.done, c.err)
		}
	}
}

// checkSent fails t if the frozen Redis received more commands than the
// store calls begun: a client retry would multiply a request's wait.
func checkSent(t *testing.T, f *frozenRedis, st *timedStore) {
	t.Helper()
	// A call writes its command before it waits; wait for the reader to
	// see them (or fewer: a call whose deadline passed before it wrote
	// sends nothing).
	deadline := time.Now().Add(2 * time.Second)
	for f.commands() < len(st.calls("")) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got, calls := f.commands(), len(st.calls("")); got > calls {
		t.Fatalf("the frozen Redis received %d commands for %d store calls: the client retries", got, calls)
	}
}

// TestRedisFrozen is R2: against a Redis that accepts connections and never
// answers, the first five requests each make one store call bounded by the
// 50 ms deadline, then the breaker opens and no request, admission or
// settlement, reaches the store; every request is admitted.
func TestRedisFrozen(t *testing.T) {
	f := newFrozenRedis(t)
	l, st := frozenNode(t, f, frozenOptions)
	lim := ratelimit.Limits{RPM: 1_000_000, MaxConcurrent: 1000}
	var held []*ratelimit.Tickets
	for i := range 50 {
		ts, d := admit(l, "k", lim, 0)
		if d != nil {
			t.Fatalf("request %d refused during the outage: %+v", i, d)
		}
		held = append(held, ts)
	}
	calls := st.calls("AdmitAll")
	if len(calls) != 5 {
		t.Fatalf("50 requests made %d store calls, want 5 (one each until the breaker opens): %+v", len(calls), calls)
	}
	checkBounded(t, calls)
	for i, c := range calls {
		if !isTimeout(c.err) {
			t.Fatalf("store call %d ended by %v, want its deadline", i, c.err)
		}
	}
	checkSent(t, f, st)
	if h := l.Health(); h.Mode != ratelimit.ModeDegraded || h.StoreFailures != 5 || h.LocalDecisions != 50 || h.Degradations != 1 {
		t.Fatalf("after 50 requests on a frozen Redis: %+v", h)
	}

	// Once open, a burst of concurrent requests and every settlement is
	// decided here.
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				ts, d := admit(l, "k", lim, 0)
				if d != nil {
					t.Error(d)
					return
				}
				ts.Done(0, 0)
			}
		}()
	}
	wg.Wait()
	for _, ts := range held {
		ts.Done(0, 0)
	}
	if n, m := len(st.calls("AdmitAll")), len(st.calls("SettleAll")); n != 5 || m != 0 {
		t.Fatalf("with the breaker open, %d admissions and %d settlements reached the store", n-5, m)
	}
	checkSent(t, f, st)
	if h := l.Health(); h.LocalDecisions != 50+640 || h.StoreFailures != 5 {
		t.Fatalf("after the burst: %+v", h)
	}
}

// TestFrozenBurst: with Redis frozen and the breaker still closed, 64
// requests at once are all admitted, each making at most one store call
// bounded by the deadline, and the breaker opens.
func TestFrozenBurst(t *testing.T) {
	f := newFrozenRedis(t)
	l, st := frozenNode(t, f, frozenOptions)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ts, d := admit(l, "k", ratelimit.Limits{RPM: 10_000}, 0)
			if d != nil {
				t.Error(d)
			}
			ts.Done(0, 0)
		}()
	}
	close(start)
	wg.Wait()
	calls := st.calls("AdmitAll")
	if len(calls) < 5 || len(calls) > 64 {
		t.Fatalf("64 requests made %d store calls, want 5 to 64 (at most one each)", len(calls))
	}
	checkBounded(t, calls)
	checkSent(t, f, st)
	h := l.Health()
	if h.Mode != ratelimit.ModeDegraded || h.StoreFailures != uint64(len(calls)) || h.LocalDecisions != 64 {
		t.Fatalf("after 64 requests at once on a frozen Redis (%d store calls): %+v", len(calls), h)
	}
}
