package upstream

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkRoundTrip compares this transport with net/http's, configured
// as Sluice configured it before, on a loopback upstream answering a 1 KiB
// JSON body to a 2 KiB POST: the client side's time and allocations per
// request (the server's are in both).
func BenchmarkRoundTrip(b *testing.B) {
	answer := []byte(`{"id":"x","choices":[{"message":{"content":"` + strings.Repeat("a", 1000) + `"}}]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
	defer srv.Close()
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
		return d.DialContext(ctx, network, addr)
	}
	body := bytes.Repeat([]byte("b"), 2048)
	for _, tc := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"net/http", &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 1024, DisableCompression: true,
			ForceAttemptHTTP2: true, IdleConnTimeout: 90 * time.Second}},
		{"upstream", New(Options{DialContext: dial})},
	} {
		b.Run(tc.name, func(b *testing.B) {
			client := &http.Client{Transport: tc.rt}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+"/v1/chat/completions", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer k")
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}
