package store

import (
	"context"
	"database/sql"
	"time"
)

// RotateKey gives key id a new hash and display prefix; the current hash
// becomes its previous one, valid until prevUntil (a rotation before then
// replaces it: only one previous value is kept). The version grows by one,
// and the audit entry and the generation bump share the transaction. A
// revoked or unknown key is ErrNotFound.
func (s *Store) RotateKey(ctx context.Context, id, newHash, newPrefix string, prevUntil time.Time, audit AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET prev_hash = hash, prev_expires_at = $1, hash = $2, prefix = $3,
 version = version + 1 WHERE id = $4 AND revoked_at IS NULL`, prevUntil.UnixMicro(), newHash, newPrefix, id)
		if err != nil {
			if isUniqueViolation(err) {
				return ErrConflict
			}
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return auditAndBump(ctx, tx, &audit)
	})
}

// PreviousHash is a rotated key's previous value, still valid until Until.
type PreviousHash struct {
	KeyID string
	Hash  string
	Until time.Time
}

// PreviousHashes lists the previous values of keys that are not revoked
// and whose overlap window has not ended at now.
func (s *Store) PreviousHashes(ctx context.Context, now time.Time) ([]PreviousHash, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, prev_hash, prev_expires_at FROM api_keys
 WHERE prev_hash IS NOT NULL AND revoked_at IS NULL AND prev_expires_at > $1`, now.UnixMicro())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PreviousHash
	for rows.Next() {
		var p PreviousHash
		var until int64
		if err := rows.Scan(&p.KeyID, &p.Hash, &until); err != nil {
			return nil, err
		}
		p.Until = time.UnixMicro(until).UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// ReleaseConfigUnit makes a unit that the configuration file no longer
// declares an API unit (changeable and deletable through the admin API),
// with an audit row and a generation bump; a unit that is not a config unit
// is left alone.
func (s *Store) ReleaseConfigUnit(ctx context.Context, kind, id string, audit AuditEntry) error {
	table, err := unitTable(kind)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE `+table+` SET source = 'api', version = version + 1 WHERE id = $1 AND source = 'config'`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return auditAndBump(ctx, tx, &audit)
	})
}
