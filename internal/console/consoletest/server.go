// Package consoletest serves the console, the portal and the admin API in
// process over a given store, without the data plane: for tests that count
// the store queries of a page, and for the console's render benchmark
// (bench/consolebench), which opens a store of generated data.
package consoletest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/console"
	"github.com/sluicehq/sluice/internal/provider"
	"github.com/sluicehq/sluice/internal/provider/demo"
	"github.com/sluicehq/sluice/internal/provider/openai"
	"github.com/sluicehq/sluice/internal/route"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/store"
)

// AdminToken is the bootstrap admin token of every Server.
const AdminToken = "consoletest-admin-token-0123456789"

// Server is the admin API with the console and the portal over one store.
type Server struct {
	Store   *store.Store
	Handler http.Handler
	snaps   runtime.Holder
	health  *route.Registry
	mu      sync.Mutex // serialises compiles
	// Hold makes Reload and RefreshKeys do nothing (while a test seeds
	// many objects through the API); Compile then catches up.
	Hold bool
}

// New serves st. The running configuration is the built-in demo (models
// "demo" and "demo-embed"); the snapshot is compiled with the stored units,
// products and prompts but not the stored keys, which pages read from the
// store (a benchmark's million keys would only slow the start).
func New(ctx context.Context, st *store.Store) (*Server, error) {
	s := &Server{Store: st, health: route.NewRegistry(route.HealthOptions{})}
	if err := s.compile(ctx); err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mux := http.NewServeMux()
	api := admin.New(admin.Options{Store: st, Control: s, Snapshots: &s.snaps, TokenHash: auth.HashKey(AdminToken),
		Health: s.health, Logger: log})
	api.Register(mux)
	web, err := console.New(console.Options{API: mux, Snapshots: &s.snaps, Logger: log})
	if err != nil {
		return nil, err
	}
	web.Register(mux)
	s.Handler = mux
	return s, nil
}

// Compile compiles the snapshot from the store now.
func (s *Server) Compile(ctx context.Context) error { return s.compile(ctx) }

func (s *Server) compile(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var units []store.Unit
	for _, kind := range []string{store.KindOrg, store.KindTeam, store.KindApp} {
		us, err := s.Store.ListUnits(ctx, kind, store.UnitFilter{})
		if err != nil {
			return err
		}
		units = append(units, us...)
	}
	var products runtime.ProductInputs
	var err error
	if products.Products, err = s.Store.ListProducts(ctx); err != nil {
		return err
	}
	if products.Versions, err = s.Store.ListVersions(ctx, ""); err != nil {
		return err
	}
	if products.Plans, err = s.Store.ListPlans(ctx, ""); err != nil {
		return err
	}
	prompts, err := s.Store.StoredPrompts(ctx)
	if err != nil {
		return err
	}
	reg := provider.Registry{config.TypeDemo: func(sp provider.Spec) (provider.Adapter, error) {
		return openai.New(openai.Options{Name: sp.Name, BaseURL: demo.BaseURL, Client: demo.Client()}), nil
	}}
	snap, err := runtime.Compile(runtime.Inputs{File: config.Default(), Units: units, Products: products, StoredPrompts: prompts,
		Registry: reg, Health: s.health,
		Provider: func(p config.Provider) provider.Spec { return provider.Spec{Name: p.Name, Type: p.Type} }})
	if err != nil {
		return err
	}
	s.snaps.Store(snap)
	return nil
}

// Reload and RefreshKeys recompile the snapshot (admin.Control).
func (s *Server) Reload(ctx context.Context) error {
	if s.Hold {
		return nil
	}
	return s.compile(ctx)
}

func (s *Server) RefreshKeys(ctx context.Context) error { return s.Reload(ctx) }

// Answer is a served response.
type Answer struct {
	Code   int
	Header http.Header
	Body   string
}

// Do serves one request made with ctx: method, path (with its query),
// a form body for POST (nil: none) and the cookies given.
func (s *Server) Do(ctx context.Context, method, path string, form url.Values, cookies ...*http.Cookie) Answer {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequestWithContext(ctx, method, path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	s.Handler.ServeHTTP(rec, req)
	return Answer{Code: rec.Code, Header: rec.Result().Header, Body: rec.Body.String()}
}

// Admin calls the admin API as the bootstrap admin with a JSON body (nil:
// none) and returns the status and the answer.
func (s *Server) Admin(ctx context.Context, method, path string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, []byte(err.Error())
		}
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequestWithContext(ctx, method, path, rd)
	req.Header.Set("Authorization", "Bearer "+AdminToken)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.Handler.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// SignIn logs a user in with a password through the admin API and returns
// the session cookie the console reads.
func (s *Server) SignIn(ctx context.Context, email, password string) (*http.Cookie, error) {
	b, _ := json.Marshal(admin.LoginRequest{Email: email, Password: password})
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/admin/v1/auth/login", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.Handler.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == admin.SessionCookie && c.Value != "" {
			return &http.Cookie{Name: c.Name, Value: c.Value}, nil
		}
	}
	return nil, fmt.Errorf("sign-in of %s: %d %s", email, rec.Code, rec.Body.String())
}
