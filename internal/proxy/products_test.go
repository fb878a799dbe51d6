package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/product"
	"github.com/sluicehq/sluice/internal/ratelimit"
	"github.com/sluicehq/sluice/internal/ratelimit/ratelimittest"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/store"
)

const (
	prodKey  = "gw-test-product-key-0001"
	otherKey = "gw-test-product-key-0002"
)

// productEnv: application acme/search/web (key prodKey) and acme/search/bot
// (otherKey); product support with v1 (deprecated, sunset in the future,
// successor v2), v2 (chat only), v0 (past its sunset) and v3 (stopped);
// web's subscription is active on plan free (rpm 2), bot's is as given.
func productEnv(t *testing.T, botState product.SubState, stops ...store.Stop) *env {
	return productEnvWith(t, nil, nil, nil, botState, stops...)
}

// productEnvWith is productEnv with hooks on the data plane's options and
// on the file, and more models exposed by every version (client name ->
// Sluice model).
func productEnvWith(t *testing.T, opts func(*Options), mutate func(*config.File), more map[string]string, botState product.SubState, stops ...store.Stop) *env {
	e := newEnvWith(t, opts, func(f *config.File) {
		f.Orgs = []config.Org{{Name: "acme", Teams: []config.Team{{Name: "search", Applications: []config.App{{Name: "web"}, {Name: "bot"}}}}}}
		f.Keys = append(f.Keys, config.Key{Name: "web", Key: prodKey, Application: "acme/search/web"},
			config.Key{Name: "bot", Key: otherKey, Application: "acme/search/bot"})
		if mutate != nil {
			mutate(f)
		}
	})
	dep := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	sunset, past := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), time.Now().Add(-time.Hour)
	models := map[string]string{"chat-small": "chat-small"}
	ver := func(name string, v product.Version) store.VersionRecord {
		v.Version, v.Models = name, models
		if name == "v2" { // an alias: clients say "smart" for the Sluice model "other"
			v.Models = map[string]string{"chat-small": "chat-small", "smart": "other"}
		}
		if len(more) > 0 {
			m := maps.Clone(v.Models)
			maps.Copy(m, more)
			v.Models = m
		}
		if v.State == "" {
			v.State = product.Published
		}
		return store.VersionRecord{ProductID: "prd_1", Version: v}
	}
	snap := *e.h.opts.Snapshots.Load()
	snap.Products = runtime.CompileProducts(runtime.ProductInputs{
		Products: []store.ProductRecord{{ID: "prd_1", OrgID: "org_acme", TeamID: "team_search", Product: product.Product{Name: "support", Visibility: product.Internal}}},
		Versions: []store.VersionRecord{
			ver("v1", product.Version{State: product.Deprecated, DeprecatedAt: &dep, SunsetAt: &sunset, Successor: "v2"}),
			ver("v2", product.Version{Endpoints: []string{"chat"}}),
			ver("v0", product.Version{State: product.Deprecated, DeprecatedAt: &dep, SunsetAt: &past, Successor: "v2"}),
			ver("v3", product.Version{}),
		},
		Plans: []store.PlanRecord{{ProductID: "prd_1", Plan: product.Plan{Name: "free", RPM: 2, Approval: product.Manual}}},
		Subscriptions: []store.SubscriptionRecord{
			{Subscription: product.Subscription{ID: "sub_web", Application: "app_web", Product: "support", Plan: "free", State: product.Active}},
			{Subscription: product.Subscription{ID: "sub_bot", Application: "app_bot", Product: "support", Plan: "free", State: botState}},
		},
		Stops: append([]store.Stop{{Kind: "version", Name: "support/v3", Reason: "leaking secrets"}}, stops...),
	})
	e.h.opts.Snapshots.Store(&snap)
	return e
}

func TestProductRequests(t *testing.T) {
	e := productEnv(t, product.Pending)
	auth := func(k string) map[string]string { return map[string]string{"Authorization": "Bearer " + k} }
	for _, tc := range []struct {
		name, key, path, body string
		status                int
		want                  string // in the body
		deprecated            bool
	}{
		{"pending", otherKey, "/products/support/v2/v1/chat/completions", chatBody, 403, `"code":"subscription_pending"`, false},
		{"pending names the product", otherKey, "/products/support/v2/v1/chat/completions", chatBody, 403, "Product support", false},
		{"pending, Anthropic dialect", otherKey, "/products/support/v1/v1/messages", `{"model":"chat-small","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, 403, `"type":"permission_error"`, true},
		{"active", prodKey, "/products/support/v2/v1/chat/completions", chatBody, 200, `"choices"`, false},
		{"deprecated version answers with headers", prodKey, "/products/support/v1/v1/chat/completions", chatBody, 200, `"choices"`, true},
		{"aliased model under its own name", prodKey, "/products/support/v2/v1/chat/completions", strings.Replace(chatBody, "chat-small", "other", 1), 404, "model_not_found", false},
		{"endpoint not exposed", prodKey, "/products/support/v2/v1/responses", `{"model":"chat-small","input":"hi"}`, 404, "endpoint_not_in_product", false},
		{"model not exposed", prodKey, "/products/support/v1/v1/chat/completions", strings.Replace(chatBody, "chat-small", "other", 1), 404, "model_not_found", true},
		{"after the sunset", prodKey, "/products/support/v0/v1/chat/completions", chatBody, 410, "/products/support/v2", true},
		{"emergency stop", prodKey, "/products/support/v3/v1/chat/completions", chatBody, 503, "leaking secrets", false},
		{"unknown product", prodKey, "/products/nope/v1/v1/chat/completions", chatBody, 404, "unknown_product", false},
		{"no key", "", "/products/support/v2/v1/chat/completions", chatBody, 401, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := auth(tc.key)
			if strings.HasSuffix(tc.path, "/messages") {
				hdr["anthropic-version"] = "2023-06-01"
			}
			resp := e.post(t, tc.path, tc.body, hdr)
			body := readAll(t, resp)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %s; want %d containing %q", resp.StatusCode, body, tc.status, tc.want)
			}
			dep := resp.Header.Get("Deprecation")
			if tc.deprecated != (dep != "") {
				t.Fatalf("Deprecation %q", dep)
			}
			if tc.deprecated && tc.status != 410 {
				links := strings.Join(resp.Header.Values("Link"), ", ")
				if dep != "@1796083200" || resp.Header.Get("Sunset") != "Tue, 01 Jan 2030 00:00:00 GMT" ||
					!strings.Contains(links, `/products/support/v2/v1>; rel="successor-version"`) || !strings.Contains(links, `rel="deprecation"`) || !strings.Contains(links, `rel="sunset"`) {
					t.Fatalf("headers %v", resp.Header)
				}
			}
		})
	}
}

func TestProductLedgerAndPlanLimit(t *testing.T) {
	e := productEnv(t, product.Active)
	hdr := map[string]string{"Authorization": "Bearer " + prodKey}
	codes := []int{}
	for range 3 {
		resp := e.post(t, "/products/support/v2/v1/chat/completions", chatBody, hdr)
		readAll(t, resp)
		codes = append(codes, resp.StatusCode)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 {
		t.Fatalf("plan rpm 2: %v", codes)
	}
	// The plan's limit is the subscription's: the bot's own subscription
	// still passes, here with an alias ("smart" is the Sluice model "other").
	if resp := e.post(t, "/products/support/v2/v1/chat/completions", strings.Replace(chatBody, "chat-small", "smart", 1),
		map[string]string{"Authorization": "Bearer " + otherKey}); resp.StatusCode != 200 || resp.Header.Get("X-Sluice-Model") != "fake-model-2" {
		t.Fatalf("another subscription, an alias: %d %v %s", resp.StatusCode, resp.Header, readAll(t, resp))
	}
	// The same key outside the product is not held by the plan.
	if resp := e.post(t, "/v1/chat/completions", chatBody, hdr); resp.StatusCode != 200 {
		t.Fatalf("outside the product: %d", resp.StatusCode)
	}
	entries := e.waitEntries(t, 5)
	en := entries[0]
	if en.Product != "support" || en.ProductVersion != "v2" || en.Plan != "free" || en.SubscriptionID != "sub_web" {
		t.Fatalf("ledger entry %+v", en)
	}
	if last := entries[4]; last.Product != "" || last.SubscriptionID != "" {
		t.Fatalf("plain request carries a product: %+v", last)
	}
}

func TestProductModelsAndOpenAPI(t *testing.T) {
	e := productEnv(t, product.Active, store.Stop{Kind: "model", Name: "other", Reason: "hallucinating"})
	get := func(path, key string) (int, string) {
		req, _ := http.NewRequest("GET", e.server.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := e.server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, readAll(t, resp)
	}
	code, body := get("/products/support/v2/v1/models", prodKey)
	var list struct{ Data []struct{ ID string } }
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list.Data) != 2 || list.Data[0].ID != "chat-small" || list.Data[1].ID != "smart" {
		t.Fatalf("models: %d %s", code, body)
	}
	// An alias reaches its Sluice model, stopped here.
	resp0 := e.post(t, "/products/support/v2/v1/chat/completions", strings.Replace(chatBody, "chat-small", "smart", 1), map[string]string{"Authorization": "Bearer " + prodKey})
	if b := readAll(t, resp0); resp0.StatusCode != 503 || !strings.Contains(b, "Model other is suspended") {
		t.Fatalf("alias of a stopped model: %d %s", resp0.StatusCode, b)
	}
	code, body = get("/products/support/v2/openapi.json", otherKey)
	if code != 200 || !strings.Contains(body, `"/v1/chat/completions"`) || strings.Contains(body, `"/v1/messages"`) || !strings.Contains(body, `"3.1.0"`) {
		t.Fatalf("openapi: %d %s", code, body)
	}
	if code, _ = get("/products/support/v3-nope/openapi.json", prodKey); code != 404 {
		t.Fatalf("unknown version's document: %d", code)
	}
	// A stopped model is refused everywhere, product or not.
	resp := e.post(t, "/v1/chat/completions", strings.Replace(chatBody, "chat-small", "other", 1), map[string]string{"Authorization": "Bearer " + prodKey})
	if b := readAll(t, resp); resp.StatusCode != 503 || !strings.Contains(b, "hallucinating") {
		t.Fatalf("stopped model: %d %s", resp.StatusCode, b)
	}
}

// TestProductGeminiAliasAndRedirect: on the Gemini paths under a product's
// base URL the version's aliases resolve as on the OpenAI and Anthropic
// paths (the model is in the URL), and a model past its sunset with
// on_sunset: redirect that the version exposes is served by its successor.
func TestProductGeminiAliasAndRedirect(t *testing.T) {
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	dep := past.Add(-time.Hour)
	e := productEnvWith(t, func(o *Options) { o.Codecs = dialectCodecs() }, func(f *config.File) {
		f.Models = append(f.Models, config.Model{Name: "moved", Targets: []config.Target{{Provider: "up", Model: "fake-model-1"}},
			ModelLifecycle: config.ModelLifecycle{DeprecatedAt: &dep, SunsetAt: &past, Successor: "other", OnSunset: "redirect"}})
	}, map[string]string{"smart": "other", "moved": "moved", "gone": "moved"}, product.Active)
	e.h.opts.Snapshots.Load().Products.ByName["support"].Plans["free"].Limits = ratelimit.Limits{} // no rpm here
	goog := func(k string) map[string]string { return map[string]string{"x-goog-api-key": k} }
	bearer := func(k string) map[string]string { return map[string]string{"Authorization": "Bearer " + k} }
	const gem = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	for _, tc := range []struct {
		name, path, body string
		hdr              map[string]string
		status           int
		want             string // in the body
		served, redirect string // X-Sluice-Model, X-Sluice-Model-Redirect
	}{
		{"gemini alias", "/products/support/v1/v1beta/models/smart:generateContent", gem, goog(prodKey), 200, `"candidates"`, "fake-model-2", ""},
		{"gemini alias, streamed", "/products/support/v1/v1beta/models/smart:streamGenerateContent?alt=sse", gem, goog(prodKey), 200, `"candidates"`, "fake-model-2", ""},
		{"gemini own name", "/products/support/v1/v1beta/models/chat-small:generateContent", gem, goog(prodKey), 200, `"candidates"`, "fake-model-1", ""},
		{"gemini Sluice name of an alias", "/products/support/v1/v1beta/models/other:generateContent", gem, goog(prodKey), 404, "does not expose the model other", "", ""},
		{"gemini, a version without the alias", "/products/support/v3-none/v1beta/models/smart:generateContent", gem, goog(prodKey), 404, "", "", ""},
		{"redirect after the sunset, openai", "/products/support/v1/v1/chat/completions", strings.Replace(chatBody, "chat-small", "moved", 1), bearer(prodKey), 200, `"choices"`, "fake-model-2", "moved -> other"},
		{"redirect after the sunset, alias", "/products/support/v1/v1/chat/completions", strings.Replace(chatBody, "chat-small", "gone", 1), bearer(prodKey), 200, `"choices"`, "fake-model-2", "moved -> other"},
		{"redirect after the sunset, gemini", "/products/support/v1/v1beta/models/moved:generateContent", gem, goog(prodKey), 200, `"candidates"`, "fake-model-2", "moved -> other"},
		{"an alias's Sluice name is not exposed", "/products/support/v2/v1/chat/completions", strings.Replace(chatBody, "chat-small", "other", 1), bearer(prodKey), 404, "model_not_found", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.post(t, tc.path, tc.body, tc.hdr)
			body := readAll(t, resp)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %s; want %d containing %q", resp.StatusCode, body, tc.status, tc.want)
			}
			if got := resp.Header.Get("X-Sluice-Model"); tc.served != "" && got != tc.served {
				t.Fatalf("X-Sluice-Model %q, want %q", got, tc.served)
			}
			if got := resp.Header.Get("X-Sluice-Model-Redirect"); got != tc.redirect {
				t.Fatalf("X-Sluice-Model-Redirect %q, want %q", got, tc.redirect)
			}
		})
	}
}

// TestProductQuotaSeededFromLedger: a plan's request quota starts from the
// ledger's count of the subscription's requests in the period, read once
// per subscription per process, so a restarted node does not give the
// quota back; a ledger that cannot be read refuses 503 rather than admit
// unmetered.
func TestProductQuotaSeededFromLedger(t *testing.T) {
	for _, tc := range []struct {
		name, period string
		counted      int64
		fail         bool
		want         []int
		since        func(now time.Time) time.Time
	}{
		{"exhausted before the restart", "total", 2, false, []int{429, 429}, func(time.Time) time.Time { return time.Time{} }},
		{"one left this month", "monthly", 1, false, []int{200, 429, 429}, func(now time.Time) time.Time {
			return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		}},
		{"none yet today", "daily", 0, false, []int{200, 200, 429}, func(now time.Time) time.Time {
			return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		}},
		{"the ledger cannot be read", "daily", 0, true, []int{503}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := quotaEnv(t, 2, tc.period, ratelimittest.NewClock(time.Now()))
			var mu sync.Mutex
			var calls []string
			e.h.opts.RequestsSince = func(_ context.Context, sub string, since time.Time) (int64, error) {
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, sub+" "+since.UTC().Format(time.RFC3339))
				if tc.fail {
					return 0, errors.New("database is down")
				}
				return tc.counted, nil
			}
			var got []int
			for range tc.want {
				resp := e.post(t, "/products/support/v1/v1/chat/completions", chatBody, map[string]string{"Authorization": "Bearer " + prodKey})
				body := readAll(t, resp)
				got = append(got, resp.StatusCode)
				if resp.StatusCode == 429 && !strings.Contains(body, "quota_exceeded") {
					t.Fatalf("refusal %s", body)
				}
				if resp.StatusCode == 503 && !strings.Contains(body, "quota_unavailable") {
					t.Fatalf("refusal %s", body)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("statuses %v, want %v", got, tc.want)
			}
			mu.Lock()
			defer mu.Unlock()
			if tc.since != nil {
				want := "sub_web " + tc.since(time.Now().UTC()).Format(time.RFC3339)
				if len(calls) != 1 || calls[0] != want {
					t.Fatalf("ledger reads %v, want once: %s", calls, want)
				}
			}
		})
	}
}
