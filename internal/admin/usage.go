package admin

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/store"
)

// Usage, requests and budget alerts are read from the ledger, filtered in
// the query to the narrowest unit the caller names (key, application, team
// or organisation), which is where UsageRead is decided. Only the
// super-admin reads them across every organisation.

// ledgerScope decides the route's action (UsageRead, from its routes.go
// row) for the filter's narrowest unit and returns the filter completed
// with that unit's parents.
func (a *API) ledgerScope(r *http.Request, f *store.UsageFilter) error {
	ctx, action := r.Context(), state(r).action
	switch {
	case f.KeyID != "": // by id or name, stored or declared in the file
		id, err := a.keyRef(r, f.KeyID, action)
		f.KeyID = id
		return err
	case f.AppID != "":
		u, err := a.opts.Store.GetUnit(ctx, store.KindApp, f.AppID)
		if err != nil {
			return a.missing(r, err)
		}
		f.OrgID, f.TeamID = u.OrgID, u.TeamID // the ledger's unit index starts with them
		return a.authorize(r, authz.AppsRead, action, scopeOf(u))
	case f.TeamID != "":
		u, err := a.opts.Store.GetUnit(ctx, store.KindTeam, f.TeamID)
		if err != nil {
			return a.missing(r, err)
		}
		f.OrgID = u.OrgID
		return a.authorize(r, authz.TeamsRead, action, scopeOf(u))
	case f.OrgID != "":
		return a.authorize(r, authz.OrgsRead, action, authz.Scope{OrgID: f.OrgID})
	}
	if !principal(r).Super {
		state(r).decided = true
		return &httpError{http.StatusBadRequest, "scope_required", "Give org_id, team_id, app_id or key_id."}
	}
	return a.authorize(r, "", action, authz.Scope{})
}

// readOrg is the action that makes an organisation visible: the platform
// scope (no organisation) has none.
func readOrg(orgID string) authz.Action {
	if orgID == "" {
		return ""
	}
	return authz.OrgsRead
}

func (a *API) missing(r *http.Request, err error) error {
	state(r).decided = true
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	return err
}

func parseTime(q, name string, def time.Time) (time.Time, error) {
	if q == "" {
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339, q); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, q); err == nil {
		return t, nil
	}
	return def, &httpError{http.StatusBadRequest, "invalid_" + name, name + " must be a date (2026-11-01) or an RFC 3339 time."}
}

// UsageAnswer is the answer of GET /admin/v1/usage.
type UsageAnswer struct {
	Object  string           `json:"object" enum:"usage"`
	From    time.Time        `json:"from"`
	To      *time.Time       `json:"to,omitempty"`
	GroupBy string           `json:"group_by,omitempty"`
	Data    []store.UsageRow `json:"data"`
	Total   store.UsageRow   `json:"total"`
}

func (a *API) usage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	now := time.Now().UTC()
	f := store.UsageFilter{OrgID: q.Get("org_id"), TeamID: q.Get("team_id"), AppID: q.Get("app_id"), KeyID: q.Get("key_id"),
		GroupBy: q.Get("group_by")}
	if err := a.ledgerScope(r, &f); err != nil {
		return err
	}
	var err error
	if f.From, err = parseTime(q.Get("from"), "from", time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)); err != nil {
		return err
	}
	if f.To, err = parseTime(q.Get("to"), "to", time.Time{}); err != nil {
		return err
	}
	switch f.GroupBy {
	case "", "model":
	case "key", "app", "team", "org":
		f.GroupBy += "_id"
	case "key_id", "app_id", "team_id", "org_id":
	default:
		return &httpError{http.StatusBadRequest, "invalid_group_by", "group_by must be key, app, team, org or model."}
	}
	rows, err := a.opts.Store.Usage(r.Context(), f)
	if err != nil {
		return err
	}
	ans := UsageAnswer{Object: "usage", From: f.From, GroupBy: f.GroupBy, Data: rows}
	if !f.To.IsZero() {
		ans.To = &f.To
	}
	for _, row := range rows {
		ans.Total.Requests += row.Requests
		ans.Total.InputTokens += row.InputTokens
		ans.Total.OutputTokens += row.OutputTokens
		ans.Total.CostMicros += row.CostMicros
	}
	ans.Total.Group = "total"
	return writeJSON(w, http.StatusOK, ans)
}

func (a *API) listRequests(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	uf := store.UsageFilter{OrgID: q.Get("org_id"), TeamID: q.Get("team_id"), AppID: q.Get("app_id"), KeyID: q.Get("key_id")}
	if err := a.ledgerScope(r, &uf); err != nil {
		return err
	}
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return &httpError{http.StatusBadRequest, "invalid_limit", "limit must be an integer from 1 to 1000."}
		}
		limit = n
	}
	before, err := parseRequestCursor(q.Get("cursor"))
	if err != nil {
		return err
	}
	// One entry more than the page tells whether another page follows.
	entries, err := a.opts.Store.ListRequests(r.Context(), store.RequestFilter{Limit: limit + 1, KeyID: uf.KeyID,
		OrgID: uf.OrgID, TeamID: uf.TeamID, AppID: uf.AppID, Before: before})
	if err != nil {
		return err
	}
	next := ""
	if len(entries) > limit {
		entries = entries[:limit]
		last := entries[limit-1]
		next = requestCursor(store.RequestCursor{TS: last.Time.UnixMicro(), RequestID: last.RequestID})
	}
	out := make([]entryJSON, len(entries))
	for i, e := range entries {
		out[i] = entryJSON{Entry: e, LatencyMS: ms(e.Latency), TTFTMS: ms(e.TTFT), Attempts: make([]attemptJSON, len(e.Attempts))}
		for j, at := range e.Attempts {
			out[i].Attempts[j] = attemptJSON{Attempt: at, LatencyMS: ms(at.Latency), TTFTMS: ms(at.TTFT)}
		}
	}
	return writeJSON(w, http.StatusOK, page[entryJSON]{Object: "list", Data: out, NextCursor: next})
}

// listBudgetAlerts shows the budget thresholds crossed by an organisation's
// keys and units (all of them for the super-admin without org_id).
func (a *API) listBudgetAlerts(w http.ResponseWriter, r *http.Request) error {
	orgID := r.URL.Query().Get("org_id")
	if orgID == "" && !principal(r).Super {
		state(r).decided = true
		return &httpError{http.StatusBadRequest, "org_id_required", "Give org_id."}
	}
	if err := a.authorize(r, readOrg(orgID), state(r).action, authz.Scope{OrgID: orgID}); err != nil {
		return err
	}
	if paged(r) {
		return a.budgetAlertPage(w, r, orgID)
	}
	var subjects []string
	if orgID != "" {
		subjects = []string{orgID}
		for _, kind := range []string{store.KindTeam, store.KindApp} {
			us, err := a.opts.Store.ListUnits(r.Context(), kind, store.UnitFilter{OrgID: orgID})
			if err != nil {
				return err
			}
			for _, u := range us {
				subjects = append(subjects, u.ID)
			}
		}
		keys, err := a.opts.Store.ListKeysBy(r.Context(), store.KeyFilter{OrgID: orgID})
		if err != nil {
			return err
		}
		for _, k := range keys {
			subjects = append(subjects, k.ID)
		}
	}
	alerts, err := a.opts.Store.ListBudgetAlerts(r.Context(), subjects, 500)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": alerts})
}
