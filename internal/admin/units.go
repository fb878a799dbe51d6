package admin

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/jsonlimit"
	"github.com/sluicehq/sluice/internal/store"
)

// Organisations, teams and applications share one shape and one set of
// handlers. Who may do what:
//   - reading needs the kind's read action in the unit's own scope;
//   - renaming needs the write action in the unit's own scope;
//   - creating and deleting need the write action in the parent's scope
//     (organisations: the platform, so only the super-admin);
//   - limits and budgets need LimitsWrite in the parent's scope, so that
//     nobody raises their own level's budget.
// Units declared in the configuration file are read-only here.

// kindSpec describes one kind of unit.
type kindSpec struct {
	kind, noun, idPrefix string
	read, write          authz.Action
}

var (
	orgKind  = kindSpec{store.KindOrg, "organisation", "org_", authz.OrgsRead, authz.OrgsWrite}
	teamKind = kindSpec{store.KindTeam, "team", "team_", authz.TeamsRead, authz.TeamsWrite}
	appKind  = kindSpec{store.KindApp, "application", "app_", authz.AppsRead, authz.AppsWrite}
)

// scopeOf is where a unit lives.
func scopeOf(u store.Unit) authz.Scope {
	switch u.Kind {
	case store.KindOrg:
		return authz.Scope{OrgID: u.ID}
	case store.KindTeam:
		return authz.Scope{OrgID: u.OrgID, TeamID: u.ID}
	}
	return authz.Scope{OrgID: u.OrgID, TeamID: u.TeamID}
}

// parentScope is where a unit's creation, deletion and limits are decided.
func parentScope(u store.Unit) authz.Scope {
	switch u.Kind {
	case store.KindOrg:
		return authz.Scope{}
	case store.KindTeam:
		return authz.Scope{OrgID: u.OrgID}
	}
	return authz.Scope{OrgID: u.OrgID, TeamID: u.TeamID}
}

// BudgetBody is a budget in an API body.
type BudgetBody struct {
	AmountUSD     float64 `json:"amount_usd" doc:"Budget in US dollars per period."`
	Period        string  `json:"period,omitempty" enum:"daily,weekly,monthly,total" doc:"Default monthly."`
	ReserveUSD    float64 `json:"reserve_usd,omitempty" doc:"Reserved per request instead of the computed worst case."`
	AlertPercents []int   `json:"alert_percents,omitempty" doc:"Shares of the budget whose crossing is recorded once per period."`
}

// LimitsBody are limits in an API body (zero: unlimited).
type LimitsBody struct {
	RPM           int64       `json:"rpm,omitempty"`
	TPM           int64       `json:"tpm,omitempty"`
	MaxConcurrent int64       `json:"max_concurrent,omitempty"`
	Budget        *BudgetBody `json:"budget,omitempty"`
}

func limitsView(l store.Limits) LimitsBody {
	v := LimitsBody{RPM: l.RPM, TPM: l.TPM, MaxConcurrent: l.MaxConcurrent}
	if l.BudgetMicros > 0 {
		v.Budget = &BudgetBody{AmountUSD: float64(l.BudgetMicros) / 1e6, Period: l.BudgetPeriod,
			ReserveUSD: float64(l.ReserveMicros) / 1e6, AlertPercents: l.AlertPercents}
	}
	return v
}

func (b LimitsBody) toStore() (store.Limits, error) {
	if b.RPM < 0 || b.TPM < 0 || b.MaxConcurrent < 0 {
		return store.Limits{}, &httpError{http.StatusBadRequest, "invalid_limits", "rpm, tpm and max_concurrent must not be negative."}
	}
	l := store.Limits{RPM: b.RPM, TPM: b.TPM, MaxConcurrent: b.MaxConcurrent}
	if bb := b.Budget; bb != nil {
		switch bb.Period {
		case "":
			bb.Period = "monthly"
		case "daily", "weekly", "monthly", "total":
		default:
			return l, &httpError{http.StatusBadRequest, "invalid_budget", "budget.period must be daily, weekly, monthly or total."}
		}
		if !(bb.AmountUSD > 0 && bb.AmountUSD <= 1e9) || bb.ReserveUSD < 0 || bb.ReserveUSD > 1e9 {
			return l, &httpError{http.StatusBadRequest, "invalid_budget", "budget.amount_usd must be positive and reserve_usd not negative."}
		}
		if len(bb.AlertPercents) > 8 {
			return l, &httpError{http.StatusBadRequest, "invalid_budget", "budget.alert_percents: at most 8 thresholds."}
		}
		for _, p := range bb.AlertPercents {
			if p < 1 || p > 1000 {
				return l, &httpError{http.StatusBadRequest, "invalid_budget", "budget.alert_percents must be percentages from 1 to 1000."}
			}
		}
		l.BudgetMicros, l.BudgetPeriod = int64(math.Round(bb.AmountUSD*1e6)), bb.Period
		l.ReserveMicros, l.AlertPercents = int64(math.Round(bb.ReserveUSD*1e6)), bb.AlertPercents
	}
	return l, nil
}

// UnitView is an organisation, team or application as the API shows it.
type UnitView struct {
	ID          string     `json:"id"`
	Object      string     `json:"object" enum:"organisation,team,application"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	OrgID       string     `json:"org_id,omitempty"`
	TeamID      string     `json:"team_id,omitempty"`
	Source      string     `json:"source" enum:"api,config"`
	ReadOnly    bool       `json:"read_only"`
	Limits      LimitsBody `json:"limits"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	Version     int64      `json:"version"`
}

func unitView(k kindSpec, u store.Unit) UnitView {
	v := UnitView{ID: u.ID, Object: k.noun, Name: u.Name, Description: u.Description, Source: u.Source,
		ReadOnly: u.Source == "config", Limits: limitsView(u.Limits), CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
		Version: u.Version}
	if u.Kind != store.KindOrg {
		v.OrgID = u.OrgID
	}
	if u.Kind == store.KindApp {
		v.TeamID = u.TeamID
	}
	return v
}

// UnitCreate is the body that creates a unit.
type UnitCreate struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	OrgID       string `json:"org_id,omitempty" doc:"Teams: the organisation."`
	TeamID      string `json:"team_id,omitempty" doc:"Applications: the team."`
	LimitsBody
}

// UnitPatch changes a unit; absent fields stay. budget: null removes the
// budget.
type UnitPatch struct {
	Name          *string         `json:"name,omitempty"`
	Description   *string         `json:"description,omitempty"`
	RPM           *int64          `json:"rpm,omitempty"`
	TPM           *int64          `json:"tpm,omitempty"`
	MaxConcurrent *int64          `json:"max_concurrent,omitempty"`
	Budget        json.RawMessage `json:"budget,omitempty" doc:"A budget object, or null to remove it."`
}

func (p *UnitPatch) touchesLimits() bool {
	return p.RPM != nil || p.TPM != nil || p.MaxConcurrent != nil || p.Budget != nil
}

// apply sets the patched limits on l.
func (p *UnitPatch) applyLimits(l store.Limits) (store.Limits, error) {
	b := limitsView(l)
	if p.RPM != nil {
		b.RPM = *p.RPM
	}
	if p.TPM != nil {
		b.TPM = *p.TPM
	}
	if p.MaxConcurrent != nil {
		b.MaxConcurrent = *p.MaxConcurrent
	}
	if p.Budget != nil {
		b.Budget = nil
		if !bytes.Equal(bytes.TrimSpace(p.Budget), []byte("null")) {
			b.Budget = &BudgetBody{}
			dec := json.NewDecoder(bytes.NewReader(p.Budget))
			dec.DisallowUnknownFields()
			if err := dec.Decode(b.Budget); err != nil {
				return l, &httpError{http.StatusBadRequest, "invalid_budget", "budget: " + err.Error()}
			}
		}
	}
	return b.toStore()
}

// decodeBody decodes a JSON body strictly: unknown fields (an id, a
// version, spend, another team) are refused, not ignored.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		return &httpError{http.StatusBadRequest, "invalid_body", "The body must be a JSON object of at most 64 KiB."}
	}
	// The same bound as the data plane's: no recursive parse of deeper JSON.
	if err := jsonlimit.Check(body, jsonlimit.MaxDepth); err != nil {
		return &httpError{http.StatusBadRequest, "invalid_body", "The body must be a JSON object: " + err.Error()}
	}
	if err := strictFields(body, v); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &httpError{http.StatusBadRequest, "invalid_body", "The body must be a JSON object with known fields: " + err.Error()}
	}
	if dec.More() {
		return &httpError{http.StatusBadRequest, "invalid_body", "The body must be one JSON object."}
	}
	return nil
}

func newID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// loadUnit reads a unit and decides read (and write, when given) on it.
func (a *API) loadUnit(r *http.Request, k kindSpec, id string, write authz.Action) (store.Unit, error) {
	u, err := a.opts.Store.GetUnit(r.Context(), k.kind, id)
	if errors.Is(err, store.ErrNotFound) {
		state(r).decided = true
		return u, errNotFound
	} else if err != nil {
		return u, err
	}
	return u, a.authorize(r, k.read, write, scopeOf(u))
}

func (a *API) listUnits(k kindSpec) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		s, err := a.listScope(r)
		if err != nil {
			return err
		}
		if err := a.authorizeList(r, s); err != nil {
			return err
		}
		f := store.UnitFilter{OrgID: r.URL.Query().Get("org_id"), TeamID: r.URL.Query().Get("team_id")}
		if paged(r) {
			return a.unitPage(w, r, k, f)
		}
		units, err := a.opts.Store.ListUnits(r.Context(), k.kind, f)
		if err != nil {
			return err
		}
		out := []UnitView{}
		for _, u := range units {
			if a.allowed(r, k.read, scopeOf(u)) {
				out = append(out, unitView(k, u))
			}
		}
		return writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": out})
	}
}

func (a *API) getUnit(k kindSpec) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		u, err := a.loadUnit(r, k, r.PathValue("id"), "")
		if err != nil {
			return err
		}
		w.Header().Set("ETag", etag(u.Version))
		return writeJSON(w, http.StatusOK, unitView(k, u))
	}
}

func (a *API) createUnit(k kindSpec) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req UnitCreate
		if err := decodeBody(w, r, &req); err != nil {
			state(r).decided = true
			return err
		}
		now := time.Now().UTC()
		u := store.Unit{Kind: k.kind, ID: newID(k.idPrefix), Name: req.Name, Description: req.Description,
			Source: "api", CreatedAt: now, UpdatedAt: now, Version: 1}
		// Find the parent and decide creation in its scope.
		switch k.kind {
		case store.KindOrg:
			u.OrgID = u.ID
		case store.KindTeam:
			org, err := a.loadUnit(r, orgKind, req.OrgID, "")
			if err != nil {
				return fieldNotFound(err, "org_id")
			}
			u.OrgID, u.TeamID = org.ID, u.ID
		case store.KindApp:
			team, err := a.loadUnit(r, teamKind, req.TeamID, "")
			if err != nil {
				return fieldNotFound(err, "team_id")
			}
			u.OrgID, u.TeamID = team.OrgID, team.ID
		}
		if err := a.authorize(r, "", k.write, parentScope(u)); err != nil {
			return err
		}
		switch {
		case k.kind == store.KindOrg && (req.OrgID != "" || req.TeamID != ""):
			return &httpError{http.StatusBadRequest, "invalid_body", "An organisation has no org_id or team_id."}
		case k.kind == store.KindTeam && req.TeamID != "":
			return &httpError{http.StatusBadRequest, "invalid_body", "Give org_id: a team has no team_id."}
		case k.kind == store.KindApp && req.OrgID != "":
			return &httpError{http.StatusBadRequest, "invalid_body", "Give team_id only: the team names the organisation."}
		}
		if !validName(req.Name) {
			return &httpError{http.StatusBadRequest, "invalid_name", "name must be 1-64 characters of letters, digits, '-', '_' or '.'."}
		}
		lim, err := req.LimitsBody.toStore()
		if err != nil {
			return err
		}
		if lim.RPM != 0 || lim.TPM != 0 || lim.MaxConcurrent != 0 || req.Budget != nil {
			if err := a.authorize(r, "", authz.LimitsWrite, parentScope(u)); err != nil {
				return a.deniedField(w, r, k, u, "limits", err)
			}
		}
		u.Limits = lim
		entry := a.auditFor(w, r, k.kind+".create", k.kind, u.ID, u.OrgID, nil, unitView(k, u))
		if err := a.opts.Store.CreateUnit(r.Context(), u, entry); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return &httpError{http.StatusConflict, "name_taken", fmt.Sprintf("A %s named %q already exists there.", k.noun, u.Name)}
			}
			return err
		}
		if err := a.opts.Control.RefreshKeys(r.Context()); err != nil {
			return err
		}
		w.Header().Set("ETag", etag(u.Version))
		return writeJSON(w, http.StatusCreated, unitView(k, u))
	}
}

// fieldNotFound turns a parent's 404 into a 400 naming the field (the
// same answer whether the parent is missing or another tenant's).
func fieldNotFound(err error, field string) error {
	if err == errNotFound {
		return &httpError{http.StatusNotFound, "not_found", fmt.Sprintf("No such object: %s.", field)}
	}
	return err
}

func (a *API) updateUnit(k kindSpec) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		want, err := ifMatch(r)
		if err != nil {
			state(r).decided = true
			return err
		}
		old, err := a.loadUnit(r, k, r.PathValue("id"), k.write)
		if err != nil {
			return err
		}
		var p UnitPatch
		if err := decodeBody(w, r, &p); err != nil {
			return err
		}
		if want != 0 && want != old.Version {
			return versionMismatch(old.Version)
		}
		if old.Source == "config" {
			return readOnlyUnit(k)
		}
		u := old
		if p.Name != nil {
			if !validName(*p.Name) {
				return &httpError{http.StatusBadRequest, "invalid_name", "name must be 1-64 characters of letters, digits, '-', '_' or '.'."}
			}
			u.Name = *p.Name
		}
		if p.Description != nil {
			u.Description = *p.Description
		}
		if p.touchesLimits() {
			if err := a.authorize(r, "", authz.LimitsWrite, parentScope(old)); err != nil {
				return a.deniedField(w, r, k, old, "limits", err)
			}
			if u.Limits, err = p.applyLimits(old.Limits); err != nil {
				return err
			}
		}
		u.UpdatedAt = time.Now().UTC()
		u.Version = old.Version + 1
		entry := a.auditFor(w, r, k.kind+".update", k.kind, u.ID, u.OrgID, unitView(k, old), unitView(k, u))
		if err := a.opts.Store.UpdateUnit(r.Context(), u, old.Version, entry); err != nil {
			return storeError(err, k.noun)
		}
		if err := a.opts.Control.RefreshKeys(r.Context()); err != nil {
			return err
		}
		w.Header().Set("ETag", etag(u.Version))
		return writeJSON(w, http.StatusOK, unitView(k, u))
	}
}

func (a *API) deleteUnit(k kindSpec) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		want, err := ifMatch(r)
		if err != nil {
			state(r).decided = true
			return err
		}
		old, err := a.loadUnit(r, k, r.PathValue("id"), "")
		if err != nil {
			return err
		}
		if err := a.authorize(r, "", k.write, parentScope(old)); err != nil {
			return err
		}
		if want != 0 && want != old.Version {
			return versionMismatch(old.Version)
		}
		if old.Source == "config" {
			return readOnlyUnit(k)
		}
		entry := a.auditFor(w, r, k.kind+".delete", k.kind, old.ID, old.OrgID, unitView(k, old), nil)
		if err := a.opts.Store.DeleteUnit(r.Context(), k.kind, old.ID, old.Version, entry); err != nil {
			return storeError(err, k.noun)
		}
		if err := a.opts.Control.RefreshKeys(r.Context()); err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string]any{"deleted": old.ID})
	}
}

func readOnlyUnit(k kindSpec) error {
	return &httpError{http.StatusConflict, "read_only", fmt.Sprintf("This %s is declared in the configuration file; change it there.", k.noun)}
}

func versionMismatch(current int64) error {
	return &httpError{http.StatusPreconditionFailed, "version_mismatch", fmt.Sprintf("The object changed since it was read: its ETag is now %s.", etag(current))}
}

// storeError maps the store's errors to answers.
func storeError(err error, noun string) error {
	switch {
	case errors.Is(err, store.ErrVersionMismatch):
		return &httpError{http.StatusPreconditionFailed, "version_mismatch", fmt.Sprintf("The %s changed since it was read; read it again.", noun)}
	case errors.Is(err, store.ErrConflict):
		return &httpError{http.StatusConflict, "name_taken", fmt.Sprintf("A %s with that name already exists there.", noun)}
	case errors.Is(err, store.ErrNotFound):
		return errNotFound
	case errors.Is(err, store.ErrHasChildren):
		return &httpError{http.StatusConflict, "has_children", fmt.Sprintf("The %s still has teams, applications or active keys; remove them first.", noun)}
	}
	return err
}

// deniedField records a refused attempt to set a protected field (limits,
// budgets, models) and returns the refusal: mass assignment leaves the
// value unchanged and an audit row behind.
func (a *API) deniedField(w http.ResponseWriter, r *http.Request, k kindSpec, u store.Unit, field string, err error) error {
	a.writeAuditFor(w, r, k.kind+".denied", k.kind, u.ID, u.OrgID, nil, map[string]any{"field": field, "reason": "role"})
	return &httpError{http.StatusForbidden, "forbidden", fmt.Sprintf("Your role does not allow setting %s here; an administrator of the level above sets them.", field)}
}

func validName(s string) bool { return config.ValidName(s) }
