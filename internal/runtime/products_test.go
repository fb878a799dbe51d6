package runtime

import (
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/product"
	"github.com/sluicehq/sluice/internal/store"
)

func TestProductDecide(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	pv := func(name string, st product.VersionState, sunset *time.Time) store.VersionRecord {
		return store.VersionRecord{ProductID: "prd_1", Version: product.Version{Version: name, State: st, Models: map[string]string{"m": "m"}, SunsetAt: sunset, Successor: "v2"}}
	}
	sub := func(app, plan string, st product.SubState, exp *time.Time) store.SubscriptionRecord {
		return store.SubscriptionRecord{Subscription: product.Subscription{ID: "sub_" + app, Application: app, Product: "support", Plan: plan, State: st, ExpiresAt: exp}}
	}
	ps := compileProducts(ProductInputs{
		Products: []store.ProductRecord{{ID: "prd_1", Product: product.Product{Name: "support"}}},
		Versions: []store.VersionRecord{pv("v1", product.Deprecated, &past), pv("v2", product.Published, nil), pv("v3", product.Draft, nil),
			pv("v4", product.Published, &future), pv("v5", product.Published, nil)},
		Plans: []store.PlanRecord{{ProductID: "prd_1", Plan: product.Plan{Name: "free", RPM: 10, Versions: []string{"v2", "v4", "v5"}}}},
		Subscriptions: []store.SubscriptionRecord{sub("active", "free", product.Active, &future), sub("pending", "free", product.Pending, nil),
			sub("suspended", "free", product.Suspended, nil), sub("expired", "free", product.Active, &past),
			sub("gone", "deleted", product.Active, nil), sub("cancelled", "free", product.Cancelled, nil)},
		Stops: []store.Stop{{Kind: "version", Name: "support/v5", Reason: "leaking data"}, {Kind: "model", Name: "m", Reason: "bad"}},
	})
	for _, tc := range []struct {
		name, app, product, version string
		status                      int
		reason                      string
		expire                      bool
	}{
		{"admitted", "active", "support", "v2", 0, "", false},
		{"admitted before the sunset", "active", "support", "v4", 0, "", false},
		{"no subscription", "other", "support", "v2", 403, ReasonNoSubscription, false},
		{"no application", "", "support", "v2", 403, ReasonNoSubscription, false},
		{"cancelled", "cancelled", "support", "v2", 403, ReasonNoSubscription, false},
		{"pending", "pending", "support", "v2", 403, ReasonSubscriptionPending, false},
		{"suspended", "suspended", "support", "v2", 403, ReasonSubscriptionSuspended, false},
		{"expired", "expired", "support", "v2", 403, ReasonSubscriptionExpired, true},
		{"plan gone", "gone", "support", "v2", 403, ReasonNoSubscription, false},
		{"after the sunset", "active", "support", "v1", http.StatusGone, ReasonSunset, false},
		{"draft", "active", "support", "v3", 404, ReasonUnknownProduct, false},
		{"unknown version", "active", "support", "v9", 404, ReasonUnknownProduct, false},
		{"unknown product", "active", "nope", "v2", 404, ReasonUnknownProduct, false},
		{"emergency stop", "active", "support", "v5", 503, ReasonStopped, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := ps.Decide(tc.app, tc.product, tc.version, now)
			if a.Status != tc.status || a.Reason != tc.reason || a.Expire != tc.expire {
				t.Fatalf("got %d %q expire=%v (%s), want %d %q", a.Status, a.Reason, a.Expire, a.Message, tc.status, tc.reason)
			}
			if a.Status == 0 && (a.Plan == nil || a.Sub == nil || a.Sub.Level(a.Plan) == nil) {
				t.Fatalf("admitted without plan, subscription or level: %+v", a)
			}
		})
	}
	// A version-not-in-plan refusal.
	ps.ByName["support"].Plans["free"].Versions = []string{"v4"}
	if a := ps.Decide("active", "support", "v2", now); a.Reason != ReasonVersionNotInPlan {
		t.Fatalf("got %q", a.Reason)
	}
	if r := ps.StopReason("support", "v2", "m"); r != "bad" {
		t.Fatalf("model stop: %q", r)
	}
	var nilPS *Products
	if a := nilPS.Decide("a", "p", "v", now); a.Status != 404 {
		t.Fatalf("nil catalogue: %+v", a)
	}
}
