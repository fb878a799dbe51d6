package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
)

// PostgresForTest returns a store on a fresh schema of the PostgreSQL
// server named by SLUICE_TEST_POSTGRES_DSN, dropped when the test ends, or
// nil when the variable is unset. With SLUICE_TEST_REQUIRE_POSTGRES=1 an
// unset variable fails the test instead, so that CI cannot skip it.
func PostgresForTest(t testing.TB) *Store {
	t.Helper()
	dsn := os.Getenv("SLUICE_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("SLUICE_TEST_REQUIRE_POSTGRES") == "1" {
			t.Fatal("SLUICE_TEST_POSTGRES_DSN is not set but SLUICE_TEST_REQUIRE_POSTGRES=1")
		}
		return nil
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	s, err := OpenPostgres(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if db, err := sql.Open("pgx", dsn); err == nil {
			_, _ = db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			db.Close()
		}
	})
	return s
}
