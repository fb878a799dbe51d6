package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/product"
	"github.com/sluicehq/sluice/internal/ratelimit"
	"github.com/sluicehq/sluice/internal/ratelimit/ratelimittest"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/store"
)

// quotaEnv is productEnv with plan free allowing quota requests per period
// (and no rpm), its limiter on clock c.
func quotaEnv(t *testing.T, quota int64, period string, c *ratelimittest.Clock) *env {
	e := productEnv(t, product.Active)
	e.h.opts.Limiter = ratelimit.New(c.Now)
	t.Cleanup(e.h.opts.Limiter.Close)
	snap := *e.h.opts.Snapshots.Load()
	snap.Products = runtime.CompileProducts(runtime.ProductInputs{
		Products: []store.ProductRecord{{ID: "prd_1", OrgID: "org_acme", TeamID: "team_search", Product: product.Product{Name: "support", Visibility: product.Internal}}},
		Versions: []store.VersionRecord{{ProductID: "prd_1", Version: product.Version{Version: "v1", State: product.Published,
			Models: map[string]string{"chat-small": "chat-small"}}}},
		Plans: []store.PlanRecord{{ProductID: "prd_1", Plan: product.Plan{Name: "free", Quota: quota, QuotaPeriod: period, Approval: product.Auto}}},
		Subscriptions: []store.SubscriptionRecord{
			{Subscription: product.Subscription{ID: "sub_web", Application: "app_web", Product: "support", Plan: "free", State: product.Active}},
			{Subscription: product.Subscription{ID: "sub_bot", Application: "app_bot", Product: "support", Plan: "free", State: product.Active}},
		},
	})
	e.h.opts.Snapshots.Store(&snap)
	return e
}

// A plan's request quota admits quota requests per period, per
// subscription, whatever they cost; the next is refused 429 quota_exceeded
// in the client's dialect, naming the product and plan, with Retry-After
// until the period ends; at the period's boundary it admits again.
func TestProductRequestQuota(t *testing.T) {
	const quota = 2
	for _, tc := range []struct {
		name, period, path, body string
		at                       time.Time // 3 s before the period's end
		retry                    string    // Retry-After of the refusal
		want                     string    // in the refusal's body: the dialect
		again                    bool      // admitted after the boundary
	}{
		{"daily", "daily", "/products/support/v1/v1/chat/completions", chatBody,
			time.Date(2026, 3, 2, 23, 59, 57, 0, time.UTC), "3", `"type":"rate_limit_error"`, true},
		{"monthly by default", "", "/products/support/v1/v1/chat/completions", chatBody,
			time.Date(2026, 3, 31, 23, 59, 57, 0, time.UTC), "3", `"type":"rate_limit_error"`, true},
		{"weekly", "weekly", "/products/support/v1/v1/chat/completions", chatBody,
			time.Date(2026, 3, 8, 23, 59, 57, 0, time.UTC), "3", `"code":"quota_exceeded"`, true},
		{"total", "total", "/products/support/v1/v1/chat/completions", chatBody,
			time.Date(2026, 3, 2, 23, 59, 57, 0, time.UTC), "", `"code":"quota_exceeded"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ratelimittest.NewClock(tc.at)
			seededSpend = 1_000 // the ledger's spend: a quota counts requests, it is not seeded with money
			t.Cleanup(func() { seededSpend = 0 })
			e := quotaEnv(t, quota, tc.period, c)
			hdr := map[string]string{"Authorization": "Bearer " + prodKey}
			post := func() (int, string, string) {
				resp := e.post(t, tc.path, tc.body, hdr)
				body := readAll(t, resp)
				return resp.StatusCode, body, resp.Header.Get("Retry-After")
			}
			for i := range quota {
				if code, body, _ := post(); code != 200 {
					t.Fatalf("request %d of the quota: %d %s", i+1, code, body)
				}
			}
			code, body, retry := post()
			if code != 429 || !strings.Contains(body, "quota_exceeded") || !strings.Contains(body, tc.want) ||
				!strings.Contains(body, "product support, plan free") || retry != tc.retry {
				t.Fatalf("past the quota: %d Retry-After %q %s", code, retry, body)
			}
			// The quota is the subscription's: the bot's still passes.
			if resp := e.post(t, tc.path, tc.body, map[string]string{"Authorization": "Bearer " + otherKey}); resp.StatusCode != 200 {
				t.Fatalf("another subscription: %d %s", resp.StatusCode, readAll(t, resp))
			}
			c.Add(2 * time.Second)
			if code, body, retry := post(); code != 429 || (tc.again && retry != "1") {
				t.Fatalf("a second before the boundary: %d Retry-After %q %s", code, retry, body)
			}
			c.Add(time.Second)
			if code, body, _ := post(); (code == 200) != tc.again {
				t.Fatalf("after the boundary: %d %s (want admitted: %v)", code, body, tc.again)
			}
			limited := 0
			for _, en := range e.waitEntries(t, 6) {
				if en.Status == ledger.StatusLimited {
					limited++
				}
			}
			if want := 2 + map[bool]int{true: 0, false: 1}[tc.again]; limited != want {
				t.Fatalf("%d ledger entries limited, want %d", limited, want)
			}
		})
	}
}
