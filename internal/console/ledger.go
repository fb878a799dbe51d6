package console

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/sluicehq/sluice/internal/ledger"
	"github.com/sluicehq/sluice/internal/store"
)

// The ledger explorer: the newest entries for a key, application, team or
// organisation (filtered by the API, in the store query), narrowed by model
// and status on the page; each row opens to its attempts.

type ledgerData struct {
	Entries  []entry
	Filter   url.Values
	Limit    int
	Limits   []int
	Statuses []string
	Fetched  int
	Older    string // the link to the next, older page ("" on the last)
	Paged    bool   // this is not the first page
}

// olderLink is the page's own address with cursor set to next: the link
// to the next, older page, keeping the filters. "" when next is.
func olderLink(path string, in url.Values, next string) string {
	if next == "" {
		return ""
	}
	q := url.Values{}
	for k, v := range in {
		q[k] = v
	}
	q.Set("cursor", next)
	return path + "?" + q.Encode()
}

var ledgerLimits = []int{25, 50, 100, 200}

func (c *Console) ledger(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Ledger"
	in := r.URL.Query()
	q := scopeQuery(p)
	for _, k := range []string{"key_id", "app_id", "team_id"} {
		if v := in.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	d := ledgerData{Filter: in, Limit: 50, Limits: ledgerLimits,
		Statuses: []string{string(ledger.StatusOK), string(ledger.StatusClientError), string(ledger.StatusUpstreamError),
			string(ledger.StatusCancelled), string(ledger.StatusTruncated), string(ledger.StatusLimited), string(ledger.StatusBlocked)}}
	if n, err := strconv.Atoi(in.Get("limit")); err == nil && slices.Contains(ledgerLimits, n) {
		d.Limit = n
	}
	q.Set("limit", strconv.Itoa(d.Limit))
	if v := in.Get("cursor"); v != "" {
		q.Set("cursor", v)
		d.Paged = true
	}
	var list struct {
		Data       []entry `json:"data"`
		NextCursor string  `json:"next_cursor"`
	}
	if err := c.api(r, u, http.MethodGet, "/admin/v1/requests", q, nil, &list); err != nil {
		return err
	}
	d.Fetched = len(list.Data)
	d.Older = olderLink("/console/ledger", in, list.NextCursor)
	model, status := in.Get("model"), in.Get("status")
	for _, e := range list.Data {
		if (model == "" || e.Model == model) && (status == "" || string(e.Status) == status) {
			d.Entries = append(d.Entries, e)
		}
	}
	p.Data = d
	return nil
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Audit log"
	q := scopeQuery(p)
	in := r.URL.Query()
	for _, k := range []string{"object_type", "object_id"} {
		if v := in.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	q.Set("limit", "200")
	if v := in.Get("cursor"); v != "" {
		q.Set("cursor", v)
	}
	var list struct {
		Data       []store.AuditEntry `json:"data"`
		NextCursor string             `json:"next_cursor"`
	}
	if err := c.api(r, u, http.MethodGet, "/admin/v1/audit", q, nil, &list); err != nil {
		return err
	}
	p.Data = map[string]any{"Entries": list.Data, "Filter": in, "Paged": in.Get("cursor") != "",
		"Older": olderLink("/console/audit", in, list.NextCursor)}
	return nil
}
