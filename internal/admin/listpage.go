package admin

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/openapi"
	"github.com/sluicehq/sluice/internal/store"
)

// The lists that grow with use (organisations, teams, applications, users,
// role bindings, budget alerts, captures) answer one page with limit or
// cursor, keyset-paginated like the keys: next_cursor names the last row
// shown. Without either they answer the whole list, as they always have.
//
// A page's store query is narrowed to the organisations and teams where
// the principal may read (authz.Policy.Visible), so it reads the page's
// rows and the one after; each row is then decided as in the whole list
// (Allowed), so a page never shows a row the whole list would not. Only
// when a deny rule hides rows of a visible scope does a page read another
// batch.

// listPageParams are the paging parameters of these lists.
var listPageParams = []openapi.Param{
	q("limit", "integer", "1-1000: answer one page (default 100 with cursor), with next_cursor when more follow."),
	q("cursor", "string", "The next_cursor of the previous page."),
}

// Cursor tags: one per list, so that one list's cursor is refused by another.
const (
	orgCursorTag     = "uo1"
	teamCursorTag    = "ut1"
	appCursorTag     = "ua1"
	userCursorTag    = "us1"
	bindingCursorTag = "rb1"
	alertCursorTag   = "ba1"
	captureCursorTag = "c1"
)

// paged reports whether a list request asks for one page.
func paged(r *http.Request) bool {
	q := r.URL.Query()
	return q.Has("limit") || q.Has("cursor")
}

// keysetPage reads rows with read (which continues after the last row it
// returned) in batches of limit+1 and keeps those show accepts, until it
// has limit of them and knows one more follows, or the rows end. It
// returns the page and whether more rows follow it.
func keysetPage[T any](limit int, read func(batch int) ([]T, error), show func(T) bool) ([]T, bool, error) {
	out := []T{}
	batch := limit + 1
	for {
		rows, err := read(batch)
		if err != nil {
			return nil, false, err
		}
		for _, x := range rows {
			if !show(x) {
				continue
			}
			if len(out) == limit {
				return out, true, nil
			}
			out = append(out, x)
		}
		if len(rows) < batch {
			return out, false, nil
		}
	}
}

// reach is where the principal may perform action: what a page's query
// reads, a superset of the rows Allowed then shows. Members of a team
// read their organisation itself (authz applies OrgsRead so).
func (a *API) reach(r *http.Request, action authz.Action) store.Reach {
	pr := principal(r)
	v := a.opts.Snapshots.Load().Policy.Visible(pr, action)
	if v.All {
		return store.Reach{All: true}
	}
	orgs := v.Orgs
	if action == authz.OrgsRead && pr != nil {
		orgs = map[string]bool{}
		for id := range v.Orgs {
			orgs[id] = true
		}
		for _, b := range pr.Bindings {
			if b.TeamID != "" && v.Teams[b.TeamID] {
				orgs[b.OrgID] = true
			}
		}
	}
	keys := func(m map[string]bool) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	return store.Reach{Orgs: keys(orgs), Teams: keys(v.Teams)}
}

func unitCursorTag(k kindSpec) string {
	switch k.kind {
	case store.KindOrg:
		return orgCursorTag
	case store.KindTeam:
		return teamCursorTag
	}
	return appCursorTag
}

// unitCursor names u in its kind's page order (store.UnitCursor).
func unitCursor(k kindSpec, u store.Unit) string {
	switch k.kind {
	case store.KindOrg:
		return encodeCursor(orgCursorTag, u.Name, u.ID)
	case store.KindTeam:
		return encodeCursor(teamCursorTag, u.OrgID, u.Name, u.ID)
	}
	return encodeCursor(appCursorTag, u.OrgID, u.TeamID, u.Name, u.ID)
}

// parseUnitCursor reads a unit list's cursor: nil without one.
func parseUnitCursor(s string, k kindSpec) (*store.UnitCursor, error) {
	if s == "" {
		return nil, nil
	}
	n := map[string]int{store.KindOrg: 2, store.KindTeam: 3, store.KindApp: 4}[k.kind]
	p, err := decodeCursor(s, unitCursorTag(k), n)
	if err != nil {
		return nil, err
	}
	switch k.kind {
	case store.KindOrg:
		return &store.UnitCursor{Name: p[0], ID: p[1]}, nil
	case store.KindTeam:
		return &store.UnitCursor{OrgID: p[0], Name: p[1], ID: p[2]}, nil
	}
	return &store.UnitCursor{OrgID: p[0], TeamID: p[1], Name: p[2], ID: p[3]}, nil
}

// unitPage answers one page of k's units that f selects: organisations by
// name, teams by organisation then name, applications by organisation,
// team then name.
func (a *API) unitPage(w http.ResponseWriter, r *http.Request, k kindSpec, f store.UnitFilter) error {
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	after, err := parseUnitCursor(r.URL.Query().Get("cursor"), k)
	if err != nil {
		return err
	}
	reach := a.reach(r, k.read)
	units, more, err := keysetPage(limit, func(n int) ([]store.Unit, error) {
		us, err := a.opts.Store.UnitPage(r.Context(), k.kind, f, reach, after, n)
		if len(us) > 0 {
			c := us[len(us)-1].CursorOf()
			after = &c
		}
		return us, err
	}, func(u store.Unit) bool { return a.allowed(r, k.read, scopeOf(u)) })
	if err != nil {
		return err
	}
	out := page[UnitView]{Object: "list", Data: make([]UnitView, 0, len(units))}
	for _, u := range units {
		out.Data = append(out.Data, unitView(k, u))
	}
	if more {
		out.NextCursor = unitCursor(k, units[len(units)-1])
	}
	return writeJSON(w, http.StatusOK, out)
}

// userPage answers one page of the users the principal may read (and
// itself), by email, each with its bindings: two queries a batch.
func (a *API) userPage(w http.ResponseWriter, r *http.Request) error {
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	after := ""
	if s := r.URL.Query().Get("cursor"); s != "" {
		p, err := decodeCursor(s, userCursorTag, 1)
		if err != nil {
			return err
		}
		after = p[0]
	}
	reach, self := a.reach(r, authz.UsersRead), principal(r).UserID
	byUser := map[string][]store.Binding{}
	users, more, err := keysetPage(limit, func(n int) ([]store.User, error) {
		us, err := a.opts.Store.UserPage(r.Context(), reach, self, after, n)
		if err != nil || len(us) == 0 {
			return us, err
		}
		after = us[len(us)-1].Email
		ids := make([]string, len(us))
		for i, u := range us {
			ids[i] = u.ID
		}
		bs, err := a.opts.Store.BindingsOf(r.Context(), ids)
		for _, b := range bs {
			byUser[b.UserID] = append(byUser[b.UserID], b)
		}
		return us, err
	}, func(u store.User) bool {
		read, _ := a.userAccess(r, byUser[u.ID])
		return read || u.ID == self
	})
	if err != nil {
		return err
	}
	out := page[UserView]{Object: "list", Data: make([]UserView, 0, len(users))}
	for _, u := range users {
		out.Data = append(out.Data, userView(u, byUser[u.ID]))
	}
	if more {
		out.NextCursor = encodeCursor(userCursorTag, users[len(users)-1].Email)
	}
	return writeJSON(w, http.StatusOK, out)
}

// bindingCursor names a binding; its team, empty for an organisation-wide
// binding, is written after a "t" so that no field is empty.
func bindingCursor(b store.Binding) string {
	return encodeCursor(bindingCursorTag, b.UserID, b.OrgID, "t"+b.TeamID, b.Role)
}

func parseBindingCursor(s string) (*store.BindingCursor, error) {
	if s == "" {
		return nil, nil
	}
	p, err := decodeCursor(s, bindingCursorTag, 4)
	if err != nil {
		return nil, err
	}
	team, ok := strings.CutPrefix(p[2], "t")
	if !ok {
		return nil, errInvalidCursor
	}
	return &store.BindingCursor{UserID: p[0], OrgID: p[1], TeamID: team, Role: p[3]}, nil
}

// bindingPage answers one page of the role bindings over orgID ("": any)
// the principal may read, by user, organisation, team and role.
func (a *API) bindingPage(w http.ResponseWriter, r *http.Request, orgID string) error {
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	after, err := parseBindingCursor(r.URL.Query().Get("cursor"))
	if err != nil {
		return err
	}
	reach := a.reach(r, authz.UsersRead)
	bs, more, err := keysetPage(limit, func(n int) ([]store.Binding, error) {
		bs, err := a.opts.Store.BindingPage(r.Context(), orgID, reach, after, n)
		if len(bs) > 0 {
			last := bs[len(bs)-1]
			after = &store.BindingCursor{UserID: last.UserID, OrgID: last.OrgID, TeamID: last.TeamID, Role: last.Role}
		}
		return bs, err
	}, func(b store.Binding) bool {
		return a.allowed(r, authz.UsersRead, authz.Scope{OrgID: b.OrgID, TeamID: b.TeamID})
	})
	if err != nil {
		return err
	}
	out := page[BindingView]{Object: "list", Data: make([]BindingView, 0, len(bs))}
	for _, b := range bs {
		out.Data = append(out.Data, bindingView(b))
	}
	if more {
		out.NextCursor = bindingCursor(bs[len(bs)-1])
	}
	return writeJSON(w, http.StatusOK, out)
}

func parseAlertCursor(s string) (*store.BudgetAlertCursor, error) {
	if s == "" {
		return nil, nil
	}
	p, err := decodeCursor(s, alertCursorTag, 4)
	if err != nil {
		return nil, err
	}
	ts, err1 := strconv.ParseInt(p[0], 10, 64)
	start, err2 := strconv.ParseInt(p[2], 10, 64)
	pct, err3 := strconv.Atoi(p[3])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, errInvalidCursor
	}
	return &store.BudgetAlertCursor{TS: ts, Subject: p[1], PeriodStart: start, Percent: pct}, nil
}

// budgetAlertPage answers one page of orgID's budget alerts ("": all, for
// the super-admin), newest first, once the organisation is authorized.
func (a *API) budgetAlertPage(w http.ResponseWriter, r *http.Request, orgID string) error {
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	after, err := parseAlertCursor(r.URL.Query().Get("cursor"))
	if err != nil {
		return err
	}
	alerts, err := a.opts.Store.BudgetAlertPage(r.Context(), orgID, after, limit+1)
	if err != nil {
		return err
	}
	out := page[store.BudgetAlert]{Object: "list", Data: alerts}
	if len(alerts) > limit {
		out.Data = alerts[:limit]
		c := alerts[limit-1].CursorOf()
		out.NextCursor = encodeCursor(alertCursorTag, strconv.FormatInt(c.TS, 10), c.Subject,
			strconv.FormatInt(c.PeriodStart, 10), strconv.Itoa(c.Percent))
	}
	return writeJSON(w, http.StatusOK, out)
}

func captureCursor(c store.Capture) string {
	return encodeCursor(captureCursorTag, strconv.FormatInt(c.Time.UnixMicro(), 10), c.RequestID)
}

// parseCaptureCursor reads the request log's cursor: nil without one.
func parseCaptureCursor(s string) (*store.RequestCursor, error) {
	if s == "" {
		return nil, nil
	}
	p, err := decodeCursor(s, captureCursorTag, 2)
	if err != nil {
		return nil, err
	}
	ts, err := strconv.ParseInt(p[0], 10, 64)
	if err != nil || ts < 0 {
		return nil, errInvalidCursor
	}
	return &store.RequestCursor{TS: ts, RequestID: p[1]}, nil
}
