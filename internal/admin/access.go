package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/store"
)

// Every admin request is decided by the snapshot's compiled Policy. The
// route wrapper authenticates the principal (the bootstrap token, a user's
// admin API token, or a login session with its CSRF token), and the handler
// states the object's scope through authorize before anything is written:
// a response written without a decision is replaced by a 500 (see guard).

// SessionCookie is the name of the admin login cookie.
const SessionCookie = "sluice_session"

// CSRFHeader carries a session's CSRF token on unsafe methods.
const CSRFHeader = "X-CSRF-Token"

// tokenPrefix starts every admin API token of a user.
const tokenPrefix = "slt-"

type ctxKey struct{}

// reqState is the per-request authorization state.
type reqState struct {
	pr      *authz.Principal
	action  authz.Action // the route's action (its routes.go row)
	decided bool
	session string // the session cookie's value, for logout and CSRF
}

func state(r *http.Request) *reqState {
	st, _ := r.Context().Value(ctxKey{}).(*reqState)
	if st == nil {
		return &reqState{}
	}
	return st
}

// principal returns the authenticated principal of r.
func principal(r *http.Request) *authz.Principal { return state(r).pr }

var (
	errUnauthenticated = &httpError{http.StatusUnauthorized, "invalid_admin_token", "Missing or invalid admin credentials."}
	errNotFound        = &httpError{http.StatusNotFound, "not_found", "No such object."}
	errForbidden       = &httpError{http.StatusForbidden, "forbidden", "Your role does not allow this action."}
)

// authorize decides action on an object in scope. An object the principal
// may not even read (read "" skips that check) is a 404, like a missing one,
// so that other tenants' objects cannot be discovered; a readable object it
// may not change is a 403.
func (a *API) authorize(r *http.Request, read, action authz.Action, s authz.Scope) error {
	st := state(r)
	st.decided = true
	p := a.opts.Snapshots.Load().Policy
	if read != "" && !p.Allowed(st.pr, read, s) {
		return errNotFound
	}
	if action != "" && action != read && !p.Allowed(st.pr, action, s) {
		return errForbidden
	}
	return nil
}

// authorizeList decides the route's action on a collection before it is
// read: in scope s (the unit a filter names) or, for the zero Scope,
// anywhere. A principal that may do it nowhere there gets a 403; the
// items are then filtered one by one with allowed. An empty collection is
// thus decided like a full one.
func (a *API) authorizeList(r *http.Request, s authz.Scope) error {
	st := state(r)
	st.decided = true
	if !a.opts.Snapshots.Load().Policy.AllowedWithin(st.pr, st.action, s) {
		return errForbidden
	}
	return nil
}

// listScope is the scope a list's filter names: the narrowest of the
// query's app_id, team_id and org_id among those the route accepts, which
// must exist and be readable (else 404 naming the parameter). No filter is
// the zero Scope (anywhere).
func (a *API) listScope(r *http.Request) (authz.Scope, error) {
	q := r.URL.Query()
	for _, f := range []struct {
		param string
		k     kindSpec
	}{{"app_id", appKind}, {"team_id", teamKind}, {"org_id", orgKind}} {
		id := q.Get(f.param)
		if id == "" {
			continue
		}
		u, err := a.loadUnit(r, f.k, id, "")
		if err != nil {
			return authz.Scope{}, fieldNotFound(err, f.param)
		}
		return scopeOf(u), nil
	}
	return authz.Scope{}, nil
}

// allowed reports a decision without failing the request (list filters).
func (a *API) allowed(r *http.Request, action authz.Action, s authz.Scope) bool {
	st := state(r)
	st.decided = true
	return a.opts.Snapshots.Load().Policy.Allowed(st.pr, action, s)
}

// authenticate finds the principal of r. It returns (nil, nil) when r has
// no credential at all.
func (a *API) authenticate(r *http.Request) (*authz.Principal, string, error) {
	if v := r.Header.Get("Authorization"); v != "" {
		if len(v) < 8 || !strings.EqualFold(v[:7], "bearer ") {
			return nil, "", errUnauthenticated
		}
		tok := strings.TrimSpace(v[7:])
		h := sha256.Sum256([]byte(tok))
		if auth.Equal(string(h[:]), string(a.opts.TokenHash[:])) {
			return &authz.Principal{Kind: "bootstrap", Super: true}, "", nil
		}
		if !strings.HasPrefix(tok, tokenPrefix) || a.opts.Store == nil {
			return nil, "", errUnauthenticated
		}
		t, err := a.opts.Store.AdminTokenByHash(r.Context(), hex.EncodeToString(h[:]))
		if errors.Is(err, store.ErrNotFound) {
			return nil, "", errUnauthenticated
		} else if err != nil {
			return nil, "", err
		}
		now := time.Now()
		if t.RevokedAt != nil || (t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)) {
			return nil, "", errUnauthenticated
		}
		pr, err := a.userPrincipal(r.Context(), t.UserID, "token")
		if err != nil {
			return nil, "", err
		}
		pr.TokenID = t.ID
		if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > time.Minute {
			_ = a.opts.Store.TouchAdminToken(r.Context(), t.ID, now)
		}
		return pr, "", nil
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" || a.opts.Store == nil {
		return nil, "", nil
	}
	se, err := a.sessionByHash(r.Context(), hashHex(c.Value))
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", errUnauthenticated
	} else if err != nil {
		return nil, "", err
	}
	if !time.Now().Before(se.ExpiresAt) {
		return nil, "", errUnauthenticated
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if !auth.Equal(r.Header.Get(CSRFHeader), csrfToken(c.Value)) {
			return nil, "", &httpError{http.StatusForbidden, "csrf_failed", "Unsafe requests made with a login session need the X-CSRF-Token header (from GET /admin/v1/me)."}
		}
	}
	pr, err := a.userPrincipal(r.Context(), se.UserID, "session")
	return pr, c.Value, err
}

// userPrincipal loads a user and its role bindings. A disabled or deleted
// user cannot authenticate.
func (a *API) userPrincipal(ctx context.Context, userID, kind string) (*authz.Principal, error) {
	u, err := a.opts.Store.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return nil, errUnauthenticated
	} else if err != nil {
		return nil, err
	}
	bs, err := a.bindings(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	pr := &authz.Principal{Kind: kind, UserID: u.ID, Email: u.Email}
	for _, b := range bs {
		pr.Bindings = append(pr.Bindings, authz.Binding{Role: authz.Role(b.Role), OrgID: b.OrgID, TeamID: b.TeamID})
	}
	return pr, nil
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// csrfToken derives a session's CSRF token from its cookie value: a page of
// another origin can read neither.
func csrfToken(session string) string { return hashHex("csrf\x00" + session)[:32] }

// clientIP is the address a request came from (the peer: admin requests
// do not trust X-Forwarded-For).
func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// throttled answers 429 while an address has failed authentication too
// often; it reports whether it answered.
func (a *API) throttled(w http.ResponseWriter, r *http.Request) bool {
	if a.opts.Throttle == nil {
		return false
	}
	ok, retry := a.opts.Throttle.Allow(clientIP(r))
	if ok {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(max(1, (retry+time.Second-1)/time.Second))))
	writeJSONError(w, &httpError{http.StatusTooManyRequests, "too_many_attempts", "Too many failed attempts from this address; try again later."})
	return true
}

func (a *API) failed(r *http.Request) {
	if a.opts.Throttle != nil {
		a.opts.Throttle.Fail(clientIP(r))
	}
}

// guard refuses to let a handler answer with success without an
// authorization decision: such a response becomes a 500 (a bug, logged).
type guard struct {
	http.ResponseWriter
	st      *reqState
	a       *API
	r       *http.Request
	blocked bool
}

func (g *guard) WriteHeader(code int) {
	if g.blocked {
		return
	}
	if !g.st.decided && code < 400 {
		g.blocked = true
		g.a.opts.Logger.Error("admin route answered without an authorization decision", "path", g.r.URL.Path)
		writeJSONError(g.ResponseWriter, &httpError{http.StatusInternalServerError, "internal_error", "Internal error."})
		return
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *guard) Write(b []byte) (int, error) {
	if !g.st.decided {
		g.WriteHeader(http.StatusOK)
	}
	if g.blocked {
		return len(b), nil
	}
	return g.ResponseWriter.Write(b)
}
