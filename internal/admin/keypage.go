package admin

import (
	"net/http"
	"strconv"

	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/openapi"
	"github.com/sluicehq/sluice/internal/store"
)

// GET /admin/v1/keys with limit or cursor answers one page of keys in the
// order of name then id, keyset-paginated like the ledger (next_cursor),
// reading only the page's rows; without either it answers every key, as
// it always has.

const keyCursorTag = "k1"

// keyPageParams are the paging parameters of the key list.
var keyPageParams = []openapi.Param{
	q("limit", "integer", "1-1000: answer one page of keys by name then id, with next_cursor."),
	q("cursor", "string", "The next_cursor of the previous page."),
}

func (a *API) keyPage(w http.ResponseWriter, r *http.Request, f store.KeyFilter) error {
	q := r.URL.Query()
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return &httpError{http.StatusBadRequest, "invalid_limit", "limit must be an integer from 1 to 1000."}
		}
		limit = n
	}
	var after *store.KeyCursor
	if s := q.Get("cursor"); s != "" {
		parts, err := decodeCursor(s, keyCursorTag, 2)
		if err != nil {
			return err
		}
		after = &store.KeyCursor{Name: parts[0], ID: parts[1]}
	}
	// One key more than the page tells whether another page follows.
	keys, err := a.opts.Store.KeyPage(r.Context(), f, after, limit+1)
	if err != nil {
		return err
	}
	next := ""
	if len(keys) > limit {
		keys = keys[:limit]
		last := keys[limit-1]
		next = encodeCursor(keyCursorTag, last.Name, last.ID)
	}
	out := []store.KeyRecord{}
	for _, k := range keys {
		if a.allowed(r, authz.KeysRead, keyScope(k)) {
			out = append(out, k)
		}
	}
	return writeJSON(w, http.StatusOK, page[store.KeyRecord]{Object: "list", Data: out, NextCursor: next})
}
