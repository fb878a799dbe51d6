package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/login"
	"github.com/sluicehq/sluice/internal/store"
)

// Logins: a local password (argon2id) or OIDC single sign-on create a
// server-side session whose random value is the HttpOnly cookie; the store
// keeps only its SHA-256. Unsafe methods with a session need the CSRF token
// (GET /admin/v1/me shows it). Automation uses admin API tokens, created by
// a user for itself and acting with that user's roles.

// LoginRequest is a password login.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// LoginAnswer answers a password login (the session is in the cookie).
type LoginAnswer struct {
	UserID    string    `json:"user_id"`
	Email     string    `json:"email"`
	CSRFToken string    `json:"csrf_token" doc:"Send as X-CSRF-Token on unsafe requests made with the session cookie."`
	ExpiresAt time.Time `json:"expires_at"`
}

// Me describes the authenticated principal.
type Me struct {
	Kind      string        `json:"kind" enum:"bootstrap,token,session"`
	UserID    string        `json:"user_id,omitempty"`
	Email     string        `json:"email,omitempty"`
	Super     bool          `json:"super_admin"`
	Bindings  []BindingView `json:"bindings"`
	CSRFToken string        `json:"csrf_token,omitempty" doc:"Send as X-CSRF-Token on unsafe requests made with the session cookie."`
	ExpiresAt *time.Time    `json:"expires_at,omitempty"`
}

// TokenCreate creates an admin API token for the caller.
type TokenCreate struct {
	Name          string `json:"name"`
	ExpiresInDays int    `json:"expires_in_days,omitempty" doc:"0: never."`
}

// TokenView is an admin API token: never its value after creation.
type TokenView struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	Token      string     `json:"token,omitempty" doc:"Only in the answer to its creation."`
}

func tokenView(t store.AdminToken) TokenView {
	return TokenView{ID: t.ID, Name: t.Name, Prefix: t.Prefix, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt,
		RevokedAt: t.RevokedAt, LastUsedAt: t.LastUsedAt}
}

func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// startSession creates a session for user u and sets its cookie.
func (a *API) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, userID string) (string, time.Time, error) {
	value := randomSecret()
	now := time.Now().UTC()
	exp := now.Add(a.opts.SessionTTL)
	if err := a.opts.Store.CreateSession(ctx, store.Session{Hash: hashHex(value), UserID: userID, CSRFHash: hashHex(csrfToken(value)),
		CreatedAt: now, ExpiresAt: exp}); err != nil {
		return "", exp, err
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: value, Path: "/", HttpOnly: true, Secure: login.SecureRequest(r),
		SameSite: http.SameSiteLaxMode, Expires: exp})
	return value, exp, nil
}

func (a *API) loginPassword(w http.ResponseWriter, r *http.Request) error {
	if a.throttled(w, r) {
		return nil
	}
	var req LoginRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(req.Email))
	if a.opts.Throttle != nil {
		if ok, _ := a.opts.Throttle.Allow("email:" + email); !ok {
			return &httpError{http.StatusTooManyRequests, "too_many_attempts", "Too many failed attempts for this account; try again later."}
		}
	}
	u, err := a.opts.Store.UserByEmail(r.Context(), email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	ok := false
	if err == nil && u.PasswordHash != "" && !u.Disabled {
		ok = login.VerifyPassword(u.PasswordHash, req.Password)
	} else {
		login.VerifyDummy(req.Password) // the same time whether or not the user exists
	}
	if !ok {
		a.failed(r)
		if a.opts.Throttle != nil {
			a.opts.Throttle.Fail("email:" + email)
		}
		a.opts.Logger.Warn("admin login failed", "ip", clientIP(r))
		return &httpError{http.StatusUnauthorized, "invalid_credentials", "Wrong email or password."}
	}
	if a.opts.Throttle != nil {
		a.opts.Throttle.Succeed("email:" + email)
	}
	value, exp, err := a.startSession(r.Context(), w, r, u.ID)
	if err != nil {
		return err
	}
	_ = a.opts.Store.InsertAudit(r.Context(), store.AuditEntry{Actor: u.Email, Action: "session.create", ObjectType: "user",
		ObjectID: u.ID, RequestID: w.Header().Get("X-Request-Id"), IP: clientIP(r)})
	return writeJSON(w, http.StatusOK, LoginAnswer{UserID: u.ID, Email: u.Email, CSRFToken: csrfToken(value), ExpiresAt: exp})
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	st := state(r)
	if st.session != "" {
		if err := a.opts.Store.DeleteSession(r.Context(), hashHex(st.session)); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, MaxAge: -1})
	return writeJSON(w, http.StatusOK, map[string]any{"logged_out": true})
}

func (a *API) me(w http.ResponseWriter, r *http.Request) error {
	pr, st := principal(r), state(r)
	m := Me{Kind: pr.Kind, UserID: pr.UserID, Email: pr.Email, Super: pr.Super, Bindings: []BindingView{}}
	if pr.UserID != "" {
		bs, err := a.bindings(r.Context(), pr.UserID)
		if err != nil {
			return err
		}
		for _, b := range bs {
			m.Bindings = append(m.Bindings, bindingView(b))
		}
	}
	if st.session != "" {
		m.CSRFToken = csrfToken(st.session)
		if se, err := a.sessionByHash(r.Context(), hashHex(st.session)); err == nil {
			m.ExpiresAt = &se.ExpiresAt
		}
	}
	return writeJSON(w, http.StatusOK, m)
}

func needUser(r *http.Request) error {
	if principal(r).UserID == "" {
		return &httpError{http.StatusBadRequest, "no_user", "The bootstrap token belongs to no user; sign in as a user to manage admin API tokens."}
	}
	return nil
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) error {
	if err := needUser(r); err != nil {
		return err
	}
	ts, err := a.opts.Store.ListAdminTokens(r.Context(), principal(r).UserID)
	if err != nil {
		return err
	}
	out := []TokenView{}
	for _, t := range ts {
		out = append(out, tokenView(t))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": out})
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request) error {
	if err := needUser(r); err != nil {
		return err
	}
	var req TokenCreate
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if !validName(req.Name) {
		return &httpError{http.StatusBadRequest, "invalid_name", "name must be 1-64 characters of letters, digits, '-', '_' or '.'."}
	}
	if req.ExpiresInDays < 0 || req.ExpiresInDays > 3650 {
		return &httpError{http.StatusBadRequest, "invalid_expiry", "expires_in_days must be from 0 (never) to 3650."}
	}
	value := tokenPrefix + randomSecret()
	now := time.Now().UTC()
	t := store.AdminToken{ID: newID("tok_"), UserID: principal(r).UserID, Name: req.Name, Hash: hashHex(value),
		Prefix: value[:12] + "…", CreatedAt: now}
	if req.ExpiresInDays > 0 {
		exp := now.AddDate(0, 0, req.ExpiresInDays)
		t.ExpiresAt = &exp
	}
	if err := a.opts.Store.CreateAdminToken(r.Context(), t, a.auditFor(w, r, "admin_token.create", "admin_token", t.ID, "", nil, tokenView(t))); err != nil {
		return storeError(err, "token")
	}
	v := tokenView(t)
	v.Token = value
	return writeJSON(w, http.StatusCreated, v)
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) error {
	if err := needUser(r); err != nil {
		return err
	}
	ts, err := a.opts.Store.ListAdminTokens(r.Context(), principal(r).UserID)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.ID == r.PathValue("id") {
			if t.RevokedAt == nil {
				if err := a.opts.Store.RevokeAdminToken(r.Context(), t.ID, time.Now().UTC(),
					a.auditFor(w, r, "admin_token.revoke", "admin_token", t.ID, "", tokenView(t), nil)); err != nil {
					return err
				}
			}
			return writeJSON(w, http.StatusOK, map[string]any{"revoked": t.ID})
		}
	}
	return errNotFound
}

// oidcLogin starts single sign-on.
func (a *API) oidcLogin(w http.ResponseWriter, r *http.Request) error {
	if a.opts.OIDC == nil {
		return &httpError{http.StatusNotFound, "sso_not_configured", "Single sign-on is not configured (access.oidc)."}
	}
	u, err := a.opts.OIDC.Begin(w, r, r.URL.Query().Get("return_to"))
	if err != nil {
		return err
	}
	http.Redirect(w, r, u, http.StatusFound)
	return nil
}

// oidcCallback finishes single sign-on: the user is found by its OIDC
// identity, else linked by a verified email, else created; its OIDC role
// bindings are replaced by what the role claim maps to now.
func (a *API) oidcCallback(w http.ResponseWriter, r *http.Request) error {
	if a.opts.OIDC == nil {
		return &httpError{http.StatusNotFound, "sso_not_configured", "Single sign-on is not configured (access.oidc)."}
	}
	if a.throttled(w, r) {
		return nil
	}
	id, returnTo, err := a.opts.OIDC.Finish(w, r)
	if err != nil {
		a.failed(r)
		var le *login.Error
		if errors.As(err, &le) {
			a.opts.Logger.Warn("single sign-on failed", "err", le.Error(), "detail", le.Detail)
			return ssoFailed(w, r, &httpError{http.StatusUnauthorized, "sso_failed", le.Kind.Error()})
		}
		return err
	}
	ctx := r.Context()
	now := time.Now().UTC()
	u, err := a.opts.Store.UserByOIDC(ctx, id.Issuer, id.Subject)
	if errors.Is(err, store.ErrNotFound) && id.EmailVerified && id.Email != "" {
		if u, err = a.opts.Store.UserByEmail(ctx, strings.ToLower(id.Email)); err == nil {
			old := u
			u.OIDCIssuer, u.OIDCSubject, u.UpdatedAt, u.Version = id.Issuer, id.Subject, now, u.Version+1
			if err := a.opts.Store.UpdateUser(ctx, u, old.Version, a.auditFor(w, r, "user.link_sso", "user", u.ID, "", nil, userView(u, nil))); err != nil {
				return err
			}
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		email := strings.ToLower(id.Email)
		if email == "" {
			email = strings.ToLower(id.Subject) + "@sso.invalid"
		}
		u = store.User{ID: newID("usr_"), Email: email, Name: id.Name, OIDCIssuer: id.Issuer, OIDCSubject: id.Subject,
			CreatedAt: now, UpdatedAt: now, Version: 1}
		if err := a.opts.Store.CreateUser(ctx, u, store.AuditEntry{Actor: email, Action: "user.create_sso", ObjectType: "user",
			ObjectID: u.ID, RequestID: w.Header().Get("X-Request-Id"), IP: clientIP(r)}); err != nil {
			return storeError(err, "user")
		}
	} else if err != nil {
		return err
	}
	if u.Disabled {
		return ssoFailed(w, r, &httpError{http.StatusForbidden, "user_disabled", "This user is disabled."})
	}
	snap := a.opts.Snapshots.Load()
	var bs []store.Binding
	for _, g := range id.Grants {
		path := g.Org
		if g.Team != "" {
			path += "/" + g.Team
		}
		unit := snap.UnitByPath(path)
		if unit == nil {
			a.opts.Logger.Warn("single sign-on role mapping names an unknown organisation or team", "path", path)
			continue
		}
		b := store.Binding{ID: newID("rb_"), UserID: u.ID, Role: g.Role, OrgID: unit.OrgID, Source: "oidc", CreatedAt: now}
		if g.Team != "" {
			b.TeamID = unit.ID
		}
		bs = append(bs, b)
	}
	if err := a.opts.Store.ReplaceOIDCBindings(ctx, u.ID, bs); err != nil {
		return err
	}
	if _, _, err := a.startSession(ctx, w, r, u.ID); err != nil {
		return err
	}
	_ = a.opts.Store.InsertAudit(ctx, store.AuditEntry{Actor: u.Email, Action: "session.create_sso", ObjectType: "user",
		ObjectID: u.ID, After: mustJSON(map[string]any{"grants": len(bs)}), RequestID: w.Header().Get("X-Request-Id"), IP: clientIP(r)})
	http.Redirect(w, r, login.SafeReturnTo(returnTo), http.StatusFound)
	return nil
}

// ssoFailed sends a browser whose single sign-on failed back to the
// console's sign-in page with the reason (a fixed, safe message); an API
// client gets e. The callback is where the identity provider redirects
// the browser, so without this a person would be left on a JSON error.
func ssoFailed(w http.ResponseWriter, r *http.Request, e *httpError) error {
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		return e
	}
	q := url.Values{"err": {"Single sign-on failed: " + e.msg}}
	http.Redirect(w, r, "/console/login?"+q.Encode(), http.StatusSeeOther)
	return nil
}

var _ = fmt.Sprint
var _ authz.Action
