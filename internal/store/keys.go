package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// KeyRecord is a virtual key as stored: never the key itself, only its
// SHA-256 digest (hex) and a short display prefix.
type KeyRecord struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Hash      string     `json:"-"`
	Prefix    string     `json:"prefix"`
	Models    []string   `json:"models"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`

	RPM           int64  `json:"rpm,omitempty"`
	TPM           int64  `json:"tpm,omitempty"`
	MaxConcurrent int64  `json:"max_concurrent,omitempty"`
	BudgetMicros  int64  `json:"budget_micros,omitempty"`
	BudgetPeriod  string `json:"budget_period,omitempty"`
	ReserveMicros int64  `json:"reserve_micros,omitempty"`
}

// CreateKey stores a new key record. A taken name or hash is ErrConflict.
func (s *Store) CreateKey(ctx context.Context, k KeyRecord) error {
	models, _ := json.Marshal(nonNil(k.Models))
	_, err := s.w.ExecContext(ctx, `INSERT INTO api_keys (id, name, hash, prefix, models, created_at, expires_at,
 rpm, tpm, max_concurrent, budget_micros, budget_period, reserve_micros) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
		k.ID, k.Name, k.Hash, k.Prefix, string(models), k.CreatedAt.UnixMicro(), micros(k.ExpiresAt),
		k.RPM, k.TPM, k.MaxConcurrent, k.BudgetMicros, k.BudgetPeriod, k.ReserveMicros)
	if err != nil && isUniqueViolation(err) {
		return ErrConflict
	}
	return err
}

// ListKeys returns all key records, revoked ones included, oldest first.
func (s *Store) ListKeys(ctx context.Context) ([]KeyRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, hash, prefix, models, created_at, revoked_at, expires_at,
 rpm, tpm, max_concurrent, budget_micros, budget_period, reserve_micros FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []KeyRecord{}
	for rows.Next() {
		var k KeyRecord
		var models string
		var created int64
		var revoked, expires sql.NullInt64
		if err := rows.Scan(&k.ID, &k.Name, &k.Hash, &k.Prefix, &models, &created, &revoked, &expires,
			&k.RPM, &k.TPM, &k.MaxConcurrent, &k.BudgetMicros, &k.BudgetPeriod, &k.ReserveMicros); err != nil {
			return nil, err
		}
		if expires.Valid {
			t := time.UnixMicro(expires.Int64).UTC()
			k.ExpiresAt = &t
		}
		if err := json.Unmarshal([]byte(models), &k.Models); err != nil {
			return nil, err
		}
		k.CreatedAt = time.UnixMicro(created).UTC()
		if revoked.Valid {
			t := time.UnixMicro(revoked.Int64).UTC()
			k.RevokedAt = &t
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeKey marks a key revoked by id or name. Revoking twice is a no-op.
func (s *Store) RevokeKey(ctx context.Context, idOrName string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 OR name = $2`, at.UnixMicro(), idOrName)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

func micros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

// SpendSince returns the cost, in micro-dollars, of a key's ledger entries
// from since onwards.
func (s *Store) SpendSince(ctx context.Context, keyID string, since time.Time) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) FROM requests WHERE key_id = $1 AND ts >= $2`,
		keyID, since.UnixMicro()).Scan(&n)
	return n, err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func isUniqueViolation(err error) bool {
	var coder interface{ Code() int }
	if errors.As(err, &coder) && coder.Code()&0xff == 19 { // SQLITE_CONSTRAINT
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint") || strings.Contains(msg, "duplicate key") || strings.Contains(msg, "SQLSTATE 23505")
}
