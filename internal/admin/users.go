package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/login"
	"github.com/sluicehq/sluice/internal/store"
)

// Users are people; what they may do comes only from their role bindings.
// A user is visible to those who may read users in an organisation where
// the user has a binding. Changing a user (name, password, disabled) needs
// UsersWrite in every organisation the user belongs to, so that one
// tenant's admin cannot take over an account another tenant relies on.

// UserView is a user as the API shows it: never the password hash.
type UserView struct {
	ID          string        `json:"id"`
	Email       string        `json:"email"`
	Name        string        `json:"name"`
	HasPassword bool          `json:"has_password"`
	SSO         bool          `json:"sso" doc:"Linked to an OIDC identity."`
	Disabled    bool          `json:"disabled"`
	Bindings    []BindingView `json:"bindings"`
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
	Version     int64         `json:"version"`
}

// BindingView is a role binding.
type BindingView struct {
	ID     string    `json:"id"`
	UserID string    `json:"user_id"`
	Role   string    `json:"role" enum:"owner,admin,developer,viewer,auditor"`
	OrgID  string    `json:"org_id"`
	TeamID string    `json:"team_id,omitempty"`
	Source string    `json:"source" enum:"api,oidc"`
	Since  time.Time `json:"created_at"`
}

func bindingView(b store.Binding) BindingView {
	return BindingView{ID: b.ID, UserID: b.UserID, Role: b.Role, OrgID: b.OrgID, TeamID: b.TeamID, Source: b.Source, Since: b.CreatedAt}
}

func userView(u store.User, bs []store.Binding) UserView {
	v := UserView{ID: u.ID, Email: u.Email, Name: u.Name, HasPassword: u.PasswordHash != "", SSO: u.OIDCSubject != "",
		Disabled: u.Disabled, Bindings: []BindingView{}, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, Version: u.Version}
	for _, b := range bs {
		v.Bindings = append(v.Bindings, bindingView(b))
	}
	return v
}

// UserCreate creates a user, with the bindings that make it visible.
type UserCreate struct {
	Email    string         `json:"email"`
	Name     string         `json:"name,omitempty"`
	Password string         `json:"password,omitempty" doc:"At least 12 characters; omit for single sign-on only."`
	Bindings []BindingInput `json:"bindings,omitempty" doc:"Required except for the super-admin."`
}

// BindingInput gives a role on an organisation or a team.
type BindingInput struct {
	UserID string `json:"user_id,omitempty" doc:"POST /role-bindings: the user."`
	Role   string `json:"role" enum:"owner,admin,developer,viewer,auditor"`
	OrgID  string `json:"org_id"`
	TeamID string `json:"team_id,omitempty" doc:"Empty: the whole organisation."`
}

// UserPatch changes a user; absent fields stay.
type UserPatch struct {
	Name     *string `json:"name,omitempty"`
	Password *string `json:"password,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

// bindingScope checks that a binding names an existing organisation (and
// team in it) and returns its scope.
func (a *API) bindingScope(r *http.Request, b BindingInput) (authz.Scope, error) {
	if !authz.Role(b.Role).Valid() {
		return authz.Scope{}, &httpError{http.StatusBadRequest, "invalid_role", "role must be owner, admin, developer, viewer or auditor."}
	}
	if _, err := a.loadUnit(r, orgKind, b.OrgID, ""); err != nil {
		return authz.Scope{}, fieldNotFound(err, "org_id")
	}
	if b.TeamID != "" {
		t, err := a.loadUnit(r, teamKind, b.TeamID, "")
		if err != nil || t.OrgID != b.OrgID {
			return authz.Scope{}, fieldNotFound(errNotFound, "team_id")
		}
	}
	return authz.Scope{OrgID: b.OrgID, TeamID: b.TeamID}, nil
}

// userVisible reports whether the principal may read the user, and whether
// it may change it (UsersWrite wherever the user belongs).
func (a *API) userAccess(r *http.Request, bs []store.Binding) (read, write bool) {
	if principal(r).Super {
		state(r).decided = true
		return true, true
	}
	write = len(bs) > 0
	for _, b := range bs {
		s := authz.Scope{OrgID: b.OrgID, TeamID: b.TeamID}
		if a.allowed(r, authz.UsersRead, s) {
			read = true
		}
		if !a.allowed(r, authz.UsersWrite, s) {
			write = false
		}
	}
	state(r).decided = true
	return read, write
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) error {
	if err := a.authorizeList(r, authz.Scope{}); err != nil {
		return err
	}
	if paged(r) {
		return a.userPage(w, r)
	}
	users, err := a.opts.Store.ListUsers(r.Context())
	if err != nil {
		return err
	}
	all, err := a.opts.Store.ListBindings(r.Context(), "") // one query, not one per user
	if err != nil {
		return err
	}
	byUser := map[string][]store.Binding{}
	for _, b := range all {
		byUser[b.UserID] = append(byUser[b.UserID], b)
	}
	out := []UserView{}
	for _, u := range users {
		bs := byUser[u.ID]
		if read, _ := a.userAccess(r, bs); read || u.ID == principal(r).UserID {
			out = append(out, userView(u, bs))
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": out})
}

// loadUser reads a user and decides read (and write) on it.
func (a *API) loadUser(r *http.Request, id string, write bool) (store.User, []store.Binding, error) {
	u, err := a.opts.Store.GetUser(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		state(r).decided = true
		return u, nil, errNotFound
	} else if err != nil {
		return u, nil, err
	}
	bs, err := a.opts.Store.Bindings(r.Context(), u.ID)
	if err != nil {
		return u, nil, err
	}
	read, canWrite := a.userAccess(r, bs)
	if !read && u.ID != principal(r).UserID {
		return u, nil, errNotFound
	}
	if write && !canWrite {
		return u, nil, errForbidden
	}
	return u, bs, nil
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request) error {
	u, bs, err := a.loadUser(r, r.PathValue("id"), false)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(u.Version))
	return writeJSON(w, http.StatusOK, userView(u, bs))
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) error {
	var req UserCreate
	if err := decodeBody(w, r, &req); err != nil {
		state(r).decided = true
		return err
	}
	pr := principal(r)
	if len(req.Bindings) == 0 && !pr.Super {
		state(r).decided = true
		return &httpError{http.StatusBadRequest, "bindings_required", "Give at least one role binding in an organisation you administer."}
	}
	var scopes []authz.Scope
	for _, b := range req.Bindings {
		s, err := a.bindingScope(r, b)
		if err != nil {
			return err
		}
		if !a.opts.Snapshots.Load().Policy.MayGrant(pr, authz.Role(b.Role), s) {
			return errForbidden
		}
		scopes = append(scopes, s)
	}
	state(r).decided = true
	addr, err := mail.ParseAddress(req.Email)
	if err != nil || addr.Address != strings.TrimSpace(req.Email) {
		return &httpError{http.StatusBadRequest, "invalid_email", "email must be an address such as ada@example.com."}
	}
	now := time.Now().UTC()
	u := store.User{ID: newID("usr_"), Email: strings.ToLower(addr.Address), Name: req.Name, CreatedAt: now, UpdatedAt: now, Version: 1}
	if req.Password != "" {
		if err := login.CheckPasswordPolicy(req.Password); err != nil {
			return &httpError{http.StatusBadRequest, "weak_password", err.Error()}
		}
		if u.PasswordHash, err = login.HashPassword(req.Password); err != nil {
			return err
		}
	}
	tenant := ""
	if len(scopes) > 0 {
		tenant = scopes[0].OrgID
	}
	if err := a.opts.Store.CreateUser(r.Context(), u, a.auditFor(w, r, "user.create", "user", u.ID, tenant, nil, userView(u, nil))); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &httpError{http.StatusConflict, "email_taken", "A user with this email exists; add a role binding to it instead (POST /admin/v1/role-bindings)."}
		}
		return err
	}
	var bs []store.Binding
	for i, b := range req.Bindings {
		sb := store.Binding{ID: newID("rb_"), UserID: u.ID, Role: b.Role, OrgID: scopes[i].OrgID, TeamID: scopes[i].TeamID, Source: "api", CreatedAt: now}
		if err := a.opts.Store.AddBinding(r.Context(), sb, a.auditFor(w, r, "role_binding.create", "role_binding", sb.ID, sb.OrgID, nil, bindingView(sb))); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
		bs = append(bs, sb)
	}
	w.Header().Set("ETag", etag(u.Version))
	return writeJSON(w, http.StatusCreated, userView(u, bs))
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request) error {
	want, err := ifMatch(r)
	if err != nil {
		state(r).decided = true
		return err
	}
	id := r.PathValue("id")
	self := id == principal(r).UserID
	old, bs, err := a.loadUser(r, id, !self)
	if err != nil {
		return err
	}
	var p UserPatch
	if err := decodeBody(w, r, &p); err != nil {
		return err
	}
	if want != 0 && want != old.Version {
		return versionMismatch(old.Version)
	}
	if self && p.Disabled != nil {
		if _, canWrite := a.userAccess(r, bs); !canWrite {
			return errForbidden
		}
	}
	u := old
	if p.Name != nil {
		u.Name = *p.Name
	}
	if p.Password != nil {
		if err := login.CheckPasswordPolicy(*p.Password); err != nil {
			return &httpError{http.StatusBadRequest, "weak_password", err.Error()}
		}
		if u.PasswordHash, err = login.HashPassword(*p.Password); err != nil {
			return err
		}
	}
	if p.Disabled != nil {
		u.Disabled = *p.Disabled
	}
	u.UpdatedAt, u.Version = time.Now().UTC(), old.Version+1
	tenant := ""
	if len(bs) > 0 {
		tenant = bs[0].OrgID
	}
	after := userView(u, bs)
	entry := a.auditFor(w, r, "user.update", "user", u.ID, tenant, userView(old, bs), map[string]any{"user": after, "password_changed": p.Password != nil})
	if err := a.opts.Store.UpdateUser(r.Context(), u, old.Version, entry); err != nil {
		return storeError(err, "user")
	}
	w.Header().Set("ETag", etag(u.Version))
	return writeJSON(w, http.StatusOK, after)
}

func (a *API) listBindings(w http.ResponseWriter, r *http.Request) error {
	s, err := a.listScope(r)
	if err != nil {
		return err
	}
	if err := a.authorizeList(r, s); err != nil {
		return err
	}
	if paged(r) {
		return a.bindingPage(w, r, r.URL.Query().Get("org_id"))
	}
	bs, err := a.opts.Store.ListBindings(r.Context(), r.URL.Query().Get("org_id"))
	if err != nil {
		return err
	}
	out := []BindingView{}
	for _, b := range bs {
		if a.allowed(r, authz.UsersRead, authz.Scope{OrgID: b.OrgID, TeamID: b.TeamID}) {
			out = append(out, bindingView(b))
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": out})
}

func (a *API) createBinding(w http.ResponseWriter, r *http.Request) error {
	var req BindingInput
	if err := decodeBody(w, r, &req); err != nil {
		state(r).decided = true
		return err
	}
	s, err := a.bindingScope(r, req)
	if err != nil {
		return err
	}
	if !a.opts.Snapshots.Load().Policy.MayGrant(principal(r), authz.Role(req.Role), s) {
		return errForbidden // the organisation (and team) are visible: bindingScope read them
	}
	state(r).decided = true
	if _, err := a.opts.Store.GetUser(r.Context(), req.UserID); err != nil {
		return fieldNotFound(errNotFound, "user_id")
	}
	b := store.Binding{ID: newID("rb_"), UserID: req.UserID, Role: req.Role, OrgID: s.OrgID, TeamID: s.TeamID, Source: "api", CreatedAt: time.Now().UTC()}
	if err := a.opts.Store.AddBinding(r.Context(), b, a.auditFor(w, r, "role_binding.create", "role_binding", b.ID, b.OrgID, nil, bindingView(b))); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &httpError{http.StatusConflict, "exists", "The user already has this role there."}
		}
		return err
	}
	return writeJSON(w, http.StatusCreated, bindingView(b))
}

func (a *API) deleteBinding(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	bs, err := a.opts.Store.ListBindings(r.Context(), "")
	if err != nil {
		return err
	}
	for _, b := range bs {
		if b.ID != id {
			continue
		}
		s := authz.Scope{OrgID: b.OrgID, TeamID: b.TeamID}
		if err := a.authorize(r, authz.UsersRead, "", s); err != nil {
			return err
		}
		if !a.opts.Snapshots.Load().Policy.MayGrant(principal(r), authz.Role(b.Role), s) {
			return errForbidden
		}
		if err := a.opts.Store.RemoveBinding(r.Context(), id, a.auditFor(w, r, "role_binding.delete", "role_binding", b.ID, b.OrgID, bindingView(b), nil)); err != nil {
			return storeError(err, "role binding")
		}
		return writeJSON(w, http.StatusOK, map[string]any{"deleted": id})
	}
	state(r).decided = true
	return errNotFound
}

var _ = fmt.Sprintf
