// Package querycount counts the SQL statements a piece of work runs, for
// tests and benchmarks that hold pages and handlers to a query budget. It
// registers the database/sql driver "sqlite-counted", SQLite's own driver
// wrapped: every statement run with a context that Track marked is counted
// against that context, whatever else runs on the database at the time.
//
// Counted: each statement executed (a query or an exec, prepared or not),
// once. Not counted: opening connections, BEGIN, COMMIT and ROLLBACK.
package querycount

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // the driver wrapped
)

// Driver is the name the counting SQLite driver is registered under.
const Driver = "sqlite-counted"

// Counter is the statements run with one tracked context.
type Counter struct {
	mu    sync.Mutex
	stmts []string
}

// N is how many statements ran.
func (c *Counter) N() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.stmts)
}

// Statements are the statements that ran, in order, whitespace folded.
func (c *Counter) Statements() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.stmts...)
}

// Reset forgets the statements counted so far.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stmts = nil
}

func (c *Counter) add(query string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stmts = append(c.stmts, strings.Join(strings.Fields(query), " "))
}

type ctxKey struct{}

// Track returns ctx with a new Counter: statements run with ctx, or a
// context made from it, count there.
func Track(ctx context.Context) (context.Context, *Counter) {
	c := &Counter{}
	return context.WithValue(ctx, ctxKey{}, c), c
}

func count(ctx context.Context, query string) {
	if c, _ := ctx.Value(ctxKey{}).(*Counter); c != nil {
		c.add(query)
	}
}

var inner driver.Driver

func init() {
	db, err := sql.Open("sqlite", "")
	if err != nil {
		panic(err)
	}
	inner = db.Driver()
	_ = db.Close()
	sql.Register(Driver, countingDriver{})
}

type countingDriver struct{}

func (countingDriver) Open(name string) (driver.Conn, error) {
	c, err := inner.Open(name)
	if err != nil {
		return nil, err
	}
	return &conn{c}, nil
}

// conn forwards to SQLite's connection, counting statements.
type conn struct{ driver.Conn }

var (
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
)

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	rows, err := q.QueryContext(ctx, query, args)
	if err != driver.ErrSkip {
		count(ctx, query)
	}
	return rows, err
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	res, err := e.ExecContext(ctx, query, args)
	if err != driver.ErrSkip {
		count(ctx, query)
	}
	return res, err
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var s driver.Stmt
	var err error
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		s, err = p.PrepareContext(ctx, query)
	} else {
		s, err = c.Conn.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &stmt{Stmt: s, query: query}, nil
}

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return c.Conn.Begin() //nolint:staticcheck // the fallback database/sql itself uses
}

func (c *conn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *conn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *conn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// stmt counts each execution of a prepared statement.
type stmt struct {
	driver.Stmt
	query string
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	count(ctx, s.query)
	if q, ok := s.Stmt.(driver.StmtQueryContext); ok {
		return q.QueryContext(ctx, args)
	}
	vs, err := values(args)
	if err != nil {
		return nil, err
	}
	return s.Stmt.Query(vs) //nolint:staticcheck // the fallback database/sql itself uses
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	count(ctx, s.query)
	if e, ok := s.Stmt.(driver.StmtExecContext); ok {
		return e.ExecContext(ctx, args)
	}
	vs, err := values(args)
	if err != nil {
		return nil, err
	}
	return s.Stmt.Exec(vs) //nolint:staticcheck // the fallback database/sql itself uses
}

func values(args []driver.NamedValue) ([]driver.Value, error) {
	vs := make([]driver.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, driver.ErrSkip
		}
		vs[i] = a.Value
	}
	return vs, nil
}
