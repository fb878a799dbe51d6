// Package admin serves Sluice's administrative REST API under /admin/v1/.
// Every route requires the admin token as a Bearer credential. Handlers
// return errors; one function renders them as JSON.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/login"
	"github.com/sluicehq/sluice/internal/openapi"
	"github.com/sluicehq/sluice/internal/route"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/secrets"
	"github.com/sluicehq/sluice/internal/store"
)

// Control is what the admin API may ask of the running server.
type Control interface {
	// Reload re-reads the configuration file and stored keys, compiles them
	// and swaps the snapshot; on failure the running snapshot stays.
	Reload(ctx context.Context) error
	// RefreshKeys recompiles the current configuration with the stored keys
	// and the stored providers.
	RefreshKeys(ctx context.Context) error
}

// Options configure the admin API.
type Options struct {
	Store     *store.Store
	Control   Control
	Snapshots *runtime.Holder
	// TokenHash is the SHA-256 of the bootstrap admin token (the platform
	// super-admin).
	TokenHash auth.Hash
	// Health is the upstream targets' health.
	Health *route.Registry
	// AllowPrivateUpstreams lets providers created through the API point at
	// loopback and private networks (off by default: SSRF guard).
	AllowPrivateUpstreams bool
	// Limits reports the limiter's mode (shared, local, degraded).
	Limits func() any
	// Ledger reports the usage ledger's writer: queue, errors, journal.
	Ledger func() ledger.Health
	// Secrets seals the API keys of providers created through the API.
	Secrets *secrets.Keyring
	// Throttle counts failed authentications per client address and
	// refuses an address that fails too often (nil: no throttle).
	Throttle *login.Throttle
	// OIDC is single sign-on (nil: not configured).
	OIDC *login.Provider
	// SessionTTL is how long a login lasts (default 12 hours).
	SessionTTL time.Duration
	Logger     *slog.Logger

	// PromptGateway is the data plane, through which POST
	// /admin/v1/prompts/{id}/test runs test sets in process (nil: refused).
	PromptGateway http.Handler
}

// API is the admin HTTP API.
type API struct{ opts Options }

// New returns the admin API.
func New(opts Options) *API {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	return &API{opts: opts}
}

// Register adds the admin routes to mux. Every route, including unknown
// ones under /admin/, goes through authentication.
func (a *API) Register(mux *http.ServeMux) {
	for _, rt := range a.Routes() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	a.RegisterCatchAll(mux)
}

// RegisterCatchAll adds only the /admin/ catch-all (404 behind
// authentication), for callers that register Routes themselves.
func (a *API) RegisterCatchAll(mux *http.ServeMux) {
	mux.Handle("/admin/", a.wrap(authz.Self, func(w http.ResponseWriter, r *http.Request) error {
		return &httpError{http.StatusNotFound, "not_found", "No such admin route."}
	}))
}

// Route is an admin route.
type Route struct {
	Pattern string
	Handler http.Handler
	// Action is what the route does; handlers decide it in the object's
	// scope. Public routes (login, the OpenAPI document) have none.
	Action authz.Action
	Op     openapi.Op
}

// Routes lists the admin routes (the catch-all under /admin/ aside), for
// Register, the OpenAPI document and the authorization matrix test.
func (a *API) Routes() []Route {
	var rs []Route
	add := func(pattern string, action authz.Action, fn func(http.ResponseWriter, *http.Request) error, op openapi.Op) {
		method, path, _ := strings.Cut(pattern, " ")
		op.Method, op.Path = method, path
		fn = strictQuery(op.Query, fn)
		h := a.wrap(action, fn)
		if op.Public {
			h = a.public(fn)
		}
		rs = append(rs, Route{Pattern: pattern, Handler: h, Action: action, Op: op})
	}
	a.routes(add)
	return rs
}

type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// wrap authenticates the request, decides platform and self actions at
// once (other actions are decided by the handler in the object's scope),
// and renders the handler's error.
func (a *API) wrap(action authz.Action, fn func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.throttled(w, r) {
			return
		}
		pr, session, err := a.authenticateOnce(r)
		if err == nil && pr == nil { // no credential at all: not a guess to count
			a.render(w, r, errUnauthenticated)
			return
		}
		if err != nil {
			var he *httpError
			if errors.As(err, &he) && he.status == http.StatusUnauthorized {
				a.failed(r)
			}
			a.render(w, r, err)
			return
		}
		st := &reqState{pr: pr, action: action, session: session}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, st))
		if action == authz.Self || action.Platform() {
			if err := a.authorize(r, "", action, authz.Scope{}); err != nil {
				a.render(w, r, err)
				return
			}
		}
		g := &guard{ResponseWriter: w, st: st, a: a, r: r}
		if err := fn(g, r); err != nil {
			st.decided = true // errors are always safe to show
			a.render(g, r, err)
		}
	})
}

// strictQuery refuses a query parameter the route does not declare (its
// openapi.Op.Query in routes.go), as decodeBody refuses unknown fields: a
// misspelt filter must not widen the answer to everything.
func strictQuery(accepted []openapi.Param, fn func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.URL.RawQuery == "" {
			return fn(w, r)
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return &httpError{http.StatusBadRequest, "invalid_query", "The query string is malformed: " + err.Error()}
		}
		var unknown []string
		for name := range q {
			if !slices.ContainsFunc(accepted, func(p openapi.Param) bool { return p.Name == name }) {
				unknown = append(unknown, strconv.Quote(name))
			}
		}
		if len(unknown) > 0 {
			slices.Sort(unknown)
			names := make([]string, len(accepted))
			for i, p := range accepted {
				names[i] = p.Name
			}
			known := "none"
			if len(names) > 0 {
				known = strings.Join(names, ", ")
			}
			noun := "parameter"
			if len(unknown) > 1 {
				noun = "parameters"
			}
			return &httpError{http.StatusBadRequest, "unknown_parameter", fmt.Sprintf("Unknown query %s %s; this route accepts: %s.",
				noun, strings.Join(unknown, ", "), known)}
		}
		for name, vs := range q {
			if len(vs) > 1 { // only the first would count
				return &httpError{http.StatusBadRequest, "repeated_parameter", fmt.Sprintf("Query parameter %q is given %d times; give it once.", name, len(vs))}
			}
		}
		return fn(w, r)
	}
}

// public serves a route that needs no credential (login, the OpenAPI
// document).
func (a *API) public(fn func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &reqState{decided: true}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, st))
		if err := fn(w, r); err != nil {
			a.render(w, r, err)
		}
	})
}

func (a *API) render(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		a.opts.Logger.Error("admin request failed", "path", r.URL.Path, "err", err)
		he = &httpError{http.StatusInternalServerError, "internal_error", "Internal error."}
	}
	writeJSONError(w, he)
}

func writeJSONError(w http.ResponseWriter, e *httpError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_, _ = w.Write(oa.MarshalError("admin_error", e.code, "", e.msg, w.Header().Get("X-Request-Id")))
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// entryJSON is a ledger entry as the admin API shows it.
type entryJSON struct {
	ledger.Entry
	LatencyMS float64       `json:"latency_ms"`
	TTFTMS    float64       `json:"ttft_ms"`
	Attempts  []attemptJSON `json:"attempts"`
}

type attemptJSON struct {
	ledger.Attempt
	LatencyMS float64 `json:"latency_ms"`
	TTFTMS    float64 `json:"ttft_ms"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (a *API) reload(w http.ResponseWriter, r *http.Request) error {
	before := a.opts.Snapshots.Load()
	if err := a.opts.Control.Reload(r.Context()); err != nil {
		return &httpError{http.StatusUnprocessableEntity, "invalid_config", "The new configuration was rejected; the running one stays.\n" + err.Error()}
	}
	after, object := a.opts.Snapshots.Load(), "built-in"
	if after.Source != "" {
		object = after.Source
	}
	a.writeAudit(w, r, "config.reload", "config", object,
		map[string]any{"version": before.Version, "models": before.ModelNames},
		map[string]any{"version": after.Version, "models": after.ModelNames})
	return a.configInfo(w, r)
}

// ConfigInfo describes the running configuration.
type ConfigInfo struct {
	Version  int64     `json:"version"`
	LoadedAt time.Time `json:"loaded_at"`
	Source   string    `json:"source" doc:"The configuration file, or empty for the built-in demo."`
	Models   []string  `json:"models"`
	Keys     int       `json:"keys" doc:"Active key values (a rotated key's previous value counts)."`
}

func (a *API) configInfo(w http.ResponseWriter, _ *http.Request) error {
	s := a.opts.Snapshots.Load()
	return writeJSON(w, http.StatusOK, ConfigInfo{Version: s.Version, LoadedAt: s.LoadedAt.UTC(), Source: s.Source,
		Models: s.ModelNames, Keys: len(s.Keys)})
}

// HealthInfo is each upstream target's health and the limiter's mode.
type HealthInfo struct {
	Object string         `json:"object" enum:"list"`
	Data   []route.Status `json:"data"`
	Limits any            `json:"limits,omitempty"`
	Ledger *ledger.Health `json:"ledger,omitempty"`
}

func (a *API) health(w http.ResponseWriter, _ *http.Request) error {
	targets := a.opts.Health.Snapshot()
	slices.SortFunc(targets, func(x, y route.Status) int {
		return strings.Compare(x.Provider+"\x00"+x.Model, y.Provider+"\x00"+y.Model)
	})
	out := HealthInfo{Object: "list", Data: targets}
	if a.opts.Limits != nil {
		out.Limits = a.opts.Limits()
	}
	if a.opts.Ledger != nil {
		h := a.opts.Ledger()
		out.Ledger = &h
	}
	return writeJSON(w, http.StatusOK, out)
}
