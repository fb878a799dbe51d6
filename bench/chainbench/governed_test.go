package chainbench

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluicehq/sluice/bench/internal/fakeopenai"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/llm"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/protocol/openai"
	"github.com/sluicehq/sluice/internal/provider"
	openaiprov "github.com/sluicehq/sluice/internal/provider/openai"
	"github.com/sluicehq/sluice/internal/proxy"
	"github.com/sluicehq/sluice/internal/ratelimit"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/store"
)

// BenchmarkGoverned is the governed pass-through row of make bench in
// process: an OpenAI chat completion (2 KiB) with a key whose key,
// application, team and organisation carry rpm, tpm and a budget, the
// ledger written to SQLite by its writer, metering with prices and the
// metrics on, against the bench's fake upstream. Its cpu-µs/op includes
// the client and the upstream (same process); compare runs of it:
//
//	go test ./bench/chainbench -run '^$' -bench Governed -cpu 1 -benchtime 5000x
func BenchmarkGoverned(b *testing.B) {
	lim := config.Limits{RPM: 1e8, TPM: 1e11, Budget: &config.Budget{AmountUSD: 1e9, Period: "monthly"}}
	up := httptest.NewServer(fakeopenai.NewServer(fakeopenai.Options{}))
	b.Cleanup(up.Close)
	f := &config.File{Version: 1,
		Providers: []config.Provider{{Name: "up", Type: "openai", BaseURL: up.URL + "/v1", APIKey: "sk-upstream"}},
		Models: []config.Model{{Name: "bench-model", Targets: []config.Target{{Provider: "up", Model: "fake-upstream-model"}},
			Pricing: config.Pricing{InputPerMTok: 0.15, OutputPerMTok: 0.60}}},
		Orgs: []config.Org{{Name: "acme", Limits: lim, Teams: []config.Team{{Name: "search", Limits: lim,
			Applications: []config.App{{Name: "web", Limits: config.Limits{RPM: 1e8, MaxConcurrent: 100000}}}}}}},
		Keys: []config.Key{{Name: "bench-governed", Key: benchKey, Application: "acme/search/web", Limits: lim}},
	}
	if err := f.Validate(); err != nil {
		b.Fatal(err)
	}
	// The gateway's upstream client, as internal/app builds it.
	client := &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   true,
	}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	reg := provider.Registry{"openai": func(s provider.Spec) (provider.Adapter, error) {
		return openaiprov.New(openaiprov.Options{Name: s.Name, BaseURL: s.BaseURL, APIKey: s.APIKey, Client: client, Timeout: s.Timeout}), nil
	}}
	snap, err := runtime.Compile(runtime.Inputs{File: f, Registry: reg, Units: unitsOf(f), Provider: func(p config.Provider) provider.Spec {
		return provider.Spec{Name: p.Name, Type: p.Type, BaseURL: p.BaseURL, APIKey: p.APIKey}
	}})
	if err != nil {
		b.Fatal(err)
	}
	var holder runtime.Holder
	holder.Store(snap)
	dir := b.TempDir()
	st, err := store.OpenSQLite(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	lw, err := ledger.NewWriter(st, ledger.Options{Journal: dir + "/ledger.journal"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = lw.Close(context.Background()) })
	mux := http.NewServeMux()
	proxy.New(proxy.Options{Snapshots: &holder, Ledger: lw, Limiter: ratelimit.New(nil), SpendSince: st.SpendSinceBy,
		Metrics: proxy.NewMetrics(metrics.NewRegistry()), Codecs: proxy.Codecs{
			Clients:   map[provider.Protocol]llm.ClientCodec{provider.ProtocolOpenAI: openai.Client},
			Upstreams: map[provider.Protocol]llm.UpstreamCodec{provider.ProtocolOpenAI: openai.Upstream},
		}}).Register(mux)
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	body := chatBody("bench-model", 2<<10)
	send(b, srv, body, nil, "", 50) // warm the connections, seed the budgets
	for lw.Pending() > 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(150 * time.Millisecond)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	send(b, srv, body, nil, "", b.N)
	// The ledger's writes are part of the cost: wait for the last commit.
	for lw.Pending() > 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(150 * time.Millisecond)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	if n, err := st.CountRequests(context.Background()); err != nil || n < int64(b.N) {
		b.Fatalf("the ledger holds %d entries (%v), want at least %d", n, err, b.N)
	}
}

// unitsOf is the stored organisations, teams and applications of f, as
// the server upserts them at start.
func unitsOf(f *config.File) []store.Unit {
	lim := runtime.StoreLimits
	var us []store.Unit
	for _, o := range f.Orgs {
		org := "org_" + o.Name
		us = append(us, store.Unit{Kind: store.KindOrg, ID: org, OrgID: org, Name: o.Name, Limits: lim(o.Limits)})
		for _, t := range o.Teams {
			team := "team_" + t.Name
			us = append(us, store.Unit{Kind: store.KindTeam, ID: team, OrgID: org, TeamID: team, Name: t.Name, Limits: lim(t.Limits)})
			for _, a := range t.Applications {
				us = append(us, store.Unit{Kind: store.KindApp, ID: "app_" + a.Name, OrgID: org, TeamID: team, Name: a.Name, Limits: lim(a.Limits)})
			}
		}
	}
	return us
}
