package admin

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"

	"github.com/sluicehq/sluice/internal/store"
)

// Every change made through the admin API writes one audit row: who (the
// actor), what (action, object), the object before and after with secrets
// shown only as "…last4", the request id and the client address. Provider
// changes write their row in the same transaction as the change; key and
// reload rows are written right after the change (a failure is logged).
// The API can list the log and nothing else.

// actorAdminToken is the actor of every change until Sluice has users.
const actorAdminToken = "admin-token"

// auditEntry is the audit row for a change made by request r; the request
// id is the one the server put on the response w before the handler ran.
func auditEntry(w http.ResponseWriter, r *http.Request, action, objectType, objectID string, before, after json.RawMessage) store.AuditEntry {
	ip := r.RemoteAddr
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	return store.AuditEntry{Actor: actorAdminToken, Tenant: Tenant, Action: action, ObjectType: objectType,
		ObjectID: objectID, Before: before, After: after, RequestID: w.Header().Get("X-Request-Id"), IP: ip}
}

// writeAudit appends an entry for a change already made. The change stands
// whether or not the row is written, so a failure is logged, not returned.
func (a *API) writeAudit(w http.ResponseWriter, r *http.Request, action, objectType, objectID string, before, after any) {
	e := auditEntry(w, r, action, objectType, objectID, mustJSON(before), mustJSON(after))
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

func (a *API) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.AuditFilter{Limit: 100, ObjectType: q.Get("object_type"), ObjectID: q.Get("object_id")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return &httpError{http.StatusBadRequest, "invalid_limit", "limit must be an integer from 1 to 1000."}
		}
		f.Limit = n
	}
	entries, err := a.opts.Store.ListAudit(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": entries})
}
