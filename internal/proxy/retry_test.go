package proxy

// What each upstream outcome does to a request with two targets: whether
// it is retried on the second, whether it counts against the first
// target's health, and how the ledger records and bills it. The intended
// semantics (docs/configuration.md "Failover", ADR 003): an attempt fails
// over on a connection error, a first-byte timeout, a status in retry_on
// (default 408, 409, 429, 500, 502, 503, 504, ...), or a 200 whose body
// breaks before any byte reached the client; never once bytes were sent,
// and never for a client that left. A provider failure counts against the
// target's health, except a 429 with Retry-After, which rests it instead;
// a refusal of the request (other 4xx) is the client's and is relayed as
// it is.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/route"
)

// healthyUpstream answers chat requests, streamed or not, and counts them.
type healthyUpstream struct{ hits atomic.Int64 }

func (u *healthyUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.hits.Add(1)
	b, _ := io.ReadAll(r.Body)
	if gjson.GetBytes(b, "stream").Bool() {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, chatStream(gjson.GetBytes(b, "stream_options.include_usage").Bool()))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"id":"c1","object":"chat.completion","created":1,"model":"up-b","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":22,"total_tokens":33}}`)
}

// statusUpstream answers every request with status and an OpenAI error.
func statusUpstream(status int, retryAfter string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"error":{"message":"scripted failure","type":"test","code":null}}`)
	})
}

// resetUpstream reads the request, writes reply (raw HTTP, may be empty)
// and resets the connection.
func resetUpstream(reply string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		_, _ = buf.WriteString(reply)
		_ = buf.Flush()
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, not FIN
		}
		_ = conn.Close()
	})
}

// hangUpstream sends nothing until the request is gone.
func hangUpstream() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
}

func TestUpstreamOutcomesWithTwoTargets(t *testing.T) {
	const (
		no, yes = false, true
	)
	tests := []struct {
		name     string
		a        http.Handler
		stream   bool
		cancel   bool // the client gives up after 200 ms
		retried  bool // B answered
		aFailure bool // counted against A's health
		aRests   bool // A is cooling down (Retry-After)
		status   ledger.Status
		http     int
		billed   bool
	}{
		{"400", statusUpstream(400, ""), no, no, no, no, no, ledger.StatusClientError, 400, no},
		{"401", statusUpstream(401, ""), no, no, no, no, no, ledger.StatusClientError, 401, no},
		{"403", statusUpstream(403, ""), no, no, no, no, no, ledger.StatusClientError, 403, no},
		{"404", statusUpstream(404, ""), no, no, no, no, no, ledger.StatusClientError, 404, no},
		{"408", statusUpstream(408, ""), no, no, yes, yes, no, ledger.StatusOK, 200, yes},
		{"409", statusUpstream(409, ""), no, no, yes, yes, no, ledger.StatusOK, 200, yes},
		{"413", statusUpstream(413, ""), no, no, no, no, no, ledger.StatusClientError, 413, no},
		{"422", statusUpstream(422, ""), no, no, no, no, no, ledger.StatusClientError, 422, no},
		{"429", statusUpstream(429, ""), no, no, yes, yes, no, ledger.StatusOK, 200, yes},
		{"429 with Retry-After", statusUpstream(429, "30"), no, no, yes, no, yes, ledger.StatusOK, 200, yes},
		{"500", statusUpstream(500, ""), no, no, yes, yes, no, ledger.StatusOK, 200, yes},
		{"502", statusUpstream(502, ""), no, no, yes, yes, no, ledger.StatusOK, 200, yes},
		{"503", statusUpstream(503, ""), no, no, yes, yes, no, ledger.StatusOK, 200, yes},
		{"504", statusUpstream(504, ""), no, no, yes, yes, no, ledger.StatusOK, 200, yes},
		{"503 streamed", statusUpstream(503, ""), yes, no, yes, yes, no, ledger.StatusOK, 200, yes},
		{"reset before headers", resetUpstream(""), no, no, yes, yes, no, ledger.StatusOK, 200, yes},
		{"reset mid-body, not streamed", resetUpstream("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"id\":\"c1\",\"choi"),
			no, no, yes, yes, no, ledger.StatusOK, 200, yes},
		{"reset mid-body, streamed", resetUpstream("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: " + chatChunk + "\n\n"),
			yes, no, no, yes, no, ledger.StatusTruncated, 200, yes},
		{"first-byte timeout", hangUpstream(), yes, no, yes, yes, no, ledger.StatusOK, 200, yes},
		{"client cancels", hangUpstream(), no, yes, no, no, no, ledger.StatusCancelled, 499, no},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &healthyUpstream{}
			g := newGateway(t, config.TypeOpenAI, func(f *config.File) {
				f.Providers[0].Timeouts.FirstByte = config.Duration(300 * time.Millisecond)
			}, tc.a, b)
			ctx := context.Background()
			if tc.cancel {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
				defer cancel()
			}
			req := clientRequest(t, g.url, "openai", tc.stream, clientBody("openai", tc.stream)).WithContext(ctx)
			resp, err := http.DefaultClient.Do(req)
			if tc.cancel {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("the client's request ended with %v", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.http {
					t.Fatalf("client got %d, want %d", resp.StatusCode, tc.http)
				}
			}
			e := g.entry(t)
			// A retry takes a slot of the retry budget; the request gives
			// it back when it ends.
			if n, m := g.h.budget.retrying.Load(), g.h.budget.inflight.Load(); n != 0 || m != 0 {
				t.Errorf("after the request: %d retry slots and %d requests still counted", n, m)
			}
			if got := b.hits.Load() == 1; got != tc.retried {
				t.Errorf("retried on B: %v, want %v (B hit %d times)", got, tc.retried, b.hits.Load())
			}
			if tc.retried && (e.Provider != "b" || len(e.Attempts) != 2) {
				t.Errorf("failed over: provider %q, %d attempts", e.Provider, len(e.Attempts))
			}
			if !tc.retried && (e.Provider != "a" || len(e.Attempts) != 1) {
				t.Errorf("not failed over: provider %q, %d attempts", e.Provider, len(e.Attempts))
			}
			var aHealth route.Status
			for _, s := range g.health.Snapshot() {
				if s.Provider == "a" {
					aHealth = s
				}
			}
			if got := aHealth.Failures == 1; got != tc.aFailure {
				t.Errorf("counted against A's health: %v, want %v (%+v)", got, tc.aFailure, aHealth)
			}
			if got := aHealth.State == route.Cooling; got != tc.aRests {
				t.Errorf("A resting: %v, want %v (%+v)", got, tc.aRests, aHealth)
			}
			if e.Status != tc.status || e.HTTPStatus != tc.http {
				t.Errorf("ledger %s/%d, want %s/%d", e.Status, e.HTTPStatus, tc.status, tc.http)
			}
			if got := e.CostMicros > 0; got != tc.billed {
				t.Errorf("billed: %v (%d µ$), want %v", got, e.CostMicros, tc.billed)
			}
			if tc.retried {
				a1, a2 := e.Attempts[0], e.Attempts[1]
				if a1.Provider != "a" || a1.Status == ledger.StatusOK || a1.Error == "" {
					t.Errorf("attempt 1: %+v", a1)
				}
				if a2.Provider != "b" || a2.Status != ledger.StatusOK || a2.Error != "" || e.Error != "" {
					t.Errorf("attempt 2 or the entry carries another attempt's outcome: %+v, entry error %q", a2, e.Error)
				}
			}
			if t.Failed() {
				t.Logf("entry %+v", e)
			}
		})
	}
}

// Each attempt row holds its own outcome: after a failed attempt, the
// successful one has no error, streamed or not.
func TestAttemptRowsHoldTheirOwnOutcome(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "not streamed", true: "streamed"}[stream], func(t *testing.T) {
			g := newGateway(t, config.TypeOpenAI, nil, statusUpstream(503, ""), &healthyUpstream{})
			resp, body := g.do(t, "openai", stream, clientBody("openai", stream))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			e := g.entry(t)
			if len(e.Attempts) != 2 || e.Status != ledger.StatusOK || e.Error != "" {
				t.Fatalf("entry %+v", e)
			}
			if a := e.Attempts[0]; a.Status != ledger.StatusUpstreamError || a.HTTPStatus != 503 || !strings.Contains(a.Error, "scripted failure") {
				t.Fatalf("attempt 1 %+v", a)
			}
			if a := e.Attempts[1]; a.Status != ledger.StatusOK || a.HTTPStatus != 200 || a.Error != "" {
				t.Fatalf("attempt 2 carries another attempt's outcome: %+v", a)
			}
		})
	}
}
