package ledger_test

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/metrics"
)

// gaugeFields maps each gauge of RegisterMetrics to the Health field that
// reports the same figure.
var gaugeFields = []struct {
	name  string
	field func(ledger.Health) float64
}{
	{"sluice_ledger_ready", func(h ledger.Health) float64 {
		if h.Ready {
			return 1
		}
		return 0
	}},
	{"sluice_ledger_held_entries", func(h ledger.Health) float64 { return float64(h.Held) }},
	{"sluice_ledger_write_errors", func(h ledger.Health) float64 { return float64(h.WriteErrors) }},
	{"sluice_ledger_journal_bytes", func(h ledger.Health) float64 { return float64(h.JournalBytes) }},
	{"sluice_ledger_entries_spilled", func(h ledger.Health) float64 { return float64(h.Spilled) }},
	{"sluice_ledger_entries_replayed", func(h ledger.Health) float64 { return float64(h.Replayed) }},
	{"sluice_ledger_entries_lost", func(h ledger.Health) float64 { return float64(h.Lost) }},
}

// scrape returns the value of each sluice_ledger_ gauge in r.
func scrape(t *testing.T, r *metrics.Registry) map[string]float64 {
	t.Helper()
	families, err := r.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if len(f.GetMetric()) != 1 {
			t.Fatalf("%s has %d series, want 1", f.GetName(), len(f.GetMetric()))
		}
		out[f.GetName()] = f.GetMetric()[0].GetGauge().GetValue()
	}
	return out
}

// checkGauges scrapes r between two Health reads and checks that every
// gauge shows its Health field; the figures may move between the reads, so
// a gauge may lie between the two. It returns the gauges that were not 0.
func checkGauges(t *testing.T, w *ledger.Writer, r *metrics.Registry) map[string]bool {
	t.Helper()
	before := w.Health()
	got := scrape(t, r)
	after := w.Health()
	nonzero := map[string]bool{}
	for _, g := range gaugeFields {
		v, ok := got[g.name]
		if !ok {
			t.Errorf("%s is not registered", g.name)
			continue
		}
		lo, hi := min(g.field(before), g.field(after)), max(g.field(before), g.field(after))
		if v < lo || v > hi {
			t.Errorf("%s = %v, want %v (from Health)", g.name, v, lo)
		}
		if v != 0 {
			nonzero[g.name] = true
		}
	}
	return nonzero
}

func TestRegisterMetrics(t *testing.T) {
	tests := []struct {
		name       string
		journalDir func(t *testing.T) string // where the journal is, or "" for none
		// The gauges that must not be 0 with the store down and after it
		// came back.
		wantDown, wantBack []string
	}{
		{
			name:       "journal takes the spill",
			journalDir: func(t *testing.T) string { return t.TempDir() },
			wantDown:   []string{"sluice_ledger_write_errors", "sluice_ledger_journal_bytes", "sluice_ledger_entries_spilled"},
			wantBack:   []string{"sluice_ledger_ready", "sluice_ledger_write_errors", "sluice_ledger_entries_spilled", "sluice_ledger_entries_replayed"},
		},
		{
			// The journal's directory does not exist: every append fails.
			name:       "journal cannot write",
			journalDir: func(t *testing.T) string { return filepath.Join(t.TempDir(), "missing") },
			wantDown:   []string{"sluice_ledger_write_errors", "sluice_ledger_held_entries", "sluice_ledger_entries_lost"},
			wantBack:   []string{"sluice_ledger_ready", "sluice_ledger_write_errors", "sluice_ledger_entries_lost"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := newSwitchSink()
			w, err := ledger.NewWriter(sink, ledger.Options{FlushEvery: 5 * time.Millisecond, MaxBatch: 4, QueueSize: 8,
				RetryMax: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler), Journal: filepath.Join(tc.journalDir(t), "ledger.journal")})
			if err != nil {
				t.Fatal(err)
			}
			defer closeWithin(w, 2*time.Second)
			reg := metrics.NewRegistry()
			w.RegisterMetrics(reg)

			if nz := checkGauges(t, w, reg); len(nz) != 1 || !nz["sluice_ledger_ready"] {
				t.Errorf("a new ledger's gauges not 0: %v, want only sluice_ledger_ready", nz)
			}

			sink.down.Store(true)
			const sent = 40
			for i := range sent {
				w.Record(billable(fmt.Sprint("r", i)))
			}
			waitFor(t, 3*time.Second, "the ledger still reports ready with the store down", func() bool {
				h := w.Health()
				return !h.Ready && h.ConsecutiveFailures >= 3 && h.Spilled+h.Held+h.Lost+int64(w.Pending()) == sent
			})
			nz := checkGauges(t, w, reg)
			for _, name := range tc.wantDown {
				if !nz[name] {
					t.Errorf("with the store down %s is 0", name)
				}
			}
			if nz["sluice_ledger_ready"] {
				t.Error("sluice_ledger_ready is 1 with the store down")
			}

			sink.down.Store(false)
			waitFor(t, 3*time.Second, "the ledger did not recover", func() bool {
				h := w.Health()
				return h.Ready && h.Held == 0 && h.JournalBytes == 0 && w.Pending() == 0
			})
			nz = checkGauges(t, w, reg)
			for _, name := range tc.wantBack {
				if !nz[name] {
					t.Errorf("after the store came back %s is 0", name)
				}
			}
		})
	}
}
