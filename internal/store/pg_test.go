package store

import (
	"context"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/store/storetest"
)

// PostgresForTest returns a store on a fresh schema of the PostgreSQL
// server named by SLUICE_TEST_POSTGRES_DSN, dropped when the test ends, or
// nil when the variable is unset (see storetest.PostgresDSN).
func PostgresForTest(t testing.TB) *Store {
	t.Helper()
	dsn := storetest.PostgresDSN(t)
	if dsn == "" {
		return nil
	}
	s, err := OpenPostgres(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // runs before the schema is dropped
	return s
}

// TestConcurrentMigrations: nodes that start at the same moment on an
// empty PostgreSQL database all come up (the migrations are serialised by
// an advisory lock).
func TestConcurrentMigrations(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	if dsn == "" {
		t.Skip("SLUICE_TEST_POSTGRES_DSN is not set")
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := OpenPostgres(context.Background(), dsn)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("a node failed to start: %v", err)
		}
	}
}

// TestSemicolonInMigrationComment: comments are stripped before statements
// are split.
func TestSemicolonInMigrationComment(t *testing.T) {
	got := stripComments("-- a; b\nCREATE TABLE x (a INT);\n  -- c;\n")
	if strings.Count(got, ";") != 1 {
		t.Fatalf("stripped %q", got)
	}
}
