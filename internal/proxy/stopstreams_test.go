package proxy

import (
	"io"
	"strings"
	"testing"
	"time"

	openaifake "github.com/sluicehq/sluice/internal/fakeprovider/openai"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/product"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/store"
)

// An emergency stop published in a new snapshot (as the admin's stop does
// through the node's refresh) ends the streams already running of the
// stopped model or product version within about a second: the client gets
// the dialect's error event naming the stop, and no [DONE]; the ledger
// records the stop. A stop of something else leaves the stream alone.
func TestStopEndsRunningStreams(t *testing.T) {
	streamBody := `{"model":"chat-small","stream":true,"messages":[{"role":"user","content":"hello there"}]}`
	for _, tc := range []struct {
		name, path string
		stop       store.Stop
		ended      bool
		want       string // in the error event
	}{
		{"model", "/v1/chat/completions", store.Stop{Kind: "model", Name: "chat-small", Reason: "leaking secrets"}, true,
			"stopped by an operator: Model chat-small is suspended: leaking secrets"},
		{"model under a product", "/products/support/v1/v1/chat/completions", store.Stop{Kind: "model", Name: "chat-small"}, true,
			"Model chat-small is suspended: stopped by an operator"},
		{"product version", "/products/support/v1/v1/chat/completions", store.Stop{Kind: "version", Name: "support/v1", Reason: "recall"}, true,
			"Product support v1 is suspended: recall"},
		{"another version", "/products/support/v1/v1/chat/completions", store.Stop{Kind: "version", Name: "support/v2", Reason: "recall"}, false, ""},
		{"another model", "/v1/chat/completions", store.Stop{Kind: "model", Name: "other", Reason: "x"}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := productEnv(t, product.Active)
			resp := e.post(t, tc.path, streamBody, map[string]string{"Authorization": "Bearer " + prodKey,
				openaifake.HeaderChunks: "12", openaifake.HeaderChunkDelayMs: "150"})
			defer resp.Body.Close()
			buf := make([]byte, 512)
			if _, err := resp.Body.Read(buf); resp.StatusCode != 200 || err != nil {
				t.Fatalf("the stream did not start: %d %v", resp.StatusCode, err)
			}
			// The node's refresh after a stop: the same catalogue, plus the stop.
			snap := *e.h.opts.Snapshots.Load()
			snap.Products = runtime.CompileProducts(runtime.ProductInputs{
				Products: []store.ProductRecord{{ID: "prd_1", Product: product.Product{Name: "support"}}},
				Versions: []store.VersionRecord{{ProductID: "prd_1", Version: product.Version{Version: "v1", State: product.Published,
					Models: map[string]string{"chat-small": "chat-small"}}}},
				Plans: []store.PlanRecord{{ProductID: "prd_1", Plan: product.Plan{Name: "free"}}},
				Subscriptions: []store.SubscriptionRecord{{Subscription: product.Subscription{ID: "sub_web", Application: "app_web",
					Product: "support", Plan: "free", State: product.Active}}},
				Stops: []store.Stop{tc.stop},
			})
			stopped := time.Now()
			e.h.opts.Snapshots.Store(&snap)
			rest, err := io.ReadAll(resp.Body)
			took, body := time.Since(stopped), string(rest)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.ended {
				if !strings.Contains(body, "[DONE]") || strings.Contains(body, "suspended") {
					t.Fatalf("a stop of something else ended the stream: %s", body)
				}
				return
			}
			// The stop is the operator's, not the upstream's failure.
			if took > 1200*time.Millisecond || strings.Contains(body, "[DONE]") || !strings.Contains(body, `"error"`) ||
				!strings.Contains(body, tc.want) || strings.Contains(body, "upstream stream failed") {
				t.Fatalf("after %v: %s", took, body)
			}
			en := e.waitEntries(t, 1)[0]
			if en.Status != ledger.StatusTruncated || !strings.HasPrefix(en.Error, "stopped by an operator") || !strings.Contains(en.Error, tc.want) {
				t.Fatalf("ledger %s %q", en.Status, en.Error)
			}
		})
	}
}
