package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/product"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/store"
)

const productsYAML = `
version: 1
providers: [{name: demo, type: demo}]
models:
  - name: gpt-4o-mini
    targets: [{provider: demo, model: demo-chat}]
orgs:
  - name: acme
    teams:
      - name: search
        applications: [{name: bot}]
products:
  - name: support
    team: acme/search
    visibility: internal
    versions:
      - {version: v1, models: [gpt-4o-mini], deprecated_at: 2026-12-01T00:00:00Z, sunset_at: 2030-01-01T00:00:00Z, successor: v2}
      - {version: v2, models: [gpt-4o-mini]}
    plans:
      - {name: free, rpm: 10, approval: manual}
      - {name: open, rpm: 100, approval: auto}
`

// The file's products reach the store read-only (source config), with
// stable ids across syncs, and leave it (released to the API) when the
// file drops them.
func TestSyncProducts(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f, err := config.Parse([]byte(productsYAML), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	s := &server{store: st, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := s.syncUnits(ctx, f); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.syncProducts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := st.ListProducts(ctx)
	if err != nil || len(ps) != 1 || ps[0].Source != "config" || ps[0].Visibility != product.Internal {
		t.Fatalf("products %+v %v", ps, err)
	}
	in, err := productInputs(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	cat := runtime.CompileProducts(in)
	p := cat.ByName["support"]
	v1 := p.Versions["v1"]
	if v1 == nil || v1.State != product.Published || v1.Successor != "v2" || v1.Models["gpt-4o-mini"] != "gpt-4o-mini" ||
		!v1.SunsetAt.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("v1 %+v", v1)
	}
	if p.Plans["free"].Approval != product.Manual || p.Plans["open"].Approval != product.Auto || p.Plans["open"].Limits.RPM != 100 {
		t.Fatalf("plans %+v %+v", p.Plans["free"], p.Plans["open"])
	}
	f.Products = nil
	if err := s.syncProducts(ctx, f); err != nil {
		t.Fatal(err)
	}
	if ps, _ := st.ListProducts(ctx); ps[0].Source != "api" {
		t.Fatalf("a dropped product stays read-only: %+v", ps[0])
	}
}

func TestDueNotices(t *testing.T) {
	dep := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	sunset := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	snap := &runtime.Snapshot{Products: runtime.CompileProducts(runtime.ProductInputs{
		Products: []store.ProductRecord{{ID: "p", Product: product.Product{Name: "support"}}},
		Versions: []store.VersionRecord{
			{ProductID: "p", Version: product.Version{Version: "v1", State: product.Deprecated, DeprecatedAt: &dep, SunsetAt: &sunset}},
			{ProductID: "p", Version: product.Version{Version: "v9", State: product.Deprecated, DeprecatedAt: &dep, SunsetAt: &sunset}},
		},
		Plans: []store.PlanRecord{{ProductID: "p", Plan: product.Plan{Name: "free", Versions: []string{"v1"}}}},
	})}
	end := time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)
	sub := store.SubscriptionRecord{Subscription: product.Subscription{ID: "s", Product: "support", Plan: "free", ExpiresAt: &end}}
	for _, tc := range []struct {
		now  string
		want []string
	}{
		{"2026-11-30T00:00:00Z", nil},
		{"2026-12-01T00:00:00Z", []string{"deprecation:support/v1 0"}},
		{"2026-12-02T00:00:00Z", []string{"deprecation:support/v1 0", "sunset:support/v1 30d"}},
		{"2026-12-25T00:00:00Z", []string{"deprecation:support/v1 0", "sunset:support/v1 7d"}},
		{"2026-12-31T12:00:00Z", []string{"deprecation:support/v1 0", "sunset:support/v1 1d"}},
		{"2027-01-02T00:00:00Z", []string{"deprecation:support/v1 0", "expiry:support/ 30d"}},
		{"2027-02-01T00:00:00Z", []string{"deprecation:support/v1 0"}},
	} {
		t.Run(tc.now, func(t *testing.T) {
			now, _ := time.Parse(time.RFC3339, tc.now)
			var got []string
			for _, n := range dueNotices(snap, sub, now) {
				got = append(got, n.notice+" "+n.lead)
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}

// TestSweepNoticesOnce: a sweep sends each due notice once to the alerts
// webhook (with an audit row); a second sweep, here or on another node
// sharing the store, sends none.
func TestSweepNoticesOnce(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var mu sync.Mutex
	var got []NoticeEvent
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev NoticeEvent
		_ = json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	}))
	defer hook.Close()
	f, err := config.Parse([]byte(productsYAML), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	f.Alerts.WebhookURL = hook.URL
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	nodes := []*server{{store: st, log: log, file: f, client: hook.Client(), allowPrivate: true},
		{store: st, log: log, file: f, client: hook.Client(), allowPrivate: true}}
	if err := nodes[0].syncUnits(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].syncProducts(ctx, f); err != nil {
		t.Fatal(err)
	}
	apps, _ := st.ListUnits(ctx, store.KindApp, store.UnitFilter{})
	now := time.Date(2029, 12, 28, 0, 0, 0, 0, time.UTC) // v1's sunset is 2030-01-01: the 7-day notice is due
	end := now.Add(2 * time.Hour)                        // the subscription ends in 2 hours: its 1-day notice
	if err := st.CreateSubscription(ctx, store.SubscriptionRecord{Subscription: product.Subscription{ID: "sub_1", Application: apps[0].ID,
		Product: "support", Plan: "free", State: product.Active, ExpiresAt: &end}, CreatedAt: now, UpdatedAt: now},
		store.AuditEntry{Actor: "t", Action: "subscription.create"}); err != nil {
		t.Fatal(err)
	}
	in, err := productInputs(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		n.snaps.Store(&runtime.Snapshot{Products: runtime.CompileProducts(in)})
	}
	for i := range 3 {
		if err := nodes[i%2].sweepOnce(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	var kinds []string
	for _, ev := range got {
		kinds = append(kinds, ev.Kind+":"+ev.Version+":"+ev.Lead)
		if ev.Subscription != "sub_1" || ev.OrgID == "" || ev.Type != "product.notice" {
			t.Fatalf("event %+v", ev)
		}
	}
	slices.Sort(kinds)
	want := []string{"deprecation:v1:0", "expiry::1d", "sunset:v1:7d"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("notices %v, want each once: %v", kinds, want)
	}
	audit, _ := st.ListAudit(ctx, store.AuditFilter{ObjectID: "sub_1", Limit: 100})
	n := 0
	for _, a := range audit {
		if a.Action == "subscription.notice" {
			n++
		}
	}
	if n != len(want) {
		t.Fatalf("%d notice audit rows, want %d", n, len(want))
	}
}
