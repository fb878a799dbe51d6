package admin

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/store"
)

// Virtual keys belong to an application (and so to its team and
// organisation); only the super-admin makes platform keys that belong to
// none. A key is shown once, at creation or rotation; the store keeps its
// SHA-256 and a display prefix. Limits, budgets and the model allow-list
// are set by those with LimitsWrite on the key's team (team admins and
// above): a developer who creates a key cannot widen what it may spend.

// keyScope is where a key lives.
func keyScope(k store.KeyRecord) authz.Scope { return authz.Scope{OrgID: k.OrgID, TeamID: k.TeamID} }

// KeyCreate is the body that creates a key.
type KeyCreate struct {
	Name           string     `json:"name"`
	AppID          string     `json:"app_id,omitempty" doc:"The application the key belongs to (required except for the super-admin)."`
	Models         []string   `json:"models,omitempty" doc:"Allowed models; empty allows all."`
	Endpoints      []string   `json:"endpoints,omitempty" doc:"Allowed endpoint families: chat, responses, messages, embeddings, gemini, count_tokens."`
	SourceNetworks []string   `json:"source_networks,omitempty" doc:"Allowed client networks (CIDRs)."`
	Tags           []string   `json:"tags,omitempty"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
	LimitsBody
}

// KeyPatch changes a key; absent fields stay.
type KeyPatch struct {
	Name           *string    `json:"name,omitempty"`
	Models         *[]string  `json:"models,omitempty"`
	Endpoints      *[]string  `json:"endpoints,omitempty"`
	SourceNetworks *[]string  `json:"source_networks,omitempty"`
	Tags           *[]string  `json:"tags,omitempty"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
	UnitPatchLimits
}

// UnitPatchLimits are the limit fields of a patch.
type UnitPatchLimits struct {
	RPM           *int64          `json:"rpm,omitempty"`
	TPM           *int64          `json:"tpm,omitempty"`
	MaxConcurrent *int64          `json:"max_concurrent,omitempty"`
	Budget        json.RawMessage `json:"budget,omitempty" doc:"A budget object, or null to remove it."`
}

// KeyCreated is the answer to a key's creation or rotation: the only time
// the key is shown.
type KeyCreated struct {
	Key string `json:"key"`
	store.KeyRecord
	Note string `json:"note"`
}

// RotateRequest asks for a key's rotation.
type RotateRequest struct {
	// OverlapSeconds is how long the old value keeps working (default
	// 3600, at most 30 days; 0 ends it at once).
	OverlapSeconds *int64 `json:"overlap_seconds,omitempty"`
}

func keyLimits(k store.KeyRecord) store.Limits {
	return store.Limits{RPM: k.RPM, TPM: k.TPM, MaxConcurrent: k.MaxConcurrent, BudgetMicros: k.BudgetMicros,
		BudgetPeriod: k.BudgetPeriod, ReserveMicros: k.ReserveMicros, AlertPercents: k.AlertPercents}
}

func setKeyLimits(k *store.KeyRecord, l store.Limits) {
	k.RPM, k.TPM, k.MaxConcurrent = l.RPM, l.TPM, l.MaxConcurrent
	k.BudgetMicros, k.BudgetPeriod, k.ReserveMicros, k.AlertPercents = l.BudgetMicros, l.BudgetPeriod, l.ReserveMicros, l.AlertPercents
}

func (a *API) checkScopes(models, endpoints, networks, tags []string) error {
	snap := a.opts.Snapshots.Load()
	for _, m := range models {
		if snap.Models[m] == nil {
			return &httpError{http.StatusBadRequest, "unknown_model", fmt.Sprintf("No model named %q.", m)}
		}
	}
	for _, e := range endpoints {
		if !slices.Contains(config.EndpointScopes, e) {
			return &httpError{http.StatusBadRequest, "invalid_endpoints", "endpoints must be among: " + strings.Join(config.EndpointScopes, ", ") + "."}
		}
	}
	for _, n := range networks {
		if _, err := config.ParseNetwork(n); err != nil {
			return &httpError{http.StatusBadRequest, "invalid_source_networks", err.Error()}
		}
	}
	if len(tags) > 32 {
		return &httpError{http.StatusBadRequest, "invalid_tags", "At most 32 tags."}
	}
	for _, t := range tags {
		if !validName(t) {
			return &httpError{http.StatusBadRequest, "invalid_tags", "Tags are 1-64 characters of letters, digits, '-', '_' or '.'."}
		}
	}
	return nil
}

// loadKey reads a key by id (or by a name that only one key the principal
// may read has) and decides read, and write when given, on it.
func (a *API) loadKey(r *http.Request, idOrName string, write authz.Action) (store.KeyRecord, error) {
	k, err := a.opts.Store.GetKey(r.Context(), idOrName)
	if errors.Is(err, store.ErrNotFound) {
		k, err = a.keyByName(r, idOrName)
	}
	if errors.Is(err, store.ErrNotFound) {
		return k, a.declaredKey(r, idOrName, write)
	} else if err != nil {
		return k, err
	}
	return k, a.authorize(r, authz.KeysRead, write, keyScope(k))
}

// declaredKey explains why a key the store lacks cannot be used here when
// the configuration file declares it (by id or name) and the principal may
// read it; otherwise the key is not found.
func (a *API) declaredKey(r *http.Request, idOrName string, write authz.Action) error {
	state(r).decided = true
	k := a.declared(r, idOrName)
	switch {
	case k == nil:
		return errNotFound
	case write == "":
		return &httpError{http.StatusConflict, "read_only", fmt.Sprintf("key '%s' is declared in the config file; the admin API shows and changes only the keys it created.", k.Name)}
	}
	return &httpError{http.StatusConflict, "read_only", fmt.Sprintf("key '%s' is declared in the config file; remove it there and reload.", k.Name)}
}

// declared finds the key the configuration file declares with this id or
// name, if the principal may read it.
func (a *API) declared(r *http.Request, idOrName string) *runtime.Key {
	for _, k := range a.opts.Snapshots.Load().Keys {
		if k.Source == "config" && (k.ID == idOrName || k.Name == idOrName) &&
			a.allowed(r, authz.KeysRead, authz.Scope{OrgID: k.OrgID, TeamID: k.TeamID}) {
			return k
		}
	}
	return nil
}

// keyRef resolves a key named by id or by name, stored or declared in the
// file, for reading (the ledger's key_id filter): it decides read and
// action on the key and returns its id.
func (a *API) keyRef(r *http.Request, idOrName string, action authz.Action) (string, error) {
	k, err := a.opts.Store.GetKey(r.Context(), idOrName)
	if errors.Is(err, store.ErrNotFound) {
		k, err = a.keyByName(r, idOrName)
	}
	if err == nil {
		return k.ID, a.authorize(r, authz.KeysRead, action, keyScope(k))
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	if ck := a.declared(r, idOrName); ck != nil {
		return ck.ID, a.authorize(r, authz.KeysRead, action, authz.Scope{OrgID: ck.OrgID, TeamID: ck.TeamID})
	}
	return "", a.missing(r, err)
}

// keyByName finds the one key named name that the principal may read.
// Names are unique per application, so several may match: then the id is
// needed.
func (a *API) keyByName(r *http.Request, name string) (store.KeyRecord, error) {
	keys, err := a.opts.Store.ListKeys(r.Context())
	if err != nil {
		return store.KeyRecord{}, err
	}
	var found []store.KeyRecord
	for _, k := range keys {
		if k.Name == name && a.allowed(r, authz.KeysRead, keyScope(k)) {
			found = append(found, k)
		}
	}
	switch len(found) {
	case 0:
		return store.KeyRecord{}, store.ErrNotFound
	case 1:
		return found[0], nil
	}
	return store.KeyRecord{}, &httpError{http.StatusConflict, "ambiguous_name",
		fmt.Sprintf("%d keys are named %q; use the key's id.", len(found), name)}
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) error {
	s, err := a.listScope(r)
	if err != nil {
		return err
	}
	if err := a.authorizeList(r, s); err != nil {
		return err
	}
	q := r.URL.Query()
	if q.Has("limit") || q.Has("cursor") {
		return a.keyPage(w, r, store.KeyFilter{OrgID: q.Get("org_id"), TeamID: q.Get("team_id"), AppID: q.Get("app_id")})
	}
	keys, err := a.opts.Store.ListKeysBy(r.Context(), store.KeyFilter{OrgID: q.Get("org_id"), TeamID: q.Get("team_id"), AppID: q.Get("app_id")})
	if err != nil {
		return err
	}
	out := []store.KeyRecord{}
	for _, k := range keys {
		if a.allowed(r, authz.KeysRead, keyScope(k)) {
			out = append(out, k)
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": out})
}

func (a *API) getKey(w http.ResponseWriter, r *http.Request) error {
	k, err := a.loadKey(r, r.PathValue("id"), "")
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(k.Version))
	return writeJSON(w, http.StatusOK, k)
}

func (a *API) createKey(w http.ResponseWriter, r *http.Request) error {
	var req KeyCreate
	if err := decodeBody(w, r, &req); err != nil {
		state(r).decided = true
		return err
	}
	now := time.Now().UTC()
	rec := store.KeyRecord{ID: newID("key_"), Name: req.Name, Models: req.Models, Endpoints: req.Endpoints,
		SourceCIDRs: req.SourceNetworks, Tags: req.Tags, ExpiresAt: req.ExpiresAt, CreatedAt: now, Version: 1}
	if req.AppID != "" {
		app, err := a.loadUnit(r, appKind, req.AppID, "")
		if err != nil {
			return fieldNotFound(err, "app_id")
		}
		rec.OrgID, rec.TeamID, rec.AppID = app.OrgID, app.TeamID, app.ID
	} else if !principal(r).Super {
		state(r).decided = true
		return &httpError{http.StatusBadRequest, "app_id_required", "Give app_id: keys belong to an application."}
	}
	if err := a.authorize(r, "", authz.KeysWrite, keyScope(rec)); err != nil {
		return err
	}
	if req.Name == "" || len(req.Name) > 64 {
		return &httpError{http.StatusBadRequest, "invalid_name", "name is required (at most 64 characters)."}
	}
	if err := a.checkScopes(req.Models, req.Endpoints, req.SourceNetworks, req.Tags); err != nil {
		return err
	}
	lim, err := req.LimitsBody.toStore()
	if err != nil {
		return err
	}
	if lim.RPM != 0 || lim.TPM != 0 || lim.MaxConcurrent != 0 || req.Budget != nil || len(req.Models) > 0 {
		if err := a.authorize(r, "", authz.LimitsWrite, keyScope(rec)); err != nil {
			return a.deniedKeyField(w, r, rec, "limits, budget or models")
		}
	}
	setKeyLimits(&rec, lim)
	key := auth.NewKey("live")
	h := auth.HashKey(key)
	rec.Hash, rec.Prefix = hex.EncodeToString(h[:]), auth.DisplayPrefix(key)
	entry := a.auditFor(w, r, "key.create", "key", rec.ID, rec.OrgID, nil, rec) // the record has the hash as json:"-"
	if err := a.opts.Store.CreateKeyAudited(r.Context(), rec, entry); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &httpError{http.StatusConflict, "name_taken", fmt.Sprintf("The application already has a key named %q.", req.Name)}
		}
		return err
	}
	if err := a.opts.Control.RefreshKeys(r.Context()); err != nil {
		return err
	}
	rec = normalizeKey(rec)
	w.Header().Set("ETag", etag(rec.Version))
	return writeJSON(w, http.StatusCreated, KeyCreated{Key: key, KeyRecord: rec,
		Note: "This is the only time the key is shown. Sluice stores only its hash."})
}

func normalizeKey(k store.KeyRecord) store.KeyRecord {
	for _, s := range []*[]string{&k.Models, &k.Endpoints, &k.SourceCIDRs, &k.Tags} {
		if *s == nil {
			*s = []string{}
		}
	}
	if k.AlertPercents == nil {
		k.AlertPercents = []int{}
	}
	return k
}

func (a *API) deniedKeyField(w http.ResponseWriter, r *http.Request, k store.KeyRecord, field string) error {
	a.writeAuditFor(w, r, "key.denied", "key", k.ID, k.OrgID, nil, map[string]any{"field": field, "reason": "role"})
	return &httpError{http.StatusForbidden, "forbidden", fmt.Sprintf("Your role does not allow setting %s on keys; a team administrator sets them.", field)}
}

func (a *API) updateKey(w http.ResponseWriter, r *http.Request) error {
	want, err := ifMatch(r)
	if err != nil {
		state(r).decided = true
		return err
	}
	old, err := a.loadKey(r, r.PathValue("id"), authz.KeysWrite)
	if err != nil {
		return err
	}
	var p KeyPatch
	if err := decodeBody(w, r, &p); err != nil {
		return err
	}
	if want != 0 && want != old.Version {
		return versionMismatch(old.Version)
	}
	if old.RevokedAt != nil {
		return &httpError{http.StatusConflict, "revoked", "The key is revoked."}
	}
	k := old
	if p.Name != nil {
		if *p.Name == "" || len(*p.Name) > 64 {
			return &httpError{http.StatusBadRequest, "invalid_name", "name is required (at most 64 characters)."}
		}
		k.Name = *p.Name
	}
	set := func(dst *[]string, src *[]string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&k.Models, p.Models)
	set(&k.Endpoints, p.Endpoints)
	set(&k.SourceCIDRs, p.SourceNetworks)
	set(&k.Tags, p.Tags)
	if p.ExpiresAt != nil {
		k.ExpiresAt = p.ExpiresAt
	}
	if err := a.checkScopes(k.Models, k.Endpoints, k.SourceCIDRs, k.Tags); err != nil {
		return err
	}
	lp := UnitPatch{RPM: p.RPM, TPM: p.TPM, MaxConcurrent: p.MaxConcurrent, Budget: []byte(p.Budget)}
	// Widening what a key may do (models, endpoints, networks) or spend is
	// for those who set limits; a developer cannot undo an admin's scope.
	if lp.touchesLimits() || p.Models != nil || p.Endpoints != nil || p.SourceNetworks != nil {
		if err := a.authorize(r, "", authz.LimitsWrite, keyScope(old)); err != nil {
			return a.deniedKeyField(w, r, old, "limits, budget, models, endpoints or source networks")
		}
		lim, err := lp.applyLimits(keyLimits(old))
		if err != nil {
			return err
		}
		setKeyLimits(&k, lim)
	}
	k.Version = old.Version + 1
	entry := a.auditFor(w, r, "key.update", "key", k.ID, k.OrgID, old, k)
	if err := a.opts.Store.UpdateKey(r.Context(), k, old.Version, entry); err != nil {
		return storeError(err, "key")
	}
	if err := a.opts.Control.RefreshKeys(r.Context()); err != nil {
		return err
	}
	k = normalizeKey(k)
	w.Header().Set("ETag", etag(k.Version))
	return writeJSON(w, http.StatusOK, k)
}

func (a *API) revokeKey(w http.ResponseWriter, r *http.Request) error {
	old, err := a.loadKey(r, r.PathValue("id"), authz.KeysWrite)
	if err != nil {
		return err
	}
	if old.RevokedAt == nil { // revoking twice changes nothing
		now := time.Now().UTC()
		after := old
		after.RevokedAt = &now
		entry := a.auditFor(w, r, "key.revoke", "key", old.ID, old.OrgID, old, after)
		if err := a.opts.Store.RevokeKeyAudited(r.Context(), old.ID, now, entry); err != nil {
			return storeError(err, "key")
		}
	}
	if err := a.opts.Control.RefreshKeys(r.Context()); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"revoked": old.ID})
}

// rotateKey gives a key a new value. The key keeps its id, limits, spend
// and history; the old value keeps working for the overlap window.
func (a *API) rotateKey(w http.ResponseWriter, r *http.Request) error {
	old, err := a.loadKey(r, r.PathValue("id"), authz.KeysWrite)
	if err != nil {
		return err
	}
	var req RotateRequest
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, &req); err != nil {
			return err
		}
	}
	overlap := time.Hour
	if req.OverlapSeconds != nil {
		if *req.OverlapSeconds < 0 || *req.OverlapSeconds > 30*86400 {
			return &httpError{http.StatusBadRequest, "invalid_overlap", "overlap_seconds must be from 0 to 2592000 (30 days)."}
		}
		overlap = time.Duration(*req.OverlapSeconds) * time.Second
	}
	if old.RevokedAt != nil {
		return &httpError{http.StatusConflict, "revoked", "The key is revoked."}
	}
	key := auth.NewKey("live")
	h := auth.HashKey(key)
	now := time.Now().UTC()
	k := old
	k.Hash, k.Prefix, k.Version = hex.EncodeToString(h[:]), auth.DisplayPrefix(key), old.Version+1
	prevUntil := now.Add(overlap)
	entry := a.auditFor(w, r, "key.rotate", "key", k.ID, k.OrgID,
		map[string]any{"prefix": old.Prefix, "version": old.Version},
		map[string]any{"prefix": k.Prefix, "version": k.Version, "previous_valid_until": prevUntil})
	if err := a.opts.Store.RotateKey(r.Context(), k.ID, k.Hash, k.Prefix, prevUntil, entry); err != nil {
		return storeError(err, "key")
	}
	if err := a.opts.Control.RefreshKeys(r.Context()); err != nil {
		return err
	}
	k = normalizeKey(k)
	w.Header().Set("ETag", etag(k.Version))
	return writeJSON(w, http.StatusOK, KeyCreated{Key: key, KeyRecord: k, Note: fmt.Sprintf(
		"This is the only time the new key is shown. The previous value keeps working until %s.", prevUntil.Format(time.RFC3339))})
}
