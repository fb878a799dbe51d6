package ledger

import "github.com/sluicehq/sluice/internal/metrics"

// RegisterMetrics adds the writer's state to r, read at scrape time. The
// queue's depth is registered by the caller as sluice_ledger_queue_entries.
func (w *Writer) RegisterMetrics(r *metrics.Registry) {
	gauge := func(name, help string, v func() float64) {
		r.Gauge(name, help, func(emit func(map[string]string, float64)) { emit(nil, v()) })
	}
	gauge("sluice_ledger_ready", "1 when the ledger can write, 0 while billable requests are refused because it cannot.", func() float64 {
		if w.unready() == "" {
			return 1
		}
		return 0
	})
	gauge("sluice_ledger_held_entries", "Ledger entries held in memory because neither the store nor the journal took them.",
		func() float64 { return float64(w.held.Load()) })
	gauge("sluice_ledger_write_errors", "Failed ledger writes to the store (cumulative).", func() float64 { return float64(w.writeErrors.Load()) })
	gauge("sluice_ledger_journal_bytes", "Bytes in the ledger's spill journal, waiting to be replayed.", func() float64 { return float64(w.journal.bytes()) })
	gauge("sluice_ledger_entries_spilled", "Ledger entries written to the journal (cumulative).", func() float64 { return float64(w.spilled.Load()) })
	gauge("sluice_ledger_entries_replayed", "Ledger entries replayed from the journal into the store (cumulative).",
		func() float64 { return float64(w.replayed.Load()) })
	gauge("sluice_ledger_entries_lost", "Ledger entries that neither the store nor the journal could take (cumulative).",
		func() float64 { return float64(w.lost.Load()) })
}
