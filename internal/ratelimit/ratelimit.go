// Package ratelimit enforces limits on the data plane: requests per minute,
// tokens per minute, concurrent requests, and a money budget per period with
// reservation, for every subject a request answers to (its key, application,
// team, organisation, model: all that apply are enforced).
//
// Budgets reserve a request's worst-case cost before it is sent and settle
// to the real cost when it ends, so that N concurrent requests against a
// budget that allows M < N admit exactly M (when each request's worst case
// equals its real cost) and never more. Requests-per-minute uses fixed
// one-minute windows, exact across nodes that share a store. Tokens-per-minute
// admits while the window's tokens are under the limit and counts real tokens
// afterwards, so it can overshoot by the tokens of the requests in flight.
//
// AdmitAll admits a request at every subject it answers to (its key, team,
// organisation...) all or none, atomically: every subject's limits are
// checked and its slots taken with no other admission in between, in memory
// (the subjects' states locked together, in ID order) and in the shared
// store (one Lua script, one round trip), so a subject that refuses leaves
// nothing taken at the others and causes no false refusal elsewhere.
// Tickets.Done settles every subject of a request (one round trip in shared
// mode); Ticket.Cancel and Tickets.Cancel undo an admission whose request
// will not be sent: they free the concurrency slot, release the reservation
// with no spend and give back the request slot of the admission's minute.
//
// A subject's Limits.AlertPercents are budget alert thresholds. When a
// settlement moves a subject's spend in the period from below p% of its
// budget to p% or more, the Limiter calls the alert hook (Options.OnAlert or
// SetAlertHook) with an Alert, on a goroutine of its own, never under a lock
// and never delaying Done. In memory each crossing is reported exactly once;
// in shared mode the crossing is judged on the spend that the store's atomic
// settlement returns, so one node reports it, except around a store outage
// or restart, when a crossing may be reported twice: at least once per
// crossing, rarely twice, and callers dedup.
//
// A Limiter made by New keeps its state in memory: the limits hold per
// process. One made by NewShared keeps it in a Store that every node shares
// (Redis, see package redislimit), with one round trip per AdmitAll, Done
// and Cancel, and falls back to its in-memory state when the store
// fails:
//
//   - Every store operation has a deadline (DefaultTimeout, 250 ms: long
//     enough that a burst on a busy node does not time out a healthy store,
//     which would let every node decide alone). A failed operation is
//     decided locally at once, so no request waits longer; an admission
//     that failed is then cancelled in the store in the background, in case
//     it ran there, so that its slot and reservation do not wait out their
//     lease.
//   - A circuit breaker opens after 5 failures in a row, or after failures
//     lasting 1 s; while open, the node decides everything locally (Mode
//     reports "degraded", an error is logged once, Health counts it) and
//     probes the store every second; the first answered probe resumes shared
//     limits. A node without traffic pings the store every 0.5 s, so it
//     reports an outage within about 1.5 s too.
//   - While degraded, each node enforces each limit on its own, starting from
//     the shared counts it last saw: the cluster may admit up to limit ×
//     nodes per window, and spend up to the remaining budget × nodes.
//   - A request in flight holds its concurrency slot and budget reservation
//     under a lease (30 s, renewed every 10 s), so the slots of a node that
//     crashed free themselves; so do those of a Cancel that failed.
//   - Budget spend is seeded from the ledger: Seed raises the shared spend
//     to the ledger's (never lowers it), and Seeded turns false again after
//     an outage or when the store lost a subject's spend, so that the caller
//     reads the ledger again.
//
// Limiters are safe for concurrent use.
package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Period is a budget period.
type Period string

// Budget periods. Periods start at midnight UTC; weeks on Monday.
const (
	Daily   Period = "daily"
	Weekly  Period = "weekly"
	Monthly Period = "monthly"
	Total   Period = "total"
)

// Start returns the beginning of the period that contains t.
func (p Period) Start(t time.Time) time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch p {
	case Daily:
		return day
	case Weekly:
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	case Monthly:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	default:
		return time.Time{}
	}
}

// End returns when the period that contains t ends (zero for Total).
func (p Period) End(t time.Time) time.Time {
	s := p.Start(t)
	switch p {
	case Daily:
		return s.AddDate(0, 0, 1)
	case Weekly:
		return s.AddDate(0, 0, 7)
	case Monthly:
		return s.AddDate(0, 1, 0)
	}
	return time.Time{}
}

// MaxAlerts is how many budget alert thresholds a subject may have.
const MaxAlerts = 8

// Limits are one subject's limits; zero means unlimited.
//
// Limits stay comparable with == (AlertPercents is an array, not a slice).
type Limits struct {
	RPM           int64
	TPM           int64
	MaxConcurrent int64
	// BudgetMicros is the budget in micro-dollars for BudgetPeriod.
	BudgetMicros int64
	BudgetPeriod Period
	// CountsRequests makes the budget a request quota: each request
	// reserves and spends 1, whatever it costs, so BudgetMicros is the
	// number of requests per BudgetPeriod.
	CountsRequests bool
	// AlertPercents are budget alert thresholds in percent of BudgetMicros
	// (for example 50, 80, 100); zero entries are unused, order does not
	// matter. See Alert.
	AlertPercents [MaxAlerts]int
}

// IsZero reports whether lim limits nothing (alert thresholds without a
// budget limit nothing either).
func (lim Limits) IsZero() bool {
	return lim.RPM <= 0 && lim.TPM <= 0 && lim.MaxConcurrent <= 0 && lim.BudgetMicros <= 0
}

// Denial says which limit refused a request.
type Denial struct {
	Limit      string // "requests", "tokens", "concurrency" or "budget"
	Message    string
	RetryAfter time.Duration
	// Limit, Remaining and Reset feed the x-ratelimit-* headers.
	Max       int64
	Remaining int64
	Reset     time.Duration
}

// verdict returns the limit that refuses a request, or "".
func verdict(lim Limits, worst, concurrent, requests, tokens, spent, reserved int64) string {
	switch {
	case lim.MaxConcurrent > 0 && concurrent >= lim.MaxConcurrent:
		return "concurrency"
	case lim.RPM > 0 && requests >= lim.RPM:
		return "requests"
	case lim.TPM > 0 && tokens >= lim.TPM:
		return "tokens"
	case lim.BudgetMicros > 0 && spent+reserved+worst > lim.BudgetMicros:
		return "budget"
	}
	return ""
}

// denial describes a refusal by limit; scope names the subject in the
// message ("key" when empty).
func denial(limit, scope string, lim Limits, now time.Time, spent, reserved int64) *Denial {
	if scope == "" {
		scope = "key"
	}
	resetIn := time.Unix((now.Unix()/60+1)*60, 0).Sub(now)
	switch limit {
	case "concurrency":
		return &Denial{Limit: limit, Message: "Too many concurrent requests for this " + scope + " (limit " +
			strconv.FormatInt(lim.MaxConcurrent, 10) + ").", RetryAfter: time.Second, Max: lim.MaxConcurrent}
	case "requests":
		return &Denial{Limit: limit, Message: "Rate limit reached: " + strconv.FormatInt(lim.RPM, 10) +
			" requests per minute for this " + scope + ".", RetryAfter: resetIn, Max: lim.RPM, Reset: resetIn}
	case "tokens":
		return &Denial{Limit: limit, Message: "Rate limit reached: " + strconv.FormatInt(lim.TPM, 10) +
			" tokens per minute for this " + scope + ".", RetryAfter: resetIn, Max: lim.TPM, Reset: resetIn}
	}
	if lim.CountsRequests {
		return quotaDenial(scope, lim, now)
	}
	d := &Denial{Limit: "budget", Message: "Budget exhausted for this " + scope + ": spent " + dollars(spent) +
		" of " + dollars(lim.BudgetMicros) + " this period.", Max: lim.BudgetMicros, Remaining: max(lim.BudgetMicros-spent-reserved, 0)}
	if end := lim.BudgetPeriod.End(now); !end.IsZero() {
		d.RetryAfter, d.Reset = end.Sub(now), end.Sub(now)
	}
	return d
}

// quotaDenial is the refusal of a request quota (a budget that counts
// requests): retry when the period ends.
func quotaDenial(scope string, lim Limits, now time.Time) *Denial {
	per := "this period"
	if lim.BudgetPeriod == Total {
		per = "in total"
	}
	d := &Denial{Limit: "quota", Message: "Request quota reached: " + strconv.FormatInt(lim.BudgetMicros, 10) +
		" requests " + per + " for this " + scope + ".", Max: lim.BudgetMicros}
	if end := lim.BudgetPeriod.End(now); !end.IsZero() {
		d.RetryAfter, d.Reset = end.Sub(now), end.Sub(now)
	}
	return d
}

// spend is what a settlement of a request that cost costMicros spends at a
// subject with lim: 1 for a request quota.
func (lim Limits) spend(costMicros int64) int64 {
	if lim.CountsRequests {
		return 1
	}
	return costMicros
}

// Modes of a Limiter, as Mode reports them.
const (
	ModeLocal    = "local"    // no shared store: limits hold per node
	ModeShared   = "shared"   // the shared store answers: limits hold across nodes
	ModeDegraded = "degraded" // the shared store is out of reach: limits hold per node
)

// DefaultTimeout bounds each store operation unless Options.Timeout says
// otherwise.
const DefaultTimeout = 250 * time.Millisecond

// Options configure a shared Limiter; zero values take the defaults.
type Options struct {
	// Now is the clock for windows, periods and leases (time.Now).
	Now func() time.Time
	// Logger receives the mode changes (slog.Default()).
	Logger *slog.Logger
	// Timeout bounds each store operation on a request's path
	// (DefaultTimeout).
	Timeout time.Duration
	// FailuresToOpen failures in a row open the breaker (5); so do
	// failures that last FailFor with no success in between (1 s).
	FailuresToOpen int
	FailFor        time.Duration
	// ProbeEvery is how often an open breaker probes the store (1 s).
	ProbeEvery time.Duration
	// Lease is how long a request in flight holds its shared slot without
	// renewal (30 s); the Limiter renews its own every Lease/3.
	Lease time.Duration
	// OnAlert receives budget alerts (see Alert); nil: none. SetAlertHook
	// sets or replaces it, also on a Limiter made by New.
	OnAlert func(Alert)
}

// usageFresh is how long Usage reuses the shared counters that this node's
// last operation on a key returned (real time), so that the rate-limit
// headers after an AdmitAll cost no second round trip.
const usageFresh = 100 * time.Millisecond

// Limiter holds the state of every key.
type Limiter struct {
	now   func() time.Time
	mem   *memory
	store Store // nil: New
	opt   Options
	log   *slog.Logger
	br    breaker
	node  string // prefix of this node's ticket names
	seq   atomic.Uint64

	storeFailures  atomic.Uint64
	localDecisions atomic.Uint64
	degradations   atomic.Uint64

	mu       sync.Mutex // guards keys and inflight
	keys     map[string]*keyInfo
	inflight map[*Ticket]struct{} // shared tickets not yet done, for renewal

	onAlert      atomic.Pointer[func(Alert)]
	alertMu      sync.Mutex // guards alertsClosed and the Adds of alertWG
	alertsClosed bool
	alertWG      sync.WaitGroup // alert hooks running

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once

	undoMu     sync.Mutex // guards undoClosed and the Adds of undoWG
	undoClosed bool
	undoWG     sync.WaitGroup // background cancellations running
	undoing    chan struct{}  // a slot per background cancellation (64)
}

// keyInfo is what a Limiter remembers of a key beyond its counters.
type keyInfo struct {
	seeded    bool
	period    Period    // the budget period of the key's last admission
	seedStart time.Time // the period start of the last Seed
	snap      Usage     // the shared counters after this node's last operation
	snapAt    time.Time // real time; zero: no snapshot
}

// New returns a limiter whose state is this process's memory. now may be
// nil (time.Now).
func New(now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{now: now, mem: newMemory(), keys: map[string]*keyInfo{}, log: slog.Default()}
}

// NewShared returns a limiter whose state is shared through s, with a
// goroutine that probes s and renews leases until Close.
func NewShared(s Store, o Options) *Limiter {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.FailuresToOpen <= 0 {
		o.FailuresToOpen = 5
	}
	if o.FailFor <= 0 {
		o.FailFor = time.Second
	}
	if o.ProbeEvery <= 0 {
		o.ProbeEvery = time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	l := &Limiter{now: o.Now, mem: newMemory(), store: s, opt: o, log: o.Logger,
		br:   breaker{failuresToOpen: o.FailuresToOpen, failFor: o.FailFor, since: time.Now()},
		node: hex.EncodeToString(b[:]) + ".", keys: map[string]*keyInfo{}, inflight: map[*Ticket]struct{}{},
		stop: make(chan struct{}), undoing: make(chan struct{}, 64)}
	l.SetAlertHook(o.OnAlert)
	l.wg.Add(1)
	go l.run()
	return l
}

// Close stops the limiter's goroutine and waits for the alert hooks that
// are running; it does not close the store. Alerts of settlements after
// Close are logged, not delivered.
func (l *Limiter) Close() {
	l.closeOnce.Do(func() {
		if l.stop != nil {
			close(l.stop)
			l.wg.Wait()
		}
		l.alertMu.Lock()
		l.alertsClosed = true
		l.alertMu.Unlock()
		l.alertWG.Wait()
		l.undoMu.Lock()
		l.undoClosed = true
		l.undoMu.Unlock()
		l.undoWG.Wait()
	})
}

// info returns a key's info; the caller holds l.mu.
func (l *Limiter) info(id string) *keyInfo {
	k := l.keys[id]
	if k == nil {
		k = &keyInfo{}
		l.keys[id] = k
	}
	return k
}

// Seed sets a key's spend in the period that starts at periodStart from the
// ledger before its first request is admitted. With a shared store, it
// raises the shared spend to spentMicros (never lowers it).
func (l *Limiter) Seed(id string, spentMicros int64, periodStart time.Time) {
	l.mem.seed(id, spentMicros, periodStart)
	if l.store != nil && l.br.allow() {
		ctx, cancel := context.WithTimeout(context.Background(), l.opt.Timeout)
		v, err := l.store.Seed(ctx, id, periodStart, spentMicros)
		cancel()
		if err != nil {
			l.failed(err)
		} else {
			l.br.success(time.Now())
			l.mem.seed(id, v, periodStart)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.info(id)
	k.seeded, k.seedStart = true, periodStart
}

// Seeded reports whether the key's spend needs no Seed: false before the
// first Seed, and again after the shared store was out of reach or lost the
// key's spend.
func (l *Limiter) Seeded(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info(id).seeded
}

// Ticket is an admitted request at one subject; Done (or Cancel) must be
// called once when it ends.
type Ticket struct {
	l        *Limiter
	id       string
	s        *keyState // this node's state of the key
	reserved int64
	shared   string    // the ticket's name in the shared store; "" if admitted locally
	admitted time.Time // by the Limiter's clock: Cancel gives back this minute's request slot
	lim      Limits
	done     atomic.Bool
}

// periodOf returns the start of the budget period that contains now and how
// long its spend is worth keeping (0: forever).
func periodOf(p Period, now time.Time) (time.Time, time.Duration) {
	start := p.Start(now)
	if end := p.End(now); !end.IsZero() {
		return start, end.Sub(now) + 24*time.Hour
	}
	return start, 0
}

// observe records the shared counters that an operation returned.
func (l *Limiter) observe(id string, lim Limits, now, start time.Time, c Counters) {
	l.mem.observe(id, lim, now, c)
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.info(id)
	k.period = lim.BudgetPeriod
	k.snap = Usage{RequestsThisMinute: c.Requests, TokensThisMinute: c.Tokens, Concurrent: c.Concurrent,
		SpentMicros: c.SpentMicros, ReservedMicros: c.ReservedMicros, PeriodStart: start}
	k.snapAt = time.Now()
	if c.Started {
		// The store had no spend for the period and took this node's: ask
		// for the ledger's again.
		k.seeded = false
	}
}

// Done settles the ticket: it frees the concurrency slot, releases the
// reservation and records the real cost and tokens. Calls after the first
// Done or Cancel do nothing.
func (t *Ticket) Done(costMicros, tokens int64) {
	if t == nil || !t.done.CompareAndSwap(false, true) {
		return
	}
	l := t.l
	now := l.now()
	costMicros = t.lim.spend(costMicros)
	if t.shared == "" {
		l.settleLocal(t, costMicros, tokens, now)
		return
	}
	l.untrack(t)
	if l.br.allow() {
		start, ttl := periodOf(t.lim.BudgetPeriod, now)
		ctx, cancel := context.WithTimeout(context.Background(), l.opt.Timeout)
		c, err := l.store.Settle(ctx, Settlement{Key: t.id, Ticket: t.shared, CostMicros: costMicros, Tokens: tokens,
			Now: now, PeriodStart: start, PeriodTTL: ttl, SeedMicros: l.mem.spentIn(t.id, start)})
		cancel()
		if err == nil {
			l.br.success(time.Now())
			l.settledShared(t, costMicros, now, start, c)
			return
		}
		l.failed(err)
	}
	// The shared store missed this settlement: count it here, so that a
	// fallback sees it; the shared reservation lapses with the lease, and
	// the spend returns to the store when the ledger is read again.
	l.settleLocal(t, costMicros, tokens, now)
}

// settleLocal settles a ticket in this node's memory and reports the alert
// thresholds it crossed.
func (l *Limiter) settleLocal(t *Ticket, cost, tokens int64, now time.Time) {
	before, after, start := t.s.done(t.lim, t.reserved, cost, tokens, now)
	l.alerts(t.id, t.lim, before, after, start)
}

// settledShared records a settlement that the shared store made and
// returned c for.
func (l *Limiter) settledShared(t *Ticket, cost int64, now, start time.Time, c Counters) {
	t.s.done(t.lim, t.reserved, 0, 0, now)
	l.observe(t.id, t.lim, now, start, c)
	l.alerts(t.id, t.lim, c.SpentMicros-cost, c.SpentMicros, start)
}

// untrack stops renewing a shared ticket's lease.
func (l *Limiter) untrack(t *Ticket) {
	l.mu.Lock()
	delete(l.inflight, t)
	l.mu.Unlock()
}

// Usage is a key's current consumption.
type Usage struct {
	RequestsThisMinute int64
	TokensThisMinute   int64
	Concurrent         int64
	SpentMicros        int64
	ReservedMicros     int64
	PeriodStart        time.Time
}

// Usage returns a key's current consumption: across the cluster in shared
// mode (as of at most 100 ms ago, from this node's last operation on the
// key), this node's otherwise.
func (l *Limiter) Usage(id string) Usage {
	now := l.now()
	if l.store == nil {
		return l.mem.usage(id, now)
	}
	// Degraded, or an operation just failed (the AdmitAll before this call,
	// most likely): no second wait for the store on the same request.
	if st := l.br.state(); st.open || time.Since(st.lastFail) < usageFresh {
		return l.mem.usage(id, now)
	}
	l.mu.Lock()
	k := l.info(id)
	snap, fresh, period, seedStart := k.snap, !k.snapAt.IsZero() && time.Since(k.snapAt) < usageFresh, k.period, k.seedStart
	l.mu.Unlock()
	if fresh {
		return snap
	}
	start := seedStart
	if period != "" {
		start = period.Start(now)
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opt.Timeout)
	c, err := l.store.Read(ctx, id, now, start)
	cancel()
	if err != nil {
		l.failed(err)
		return l.mem.usage(id, now)
	}
	l.br.success(time.Now())
	l.observe(id, Limits{BudgetPeriod: period}, now, start, Counters{Requests: c.Requests, Tokens: c.Tokens,
		Concurrent: c.Concurrent, SpentMicros: c.SpentMicros, ReservedMicros: c.ReservedMicros})
	return Usage{RequestsThisMinute: c.Requests, TokensThisMinute: c.Tokens, Concurrent: c.Concurrent,
		SpentMicros: c.SpentMicros, ReservedMicros: c.ReservedMicros, PeriodStart: start}
}

// failed records a failed store operation; the first that opens the breaker
// says so in the log.
func (l *Limiter) failed(err error) {
	l.storeFailures.Add(1)
	if l.br.failure(time.Now(), err) {
		l.degradations.Add(1)
		l.log.Error("rate limits degraded to per-node: the shared store is unreachable; until it answers, each node "+
			"enforces every limit alone, so the cluster may admit up to limit × nodes",
			"store", l.storeName(), "err", err)
	}
}

// run probes the store and renews this node's leases until Close.
func (l *Limiter) run() {
	defer l.wg.Done()
	// At least a millisecond: NewTicker panics below a nanosecond, and
	// FailFor or ProbeEvery may be set that small.
	tick := time.NewTicker(max(min(l.opt.ProbeEvery, l.opt.FailFor)/4, time.Millisecond))
	defer tick.Stop()
	var lastProbe, lastRenew time.Time
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		now := time.Now()
		st := l.br.state()
		switch {
		case st.open && now.Sub(lastProbe) >= l.opt.ProbeEvery:
			// Half-open: one probe; its success resumes shared limits.
			lastProbe = now
			if l.ping() == nil {
				if was, d := l.br.closeIfOpen(time.Now()); was {
					l.resumed(d)
				}
			}
		case !st.open && (st.failures > 0 || now.Sub(st.lastOK) >= l.opt.FailFor/2):
			// Failing, or no answer for a while (an idle node): find out
			// before the next request does, so that an idle node reports
			// an outage within about FailFor + FailFor/2 too.
			if err := l.ping(); err != nil {
				l.failed(err)
			} else {
				l.br.success(time.Now())
			}
		}
		if !st.open && now.Sub(lastRenew) >= l.opt.Lease/3 {
			lastRenew = now
			l.renew()
		}
	}
}

func (l *Limiter) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), l.opt.Timeout)
	defer cancel()
	return l.store.Ping(ctx)
}

// resumed switches back to shared limits after an outage.
func (l *Limiter) resumed(outage time.Duration) {
	l.mu.Lock()
	for _, k := range l.keys {
		// Spend settled while degraded went to the ledger, not the store,
		// and the store may have restarted empty: read the ledger again.
		k.seeded, k.snapAt = false, time.Time{}
	}
	l.mu.Unlock()
	l.log.Warn("rate limits shared again: the shared store answers", "store", l.storeName(),
		"degraded_for", outage.Round(time.Millisecond).String())
}

// renew extends the leases of this node's requests in flight.
func (l *Limiter) renew() {
	l.mu.Lock()
	leases := make([]Lease, 0, len(l.inflight))
	for t := range l.inflight {
		leases = append(leases, Lease{Key: t.id, Ticket: t.shared})
	}
	l.mu.Unlock()
	if len(leases) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*l.opt.Timeout)
	defer cancel()
	now := l.now()
	if err := l.store.Renew(ctx, leases, now, now.Add(l.opt.Lease)); err != nil {
		l.failed(err)
	}
}

// Mode reports where limits are decided: ModeLocal, ModeShared or
// ModeDegraded.
func (l *Limiter) Mode() string {
	switch {
	case l.store == nil:
		return ModeLocal
	case l.br.allow():
		return ModeShared
	}
	return ModeDegraded
}

// Health is the limiter's state, for the admin health endpoint and metrics.
type Health struct {
	Mode string `json:"mode"`
	// Since is when Mode last changed (zero for ModeLocal).
	Since time.Time `json:"since,omitzero"`
	Store string    `json:"store,omitempty"`
	// Detail says in words what Mode means for the limits.
	Detail    string `json:"detail"`
	LastError string `json:"last_error,omitempty"`
	// Counters since start, for metrics.
	StoreFailures  uint64 `json:"store_failures_total"`
	LocalDecisions uint64 `json:"local_decisions_total"` // admissions decided locally while a store is configured
	Degradations   uint64 `json:"degradations_total"`    // times the breaker opened
}

// Health returns the limiter's state.
func (l *Limiter) Health() Health {
	h := Health{Mode: l.Mode(), Store: l.storeName(), StoreFailures: l.storeFailures.Load(),
		LocalDecisions: l.localDecisions.Load(), Degradations: l.degradations.Load()}
	switch h.Mode {
	case ModeLocal:
		h.Detail = "limits are kept in this process's memory: each node enforces them alone"
		return h
	case ModeShared:
		h.Detail = "limits are shared by every node through the store"
	default:
		h.Detail = "the shared store is unreachable: each node enforces every limit alone, so the cluster may admit " +
			"up to limit × nodes; shared limits resume when the store answers (probed every " + l.opt.ProbeEvery.String() + ")"
	}
	st := l.br.state()
	h.Since, h.LastError = st.since, st.lastErr
	return h
}

func (l *Limiter) storeName() string {
	if s, ok := l.store.(fmt.Stringer); ok {
		return s.String()
	}
	return ""
}

func dollars(micros int64) string {
	return "$" + strconv.FormatFloat(float64(micros)/1e6, 'f', 6, 64)
}

// undo cancels, in the background, admissions whose answer was lost (a
// timeout): the store may have run them. Nothing is sent while the breaker
// is open. At most 64 such cancellations run at once; more
// are dropped (their leases free them).
// lostAnswer reports whether a failed store call may have run in the
// store anyway: it timed out, rather than failing to reach the store.
func lostAnswer(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func (l *Limiter) undo(cs []Cancellation) {
	l.undoMu.Lock()
	defer l.undoMu.Unlock()
	if l.undoClosed {
		return
	}
	select {
	case l.undoing <- struct{}{}:
	default:
		return
	}
	l.undoWG.Add(1)
	go func() {
		defer func() { <-l.undoing; l.undoWG.Done() }()
		if l.br.state().open {
			return // the store is out of reach: the leases free these
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = l.store.Cancel(ctx, cs)
	}()
}
