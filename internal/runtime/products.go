package runtime

import (
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/product"
	"github.com/sluicehq/sluice/internal/ratelimit"
	"github.com/sluicehq/sluice/internal/store"
)

// ProductInputs are the stored products (those the file declares
// included, already upserted), their versions and plans, the open
// subscriptions (pending, active, suspended) and the emergency stops.
type ProductInputs struct {
	Products      []store.ProductRecord
	Versions      []store.VersionRecord
	Plans         []store.PlanRecord
	Subscriptions []store.SubscriptionRecord
	Stops         []store.Stop
}

// Products is the compiled product catalogue: everything the data plane
// needs to decide a product request without a database call.
type Products struct {
	ByName map[string]*Product
	// subs maps application id + "\x00" + product name to the
	// application's open subscription.
	subs map[string]*Subscription
	// stops maps "version:<product>/<version>" and "model:<model>" to the
	// emergency stop's reason.
	stops map[string]string
}

// Product is a compiled product.
type Product struct {
	product.Product
	ID, OrgID, TeamID string
	Versions          map[string]*product.Version
	Plans             map[string]*Plan
}

// Plan is a compiled plan with the limits each subscription gets.
type Plan struct {
	product.Plan
	Limits ratelimit.Limits
	// Quota is the plan's request quota as a budget that counts requests
	// (zero: none).
	Quota ratelimit.Limits
}

// Subscription is a compiled open subscription.
type Subscription struct {
	ID, AppID, Product, Plan string
	State                    product.SubState
	ExpiresAt                time.Time // zero: no end
}

// Level is the subscription's level in the limiter: the plan's limits,
// per subscription; nil when the plan has none.
func (s *Subscription) Level(p *Plan) *Level {
	if p == nil || p.Limits.IsZero() {
		return nil
	}
	return &Level{Column: "subscription_id", LedgerID: s.ID,
		Subject: ratelimit.Subject{ID: "sub:" + s.ID, Limits: p.Limits, Scope: "subscription"}}
}

// QuotaLevel is the subscription's request quota in the limiter, a level
// of its own beside the plan's (a budget that counts requests, reserving
// one per request); nil when the plan has none.
func (s *Subscription) QuotaLevel(p *Plan) *Level {
	if p == nil || p.Quota.IsZero() {
		return nil
	}
	return &Level{Column: "subscription_id", LedgerID: s.ID, Reserve: 1,
		Subject: ratelimit.Subject{ID: "quota:" + s.ID, Limits: p.Quota, Scope: "subscription to product " + s.Product + ", plan " + s.Plan}}
}

// CompileProducts compiles a product catalogue alone (Compile does it for
// a snapshot): for tests of the data plane.
func CompileProducts(in ProductInputs) *Products { return compileProducts(in) }

func compileProducts(in ProductInputs) *Products {
	ps := &Products{ByName: make(map[string]*Product, len(in.Products)), subs: map[string]*Subscription{}, stops: map[string]string{}}
	byID := make(map[string]*Product, len(in.Products))
	for _, p := range in.Products {
		cp := &Product{Product: p.Product, ID: p.ID, OrgID: p.OrgID, TeamID: p.TeamID,
			Versions: map[string]*product.Version{}, Plans: map[string]*Plan{}}
		ps.ByName[p.Name], byID[p.ID] = cp, cp
	}
	for _, v := range in.Versions {
		if p := byID[v.ProductID]; p != nil {
			cv := v.Version
			p.Versions[cv.Version] = &cv
		}
	}
	for _, pl := range in.Plans {
		if p := byID[pl.ProductID]; p != nil {
			lim := ratelimit.Limits{RPM: pl.RPM, TPM: pl.TPM, MaxConcurrent: pl.MaxConcurrent, BudgetMicros: pl.BudgetMicros,
				BudgetPeriod: ratelimit.Period(pl.BudgetPeriod)}
			if lim.BudgetMicros > 0 && lim.BudgetPeriod == "" {
				lim.BudgetPeriod = ratelimit.Monthly
			}
			cp := &Plan{Plan: pl.Plan, Limits: lim}
			if pl.Quota > 0 {
				cp.Quota = ratelimit.Limits{BudgetMicros: pl.Quota, BudgetPeriod: ratelimit.Period(pl.QuotaPeriod), CountsRequests: true}
				if cp.Quota.BudgetPeriod == "" {
					cp.Quota.BudgetPeriod = ratelimit.Monthly
				}
			}
			p.Plans[pl.Name] = cp
		}
	}
	for _, s := range in.Subscriptions {
		if s.State.Final() {
			continue
		}
		cs := &Subscription{ID: s.ID, AppID: s.Application, Product: s.Product, Plan: s.Plan, State: s.State}
		if s.ExpiresAt != nil {
			cs.ExpiresAt = *s.ExpiresAt
		}
		ps.subs[s.Application+"\x00"+s.Product] = cs
	}
	for _, st := range in.Stops {
		ps.stops[st.Kind+":"+st.Name] = st.Reason
	}
	return ps
}

// Refusal reasons of a product request.
const (
	ReasonNoSubscription        = "no_subscription"
	ReasonSubscriptionPending   = "subscription_pending"
	ReasonSubscriptionExpired   = "subscription_expired"
	ReasonSubscriptionSuspended = "subscription_suspended"
	ReasonVersionNotInPlan      = "version_not_in_plan"
	ReasonUnknownProduct        = "unknown_product"
	ReasonSunset                = "version_sunset"
	ReasonStopped               = "suspended"
)

// Access is the data plane's decision on a product request.
type Access struct {
	Product *Product
	Version *product.Version
	Plan    *Plan
	Sub     *Subscription
	// Status is 0 when the request may go on; otherwise the HTTP status
	// (403, 404, 410, 503) and Reason say why not, and Message in words.
	Status  int
	Reason  string
	Message string
	// Expire is set when the refusal is a subscription past its
	// expires_at: the caller marks it expired in the store.
	Expire bool
}

// StopReason returns the reason of an emergency stop on the product
// version or the model ("" when none).
func (ps *Products) StopReason(productName, version, model string) string {
	if ps == nil {
		return ""
	}
	if r, ok := ps.stops["version:"+productName+"/"+version]; ok {
		return orText(r)
	}
	if model != "" {
		if r, ok := ps.stops["model:"+model]; ok {
			return orText(r)
		}
	}
	return ""
}

func orText(r string) string {
	if r == "" {
		return "stopped by an operator"
	}
	return r
}

// Decide decides whether application appID may call version of the
// product at now: the version must be served, not stopped and before its
// sunset, and the application must hold an active subscription, not past
// its end, to a plan that allows the version.
func (ps *Products) Decide(appID, productName, version string, now time.Time) Access {
	var a Access
	if ps != nil {
		a.Product = ps.ByName[productName]
	}
	if a.Product != nil {
		a.Version = a.Product.Versions[version]
	}
	if a.Version == nil || !a.Version.State.Served() {
		a.Status, a.Reason, a.Message = http.StatusNotFound, ReasonUnknownProduct, "No product "+productName+" with a published version "+version+"."
		return a
	}
	if r := ps.StopReason(productName, version, ""); r != "" {
		a.Status, a.Reason, a.Message = http.StatusServiceUnavailable, ReasonStopped, "Product "+productName+" "+version+" is suspended: "+r+"."
		return a
	}
	if a.Version.SunsetPassed(now) {
		a.Status, a.Reason = http.StatusGone, ReasonSunset
		a.Message = "Product " + productName + " " + version + " was retired at " + a.Version.SunsetAt.UTC().Format(time.RFC3339) + "."
		if a.Version.Successor != "" {
			a.Message += " Use " + product.BasePath(productName, a.Version.Successor) + " instead."
		}
		return a
	}
	a.Sub = ps.subs[appID+"\x00"+productName]
	refuse := func(reason, msg string) Access {
		a.Status, a.Reason, a.Message = http.StatusForbidden, reason, "Product "+productName+": "+msg
		return a
	}
	switch {
	case appID == "" || a.Sub == nil:
		return refuse(ReasonNoSubscription, "your application has no subscription to it.")
	case a.Sub.State == product.Pending:
		return refuse(ReasonSubscriptionPending, "your application's subscription awaits approval.")
	case a.Sub.State == product.Suspended:
		return refuse(ReasonSubscriptionSuspended, "your application's subscription is suspended.")
	case a.Sub.State != product.Active:
		return refuse(ReasonNoSubscription, "your application has no active subscription to it.")
	case !a.Sub.ExpiresAt.IsZero() && !now.Before(a.Sub.ExpiresAt):
		a.Expire = true
		return refuse(ReasonSubscriptionExpired, "your application's subscription expired.")
	}
	a.Plan = a.Product.Plans[a.Sub.Plan]
	if a.Plan == nil {
		return refuse(ReasonNoSubscription, "your application's plan no longer exists.")
	}
	if !a.Plan.AllowsVersion(version) {
		return refuse(ReasonVersionNotInPlan, "plan "+a.Plan.Name+" does not include version "+version+".")
	}
	return a
}
