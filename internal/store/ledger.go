package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

var _ ledger.Sink = (*Store)(nil)

const requestColumns = coreColumns + `, ` + contextColumns

// coreColumns are the columns every request has a value for: a row whose
// context columns are all empty is inserted with these alone (the context
// columns' defaults are the empty values), which binds a third fewer
// parameters per row.
const coreColumns = `request_id, ts, endpoint, key_id, key_name, model, served_model, provider,
 stream, status, http_status, input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens,
 estimated, cost_micros, latency_us, ttft_us, error, org_id, team_id, app_id`

// coreCols is the number of coreColumns.
const coreCols = 24

// contextColumns are what the request's steps decided (ledger.Entry's
// trace, product, prompt, experiment, cache and guardrail fields).
const contextColumns = `trace_id, product, product_version, plan, subscription_id, prompt, prompt_version,
 prompt_label, experiment, arm, cache, saved_cost_micros, guardrails`

// requestCols is the number of requestColumns.
const requestCols = 37

const attemptColumns = `request_id, n, provider, model, status, http_status, latency_us, ttft_us, error`

// rowsPerInsert is how many rows one INSERT statement of the ledger writes:
// one statement per row spends most of its time in per-statement work
// (binding, stepping, halting), not in the B-trees.
const rowsPerInsert = 32

// multiInsert returns "INSERT INTO table (columns) VALUES ($1,...),(...)"
// for rows rows of cols columns, with the conflict clause. SQLite gets
// anonymous "?" parameters: it looks named ones up in a list, which makes
// a statement with hundreds of them quadratic to prepare and to bind.
func (s *Store) multiInsert(table, columns string, cols, rows int, conflict string) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + columns + ") VALUES ")
	n := 1
	for r := range rows {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteByte(',')
			}
			if s.dialect == "sqlite" {
				b.WriteByte('?')
			} else {
				b.WriteByte('$')
				b.WriteString(itoa(n))
			}
			n++
		}
		b.WriteByte(')')
	}
	b.WriteString(" ON CONFLICT " + conflict + " DO NOTHING")
	return b.String()
}

// InsertEntries writes a batch of ledger entries in one transaction.
// Entries already stored (same request id) are left as they are.
func (s *Store) InsertEntries(ctx context.Context, batch []ledger.Entry) error {
	var attempts []attemptRow
	for i := range batch {
		for _, a := range batch[i].Attempts {
			attempts = append(attempts, attemptRow{batch[i].RequestID, a})
		}
	}
	// The statements, one per chunk of rowsPerInsert rows, in the batch's
	// order; a chunk of entries without context binds the core columns
	// only. They are prepared before the transaction: SQLite has one write
	// connection, which the transaction holds.
	type chunk struct {
		from, to int
		core     bool
		st       *sql.Stmt
	}
	var reqChunks, attChunks []chunk
	for i := 0; i < len(batch); i += rowsPerInsert {
		c := chunk{from: i, to: min(i+rowsPerInsert, len(batch)), core: true}
		for j := c.from; j < c.to && c.core; j++ {
			c.core = !hasContext(&batch[j])
		}
		q := s.multiInsert("requests", requestColumns, requestCols, c.to-c.from, "(request_id)")
		if c.core {
			q = s.multiInsert("requests", coreColumns, coreCols, c.to-c.from, "(request_id)")
		}
		var err error
		if c.st, err = s.prepared(ctx, q); err != nil {
			return err
		}
		reqChunks = append(reqChunks, c)
	}
	for i := 0; i < len(attempts); i += rowsPerInsert {
		c := chunk{from: i, to: min(i+rowsPerInsert, len(attempts))}
		var err error
		if c.st, err = s.prepared(ctx, s.multiInsert("attempts", attemptColumns, 9, c.to-c.from, "(request_id, n)")); err != nil {
			return err
		}
		attChunks = append(attChunks, c)
	}
	if err := s.PrepareRollups(ctx); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		// The statements run without the caller's deadline: the SQLite
		// driver starts a watcher goroutine per statement for a context
		// that can be cancelled, and the transaction is bounded already.
		ctx := context.WithoutCancel(ctx)
		if err := s.addRollups(ctx, tx, batch); err != nil { // before the inserts: it skips stored entries
			return err
		}
		args := make([]any, 0, rowsPerInsert*requestCols)
		for _, c := range reqChunks {
			args = args[:0]
			for j := c.from; j < c.to; j++ {
				e := &batch[j]
				args = append(args, e.RequestID, e.Time.UnixMicro(), e.Endpoint, e.KeyID, e.KeyName,
					e.Model, e.ServedModel, e.Provider, b2i(e.Stream), string(e.Status), int64(e.HTTPStatus),
					e.InputTokens, e.OutputTokens, e.CachedTokens, e.CacheWriteTokens, e.ReasoningTokens,
					b2i(e.Estimated), e.CostMicros, e.Latency.Microseconds(), e.TTFT.Microseconds(), e.Error,
					e.OrgID, e.TeamID, e.AppID)
				if !c.core {
					args = append(args, e.TraceID, e.Product, e.ProductVersion, e.Plan, e.SubscriptionID, e.Prompt, int64(e.PromptVersion),
						e.PromptLabel, e.Experiment, e.Arm, e.Cache, e.SavedCostMicros, verdictsJSON(e.Guardrails))
				}
			}
			if _, err := tx.StmtContext(ctx, c.st).ExecContext(ctx, args...); err != nil {
				return err
			}
		}
		for _, c := range attChunks {
			args = args[:0]
			for _, r := range attempts[c.from:c.to] {
				a := r.a
				args = append(args, r.requestID, int64(a.N), a.Provider, a.Model, string(a.Status), int64(a.HTTPStatus),
					a.Latency.Microseconds(), a.TTFT.Microseconds(), a.Error)
			}
			if _, err := tx.StmtContext(ctx, c.st).ExecContext(ctx, args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// hasContext reports whether an entry has a value for any of the context
// columns (see coreColumns).
func hasContext(e *ledger.Entry) bool {
	return e.TraceID != "" || e.Product != "" || e.ProductVersion != "" || e.Plan != "" || e.SubscriptionID != "" ||
		e.Prompt != "" || e.PromptVersion != 0 || e.PromptLabel != "" || e.Experiment != "" || e.Arm != "" ||
		e.Cache != "" || e.SavedCostMicros != 0 || len(e.Guardrails) > 0
}

// prepared returns the statement for query, prepared once on the write
// pool (at most one per table, column set and chunk size: 3 × rowsPerInsert).
func (s *Store) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if st := s.stmts[query]; st != nil {
		return st, nil
	}
	st, err := s.w.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[query] = st
	return st, nil
}

type attemptRow struct {
	requestID string
	a         ledger.Attempt
}

// RequestFilter selects ledger entries. Every non-empty field must match.
type RequestFilter struct {
	Limit  int
	KeyID  string // optional
	OrgID  string // optional
	TeamID string // optional
	AppID  string // optional
	// Before, when set, continues a listing: only entries older than it
	// in the listing's order (ts, then request id, both descending).
	Before *RequestCursor
}

// RequestCursor is the position of one ledger entry in the newest-first
// order: its time in microseconds and its request id.
type RequestCursor struct {
	TS        int64
	RequestID string
}

// ListRequests returns the newest ledger entries first, with their attempts.
func (s *Store) ListRequests(ctx context.Context, f RequestFilter) ([]ledger.Entry, error) {
	if f.Limit <= 0 || f.Limit > 1001 { // 1000 and one to tell whether more follow
		f.Limit = 100
	}
	q := `SELECT ` + requestColumns + ` FROM requests`
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"key_id", f.KeyID}, {"org_id", f.OrgID}, {"team_id", f.TeamID}, {"app_id", f.AppID}} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	if b := f.Before; b != nil {
		// ts <= bounds the scan on the ts indexes; the row comparison breaks ties on ts.
		args = append(args, b.TS, b.TS, b.RequestID)
		n := len(args)
		where = append(where, fmt.Sprintf("ts <= $%d AND (ts, request_id) < ($%d, $%d)", n-2, n-1, n))
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
		var status, verdicts string
		if err := rows.Scan(&e.RequestID, &ts, &e.Endpoint, &e.KeyID, &e.KeyName, &e.Model, &e.ServedModel,
			&e.Provider, &stream, &status, &e.HTTPStatus, &e.InputTokens, &e.OutputTokens, &e.CachedTokens,
			&e.CacheWriteTokens, &e.ReasoningTokens, &est, &e.CostMicros, &lat, &ttft, &e.Error,
			&e.OrgID, &e.TeamID, &e.AppID,
			&e.TraceID, &e.Product, &e.ProductVersion, &e.Plan, &e.SubscriptionID, &e.Prompt, &e.PromptVersion,
			&e.PromptLabel, &e.Experiment, &e.Arm, &e.Cache, &e.SavedCostMicros, &verdicts); err != nil {
			return nil, err
		}
		if verdicts != "" {
			if err := json.Unmarshal([]byte(verdicts), &e.Guardrails); err != nil {
				return nil, fmt.Errorf("request %s: guardrail verdicts: %w", e.RequestID, err)
			}
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

// verdictsJSON is the guardrails column: "" when no guardrail ran.
func verdictsJSON(v []ledger.Verdict) string {
	if len(v) == 0 {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil { // a slice of plain structs always marshals
		return ""
	}
	return string(b)
}

// b2i is a boolean column's value, as an int64: database/sql passes an
// int64 through as it is and converts a plain int by reflection.
func b2i(b bool) int64 {
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
