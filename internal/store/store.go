// Package store keeps Sluice's durable state: settings, virtual keys and the
// usage ledger. There is one SQL implementation; the SQL it runs is the
// dialect shared by SQLite and PostgreSQL (numbered $N parameters,
// ON CONFLICT), and only opening the database differs.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL, for clusters
	_ "modernc.org/sqlite"             // the embedded default database
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is returned when an object does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a unique name or value is already taken.
var ErrConflict = errors.New("already exists")

// Store is the SQL store. Its methods are safe for concurrent use.
type Store struct {
	w       *sql.DB // writes: one connection on SQLite
	r       *sql.DB // reads
	dialect string  // "sqlite" or "postgres"

	stmtMu sync.Mutex           // guards stmts
	stmts  map[string]*sql.Stmt // the ledger's multi-row inserts, prepared once on w

	legacy legacyTable // the attempts table of nodes before migration 0017 (ledger_attempts.go)
}

// Open opens the store named by dsn: a postgres:// or postgresql:// URL
// opens PostgreSQL; anything else (or "") opens SQLite in dataDir.
func Open(ctx context.Context, dsn, dataDir string) (*Store, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return OpenPostgres(ctx, dsn)
	}
	return OpenSQLite(ctx, dataDir)
}

// OpenPostgres opens a PostgreSQL database and applies pending migrations.
func OpenPostgres(ctx context.Context, dsn string) (*Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	s := &Store{w: db, r: db, dialect: "postgres"}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate PostgreSQL: %w", err)
	}
	return s, nil
}

// Dialect names the database: "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// OpenSQLite opens (creating if needed) the SQLite database in dir and
// applies pending migrations. The database runs in WAL mode with
// synchronous=NORMAL: a committed transaction survives a crash of Sluice;
// power loss may roll back the last transactions.
func OpenSQLite(ctx context.Context, dir string) (*Store, error) {
	return OpenSQLiteDriver(ctx, dir, "sqlite")
}

// OpenSQLiteDriver is OpenSQLite through the database/sql driver registered
// as driverName: SQLite's own, or a wrapper of it (querycount's, in tests).
func OpenSQLiteDriver(ctx context.Context, dir, driverName string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "sluice.db")
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_txlock=immediate"
	w, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open(driverName, dsn)
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(4)
	s := &Store{w: w, r: r, dialect: "sqlite"}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.stmtMu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = nil
	s.stmtMu.Unlock()
	if s.w == s.r {
		return s.w.Close()
	}
	return errors.Join(s.w.Close(), s.r.Close())
}

// IntegrityCheck runs SQLite's integrity check and returns its verdict
// ("ok" on PostgreSQL, which checks itself).
func (s *Store) IntegrityCheck(ctx context.Context) (string, error) {
	if s.dialect == "postgres" {
		return "ok", s.r.PingContext(ctx)
	}
	var v string
	err := s.r.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&v)
	return v, err
}

// migrationLock is the PostgreSQL advisory lock that serialises the
// migrations of nodes starting at the same time on one database.
const migrationLock = 0x51_1ce_0001

func (s *Store) migrate(ctx context.Context) error {
	if s.dialect == "postgres" {
		conn, err := s.w.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("lock for migrations: %w", err)
		}
		defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, migrationLock) //nolint:errcheck // the session ends anyway
	}
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		v, err := strconv.Atoi(strings.SplitN(filepath.Base(name), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", name)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if err := s.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, v).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for _, stmt := range strings.Split(stripComments(string(body)), ";") { // a ';' in a comment splits nothing
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
			if step := migrationSteps[v]; step != nil { // the migration's Go part, in its transaction
				if err := step(ctx, tx, s.dialect); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, v, time.Now().Unix())
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Setting returns a stored setting, or ErrNotFound.
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return v, err
}

// SetSetting stores a setting, replacing any previous value.
func (s *Store) SetSetting(ctx context.Context, name, value string) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	return err
}

// first runs query and returns the first row scan makes of it, or
// ErrNotFound when there is none.
func first[T any](ctx context.Context, db *sql.DB, scan func(*sql.Rows) ([]T, error), query string, args ...any) (T, error) {
	var zero T
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return zero, err
	}
	xs, err := scan(rows)
	if err != nil {
		return zero, err
	}
	if len(xs) == 0 {
		return zero, ErrNotFound
	}
	return xs[0], nil
}
