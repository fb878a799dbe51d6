package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/netguard"
	"github.com/sluicehq/sluice/internal/route"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/storetest"
)

func TestNext(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		prev       string
		since      time.Duration // before now
		breach     bool
		forDur     time.Duration
		want       string
		wantNotify bool
	}{
		{"ok stays ok", StateOK, 0, false, time.Minute, StateOK, false},
		{"ok to pending", StateOK, 0, true, time.Minute, StatePending, false},
		{"ok to firing without for", StateOK, 0, true, 0, StateFiring, true},
		{"never seen to pending", "", 0, true, time.Minute, StatePending, false},
		{"pending waits for its duration", StatePending, 59 * time.Second, true, time.Minute, StatePending, false},
		{"pending fires after for", StatePending, time.Minute, true, time.Minute, StateFiring, true},
		{"pending back to ok", StatePending, time.Hour, false, time.Minute, StateOK, false},
		{"firing stays firing", StateFiring, time.Hour, true, time.Minute, StateFiring, false},
		{"firing resolves", StateFiring, time.Hour, false, time.Minute, StateResolved, true},
		{"resolved to ok", StateResolved, time.Minute, false, time.Minute, StateOK, false},
		{"resolved to pending", StateResolved, time.Minute, true, time.Minute, StatePending, false},
		{"resolved fires again without for", StateResolved, time.Minute, true, 0, StateFiring, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, notify := Next(store.AlertState{State: tc.prev, Since: t0.Add(-tc.since)}, tc.breach, tc.forDur, t0)
			if got != tc.want || notify != tc.wantNotify {
				t.Fatalf("Next = %s, %v; want %s, %v", got, notify, tc.want, tc.wantNotify)
			}
		})
	}
}

// fakeSource is a store whose analytics are n keys with a chosen error
// rate.
type fakeSource struct {
	*store.Store
	n    int
	rate atomic.Value // float64
}

func (f *fakeSource) Analytics(_ context.Context, q store.AnalyticsQuery) ([]store.AnalyticsPoint, error) {
	rate := f.rate.Load().(float64)
	out := make([]store.AnalyticsPoint, f.n)
	for i := range out {
		out[i] = store.AnalyticsPoint{T: q.From, Group: []string{fmt.Sprintf("key_%04d", i)},
			RollupSums: store.RollupSums{Requests: 100, Errors: int64(rate * 100)}}
	}
	return out, nil
}

// receiver counts webhook events by id.
type receiver struct {
	mu     sync.Mutex
	byID   map[string]int
	states map[string]int
	bad    int
	srv    *httptest.Server
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{byID: map[string]int{}, states: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var ev Event
		r.mu.Lock()
		defer r.mu.Unlock()
		if json.Unmarshal(body, &ev) != nil || !Verify(secret, req.Header.Get(SignatureHeader), body, time.Now(), 5*time.Minute) {
			r.bad++
			w.WriteHeader(400)
			return
		}
		r.byID[ev.ID]++
		r.states[ev.State]++
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) counts() (states map[string]int, dups, bad int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	states = map[string]int{}
	for k, v := range r.states {
		states[k] = v
	}
	for _, n := range r.byID {
		if n > 1 {
			dups++
		}
	}
	return states, dups, r.bad
}

// nodes opens three stores on one database: three nodes of a cluster.
func nodes(t *testing.T) map[string][3]*store.Store {
	t.Helper()
	ctx := context.Background()
	out := map[string][3]*store.Store{}
	dir := t.TempDir()
	var pair [3]*store.Store
	for i := range pair {
		s, err := store.OpenSQLite(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		pair[i] = s
	}
	out["sqlite"] = pair
	if dsn := storetest.PostgresDSN(t); dsn != "" {
		var pg [3]*store.Store
		for i := range pg {
			s, err := store.OpenPostgres(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			pg[i] = s
		}
		out["postgres"] = pg
	}
	return out
}

// TestExactlyOnceAcrossEvaluators: three evaluators on one database, all
// evaluating at the same moments (neither waits for the lease), see 1,000
// series cross the threshold at once and cross back; the webhook gets
// exactly one firing and one resolved notification per series.
func TestExactlyOnceAcrossEvaluators(t *testing.T) {
	const series = 1000
	for name, pair := range nodes(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			rcv := newReceiver(t, "s3cret")
			rules := []config.AlertRule{{Name: "errors", Kind: config.AlertErrorRate, Threshold: 0.1, GroupBy: []string{"key"},
				Notify: []config.AlertChannel{{Type: config.ChannelWebhook, URL: rcv.srv.URL, Secret: "s3cret"}}}}
			var evs [3]*Evaluator
			var srcs [3]*fakeSource
			for i := range evs {
				srcs[i] = &fakeSource{Store: pair[i], n: series}
				srcs[i].rate.Store(0.0)
				evs[i] = New(Options{Store: srcs[i], Rules: func() []config.AlertRule { return rules }, Holder: fmt.Sprintf("node-%d", i),
					Client: NewClient(true)})
			}
			t0 := time.Now().Truncate(time.Minute)
			round := func(rate float64, at time.Time) {
				t.Helper()
				for i := range srcs {
					srcs[i].rate.Store(rate)
				}
				var wg sync.WaitGroup
				errs := make([]error, len(evs))
				for i := range evs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range 2 { // and again: a repeated evaluation changes nothing
							if err := evs[i].Tick(ctx, at); err != nil {
								errs[i] = err
							}
						}
					}()
				}
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					t.Fatal(err)
				}
			}
			round(0, t0)
			round(0.5, t0.Add(time.Minute)) // all 1,000 cross
			states, dups, bad := rcv.counts()
			if states[StateFiring] != series || dups != 0 || bad != 0 {
				t.Fatalf("after the crossing: %v, %d duplicates, %d bad signatures; want %d firing", states, dups, bad, series)
			}
			round(0.5, t0.Add(2*time.Minute)) // still breaching: nothing new
			round(0, t0.Add(3*time.Minute))   // all recover
			states, dups, bad = rcv.counts()
			if states[StateFiring] != series || states[StateResolved] != series || dups != 0 || bad != 0 {
				t.Fatalf("after recovery: %v, %d duplicates, %d bad signatures; want %d each", states, dups, bad, series)
			}
			trs, err := pair[0].AlertTransitions(ctx, 1000)
			if err != nil || len(trs) != 1000 {
				t.Fatalf("transitions %d, %v", len(trs), err)
			}
		})
	}
}

// TestRulesOverLedger: rules evaluated over real rollups: for, min events,
// no-data modes, error rate, p95 latency, spend rate and deprecated
// traffic.
func TestRulesOverLedger(t *testing.T) {
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	var es []ledger.Entry
	for i := range 40 {
		st := ledger.StatusOK
		if i%4 == 0 {
			st = ledger.StatusUpstreamError
		}
		es = append(es, ledger.Entry{RequestID: fmt.Sprintf("r%d", i), Time: t0.Add(time.Duration(i) * time.Second), Model: "m1",
			Provider: "p", Status: st, HTTPStatus: 200, CostMicros: 50_000, Latency: time.Duration(100+i*50) * time.Millisecond,
			Product: "shop", ProductVersion: "v1"})
	}
	if err := s.InsertEntries(ctx, es); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(2 * time.Minute) // the window [t0-3m, t0+2m) holds all 40
	for _, tc := range []struct {
		name string
		rule config.AlertRule
		at   time.Time
		want string
	}{
		{"error rate over threshold", config.AlertRule{Kind: config.AlertErrorRate, Threshold: 0.2}, at, StateFiring},
		{"error rate under threshold", config.AlertRule{Kind: config.AlertErrorRate, Threshold: 0.3}, at, StateOK},
		{"for makes it pending", config.AlertRule{Kind: config.AlertErrorRate, Threshold: 0.2, For: config.Duration(time.Minute)}, at, StatePending},
		{"too few events is no data", config.AlertRule{Kind: config.AlertErrorRate, Threshold: 0.2, MinEvents: 41}, at, StateOK},
		{"no data alerting", config.AlertRule{Kind: config.AlertErrorRate, Threshold: 0.2, MinEvents: 41, NoData: config.NoDataAlerting}, at, StateFiring},
		{"empty window alerting", config.AlertRule{Kind: config.AlertErrorRate, NoData: config.NoDataAlerting}, at.Add(time.Hour), StateFiring},
		{"p95 latency", config.AlertRule{Kind: config.AlertLatencyP95, Threshold: 1500}, at, StateFiring},
		{"p95 latency under", config.AlertRule{Kind: config.AlertLatencyP95, Threshold: 3000}, at, StateOK},
		{"spend rate", config.AlertRule{Kind: config.AlertSpendRate, Threshold: 20}, at, StateFiring}, // $2 in 5m = $24/h
		{"spend rate under", config.AlertRule{Kind: config.AlertSpendRate, Threshold: 30}, at, StateOK},
		{"deprecated version traffic", config.AlertRule{Kind: config.AlertDeprecatedTraffic, Where: map[string]string{"product_version": "v1"}}, at, StateFiring},
		{"other version quiet", config.AlertRule{Kind: config.AlertDeprecatedTraffic, Where: map[string]string{"product_version": "v0"}}, at, StateOK},
		{"another model is quiet", config.AlertRule{Kind: config.AlertErrorRate, Where: map[string]string{"model": "m2"}}, at, StateOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rule
			r.Name = fmt.Sprintf("r%d", time.Now().UnixNano())
			ev := New(Options{Store: s, Rules: func() []config.AlertRule { return []config.AlertRule{r} }, Holder: "n"})
			if err := ev.Evaluate(ctx, tc.at); err != nil {
				t.Fatal(err)
			}
			got := StateOK
			sts, err := s.AlertStates(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range sts {
				if st.Rule == r.Name {
					got = st.State
				}
			}
			if got != tc.want {
				t.Fatalf("state %s, want %s", got, tc.want)
			}
		})
	}
	// keep: a firing series stays firing without data.
	r := config.AlertRule{Name: "keep", Kind: config.AlertErrorRate, Threshold: 0.2, NoData: config.NoDataKeep}
	ev := New(Options{Store: s, Rules: func() []config.AlertRule { return []config.AlertRule{r} }, Holder: "n"})
	for _, when := range []time.Time{at, at.Add(time.Hour)} {
		if err := ev.Evaluate(ctx, when); err != nil {
			t.Fatal(err)
		}
	}
	sts, err := s.AlertStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		if st.Rule == "keep" && st.State != StateFiring {
			t.Fatalf("keep: %+v", st)
		}
	}
}

func TestTargetHealthRules(t *testing.T) {
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	health := []route.Status{{Provider: "a", Model: "m1", State: route.Ejected}, {Provider: "b", Model: "m1", State: route.Healthy},
		{Provider: "a", Model: "m2", State: route.Ejected}, {Provider: "b", Model: "m2", State: route.Cooling}}
	rules := []config.AlertRule{{Name: "ejected", Kind: config.AlertTargetEjected}, {Name: "down", Kind: config.AlertAllTargetsDown}}
	ev := New(Options{Store: s, Rules: func() []config.AlertRule { return rules }, Health: func() []route.Status { return health }, Holder: "n"})
	if err := ev.Evaluate(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	sts, err := s.AlertStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, st := range sts {
		got[st.Rule+" "+st.Series] = st.State
	}
	want := map[string]string{"ejected model=m1": StateFiring, "ejected model=m2": StateFiring, "down model=m2": StateFiring}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("states %v, want %v", got, want)
	}
}

// TestChannels: the Slack and PagerDuty bodies, PagerDuty's resolve with
// the same dedup key, and the webhook signature.
func TestChannels(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
		w.WriteHeader(202)
	}))
	defer srv.Close()
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src := &fakeSource{Store: s, n: 1}
	rules := []config.AlertRule{{Name: "e", Kind: config.AlertErrorRate, Threshold: 0.1, GroupBy: []string{"key"},
		Notify: []config.AlertChannel{{Type: config.ChannelSlack, URL: srv.URL}, {Type: config.ChannelPagerDuty, URL: srv.URL, RoutingKey: "rk"}}}}
	ev := New(Options{Store: src, Rules: func() []config.AlertRule { return rules }, Holder: "n", Client: NewClient(true)})
	t0 := time.Now()
	for i, rate := range []float64{0.5, 0} {
		src.rate.Store(rate)
		if err := ev.Tick(ctx, t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 4 {
		t.Fatalf("%d notifications, want 4: %v", len(got), got)
	}
	var pd []map[string]any
	var slack int
	for _, m := range got {
		if m["routing_key"] != nil {
			pd = append(pd, m)
		} else if text, _ := m["text"].(string); text != "" {
			slack++
		}
	}
	if slack != 2 || len(pd) != 2 || pd[0]["event_action"] != "trigger" || pd[1]["event_action"] != "resolve" ||
		pd[0]["dedup_key"] != pd[1]["dedup_key"] || pd[0]["dedup_key"] != "sluice/e/key=key_0000" || pd[0]["payload"] == nil {
		t.Fatalf("slack %d, pagerduty %v", slack, pd)
	}
	body := []byte(`{"a":1}`)
	now := time.Unix(1_800_000_000, 0)
	sig := Sign("k", now, body)
	for _, tc := range []struct {
		name   string
		secret string
		header string
		body   string
		at     time.Time
		want   bool
	}{
		{"valid", "k", sig, `{"a":1}`, now, true},
		{"other secret", "j", sig, `{"a":1}`, now, false},
		{"changed body", "k", sig, `{"a":2}`, now, false},
		{"too old", "k", sig, `{"a":1}`, now.Add(10 * time.Minute), false},
		{"no signature", "k", "t=1800000000", `{"a":1}`, now, false},
		{"garbage", "k", "v1=zz,t=x", `{"a":1}`, now, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ok := Verify(tc.secret, tc.header, []byte(tc.body), tc.at, 5*time.Minute); ok != tc.want {
				t.Fatalf("Verify = %v", ok)
			}
		})
	}
}

// TestRetriesThenDisable: a failing channel is retried with backoff and,
// after MaxAttempts failures, disabled with an audit entry.
func TestRetriesThenDisable(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(503)
	}))
	defer srv.Close()
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src := &fakeSource{Store: s, n: 1}
	src.rate.Store(0.5)
	rules := []config.AlertRule{{Name: "e", Kind: config.AlertErrorRate, Threshold: 0.1, GroupBy: []string{"key"},
		Notify: []config.AlertChannel{{Type: config.ChannelWebhook, URL: srv.URL}}}}
	ev := New(Options{Store: src, Rules: func() []config.AlertRule { return rules }, Holder: "n", Client: NewClient(true), MaxAttempts: 3})
	t0 := time.Now()
	if err := ev.Tick(ctx, t0); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 1 {
		t.Fatalf("%d tries, want 1", hits.Load())
	}
	// Not due again before the backoff (5s), due after it.
	if err := ev.Deliver(ctx, t0.Add(4*time.Second)); err != nil || hits.Load() != 1 {
		t.Fatalf("retried before the backoff: %d, %v", hits.Load(), err)
	}
	if err := ev.Deliver(ctx, t0.Add(5*time.Second)); err != nil || hits.Load() != 2 {
		t.Fatalf("not retried after the backoff: %d, %v", hits.Load(), err)
	}
	if err := ev.Deliver(ctx, t0.Add(16*time.Second)); err != nil || hits.Load() != 3 { // 5s + 10s
		t.Fatalf("third try: %d, %v", hits.Load(), err)
	}
	off, err := s.DisabledAlertChannels(ctx)
	if err != nil || off["e:0"] == "" {
		t.Fatalf("channel not disabled: %v, %v", off, err)
	}
	audit, err := s.ListAudit(ctx, store.AuditFilter{ObjectType: "alert_channel"})
	if err != nil || len(audit) != 1 || audit[0].Action != "alert_channel.disable" {
		t.Fatalf("audit %+v, %v", audit, err)
	}
	if err := ev.Deliver(ctx, t0.Add(time.Hour)); err != nil || hits.Load() != 3 {
		t.Fatalf("a disabled channel was tried: %d, %v", hits.Load(), err)
	}
}

// TestSSRFGuard: the default client refuses loopback destinations.
func TestSSRFGuard(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, err := NewClient(false).Post(srv.URL, "application/json", nil)
	if !errors.Is(err, netguard.ErrBlocked) {
		t.Fatalf("loopback webhook: %v, want blocked", err)
	}
	res, err := NewClient(true).Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
}

// TestRunHoldsTheLease: a node whose Run does not hold the lease neither
// evaluates nor delivers, however many periods pass with every series in
// breach; once the holder lets the lease go, it takes it over and does
// both, and its transitions carry its name.
func TestRunHoldsTheLease(t *testing.T) {
	for name, pair := range nodes(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			rcv := newReceiver(t, "k")
			rules := []config.AlertRule{{Name: "e", Kind: config.AlertErrorRate, Threshold: 0.1, GroupBy: []string{"key"},
				Notify: []config.AlertChannel{{Type: config.ChannelWebhook, URL: rcv.srv.URL, Secret: "k"}}}}
			// Another node holds the lease for an hour and is silent.
			if ok, err := pair[0].AcquireLease(ctx, "alert-evaluator", "other", time.Now(), time.Hour); err != nil || !ok {
				t.Fatalf("lease: %v %v", ok, err)
			}
			src := &fakeSource{Store: pair[1], n: 20}
			src.rate.Store(0.5)
			ev := New(Options{Store: src, Rules: func() []config.AlertRule { return rules }, Holder: "node-1",
				Every: 10 * time.Millisecond, LeaseTTL: time.Minute, Client: NewClient(true)})
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); ev.Run(runCtx) }()
			defer func() { cancel(); <-done }()
			time.Sleep(300 * time.Millisecond) // some 30 periods
			if trs, err := pair[0].AlertTransitions(ctx, 100); err != nil || len(trs) != 0 {
				t.Fatalf("without the lease: %d transitions (%v)", len(trs), err)
			}
			if states, _, _ := rcv.counts(); len(states) != 0 {
				t.Fatalf("without the lease: notified %v", states)
			}
			if err := pair[0].ReleaseLease(ctx, "alert-evaluator", "other"); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if states, _, _ := rcv.counts(); states[StateFiring] >= 20 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the lease was free and the evaluator did not take over")
				}
			}
			if holder, _, err := pair[0].LeaseHolder(ctx, "alert-evaluator"); err != nil || holder != "node-1" {
				t.Fatalf("lease holder %q (%v), want node-1", holder, err)
			}
			trs, err := pair[0].AlertTransitions(ctx, 100)
			if err != nil || len(trs) != 20 {
				t.Fatalf("%d transitions (%v), want 20", len(trs), err)
			}
			for _, tr := range trs {
				if tr.Holder != "node-1" {
					t.Fatalf("transition by %s, want node-1", tr.Holder)
				}
			}
		})
	}
}
