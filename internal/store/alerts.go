package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Alert states and notifications. A rule's series moves between states by
// compare-and-set on its sequence number, so that two evaluators that saw
// the same state cannot both move it; a move that notifies also inserts a
// row keyed by (rule, series, seq) into alert_transitions and one delivery
// per channel, in the same transaction: a transition is recorded, and its
// notifications queued, exactly once across the cluster.

// AlertState is the stored state of one series of a rule.
type AlertState struct {
	Rule   string    `json:"rule"`
	Series string    `json:"series"`
	State  string    `json:"state"`
	Since  time.Time `json:"since"`
	Value  float64   `json:"value"`
	Seq    int64     `json:"seq"` // 0: never stored
}

// AlertStates returns every stored state, by rule and series.
func (s *Store) AlertStates(ctx context.Context) ([]AlertState, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT rule, series, state, since, value, seq FROM alert_states ORDER BY rule, series`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AlertState
	for rows.Next() {
		var a AlertState
		var since int64
		if err := rows.Scan(&a.Rule, &a.Series, &a.State, &since, &a.Value, &a.Seq); err != nil {
			return nil, err
		}
		a.Since = time.UnixMilli(since).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

// TransitionAlert moves a series from prev (as read; Seq 0 when it had no
// row) to next, whose Seq becomes prev.Seq+1. With channels non-nil the
// move notifies: it is recorded in alert_transitions by holder and a
// delivery is queued per channel. It answers false, changing nothing,
// when the series is no longer at prev (another evaluator moved it).
func (s *Store) TransitionAlert(ctx context.Context, prev, next AlertState, holder string, channels []string) (bool, error) {
	next.Rule, next.Series, next.Seq = prev.Rule, prev.Series, prev.Seq+1
	moved := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		if prev.Seq == 0 {
			res, err = tx.ExecContext(ctx, `INSERT INTO alert_states (rule, series, state, since, value, seq) VALUES ($1, $2, $3, $4, $5, $6)
 ON CONFLICT (rule, series) DO NOTHING`, next.Rule, next.Series, next.State, next.Since.UnixMilli(), next.Value, next.Seq)
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE alert_states SET state = $1, since = $2, value = $3, seq = $4
 WHERE rule = $5 AND series = $6 AND seq = $7`, next.State, next.Since.UnixMilli(), next.Value, next.Seq, next.Rule, next.Series, prev.Seq)
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return err
		}
		if channels != nil {
			res, err := tx.ExecContext(ctx, `INSERT INTO alert_transitions (rule, series, seq, state, at, value, holder) VALUES ($1, $2, $3, $4, $5, $6, $7)
 ON CONFLICT (rule, series, seq) DO NOTHING`, next.Rule, next.Series, next.Seq, next.State, next.Since.UnixMilli(), next.Value, holder)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return errTransitionTaken
			}
			for _, c := range channels {
				if _, err := tx.ExecContext(ctx, `INSERT INTO alert_deliveries (rule, series, seq, channel, next_at) VALUES ($1, $2, $3, $4, $5)`,
					next.Rule, next.Series, next.Seq, c, next.Since.UnixMilli()); err != nil {
					return err
				}
			}
		}
		moved = true
		return nil
	})
	if errors.Is(err, errTransitionTaken) {
		return false, nil
	}
	return moved, err
}

var errTransitionTaken = errors.New("transition already recorded")

// AlertTransition is a recorded transition that notifies.
type AlertTransition struct {
	Rule   string    `json:"rule"`
	Series string    `json:"series"`
	Seq    int64     `json:"seq"`
	State  string    `json:"state"`
	At     time.Time `json:"at"`
	Value  float64   `json:"value"`
	Holder string    `json:"evaluator"`
}

// AlertTransitions returns the newest recorded transitions first.
func (s *Store) AlertTransitions(ctx context.Context, limit int) ([]AlertTransition, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	return s.AlertTransitionPage(ctx, nil, limit)
}

// AlertTransitionCursor is a transition's position in the history's page
// order: newest first (At, unix ms), then by rule and series, then the
// series' newest transition (Seq) first.
type AlertTransitionCursor struct {
	At     int64
	Rule   string
	Series string
	Seq    int64
}

// CursorOf is t's position in the history's page order.
func (t AlertTransition) CursorOf() AlertTransitionCursor {
	return AlertTransitionCursor{At: t.At.UnixMilli(), Rule: t.Rule, Series: t.Series, Seq: t.Seq}
}

// AlertTransitionPage returns up to limit (1-1001, else 100) recorded
// transitions in the history's page order (see AlertTransitionCursor),
// after the one at after (nil: from the newest). One query on the index
// of migration 0020: a page reads its own rows however long the history;
// transitions recorded in between never shift it.
func (s *Store) AlertTransitionPage(ctx context.Context, after *AlertTransitionCursor, limit int) ([]AlertTransition, error) {
	q, args := alertTransitionPageQuery(after, limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AlertTransition{}
	for rows.Next() {
		var t AlertTransition
		var at int64
		if err := rows.Scan(&t.Rule, &t.Series, &t.Seq, &t.State, &at, &t.Value, &t.Holder); err != nil {
			return nil, err
		}
		t.At = time.UnixMilli(at).UTC()
		out = append(out, t)
	}
	return out, rows.Err()
}

// alertTransitionPageQuery is the page query. The order mixes directions,
// which a row comparison cannot express, so the cursor's condition is
// spelled out column by column; its leading at <= bound is what the index
// seeks to.
func alertTransitionPageQuery(after *AlertTransitionCursor, limit int) (string, []any) {
	var args []any
	q := `SELECT rule, series, seq, state, at, value, holder FROM alert_transitions`
	if after != nil {
		at, rule, series, seq := bindArgs(&args, after.At), bindArgs(&args, after.Rule), bindArgs(&args, after.Series), bindArgs(&args, after.Seq)
		q += ` WHERE at <= ` + at + ` AND (at < ` + at + ` OR (at = ` + at + ` AND (rule > ` + rule + ` OR (rule = ` + rule +
			` AND (series > ` + series + ` OR (series = ` + series + ` AND seq < ` + seq + `))))))`
	}
	return q + ` ORDER BY at DESC, rule, series, seq DESC LIMIT ` + bindArgs(&args, pageSize(limit)), args
}

// AlertDelivery is a queued notification of one transition to one channel.
type AlertDelivery struct {
	AlertTransition
	Channel  string
	Attempts int
	NextAt   int64 // the claim: unix ms
}

// ClaimAlertDeliveries looks at up to limit deliveries due at now and
// claims each until now+claim (compare-and-set on next_at), so that two
// deliverers never send the same one at once. It returns those it
// claimed, and more when it looked at limit of them (there may be more).
func (s *Store) ClaimAlertDeliveries(ctx context.Context, now time.Time, claim time.Duration, limit int) (claimed []AlertDelivery, more bool, err error) {
	rows, err := s.w.QueryContext(ctx, `SELECT d.rule, d.series, d.seq, d.channel, d.attempts, d.next_at, t.state, t.at, t.value, t.holder
 FROM alert_deliveries d JOIN alert_transitions t ON t.rule = d.rule AND t.series = d.series AND t.seq = d.seq
 WHERE d.done = 0 AND d.next_at <= $1 ORDER BY d.next_at LIMIT $2`, now.UnixMilli(), limit)
	if err != nil {
		return nil, false, err
	}
	var due []AlertDelivery
	for rows.Next() {
		var d AlertDelivery
		var at int64
		if err := rows.Scan(&d.Rule, &d.Series, &d.Seq, &d.Channel, &d.Attempts, &d.NextAt, &d.State, &at, &d.Value, &d.Holder); err != nil {
			rows.Close()
			return nil, false, err
		}
		d.At = time.UnixMilli(at).UTC()
		due = append(due, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	out := due[:0]
	for _, d := range due {
		until := now.Add(claim).UnixMilli()
		res, err := s.w.ExecContext(ctx, `UPDATE alert_deliveries SET next_at = $1
 WHERE rule = $2 AND series = $3 AND seq = $4 AND channel = $5 AND next_at = $6 AND done = 0`,
			until, d.Rule, d.Series, d.Seq, d.Channel, d.NextAt)
		if err != nil {
			return nil, false, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			d.NextAt = until
			out = append(out, d)
		}
	}
	return out, len(due) == limit, nil
}

// FinishAlertDelivery records a delivery's outcome: done, or failed with
// the next try at retryAt.
func (s *Store) FinishAlertDelivery(ctx context.Context, d AlertDelivery, done bool, errMsg string, retryAt time.Time) error {
	_, err := s.w.ExecContext(ctx, `UPDATE alert_deliveries SET done = $1, attempts = attempts + 1, last_error = $2, next_at = $3
 WHERE rule = $4 AND series = $5 AND seq = $6 AND channel = $7`, b2i(done), truncate(errMsg, 500), retryAt.UnixMilli(),
		d.Rule, d.Series, d.Seq, d.Channel)
	return err
}

// DisableAlertChannel switches a channel off (its queued deliveries are
// dropped) and writes the audit entry, in one transaction.
func (s *Store) DisableAlertChannel(ctx context.Context, channel, reason string, now time.Time, audit AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO alert_channels_disabled (channel, disabled_at, reason) VALUES ($1, $2, $3)
 ON CONFLICT (channel) DO NOTHING`, channel, now.UnixMilli(), truncate(reason, 500))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // disabled already
		}
		if _, err := tx.ExecContext(ctx, `UPDATE alert_deliveries SET done = 1, last_error = 'channel disabled' WHERE channel = $1 AND done = 0`, channel); err != nil {
			return err
		}
		return insertAudit(ctx, tx, audit)
	})
}

// EnableAlertChannel switches a disabled channel back on.
func (s *Store) EnableAlertChannel(ctx context.Context, channel string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM alert_channels_disabled WHERE channel = $1`, channel)
	return err
}

// DisabledAlertChannels returns the disabled channels and why.
func (s *Store) DisabledAlertChannels(ctx context.Context) (map[string]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT channel, reason FROM alert_channels_disabled`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var c, r string
		if err := rows.Scan(&c, &r); err != nil {
			return nil, err
		}
		out[c] = r
	}
	return out, rows.Err()
}

// StoredAlertRule is a rule made through the admin API; Spec is its JSON.
type StoredAlertRule struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Spec      string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateAlertRule stores a rule; ErrConflict when the name is taken.
func (s *Store) CreateAlertRule(ctx context.Context, id, name, spec string, now time.Time) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO alert_rules (id, name, spec, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)`,
		id, name, spec, now.Unix())
	if err != nil && isUniqueViolation(err) {
		return fmt.Errorf("alert rule %q: %w", name, ErrConflict)
	}
	return err
}

// ListAlertRules returns the stored rules by name.
func (s *Store) ListAlertRules(ctx context.Context) ([]StoredAlertRule, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, spec, created_at FROM alert_rules ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredAlertRule
	for rows.Next() {
		var r StoredAlertRule
		var at int64
		if err := rows.Scan(&r.ID, &r.Name, &r.Spec, &at); err != nil {
			return nil, err
		}
		r.CreatedAt = time.Unix(at, 0).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteAlertRule deletes a stored rule (by id or name);
// ErrNotFound when there is none.
func (s *Store) DeleteAlertRule(ctx context.Context, ref string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var name string
		err := tx.QueryRowContext(ctx, `SELECT name FROM alert_rules WHERE id = $1 OR name = $1`, ref).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		// Its states stay: a rule made again under the name goes on from
		// their sequence numbers, so its transitions stay unique.
		_, err = tx.ExecContext(ctx, `DELETE FROM alert_rules WHERE name = $1`, name)
		return err
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
