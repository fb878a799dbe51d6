// Package alert evaluates alert rules over the analytics rollups and the
// upstream targets' health, and notifies webhooks, Slack and PagerDuty
// when a rule fires and when it resolves.
//
// Each series of a rule (one per group of its group_by) moves through
// ok -> pending -> firing -> resolved (-> ok). Every node may run an
// Evaluator; the one that holds the "alert-evaluator" lease in the store
// evaluates and delivers, the others wait. Exactness does not rest on the
// lease alone: a state moves by compare-and-set on its sequence number and
// a notifying move inserts a unique transition row with its deliveries in
// one transaction, so even two evaluators that both believe they hold the
// lease record each transition, and queue its notifications, once.
// Deliveries are claimed before they are sent and retried with backoff; a
// channel that keeps failing is disabled and audited.
package alert

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/route"
	"github.com/sluicehq/sluice/internal/store"
)

// States of a series.
const (
	StateOK       = "ok"
	StatePending  = "pending"
	StateFiring   = "firing"
	StateResolved = "resolved"
)

// Store is what the evaluator needs of the store.
type Store interface {
	Analytics(ctx context.Context, q store.AnalyticsQuery) ([]store.AnalyticsPoint, error)
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
	AlertStates(ctx context.Context) ([]store.AlertState, error)
	TransitionAlert(ctx context.Context, prev, next store.AlertState, holder string, channels []string) (bool, error)
	ClaimAlertDeliveries(ctx context.Context, now time.Time, claim time.Duration, limit int) ([]store.AlertDelivery, bool, error)
	FinishAlertDelivery(ctx context.Context, d store.AlertDelivery, done bool, errMsg string, retryAt time.Time) error
	DisableAlertChannel(ctx context.Context, channel, reason string, now time.Time, audit store.AuditEntry) error
	DisabledAlertChannels(ctx context.Context) (map[string]string, error)
}

var _ Store = (*store.Store)(nil)

// Options configure an Evaluator.
type Options struct {
	Store Store
	// Rules returns the rules in force (the file's and the stored ones).
	Rules func() []config.AlertRule
	// Health returns the upstream targets' health (nil: target rules see
	// no data).
	Health func() []route.Status
	// Holder names this node in the lease and in transition rows.
	Holder string
	// Every is the evaluation period (default 30s).
	Every time.Duration
	// LeaseTTL is how long the lease outlives its last renewal: another
	// node takes over after it (default 3 × Every).
	LeaseTTL time.Duration
	// MaxAttempts is how many failed deliveries disable a channel
	// (default 8; the pauses between tries double from 5s to 10m).
	MaxAttempts int
	// Client sends notifications (default: NewClient(false), which
	// refuses loopback and private addresses).
	Client *http.Client
	Now    func() time.Time
	Logger *slog.Logger
}

// Evaluator evaluates rules and delivers notifications.
type Evaluator struct{ o Options }

// New returns an Evaluator.
func New(o Options) *Evaluator {
	if o.Every <= 0 {
		o.Every = 30 * time.Second
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 3 * o.Every
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.Client == nil {
		o.Client = NewClient(false)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Rules == nil {
		o.Rules = func() []config.AlertRule { return nil }
	}
	return &Evaluator{o: o}
}

// Run evaluates and delivers every period while this node holds the
// lease, until ctx ends.
func (e *Evaluator) Run(ctx context.Context) {
	t := time.NewTicker(e.o.Every)
	defer t.Stop()
	for {
		now := e.o.Now()
		ok, err := e.o.Store.AcquireLease(ctx, "alert-evaluator", e.o.Holder, now, e.o.LeaseTTL)
		if err != nil && ctx.Err() == nil {
			e.o.Logger.Warn("alert evaluator: lease", "err", err)
		}
		if ok {
			if err := e.Tick(ctx, now); err != nil && ctx.Err() == nil {
				e.o.Logger.Warn("alert evaluator", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick evaluates every rule at now and delivers what is due. It does not
// take the lease: Run does.
func (e *Evaluator) Tick(ctx context.Context, now time.Time) error {
	if err := e.Evaluate(ctx, now); err != nil {
		return err
	}
	return e.Deliver(ctx, now)
}

// Evaluate moves each rule's series according to its value at now.
func (e *Evaluator) Evaluate(ctx context.Context, now time.Time) error {
	states, err := e.o.Store.AlertStates(ctx)
	if err != nil {
		return err
	}
	byRule := map[string]map[string]store.AlertState{}
	for _, s := range states {
		if byRule[s.Rule] == nil {
			byRule[s.Rule] = map[string]store.AlertState{}
		}
		byRule[s.Rule][s.Series] = s
	}
	var errs []string
	for _, r := range e.o.Rules() {
		vals, err := e.values(ctx, r, now)
		if err != nil {
			errs = append(errs, fmt.Sprintf("rule %s: %v", r.Name, err))
			continue
		}
		// Series stored but absent now have no data.
		for series := range byRule[r.Name] {
			if _, ok := vals[series]; !ok {
				vals[series] = sample{}
			}
		}
		names := make([]string, 0, len(vals))
		for s := range vals {
			names = append(names, s)
		}
		sort.Strings(names)
		for _, series := range names {
			prev, ok := byRule[r.Name][series]
			if !ok {
				prev = store.AlertState{Rule: r.Name, Series: series, State: StateOK}
			}
			if err := e.step(ctx, r, prev, vals[series], now); err != nil {
				errs = append(errs, fmt.Sprintf("rule %s %s: %v", r.Name, series, err))
			}
		}
	}
	if n := len(errs); n > 3 {
		errs = append(errs[:3], fmt.Sprintf("and %d more", n-3))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// sample is a series' value over the window and the events behind it.
type sample struct {
	value  float64
	events int64
}

// Next is the state machine: the state after prev given whether the
// condition holds (breach) at now, and whether the move notifies.
func Next(prev store.AlertState, breach bool, forDur time.Duration, now time.Time) (state string, notify bool) {
	switch prev.State {
	case StatePending:
		switch {
		case !breach:
			return StateOK, false
		case now.Sub(prev.Since) >= forDur:
			return StateFiring, true
		}
		return StatePending, false
	case StateFiring:
		if !breach {
			return StateResolved, true
		}
		return StateFiring, false
	default: // ok, resolved, never seen
		if breach {
			if forDur <= 0 {
				return StateFiring, true
			}
			return StatePending, false
		}
		if prev.State == StateResolved {
			return StateOK, false
		}
		return prev.State, false
	}
}

func (e *Evaluator) step(ctx context.Context, r config.AlertRule, prev store.AlertState, s sample, now time.Time) error {
	minEvents := max(r.MinEvents, 1)
	var breach bool
	if s.events >= minEvents {
		breach = s.value > r.Threshold
	} else {
		switch r.NoData {
		case config.NoDataKeep:
			return nil
		case config.NoDataAlerting:
			breach = true
		}
	}
	state, notify := Next(prev, breach, time.Duration(r.For), now)
	if prev.State == "" {
		prev.State = StateOK
	}
	if state == prev.State {
		return nil
	}
	var channels []string
	if notify {
		channels = make([]string, len(r.Notify))
		for i := range r.Notify {
			channels[i] = ChannelID(r.Name, i)
		}
	}
	_, err := e.o.Store.TransitionAlert(ctx, prev, store.AlertState{State: state, Since: now, Value: s.value}, e.o.Holder, channels)
	return err
}

// ChannelID names the i-th channel of a rule in deliveries, in the
// disabled list and in the admin API's path: "rule:i" (rule names hold no
// colon).
func ChannelID(rule string, i int) string { return fmt.Sprintf("%s:%d", rule, i) }

// values returns each series' sample of rule r at now.
func (e *Evaluator) values(ctx context.Context, r config.AlertRule, now time.Time) (map[string]sample, error) {
	switch r.Kind {
	case config.AlertTargetEjected, config.AlertAllTargetsDown:
		return e.healthValues(r), nil
	}
	window := time.Duration(r.Window)
	if window <= 0 {
		window = 5 * time.Minute
	}
	end := now.Truncate(time.Minute)
	where := map[string]string{}
	for k, v := range r.Where {
		where[k] = v
	}
	pts, err := e.o.Store.Analytics(ctx, store.AnalyticsQuery{From: end.Add(-window), To: end, Interval: time.Minute,
		GroupBy: r.GroupBy, Where: where, Metrics: metricsOf(r.Kind)})
	if err != nil {
		return nil, err
	}
	sums := map[string]*store.RollupSums{}
	for i := range pts {
		k := SeriesKey(r.GroupBy, pts[i].Group)
		if sums[k] == nil {
			sums[k] = &store.RollupSums{}
		}
		sums[k].Add(&pts[i].RollupSums)
	}
	out := map[string]sample{}
	if len(r.GroupBy) == 0 && sums[""] == nil {
		sums[""] = &store.RollupSums{}
	}
	for k, s := range sums {
		var v float64
		events := s.Requests
		switch r.Kind {
		case config.AlertErrorRate:
			v, _ = s.Metric("error_rate")
		case config.AlertLatencyP95:
			v, _ = s.Metric("latency_p95_ms")
		case config.AlertTTFTP95:
			v, _ = s.Metric("ttft_p95_ms")
			events = s.TTFTCount
		case config.AlertSpendRate:
			v = float64(s.CostMicros) / 1e6 / window.Hours()
		case config.AlertDeprecatedTraffic:
			v = float64(s.Requests)
		}
		out[k] = sample{value: v, events: events}
	}
	return out, nil
}

func metricsOf(kind string) []string {
	switch kind {
	case config.AlertErrorRate:
		return []string{"error_rate"}
	case config.AlertLatencyP95:
		return []string{"latency_p95_ms"}
	case config.AlertTTFTP95:
		return []string{"ttft_p95_ms"}
	case config.AlertSpendRate:
		return []string{"cost_micros"}
	}
	return []string{"requests"}
}

// healthValues: per model, the targets ejected (target_ejected) or 1 when
// none of its targets can take traffic (all_targets_down). A rule's where
// may name the model.
func (e *Evaluator) healthValues(r config.AlertRule) map[string]sample {
	out := map[string]sample{}
	if e.o.Health == nil {
		return out
	}
	type tally struct{ targets, ejected, up int64 }
	models := map[string]*tally{}
	for _, h := range e.o.Health() {
		if m := r.Where["model"]; m != "" && m != h.Model {
			continue
		}
		if p := r.Where["provider"]; p != "" && p != h.Provider {
			continue
		}
		t := models[h.Model]
		if t == nil {
			t = &tally{}
			models[h.Model] = t
		}
		t.targets++
		switch h.State {
		case route.Ejected, route.Cooling:
			t.ejected++
		default:
			t.up++
		}
	}
	for m, t := range models {
		k := "model=" + m
		if r.Kind == config.AlertTargetEjected {
			out[k] = sample{value: float64(t.ejected), events: t.targets}
		} else {
			v := 0.0
			if t.up == 0 {
				v = 1
			}
			out[k] = sample{value: v, events: t.targets}
		}
	}
	return out
}

// SeriesKey names a group: "model=a,provider=b", "" without group_by.
func SeriesKey(groupBy, values []string) string {
	parts := make([]string, len(groupBy))
	for i, g := range groupBy {
		parts[i] = g + "=" + values[i]
	}
	return strings.Join(parts, ",")
}
