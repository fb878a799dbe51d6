package store

import (
	"context"
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
