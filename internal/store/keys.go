package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
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

	// OrgID, TeamID and AppID place the key in the tenancy tree; all three
	// are empty for a key outside it. On create the store fills the outer
	// ones in from the innermost one given (see CreateKey).
	OrgID  string `json:"org_id,omitempty"`
	TeamID string `json:"team_id,omitempty"`
	AppID  string `json:"app_id,omitempty"`
	// Endpoints and SourceCIDRs restrict where the key may be used; empty
	// means anywhere. Tags are free-form labels.
	Endpoints   []string `json:"endpoints"`
	SourceCIDRs []string `json:"source_cidrs"`
	Tags        []string `json:"tags"`
	// RotatedFrom is the id of the key this one replaced, if any.
	RotatedFrom string `json:"rotated_from,omitempty"`
	// AlertPercents are the budget thresholds that raise an alert.
	AlertPercents []int `json:"alert_percents"`
	// Version starts at 1 and grows by one with each change: the ETag.
	Version int64 `json:"version"`
}

const keyColumns = `id, name, hash, prefix, models, created_at, revoked_at, expires_at,
 rpm, tpm, max_concurrent, budget_micros, budget_period, reserve_micros,
 org_id, team_id, app_id, endpoints, source_cidrs, tags, rotated_from, alert_percents, version`

// CreateKey stores a new key record (its Version is set to 1). A taken
// name or hash is ErrConflict. A key placed in a unit needs only the
// innermost of OrgID, TeamID and AppID: the others are filled in from the
// unit, and a unit that does not exist (or is not inside the outer ones
// given) is an error wrapping ErrNotFound. Like every key write, it bumps
// the generation in the same transaction.
func (s *Store) CreateKey(ctx context.Context, k KeyRecord) error {
	return s.createKey(ctx, k, nil)
}

// CreateKeyAudited is CreateKey plus the audit entry, in one transaction.
func (s *Store) CreateKeyAudited(ctx context.Context, k KeyRecord, audit AuditEntry) error {
	return s.createKey(ctx, k, &audit)
}

func (s *Store) createKey(ctx context.Context, k KeyRecord, audit *AuditEntry) error {
	lists, err := keyLists(k)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if k.OrgID, k.TeamID, err = lockParents(ctx, tx, k.OrgID, k.TeamID, k.AppID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO api_keys (`+keyColumns+`)
 VALUES ($1,$2,$3,$4,$5,$6,NULL,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,1)`,
			k.ID, k.Name, k.Hash, k.Prefix, lists[0], k.CreatedAt.UnixMicro(), micros(k.ExpiresAt),
			k.RPM, k.TPM, k.MaxConcurrent, k.BudgetMicros, k.BudgetPeriod, k.ReserveMicros,
			k.OrgID, k.TeamID, k.AppID, lists[1], lists[2], lists[3], k.RotatedFrom, lists[4])
		if err != nil {
			if isUniqueViolation(err) {
				return ErrConflict
			}
			return err
		}
		return auditAndBump(ctx, tx, audit)
	})
}

// keyLists encodes the key's list columns: models, endpoints,
// source_cidrs, tags, alert_percents.
func keyLists(k KeyRecord) ([5]string, error) {
	var out [5]string
	for i, v := range []any{nonNil(k.Models), nonNil(k.Endpoints), nonNil(k.SourceCIDRs), nonNil(k.Tags), nonNilInts(k.AlertPercents)} {
		b, err := json.Marshal(v)
		if err != nil {
			return out, err
		}
		out[i] = string(b)
	}
	return out, nil
}

// auditAndBump ends every audited write: the audit row (when there is
// one) and the generation bump, inside the write's transaction.
func auditAndBump(ctx context.Context, tx *sql.Tx, audit *AuditEntry) error {
	if audit != nil {
		if err := insertAudit(ctx, tx, *audit); err != nil {
			return err
		}
	}
	return bumpGeneration(ctx, tx)
}

// GetKey returns the key record with id, or ErrNotFound.
func (s *Store) GetKey(ctx context.Context, id string) (KeyRecord, error) {
	return first(ctx, s.r, scanKeys, `SELECT `+keyColumns+` FROM api_keys WHERE id = $1`, id)
}

// ListKeys returns all key records, revoked ones included, oldest first.
func (s *Store) ListKeys(ctx context.Context) ([]KeyRecord, error) {
	return s.ListKeysBy(ctx, KeyFilter{})
}

// KeyFilter selects keys by unit; "" matches any.
type KeyFilter struct {
	OrgID, TeamID, AppID string
}

// ListKeysBy returns the key records in the units f names, revoked ones
// included, oldest first.
func (s *Store) ListKeysBy(ctx context.Context, f KeyFilter) ([]KeyRecord, error) {
	q, args := `SELECT `+keyColumns+` FROM api_keys`, []any{}
	var where []string
	for _, c := range []struct{ col, v string }{{"org_id", f.OrgID}, {"team_id", f.TeamID}, {"app_id", f.AppID}} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, err
	}
	return scanKeys(rows)
}

func scanKeys(rows *sql.Rows) ([]KeyRecord, error) {
	defer rows.Close()
	out := []KeyRecord{}
	for rows.Next() {
		var k KeyRecord
		var models, endpoints, cidrs, tags, alerts string
		var created int64
		var revoked, expires sql.NullInt64
		if err := rows.Scan(&k.ID, &k.Name, &k.Hash, &k.Prefix, &models, &created, &revoked, &expires,
			&k.RPM, &k.TPM, &k.MaxConcurrent, &k.BudgetMicros, &k.BudgetPeriod, &k.ReserveMicros,
			&k.OrgID, &k.TeamID, &k.AppID, &endpoints, &cidrs, &tags, &k.RotatedFrom, &alerts, &k.Version); err != nil {
			return nil, err
		}
		for _, f := range []struct {
			src string
			dst any
		}{{models, &k.Models}, {endpoints, &k.Endpoints}, {cidrs, &k.SourceCIDRs}, {tags, &k.Tags}, {alerts, &k.AlertPercents}} {
			if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
				return nil, fmt.Errorf("key %s: %w", k.ID, err)
			}
		}
		k.CreatedAt = time.UnixMicro(created).UTC()
		k.RevokedAt, k.ExpiresAt = fromMicros(revoked), fromMicros(expires)
		out = append(out, k)
	}
	return out, rows.Err()
}

// UpdateKey replaces the key k.ID's name, models, endpoints, source CIDRs,
// tags, limits, budget, expiry and alert thresholds if its version is
// still ifVersion (any version when ifVersion is 0), sets version+1, and
// stores the audit entry and bumps the generation, in one transaction. It
// returns ErrNotFound, ErrVersionMismatch, or ErrConflict for a taken name.
// The key's hash, units, creation and revocation are not changed.
func (s *Store) UpdateKey(ctx context.Context, k KeyRecord, ifVersion int64, audit AuditEntry) error {
	lists, err := keyLists(k)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET name = $1, models = $2, endpoints = $3, source_cidrs = $4,
 tags = $5, rpm = $6, tpm = $7, max_concurrent = $8, budget_micros = $9, budget_period = $10, reserve_micros = $11,
 expires_at = $12, alert_percents = $13, version = version + 1 WHERE id = $14 AND (CAST($15 AS BIGINT) = 0 OR version = $15)`,
			k.Name, lists[0], lists[1], lists[2], lists[3], k.RPM, k.TPM, k.MaxConcurrent, k.BudgetMicros,
			k.BudgetPeriod, k.ReserveMicros, micros(k.ExpiresAt), lists[4], k.ID, ifVersion)
		if err != nil {
			if isUniqueViolation(err) {
				return ErrConflict
			}
			return err
		}
		if err := missIn(ctx, tx, res, "api_keys", k.ID); err != nil {
			return err
		}
		return auditAndBump(ctx, tx, &audit)
	})
}

// SetKeyExpiry brings the key's expiry forward to at: it is set only when
// the key has none or a later one (rotation's overlap window never extends
// a key's life). When it changes, the version grows by one, and the audit
// entry is stored and the generation bumped in the same transaction; when
// it does not, nothing is written. An unknown id is ErrNotFound.
func (s *Store) SetKeyExpiry(ctx context.Context, id string, at time.Time, audit AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET expires_at = $1, version = version + 1
 WHERE id = $2 AND (expires_at IS NULL OR expires_at > $1)`, at.UnixMicro(), id)
		if err != nil {
			return err
		}
		changed, err := changedOrExists(ctx, tx, res, "api_keys", id)
		if err != nil || !changed {
			return err
		}
		return auditAndBump(ctx, tx, &audit)
	})
}

// RevokeKey marks a key revoked by id or name. Revoking twice is a no-op.
func (s *Store) RevokeKey(ctx context.Context, idOrName string, at time.Time) error {
	return s.revokeKey(ctx, `(id = $2 OR name = $2)`, idOrName, at, nil)
}

// RevokeKeyAudited marks the key id revoked at at, with its version+1, the
// audit entry and a generation bump, in one transaction. Revoking a
// revoked key changes and records nothing. An unknown id is ErrNotFound.
func (s *Store) RevokeKeyAudited(ctx context.Context, id string, at time.Time, audit AuditEntry) error {
	return s.revokeKey(ctx, `id = $2`, id, at, &audit)
}

func (s *Store) revokeKey(ctx context.Context, match, idOrName string, at time.Time, audit *AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1, version = version + 1 WHERE `+match+` AND revoked_at IS NULL`,
			at.UnixMicro(), idOrName)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			if err != nil {
				return err
			}
			return auditAndBump(ctx, tx, audit)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM api_keys WHERE `+strings.ReplaceAll(match, "$2", "$1"), idOrName).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

func micros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMicro(v.Int64).UTC()
	return &t
}

// SpendSince returns the cost, in micro-dollars, of a key's ledger entries
// from since onwards.
func (s *Store) SpendSince(ctx context.Context, keyID string, since time.Time) (int64, error) {
	return s.SpendSinceBy(ctx, "key_id", keyID, since)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilInts(s []int) []int {
	if s == nil {
		return []int{}
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
