package console

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/route"
	"github.com/sluicehq/sluice/internal/store"
)

// Providers: stored ones in full (the key as its last four characters),
// the file's by name.

type providerRow struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Type        string `json:"type"`
	BaseURL     string `json:"base_url"`
	HasAPIKey   bool   `json:"has_api_key"`
	APIKeyLast4 string `json:"api_key_last4"`
	Source      string `json:"source"`
	ReadOnly    bool   `json:"read_only"`
}

var providerTypes = []string{"openai", "azure-openai", "anthropic", "gemini", "bedrock"}

func (c *Console) providers(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Providers"
	p.Can["write"] = c.may(u, authz.ProvidersWrite, authz.Scope{})
	var list struct {
		Data []providerRow `json:"data"`
	}
	if err := c.api(r, u, http.MethodGet, "/admin/v1/providers", nil, nil, &list); err != nil {
		return err
	}
	p.Data = map[string]any{"Providers": list.Data, "Types": providerTypes}
	return nil
}

func (c *Console) createProvider(r *http.Request, u *user) (string, string, error) {
	f := r.PostForm
	in := map[string]any{"name": f.Get("name"), "type": f.Get("type"), "base_url": f.Get("base_url")}
	if k := f.Get("api_key"); k != "" {
		in["api_key"] = k
	}
	err := c.api(r, u, http.MethodPost, "/admin/v1/providers", nil, in, nil)
	return "/console/providers", "Provider " + f.Get("name") + " added.", err
}

func (c *Console) deleteProvider(r *http.Request, u *user) (string, string, error) {
	err := c.api(r, u, http.MethodDelete, "/admin/v1/providers/"+url.PathEscape(r.PathValue("id")), nil, nil, nil)
	return "/console/providers", "Provider deleted.", err
}

// Models: the running configuration's models, their routes and targets
// with each target's health. Models are declared in the configuration
// file; the console reloads it.

type modelRow struct {
	Name   string
	Price  string
	Routes []routeRow
}

type routeRow struct {
	Name    string
	Policy  string
	Targets []targetRow
}

type targetRow struct {
	Provider, Model, State string
	InFlight               int64
	TTFT                   float64
}

func (c *Console) models(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Models"
	p.Can["reload"] = c.may(u, authz.GatewayWrite, authz.Scope{})
	var info admin.ConfigInfo
	if err := c.api(r, u, http.MethodGet, "/admin/v1/config", nil, nil, &info); err != nil {
		return err
	}
	var h struct {
		Data []route.Status `json:"data"`
	}
	if err := c.api(r, u, http.MethodGet, "/admin/v1/health", nil, nil, &h); err != nil {
		return err
	}
	health := map[string]route.Status{}
	for _, s := range h.Data {
		health[s.Provider+"\x00"+s.Model] = s
	}
	var rows []modelRow
	snap := c.opts.Snapshots.Load()
	for _, name := range info.Models {
		row := modelRow{Name: name}
		m := snap.Models[name]
		if m == nil {
			rows = append(rows, row)
			continue
		}
		if m.Price.Input > 0 || m.Price.Output > 0 {
			row.Price = "$" + strconv.FormatFloat(float64(m.Price.Input)/1e6, 'f', -1, 64) + " / $" +
				strconv.FormatFloat(float64(m.Price.Output)/1e6, 'f', -1, 64) + " per M tokens"
		}
		for _, rt := range append(m.Routes, m.Default) {
			if rt == nil {
				continue
			}
			rr := routeRow{Name: rt.Name}
			if rr.Name == "" {
				rr.Name = "default"
			}
			if rt.Router != nil {
				rr.Policy = string(rt.Router.Policy())
			}
			for _, t := range rt.Targets {
				tr := targetRow{Model: t.Model}
				if t.Health != nil {
					tr.Provider = t.Health.Provider
				} else if t.Provider != nil {
					tr.Provider = t.Provider.Name()
				}
				if s, ok := health[tr.Provider+"\x00"+t.Model]; ok {
					tr.State, tr.InFlight, tr.TTFT = string(s.State), s.InFlight, s.TTFTMillis
				}
				rr.Targets = append(rr.Targets, tr)
			}
			row.Routes = append(row.Routes, rr)
		}
		rows = append(rows, row)
	}
	p.Data = map[string]any{"Info": info, "Models": rows}
	return nil
}

func (c *Console) reload(r *http.Request, u *user) (string, string, error) {
	var info admin.ConfigInfo
	err := c.api(r, u, http.MethodPost, "/admin/v1/reload", nil, nil, &info)
	return "/console/models", "Configuration reloaded (version " + strconv.FormatInt(info.Version, 10) + ").", err
}

// Organisations, teams and applications.

type unitList struct {
	Data []admin.UnitView `json:"data"`
}

func (c *Console) units(r *http.Request, u *user, kind string, q url.Values) ([]admin.UnitView, error) {
	var l unitList
	err := c.api(r, u, http.MethodGet, "/admin/v1/"+kind, q, nil, &l)
	if statusOf(err) == http.StatusForbidden {
		return nil, nil
	}
	return l.Data, err
}

// unitsPerPage bounds the teams, applications or users a page shows.
const unitsPerPage = 100

// unitPage is the page of at most n units of kind (orgs, teams, apps)
// that q selects, after cursor ("" from the first), and the next page's
// cursor ("" on the last): the admin API reads only the page's rows. A
// refusal is an empty list.
func (c *Console) unitPage(r *http.Request, u *user, kind string, q url.Values, cursor string, n int) ([]admin.UnitView, string, error) {
	q = maps.Clone(q)
	q.Set("limit", strconv.Itoa(n))
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var l struct {
		Data       []admin.UnitView `json:"data"`
		NextCursor string           `json:"next_cursor"`
	}
	err := c.api(r, u, http.MethodGet, "/admin/v1/"+kind, q, nil, &l)
	if statusOf(err) == http.StatusForbidden {
		return nil, "", nil
	}
	return l.Data, l.NextCursor, err
}

// tenancy shows the selected organisation's teams and applications, each
// a page of unitsPerPage at a time by keyset (cursor for the
// applications, teams_cursor for the teams).
func (c *Console) tenancy(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Organisations, teams and applications"
	q, in := scopeQuery(p), r.URL.Query()
	teams, teamsNext, err := c.unitPage(r, u, "teams", q, in.Get("teams_cursor"), unitsPerPage)
	if err != nil {
		return err
	}
	apps, next, err := c.unitPage(r, u, "apps", q, in.Get("cursor"), unitsPerPage)
	if err != nil {
		return err
	}
	s := authz.Scope{OrgID: p.Org}
	p.Can["orgs"] = u.me.Super
	p.Can["teams"] = p.Org != "" && c.may(u, authz.TeamsWrite, s)
	p.Can["apps"] = c.may(u, authz.AppsWrite, s) && len(teams) > 0
	link := func(param, cursor string) string {
		if cursor == "" {
			return ""
		}
		return "/console/tenancy?" + withOrg(p, url.Values{param: {cursor}}).Encode()
	}
	first := "/console/tenancy"
	if p.Org != "" {
		first += "?" + withOrg(p, url.Values{}).Encode()
	}
	p.Data = map[string]any{"Teams": teams, "Apps": apps, "First": first,
		"TeamsNext": link("teams_cursor", teamsNext), "TeamsPaged": in.Get("teams_cursor") != "",
		"Next": link("cursor", next), "Paged": in.Get("cursor") != ""}
	return nil
}

func (c *Console) createUnit(r *http.Request, u *user) (string, string, error) {
	f := r.PostForm
	kind := f.Get("kind")
	body := map[string]any{"name": f.Get("name"), "description": f.Get("description")}
	switch kind {
	case "orgs":
	case "teams":
		body["org_id"] = f.Get("org")
	case "apps":
		body["team_id"] = f.Get("team_id")
	default:
		return "/console/tenancy", "", &apiError{Status: http.StatusBadRequest, Message: "Unknown kind."}
	}
	var v admin.UnitView
	err := c.api(r, u, http.MethodPost, "/admin/v1/"+kind, nil, body, &v)
	back := "/console/tenancy"
	if kind == "orgs" && err == nil {
		back += "?org=" + url.QueryEscape(v.ID)
	}
	return back, v.Object + " " + v.Name + " created.", err
}

// Users and role bindings.

// users shows the users the user may read, unitsPerPage at a time by
// email (keyset: cursor), each with its roles; team names come from one
// page of the organisation's teams (teamNamesPerPage), the rest showing
// their ids.
func (c *Console) users(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Users and roles"
	cursor := r.URL.Query().Get("cursor")
	q := url.Values{"limit": {strconv.Itoa(unitsPerPage)}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var l struct {
		Data       []admin.UserView `json:"data"`
		NextCursor string           `json:"next_cursor"`
	}
	if err := c.api(r, u, http.MethodGet, "/admin/v1/users", q, nil, &l); err != nil {
		return err
	}
	teams, _, err := c.unitPage(r, u, "teams", scopeQuery(p), "", teamNamesPerPage)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, o := range p.Orgs {
		names[o.ID] = o.Name
	}
	for _, t := range teams {
		names[t.ID] = t.Name
	}
	p.Can["write"] = p.Org != "" && c.may(u, authz.UsersWrite, authz.Scope{OrgID: p.Org}) || u.me.Super
	p.Data = map[string]any{"Users": l.Data, "Teams": teams, "Names": names, "Roles": authz.Roles,
		"Next": olderLink("/console/users", withOrg(p, url.Values{}), l.NextCursor), "Paged": cursor != ""}
	return nil
}

// teamNamesPerPage bounds the teams the users page reads to name bindings.
const teamNamesPerPage = 1000

func (c *Console) createUser(r *http.Request, u *user) (string, string, error) {
	f := r.PostForm
	body := admin.UserCreate{Email: f.Get("email"), Name: f.Get("name"), Password: f.Get("password")}
	if role := f.Get("role"); role != "" && f.Get("org") != "" {
		body.Bindings = []admin.BindingInput{{Role: role, OrgID: f.Get("org"), TeamID: f.Get("team_id")}}
	}
	err := c.api(r, u, http.MethodPost, "/admin/v1/users", nil, body, nil)
	return "/console/users", "User " + body.Email + " created.", err
}

func (c *Console) createBinding(r *http.Request, u *user) (string, string, error) {
	f := r.PostForm
	body := admin.BindingInput{UserID: f.Get("user_id"), Role: f.Get("role"), OrgID: f.Get("org"), TeamID: f.Get("team_id")}
	err := c.api(r, u, http.MethodPost, "/admin/v1/role-bindings", nil, body, nil)
	return "/console/users", "Role given.", err
}

func (c *Console) deleteBinding(r *http.Request, u *user) (string, string, error) {
	err := c.api(r, u, http.MethodDelete, "/admin/v1/role-bindings/"+url.PathEscape(r.PathValue("id")), nil, nil, nil)
	return "/console/users", "Role taken away.", err
}

// Keys: a page of keysPerPage at a time, in the order of name then id,
// keyset-paginated by the admin API (limit, cursor): a page reads only its
// own keys however many there are.

// keysPerPage bounds the keys a page renders.
const keysPerPage = 100

// keyList is the page of keys after cursor ("" from the first) in the
// selected organisation, or in application appID, and the cursor of the
// next page ("" on the last).
func (c *Console) keyList(r *http.Request, u *user, p *page, appID, cursor string) ([]store.KeyRecord, string, error) {
	q := url.Values{"limit": {strconv.Itoa(keysPerPage)}}
	switch {
	case appID != "":
		q.Set("app_id", appID)
	case p.Org != "":
		q.Set("org_id", p.Org)
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var l struct {
		Data       []store.KeyRecord `json:"data"`
		NextCursor string            `json:"next_cursor"`
	}
	err := c.api(r, u, http.MethodGet, "/admin/v1/keys", q, nil, &l)
	return l.Data, l.NextCursor, err
}

func (c *Console) keys(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Keys"
	keys, next, err := c.keyList(r, u, p, "", r.URL.Query().Get("cursor"))
	if err != nil {
		return err
	}
	apps, err := c.chooser(r, u, "apps", scopeQuery(p))
	if err != nil {
		return err
	}
	p.Can["write"] = c.may(u, authz.KeysWrite, authz.Scope{OrgID: p.Org})
	var models []string
	if snap := c.opts.Snapshots.Load(); snap != nil {
		models = snap.ModelNames
	}
	p.Data = map[string]any{"Keys": keys, "Next": olderLink("/console/keys", withOrg(p, url.Values{}), next),
		"Paged": r.URL.Query().Get("cursor") != "", "Apps": apps, "Models": models, "Now": time.Now()}
	return nil
}

// chooserMax bounds the applications or teams a form offers to choose
// from.
const chooserMax = 200

// chooser is what a form offers to choose a unit from: the first
// chooserMax units, and whether more follow. With more, the form takes
// the unit's id typed (the units shown as suggestions) rather than a
// <select> that lacks some; the admin API checks the id either way.
type chooser struct {
	Units []admin.UnitView
	More  bool
}

// chooser reads one page of at most chooserMax units of kind that q
// selects.
func (c *Console) chooser(r *http.Request, u *user, kind string, q url.Values) (chooser, error) {
	units, next, err := c.unitPage(r, u, kind, q, "", chooserMax)
	return chooser{Units: units, More: next != ""}, err
}

// keyCreatedData shows a key's value once.
type keyCreatedData struct {
	Created admin.KeyCreated
	Back    string
}

func (c *Console) createKey(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Key created"
	f := r.PostForm
	body := admin.KeyCreate{Name: f.Get("name"), AppID: f.Get("app_id")}
	for _, m := range strings.Split(f.Get("models"), ",") {
		if m = strings.TrimSpace(m); m != "" {
			body.Models = append(body.Models, m)
		}
	}
	if f.Get("models_list") != "" {
		body.Models = append(body.Models, f["models_list"]...)
	}
	slices.Sort(body.Models)
	body.Models = slices.Compact(body.Models)
	var kc admin.KeyCreated
	if err := c.api(r, u, http.MethodPost, "/admin/v1/keys", nil, body, &kc); err != nil {
		return err
	}
	back := f.Get("back")
	if !strings.HasPrefix(back, "/console/") && !strings.HasPrefix(back, "/portal/") {
		back = "/console/keys"
	}
	p.Data = keyCreatedData{Created: kc, Back: back}
	return nil
}

func (c *Console) rotateKey(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Key rotated"
	var kc admin.KeyCreated
	if err := c.api(r, u, http.MethodPost, "/admin/v1/keys/"+url.PathEscape(r.PathValue("id"))+"/rotate", nil,
		map[string]any{}, &kc); err != nil {
		return err
	}
	p.Data = keyCreatedData{Created: kc, Back: "/console/keys"}
	return nil
}

func (c *Console) revokeKey(r *http.Request, u *user) (string, string, error) {
	err := c.api(r, u, http.MethodDelete, "/admin/v1/keys/"+url.PathEscape(r.PathValue("id")), nil, nil, nil)
	back := r.PostForm.Get("back")
	if !strings.HasPrefix(back, "/console/") && !strings.HasPrefix(back, "/portal/") {
		back = "/console/keys"
	}
	return back, "Key revoked.", err
}

// Limits and budgets: one level at a time (the organisation and its
// teams; applications; keys), the applications and keys a page of
// limitsPerPage at a time by keyset, each row with this month's spend
// against its budget. The admin API reads only a page's applications or
// keys, and a render makes one analytics call, for its own rows only
// (app_ids, key_ids), so it costs the same however many applications and
// keys there are.

type limitRow struct {
	Kind, Name, ID        string
	RPM, TPM, Concurrency int64
	BudgetMicros          int64
	Period                string
	SpentMicros           int64
}

// limitsPerPage bounds the applications or keys a limits page shows.
const limitsPerPage = keysPerPage

// limitLevels are the limits page's views: the level parameter, its tab.
var limitLevels = []struct{ Level, Label string }{{"", "Organisation and teams"}, {"application", "Applications"}, {"key", "Keys"}}

func unitLimitRow(kind string, x admin.UnitView) limitRow {
	row := limitRow{Kind: kind, Name: x.Name, ID: x.ID, RPM: x.Limits.RPM, TPM: x.Limits.TPM, Concurrency: x.Limits.MaxConcurrent}
	if b := x.Limits.Budget; b != nil {
		row.BudgetMicros, row.Period = int64(b.AmountUSD*1e6), b.Period
	}
	return row
}

func (c *Console) limits(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Limits and budgets"
	level, cursor := r.URL.Query().Get("level"), r.URL.Query().Get("cursor")
	var rows []limitRow
	var next string
	// spend is the one analytics call's filter and grouping for these rows.
	spendQ, groups := scopeQuery(p), []string{}
	switch level {
	case "application":
		apps, n, err := c.unitPage(r, u, "apps", scopeQuery(p), cursor, limitsPerPage)
		if err != nil {
			return err
		}
		next = n
		ids := make([]string, 0, len(apps))
		for _, x := range apps {
			rows = append(rows, unitLimitRow("application", x))
			ids = append(ids, x.ID)
		}
		spendQ.Set("app_ids", strings.Join(ids, ","))
		groups = []string{"application"}
	case "key":
		keys, n, err := c.keyList(r, u, p, "", cursor)
		if err != nil {
			return err
		}
		next = n
		var ids []string
		for _, k := range keys {
			if k.RevokedAt != nil {
				continue
			}
			rows = append(rows, limitRow{Kind: "key", Name: k.Name, ID: k.ID, RPM: k.RPM, TPM: k.TPM, Concurrency: k.MaxConcurrent,
				BudgetMicros: k.BudgetMicros, Period: k.BudgetPeriod})
			ids = append(ids, k.ID)
		}
		spendQ.Set("key_ids", strings.Join(ids, ","))
		groups = []string{"key"}
	default:
		level = ""
		// The organisations as the selector read them (at most
		// chooserMax), on the first page; the teams a page at a time.
		if cursor == "" {
			for _, o := range p.orgUnits {
				if p.Org == "" || o.ID == p.Org {
					rows = append(rows, unitLimitRow("organisation", o))
				}
			}
		}
		teams, n, err := c.unitPage(r, u, "teams", scopeQuery(p), cursor, limitsPerPage)
		if err != nil {
			return err
		}
		next = n
		for _, x := range teams {
			rows = append(rows, unitLimitRow("team", x))
		}
		groups = []string{"organisation", "team"}
	}
	// This month's spend of the rows shown, from one query over the rollups.
	if len(rows) > 0 && (p.Org != "" || u.me.Super) && (spendQ.Get("app_ids") != "" || spendQ.Get("key_ids") != "" || level == "") {
		if spent, err := c.monthSpend(r, u, spendQ, groups...); err == nil {
			for i := range rows {
				rows[i].SpentMicros = spent[rows[i].ID]
			}
		}
	}
	tabs, first, nextLink := levelLinks(p, "/console/limits", level, next)
	p.Data = map[string]any{"Rows": rows, "Tabs": tabs, "Paged": cursor != "", "First": first, "Next": nextLink}
	return nil
}
