package trace

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/metrics"
)

// stuckExporter blocks every export until released, like a collector
// that stopped answering.
type stuckExporter struct {
	release chan struct{}
	mu      sync.Mutex // guards n
	n       int
}

func (e *stuckExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	<-e.release
	e.mu.Lock()
	e.n += len(spans)
	e.mu.Unlock()
	return nil
}

func (e *stuckExporter) Shutdown(context.Context) error { return nil }

// TestQueueBound: while the collector hangs, requests never block, the
// queue holds at most queue_size spans, and the rest are dropped and
// counted in sluice_trace_spans_dropped_total.
func TestQueueBound(t *testing.T) {
	exp := &stuckExporter{release: make(chan struct{})}
	reg := metrics.NewRegistry()
	tr, err := New(t.Context(), &config.OTLP{Endpoint: "http://127.0.0.1:1", QueueSize: 4}, Options{Metrics: reg, Exporter: exp})
	if err != nil {
		t.Fatal(err)
	}
	const requests = 100
	for range requests {
		_, q := tr.StartRequest(httptest.NewRequest("GET", "/v1/models", nil), "GET /v1/models")
		q.End(&ledger.Entry{Endpoint: "models"}, "", nil)
	}
	// At most one batch is in the stuck export and queue_size wait.
	if d := tr.Dropped(); d < requests-4-4 || d > requests-4 {
		t.Fatalf("dropped %d of %d spans with a queue of 4", d, requests)
	}
	var out strings.Builder
	if err := reg.Write(&out); err != nil {
		t.Fatal(err)
	}
	want := "sluice_trace_spans_dropped_total " + strconv.FormatInt(tr.Dropped(), 10)
	if !strings.Contains(out.String(), want+"\n") {
		t.Fatalf("metrics lack %q:\n%s", want, out.String())
	}
	close(exp.release)
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	exp.mu.Lock()
	defer exp.mu.Unlock()
	if int64(exp.n)+tr.Dropped() != requests {
		t.Fatalf("exported %d + dropped %d != %d spans: a queued span was lost on shutdown", exp.n, tr.Dropped(), requests)
	}
}
