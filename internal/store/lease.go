package store

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"time"
)

// AcquireLease takes or renews the lease name for holder until now+ttl.
// It answers true when holder holds the lease afterwards: nobody held it,
// holder held it already, or the previous holder's lease had expired. One
// statement decides, so two nodes racing for a free lease cannot both win.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	res, err := s.w.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
 WHERE leases.holder = excluded.holder OR leases.expires_at <= $4`,
		name, holder, now.Add(ttl).UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReleaseLease gives the lease up if holder holds it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder)
	return err
}

// LeaseHolder returns who holds the lease name and until when, or
// ErrNotFound.
func (s *Store) LeaseHolder(ctx context.Context, name string) (string, time.Time, error) {
	var h string
	var exp int64
	err := s.r.QueryRowContext(ctx, `SELECT holder, expires_at FROM leases WHERE name = $1`, name).Scan(&h, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, ErrNotFound
	}
	if err != nil {
		return "", time.Time{}, err
	}
	return h, time.UnixMilli(exp).UTC(), nil
}

// RunRollupCompactor compacts the analytics rollups every interval until
// ctx ends, on whichever node holds the "analytics-compactor" lease; the
// others wait their turn. It returns when ctx ends.
func (s *Store) RunRollupCompactor(ctx context.Context, holder string, every time.Duration, keep RollupRetention, log *slog.Logger) {
	if every <= 0 {
		every = time.Minute
	}
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		now := time.Now()
		ok, err := s.AcquireLease(ctx, "analytics-compactor", holder, now, 3*every)
		if err != nil && ctx.Err() == nil {
			log.Warn("analytics compactor: lease", "err", err)
		}
		if ok {
			if _, err := s.SweepLegacyAttempts(ctx); err != nil && ctx.Err() == nil { // old nodes' attempts (ledger_attempts.go)
				log.Warn("ledger: move attempts of nodes before migration 0017", "err", err)
			}
			for range 8 { // a backlog is worked off a week at a time
				st, err := s.CompactRollups(ctx, now, keep)
				if err != nil {
					if ctx.Err() == nil {
						log.Warn("analytics compactor", "err", err)
					}
					break
				}
				if !st.HoursDone.Before(now.Truncate(time.Hour)) {
					break
				}
			}
		}
		select {
		case <-ctx.Done():
			if ok {
				_ = s.ReleaseLease(context.WithoutCancel(ctx), "analytics-compactor", holder)
			}
			return
		case <-t.C:
		}
	}
}
