// Command bareproxy is the benchmark's baseline: a bare
// net/http/httputil.ReverseProxy in front of one upstream, with nothing else
// on the path.
//
// By default it reads the whole request body before proxying. An unbuffered
// ReverseProxy truncates a fraction of a percent to a few percent of SSE
// streams on HTTP/1.1 (RELIABILITY.md §4.1): once the response headers are
// flushed the request body may be unavailable, and the server closes the
// connection under the stream. -unbuffered keeps that behaviour, to show it.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/bench/internal/proc"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bareproxy:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	upstream := flag.String("upstream", "", "upstream base URL, e.g. http://127.0.0.1:9000")
	unbuffered := flag.Bool("unbuffered", false, "stream the request body to the upstream instead of reading it first")
	idle := flag.Int("max-idle-per-host", 1024, "idle upstream connections kept (Go's default of 2 would reconnect constantly)")
	lifetime := flag.Duration("max-lifetime", 15*time.Minute, "exit after this long whatever happens")
	flag.Parse()

	target, err := url.Parse(*upstream)
	if err != nil || target.Host == "" {
		return fmt.Errorf("bad -upstream %q", *upstream)
	}
	if _, err := proc.RaiseNoFile(); err != nil {
		return fmt.Errorf("raising the open-file limit: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *lifetime)
	defer cancel()

	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: *idle,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if !*unbuffered {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 10<<20))
			if err != nil {
				http.Error(w, "reading request body: "+err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		rp.ServeHTTP(w, r)
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
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
