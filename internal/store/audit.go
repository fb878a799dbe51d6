package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// AuditEntry is one row of the audit log: who changed what, when, and the
// object before and after, already redacted (never a secret, never a raw
// key). The log is append-only: the store inserts and lists entries and
// has no statement that changes or deletes one.
type AuditEntry struct {
	ID         string          `json:"id"`
	Time       time.Time       `json:"ts"`
	Actor      string          `json:"actor"`
	Tenant     string          `json:"tenant"`
	Action     string          `json:"action"`
	ObjectType string          `json:"object_type"`
	ObjectID   string          `json:"object_id"`
	Before     json.RawMessage `json:"before"` // nil: none (a create)
	After      json.RawMessage `json:"after"`  // nil: none (a delete)
	RequestID  string          `json:"request_id"`
	IP         string          `json:"ip"`
}

// InsertAudit appends an entry. ID and Time are filled in when empty.
func (s *Store) InsertAudit(ctx context.Context, e AuditEntry) error {
	return insertAudit(ctx, s.w, e)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// lastAuditMicros keeps audit ids increasing within the process even when
// the clock does not move or steps back.
var lastAuditMicros atomic.Int64

func newAuditID(now time.Time) string {
	us := now.UnixMicro()
	for {
		last := lastAuditMicros.Load()
		if us <= last {
			us = last + 1
		}
		if lastAuditMicros.CompareAndSwap(last, us) {
			break
		}
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("aud_%016x%08x", us, binary.BigEndian.Uint32(r[:]))
}

func insertAudit(ctx context.Context, ex execer, e AuditEntry) error {
	if e.Actor == "" || e.Action == "" {
		return errors.New("audit entry: actor and action are required")
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.ID == "" {
		e.ID = newAuditID(e.Time)
	}
	before, err := rawJSON(e.Before)
	if err != nil {
		return fmt.Errorf("audit entry before: %w", err)
	}
	after, err := rawJSON(e.After)
	if err != nil {
		return fmt.Errorf("audit entry after: %w", err)
	}
	_, err = ex.ExecContext(ctx, `INSERT INTO audit_log (id, ts, actor, tenant, action, object_type, object_id, before, after, request_id, ip)
 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
		e.ID, e.Time.UnixMicro(), e.Actor, e.Tenant, e.Action, e.ObjectType, e.ObjectID, before, after, e.RequestID, e.IP)
	return err
}

func rawJSON(m json.RawMessage) (any, error) {
	if len(m) == 0 || string(m) == "null" {
		return nil, nil
	}
	if !json.Valid(m) {
		return nil, errors.New("not valid JSON")
	}
	return string(m), nil
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	Limit      int    // at most this many (default 100)
	ObjectType string // optional
	ObjectID   string // optional
	Tenant     string // optional: one organisation's rows
	// BeforeID, when set, continues a listing: only entries whose id sorts
	// below it (ids grow with time, so: older entries).
	BeforeID string
}

// ListAudit returns audit entries, newest first.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q := `SELECT id, ts, actor, tenant, action, object_type, object_id, before, after, request_id, ip FROM audit_log`
	var args []any
	for _, c := range []struct{ col, op, v string }{{"object_type", "=", f.ObjectType}, {"object_id", "=", f.ObjectID},
		{"tenant", "=", f.Tenant}, {"id", "<", f.BeforeID}} {
		if c.v == "" {
			continue
		}
		args = append(args, c.v)
		if len(args) == 1 {
			q += " WHERE"
		} else {
			q += " AND"
		}
		q += fmt.Sprintf(" %s %s $%d", c.col, c.op, len(args))
	}
	args = append(args, f.Limit)
	q += fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", len(args))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var ts int64
		var before, after sql.NullString
		if err := rows.Scan(&e.ID, &ts, &e.Actor, &e.Tenant, &e.Action, &e.ObjectType, &e.ObjectID, &before, &after,
			&e.RequestID, &e.IP); err != nil {
			return nil, err
		}
		e.Time = time.UnixMicro(ts).UTC()
		if before.Valid {
			e.Before = json.RawMessage(before.String)
		}
		if after.Valid {
			e.After = json.RawMessage(after.String)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// execAudited runs one statement and inserts the audit entry in the same
// transaction; a unique-constraint violation is ErrConflict.
func (s *Store) execAudited(ctx context.Context, audit AuditEntry, query string, args ...any) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			if isUniqueViolation(err) {
				return ErrConflict
			}
			return err
		}
		return insertAudit(ctx, tx, audit)
	})
}
