// Package ratelimit enforces a key's limits on the data plane: requests per
// minute, tokens per minute, concurrent requests, and a money budget per
// period with reservation.
//
// Budgets reserve a request's worst-case cost before it is sent and settle
// to the real cost when it ends, so that N concurrent requests against a
// budget that allows M < N admit exactly M (when each request's worst case
// equals its real cost) and never more. Requests-per-minute uses fixed
// one-minute windows, exact on one node. Tokens-per-minute admits while the
// window's tokens are under the limit and counts real tokens afterwards, so
// it can overshoot by the tokens of the requests in flight.
//
// All state is in memory, keyed by the key id, and safe for concurrent use.
// Budget spend is rebuilt from the ledger at start (see Limiter.Seed).
package ratelimit

import (
	"strconv"
	"sync"
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

// Limits are one key's limits; zero means unlimited.
type Limits struct {
	RPM           int64
	TPM           int64
	MaxConcurrent int64
	// BudgetMicros is the budget in micro-dollars for BudgetPeriod.
	BudgetMicros int64
	BudgetPeriod Period
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

// Limiter holds the state of every key.
type Limiter struct {
	now func() time.Time

	mu    sync.Mutex // guards keys; per-key state has its own lock
	state map[string]*keyState
}

// New returns a limiter. now may be nil (time.Now).
func New(now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{now: now, state: map[string]*keyState{}}
}

type keyState struct {
	mu sync.Mutex // guards everything below; never held across I/O

	window      int64 // the minute (Unix minutes) the counters below belong to
	requests    int64
	tokens      int64
	concurrent  int64
	periodStart time.Time
	spent       int64 // micro-dollars settled in the period
	reserved    int64 // micro-dollars reserved by requests in flight
	seeded      bool
}

func (l *Limiter) key(id string) *keyState {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.state[id]
	if s == nil {
		s = &keyState{}
		l.state[id] = s
	}
	return s
}

// Seed sets a key's spend in the current period from the ledger, once,
// before its first request is admitted.
func (l *Limiter) Seed(id string, spentMicros int64, periodStart time.Time) {
	s := l.key(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.seeded {
		s.spent, s.periodStart, s.seeded = spentMicros, periodStart, true
	}
}

// Seeded reports whether Seed has run for the key.
func (l *Limiter) Seeded(id string) bool {
	s := l.key(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seeded
}

// Ticket is an admitted request; Done must be called once when it ends.
type Ticket struct {
	l        *Limiter
	s        *keyState
	reserved int64
	counted  bool
	done     bool
}

// Admit checks every limit and, if all allow, takes a request slot and
// reserves worstCostMicros of budget. It returns a Denial when refused.
func (l *Limiter) Admit(id string, lim Limits, worstCostMicros int64) (*Ticket, *Denial) {
	s := l.key(id)
	now := l.now()
	minute := now.Unix() / 60
	resetIn := time.Unix((minute+1)*60, 0).Sub(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.window != minute {
		s.window, s.requests, s.tokens = minute, 0, 0
	}
	if lim.BudgetPeriod != "" && lim.BudgetPeriod != Total {
		if start := lim.BudgetPeriod.Start(now); !start.Equal(s.periodStart) && start.After(s.periodStart) {
			s.periodStart, s.spent = start, 0
		}
	}
	if lim.MaxConcurrent > 0 && s.concurrent >= lim.MaxConcurrent {
		return nil, &Denial{Limit: "concurrency", Message: "Too many concurrent requests for this key (limit " +
			strconv.FormatInt(lim.MaxConcurrent, 10) + ").", RetryAfter: time.Second, Max: lim.MaxConcurrent}
	}
	if lim.RPM > 0 && s.requests >= lim.RPM {
		return nil, &Denial{Limit: "requests", Message: "Rate limit reached: " + strconv.FormatInt(lim.RPM, 10) +
			" requests per minute for this key.", RetryAfter: resetIn, Max: lim.RPM, Reset: resetIn}
	}
	if lim.TPM > 0 && s.tokens >= lim.TPM {
		return nil, &Denial{Limit: "tokens", Message: "Rate limit reached: " + strconv.FormatInt(lim.TPM, 10) +
			" tokens per minute for this key.", RetryAfter: resetIn, Max: lim.TPM, Reset: resetIn}
	}
	if lim.BudgetMicros > 0 && s.spent+s.reserved+worstCostMicros > lim.BudgetMicros {
		d := &Denial{Limit: "budget", Message: "Budget exhausted for this key: spent " + dollars(s.spent) +
			" of " + dollars(lim.BudgetMicros) + " this period.", Max: lim.BudgetMicros, Remaining: max(lim.BudgetMicros-s.spent-s.reserved, 0)}
		if end := lim.BudgetPeriod.End(now); !end.IsZero() {
			d.RetryAfter, d.Reset = end.Sub(now), end.Sub(now)
		}
		return nil, d
	}
	s.requests++
	s.concurrent++
	t := &Ticket{l: l, s: s, counted: true}
	if lim.BudgetMicros > 0 {
		s.reserved += worstCostMicros
		t.reserved = worstCostMicros
	}
	return t, nil
}

// Done settles the ticket: it frees the concurrency slot, releases the
// reservation and records the real cost and tokens.
func (t *Ticket) Done(costMicros, tokens int64) {
	if t == nil || t.done {
		return
	}
	t.done = true
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.concurrent--
	s.reserved -= t.reserved
	s.spent += costMicros
	minute := t.l.now().Unix() / 60
	if s.window == minute {
		s.tokens += tokens
	}
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

// Usage returns a key's current consumption.
func (l *Limiter) Usage(id string) Usage {
	s := l.key(id)
	minute := l.now().Unix() / 60
	s.mu.Lock()
	defer s.mu.Unlock()
	u := Usage{Concurrent: s.concurrent, SpentMicros: s.spent, ReservedMicros: s.reserved, PeriodStart: s.periodStart}
	if s.window == minute {
		u.RequestsThisMinute, u.TokensThisMinute = s.requests, s.tokens
	}
	return u
}

func dollars(micros int64) string {
	return "$" + strconv.FormatFloat(float64(micros)/1e6, 'f', 6, 64)
}
