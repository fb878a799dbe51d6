package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/product"
)

func TestProducts(t *testing.T) { forEach(t, testProducts) }

func testProducts(t *testing.T, s *Store) {
	ctx := context.Background()
	now := tree(t, s)
	dep, sun := now.Add(time.Hour), now.Add(48*time.Hour)
	// The file's product: created, then unchanged (no generation bump), then changed.
	p := ProductRecord{Product: product.Product{Name: "support", Visibility: product.Internal}, OrgID: "o1", TeamID: "t1"}
	vs := []VersionRecord{
		{Version: product.Version{Version: "v1", State: product.Published, Models: map[string]string{"m": "m"}, DeprecatedAt: &dep, SunsetAt: &sun, Successor: "v2"}},
		{Version: product.Version{Version: "v2", State: product.Published, Models: map[string]string{"m": "m"}}},
	}
	pls := []PlanRecord{{Plan: product.Plan{Name: "free", RPM: 10, Approval: product.Manual}}, {Plan: product.Plan{Name: "open", Approval: product.Auto}}}
	id, err := s.UpsertConfigProduct(ctx, p, vs, pls)
	if err != nil {
		t.Fatal(err)
	}
	g := mustGen(t, s)
	id2, err := s.UpsertConfigProduct(ctx, p, vs, pls)
	if err != nil || id2 != id || mustGen(t, s) != g {
		t.Fatalf("unchanged upsert: id %s/%s err %v gen %d->%d", id, id2, err, g, mustGen(t, s))
	}
	if _, err := s.UpsertConfigProduct(ctx, p, vs[:1], pls); err != nil || mustGen(t, s) == g {
		t.Fatalf("changed upsert: %v", err)
	}
	got, err := s.GetProduct(ctx, "support")
	if err != nil || got.ID != id || got.Source != "config" || got.Visibility != product.Internal || got.TeamID != "t1" {
		t.Fatalf("product %+v %v", got, err)
	}
	versions, err := s.ListVersions(ctx, id)
	if err != nil || len(versions) != 1 || versions[0].Version.Version != "v1" || !versions[0].DeprecatedAt.Equal(dep) || versions[0].Successor != "v2" {
		t.Fatalf("versions %+v %v", versions, err)
	}
	plan, err := s.GetPlan(ctx, id, "free")
	if err != nil || plan.RPM != 10 || plan.Approval != product.Manual {
		t.Fatalf("plan %+v %v", plan, err)
	}

	// Subscriptions: one open subscription per application and product.
	sub := SubscriptionRecord{Subscription: product.Subscription{ID: "sub_1", Application: "a1", Product: "support", Plan: "free",
		State: product.Pending, Reason: "bot"}, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateSubscription(ctx, sub, unitAudit("subscription.create", "sub_1")); err != nil {
		t.Fatal(err)
	}
	sub.ID = "sub_2"
	if err := s.CreateSubscription(ctx, sub, unitAudit("subscription.create", "sub_2")); !errors.Is(err, ErrConflict) {
		t.Fatalf("a second open subscription: %v", err)
	}
	sub.ID, sub.Application = "sub_3", "nope"
	if err := s.CreateSubscription(ctx, sub, unitAudit("subscription.create", "sub_3")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an unknown application: %v", err)
	}
	one, err := s.GetSubscription(ctx, "sub_1")
	if err != nil || one.OrgID != "o1" || one.TeamID != "t1" || one.State != product.Pending {
		t.Fatalf("subscription %+v %v", one, err)
	}
	g = mustGen(t, s)
	exp := now.Add(24 * time.Hour).UTC()
	after, err := s.TransitionSubscription(ctx, "sub_1", Transition{Event: product.Approve, Note: "ok", Actor: "alice", At: now, ExpiresAt: &exp},
		AuditEntry{Actor: "alice", Action: "subscription.approve", ObjectID: "sub_1"})
	if err != nil || after.State != product.Active || after.DecidedBy != "alice" || !after.ExpiresAt.Equal(exp) || mustGen(t, s) == g {
		t.Fatalf("approve: %+v %v", after, err)
	}
	if _, err := s.TransitionSubscription(ctx, "sub_1", Transition{Event: product.Approve, Actor: "bob", At: now},
		AuditEntry{Actor: "bob", Action: "subscription.approve"}); !errors.Is(err, product.ErrTransition) {
		t.Fatalf("approving an active subscription: %v", err)
	}
	if _, err := s.TransitionSubscription(ctx, "nope", Transition{Event: product.Cancel, Actor: "bob", At: now},
		AuditEntry{Actor: "bob", Action: "subscription.cancel"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	// Two nodes expiring at once: one change, one audit row.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.TransitionSubscription(ctx, "sub_1", Transition{Event: product.Expire, Actor: "sluice", At: now},
				AuditEntry{Actor: "sluice", Action: "subscription.expire", ObjectID: "sub_1"})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		}
	}
	if ok != 1 {
		t.Fatalf("%d expirations succeeded: %v", ok, errs)
	}
	n := 0
	for _, a := range auditActions(t, s) {
		if a == "subscription.expire sub_1" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d expiry audit rows", n)
	}
	list, err := s.ListSubscriptions(ctx, SubscriptionFilter{Product: "support", State: "expired"})
	if err != nil || len(list) != 1 {
		t.Fatalf("list %+v %v", list, err)
	}
	// A product is deleted only without open subscriptions.
	sub.ID, sub.Application = "sub_4", "a1"
	if err := s.CreateSubscription(ctx, sub, unitAudit("subscription.create", "sub_4")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteProduct(ctx, id, 0, unitAudit("product.delete", id)); !errors.Is(err, ErrHasChildren) {
		t.Fatalf("delete with a pending subscription: %v", err)
	}
	if err := s.DeletePlan(ctx, plan, "support", unitAudit("plan.delete", plan.ID)); !errors.Is(err, ErrHasChildren) {
		t.Fatalf("delete a used plan: %v", err)
	}

	// Emergency stops and notices.
	if err := s.SetStop(ctx, Stop{Kind: "version", Name: "support/v1", Reason: "leaking", Actor: "ops", CreatedAt: now}, unitAudit("stop.set", "support/v1")); err != nil {
		t.Fatal(err)
	}
	stops, err := s.ListStops(ctx)
	if err != nil || len(stops) != 1 || stops[0].Reason != "leaking" {
		t.Fatalf("stops %+v %v", stops, err)
	}
	if err := s.ClearStop(ctx, "version", "support/v1", unitAudit("stop.clear", "support/v1")); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearStop(ctx, "version", "support/v1", unitAudit("stop.clear", "support/v1")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("clearing twice: %v", err)
	}
	// A plan's budget is seeded from the subscription's ledger rows.
	if spent, err := s.SpendSinceBy(ctx, "subscription_id", "sub_4", now.Add(-time.Hour)); err != nil || spent != 0 {
		t.Fatalf("spend by subscription: %d %v", spent, err)
	}
	for i, want := range []bool{true, false} {
		first, err := s.RecordNotice(ctx, Notice{SubscriptionID: "sub_4", Notice: "sunset:v1", Lead: "7d", At: now}, nil)
		if err != nil || first != want {
			t.Fatalf("notice %d: %v %v", i, first, err)
		}
	}
}

func TestAPIProductVersions(t *testing.T) { forEach(t, testAPIProductVersions) }

func testAPIProductVersions(t *testing.T, s *Store) {
	ctx := context.Background()
	now := tree(t, s)
	p := ProductRecord{Product: product.Product{Name: "p", Visibility: product.Private}, ID: "prd_1", TeamID: "t1", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateProduct(ctx, p, unitAudit("product.create", "prd_1")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateProduct(ctx, p, unitAudit("product.create", "prd_1")); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate: %v", err)
	}
	p.ID, p.Name, p.TeamID = "prd_2", "q", "nope"
	if err := s.CreateProduct(ctx, p, unitAudit("product.create", "prd_2")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown team: %v", err)
	}
	v := VersionRecord{Version: product.Version{Version: "v1", State: product.Draft, Models: map[string]string{"a": "b"}}, ID: "ver_1", ProductID: "prd_1",
		CreatedAt: now, UpdatedAt: now}
	if err := s.PutVersion(ctx, v, 0, unitAudit("version.create", "ver_1")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutVersion(ctx, v, 0, unitAudit("version.create", "ver_1")); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate version: %v", err)
	}
	v.State = product.Published
	if err := s.PutVersion(ctx, v, 1, unitAudit("version.publish", "ver_1")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutVersion(ctx, v, 1, unitAudit("version.publish", "ver_1")); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("stale rev: %v", err)
	}
	got, err := s.GetVersion(ctx, "prd_1", "v1")
	if err != nil || got.State != product.Published || got.Rev != 2 || got.Models["a"] != "b" {
		t.Fatalf("version %+v %v", got, err)
	}
	v.ProductID = "nope"
	if err := s.PutVersion(ctx, v, 0, unitAudit("version.create", "ver_2")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown product: %v", err)
	}
	if err := s.DeleteProduct(ctx, "prd_1", 0, unitAudit("product.delete", "prd_1")); err != nil {
		t.Fatal(err)
	}
	if vs, _ := s.ListVersions(ctx, "prd_1"); len(vs) != 0 {
		t.Fatalf("versions left: %v", vs)
	}
}

func TestCallers(t *testing.T) { forEach(t, testCallers) }

func testCallers(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	e := func(id, key, app, version, model string, at time.Time, cost int64) ledger.Entry {
		return ledger.Entry{RequestID: id, Time: at, Endpoint: "chat.completions", Model: model, KeyID: key, OrgID: "o1", TeamID: "t1", AppID: app,
			Product: "support", ProductVersion: version, InputTokens: 10, OutputTokens: 5, CostMicros: cost}
	}
	batch := []ledger.Entry{
		e("r1", "k1", "a1", "v1", "m", now.Add(-3*time.Hour), 100),
		e("r2", "k1", "a1", "v1", "m", now.Add(-time.Hour), 100),
		e("r3", "k2", "a2", "v1", "m", now.Add(-2*time.Hour), 50),
		e("r4", "k2", "a2", "v2", "m", now.Add(-time.Minute), 50),
		e("r5", "k3", "a3", "v1", "m", now.Add(-48*time.Hour), 50),
	}
	batch[4].Product = ""
	if err := s.InsertEntries(ctx, batch); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Callers(ctx, CallersFilter{Product: "support", Version: "v1", From: now.Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].KeyID != "k1" || rows[0].Requests != 2 || rows[0].CostMicros != 200 || rows[0].InputTokens != 20 ||
		!rows[0].LastSeen.Equal(now.Add(-time.Hour)) || rows[1].KeyID != "k2" || rows[1].Requests != 1 {
		t.Fatalf("callers of v1: %+v", rows)
	}
	rows, err = s.Callers(ctx, CallersFilter{Model: "m", From: now.Add(-72 * time.Hour)})
	if err != nil || len(rows) != 3 || rows[0].KeyID != "k2" {
		t.Fatalf("callers of the model: %+v %v", rows, err)
	}
	if rows, err := s.Callers(ctx, CallersFilter{From: now.Add(-72 * time.Hour)}); err != nil || len(rows) != 3 {
		t.Fatalf("every caller: %+v %v", rows, err)
	}
}
