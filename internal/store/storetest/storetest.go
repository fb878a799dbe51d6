// Package storetest gives tests a private PostgreSQL schema on the server
// named by SLUICE_TEST_POSTGRES_DSN, so that packages can run their store
// tests on PostgreSQL as well as on SQLite.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL
)

// PostgresDSN returns the DSN of a fresh schema, dropped when the test
// ends, or "" when SLUICE_TEST_POSTGRES_DSN is unset. With
// SLUICE_TEST_REQUIRE_POSTGRES=1 an unset variable fails the test instead,
// so that CI cannot skip it.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("SLUICE_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("SLUICE_TEST_REQUIRE_POSTGRES") == "1" {
			t.Fatal("SLUICE_TEST_POSTGRES_DSN is not set but SLUICE_TEST_REQUIRE_POSTGRES=1")
		}
		return ""
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	t.Cleanup(func() {
		if db, err := sql.Open("pgx", dsn); err == nil {
			_, _ = db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			db.Close()
		}
	})
	return u.String()
}
