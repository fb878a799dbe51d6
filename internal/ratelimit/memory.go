package ratelimit

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// memory is one node's limiter state. It is the whole state when no shared
// store is configured, and the fallback when the shared store is out of
// reach; while the shared store answers, it mirrors the shared counters (see
// observe) so that a fallback starts from the cluster's last known counts.
type memory struct {
	mu    sync.Mutex // guards state; per-key state has its own lock
	state map[string]*keyState
}

func newMemory() *memory { return &memory{state: map[string]*keyState{}} }

type keyState struct {
	mu sync.Mutex // guards everything below; never held across I/O

	window      int64 // the minute (Unix minutes) the counters below belong to
	requests    int64
	tokens      int64
	concurrent  int64 // this node's requests in flight, shared or local
	periodStart time.Time
	spent       int64 // micro-dollars settled in the period
	reserved    int64 // micro-dollars reserved by this node's requests in flight

	// The period roll last computed (its Start and End, Unix seconds),
	// so that a roll within it computes no calendar dates.
	rolledFor              Period
	rolledFrom, rolledTill int64
}

func (m *memory) key(id string) *keyState {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.state[id]
	if s == nil {
		s = &keyState{}
		m.state[id] = s
	}
	return s
}

// roll starts a new window or budget period when now is past the current
// one. The caller holds s.mu.
func (s *keyState) roll(lim Limits, now time.Time) {
	if minute := now.Unix() / 60; s.window != minute {
		s.window, s.requests, s.tokens = minute, 0, 0
	}
	if p := lim.BudgetPeriod; p != "" && p != Total {
		var start time.Time
		if sec := now.Unix(); p == s.rolledFor && sec >= s.rolledFrom && sec < s.rolledTill {
			start = time.Unix(s.rolledFrom, 0).UTC() // p.Start(now), as computed before
		} else {
			start = p.Start(now)
			s.rolledFor, s.rolledFrom, s.rolledTill = p, start.Unix(), p.End(now).Unix()
		}
		if start.After(s.periodStart) {
			s.periodStart, s.spent = start, 0
		}
	}
}

// hold counts a request that the shared store admitted as in flight on this
// node, so that a fallback while it runs still sees it.
func (m *memory) hold(id string, reserved int64) *keyState {
	s := m.key(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.concurrent++
	s.reserved += reserved
	return s
}

// done frees a slot, releases a reservation and records cost and tokens. It
// returns the period's spend before and after, and the period's start.
func (s *keyState) done(lim Limits, reserved, cost, tokens int64, now time.Time) (before, after int64, start time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roll(lim, now)
	s.concurrent--
	s.reserved -= reserved
	before = s.spent
	s.spent += cost
	s.tokens += tokens
	return before, s.spent, s.periodStart
}

// cancel undoes an admission: it frees its slot, releases its reservation
// and gives back its request slot if the admission's minute (Unix minutes)
// is still this node's window, not below zero.
func (s *keyState) cancel(reserved, minute int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.concurrent--
	s.reserved -= reserved
	if s.window == minute && s.requests > 0 {
		s.requests--
	}
}

// take counts an admission; the caller holds s.mu and has checked the
// limits.
func (s *keyState) take(lim Limits, worst int64) (reserved int64) {
	s.requests++
	s.concurrent++
	if lim.BudgetMicros > 0 {
		s.reserved += worst
		reserved = worst
	}
	return reserved
}

// admitAll admits subjects[i] for each i in active, all or none: the
// subjects' states are locked together (in ID order, so that two admissions
// never deadlock) while each subject is checked and counted in turn; a
// refusal undoes the subjects counted before it, unseen by anyone. It
// returns the states and reservations by position in active, or the
// position in subjects of the refusing subject and its Denial.
//
// states and reserved are the caller's, one element per active subject.
func (m *memory) admitAll(subjects []Subject, active []int, now time.Time, states []*keyState, reserved []int64) (int, *Denial) {
	// The distinct states, locked in ID order; a request has a handful of
	// subjects, so a linear search beats a map.
	type lockedState struct {
		id string
		s  *keyState
	}
	var buf [maxStackSubjects]lockedState
	locks := buf[:0]
	for j, i := range active {
		id := subjects[i].ID
		k := slices.IndexFunc(locks, func(l lockedState) bool { return l.id == id })
		if k < 0 {
			k = len(locks)
			locks = append(locks, lockedState{id, m.key(id)})
		}
		states[j] = locks[k].s
	}
	slices.SortFunc(locks, func(a, b lockedState) int { return strings.Compare(a.id, b.id) })
	for _, l := range locks {
		l.s.mu.Lock()
	}
	defer func() {
		for _, l := range locks {
			l.s.mu.Unlock()
		}
	}()
	for j, i := range active {
		sub, s := subjects[i], states[j]
		s.roll(sub.Limits, now)
		if limit := verdict(sub.Limits, sub.WorstMicros, s.concurrent, s.requests, s.tokens, s.spent, s.reserved); limit != "" {
			d := denial(limit, sub.Scope, sub.Limits, now, s.spent, s.reserved)
			for k := j - 1; k >= 0; k-- {
				states[k].requests--
				states[k].concurrent--
				states[k].reserved -= reserved[k]
			}
			return i, d
		}
		reserved[j] = s.take(sub.Limits, sub.WorstMicros)
	}
	return -1, nil
}

// observe raises this node's counters to the shared ones, never lowering
// them: after a fallback, a node admits at most the full limit on top of
// what the cluster had used when it last heard from the shared store.
func (m *memory) observe(id string, lim Limits, now time.Time, c Counters) {
	s := m.key(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roll(lim, now)
	s.requests = max(s.requests, c.Requests)
	s.tokens = max(s.tokens, c.Tokens)
	s.spent = max(s.spent, c.SpentMicros)
}

// seed sets a key's spend for the period that starts at start: a newer
// period replaces the spend, the same period raises it.
func (m *memory) seed(id string, spent int64, start time.Time) {
	s := m.key(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case start.After(s.periodStart):
		s.periodStart, s.spent = start, spent
	case start.Equal(s.periodStart):
		s.spent = max(s.spent, spent)
	}
}

// spentIn returns the spend this node knows of in the period that starts at
// start (0 when its state is for an older period).
func (m *memory) spentIn(id string, start time.Time) int64 {
	s := m.key(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.periodStart.Equal(start) {
		return s.spent
	}
	return 0
}

func (m *memory) usage(id string, now time.Time) Usage {
	s := m.key(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	u := Usage{Concurrent: s.concurrent, SpentMicros: s.spent, ReservedMicros: s.reserved, PeriodStart: s.periodStart}
	if s.window == now.Unix()/60 {
		u.RequestsThisMinute, u.TokensThisMinute = s.requests, s.tokens
	}
	return u
}
