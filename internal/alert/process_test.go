package alert

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storetest"
)

// The environment of an evaluator process (TestEvaluatorProcess).
const (
	envNode   = "SLUICE_ALERT_TEST_NODE"   // its holder name
	envDB     = "SLUICE_ALERT_TEST_DB"     // a SQLite directory, or postgres://...
	envHook   = "SLUICE_ALERT_TEST_HOOK"   // the webhook receiver's URL
	envSignal = "SLUICE_ALERT_TEST_SIGNAL" // a file holding the error rate every series has
	envSeries = "SLUICE_ALERT_TEST_SERIES" // how many series
	envLease  = "SLUICE_ALERT_TEST_LEASE"  // "off": tick without the lease, as every node would if leases failed
)

const processSecret = "pr0cess"

// fileSource answers every series' error rate from a file the test
// writes, so that the separate processes see the same crossing.
type fileSource struct {
	*store.Store
	path string
	n    int
}

func (f *fileSource) Analytics(_ context.Context, q store.AnalyticsQuery) ([]store.AnalyticsPoint, error) {
	b, err := os.ReadFile(f.path)
	if err != nil {
		return nil, err
	}
	rate, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		return nil, err
	}
	out := make([]store.AnalyticsPoint, f.n)
	for i := range out {
		out[i] = store.AnalyticsPoint{T: q.From, Group: []string{fmt.Sprintf("key_%04d", i)},
			RollupSums: store.RollupSums{Requests: 100, Errors: int64(rate * 100)}}
	}
	return out, nil
}

func processRules(hook string) []config.AlertRule {
	return []config.AlertRule{{Name: "errors", Kind: config.AlertErrorRate, Threshold: 0.1, GroupBy: []string{"key"},
		Notify: []config.AlertChannel{{Type: config.ChannelWebhook, URL: hook, Secret: processSecret}}}}
}

// TestEvaluatorProcess is one node of TestExactlyOnceAcrossProcesses: run
// as its own process (the test binary again), it opens the shared store
// and runs an Evaluator until it is signalled or killed. Without its
// environment it is skipped.
func TestEvaluatorProcess(t *testing.T) {
	node := os.Getenv(envNode)
	if node == "" {
		t.Skip("run by TestExactlyOnceAcrossProcesses")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var st *store.Store
	var err error
	if db := os.Getenv(envDB); strings.HasPrefix(db, "postgres") {
		st, err = store.OpenPostgres(ctx, db)
	} else {
		st, err = store.OpenSQLite(ctx, db)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, _ := strconv.Atoi(os.Getenv(envSeries))
	rules := processRules(os.Getenv(envHook))
	// A short lease, so that it changes hands on a loaded machine too:
	// exactness must not rest on it.
	ev := New(Options{Store: &fileSource{Store: st, path: os.Getenv(envSignal), n: n}, Rules: func() []config.AlertRule { return rules },
		Holder: node, Every: 25 * time.Millisecond, LeaseTTL: 100 * time.Millisecond, Client: NewClient(true)})
	if os.Getenv(envLease) != "off" {
		ev.Run(ctx)
		return
	}
	for ctx.Err() == nil {
		_ = ev.Tick(ctx, time.Now())
		time.Sleep(5 * time.Millisecond)
	}
}

// TestExactlyOnceAcrossProcesses runs three evaluators as three separate
// processes on one database (a SQLite file; PostgreSQL too when
// SLUICE_TEST_POSTGRES_DSN is set), with a webhook receiver counting what
// arrives. Every series crosses into firing and back, and a node is
// killed in between (the lease's holder, so another one resolves). Each
// series gets exactly one firing and one resolved notification: with the
// lease, and with every node evaluating and delivering at once as if the
// lease had failed.
func TestExactlyOnceAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const series = 40
	for _, lease := range []string{"on", "off"} {
		for _, name := range []string{"sqlite", "postgres"} {
			t.Run("lease "+lease+"/"+name, func(t *testing.T) {
				db := t.TempDir() // a database of its own
				if name == "postgres" {
					if db = storetest.PostgresDSN(t); db == "" {
						t.Skip("SLUICE_TEST_POSTGRES_DSN is not set")
					}
				}
				testExactlyOnceAcrossProcesses(t, name, db, lease, series)
			})
		}
	}
}

func testExactlyOnceAcrossProcesses(t *testing.T, name, db, lease string, series int) {
	{
		{
			ctx := context.Background()
			var st *store.Store
			var err error
			if name == "postgres" {
				st, err = store.OpenPostgres(ctx, db) // migrated before the nodes start
			} else {
				st, err = store.OpenSQLite(ctx, db)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			rcv := newReceiver(t, processSecret)
			signalPath := filepath.Join(t.TempDir(), "rate")
			setRate := func(r string) {
				if err := os.WriteFile(signalPath+".tmp", []byte(r), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(signalPath+".tmp", signalPath); err != nil { // whole, never half-written
					t.Fatal(err)
				}
			}
			setRate("0")
			procs := map[string]*exec.Cmd{}
			var outMu sync.Mutex
			outs := map[string]*bytes.Buffer{}
			for i := range 3 {
				node := fmt.Sprintf("node-%d", i)
				cmd := exec.Command(os.Args[0], "-test.run=^TestEvaluatorProcess$", "-test.count=1")
				cmd.Env = append(os.Environ(), envNode+"="+node, envDB+"="+db, envHook+"="+rcv.srv.URL, envSignal+"="+signalPath,
					envSeries+"="+strconv.Itoa(series), envLease+"="+lease)
				out := &lockedBuffer{mu: &outMu, b: &bytes.Buffer{}}
				outs[node] = out.b
				cmd.Stdout, cmd.Stderr = out, out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				procs[node] = cmd
			}
			defer func() {
				for node, cmd := range procs {
					_ = cmd.Process.Signal(syscall.SIGTERM)
					_ = cmd.Wait()
					if t.Failed() {
						outMu.Lock()
						t.Logf("%s:\n%s", node, outs[node])
						outMu.Unlock()
					}
				}
			}()
			wait := func(state string) {
				t.Helper()
				deadline := time.Now().Add(60 * time.Second)
				for {
					states, _, _ := rcv.counts()
					if states[state] >= series {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("after 60 s: %v, want %d %s", states, series, state)
					}
					time.Sleep(20 * time.Millisecond)
				}
				time.Sleep(time.Second) // more ticks on every node: nothing more may arrive
			}
			time.Sleep(300 * time.Millisecond) // every node has seen the series ok
			setRate("0.5")
			wait(StateFiring)
			states, dups, bad := rcv.counts()
			if states[StateFiring] != series || states[StateResolved] != 0 || dups != 0 || bad != 0 {
				t.Fatalf("after the crossing: %v, %d duplicates, %d bad signatures; want %d firing", states, dups, bad, series)
			}
			// The holder dies without a word; another node takes over.
			holder := "node-0"
			if lease == "on" {
				if holder, _, err = st.LeaseHolder(ctx, "alert-evaluator"); err != nil {
					t.Fatal(err)
				}
			}
			if cmd := procs[holder]; cmd != nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				delete(procs, holder)
			}
			setRate("0")
			wait(StateResolved)
			states, dups, bad = rcv.counts()
			if states[StateFiring] != series || states[StateResolved] != series || dups != 0 || bad != 0 {
				t.Fatalf("after recovery: %v, %d duplicates, %d bad signatures; want %d of each", states, dups, bad, series)
			}
			trs, err := st.AlertTransitions(ctx, 10*series)
			if err != nil {
				t.Fatal(err)
			}
			by := map[string]int{}
			for _, tr := range trs {
				by[tr.Holder]++
			}
			if len(trs) != 2*series {
				t.Fatalf("%d transitions recorded, want %d", len(trs), 2*series)
			}
			t.Logf("transitions by node: %v (%s was killed)", by, holder)
		}
	}
}

// lockedBuffer is a process's output, written by its two pipes.
type lockedBuffer struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
