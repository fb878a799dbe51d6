package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/alert"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/product"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/secrets"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storetest"
)

const noticeSecret = "whsec-acme-notices-0123456789"

// noticesYAML: organisation acme with its own notification webhook
// (ACME_HOOK, signed), organisation beta with none (its notices go to the
// alerts webhook, GLOBAL_HOOK); product support v1 deprecated on
// 2029-11-01 with a sunset on 2030-01-01.
const noticesYAML = `
version: 1
providers: [{name: demo, type: demo}]
models:
  - name: gpt-4o-mini
    targets: [{provider: demo, model: demo-chat}]
alerts:
  webhook_url: GLOBAL_HOOK
orgs:
  - name: acme
    notify_webhook: {url: ACME_HOOK, secret: ` + noticeSecret + `}
    teams:
      - name: search
        applications: [{name: bot}]
  - name: beta
    teams:
      - name: core
        applications: [{name: app}]
products:
  - name: support
    team: acme/search
    visibility: public
    versions:
      - {version: v1, models: [gpt-4o-mini], deprecated_at: 2029-11-01T00:00:00Z, sunset_at: 2030-01-01T00:00:00Z, successor: v2}
      - {version: v2, models: [gpt-4o-mini]}
    plans:
      - {name: open, approval: auto}
`

// noticeReceiver counts, per organisation's endpoint, the notices it
// accepted by id; it refuses the first post of each notice (500) so that
// every notice is delivered on a second try, and checks acme's signature.
type noticeReceiver struct {
	mu       sync.Mutex
	accepted map[string]map[string]int // path -> notice id -> 2xx answers
	refused  map[string]bool           // notice ids refused once
	bad      []string
}

func (rc *noticeReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev NoticeEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.Type != "product.notice" || ev.ID == "" {
		rc.fail("bad body " + string(body))
		w.WriteHeader(400)
		return
	}
	sig := r.Header.Get(alert.SignatureHeader)
	switch r.URL.Path {
	case "/acme":
		// Signed at the sweep's clock (2029-2030 here): verify against it.
		if !alert.Verify(noticeSecret, sig, body, ev.At, 400*24*time.Hour) {
			rc.fail("acme notice not signed with its secret: " + sig)
		}
		if ev.OrgID == "" || !strings.HasPrefix(ev.Subscription, "sub_acme") {
			rc.fail("acme received " + ev.Subscription)
		}
	case "/global":
		if sig != "" || !strings.HasPrefix(ev.Subscription, "sub_beta") {
			rc.fail("global received " + ev.Subscription + " signed " + sig)
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !rc.refused[ev.ID] {
		rc.refused[ev.ID] = true
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	if rc.accepted[r.URL.Path] == nil {
		rc.accepted[r.URL.Path] = map[string]int{}
	}
	rc.accepted[r.URL.Path][ev.ID]++
}

func (rc *noticeReceiver) fail(s string) {
	rc.mu.Lock()
	rc.bad = append(rc.bad, s)
	rc.mu.Unlock()
}

// TestNoticesToOrganisationsAcrossNodes: two sweepers on one store (a
// SQLite file opened twice; PostgreSQL when SLUICE_TEST_POSTGRES_DSN is
// set) sweep concurrently through the deprecation and the 30-, 7- and
// 1-day lead times before a sunset and before the subscriptions' end,
// restarting on the way. Each
// subscriber's organisation receives each notice exactly once: acme at its
// own webhook, signed with its secret; beta, which has none, at the alerts
// webhook. Every first post fails and is tried again.
func TestNoticesToOrganisationsAcrossNodes(t *testing.T) {
	dir := t.TempDir()
	stores := map[string]func() *store.Store{
		"sqlite": func() *store.Store {
			st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "data"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
	}
	if dsn := storetest.PostgresDSN(t); dsn != "" {
		stores["postgres"] = func() *store.Store {
			st, err := store.OpenPostgres(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) { testNoticesAcrossNodes(t, open) })
	}
}

func testNoticesAcrossNodes(t *testing.T, open func() *store.Store) {
	ctx := context.Background()
	rc := &noticeReceiver{accepted: map[string]map[string]int{}, refused: map[string]bool{}}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	yaml := strings.NewReplacer("GLOBAL_HOOK", hook.URL+"/global", "ACME_HOOK", hook.URL+"/acme").Replace(noticesYAML)
	f, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	kek, err := secrets.NewKEK() // every node shares the KEK
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	node := func() *server {
		st := open()
		return &server{store: st, log: log, file: f, client: hook.Client(), allowPrivate: true, keyring: secrets.NewKeyring(st, kek)}
	}
	nodes := []*server{node(), node()}
	if err := nodes[0].syncUnits(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].syncProducts(ctx, f); err != nil {
		t.Fatal(err)
	}
	st := nodes[0].store
	apps, _ := st.ListUnits(ctx, store.KindApp, store.UnitFilter{})
	if len(apps) != 2 {
		t.Fatalf("applications %+v", apps)
	}
	orgs, _ := st.ListUnits(ctx, store.KindOrg, store.UnitFilter{})
	orgName := map[string]string{}
	for _, o := range orgs {
		orgName[o.ID] = o.Name
	}
	start := time.Date(2029, 11, 20, 0, 0, 0, 0, time.UTC)
	end := time.Date(2029, 12, 31, 12, 0, 0, 0, time.UTC) // each subscription ends half a day before the sunset
	for _, a := range apps {
		id := "sub_" + orgName[a.OrgID]
		if err := st.CreateSubscription(ctx, store.SubscriptionRecord{Subscription: product.Subscription{ID: id, Application: a.ID,
			Product: "support", Plan: "open", State: product.Active, ExpiresAt: &end}, CreatedAt: start, UpdatedAt: start},
			store.AuditEntry{Actor: "t", Action: "subscription.create"}); err != nil {
			t.Fatal(err)
		}
	}
	compile := func(ns []*server) {
		in, err := productInputs(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			n.snaps.Store(&runtime.Snapshot{Products: runtime.CompileProducts(in)})
		}
	}
	compile(nodes)
	// sweep runs both nodes at once, round after round a minute apart
	// (a failed post is tried again 5 s later), from at.
	sweep := func(ns []*server, at time.Time) {
		t.Helper()
		for round := range 4 {
			now := at.Add(time.Duration(round) * time.Minute)
			var wg sync.WaitGroup
			for _, n := range ns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := n.sweepOnce(ctx, now); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
		}
	}
	stages := []time.Time{
		start, // deprecated: the deprecation notice
		time.Date(2029, 12, 2, 0, 0, 0, 0, time.UTC), // 30 days before the sunset
		time.Date(2029, 12, 3, 0, 0, 0, 0, time.UTC), // still 30 days: nothing new
		time.Date(2029, 12, 25, 0, 0, 0, 0, time.UTC),
		time.Date(2029, 12, 31, 6, 0, 0, 0, time.UTC),
	}
	for _, at := range stages[:3] {
		sweep(nodes, at)
	}
	// A restart: two new nodes on the same store.
	nodes = []*server{node(), node()}
	compile(nodes)
	for _, at := range append(stages[2:], stages[4].Add(time.Hour)) {
		sweep(nodes, at)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		t.Fatalf("receiver: %v", rc.bad)
	}
	for path, org := range map[string]string{"/acme": "acme", "/global": "beta"} {
		var got []string
		for id, n := range rc.accepted[path] {
			if n != 1 {
				t.Errorf("%s: notice %s delivered %d times", path, id, n)
			}
			got = append(got, strings.TrimPrefix(id, "sub_"+org+"/"))
		}
		sort.Strings(got)
		want := []string{"deprecation:support/v1/0", "expiry:support//1d", "expiry:support//30d", "expiry:support//7d",
			"sunset:support/v1/1d", "sunset:support/v1/30d", "sunset:support/v1/7d"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s (%s) received %v, want each of %v once", path, org, got, want)
		}
	}
	states, err := st.ListNotices(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range states {
		if !n.Delivered || n.Attempts != 2 {
			t.Errorf("notice %+v: want delivered on the second try", n)
		}
	}
}

// TestOrgWebhookFromFile: an organisation's notify_webhook in the file
// reaches the store (secret sealed), is read-only through the API, is
// left alone by an unchanged reload, and leaves the store when a reload
// drops it.
func TestOrgWebhookFromFile(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "sluice.yaml")
	withHook := strings.Replace(productsYAML, "  - name: acme\n", "  - name: acme\n    notify_webhook: {url: \"https://hooks.example.com/acme\", secret: whsec-file-0123456789}\n", 1)
	if withHook == productsYAML {
		t.Fatal("no acme organisation in productsYAML")
	}
	write := func(body string) {
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(withHook)
	r := start(t, "--config", cfg, "--data-dir", filepath.Join(t.TempDir(), "data"))
	t.Setenv("SLUICE_SERVER", r.base)
	got := cli(t, "org-webhook", "show", "acme").(map[string]any)
	if got["url"] != "https://hooks.example.com/acme" || got["source"] != "config" || got["read_only"] != true || got["secret_last4"] != "6789" {
		t.Fatalf("declared webhook: %v", got)
	}
	var out, errb bytes.Buffer
	if err := Main(context.Background(), []string{"org-webhook", "set", "acme", "--url", "https://hooks.example.com/x", "--json"}, &out, &errb); err == nil ||
		!strings.Contains(err.Error(), "configuration file") {
		t.Fatalf("changing a declared webhook through the API: %v", err)
	}
	reload := func() {
		t.Helper()
		if err := Main(context.Background(), []string{"reload"}, &out, &errb); err != nil {
			t.Fatalf("reload: %v %s", err, errb.String())
		}
	}
	reload()
	if again := cli(t, "org-webhook", "show", "acme").(map[string]any); again["rev"] != got["rev"] {
		t.Fatalf("an unchanged reload rewrote the webhook: rev %v -> %v", got["rev"], again["rev"])
	}
	write(productsYAML)
	reload()
	if err := Main(context.Background(), []string{"org-webhook", "show", "acme", "--json"}, &out, &errb); err == nil {
		t.Fatal("the webhook the file dropped is still there")
	}
}

// TestSlowOrgWebhookHoldsUpNoOther: while one organisation's webhook
// hangs, another organisation's notices of the same sweep are posted.
func TestSlowOrgWebhookHoldsUpNoOther(t *testing.T) {
	ctx := context.Background()
	release := make(chan struct{})
	delivered := make(chan string, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/acme" {
			select { // the slow organisation
			case <-release:
			case <-time.After(5 * time.Second):
			}
		}
		delivered <- r.URL.Path
	}))
	defer hook.Close()
	defer close(release)
	yaml := strings.NewReplacer("GLOBAL_HOOK", hook.URL+"/global", "ACME_HOOK", hook.URL+"/acme").Replace(noticesYAML)
	f, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kek, _ := secrets.NewKEK()
	s := &server{store: st, log: slog.New(slog.NewTextHandler(io.Discard, nil)), file: f, client: hook.Client(), allowPrivate: true,
		keyring: secrets.NewKeyring(st, kek)}
	if err := s.syncUnits(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := s.syncProducts(ctx, f); err != nil {
		t.Fatal(err)
	}
	apps, _ := st.ListUnits(ctx, store.KindApp, store.UnitFilter{})
	orgs, _ := st.ListUnits(ctx, store.KindOrg, store.UnitFilter{})
	orgName := map[string]string{}
	for _, o := range orgs {
		orgName[o.ID] = o.Name
	}
	now := time.Date(2029, 12, 2, 0, 0, 0, 0, time.UTC)
	for _, a := range apps {
		// sub_acme sorts first: a sweep that posted one notice after
		// another would wait for acme's before beta's.
		if err := st.CreateSubscription(ctx, store.SubscriptionRecord{Subscription: product.Subscription{ID: "sub_" + orgName[a.OrgID],
			Application: a.ID, Product: "support", Plan: "open", State: product.Active}, CreatedAt: now, UpdatedAt: now},
			store.AuditEntry{Actor: "t", Action: "subscription.create"}); err != nil {
			t.Fatal(err)
		}
	}
	in, err := productInputs(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	s.snaps.Store(&runtime.Snapshot{Products: runtime.CompileProducts(in)})
	done := make(chan error, 1)
	go func() { done <- s.sweepOnce(ctx, now) }()
	deadline := time.After(time.Second)
	for got := 0; got < 2; { // beta's two notices (deprecation, 30 days)
		select {
		case p := <-delivered:
			if p == "/global" {
				got++
			}
		case <-deadline:
			t.Fatalf("beta's notices waited for acme's slow webhook (%d of 2 in a second)", got)
		}
	}
	release <- struct{}{}
	release <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
