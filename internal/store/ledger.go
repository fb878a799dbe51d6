package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
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
 estimated, cost_micros, latency_us, ttft_us, error, org_id, team_id, app_id, attempts`

// coreCols is the number of coreColumns.
const coreCols = 25

// contextColumns are what the request's steps decided (ledger.Entry's
// trace, product, prompt, experiment, cache and guardrail fields).
const contextColumns = `trace_id, product, product_version, plan, subscription_id, prompt, prompt_version,
 prompt_label, experiment, arm, cache, saved_cost_micros, guardrails`

// requestCols is the number of requestColumns.
const requestCols = 38

// rowsPerInsert is how many rows one INSERT statement of the ledger writes:
// one statement per row spends most of its time in per-statement work
// (binding, stepping, halting), not in the B-trees.
const rowsPerInsert = 32

// insertRequestsSQL returns the INSERT of rows ledger rows of cols
// columns that skips rows whose request id is stored and, with returning,
// returns the ids of the rows it inserted: which entries of a batch are
// new, for the rollups (see addRollups). SQLite gets anonymous "?" parameters: it looks
// named ones up in a list, which makes a statement with hundreds of them
// quadratic to prepare and to bind. It also gets INSERT OR IGNORE instead
// of ON CONFLICT DO NOTHING: the same for the primary key (the table's
// only unique constraint; no value bound is ever NULL), but no constraint
// can then abort the statement half way, so SQLite keeps no statement
// journal for it (a copy of every page the statement changes, spilled to
// a temporary file: a fifth of the ledger's CPU).
func (s *Store) insertRequestsSQL(columns string, cols, rows int, returning bool) string {
	k := insertSQLKey{s.dialect, cols, rows, returning}
	if q, ok := insertSQL.Load(k); ok {
		return q.(string)
	}
	q := s.buildInsertRequestsSQL(columns, cols, rows, returning)
	insertSQL.Store(k, q)
	return q
}

// insertSQL caches the ledger's inserts (several KB each), built once per
// dialect, column set and row count instead of once per batch.
var insertSQL sync.Map // insertSQLKey -> string

type insertSQLKey struct {
	dialect    string
	cols, rows int
	returning  bool
}

func (s *Store) buildInsertRequestsSQL(columns string, cols, rows int, returning bool) string {
	var b strings.Builder
	if s.dialect == "sqlite" {
		b.WriteString("INSERT OR IGNORE")
	} else {
		b.WriteString("INSERT")
	}
	b.WriteString(" INTO requests (" + columns + ") VALUES ")
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
	if s.dialect != "sqlite" {
		b.WriteString(" ON CONFLICT (request_id) DO NOTHING")
	}
	if returning {
		b.WriteString(" RETURNING request_id")
	}
	return b.String()
}

// InsertEntries writes a batch of ledger entries in one transaction.
// Entries already stored (same request id) are left as they are, and an
// id repeated in the batch is stored once, as its first entry; the
// analytics rollups count exactly the entries this call stored.
//
// Almost every batch is new entries only: the inserts return no ids, and
// each insert's count of rows stored tells that it stored every row. A
// batch that has a stored or repeated id (a retry, a journal replayed, an
// id that another node wrote too) gets a smaller count: that transaction
// is rolled back and the batch written again by inserts that return the
// ids they stored, which the rollups then count. Returning the ids costs
// a tenth of the ledger's CPU per entry (a step and a scan per row).
func (s *Store) InsertEntries(ctx context.Context, batch []ledger.Entry) error {
	if len(batch) == 0 {
		return nil
	}
	err := s.insertEntries(ctx, batch, false)
	if errors.Is(err, errStoredBefore) {
		err = s.insertEntries(ctx, batch, true)
	}
	return err
}

// errStoredBefore rolls back an insert of entries that are not all new.
var errStoredBefore = errors.New("the batch has entries stored before or repeated")

// insertEntries writes batch in one transaction. With returning, the
// inserts return the ids they stored; without, a batch that is not all new
// entries is rolled back with errStoredBefore.
func (s *Store) insertEntries(ctx context.Context, batch []ledger.Entry, returning bool) error {
	// The statements, one per chunk of rowsPerInsert rows, in the batch's
	// order; a chunk of entries without context binds the core columns
	// only. They are prepared before the transaction: SQLite has one write
	// connection, which the transaction holds.
	type chunk struct {
		from, to int
		core     bool
		st       *sql.Stmt
	}
	var chunks []chunk
	for i := 0; i < len(batch); i += rowsPerInsert {
		c := chunk{from: i, to: min(i+rowsPerInsert, len(batch)), core: true}
		for j := c.from; j < c.to && c.core; j++ {
			c.core = !hasContext(&batch[j])
		}
		q := s.insertRequestsSQL(requestColumns, requestCols, c.to-c.from, returning)
		if c.core {
			q = s.insertRequestsSQL(coreColumns, coreCols, c.to-c.from, returning)
		}
		var err error
		if c.st, err = s.prepared(ctx, q); err != nil {
			return err
		}
		chunks = append(chunks, c)
	}
	if err := s.PrepareRollups(ctx); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		// The statements run without the caller's deadline: the SQLite
		// driver starts a watcher goroutine per statement for a context
		// that can be cancelled, and the transaction is bounded already.
		ctx := context.WithoutCancel(ctx)
		done, err := s.rollupWatermarks(ctx, tx) // first: on PostgreSQL it waits for a compaction under way
		if err != nil {
			return err
		}
		// The rows the inserts store are the entries stored now: not those
		// stored before (a retried batch, a journal replayed twice, another
		// node's copy, committed or not: PostgreSQL makes a conflicting
		// insert wait for the other transaction), nor an id's repeats.
		var stored map[string]bool // nil: every entry (see addRollups)
		if returning {
			stored = make(map[string]bool, len(batch))
		}
		args := make([]any, 0, rowsPerInsert*requestCols)
		var enc []byte
		for _, c := range chunks {
			args = args[:0]
			for j := c.from; j < c.to; j++ {
				e := &batch[j]
				enc = appendAttempts(enc[:0], e.Attempts)
				args = append(args, e.RequestID, e.Time.UnixMicro(), e.Endpoint, e.KeyID, e.KeyName,
					e.Model, e.ServedModel, e.Provider, b2i(e.Stream), string(e.Status), int64(e.HTTPStatus),
					e.InputTokens, e.OutputTokens, e.CachedTokens, e.CacheWriteTokens, e.ReasoningTokens,
					b2i(e.Estimated), e.CostMicros, e.Latency.Microseconds(), e.TTFT.Microseconds(), e.Error,
					e.OrgID, e.TeamID, e.AppID, string(enc))
				if !c.core {
					args = append(args, e.TraceID, e.Product, e.ProductVersion, e.Plan, e.SubscriptionID, e.Prompt, int64(e.PromptVersion),
						e.PromptLabel, e.Experiment, e.Arm, e.Cache, e.SavedCostMicros, verdictsJSON(e.Guardrails))
				}
			}
			st := tx.StmtContext(ctx, c.st)
			if returning {
				if err := scanIDs(st.QueryContext(ctx, args...))(stored); err != nil {
					return err
				}
				continue
			}
			res, err := st.ExecContext(ctx, args...)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n != int64(c.to-c.from) {
				return errStoredBefore
			}
		}
		return s.addRollups(ctx, tx, batch, stored, done)
	})
}

// scanIDs returns a function that adds the ids of rows to set and closes
// rows (or returns err, the query's).
func scanIDs(rows *sql.Rows, err error) func(set map[string]bool) error {
	return func(set map[string]bool) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			set[id] = true
		}
		return rows.Err()
	}
}

// hasContext reports whether an entry has a value for any of the context
// columns (see coreColumns).
func hasContext(e *ledger.Entry) bool {
	return e.TraceID != "" || e.Product != "" || e.ProductVersion != "" || e.Plan != "" || e.SubscriptionID != "" ||
		e.Prompt != "" || e.PromptVersion != 0 || e.PromptLabel != "" || e.Experiment != "" || e.Arm != "" ||
		e.Cache != "" || e.SavedCostMicros != 0 || len(e.Guardrails) > 0
}

// prepared returns the statement for query, prepared once on the write
// pool (the ledger's inserts, one per column set and chunk size; the
// rollups' statements).
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
	var legacy []int // the entries whose attempts are in the attempts table (see ledger_attempts.go)
	for rows.Next() {
		var e ledger.Entry
		var ts, lat, ttft int64
		var stream, est int
		var status, attempts, verdicts string
		if err := rows.Scan(&e.RequestID, &ts, &e.Endpoint, &e.KeyID, &e.KeyName, &e.Model, &e.ServedModel,
			&e.Provider, &stream, &status, &e.HTTPStatus, &e.InputTokens, &e.OutputTokens, &e.CachedTokens,
			&e.CacheWriteTokens, &e.ReasoningTokens, &est, &e.CostMicros, &lat, &ttft, &e.Error,
			&e.OrgID, &e.TeamID, &e.AppID, &attempts,
			&e.TraceID, &e.Product, &e.ProductVersion, &e.Plan, &e.SubscriptionID, &e.Prompt, &e.PromptVersion,
			&e.PromptLabel, &e.Experiment, &e.Arm, &e.Cache, &e.SavedCostMicros, &verdicts); err != nil {
			return nil, err
		}
		if verdicts != "" {
			if err := json.Unmarshal([]byte(verdicts), &e.Guardrails); err != nil {
				return nil, fmt.Errorf("request %s: guardrail verdicts: %w", e.RequestID, err)
			}
		}
		var err error
		if e.Attempts, err = decodeAttempts(attempts); err != nil {
			return nil, fmt.Errorf("request %s: attempts: %w", e.RequestID, err)
		}
		if attempts == "" {
			legacy = append(legacy, len(out))
		}
		e.Time = time.UnixMicro(ts).UTC()
		e.Stream, e.Estimated, e.Status = stream != 0, est != 0, ledger.Status(status)
		e.Latency, e.TTFT = time.Duration(lat)*time.Microsecond, time.Duration(ttft)*time.Microsecond
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close() // SQLite's read pool is small: the legacy query gets this connection back
	if err := s.legacyAttempts(ctx, out, legacy); err != nil {
		return nil, err
	}
	return out, nil
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
