package store

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// Capture is one request's captured bodies (already redacted and cut to
// the size cap by the capture step), kept until ExpiresAt.
type Capture struct {
	RequestID    string    `json:"request_id"`
	Time         time.Time `json:"time"`
	OrgID        string    `json:"org_id,omitempty"`
	TeamID       string    `json:"team_id,omitempty"`
	AppID        string    `json:"app_id,omitempty"`
	KeyID        string    `json:"key_id,omitempty"`
	Model        string    `json:"model,omitempty"`
	Status       string    `json:"status"`
	HTTPStatus   int       `json:"http_status"`
	RequestBody  string    `json:"request_body"`
	ResponseBody string    `json:"response_body"`
	Truncated    bool      `json:"truncated"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// InsertCapture stores a capture; a second one for the same request id is
// ignored.
func (s *Store) InsertCapture(ctx context.Context, c Capture) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO request_log (request_id, ts, org_id, team_id, app_id, key_id, model, status,
 http_status, request_body, response_body, truncated, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
 ON CONFLICT (request_id) DO NOTHING`, c.RequestID, c.Time.UnixMicro(), c.OrgID, c.TeamID, c.AppID, c.KeyID, c.Model, c.Status,
		c.HTTPStatus, c.RequestBody, c.ResponseBody, b2i(c.Truncated), c.ExpiresAt.Unix())
	return err
}

// CaptureFilter selects captures; every non-empty field must match. From
// is inclusive, To exclusive.
type CaptureFilter struct {
	RequestID, KeyID, Model, Status string
	OrgID, TeamID, AppID            string
	From, To                        time.Time
	Limit                           int // default 50, at most 501 (a page of 500 and the row after it)
	// After is the last capture of the previous page (nil: from the
	// newest): the page holds the captures older than it.
	After *RequestCursor
}

// SearchCaptures returns the newest matching captures first (expired ones
// the sweeper has not reached yet are left out).
func (s *Store) SearchCaptures(ctx context.Context, f CaptureFilter, now time.Time) ([]Capture, error) {
	if f.Limit <= 0 || f.Limit > 501 {
		f.Limit = 50
	}
	where := []string{"expires_at > $1"}
	args := []any{now.Unix()}
	for _, c := range []struct{ col, v string }{{"request_id", f.RequestID}, {"key_id", f.KeyID}, {"model", f.Model},
		{"status", f.Status}, {"org_id", f.OrgID}, {"team_id", f.TeamID}, {"app_id", f.AppID}} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, c.col+" = $"+itoa(len(args)))
		}
	}
	if !f.From.IsZero() {
		args = append(args, f.From.UnixMicro())
		where = append(where, "ts >= $"+itoa(len(args)))
	}
	if !f.To.IsZero() {
		args = append(args, f.To.UnixMicro())
		where = append(where, "ts < $"+itoa(len(args)))
	}
	if f.After != nil {
		args = append(args, f.After.TS, f.After.RequestID)
		where = append(where, "(ts, request_id) < ($"+itoa(len(args)-1)+", $"+itoa(len(args))+")")
	}
	args = append(args, f.Limit)
	rows, err := s.r.QueryContext(ctx, `SELECT request_id, ts, org_id, team_id, app_id, key_id, model, status, http_status,
 request_body, response_body, truncated, expires_at FROM request_log WHERE `+strings.Join(where, " AND ")+
		` ORDER BY ts DESC, request_id DESC LIMIT $`+itoa(len(args)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Capture{}
	for rows.Next() {
		var c Capture
		var ts, exp int64
		var trunc int
		if err := rows.Scan(&c.RequestID, &ts, &c.OrgID, &c.TeamID, &c.AppID, &c.KeyID, &c.Model, &c.Status, &c.HTTPStatus,
			&c.RequestBody, &c.ResponseBody, &trunc, &exp); err != nil {
			return nil, err
		}
		c.Time, c.ExpiresAt, c.Truncated = time.UnixMicro(ts).UTC(), time.Unix(exp, 0).UTC(), trunc != 0
		out = append(out, c)
	}
	return out, rows.Err()
}

// SweepCaptures deletes the captures expired at now, at most 10,000 per
// call, and returns how many went.
func (s *Store) SweepCaptures(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM request_log WHERE request_id IN
 (SELECT request_id FROM request_log WHERE expires_at <= $1 LIMIT 10000)`, now.Unix())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// RunRequestLogSweeper deletes expired captures every interval until ctx
// ends. Every node may run it: deleting twice is harmless.
func (s *Store) RunRequestLogSweeper(ctx context.Context, every time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for {
			n, err := s.SweepCaptures(ctx, time.Now())
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("request log sweeper", "err", err)
				}
				break
			}
			if n < 10000 {
				break
			}
		}
	}
}
