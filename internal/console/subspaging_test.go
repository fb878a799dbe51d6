package console_test

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/product"
	"github.com/sluicehq/sluice/internal/store"
)

var subIDRE = regexp.MustCompile(`action="/console/subscriptions/(sub-paged-\d+)/approve"`)

// TestSubscriptionPagesVisitEveryRow: the approval queue pages by 50 and
// its "More subscriptions" links show every pending subscription once,
// oldest first, however many there are.
func TestSubscriptionPagesVisitEveryRow(t *testing.T) {
	s := startSluice(t, "")
	st, err := store.Open(context.Background(), "", filepath.Join(s.dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tn := s.tenancy()
	base := time.Now().UTC().Add(-time.Hour)
	var want []string
	for i := range 123 {
		id := fmt.Sprintf("sub-paged-%03d", i)
		rec := store.SubscriptionRecord{Subscription: product.Subscription{ID: id, Application: tn.app, Product: fmt.Sprintf("paged-%03d", i), Plan: "free",
			State: product.Pending}, CreatedAt: base.Add(time.Duration(i/2) * time.Second), UpdatedAt: base}
		if err := st.CreateSubscription(context.Background(), rec, store.AuditEntry{Actor: "t", Action: "subscription.create", ObjectID: id}); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	b := s.browser()
	b.signInToken(adminToken)
	got, pages := b.follow("/console/subscriptions?state=pending", subIDRE)
	if pages != 3 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%d pages\n%v\nwant 3 pages\n%v", pages, got, want)
	}
}
