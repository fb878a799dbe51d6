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
	// Rows are read within the principal's reach (listpage.go), in batches
	// filtered by what the principal may read until the page and one more
	// visible key are found, or the keys end: the cursor names the last key
	// shown, never one the caller cannot see.
	reach := a.reach(r, authz.KeysRead)
	out := []store.KeyRecord{}
	next := ""
	for batch := limit + 1; ; {
		keys, err := a.opts.Store.KeyPage(r.Context(), f, reach, after, batch)
		if err != nil {
			return err
		}
		for _, k := range keys {
			after = &store.KeyCursor{Name: k.Name, ID: k.ID}
			if !a.allowed(r, authz.KeysRead, keyScope(k)) {
				continue
			}
			if len(out) == limit {
				last := out[limit-1]
				next = encodeCursor(keyCursorTag, last.Name, last.ID)
				break
			}
			out = append(out, k)
		}
		if next != "" || len(keys) < batch {
			break
		}
	}
	return writeJSON(w, http.StatusOK, page[store.KeyRecord]{Object: "list", Data: out, NextCursor: next})
}
