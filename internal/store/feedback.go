package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// PrefixFeedback begins every feedback id.
const PrefixFeedback = "fb_"

// Feedback is one answer about a ledger row: a declared metric's value
// (a boolean as 0 or 1, a float as it is, a category in Label).
type Feedback struct {
	ID             string    `json:"id"`
	RequestID      string    `json:"request_id"`
	KeyID          string    `json:"key_id"`
	AppID          string    `json:"app_id"`
	Metric         string    `json:"metric"`
	Value          float64   `json:"value"`
	Label          string    `json:"label,omitempty"`
	Comment        string    `json:"comment,omitempty"`
	IdempotencyKey string    `json:"-"`
	Time           time.Time `json:"created_at"`
}

// RequestOwner returns the key and application of a ledger row, or
// ErrNotFound.
func (s *Store) RequestOwner(ctx context.Context, requestID string) (keyID, appID string, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT key_id, app_id FROM requests WHERE request_id = $1`, requestID).Scan(&keyID, &appID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", ErrNotFound
	}
	return keyID, appID, err
}

// AddFeedback stores f and returns it with its id and time, and true. When
// f carries an idempotency key that f.KeyID already used, nothing is
// written: the row stored then is returned, and false.
func (s *Store) AddFeedback(ctx context.Context, f Feedback) (Feedback, bool, error) {
	if f.ID == "" {
		f.ID = NewID(PrefixFeedback)
	}
	if f.Time.IsZero() {
		f.Time = time.Now()
	}
	f.Time = f.Time.UTC().Truncate(time.Microsecond)
	res, err := s.w.ExecContext(ctx, `INSERT INTO feedback (id, request_id, key_id, app_id, metric, value, label, comment, idempotency_key, ts)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
		f.ID, f.RequestID, f.KeyID, f.AppID, f.Metric, f.Value, f.Label, f.Comment, f.IdempotencyKey, f.Time.UnixMicro())
	if err != nil {
		return Feedback{}, false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return f, true, err
	}
	if f.IdempotencyKey == "" {
		return Feedback{}, false, errors.New("feedback insert: no row written")
	}
	got, err := s.scanFeedback(ctx, `WHERE key_id = $1 AND idempotency_key = $2`, f.KeyID, f.IdempotencyKey)
	if err != nil || len(got) == 0 {
		return Feedback{}, false, errors.Join(err, ErrNotFound)
	}
	return got[0], false, nil
}

// FeedbackFor lists the feedback on a ledger row, oldest first.
func (s *Store) FeedbackFor(ctx context.Context, requestID string) ([]Feedback, error) {
	return s.scanFeedback(ctx, `WHERE request_id = $1`, requestID)
}

func (s *Store) scanFeedback(ctx context.Context, where string, args ...any) ([]Feedback, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, request_id, key_id, app_id, metric, value, label, comment, idempotency_key, ts
		FROM feedback `+where+` ORDER BY ts, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Feedback
	for rows.Next() {
		var f Feedback
		var ts int64
		if err := rows.Scan(&f.ID, &f.RequestID, &f.KeyID, &f.AppID, &f.Metric, &f.Value, &f.Label, &f.Comment, &f.IdempotencyKey, &ts); err != nil {
			return nil, err
		}
		f.Time = time.UnixMicro(ts).UTC()
		out = append(out, f)
	}
	return out, rows.Err()
}
