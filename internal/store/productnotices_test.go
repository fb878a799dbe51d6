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

func TestNoticeDelivery(t *testing.T) { forEach(t, testNoticeDelivery) }

// testNoticeDelivery: a notice recorded once is claimed by one of many
// concurrent claimers; a failed post comes back at its next try, a
// lapsed claim comes back to another node, a delivered one never.
func testNoticeDelivery(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	n := Notice{SubscriptionID: "sub_1", Notice: "sunset:support/v1", Lead: "7d", OrgID: "o1", Body: []byte(`{"x":1}`), At: now}
	for i, want := range []bool{true, false} {
		a := unitAudit("subscription.notice", "sub_1")
		if first, err := s.RecordNotice(ctx, n, &a); err != nil || first != want {
			t.Fatalf("record %d: %v %v", i, first, err)
		}
	}
	audited := 0
	for _, a := range auditActions(t, s) {
		if a == "subscription.notice sub_1" {
			audited++
		}
	}
	if audited != 1 {
		t.Fatalf("%d audit rows for one notice", audited)
	}
	claimAll := func(at time.Time) []Notice {
		t.Helper()
		var mu sync.Mutex
		var got []Notice
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := s.ClaimNotices(ctx, at, time.Minute, 10)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				got = append(got, c...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		return got
	}
	got := claimAll(now)
	if len(got) != 1 || string(got[0].Body) != `{"x":1}` || got[0].OrgID != "o1" {
		t.Fatalf("claims %+v, want one", got)
	}
	if again := claimAll(now.Add(time.Second)); len(again) != 0 {
		t.Fatalf("claimed while claimed: %+v", again)
	}
	// A failed post: tried again at next, not before.
	if err := s.FinishNotice(ctx, got[0], false, "answered 500", now.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if early := claimAll(now.Add(5 * time.Second)); len(early) != 0 {
		t.Fatalf("claimed before its next try: %+v", early)
	}
	got = claimAll(now.Add(10 * time.Second))
	if len(got) != 1 || got[0].Attempts != 1 {
		t.Fatalf("retry %+v", got)
	}
	// The claim lapses (the node died): another node takes it, and the
	// first one's late finish is refused.
	stale := got[0]
	taken := claimAll(now.Add(2 * time.Minute))
	if len(taken) != 1 {
		t.Fatalf("lapsed claim not taken: %+v", taken)
	}
	if err := s.FinishNotice(ctx, stale, true, "", time.Time{}); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("a lapsed claim's finish: %v", err)
	}
	if err := s.FinishNotice(ctx, taken[0], true, "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if after := claimAll(now.Add(time.Hour)); len(after) != 0 {
		t.Fatalf("delivered notice claimed: %+v", after)
	}
	states, err := s.ListNotices(ctx, "sub_1")
	if err != nil || len(states) != 1 || !states[0].Delivered || states[0].Attempts != 2 {
		t.Fatalf("state %+v %v", states, err)
	}
}

func TestOrgWebhooks(t *testing.T) { forEach(t, testOrgWebhooks) }

func testOrgWebhooks(t *testing.T, s *Store) {
	ctx := context.Background()
	tree(t, s)
	if _, err := s.GetOrgWebhook(ctx, "o1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("none yet: %v", err)
	}
	a := unitAudit("org.webhook.set", "o1")
	rev, err := s.PutOrgWebhook(ctx, OrgWebhook{OrgID: "o1", URL: "https://hooks.example.com/a", SecretCiphertext: "sealed", SecretLast4: "cret"}, 0, &a)
	if err != nil || rev != 1 {
		t.Fatalf("put: %d %v", rev, err)
	}
	if _, err := s.PutOrgWebhook(ctx, OrgWebhook{OrgID: "o1", URL: "https://hooks.example.com/b"}, 7, &a); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("stale revision: %v", err)
	}
	if rev, err = s.PutOrgWebhook(ctx, OrgWebhook{OrgID: "o1", URL: "https://hooks.example.com/b", Source: "config"}, 1, nil); err != nil || rev != 2 {
		t.Fatalf("replace: %d %v", rev, err)
	}
	h, err := s.GetOrgWebhook(ctx, "o1")
	if err != nil || h.URL != "https://hooks.example.com/b" || h.Source != "config" || h.SecretCiphertext != "" || h.Rev != 2 {
		t.Fatalf("get %+v %v", h, err)
	}
	if all, err := s.ListOrgWebhooks(ctx); err != nil || len(all) != 1 {
		t.Fatalf("list %+v %v", all, err)
	}
	d := unitAudit("org.webhook.delete", "o1")
	if err := s.DeleteOrgWebhook(ctx, "o1", &d); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteOrgWebhook(ctx, "o1", &d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestSubscriptionPlanAndPages(t *testing.T) { forEach(t, testSubscriptionPlanAndPages) }

// testSubscriptionPlanAndPages: a plan change (audited, with the
// generation), keyset pages of products and subscriptions, and the
// request count that seeds a quota.
func testSubscriptionPlanAndPages(t *testing.T, s *Store) {
	ctx := context.Background()
	now := tree(t, s)
	for _, name := range []string{"c", "a", "b"} {
		p := ProductRecord{Product: product.Product{Name: name, Visibility: product.Internal}, OrgID: "o1", TeamID: "t1"}
		if _, err := s.UpsertConfigProduct(ctx, p, nil, []PlanRecord{{Plan: product.Plan{Name: "free", Approval: product.Auto}}}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for after := ""; ; {
		page, err := s.ListProductsAfter(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, p := range page {
			names = append(names, p.Name)
		}
		after = page[len(page)-1].Name
	}
	if len(names) != 3 || names[0] != "a" || names[2] != "c" {
		t.Fatalf("product pages %v", names)
	}
	for i, p := range []string{"a", "b", "c"} {
		sub := SubscriptionRecord{Subscription: product.Subscription{ID: "sub_" + p, Application: "a1", Product: p, Plan: "free",
			State: product.Active}, CreatedAt: now.Add(time.Duration(i%2) * time.Second), UpdatedAt: now}
		if err := s.CreateSubscription(ctx, sub, unitAudit("subscription.create", sub.ID)); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	var after *SubscriptionCursor
	for {
		page, err := s.ListSubscriptions(ctx, SubscriptionFilter{AppID: "a1", After: after, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, sub := range page {
			ids = append(ids, sub.ID)
		}
		last := page[len(page)-1]
		after = &SubscriptionCursor{CreatedAt: last.CreatedAt.UnixMicro(), ID: last.ID}
	}
	if want := []string{"sub_a", "sub_c", "sub_b"}; len(ids) != 3 || ids[0] != want[0] || ids[1] != want[1] || ids[2] != want[2] {
		t.Fatalf("subscription pages %v, want %v", ids, want)
	}

	g := mustGen(t, s)
	out, err := s.ChangeSubscriptionPlan(ctx, "sub_a", "pro", 1, now, AuditEntry{Actor: "alice", Action: "subscription.plan", ObjectID: "sub_a"})
	if err != nil || out.Plan != "pro" || out.Rev != 2 || mustGen(t, s) == g {
		t.Fatalf("plan change: %+v %v", out, err)
	}
	if _, err := s.ChangeSubscriptionPlan(ctx, "sub_a", "free", 1, now, AuditEntry{Actor: "alice", Action: "subscription.plan"}); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("stale revision: %v", err)
	}
	if _, err := s.TransitionSubscription(ctx, "sub_b", Transition{Event: product.Cancel, Actor: "a", At: now},
		AuditEntry{Actor: "a", Action: "subscription.cancel"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangeSubscriptionPlan(ctx, "sub_b", "pro", 0, now, AuditEntry{Actor: "a", Action: "subscription.plan"}); !errors.Is(err, product.ErrTransition) {
		t.Fatalf("a cancelled subscription's plan: %v", err)
	}

	// The quota's seed: the subscription's requests of the period, but
	// not those Sluice's limits refused.
	var entries []ledger.Entry
	for i, st := range []ledger.Status{ledger.StatusOK, ledger.StatusOK, ledger.StatusLimited, ledger.StatusUpstreamError, ledger.StatusOK} {
		at := now.Add(-time.Duration(i) * time.Hour)
		entries = append(entries, ledger.Entry{RequestID: "req-q" + string(rune('0'+i)), Time: at, Endpoint: "chat.completions",
			Status: st, HTTPStatus: 200, SubscriptionID: "sub_a", Attempts: []ledger.Attempt{}})
	}
	entries = append(entries, ledger.Entry{RequestID: "req-other", Time: now, Endpoint: "chat.completions", Status: ledger.StatusOK,
		HTTPStatus: 200, SubscriptionID: "sub_c", Attempts: []ledger.Attempt{}})
	if err := s.InsertEntries(ctx, entries); err != nil {
		t.Fatal(err)
	}
	if n, err := s.SubscriptionRequestsSince(ctx, "sub_a", now.Add(-3*time.Hour-time.Minute)); err != nil || n != 3 {
		t.Fatalf("requests since: %d %v, want 3", n, err)
	}
	// The same counts for several subscriptions at once, each from its own start.
	each, err := s.SubscriptionRequestsSinceEach(ctx, []QuotaCount{
		{SubscriptionID: "sub_a", Since: now.Add(-3*time.Hour - time.Minute)},
		{SubscriptionID: "sub_c", Since: now.Add(time.Minute)},
		{SubscriptionID: "sub_b", Since: time.Time{}},
	})
	if err != nil || len(each) != 1 || each["sub_a"] != 3 {
		t.Fatalf("requests since, each: %v %v, want sub_a 3 only", each, err)
	}
	if each, err = s.SubscriptionRequestsSinceEach(ctx, []QuotaCount{{SubscriptionID: "sub_c", Since: now.Add(-time.Minute)}, {SubscriptionID: "sub_a", Since: now.Add(-time.Minute)}}); err != nil || each["sub_c"] != 1 || each["sub_a"] != 1 {
		t.Fatalf("requests since, each: %v %v, want sub_c 1 and sub_a 1", each, err)
	}
}
