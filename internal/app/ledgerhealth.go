package app

import (
	"encoding/json"
	"net/http"
	"path/filepath"

	"github.com/sluicehq/sluice/internal/ledger"
)

// ledgerJournal is the ledger's spill journal in the data directory.
func ledgerJournal(dataDir string) string { return filepath.Join(dataDir, "ledger.journal") }

// readiness serves /healthz: 200 while the gateway can serve billable
// requests, 503 with the reason while the ledger cannot write (and the data
// plane refuses billable requests). /livez says only that the process
// serves.
func readiness(lw *ledger.Writer) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		h := lw.Health()
		if h.Ready {
			_, _ = w.Write([]byte(`{"status":"ok"}`))
			return
		}
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "unavailable", "reason": h.Reason})
	}
}
