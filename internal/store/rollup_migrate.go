package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// migrateRollupHistograms is the Go step of migration 0014: it copies
// every row of analytics_rollup (histograms in 64 integer columns each)
// into analytics_rollup_v2 (one encoded column each), in key order, a page
// at a time, then drops the old table and renames the new one. It runs in
// the migration's transaction, so a failure leaves the old table as it was.
func migrateRollupHistograms(ctx context.Context, tx *sql.Tx, dialect string) error {
	var oldHist []string
	for _, p := range []string{"lat_", "ttft_"} {
		for i := range HistBuckets {
			oldHist = append(oldHist, fmt.Sprintf("%s%02d", p, i))
		}
	}
	sel := `SELECT ` + rollupKeyColumns + `, ` + strings.Join(rollupSumColumns, ", ") + `, ` + strings.Join(oldHist, ", ") +
		` FROM analytics_rollup`
	const page = 1000
	const perInsert = 64
	order := ` ORDER BY ` + rollupKeyColumns + ` LIMIT ` + itoa(page)
	after := ` WHERE (` + rollupKeyColumns + `) > (` + placeholders(dialect, 1, 13) + `)`
	ncols := 13 + len(rollupSumColumns) + 2
	insert := func(n int) string {
		var b strings.Builder
		b.WriteString(`INSERT INTO analytics_rollup_v2 (` + rollupKeyColumns + `, ` + strings.Join(rollupSumColumns, ", ") + `, ` +
			rollupHistColumns + `) VALUES `)
		for r := range n {
			if r > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(" + placeholders(dialect, 1+r*ncols, ncols) + ")")
		}
		return b.String()
	}
	var last []any // the key of the last row copied
	for {
		q, args := sel+order, []any(nil)
		if last != nil {
			q, args = sel+after+order, last
		}
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		var out []any
		n := 0
		for rows.Next() {
			var k rollupKey
			var r RollupSums
			targets := r.scanTargets(k.scanKey(nil))
			for i := range r.Latency {
				targets = append(targets, &r.Latency[i])
			}
			for i := range r.TTFT {
				targets = append(targets, &r.TTFT[i])
			}
			if err := rows.Scan(targets...); err != nil {
				rows.Close()
				return err
			}
			out = k.appendKey(out)
			out = r.values(out)
			out = append(out, EncodeHist(&r.Latency), EncodeHist(&r.TTFT))
			last = k.appendKey(nil)
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i := 0; i < n; i += perInsert {
			m := min(perInsert, n-i)
			if _, err := tx.ExecContext(ctx, insert(m), out[i*ncols:(i+m)*ncols]...); err != nil {
				return err
			}
		}
		if n < page {
			break
		}
	}
	for _, stmt := range []string{`DROP TABLE analytics_rollup`, `ALTER TABLE analytics_rollup_v2 RENAME TO analytics_rollup`} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// placeholders returns n parameters numbered from first, comma-separated,
// in dialect's spelling.
func placeholders(dialect string, first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		if dialect == "sqlite" {
			b.WriteByte('?')
		} else {
			b.WriteString("$" + itoa(first+i))
		}
	}
	return b.String()
}

// migrationSteps are the Go parts of migrations, by number: each runs
// after its migration's SQL, in the same transaction.
var migrationSteps = map[int]func(ctx context.Context, tx *sql.Tx, dialect string) error{
	14: migrateRollupHistograms,
	17: migrateLedgerAttempts,
}
