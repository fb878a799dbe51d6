package store

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

// BenchmarkInsertEntries measures the ledger's write path on SQLite: one
// transaction of 100 entries with one attempt each, half of them placed in
// an organisation, team and application (ns/op is per entry).
func BenchmarkInsertEntries(b *testing.B) {
	s, err := OpenSQLite(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const batch = 100
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i += batch {
		es := make([]ledger.Entry, batch)
		for j := range es {
			n := i + j
			e := ledger.Entry{RequestID: fmt.Sprintf("req_%012d", n), Time: now.Add(time.Duration(n) * time.Microsecond),
				Endpoint: "chat.completions", KeyID: "key_1", KeyName: "k", Model: "m", ServedModel: "m", Provider: "p",
				Status: "ok", HTTPStatus: 200, InputTokens: 300, OutputTokens: 20, CostMicros: 71,
				Attempts: []ledger.Attempt{{N: 1, Provider: "p", Model: "m", Status: "ok", HTTPStatus: 200}}}
			if n%2 == 0 {
				e.OrgID, e.TeamID, e.AppID = "org_1", "team_1", "app_1"
			}
			es[j] = e
		}
		if err := s.InsertEntries(context.Background(), es); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
}

// cpuTime is the process's user and system CPU time: steadier than wall
// time on a busy machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
