package ratelimit

import (
	"context"
	"slices"
	"strconv"
	"time"
)

// Subject is one level whose limits a request must pass: its key,
// application, team, organisation or model.
type Subject struct {
	// ID names the subject's state; IDs of different levels must differ
	// (for example "key:k1", "team:t1").
	ID     string
	Limits Limits
	// WorstMicros is the request's worst-case cost, reserved from the
	// subject's budget (ignored without one).
	WorstMicros int64
	// Scope names the level in denial messages ("... for this team");
	// empty: "key".
	Scope string
}

// Tickets are one request's admissions at several subjects; Done (or
// Cancel) must be called once when the request ends.
type Tickets struct {
	l  *Limiter
	ts []Ticket // in the order of the subjects, zero limits left out
}

// maxStackSubjects is how many subjects a request's admission handles
// without allocating its working slices (key, application, team,
// organisation, model and a product's plan fit).
const maxStackSubjects = 8

// newTickets returns n zero tickets. Up to four come in one allocation
// with their Tickets (a key, its application, team and organisation).
func newTickets(l *Limiter, n int) *Tickets {
	switch {
	case n == 1:
		b := &struct {
			ts  Tickets
			all [1]Ticket
		}{}
		b.ts = Tickets{l: l, ts: b.all[:]}
		return &b.ts
	case n == 2:
		b := &struct {
			ts  Tickets
			all [2]Ticket
		}{}
		b.ts = Tickets{l: l, ts: b.all[:]}
		return &b.ts
	case n <= 4:
		b := &struct {
			ts  Tickets
			all [4]Ticket
		}{}
		b.ts = Tickets{l: l, ts: b.all[:n:n]}
		return &b.ts
	}
	return &Tickets{l: l, ts: make([]Ticket, n)}
}

// Ticket returns the admission at the i-th admitted subject (subjects with
// zero limits are not admitted, so not counted), or nil.
func (ts *Tickets) Ticket(i int) *Ticket {
	if ts == nil || i < 0 || i >= len(ts.ts) {
		return nil
	}
	return &ts.ts[i]
}

// Len returns how many subjects were admitted.
func (ts *Tickets) Len() int {
	if ts == nil {
		return 0
	}
	return len(ts.ts)
}

// AdmitAll admits a request at every subject in order, all or none: each
// subject's limits are checked and, if every subject allows, each takes a
// request slot and a concurrency slot and reserves the subject's
// WorstMicros. Subjects whose Limits are zero are skipped (no state, no
// round trip). It returns (tickets, -1, nil) when admitted, and (nil, i, d)
// when subjects[i] refused, with nothing taken at any subject.
//
// The decision is atomic: in memory the subjects' states are locked
// together, and in shared mode it is one script in the store, one round
// trip. When the store fails, the node decides locally.
func (l *Limiter) AdmitAll(subjects []Subject) (*Tickets, int, *Denial) {
	now := l.now()
	subjects = perRequest(subjects)
	var activeBuf [maxStackSubjects]int
	active := activeBuf[:0]
	for i, s := range subjects {
		if !s.Limits.IsZero() {
			active = append(active, i)
		}
	}
	if len(active) == 0 {
		return &Tickets{l: l}, -1, nil
	}
	if l.store != nil {
		if l.br.allow() {
			ts, i, d, err := l.admitAllShared(subjects, active, now)
			if err == nil {
				return ts, i, d
			}
			l.failed(err)
		}
		l.localDecisions.Add(1)
	}
	var statesBuf [maxStackSubjects]*keyState
	var reservedBuf [maxStackSubjects]int64
	states, reserved := statesBuf[:0], reservedBuf[:0]
	if len(active) > maxStackSubjects {
		states, reserved = make([]*keyState, 0, len(active)), make([]int64, 0, len(active))
	}
	states, reserved = states[:len(active)], reserved[:len(active)]
	if i, d := l.mem.admitAll(subjects, active, now, states, reserved); d != nil {
		return nil, i, d
	}
	ts := newTickets(l, len(active))
	for j, i := range active {
		s := subjects[i]
		ts.ts[j] = Ticket{l: l, id: s.ID, s: states[j], reserved: reserved[j], lim: s.Limits, admitted: now}
	}
	return ts, -1, nil
}

func (l *Limiter) admitAllShared(subjects []Subject, active []int, now time.Time) (*Tickets, int, *Denial, error) {
	as := make([]Admission, len(active))
	starts := make([]time.Time, len(active))
	lease := now.Add(l.opt.Lease)
	for j, i := range active {
		s := subjects[i]
		start, ttl := periodOf(s.Limits.BudgetPeriod, now)
		var reserved int64
		if s.Limits.BudgetMicros > 0 {
			reserved = s.WorstMicros
		}
		starts[j] = start
		as[j] = Admission{Key: s.ID, Limits: s.Limits, WorstMicros: reserved, Now: now,
			Ticket: l.node + strconv.FormatUint(l.seq.Add(1), 36), LeaseUntil: lease, PeriodStart: start,
			PeriodTTL: ttl, SeedMicros: l.mem.spentIn(s.ID, start)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opt.Timeout)
	denied, vs, err := l.store.AdmitAll(ctx, as)
	cancel()
	if err != nil {
		if lostAnswer(err) {
			cs := make([]Cancellation, len(as))
			for j, a := range as {
				cs[j] = Cancellation{Key: a.Key, Ticket: a.Ticket, Admitted: now}
			}
			l.undo(cs)
		}
		return nil, 0, nil, err
	}
	l.br.success(time.Now())
	for j, v := range vs {
		l.observe(as[j].Key, as[j].Limits, now, starts[j], v.Counters)
	}
	if denied >= 0 {
		v, s := vs[denied], subjects[active[denied]]
		return nil, active[denied], denial(v.Denied, s.Scope, s.Limits, now, v.SpentMicros, v.ReservedMicros), nil
	}
	ts := newTickets(l, len(active))
	for j, a := range as {
		ts.ts[j] = Ticket{l: l, id: a.Key, s: l.mem.hold(a.Key, a.WorstMicros), reserved: a.WorstMicros,
			shared: a.Ticket, lim: a.Limits, admitted: now}
	}
	l.mu.Lock()
	for i := range ts.ts {
		l.inflight[&ts.ts[i]] = struct{}{}
	}
	l.mu.Unlock()
	return ts, -1, nil, nil
}

// perRequest returns subjects with a reservation of 1 at each request
// quota (a copy when there is one).
func perRequest(subjects []Subject) []Subject {
	copied := false
	for i, s := range subjects {
		if s.Limits.CountsRequests && s.WorstMicros != 1 {
			if !copied {
				subjects, copied = slices.Clone(subjects), true
			}
			subjects[i].WorstMicros = 1
		}
	}
	return subjects
}

// claim returns the tickets whose first Done or Cancel this is, appended
// to out.
func (ts *Tickets) claim(out []*Ticket) []*Ticket {
	if ts == nil {
		return out
	}
	for i := range ts.ts {
		if t := &ts.ts[i]; t.done.CompareAndSwap(false, true) {
			out = append(out, t)
		}
	}
	return out
}

// Done settles every admission of the request (see Ticket.Done), in one
// round trip in shared mode. Calls after the first do nothing.
func (ts *Tickets) Done(costMicros, tokens int64) {
	var buf [maxStackSubjects]*Ticket
	claimed := ts.claim(buf[:0])
	if len(claimed) == 0 {
		return
	}
	l := ts.l
	now := l.now()
	var shared []*Ticket
	for _, t := range claimed {
		if t.shared == "" {
			l.settleLocal(t, t.lim.spend(costMicros), tokens, now)
		} else {
			shared = append(shared, t)
			l.untrack(t)
		}
	}
	if len(shared) == 0 {
		return
	}
	if l.br.allow() {
		ss := make([]Settlement, len(shared))
		starts := make([]time.Time, len(shared))
		for j, t := range shared {
			start, ttl := periodOf(t.lim.BudgetPeriod, now)
			starts[j] = start
			ss[j] = Settlement{Key: t.id, Ticket: t.shared, CostMicros: t.lim.spend(costMicros), Tokens: tokens, Now: now,
				PeriodStart: start, PeriodTTL: ttl, SeedMicros: l.mem.spentIn(t.id, start)}
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.opt.Timeout)
		cs, err := l.store.SettleAll(ctx, ss)
		cancel()
		if err == nil {
			l.br.success(time.Now())
			for j, t := range shared {
				l.settledShared(t, t.lim.spend(costMicros), now, starts[j], cs[j])
			}
			return
		}
		l.failed(err)
	}
	for _, t := range shared {
		l.settleLocal(t, t.lim.spend(costMicros), tokens, now) // as in Ticket.Done
	}
}

// Cancel undoes every admission of a request that will not be sent (see
// Ticket.Cancel), in one round trip in shared mode. Calls after the first
// Done or Cancel do nothing.
func (ts *Tickets) Cancel() {
	if claimed := ts.claim(nil); len(claimed) > 0 {
		ts.l.cancel(claimed)
	}
}

// Cancel undoes an admission whose request will not be sent: it frees the
// concurrency slot, releases the reservation with no spend and gives back
// the request slot of the admission's minute (its count lowered by one, not
// below zero; a minute already past is left alone). Whichever of Done and
// Cancel comes first wins; later calls do nothing.
//
// In shared mode, a Cancel that the store misses gives back the slots of
// this node only: the shared concurrency slot and reservation lapse with
// the ticket's lease, and the request slot stays taken.
func (t *Ticket) Cancel() {
	if t == nil || !t.done.CompareAndSwap(false, true) {
		return
	}
	t.l.cancel([]*Ticket{t})
}

func (l *Limiter) cancel(ts []*Ticket) {
	var shared []Cancellation
	for _, t := range ts {
		if t.shared == "" {
			t.s.cancel(t.reserved, t.admitted.Unix()/60)
			continue
		}
		l.untrack(t)
		shared = append(shared, Cancellation{Key: t.id, Ticket: t.shared, Admitted: t.admitted})
	}
	if len(shared) == 0 {
		return
	}
	if l.br.allow() {
		ctx, cancel := context.WithTimeout(context.Background(), l.opt.Timeout)
		err := l.store.Cancel(ctx, shared)
		cancel()
		if err == nil {
			l.br.success(time.Now())
		} else {
			l.failed(err)
		}
	}
	l.mu.Lock()
	for _, t := range ts {
		if t.shared != "" {
			// The snapshot still counts the request: read again.
			l.info(t.id).snapAt = time.Time{}
		}
	}
	l.mu.Unlock()
	for _, t := range ts {
		if t.shared != "" {
			t.s.cancel(t.reserved, t.admitted.Unix()/60)
		}
	}
}

// Alert is a budget alert: a settlement moved a subject's spend in the
// period that starts at PeriodStart from below Percent % of BudgetMicros to
// Percent % or more.
type Alert struct {
	ID           string
	Percent      int
	SpentMicros  int64 // the spend after the settlement
	BudgetMicros int64
	PeriodStart  time.Time // zero for a Total budget
}

// SetAlertHook sets the function that receives budget alerts (nil: none),
// replacing Options.OnAlert. The Limiter calls it on a goroutine of its own
// per alert, never under a lock; Close waits for the calls running.
func (l *Limiter) SetAlertHook(fn func(Alert)) {
	if fn == nil {
		l.onAlert.Store(nil)
		return
	}
	l.onAlert.Store(&fn)
}

// threshold returns the least spend that is p % of budget or more,
// ceil(p × budget / 100), without overflowing for any budget that p % of
// fits in an int64.
func threshold(p int, budget int64) int64 {
	q, r := budget/100, budget%100
	return q*int64(p) + (r*int64(p)+99)/100
}

// alerts reports the thresholds of lim that a spend going from before to
// after crossed.
func (l *Limiter) alerts(id string, lim Limits, before, after int64, start time.Time) {
	if lim.BudgetMicros <= 0 || after <= before {
		return
	}
	hook := l.onAlert.Load()
	if hook == nil {
		return
	}
	for _, p := range lim.AlertPercents {
		if p <= 0 {
			continue
		}
		if thr := threshold(p, lim.BudgetMicros); before < thr && after >= thr {
			l.deliver(*hook, Alert{ID: id, Percent: p, SpentMicros: after, BudgetMicros: lim.BudgetMicros, PeriodStart: start})
		}
	}
}

// deliver calls hook with a on a goroutine that Close waits for.
func (l *Limiter) deliver(hook func(Alert), a Alert) {
	l.alertMu.Lock()
	if l.alertsClosed {
		l.alertMu.Unlock()
		l.log.Warn("budget alert after the limiter closed: not delivered", "id", a.ID, "percent", a.Percent,
			"spent_micros", a.SpentMicros, "budget_micros", a.BudgetMicros)
		return
	}
	l.alertWG.Add(1)
	l.alertMu.Unlock()
	go func() {
		defer l.alertWG.Done()
		defer func() {
			if r := recover(); r != nil {
				l.log.Error("budget alert hook panicked", "id", a.ID, "percent", a.Percent, "panic", r)
			}
		}()
		hook(a)
	}()
}
