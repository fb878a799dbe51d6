package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/route"
)

// A half-open probe that one of a key pool's keys answers with 429 and
// Retry-After rests that key and ends the probe: the target is probed
// again later instead of staying claimed (out of rotation) for good.
func TestPoolKey429EndsTheProbe(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusInternalServerError)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := int(status.Load()); s != http.StatusOK {
			if s == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "1")
			}
			http.Error(w, `{"error":{"message":"no"}}`, s)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`))
	}))
	defer up.Close()
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	reg := route.NewRegistry(route.HealthOptions{ConsecutiveFailures: 1, BaseEjection: 10 * time.Second, Now: clock})
	base := serveFile(t, &config.File{Version: 1,
		Providers: []config.Provider{{Name: "pool", Type: "openai", BaseURL: up.URL + "/v1", APIKeys: []string{"k1", "k2"}}},
		Models:    []config.Model{{Name: "p", Targets: []config.Target{{Provider: "pool", Model: "m"}}}},
		Keys:      []config.Key{{Name: "dev", Key: clientKey}},
	}, reg, &recorder{})
	call := func() int {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(`{"model":"p","messages":[]}`))
		req.Header.Set("Authorization", "Bearer "+clientKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	h := reg.Get("pool", "m")
	call() // 500: ejected
	if !h.Ejected() {
		t.Fatal("a failure did not eject the target")
	}
	advance(11 * time.Second)
	status.Store(http.StatusTooManyRequests)
	call() // the half-open probe: one key answers 429 with Retry-After
	advance(2 * time.Second)
	if h.Ejected() {
		t.Fatalf("after a 429 with Retry-After on the probe, the target stays out of rotation: %+v", h.Status())
	}
	status.Store(http.StatusOK)
	if got := call(); got != http.StatusOK {
		t.Fatalf("next request: %d", got)
	}
}
