// Package admin serves Sluice's administrative REST API under /admin/v1/.
// Every route requires the admin token as a Bearer credential. Handlers
// return errors; one function renders them as JSON.
package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	oa "github.com/sluicehq/sluice/internal/apischema/openai"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/ledger"
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
	// TokenHash is the SHA-256 of the admin token.
	TokenHash auth.Hash
	// Health is the upstream targets' health.
	Health *route.Registry
	// AllowPrivateUpstreams lets providers created through the API point at
	// loopback and private networks (off by default: SSRF guard).
	AllowPrivateUpstreams bool
	// Limits reports the limiter's mode (shared, local, degraded).
	Limits func() any
	// Secrets seals the API keys of providers created through the API.
	Secrets *secrets.Keyring
	Logger  *slog.Logger
}

// API is the admin HTTP API.
type API struct{ opts Options }

// New returns the admin API.
func New(opts Options) *API {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &API{opts: opts}
}

// Register adds the admin routes to mux. Every route, including unknown
// ones under /admin/, goes through the admin token check.
func (a *API) Register(mux *http.ServeMux) {
	for _, rt := range a.Routes() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	a.RegisterCatchAll(mux)
}

// RegisterCatchAll adds only the /admin/ catch-all (404 behind the token
// check), for callers that register Routes themselves.
func (a *API) RegisterCatchAll(mux *http.ServeMux) {
	mux.Handle("/admin/", a.wrap(func(http.ResponseWriter, *http.Request) error {
		return &httpError{http.StatusNotFound, "not_found", "No such admin route."}
	}))
}

// Route is an admin route.
type Route struct {
	Pattern string
	Handler http.Handler
}

// Routes lists the admin routes (the catch-all under /admin/ aside), for
// Register and for the authorization table test.
func (a *API) Routes() []Route {
	return []Route{
		{"GET /admin/v1/requests", a.wrap(a.listRequests)},
		{"POST /admin/v1/reload", a.wrap(a.reload)},
		{"GET /admin/v1/config", a.wrap(a.configInfo)},
		{"GET /admin/v1/health", a.wrap(a.health)},
		{"GET /admin/v1/keys", a.wrap(a.listKeys)},
		{"POST /admin/v1/keys", a.wrap(a.createKey)},
		{"DELETE /admin/v1/keys/{id}", a.wrap(a.revokeKey)},
		{"GET /admin/v1/providers", a.wrap(a.listProviders)},
		{"POST /admin/v1/providers", a.wrap(a.createProvider)},
		{"GET /admin/v1/providers/{id}", a.wrap(a.getProvider)},
		{"PATCH /admin/v1/providers/{id}", a.wrap(a.updateProvider)},
		{"DELETE /admin/v1/providers/{id}", a.wrap(a.deleteProvider)},
		{"GET /admin/v1/audit", a.wrap(a.listAudit)},
	}
}

type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func (a *API) wrap(fn func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.authorized(r) {
			writeJSONError(w, &httpError{http.StatusUnauthorized, "invalid_admin_token", "Missing or invalid admin token."})
			return
		}
		if err := fn(w, r); err != nil {
			var he *httpError
			if !errors.As(err, &he) {
				a.opts.Logger.Error("admin request failed", "path", r.URL.Path, "err", err)
				he = &httpError{http.StatusInternalServerError, "internal_error", "Internal error."}
			}
			writeJSONError(w, he)
		}
	})
}

func (a *API) authorized(r *http.Request) bool {
	v := r.Header.Get("Authorization")
	if len(v) < 8 || (v[:7] != "Bearer " && v[:7] != "bearer ") {
		return false
	}
	h := sha256.Sum256([]byte(v[7:]))
	return auth.Equal(string(h[:]), string(a.opts.TokenHash[:]))
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

func (a *API) listRequests(w http.ResponseWriter, r *http.Request) error {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return &httpError{http.StatusBadRequest, "invalid_limit", "limit must be an integer from 1 to 1000."}
		}
		limit = n
	}
	entries, err := a.opts.Store.ListRequests(r.Context(), store.RequestFilter{Limit: limit, KeyID: r.URL.Query().Get("key_id")})
	if err != nil {
		return err
	}
	out := make([]entryJSON, len(entries))
	for i, e := range entries {
		out[i] = entryJSON{Entry: e, LatencyMS: ms(e.Latency), TTFTMS: ms(e.TTFT), Attempts: make([]attemptJSON, len(e.Attempts))}
		for j, at := range e.Attempts {
			out[i].Attempts[j] = attemptJSON{Attempt: at, LatencyMS: ms(at.Latency), TTFTMS: ms(at.TTFT)}
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": out})
}

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

func (a *API) configInfo(w http.ResponseWriter, _ *http.Request) error {
	s := a.opts.Snapshots.Load()
	return writeJSON(w, http.StatusOK, map[string]any{
		"version": s.Version, "loaded_at": s.LoadedAt.UTC(), "source": s.Source,
		"models": s.ModelNames, "keys": len(s.Keys),
	})
}

func (a *API) health(w http.ResponseWriter, _ *http.Request) error {
	targets := a.opts.Health.Snapshot()
	slices.SortFunc(targets, func(x, y route.Status) int {
		return strings.Compare(x.Provider+"\x00"+x.Model, y.Provider+"\x00"+y.Model)
	})
	out := map[string]any{"object": "list", "data": targets}
	if a.opts.Limits != nil {
		out["limits"] = a.opts.Limits()
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := a.opts.Store.ListKeys(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": keys})
}

type createKeyRequest struct {
	Name          string     `json:"name"`
	Models        []string   `json:"models"`
	RPM           int64      `json:"rpm"`
	TPM           int64      `json:"tpm"`
	MaxConcurrent int64      `json:"max_concurrent"`
	ExpiresAt     *time.Time `json:"expires_at"`
	Budget        *struct {
		AmountUSD  float64 `json:"amount_usd"`
		Period     string  `json:"period"`
		ReserveUSD float64 `json:"reserve_usd"`
	} `json:"budget"`
}

func (a *API) createKey(w http.ResponseWriter, r *http.Request) error {
	var req createKeyRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return &httpError{http.StatusBadRequest, "invalid_body", "The body must be JSON: {\"name\": \"...\", \"models\": [...]}. " + err.Error()}
	}
	if req.Name == "" || len(req.Name) > 64 {
		return &httpError{http.StatusBadRequest, "invalid_name", "name is required (at most 64 characters)."}
	}
	snap := a.opts.Snapshots.Load()
	for _, m := range req.Models {
		if snap.Models[m] == nil {
			return &httpError{http.StatusBadRequest, "unknown_model", fmt.Sprintf("No model named %q.", m)}
		}
	}
	if req.RPM < 0 || req.TPM < 0 || req.MaxConcurrent < 0 {
		return &httpError{http.StatusBadRequest, "invalid_limits", "rpm, tpm and max_concurrent must not be negative."}
	}
	key := auth.NewKey("live")
	h := auth.HashKey(key)
	id := make([]byte, 8)
	copy(id, h[24:])
	rec := store.KeyRecord{ID: "key_" + hex.EncodeToString(id), Name: req.Name, Hash: hex.EncodeToString(h[:]),
		Prefix: auth.DisplayPrefix(key), Models: req.Models, CreatedAt: time.Now().UTC(), ExpiresAt: req.ExpiresAt,
		RPM: req.RPM, TPM: req.TPM, MaxConcurrent: req.MaxConcurrent}
	if b := req.Budget; b != nil {
		switch b.Period {
		case "":
			b.Period = "monthly"
		case "daily", "weekly", "monthly", "total":
		default:
			return &httpError{http.StatusBadRequest, "invalid_budget", "budget.period must be daily, weekly, monthly or total."}
		}
		if b.AmountUSD <= 0 || b.ReserveUSD < 0 {
			return &httpError{http.StatusBadRequest, "invalid_budget", "budget.amount_usd must be positive and reserve_usd not negative."}
		}
		rec.BudgetMicros, rec.BudgetPeriod = int64(math.Round(b.AmountUSD*1e6)), b.Period
		rec.ReserveMicros = int64(math.Round(b.ReserveUSD * 1e6))
	}
	if err := a.opts.Store.CreateKey(r.Context(), rec); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &httpError{http.StatusConflict, "name_taken", fmt.Sprintf("A key named %q already exists.", req.Name)}
		}
		return err
	}
	a.writeAudit(w, r, "key.create", "key", rec.ID, nil, rec) // rec has the hash's json:"-", never the key
	if err := a.opts.Control.RefreshKeys(r.Context()); err != nil {
		return err
	}
	if rec.Models == nil {
		rec.Models = []string{}
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"key": key, "id": rec.ID, "name": rec.Name,
		"prefix": rec.Prefix, "models": rec.Models, "created_at": rec.CreatedAt,
		"note": "This is the only time the key is shown. Sluice stores only its hash."})
}

func (a *API) revokeKey(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	before := a.findKey(r, id)
	if err := a.opts.Store.RevokeKey(r.Context(), id, time.Now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return &httpError{http.StatusNotFound, "not_found", "No such key."}
		}
		return err
	}
	if before == nil || before.RevokedAt == nil { // revoking twice changes nothing
		after, objectID := a.findKey(r, id), id
		if after != nil {
			objectID = after.ID
		}
		a.writeAudit(w, r, "key.revoke", "key", objectID, before, after)
	}
	if err := a.opts.Control.RefreshKeys(r.Context()); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"revoked": id})
}

// findKey returns the key record with this id or name, or nil.
func (a *API) findKey(r *http.Request, idOrName string) *store.KeyRecord {
	keys, err := a.opts.Store.ListKeys(r.Context())
	if err != nil {
		return nil
	}
	for i := range keys {
		if keys[i].ID == idOrName || keys[i].Name == idOrName {
			return &keys[i]
		}
	}
	return nil
}
