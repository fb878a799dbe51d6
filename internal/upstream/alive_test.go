package upstream

import (
	"net"
	"runtime"
	"testing"
	"time"
)

// TestIdleAlive: an idle connection is alive while the peer keeps it open
// and quiet; it is not once the peer closed it or wrote to it.
func TestIdleAlive(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("no socket peek on " + runtime.GOOS)
	}
	for _, tc := range []struct {
		name string
		peer func(net.Conn)
		want bool
	}{
		{"open and quiet", func(net.Conn) {}, true},
		{"closed by the peer", func(c net.Conn) { c.Close() }, false},
		{"written to by the peer", func(c net.Conn) { c.Write([]byte("HTTP/1.1 408 Request Timeout\r\n\r\n")) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err == nil {
					accepted <- c
				}
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			peer := <-accepted
			defer peer.Close()
			tc.peer(peer)
			time.Sleep(20 * time.Millisecond) // the peer's FIN or bytes arrive
			for range 3 {                     // peeking consumes nothing
				if got := idleAlive(c); got != tc.want {
					t.Fatalf("idleAlive = %v, want %v", got, tc.want)
				}
			}
		})
	}
}
