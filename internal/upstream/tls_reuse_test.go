package upstream

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestTLSConnectionReused: an HTTPS connection carries sequential requests
// one after another; the idle check before reuse does not take a TLS 1.3
// server's session tickets (records that arrive after the handshake) for
// an upstream that closed or wrote while idle.
func TestTLSConnectionReused(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body); w.Write([]byte("ok")) }))
	var conns atomic.Int32
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	tr := New(Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}, DialContext: (&net.Dialer{}).DialContext})
	for i := 0; i < 5; i++ {
		req, _ := http.NewRequestWithContext(context.Background(), "POST", srv.URL, strings.NewReader("x"))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		time.Sleep(20 * time.Millisecond)
	}
	if conns.Load() != 1 {
		t.Fatalf("%d TLS connections for 5 sequential requests", conns.Load())
	}
}
