package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
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
// and "" for a request without attempts. It is JSON so that SQL can read
// it (json_each, jsonb_array_elements) and so that migration 0017 could
// build it in SQL from the old table.

// attemptFields is the number of fields of one encoded attempt.
const attemptFields = 8

// appendAttempts appends the attempts column of as to b ("" for none).
func appendAttempts(b []byte, as []ledger.Attempt) []byte {
	if len(as) == 0 {
		return b
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

// decodeAttempts reads an attempts column: an empty (not nil) slice for "".
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

// migrateLedgerAttempts is the Go step of migration 0017: it writes each
// request's rows of the attempts table into its attempts column (in the
// encoding of appendAttempts, built by the database's JSON functions, in
// one statement), then drops the table. It runs in the migration's
// transaction, so a failure leaves both as they were.
func migrateLedgerAttempts(ctx context.Context, tx *sql.Tx, dialect string) error {
	q := `UPDATE requests SET attempts = (SELECT json_group_array(json_array(n, provider, model, status, http_status, latency_us,
 ttft_us, error) ORDER BY n) FROM attempts a WHERE a.request_id = requests.request_id)
 WHERE request_id IN (SELECT request_id FROM attempts)`
	if dialect == "postgres" {
		q = `UPDATE requests r SET attempts = a.enc FROM (SELECT request_id, json_agg(json_build_array(n, provider, model, status,
 http_status, latency_us, ttft_us, error) ORDER BY n)::text AS enc FROM attempts GROUP BY request_id) a
 WHERE r.request_id = a.request_id`
	}
	if _, err := tx.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("copy attempts into the ledger rows: %w", err)
	}
	_, err := tx.ExecContext(ctx, `DROP TABLE attempts`)
	return err
}
