package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/ledger"
)

// A request's upstream attempts are stored in its own ledger row, in the
// attempts column, rather than as rows of a table of their own: a second
// table cost every entry two more B-tree inserts (the table and its key)
// and every batch a second statement, and its one reader (ListRequests)
// reads them with their requests anyway. The column holds a JSON array
// with one array per attempt, its fields by position:
//
//	[[n, provider, model, status, http_status, latency_us, ttft_us, error], ...]
//
// and "[]" for a request without attempts. It is JSON so that SQL can read
// it (json_each, jsonb_array_elements) and so that SQL can build it from
// the old table.
//
// The old table stays until a later migration drops it, because nodes of
// the version before 0017 keep writing it during a rolling upgrade: their
// rows have attempts "" (the column's default) and their attempts in the
// table. "" therefore means "look in the table": ListRequests does, for
// such rows only, in one query per page (legacyAttempts), and the
// compactor moves the table's rows into their requests' column
// (SweepLegacyAttempts). Where the table is gone neither asks again.

// attemptFields is the number of fields of one encoded attempt.
const attemptFields = 8

// appendAttempts appends the attempts column of as to b ("[]" for none:
// "" is an old node's row, whose attempts are in the attempts table).
func appendAttempts(b []byte, as []ledger.Attempt) []byte {
	if len(as) == 0 {
		return append(b, '[', ']')
	}
	b = append(b, '[')
	for i := range as {
		a := &as[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(a.N), 10)
		b = append(b, ',')
		b = appendJSONString(b, a.Provider)
		b = append(b, ',')
		b = appendJSONString(b, a.Model)
		b = append(b, ',')
		b = appendJSONString(b, string(a.Status))
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(a.HTTPStatus), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, a.Latency.Microseconds(), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, a.TTFT.Microseconds(), 10)
		b = append(b, ',')
		b = appendJSONString(b, a.Error)
		b = append(b, ']')
	}
	return append(b, ']')
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD (as
// encoding/json does).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// decodeAttempts reads an attempts column: an empty (not nil) slice for
// "[]" and for "" (whose attempts, if any, are in the attempts table).
func decodeAttempts(s string) ([]ledger.Attempt, error) {
	if s == "" {
		return []ledger.Attempt{}, nil
	}
	var rows [][]json.RawMessage
	if err := json.Unmarshal([]byte(s), &rows); err != nil {
		return nil, err
	}
	out := make([]ledger.Attempt, len(rows))
	for i, r := range rows {
		if len(r) != attemptFields {
			return nil, fmt.Errorf("attempt %d has %d fields, want %d", i+1, len(r), attemptFields)
		}
		a := &out[i]
		var status string
		var lat, ttft int64
		for j, dst := range []any{&a.N, &a.Provider, &a.Model, &status, &a.HTTPStatus, &lat, &ttft, &a.Error} {
			if err := json.Unmarshal(r[j], dst); err != nil {
				return nil, fmt.Errorf("attempt %d, field %d: %w", i+1, j+1, err)
			}
		}
		a.Status = ledger.Status(status)
		a.Latency, a.TTFT = time.Duration(lat)*time.Microsecond, time.Duration(ttft)*time.Microsecond
	}
	return out, nil
}

// migrateLedgerAttempts is the Go step of migration 0017: it moves every
// request's rows of the attempts table into its attempts column (in the
// encoding of appendAttempts, built by the database's JSON functions). It
// keeps the table: nodes of the version before run beside migrated ones
// during a rolling upgrade and write it; SweepLegacyAttempts moves what
// they write. It runs in the migration's transaction, so a failure leaves
// both as they were.
func migrateLedgerAttempts(ctx context.Context, tx *sql.Tx, dialect string) error {
	if _, _, err := moveLegacyAttempts(ctx, tx, dialect, 0); err != nil {
		return fmt.Errorf("move attempts into the ledger rows: %w", err)
	}
	return nil
}

// legacyTable is what a Store knows of the attempts table.
type legacyTable struct {
	gone atomic.Bool // the table was found missing: nothing to read or move
}

// attemptsTableExists reports whether the attempts table exists.
func (s *Store) attemptsTableExists(ctx context.Context) (bool, error) {
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'attempts'`
	if s.dialect == "postgres" {
		q = `SELECT count(*) FROM (SELECT to_regclass('attempts') AS t) r WHERE t IS NOT NULL`
	}
	var n int
	err := s.r.QueryRowContext(ctx, q).Scan(&n)
	return n > 0, err
}

// legacyFailed is what a reader or the sweep makes of err, an error of a
// statement on the attempts table: nil, and the table known to be gone
// from now on, if it is gone; err otherwise.
func (s *Store) legacyFailed(ctx context.Context, err error) error {
	if ok, cerr := s.attemptsTableExists(ctx); cerr == nil && !ok {
		s.legacy.gone.Store(true)
		return nil
	}
	return err
}

// legacyAttempts fills in the attempts of the entries whose attempts
// column was "" (legacy lists their indexes in out) from the attempts
// table, in one query by primary key. The query reads the column of the
// same requests too: a sweep that moved them between the listing and this
// query has put them there, and one statement sees either the table's
// rows or the column, never neither.
func (s *Store) legacyAttempts(ctx context.Context, out []ledger.Entry, legacy []int) error {
	if len(legacy) == 0 || s.legacy.gone.Load() {
		return nil
	}
	args := make([]any, 0, 2*len(legacy))
	for _, i := range legacy {
		args = append(args, out[i].RequestID)
	}
	args = append(args, args...)
	q := `SELECT request_id, n, provider, model, status, http_status, latency_us, ttft_us, error, '' FROM attempts WHERE request_id IN (` +
		placeholders(s.dialect, 1, len(legacy)) + `) UNION ALL SELECT request_id, 0, '', '', '', 0, 0, 0, '', attempts FROM requests WHERE request_id IN (` +
		placeholders(s.dialect, len(legacy)+1, len(legacy)) + `) AND attempts <> ''`
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return s.legacyFailed(ctx, err)
	}
	defer rows.Close()
	byID := make(map[string][]ledger.Attempt, len(legacy))
	moved := map[string]string{}
	for rows.Next() {
		var id, status, col string
		var a ledger.Attempt
		var lat, ttft int64
		if err := rows.Scan(&id, &a.N, &a.Provider, &a.Model, &status, &a.HTTPStatus, &lat, &ttft, &a.Error, &col); err != nil {
			return err
		}
		if col != "" {
			moved[id] = col
			continue
		}
		a.Status = ledger.Status(status)
		a.Latency, a.TTFT = time.Duration(lat)*time.Microsecond, time.Duration(ttft)*time.Microsecond
		byID[id] = append(byID[id], a)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, i := range legacy {
		e := &out[i]
		if col, ok := moved[e.RequestID]; ok {
			as, err := decodeAttempts(col)
			if err != nil {
				return fmt.Errorf("request %s: attempts: %w", e.RequestID, err)
			}
			e.Attempts = as
			continue
		}
		if as := byID[e.RequestID]; len(as) > 0 {
			slices.SortFunc(as, func(a, b ledger.Attempt) int { return a.N - b.N })
			e.Attempts = as
		}
	}
	return nil
}

// sweepBatch is how many requests one statement of SweepLegacyAttempts
// moves, and sweepBatches how many statements one call runs at most.
const (
	sweepBatch   = 1000
	sweepBatches = 100
)

// SweepLegacyAttempts moves rows of the attempts table, written by nodes
// of the version before migration 0017, into their requests' attempts
// column and deletes them from the table, a batch of requests per
// transaction, until the table is empty (or after sweepBatches batches).
// It returns how many requests' columns it wrote. Stores that sweep at
// the same time move each request once: a batch deletes its rows and
// writes the column in one transaction (on PostgreSQL, in one statement
// whose DELETE takes the rows: another's DELETE of the same rows waits
// and then finds them gone), and writes only a column that is still "".
// Table rows of a request whose column is written already (an old node's
// journal replayed after a sweep) are deleted and not copied.
func (s *Store) SweepLegacyAttempts(ctx context.Context) (int, error) {
	return s.sweepLegacyAttempts(ctx, sweepBatch)
}

// sweepLegacyAttempts is SweepLegacyAttempts, batch requests per batch.
func (s *Store) sweepLegacyAttempts(ctx context.Context, batch int) (int, error) {
	total := 0
	for range sweepBatches {
		if s.legacy.gone.Load() {
			return total, nil
		}
		var taken, written int
		err := s.tx(ctx, func(tx *sql.Tx) error {
			var err error
			taken, written, err = moveLegacyAttempts(ctx, tx, s.dialect, batch)
			return err
		})
		if err != nil {
			return total, s.legacyFailed(ctx, err)
		}
		total += written
		if taken == 0 {
			break
		}
	}
	return total, nil
}

// moveLegacyAttempts moves the attempts table's rows of up to limit
// requests (all for 0) into their requests' column, in tx: it returns how
// many requests' rows it took from the table and how many columns it
// wrote (those that were still "").
func moveLegacyAttempts(ctx context.Context, tx *sql.Tx, dialect string, limit int) (taken, written int, err error) {
	if dialect == "postgres" {
		ids := `SELECT DISTINCT request_id FROM attempts`
		if limit > 0 {
			ids += ` ORDER BY request_id LIMIT ` + strconv.Itoa(limit)
		}
		err = tx.QueryRowContext(ctx, `WITH moved AS (DELETE FROM attempts WHERE request_id IN (`+ids+`)
 RETURNING request_id, n, provider, model, status, http_status, latency_us, ttft_us, error),
 enc AS (SELECT request_id, json_agg(json_build_array(n, provider, model, status, http_status, latency_us, ttft_us, error)
 ORDER BY n)::text AS enc FROM moved GROUP BY request_id),
 upd AS (UPDATE requests r SET attempts = enc.enc FROM enc WHERE r.request_id = enc.request_id AND r.attempts = '' RETURNING 1)
 SELECT (SELECT count(*) FROM enc), (SELECT count(*) FROM upd)`).Scan(&taken, &written)
		return taken, written, err
	}
	// SQLite: the transaction holds the database's write lock from its
	// start (_txlock=immediate), so the three statements see one table.
	ids := `SELECT DISTINCT request_id FROM attempts`
	if limit > 0 {
		ids += ` ORDER BY request_id LIMIT ` + strconv.Itoa(limit)
	}
	if err = tx.QueryRowContext(ctx, `SELECT count(*) FROM (`+ids+`)`).Scan(&taken); err != nil || taken == 0 {
		return taken, 0, err
	}
	res, err := tx.ExecContext(ctx, `UPDATE requests SET attempts = (SELECT json_group_array(json_array(n, provider, model, status,
 http_status, latency_us, ttft_us, error) ORDER BY n) FROM attempts a WHERE a.request_id = requests.request_id)
 WHERE request_id IN (`+ids+`) AND attempts = ''`)
	if err != nil {
		return 0, 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, 0, err
	}
	del := `DELETE FROM attempts WHERE request_id IN (` + ids + `)`
	if limit <= 0 {
		del = `DELETE FROM attempts`
	}
	if _, err = tx.ExecContext(ctx, del); err != nil {
		return 0, 0, err
	}
	return taken, int(n), nil
}
