// Command sluiceprof is Sluice itself (internal/app, unchanged) with
// net/http/pprof served on a second loopback listener, for `bench -profile`.
// Sluice does not expose pprof, and the benchmark must not change it; this
// wrapper is the same program as cmd/sluice plus the profiler.
//
// Set SLUICE_BENCH_PPROF=127.0.0.1:PORT to serve /debug/pprof/ there.
package main

import (
	"context"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/app"
)

func main() {
	if addr := os.Getenv("SLUICE_BENCH_PPROF"); addr != "" {
		srv := &http.Server{Addr: addr, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.ListenAndServe() }()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Main(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		os.Stderr.WriteString("sluice: " + err.Error() + "\n")
		stop()
		os.Exit(app.ExitCode(err))
	}
}
