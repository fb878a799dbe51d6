package proxy

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/login"
	"github.com/sluicehq/sluice/internal/metrics"
)

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestUnauthenticatedRefusalsLeaveNoLedgerRows: 1,000 requests with bad
// keys (answered 401, then 429 by the invalid-key throttle) from two
// addresses write no ledger row; the counter says 1,000, and the security
// log has one line per source and reason.
func TestUnauthenticatedRefusalsLeaveNoLedgerRows(t *testing.T) {
	reg := metrics.NewRegistry()
	m := NewMetrics(reg)
	logs := &syncBuffer{}
	var h *Handler
	var rec *recorder
	newEnvWith(t, func(o *Options) {
		o.Metrics = m
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
		o.Throttle = login.NewThrottle(20, nil)
		rec = o.Ledger.(*recorder)
		h = New(*o)
	})
	mux := http.NewServeMux()
	h.Register(mux)
	sources := []string{"198.51.100.7:4000", "[2001:db8::9]:4000"}
	paths := []string{"/v1/chat/completions", "/v1/messages", "/v1beta/models/chat-small:generateContent", "/v1/models"}
	const n = 1000
	for i := range n {
		method := http.MethodPost
		if paths[i%len(paths)] == "/v1/models" {
			method = http.MethodGet
		}
		req := httptest.NewRequest(method, paths[i%len(paths)], strings.NewReader(chatBody))
		req.RemoteAddr = sources[i%2]
		if i%5 != 0 { // every fifth request carries no key at all
			req.Header.Set("Authorization", fmt.Sprintf("Bearer gw-guess-%06d", i))
			req.Header.Set("X-Goog-Api-Key", fmt.Sprintf("gw-guess-%06d", i))
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code != 401 && w.Code != 429 {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	h.FlushSecurityLog()
	if got := len(rec.all()); got != 0 {
		t.Fatalf("%d ledger rows for requests without a valid key", got)
	}
	var out bytes.Buffer
	if err := reg.Write(&out); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "sluice_unauthenticated_refusals_total{") {
			var v int64
			if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err != nil {
				t.Fatalf("metric line %q", line)
			}
			total += v
		}
	}
	if total != n {
		t.Fatalf("refusal counter %d, want %d:\n%s", total, n, out.String())
	}
	// The throttle's 429s are Sluice's own limit, not an upstream error.
	if strings.Contains(out.String(), `sluice_requests_total{endpoint="chat.completions",status="upstream_error"}`) ||
		!strings.Contains(out.String(), `status="limited"`) {
		t.Fatalf("throttled refusals miscounted:\n%s", out.String())
	}
	lines := strings.Count(logs.String(), "refused before authentication")
	// Two sources by at most two reasons (invalid key, throttled).
	if lines == 0 || lines > 4 {
		t.Fatalf("%d security log lines for %d refusals:\n%s", lines, n, logs.String())
	}
}

// TestRefusalLogBounded: a flood from many addresses keeps the log to the
// bounded map's size plus one overflow line per interval.
func TestRefusalLogBounded(t *testing.T) {
	logs := &syncBuffer{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newRefusalLog(slog.New(slog.NewTextHandler(logs, nil)), 10*time.Second, func() time.Time { return now })
	for i := range 5000 {
		l.add(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), "invalid_api_key")
	}
	if got := strings.Count(logs.String(), "\n"); got != 0 {
		t.Fatalf("%d lines before the interval ended", got)
	}
	now = now.Add(11 * time.Second)
	l.add(netip.MustParseAddr("10.9.9.9"), "invalid_api_key") // closes the interval
	got := logs.String()
	if lines := strings.Count(got, "\n"); lines != maxRefusalSources+1 {
		t.Fatalf("%d lines, want %d", lines, maxRefusalSources+1)
	}
	if !strings.Contains(got, fmt.Sprintf("count=%d", 5000-maxRefusalSources)) {
		t.Fatalf("overflow not counted:\n%.500s", got)
	}
}
