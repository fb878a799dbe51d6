package ratelimit

import (
	"context"
	"time"
)

// Store is limiter state shared by every node of a cluster (Redis or Valkey
// in production, see package redislimit). The Limiter calls it with a short
// deadline in ctx and decides locally when it fails.
//
// Contract: every method is safe for concurrent use and is one round trip;
// AdmitAll and the settlements are atomic (all of their checks and changes
// happen with no other node's in between). An error means the outcome is
// unknown: an AdmitAll that timed out may still have taken slots, which
// their leases free.
type Store interface {
	// AdmitAll admits the subjects of one request, all or none, atomically
	// and in one round trip. Each admission in order is checked against the
	// shared counters and, if it allows, counted: it takes a request slot,
	// holds a concurrency slot under its Ticket until LeaseUntil, and
	// reserves its WorstMicros of budget; a refusal undoes those counted
	// before it. Tickets whose lease has passed are dropped first, so a
	// crashed node's slots and reservations free themselves. The admissions
	// share Now and LeaseUntil. It returns the index of the refusing
	// admission (-1 when all were admitted) and the verdicts of as[:i+1] on
	// refusal (nothing held by any of them), of all of as otherwise.
	AdmitAll(ctx context.Context, as []Admission) (int, []Verdict, error)
	// Settle ends a ticket: it frees its slot, releases its reservation and
	// adds the real cost and tokens. Settling an unknown or expired ticket
	// still adds the cost and tokens.
	Settle(ctx context.Context, s Settlement) (Counters, error)
	// SettleAll settles several tickets in one round trip, each as Settle
	// does, and returns their keys' counters in order.
	SettleAll(ctx context.Context, ss []Settlement) ([]Counters, error)
	// Cancel undoes admissions whose requests will not be sent, in one
	// round trip: it frees each ticket's slot, releases its reservation
	// with no spend, and takes one request off the count of the minute of
	// its Admitted time (not below zero). An unknown ticket's slot and
	// reservation are already gone; its request is still given back.
	Cancel(ctx context.Context, cs []Cancellation) error
	// Seed raises a key's spend for the period that starts at periodStart
	// to at least spentMicros (it never lowers it), and returns the spend.
	Seed(ctx context.Context, id string, periodStart time.Time, spentMicros int64) (int64, error)
	// Read returns a key's counters without changing them.
	Read(ctx context.Context, id string, now, periodStart time.Time) (Counters, error)
	// Renew extends the leases of tickets that are still in flight to
	// until (now is the Limiter's clock).
	Renew(ctx context.Context, leases []Lease, now, until time.Time) error
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
}

// Admission is one request to admit.
type Admission struct {
	Key         string
	Limits      Limits
	WorstMicros int64
	Now         time.Time
	Ticket      string // unique in the cluster
	LeaseUntil  time.Time
	// PeriodStart is the start of the budget period that contains Now (zero
	// for Total or no budget); PeriodTTL is how long its spend is worth
	// keeping (0: forever).
	PeriodStart time.Time
	PeriodTTL   time.Duration
	// SeedMicros is the spend to start from when the store holds none for
	// the period: the store lost its data, or the period is new.
	SeedMicros int64
}

// Settlement is the end of one admitted request.
type Settlement struct {
	Key         string
	Ticket      string
	CostMicros  int64
	Tokens      int64
	Now         time.Time
	PeriodStart time.Time
	PeriodTTL   time.Duration
	SeedMicros  int64
}

// Cancellation is one admission to undo.
type Cancellation struct {
	Key      string
	Ticket   string
	Admitted time.Time // the Admission's Now
}

// Lease names one ticket in flight.
type Lease struct {
	Key    string
	Ticket string
}

// Verdict is the answer to an Admission.
type Verdict struct {
	// Denied is "" when admitted, else the Denial.Limit that refused it.
	Denied string
	Counters
}

// Counters are a key's shared counters, after the operation that returned
// them.
type Counters struct {
	Requests       int64 // in the minute that contains Now
	Tokens         int64 // in the minute that contains Now
	Concurrent     int64 // tickets whose lease has not passed
	SpentMicros    int64 // in the budget period
	ReservedMicros int64
	// Started reports that the store held no spend for the period and
	// started it from SeedMicros.
	Started bool
}
