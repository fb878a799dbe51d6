package app

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/cache"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/console"
	"github.com/sluicehq/sluice/internal/experiment"
	"github.com/sluicehq/sluice/internal/h1"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/metrics"
	"github.com/sluicehq/sluice/internal/netguard"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/provider/anthropic"
	"github.com/sluicehq/sluice/internal/provider/azure"
	"github.com/sluicehq/sluice/internal/provider/bedrock"
	"github.com/sluicehq/sluice/internal/provider/demo"
	"github.com/sluicehq/sluice/internal/provider/gemini"
	"github.com/sluicehq/sluice/internal/provider/openai"
	"github.com/sluicehq/sluice/internal/proxy"
	"github.com/sluicehq/sluice/internal/ratelimit"
	"github.com/sluicehq/sluice/internal/ratelimit/redislimit"
	"github.com/sluicehq/sluice/internal/route"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/secrets"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/throttle"
	"github.com/sluicehq/sluice/internal/trace"
	"github.com/sluicehq/sluice/internal/upstream"
)

// registry maps every config provider type to its adapter factory.
func registry() provider.Registry {
	return provider.Registry{
		config.TypeOpenAI: func(s provider.Spec) (provider.Adapter, error) {
			return openai.New(openai.Options{Name: s.Name, BaseURL: s.BaseURL, APIKey: s.APIKey,
				Headers: s.Headers, Timeout: s.Timeout, Client: s.Client}), nil
		},
		config.TypeBedrock:     bedrock.New,
		config.TypeAnthropic:   anthropic.New,
		config.TypeGemini:      gemini.New,
		config.TypeAzureOpenAI: azure.New,
		config.TypeDemo: func(s provider.Spec) (provider.Adapter, error) {
			return openai.New(openai.Options{Name: s.Name, BaseURL: demo.BaseURL, Timeout: s.Timeout, Client: demo.Client()}), nil
		},
	}
}

// guardedClient is upstreamClient with a dialer that refuses loopback,
// private, link-local and metadata addresses after DNS resolution.
func guardedClient() *http.Client {
	return upstreamClientDialing(func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: provider.ConnectTimeout(ctx, 5*time.Second), KeepAlive: 30 * time.Second, Control: netguard.Control}
		return d.DialContext(ctx, network, addr)
	})
}

// upstreamClient is the one HTTP client for every upstream: pooled
// keep-alive connections, no automatic decompression (bytes pass through
// and are metered as they are), and no redirects followed.
func upstreamClient() *http.Client {
	return upstreamClientDialing(func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: provider.ConnectTimeout(ctx, 5*time.Second), KeepAlive: 30 * time.Second}
		return d.DialContext(ctx, network, addr)
	})
}

// upstreamClientDialing is upstreamClient with dial: the lean HTTP/1.1
// transport (internal/upstream), with net/http's Transport (same dialer,
// no proxy) for the requests it leaves aside (docs in internal/upstream).
func upstreamClientDialing(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	fallback := &http.Transport{
		DialContext:           dial,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     true,
	}
	tr := upstream.New(upstream.Options{
		DialContext:         dial,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdlePerHost:      1024,
		IdleTimeout:         90 * time.Second,
		Fallback:            fallback,
	})
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// server is a running Sluice.
type server struct {
	log        *slog.Logger
	configPath string
	store      *store.Store
	snaps      runtime.Holder
	client     *http.Client
	registry   provider.Registry
	health     *route.Registry
	live       *runtime.Live // routers, health and key pools that outlive snapshots
	limiter    *ratelimit.Limiter
	// guarded dials only public addresses: the client for providers created
	// through the admin API, unless allowPrivate.
	guarded      *http.Client
	allowPrivate bool
	// publish tells other nodes that keys changed (nil without Redis).
	publish func(context.Context) error
	keyring *secrets.Keyring // seals and opens stored provider credentials

	mu   sync.Mutex // serialises reloads; held across the compile, never on the request path
	file *config.File
	// generation is the store's change counter as of the last compile.
	generation atomic.Int64
	// experiments are what the data plane applies (experiments.go).
	experiments experiment.Set
}

func serve(ctx context.Context, args []string, stderr io.Writer) (err error) {
	fs := newFlags("serve", stderr)
	configPath := fs.String("config", "", "configuration file (YAML); without one the built-in demo model is served")
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	dataDir := fs.String("data-dir", "sluice-data", "directory for the embedded database")
	allowPrivate := fs.Bool("allow-private-upstreams", os.Getenv("SLUICE_ALLOW_PRIVATE_UPSTREAMS") == "1",
		"let providers created through the admin API reach loopback and private networks (default off; $SLUICE_ALLOW_PRIVATE_UPSTREAMS=1)")
	redisAddr := fs.String("redis", os.Getenv("SLUICE_REDIS_ADDR"), "Redis/Valkey address (host:port or redis:// URL) that all nodes share for limits, budgets and key revocations (default $SLUICE_REDIS_ADDR)")
	redisTimeout := fs.Duration("redis-timeout", ratelimit.DefaultTimeout, "deadline of each Redis operation on a request's path; a node that misses it decides alone for that request")
	dbURL := fs.String("db", os.Getenv("SLUICE_DATABASE_URL"), "a postgres:// URL to use PostgreSQL instead of the embedded SQLite (default $SLUICE_DATABASE_URL)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	adminFailures := fs.Int("admin-auth-failures", 30, "failed admin logins and tokens allowed per client address per minute before 429")
	keyFailures := fs.Int("key-failures", 1200, "invalid API keys allowed per client address per minute before 429")
	httpServer := fs.String("http-server", "lean", "HTTP/1.1 server: lean (internal/h1, handing anything unusual to net/http) or net (net/http only)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("serve takes no arguments, got %q", fs.Arg(0))}
	}
	if *httpServer != "lean" && *httpServer != "net" {
		return usageError{fmt.Sprintf("--http-server: %q is neither lean nor net", *httpServer)}
	}
	var h slog.Handler
	switch *logFormat {
	case "text":
		h = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})
	case "json":
		h = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})
	default:
		return usageError{fmt.Sprintf("--log-format: %q is neither text nor json", *logFormat)}
	}
	log := slog.New(h)

	// Everything that can be checked is checked before anything is created,
	// so that a start that fails leaves no data directory or key behind.
	if err := checkAdminTokenEnv(); err != nil {
		return err
	}
	if *configPath != "" {
		// The providers created through the admin API are in the store,
		// not open yet: targets naming one are checked again below.
		if _, err := config.Load(*configPath, config.AnyStoredProvider); err != nil {
			return fmt.Errorf("%s: %w", *configPath, err)
		}
	}
	var rs *redislimit.Store
	if *redisAddr != "" {
		if rs, err = redislimit.New(redislimit.Options{Addr: *redisAddr, Timeout: *redisTimeout}); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		defer rs.Close()
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	serving := false
	defer func() {
		if !serving {
			ln.Close()
		}
	}()

	if os.Getenv(secrets.EnvKEK) != "" || os.Getenv(secrets.EnvKEKFile) != "" { // read, never written
		if _, _, err := secrets.LoadKEK(*dataDir, os.Getenv); err != nil {
			return fmt.Errorf("key-encryption key: %w", err)
		}
	}

	_, statErr := os.Stat(*dataDir)
	fresh := errors.Is(statErr, os.ErrNotExist)
	if *dbURL == "" { // nodes that share PostgreSQL share limits through Redis, not this lock
		lock, lerr := lockDataDir(*dataDir) // not err: the deferred func below reads the result
		if lerr != nil {
			return lerr
		}
		defer lock.Close()
		if fresh {
			// A start that fails from here on removes the directory it
			// made: after the store is closed, before the lock is released.
			defer func() {
				if err != nil && !serving {
					_ = os.RemoveAll(*dataDir)
				}
			}()
		}
	}
	st, err := store.Open(ctx, *dbURL, *dataDir)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	kek, origin, err := secrets.LoadKEK(*dataDir, os.Getenv)
	if err != nil {
		return fmt.Errorf("key-encryption key: %w", err)
	}
	if origin.Generated {
		log.Warn("generated a key-encryption key for stored provider credentials; in production supply your own in "+
			secrets.EnvKEK+" or "+secrets.EnvKEKFile, "kek_id", kek.ID(), "source", origin.Source)
	}

	file := config.Default()
	if *configPath != "" {
		stored, err := admin.StoredProviderNames(ctx, st)
		if err != nil {
			return err
		}
		f, err := config.Load(*configPath, stored...)
		if err != nil {
			return fmt.Errorf("%s: %w", *configPath, err)
		}
		file = f
	}

	health := route.NewRegistry(route.HealthOptions{})
	s := &server{log: log, configPath: *configPath, store: st, client: upstreamClient(), registry: registry(), file: file,
		health: health, live: runtime.NewLive(health), keyring: secrets.NewKeyring(st, kek),
		guarded: guardedClient(), allowPrivate: *allowPrivate}
	tokenHash, err := s.bootstrap(ctx, stderr)
	if err != nil {
		return err
	}
	if err := s.apply(ctx, file); err != nil {
		return err
	}
	sso, err := oidcProvider(ctx, file, upstreamClient(), kek.Derive("oidc login cookie"))
	if err != nil {
		return fmt.Errorf("single sign-on (access.oidc): %w", err)
	}
	gctx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); s.watchGeneration(gctx, 250*time.Millisecond) }()
	defer func() { stopWatch(); <-watchDone }()
	sweepDone := make(chan struct{}) // products.go: expiries and subscriber notices
	go func() { defer close(sweepDone); s.sweepProducts(gctx, time.Second) }()
	defer func() { stopWatch(); <-sweepDone }()

	limiter := ratelimit.New(nil)
	if rs != nil {
		limiter = ratelimit.NewShared(rs, ratelimit.Options{Logger: log, Timeout: *redisTimeout})
		defer limiter.Close() // runs before rs.Close
		s.publish = rs.PublishKeysChanged
		wctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Another node changed keys: recompile here (never publish back).
			rs.WatchKeys(wctx, func() {
				if err := s.recompile(wctx); err != nil {
					log.Error("recompiling after a key change on another node failed", "err", err)
				}
			})
		}()
		defer func() { stop(); wg.Wait() }()
		log.Info("limits, budgets and key revocations are shared through Redis", "redis", rs.String())
	}
	s.limiter = limiter
	al := &alerts{store: st, log: log, client: guardedClient(), webhook: func() (string, map[string]string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.file.Alerts.WebhookURL, s.file.Alerts.WebhookHeaders
	}}
	if *allowPrivate {
		al.client = s.client
	}
	limiter.SetAlertHook(al.hook)

	lw, err := ledger.NewWriter(st, ledger.Options{Logger: log, Journal: ledgerJournal(*dataDir)})
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	reg := s.metrics(lw)
	lw.RegisterMetrics(reg)
	al.register(reg)
	tracer, err := trace.New(ctx, file.Observability.OTLP, trace.Options{Metrics: reg}) // off unless observability.otlp is set
	if err != nil {
		return fmt.Errorf("observability.otlp: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tracer.Shutdown(sctx) // exports the spans still queued
	}()
	defer s.watchExperiments(ctx)() // experiments.go
	// The response cache: in Redis with --redis (shared by every node),
	// else in memory, bounded by the file's cache.max_bytes at start.
	var answers cache.Store = cache.NewMemory(cmp.Or(file.Cache.MaxBytes, runtime.DefaultCacheBytes))
	if *redisAddr != "" {
		rc, err := cache.DialRedis(*redisAddr, *redisTimeout)
		if err != nil {
			return fmt.Errorf("cache: %w", err)
		}
		defer rc.Close()
		answers = rc
	}
	// The semantic cache: in memory on each node; each model's threshold
	// and TTL apply per lookup (proxy/semanticcache.go), and Embed calls
	// the embedding model's provider directly.
	semantic, err := cache.NewSemantic(proxy.Embed, cache.SemanticConfig{Threshold: 1e-9, // each model's own threshold applies per lookup
		MaxBytes: cmp.Or(file.Cache.MaxBytes, runtime.DefaultCacheBytes), TTL: 24 * time.Hour})
	if err != nil {
		return fmt.Errorf("semantic cache: %w", err)
	}
	mux := &routeMux{ServeMux: http.NewServeMux()}
	captures := newCaptureQueue() // analytics.go: rollup compaction, alerts, the request log's writer and sweeper
	analyticsDone := s.startAnalytics(gctx, captures)
	defer func() { stopWatch(); analyticsDone() }()
	dataPlane := proxy.New(proxy.Options{Snapshots: &s.snaps, Ledger: lw, Logger: log, Codecs: codecs(), Metrics: proxy.NewMetrics(reg), Tracer: tracer, Feedback: feedbackStore{s}, Experiments: &s.experiments,
		Cache: answers, Semantic: semantic, Limiter: limiter, SpendSince: st.SpendSinceBy, RequestsSince: st.SubscriptionRequestsSince, Throttle: throttle.New(*keyFailures, nil), Captures: captures})
	defer dataPlane.FlushSecurityLog() // the last interval's refusal counts
	for _, rt := range dataPlane.Routes() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	metricsHandler := reg.Handler()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if !bearerMatches(r, tokenHash) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"message":"Missing or invalid admin token.","type":"admin_error","param":null,"code":"invalid_admin_token"}}`)
			return
		}
		metricsHandler.ServeHTTP(w, r)
	})
	adminAPI := admin.New(admin.Options{Store: st, Control: s, Snapshots: &s.snaps, TokenHash: tokenHash, Health: s.health,
		Limits: func() any { return limiter.Health() }, Ledger: lw.Health, Secrets: s.keyring, Logger: log, AllowPrivateUpstreams: *allowPrivate,
		Throttle: throttle.New(*adminFailures, nil), OIDC: sso, SessionTTL: time.Duration(file.Access.SessionTTL),
		PromptGateway: mux}) // prompt test sets run through the data plane, in process
	for _, rt := range adminAPI.Routes() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	adminAPI.RegisterCatchAll(mux.ServeMux)
	// The console and the portal: pages over the admin API, called in process.
	web, err := console.New(console.Options{API: mux, Snapshots: &s.snaps, OIDC: sso != nil, Logger: log})
	if err != nil {
		return err
	}
	web.Register(mux)
	mux.HandleFunc("GET /healthz", readiness(lw))
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":{"message":"Not found. The OpenAI-compatible API is under /v1/.","type":"invalid_request_error","param":null,"code":"unknown_url"}}`)
	})

	serving = true
	registeredRoutes.Store(&mux.patterns)
	var srv interface {
		Serve(net.Listener) error
		Shutdown(context.Context) error
		Close() error
	} = &http.Server{
		Handler:           withRequestID(mux),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(h, slog.LevelDebug),
	}
	if *httpServer == "lean" {
		srv = h1.New(srv.(*http.Server)) // net/http serves what the lean server hands off
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("sluice is serving", "addr", ln.Addr().String(), "config", orDefault(*configPath, "(built-in demo)"),
		"data_dir", *dataDir, "models", len(s.snaps.Load().ModelNames))

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			if err := s.Reload(ctx); err != nil {
				log.Error("reload rejected; the running configuration stays", "err", err)
			}
			continue
		case err := <-errc:
			_ = lw.Close(context.Background())
			return err
		case <-ctx.Done():
		}
		break
	}
	log.Info("shutting down: draining in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("drain timed out; closing remaining connections", "err", err)
		_ = srv.Close()
	}
	if err := lw.Close(sctx); err != nil {
		return fmt.Errorf("ledger drain: %w", err)
	}
	log.Info("stopped; ledger flushed")
	return nil
}

// metrics registers the gauges read at scrape time.
func (s *server) metrics(lw *ledger.Writer) *metrics.Registry {
	reg := metrics.NewRegistry()
	reg.Gauge("sluice_ledger_queue_entries", "Ledger entries queued, not yet written.", func(emit func(map[string]string, float64)) {
		emit(nil, float64(lw.Pending()))
	})
	reg.Gauge("sluice_target_healthy", "1 when an upstream target is in rotation, 0 when ejected or cooling.", func(emit func(map[string]string, float64)) {
		for _, st := range s.health.Snapshot() {
			v := 0.0
			if st.State == route.Healthy || st.State == route.HalfOpen {
				v = 1
			}
			emit(map[string]string{"provider": st.Provider, "model": st.Model, "state": string(st.State)}, v)
		}
	})
	reg.Gauge("sluice_target_in_flight", "Requests in flight per upstream target.", func(emit func(map[string]string, float64)) {
		for _, st := range s.health.Snapshot() {
			emit(map[string]string{"provider": st.Provider, "model": st.Model}, float64(st.InFlight))
		}
	})
	reg.Gauge("sluice_model_targets_healthy", "Distinct targets of a configured model in rotation; 0 when every one is ejected or cooling.", func(emit func(map[string]string, float64)) {
		for name, m := range s.snaps.Load().Models {
			up := map[*route.Health]bool{}
			for _, rt := range append([]*runtime.Route{m.Default}, m.Routes...) {
				for _, t := range rtTargets(rt) {
					if t.Health == nil {
						continue
					}
					st := t.Health.Status().State
					up[t.Health] = up[t.Health] || st == route.Healthy || st == route.HalfOpen
				}
			}
			n := 0
			for _, ok := range up {
				if ok {
					n++
				}
			}
			emit(map[string]string{"model": name}, float64(n))
		}
	})
	reg.Gauge("sluice_ratelimit_shared", "1 when limits are shared through Redis, 0 when this node decides alone (local or degraded).", func(emit func(map[string]string, float64)) {
		h := s.limiter.Health()
		v := 0.0
		if h.Mode == ratelimit.ModeShared {
			v = 1
		}
		emit(map[string]string{"mode": h.Mode}, v)
	})
	reg.Gauge("sluice_ratelimit_store_failures", "Redis operations that failed (cumulative).", func(emit func(map[string]string, float64)) {
		emit(nil, float64(s.limiter.Health().StoreFailures))
	})
	reg.Gauge("sluice_ratelimit_degradations", "Times this node fell back to local limits (cumulative).", func(emit func(map[string]string, float64)) {
		emit(nil, float64(s.limiter.Health().Degradations))
	})
	reg.Gauge("sluice_config_version", "The running configuration's version.", func(emit func(map[string]string, float64)) {
		emit(nil, float64(s.snaps.Load().Version))
	})
	return reg
}

// rtTargets is a route's targets; a model without a default route has none there.
func rtTargets(rt *runtime.Route) []runtime.Target {
	if rt == nil {
		return nil
	}
	return rt.Targets
}

// bearerMatches checks the admin token in constant time.
func bearerMatches(r *http.Request, want auth.Hash) bool {
	v := r.Header.Get("Authorization")
	if len(v) < 8 || !strings.EqualFold(v[:7], "bearer ") {
		return false
	}
	got := auth.HashKey(v[7:])
	return auth.Equal(string(got[:]), string(want[:]))
}

// routeMux records the patterns it registers, so that a test can check
// every route against the authorization table.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.ServeMux.Handle(pattern, h)
	m.patterns = append(m.patterns, pattern)
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// registeredRoutes holds the patterns of the last server started (for tests).
var registeredRoutes atomic.Pointer[[]string]

// withRequestID gives every response an x-request-id, also those not
// served by the data plane (which sets its own before this runs).
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.Path) < 4 || r.URL.Path[:4] != "/v1/" {
			w.Header().Set("X-Request-Id", proxy.NewRequestID())
		}
		next.ServeHTTP(w, r)
	})
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

const (
	settingAdminToken = "admin_token_sha256"
	settingDemoKey    = "demo_key_created"
)

// minAdminToken is the shortest admin token SLUICE_ADMIN_TOKEN may set.
const minAdminToken = 16

// checkAdminTokenEnv refuses an admin token in SLUICE_ADMIN_TOKEN that is
// too short to resist guessing.
func checkAdminTokenEnv() error {
	if tok := os.Getenv("SLUICE_ADMIN_TOKEN"); tok != "" && len(tok) < minAdminToken {
		return fmt.Errorf("SLUICE_ADMIN_TOKEN must be at least %d characters (it has %d)", minAdminToken, len(tok))
	}
	return nil
}

// bootstrap sets the admin token: SLUICE_ADMIN_TOKEN when given; otherwise
// the stored one; on a first start a new random token, printed once. With
// the built-in demo config it also creates a demo key on first start.
func (s *server) bootstrap(ctx context.Context, stderr io.Writer) (auth.Hash, error) {
	var h auth.Hash
	if tok := os.Getenv("SLUICE_ADMIN_TOKEN"); tok != "" {
		if err := checkAdminTokenEnv(); err != nil {
			return h, err
		}
		h = auth.HashKey(tok)
		return h, s.store.SetSetting(ctx, settingAdminToken, hex.EncodeToString(h[:]))
	}
	stored, err := s.store.Setting(ctx, settingAdminToken)
	switch {
	case err == nil:
		raw, derr := hex.DecodeString(stored)
		if derr != nil || len(raw) != len(h) {
			return h, errors.New("the stored admin token hash is malformed; set SLUICE_ADMIN_TOKEN to replace it")
		}
		copy(h[:], raw)
	case errors.Is(err, store.ErrNotFound):
		tok := auth.NewAdminToken()
		h = auth.HashKey(tok)
		if err := s.store.SetSetting(ctx, settingAdminToken, hex.EncodeToString(h[:])); err != nil {
			return h, err
		}
		fmt.Fprintf(stderr, "\nSluice admin token (shown once; Sluice keeps only its hash):\n\n    %s\n\n", tok)
	default:
		return h, err
	}
	if s.configPath != "" {
		return h, nil
	}
	if _, err := s.store.Setting(ctx, settingDemoKey); errors.Is(err, store.ErrNotFound) {
		key := auth.NewKey("demo")
		kh := auth.HashKey(key)
		rec := store.KeyRecord{ID: "key_demo", Name: "demo", Hash: hex.EncodeToString(kh[:]), Prefix: auth.DisplayPrefix(key),
			CreatedAt: time.Now().UTC()}
		if err := s.store.CreateKey(ctx, rec); err != nil && !errors.Is(err, store.ErrConflict) {
			return h, err
		}
		if err := s.store.SetSetting(ctx, settingDemoKey, "1"); err != nil {
			return h, err
		}
		fmt.Fprintf(stderr, "Demo API key for the built-in demo model (shown once):\n\n    %s\n\n", key)
	}
	return h, nil
}

// compile builds and publishes a snapshot from file, the stored keys and
// the stored providers (their credentials decrypted here).
func (s *server) compile(ctx context.Context, file *config.File) error {
	in, gen, err := s.inputs(ctx, file)
	if err != nil {
		return err
	}
	snap, err := runtime.Compile(in)
	if err != nil {
		return err
	}
	s.snaps.Store(snap)
	s.live.Retain(snap)
	s.generation.Store(gen)
	return nil
}

// inputs reads what a snapshot of file is compiled from, and the store's
// generation as of that read.
func (s *server) inputs(ctx context.Context, file *config.File) (runtime.Inputs, int64, error) {
	gen, err := s.store.Generation(ctx) // read first: a change after it triggers another compile
	if err != nil {
		return runtime.Inputs{}, 0, err
	}
	keys, err := s.store.ListKeys(ctx)
	if err != nil {
		return runtime.Inputs{}, 0, err
	}
	var units []store.Unit
	for _, kind := range []string{store.KindOrg, store.KindTeam, store.KindApp} {
		us, err := s.store.ListUnits(ctx, kind, store.UnitFilter{})
		if err != nil {
			return runtime.Inputs{}, 0, err
		}
		units = append(units, us...)
	}
	prev, err := s.store.PreviousHashes(ctx, time.Now())
	if err != nil {
		return runtime.Inputs{}, 0, err
	}
	providers, err := admin.StoredProviders(ctx, s.store, s.keyring)
	if err != nil {
		return runtime.Inputs{}, 0, err
	}
	prompts, err := s.store.StoredPrompts(ctx)
	if err != nil {
		return runtime.Inputs{}, 0, err
	}
	products, err := productInputs(ctx, s.store)
	if err != nil {
		return runtime.Inputs{}, 0, err
	}
	stored := make(map[string]bool, len(providers))
	for _, p := range providers {
		stored[p.Name] = true
	}
	return runtime.Inputs{
		File: file, Source: s.configPath, StoredKeys: keys, Units: units, PreviousHashes: prev, Products: products,
		StoredProviders: providers, Registry: s.registry, Live: s.live,
		StoredPrompts: prompts,
		Provider: func(p config.Provider) provider.Spec {
			client := s.client
			if stored[p.Name] && !s.allowPrivate {
				client = s.guarded // API-supplied URLs are dialled through the SSRF guard
			}
			return provider.Spec{Name: p.Name, Type: p.Type, BaseURL: p.BaseURL, APIKey: p.APIKey,
				Headers: p.Headers, Client: client, APIVersion: p.APIVersion,
				Region: p.Region, AWSAccessKeyID: p.AWSAccessKeyID, AWSSecretAccessKey: p.AWSSecretAccessKey,
				AWSSessionToken: p.AWSSessionToken}
		},
	}, gen, nil
}

// Reload implements admin.Control: it re-reads the file and applies it
// whole (see apply), or refuses it and leaves everything as it was; a
// changed setting that only a restart applies is refused by name.
func (s *server) Reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	file := config.Default()
	if s.configPath != "" {
		stored, err := admin.StoredProviderNames(ctx, s.store)
		if err != nil {
			return err
		}
		f, err := config.Load(s.configPath, stored...)
		if err != nil {
			return err
		}
		file = f
	}
	if err := checkRestartOnly(s.file, file); err != nil {
		return err
	}
	if err := s.apply(ctx, file); err != nil {
		return err
	}
	s.file = file
	s.log.Info("configuration reloaded", "version", s.snaps.Load().Version, "models", len(file.Models))
	return nil
}

// RefreshKeys implements admin.Control: it recompiles with the stored keys
// and providers, and tells the other nodes (through Redis) to do the same,
// so that a revocation takes effect everywhere within a second.
func (s *server) RefreshKeys(ctx context.Context) error {
	if err := s.recompile(ctx); err != nil {
		return err
	}
	if s.publish != nil {
		if err := s.publish(ctx); err != nil {
			s.log.Error("could not tell the other nodes about a key change; they pick it up at their next refresh", "err", err)
		}
	}
	return nil
}

// recompile rebuilds the snapshot from the current file and the store.
func (s *server) recompile(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.compile(ctx, s.file)
}
