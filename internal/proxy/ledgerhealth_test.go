package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/llm"
	protocolanthropic "github.com/sluicehq/sluice/internal/protocol/anthropic"
	protocolopenai "github.com/sluicehq/sluice/internal/protocol/openai"
	"github.com/sluicehq/sluice/internal/provider"
)

// fullDisk is a ledger store that fails every write while full, and
// counts how often each request id was stored.
type fullDisk struct {
	full atomic.Bool
	mu   sync.Mutex
	got  map[string]int
}

func (s *fullDisk) InsertEntries(_ context.Context, b []ledger.Entry) error {
	if s.full.Load() {
		return errors.New("database or disk is full (13)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range b {
		s.got[e.RequestID]++
	}
	return nil
}

func (s *fullDisk) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[id]
}

// TestLedgerCannotWrite: while the ledger's store cannot write and its
// queue is full, requests that bill nothing answer at once, new billable
// requests get 503 with Retry-After in the client's dialect within the
// admission bound, and an answer already on its way reaches its client.
// When the store writes again, the answer is billed once and requests are
// admitted again.
func TestLedgerCannotWrite(t *testing.T) {
	disk := &fullDisk{got: map[string]int{}}
	// No journal: it is on the same full disk.
	lw, err := ledger.NewWriter(disk, ledger.Options{FlushEvery: 5 * time.Millisecond, QueueSize: 32, MaxBatch: 8,
		RetryMax: 50 * time.Millisecond, AdmitWait: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // last: after the server; bounded, as the store may still fail
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = lw.Close(ctx)
	})
	e := newEnvWith(t, func(o *Options) {
		o.Ledger = lw
		o.Codecs = Codecs{
			Clients:   map[provider.Protocol]llm.ClientCodec{provider.ProtocolAnthropic: protocolanthropic.Client},
			Upstreams: map[provider.Protocol]llm.UpstreamCodec{provider.ProtocolOpenAI: protocolopenai.Upstream},
		}
	})
	auth := map[string]string{"Authorization": "Bearer " + clientKey}

	type answer struct {
		status int
		id     string
		body   string
	}
	inflight := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, e.server.URL+"/v1/chat/completions", strings.NewReader(chatBody))
		req.Header.Set("Authorization", "Bearer "+clientKey)
		req.Header.Set("X-Fake-Delay-Ms", "1500")
		resp, err := e.server.Client().Do(req)
		if err != nil {
			inflight <- answer{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, err = io.Copy(&b, resp.Body)
		if err != nil {
			b.WriteString(err.Error())
		}
		inflight <- answer{resp.StatusCode, resp.Header.Get("X-Request-Id"), b.String()}
	}()
	time.Sleep(200 * time.Millisecond) // admitted, waiting for its upstream

	disk.full.Store(true)
	var slowest time.Duration
	for range 200 { // unauthenticated requests fill the queue
		start := time.Now()
		resp := e.post(t, "/v1/chat/completions", chatBody, nil)
		readAll(t, resp)
		if resp.StatusCode != 401 {
			t.Fatalf("no key: %d", resp.StatusCode)
		}
		slowest = max(slowest, time.Since(start))
	}
	deadline := time.Now().Add(5 * time.Second)
	for lw.Health().Ready {
		if time.Now().After(deadline) {
			t.Fatalf("ledger still ready with its store failing: %+v", lw.Health())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if h := lw.Health(); h.Held == 0 && h.QueueDepth == 0 {
		t.Fatalf("queue empty with the store failing: %+v", h)
	}

	for _, tc := range []struct {
		name, method, path string
		status             int
	}{
		{"models", http.MethodGet, "/v1/models", 200},
		{"self usage", http.MethodGet, "/v1/sluice/usage", 200},
		{"unknown url", http.MethodGet, "/v1/nope", 404},
		{"no key", http.MethodPost, "/v1/chat/completions", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.server.URL+tc.path, strings.NewReader(chatBody))
			req.Header.Set("Authorization", "Bearer "+clientKey)
			if tc.status == 401 {
				req.Header.Del("Authorization")
			}
			start := time.Now()
			resp, err := e.server.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, resp)
			if took := time.Since(start); resp.StatusCode != tc.status || took > 500*time.Millisecond {
				t.Errorf("%s %s: %d after %v, want %d at once", tc.method, tc.path, resp.StatusCode, took, tc.status)
			}
		})
	}
	if slowest > 500*time.Millisecond { // at once; loose for loaded machines
		t.Errorf("a 401 took %v while the ledger filled, want at once", slowest)
	}

	for _, tc := range []struct {
		name, path, body string
		hdr              map[string]string
		want             string
	}{
		{"openai", "/v1/chat/completions", chatBody, auth, `"code":"ledger_unavailable"`},
		{"anthropic", "/v1/messages", `{"model":"chat-small","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"x-api-key": clientKey, "anthropic-version": "2023-06-01"}, `"type":"error"`},
	} {
		t.Run("billable "+tc.name, func(t *testing.T) {
			start := time.Now()
			resp := e.post(t, tc.path, tc.body, tc.hdr)
			b := readAll(t, resp)
			took := time.Since(start)
			if resp.StatusCode != 503 || !strings.Contains(b, tc.want) || resp.Header.Get("Retry-After") == "" {
				t.Errorf("billable request with the ledger down: %d %v %s", resp.StatusCode, resp.Header, b)
			}
			if took > time.Second {
				t.Errorf("refused after %v, want within the 150ms admission bound", took)
			}
		})
	}

	got := <-inflight
	if got.status != 200 || !strings.Contains(got.body, `"choices"`) {
		t.Fatalf("answer in flight when the ledger failed: %d %s", got.status, got.body)
	}

	disk.full.Store(false)
	start := time.Now()
	for !lw.Health().Ready || disk.count(got.id) == 0 {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("no recovery after the store came back: %+v", lw.Health())
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("ready %v after the store came back", time.Since(start))
	if n := disk.count(got.id); n != 1 {
		t.Errorf("the answered request is stored %d times, want once", n)
	}
	resp := e.post(t, "/v1/chat/completions", chatBody, auth)
	if b := readAll(t, resp); resp.StatusCode != 200 {
		t.Errorf("billable request after recovery: %d %s", resp.StatusCode, b)
	}
}
