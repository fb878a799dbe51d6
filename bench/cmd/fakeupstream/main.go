// Command fakeupstream serves the fake upstreams of the benchmark on one
// address until SIGTERM, SIGINT or -max-lifetime: OpenAI chat completions
// (package fakeopenai) and, at POST /v1/messages, Anthropic Messages
// (package fakeanthropic). GET /_bench/stats counts both.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/bench/internal/fakeanthropic"
	"github.com/sluicehq/sluice/bench/internal/fakeopenai"
	"github.com/sluicehq/sluice/bench/internal/proc"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fakeupstream:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	chunks := flag.Int("chunks", 50, "content chunks per stream (header X-Fake-Chunks overrides)")
	gap := flag.Duration("gap", 20*time.Millisecond, "pause between stream chunks (header X-Fake-Chunk-Gap overrides)")
	delay := flag.Duration("delay", 0, "pause before response headers (header X-Fake-Delay overrides)")
	lifetime := flag.Duration("max-lifetime", 15*time.Minute, "exit after this long whatever happens")
	flag.Parse()

	if _, err := proc.RaiseNoFile(); err != nil {
		return fmt.Errorf("raising the open-file limit: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *lifetime)
	defer cancel()

	fake := fakeopenai.NewServer(fakeopenai.Options{Chunks: *chunks, Gap: *gap, Delay: *delay})
	anth := fakeanthropic.NewServer(fakeanthropic.Options{Chunks: *chunks, Gap: *gap})
	srv := &http.Server{
		Addr:              *listen,
		Handler:           both{fake, anth},
		ConnState:         fake.ConnState,
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// both sends /v1/messages to the Anthropic fake and everything else to the
// OpenAI fake, and counts the requests of both at GET /_bench/stats.
type both struct {
	openai    *fakeopenai.Server
	anthropic *fakeanthropic.Server
}

func (b both) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/messages":
		b.anthropic.ServeHTTP(w, r)
	case "/_bench/stats":
		st := b.openai.Stats()
		req, streams := b.anthropic.Counts()
		st.Requests += req
		st.Streams += streams
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	default:
		b.openai.ServeHTTP(w, r)
	}
}
