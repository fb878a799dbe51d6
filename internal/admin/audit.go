package admin

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/store"
)

// Every change made through the admin API writes one audit row: who (the
// actor), what (action, object), the object before and after with secrets
// shown only as "…last4", the request id and the client address. Changes
// to providers, organisations, teams, applications, keys, users, role
// bindings and tokens write their row in the same transaction as the
// change; reload rows are written right after it (a failure is logged).
// The API can list the log and nothing else.

// auditEntry is the audit row for a platform change made by request r; the
// request id is the one the server put on the response w before the
// handler ran.
func auditEntry(w http.ResponseWriter, r *http.Request, action, objectType, objectID string, before, after json.RawMessage) store.AuditEntry {
	return store.AuditEntry{Actor: principal(r).Name(), Tenant: "", Action: action, ObjectType: objectType,
		ObjectID: objectID, Before: before, After: after, RequestID: w.Header().Get("X-Request-Id"), IP: clientIP(r)}
}

// auditFor is the audit row for a change in an organisation (tenant).
func (a *API) auditFor(w http.ResponseWriter, r *http.Request, action, objectType, objectID, tenant string, before, after any) store.AuditEntry {
	e := auditEntry(w, r, action, objectType, objectID, mustJSON(before), mustJSON(after))
	e.Tenant = tenant
	return e
}

// writeAudit appends an entry for a platform change already made. The
// change stands whether or not the row is written, so a failure is logged,
// not returned.
func (a *API) writeAudit(w http.ResponseWriter, r *http.Request, action, objectType, objectID string, before, after any) {
	a.writeAuditFor(w, r, action, objectType, objectID, "", before, after)
}

// writeAuditFor appends an entry for something already done in tenant.
func (a *API) writeAuditFor(w http.ResponseWriter, r *http.Request, action, objectType, objectID, tenant string, before, after any) {
	e := a.auditFor(w, r, action, objectType, objectID, tenant, before, after)
	if err := a.opts.Store.InsertAudit(r.Context(), e); err != nil {
		a.opts.Logger.Error("audit row not written", "action", action, "object_id", objectID, "err", err)
	}
}

func mustJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// listAudit shows the audit log: all of it to the super-admin, one
// organisation's rows (org_id, required) to its auditors, admins and owners.
func (a *API) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.AuditFilter{Limit: 100, ObjectType: q.Get("object_type"), ObjectID: q.Get("object_id"), Tenant: q.Get("org_id")}
	if f.Tenant == "" && !principal(r).Super {
		state(r).decided = true
		return &httpError{http.StatusBadRequest, "org_id_required", "Give org_id: the organisation whose audit log to read."}
	}
	if err := a.authorize(r, readOrg(f.Tenant), state(r).action, authz.Scope{OrgID: f.Tenant}); err != nil {
		return err
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return &httpError{http.StatusBadRequest, "invalid_limit", "limit must be an integer from 1 to 1000."}
		}
		f.Limit = n
	}
	var err error
	if f.BeforeID, err = parseAuditCursor(q.Get("cursor")); err != nil {
		return err
	}
	limit := f.Limit
	f.Limit++ // one entry more than the page tells whether another page follows
	entries, err := a.opts.Store.ListAudit(r.Context(), f)
	if err != nil {
		return err
	}
	next := ""
	if len(entries) > limit {
		entries = entries[:limit]
		next = auditCursor(entries[limit-1].ID)
	}
	return writeJSON(w, http.StatusOK, page[store.AuditEntry]{Object: "list", Data: entries, NextCursor: next})
}
