package h1

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkServe measures the CPU of one request (a 1 KiB JSON body in, a
// 1 KiB JSON body out) on loopback keep-alive connections, one per
// parallel client, through net/http and through the lean server. cpu-µs/op
// is the process's user+system time per request, client included (the
// same minimal client for both), so the difference between the two is the
// server's.
func BenchmarkServe(b *testing.B) {
	reqBody := bytes.Repeat([]byte("a"), 1024-len(`{"p":""}`))
	reqBody = append(append([]byte(`{"p":"`), reqBody...), `"}`...)
	respBody := append(append([]byte(`{"r":"`), bytes.Repeat([]byte("b"), 1024-len(`{"r":""}`))...), `"}`...)
	// proxied: the handler sets the fields a proxied answer carries.
	proxied, one := false, []string{"1"}
	proxiedFields := []string{"X-Request-Id", "X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests",
		"X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Sluice-Route", "X-Sluice-Provider",
		"X-Sluice-Model", "X-Sluice-Attempts", "X-Sluice-Cache", "Openai-Processing-Ms", "X-Sluice-Cost-Usd"}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if proxied {
			hdr := w.Header()
			for _, k := range proxiedFields {
				hdr[k] = one
			}
		}
		var buf [2048]byte
		n, _ := io.ReadFull(r.Body, buf[:r.ContentLength])
		if n != 1024 {
			http.Error(w, "short body", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(respBody)
	})
	raw := fmt.Appendf(nil, "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"+
		"User-Agent: bench\r\nAuthorization: Bearer sk-test\r\nContent-Type: application/json\r\n"+
		"Accept: application/json\r\nContent-Length: %d\r\n\r\n%s", len(reqBody), reqBody)

	for _, name := range []string{"net", "lean", "lean-eager-watch", "net-proxied-fields", "lean-proxied-fields"} {
		b.Run(name, func(b *testing.B) {
			proxied = strings.HasSuffix(name, "-proxied-fields")
			kind := strings.TrimSuffix(name, "-proxied-fields")
			if kind == "lean-eager-watch" {
				// A goroutine watches for the client closing during every
				// request, as net/http does, instead of only during slow ones.
				defer func(d time.Duration) { watchDelay = d }(watchDelay)
				watchDelay = 0
			}
			std := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
				MaxHeaderBytes: 64 << 10, ErrorLog: log.New(io.Discard, "", 0)}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			var srv interface{ Close() error } = std
			if kind != "net" {
				s := New(std)
				srv = s
				go func() { _ = s.Serve(ln) }()
			} else {
				go func() { _ = std.Serve(ln) }()
			}
			defer srv.Close()
			addr := ln.Addr().String()

			var ru0, ru1 syscall.Rusage
			b.ReportAllocs()
			b.ResetTimer()
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			b.RunParallel(func(pb *testing.PB) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				br := bufio.NewReaderSize(c, 8<<10)
				for pb.Next() {
					if _, err := c.Write(raw); err != nil {
						b.Error(err)
						return
					}
					if err := readResponse(br); err != nil {
						b.Error(err)
						return
					}
				}
			})
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			b.StopTimer()
			cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime) - syscall.TimevalToNsec(ru0.Utime) +
				syscall.TimevalToNsec(ru1.Stime) - syscall.TimevalToNsec(ru0.Stime))
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// readResponse reads one 200 response framed by Content-Length.
func readResponse(br *bufio.Reader) error {
	n := -1
	for first := true; ; first = false {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if first && !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
			return fmt.Errorf("status line %q", line)
		}
		if len(line) == 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, err = strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil {
				return err
			}
		}
	}
	if n < 0 {
		return fmt.Errorf("no Content-Length")
	}
	_, err := br.Discard(n)
	return err
}
