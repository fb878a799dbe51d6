package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

var _ ledger.Sink = (*Store)(nil)

const insertRequest = `INSERT INTO requests (request_id, ts, endpoint, key_id, key_name, model, served_model, provider,
 stream, status, http_status, input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens,
 estimated, cost_micros, latency_us, ttft_us, error, org_id, team_id, app_id)
 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24)
 ON CONFLICT (request_id) DO NOTHING`

const insertAttempt = `INSERT INTO attempts (request_id, n, provider, model, status, http_status, latency_us, ttft_us, error)
 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (request_id, n) DO NOTHING`

// InsertEntries writes a batch of ledger entries in one transaction.
// Entries already stored (same request id) are left as they are.
func (s *Store) InsertEntries(ctx context.Context, batch []ledger.Entry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		// The statements run without the caller's deadline: the SQLite
		// driver starts a watcher goroutine per statement for a context
		// that can be cancelled, and the transaction is bounded already.
		ctx := context.WithoutCancel(ctx)
		reqStmt, err := tx.PrepareContext(ctx, insertRequest)
		if err != nil {
			return err
		}
		defer reqStmt.Close()
		attStmt, err := tx.PrepareContext(ctx, insertAttempt)
		if err != nil {
			return err
		}
		defer attStmt.Close()
		for i := range batch {
			e := &batch[i]
			if _, err := reqStmt.ExecContext(ctx, e.RequestID, e.Time.UnixMicro(), e.Endpoint, e.KeyID, e.KeyName,
				e.Model, e.ServedModel, e.Provider, b2i(e.Stream), string(e.Status), e.HTTPStatus,
				e.InputTokens, e.OutputTokens, e.CachedTokens, e.CacheWriteTokens, e.ReasoningTokens,
				b2i(e.Estimated), e.CostMicros, e.Latency.Microseconds(), e.TTFT.Microseconds(), e.Error,
				e.OrgID, e.TeamID, e.AppID); err != nil {
				return err
			}
			for _, a := range e.Attempts {
				if _, err := attStmt.ExecContext(ctx, e.RequestID, a.N, a.Provider, a.Model, string(a.Status),
					a.HTTPStatus, a.Latency.Microseconds(), a.TTFT.Microseconds(), a.Error); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// RequestFilter selects ledger entries. Every non-empty field must match.
type RequestFilter struct {
	Limit  int
	KeyID  string // optional
	OrgID  string // optional
	TeamID string // optional
	AppID  string // optional
}

// ListRequests returns the newest ledger entries first, with their attempts.
func (s *Store) ListRequests(ctx context.Context, f RequestFilter) ([]ledger.Entry, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	q := `SELECT request_id, ts, endpoint, key_id, key_name, model, served_model, provider, stream, status,
 http_status, input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, estimated,
 cost_micros, latency_us, ttft_us, error, org_id, team_id, app_id FROM requests`
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"key_id", f.KeyID}, {"org_id", f.OrgID}, {"team_id", f.TeamID}, {"app_id", f.AppID}} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit)
	q += fmt.Sprintf(" ORDER BY ts DESC, request_id DESC LIMIT $%d", len(args))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ledger.Entry
	index := map[string]int{}
	for rows.Next() {
		var e ledger.Entry
		var ts, lat, ttft int64
		var stream, est int
		var status string
		if err := rows.Scan(&e.RequestID, &ts, &e.Endpoint, &e.KeyID, &e.KeyName, &e.Model, &e.ServedModel,
			&e.Provider, &stream, &status, &e.HTTPStatus, &e.InputTokens, &e.OutputTokens, &e.CachedTokens,
			&e.CacheWriteTokens, &e.ReasoningTokens, &est, &e.CostMicros, &lat, &ttft, &e.Error,
			&e.OrgID, &e.TeamID, &e.AppID); err != nil {
			return nil, err
		}
		e.Time = time.UnixMicro(ts).UTC()
		e.Stream, e.Estimated, e.Status = stream != 0, est != 0, ledger.Status(status)
		e.Latency, e.TTFT = time.Duration(lat)*time.Microsecond, time.Duration(ttft)*time.Microsecond
		e.Attempts = []ledger.Attempt{}
		index[e.RequestID] = len(out)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	// Attempts of the listed requests, in one query.
	aq := `SELECT request_id, n, provider, model, status, http_status, latency_us, ttft_us, error FROM attempts WHERE request_id IN (`
	ids := make([]any, len(out))
	for i, e := range out {
		if i > 0 {
			aq += ","
		}
		aq += "$" + itoa(i+1)
		ids[i] = e.RequestID
	}
	aq += `) ORDER BY request_id, n`
	arows, err := s.r.QueryContext(ctx, aq, ids...)
	if err != nil {
		return nil, err
	}
	defer arows.Close()
	for arows.Next() {
		var a ledger.Attempt
		var id, status string
		var lat, ttft int64
		if err := arows.Scan(&id, &a.N, &a.Provider, &a.Model, &status, &a.HTTPStatus, &lat, &ttft, &a.Error); err != nil {
			return nil, err
		}
		a.Status = ledger.Status(status)
		a.Latency, a.TTFT = time.Duration(lat)*time.Microsecond, time.Duration(ttft)*time.Microsecond
		i := index[id]
		out[i].Attempts = append(out[i].Attempts, a)
	}
	return out, arows.Err()
}

// CountRequests returns the number of ledger entries.
func (s *Store) CountRequests(ctx context.Context) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM requests`).Scan(&n)
	return n, err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
