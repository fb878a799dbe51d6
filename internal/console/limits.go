package console

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/store"
)

// Limits and budgets, editable: a form per organisation, team,
// application or key that sets its requests and tokens per minute,
// concurrency and budget through the admin API's PATCH on it. The form is
// shown only to who may set limits there (limits.write on the level above
// a unit, on the key's team for a key); the API decides either way.
// Levels declared in the configuration file are changed in the file.

// limitKinds maps the console's level names to the admin API's paths.
var limitKinds = map[string]struct{ path, noun string }{
	"org":  {"orgs", "organisation"},
	"team": {"teams", "team"},
	"app":  {"apps", "application"},
	"key":  {"keys", "key"},
}

// limitTarget is one level's limits as the form shows them.
type limitTarget struct {
	Kind, Noun, ID, Name string
	ReadOnly             bool
	RPM, TPM, Concurrent int64
	BudgetUSD            string // "" when there is none
	Period               string
	reserveUSD           float64
	alertPercents        []int
	scope                authz.Scope
	CanEdit              bool
}

var budgetPeriods = []string{"daily", "weekly", "monthly", "total"}

type limitEditData struct {
	Target  limitTarget
	Periods []string
}

type limitIndexData struct {
	Rows        []limitTarget
	Tabs        []map[string]any
	First, Next string
	Paged       bool
}

func (c *Console) limitRoutes() {
	c.mux.Handle("GET /console/limits/edit", c.page("limitsindex", "limitsedit", c.limitIndex))
	c.mux.Handle("GET /console/limits/{kind}/{id}", c.page("limitedit", "limitsedit", c.limitEdit))
	c.mux.Handle("POST /console/limits/{kind}/{id}", c.action(c.setLimits))
}

// loadLimitTarget reads a level through the admin API and decides
// whether the user may set its limits.
func (c *Console) loadLimitTarget(r *http.Request, u *user, kind, id string) (limitTarget, error) {
	k, ok := limitKinds[kind]
	if !ok {
		return limitTarget{}, &apiError{Status: http.StatusNotFound, Message: "No such level."}
	}
	path := "/admin/v1/" + k.path + "/" + url.PathEscape(id)
	var t limitTarget
	if kind == "key" {
		var rec store.KeyRecord
		if err := c.api(r, u, http.MethodGet, path, nil, nil, &rec); err != nil {
			return t, err
		}
		t = limitTarget{ID: rec.ID, Name: rec.Name, RPM: rec.RPM, TPM: rec.TPM, Concurrent: rec.MaxConcurrent, Period: rec.BudgetPeriod,
			reserveUSD: float64(rec.ReserveMicros) / 1e6, alertPercents: rec.AlertPercents,
			scope: authz.Scope{OrgID: rec.OrgID, TeamID: rec.TeamID}}
		if rec.BudgetMicros > 0 {
			t.BudgetUSD = strconv.FormatFloat(float64(rec.BudgetMicros)/1e6, 'f', -1, 64)
		}
	} else {
		var v admin.UnitView
		if err := c.api(r, u, http.MethodGet, path, nil, nil, &v); err != nil {
			return t, err
		}
		t = limitTarget{ID: v.ID, Name: v.Name, ReadOnly: v.ReadOnly, RPM: v.Limits.RPM, TPM: v.Limits.TPM, Concurrent: v.Limits.MaxConcurrent}
		if b := v.Limits.Budget; b != nil {
			t.BudgetUSD, t.Period = strconv.FormatFloat(b.AmountUSD, 'f', -1, 64), b.Period
			t.reserveUSD, t.alertPercents = b.ReserveUSD, b.AlertPercents
		}
		// Limits need the right on the level above (the API's parentScope).
		switch kind {
		case "team":
			t.scope = authz.Scope{OrgID: v.OrgID}
		case "app":
			t.scope = authz.Scope{OrgID: v.OrgID, TeamID: v.TeamID}
		}
	}
	t.Kind, t.Noun = kind, k.noun
	if t.Period == "" {
		t.Period = "monthly"
	}
	t.CanEdit = !t.ReadOnly && c.mayLimits(u, t.scope)
	return t, nil
}

// mayLimits reports whether u may set limits at exactly s (the platform
// for an organisation: the super-admin).
func (c *Console) mayLimits(u *user, s authz.Scope) bool {
	if s == (authz.Scope{}) {
		return u.me.Super
	}
	return c.mayAt(u, authz.LimitsWrite, s)
}

func (c *Console) limitEdit(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	t, err := c.loadLimitTarget(r, u, r.PathValue("kind"), r.PathValue("id"))
	if err != nil {
		return err
	}
	p.Title = "Limits of " + t.Noun + " " + t.Name
	p.Can["edit"] = t.CanEdit
	p.Data = limitEditData{Target: t, Periods: budgetPeriods}
	return nil
}

// limitIndex lists the levels the user may read, each with a link to its
// limits, one level at a time as the limits page shows them (the
// organisation and its teams; applications; keys), teams, applications
// and keys a page of limitsPerPage at a time by keyset.
func (c *Console) limitIndex(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Edit limits and budgets"
	level, cursor := r.URL.Query().Get("level"), r.URL.Query().Get("cursor")
	d := limitIndexData{}
	q := scopeQuery(p)
	var next string
	var err error
	switch level {
	case "application":
		var apps []admin.UnitView
		if apps, next, err = c.unitPage(r, u, "apps", q, cursor, limitsPerPage); err != nil {
			return err
		}
		for _, v := range apps {
			d.Rows = append(d.Rows, limitTarget{Kind: "app", Noun: limitKinds["app"].noun, ID: v.ID, Name: v.Name, ReadOnly: v.ReadOnly,
				CanEdit: !v.ReadOnly && c.mayLimits(u, authz.Scope{OrgID: v.OrgID, TeamID: v.TeamID})})
		}
	case "key":
		var keys []store.KeyRecord
		keys, next, err = c.keyList(r, u, p, "", cursor)
		if statusOf(err) == http.StatusForbidden {
			keys, next, err = nil, "", nil
		} else if err != nil {
			return err
		}
		for _, k := range keys {
			if k.RevokedAt != nil {
				continue
			}
			d.Rows = append(d.Rows, limitTarget{Kind: "key", Noun: "key", ID: k.ID, Name: k.Name,
				CanEdit: c.mayLimits(u, authz.Scope{OrgID: k.OrgID, TeamID: k.TeamID})})
		}
	default:
		level = ""
		if cursor == "" {
			for _, o := range p.Orgs {
				if p.Org == "" || o.ID == p.Org {
					d.Rows = append(d.Rows, limitTarget{Kind: "org", Noun: "organisation", ID: o.ID, Name: o.Name, CanEdit: u.me.Super})
				}
			}
		}
		var teams []admin.UnitView
		if teams, next, err = c.unitPage(r, u, "teams", q, cursor, limitsPerPage); err != nil {
			return err
		}
		for _, v := range teams {
			d.Rows = append(d.Rows, limitTarget{Kind: "team", Noun: limitKinds["team"].noun, ID: v.ID, Name: v.Name, ReadOnly: v.ReadOnly,
				CanEdit: !v.ReadOnly && c.mayLimits(u, authz.Scope{OrgID: v.OrgID})})
		}
	}
	d.Tabs, d.First, d.Next = levelLinks(p, "/console/limits/edit", level, next)
	d.Paged = cursor != ""
	p.Data = d
	return nil
}

// levelLinks are the tabs of a page shown one level at a time (path with
// ?level=), the link to the level's first page, and to its next page after
// cursor next ("" on the last).
func levelLinks(p *page, path, level, next string) (tabs []map[string]any, first, nextLink string) {
	for _, l := range limitLevels {
		q := withOrg(p, url.Values{})
		if l.Level != "" {
			q.Set("level", l.Level)
		}
		href := path
		if len(q) > 0 {
			href += "?" + q.Encode()
		}
		tabs = append(tabs, map[string]any{"Label": l.Label, "Href": href, "Current": l.Level == level})
	}
	lq := withOrg(p, url.Values{})
	if level != "" {
		lq.Set("level", level)
	}
	first = path
	if len(lq) > 0 {
		first += "?" + lq.Encode()
	}
	return tabs, first, olderLink(path, lq, next)
}

// limitsPatch reads the form into the admin API's patch: every field is
// sent, an empty number meaning unlimited and an empty budget none. A
// budget keeps the reserve and alert thresholds it had.
func limitsPatch(form url.Values, t limitTarget) (map[string]any, error) {
	out := map[string]any{}
	for _, f := range []struct{ field, label string }{{"rpm", "Requests per minute"}, {"tpm", "Tokens per minute"}, {"max_concurrent", "Concurrent requests"}} {
		s := strings.TrimSpace(form.Get(f.field))
		n := int64(0)
		if s != "" {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil || v < 0 {
				return nil, &apiError{Status: http.StatusBadRequest, Message: f.label + " must be a whole number, 0 or more (empty: unlimited)."}
			}
			n = v
		}
		out[f.field] = n
	}
	amount := strings.TrimSpace(form.Get("budget_usd"))
	if amount == "" {
		out["budget"] = nil
		return out, nil
	}
	usd, err := strconv.ParseFloat(amount, 64)
	if err != nil || usd <= 0 || math.IsInf(usd, 0) || math.IsNaN(usd) {
		return nil, &apiError{Status: http.StatusBadRequest, Message: "The budget must be an amount in dollars above 0 (empty: no budget)."}
	}
	period := form.Get("budget_period")
	if period == "" {
		period = "monthly"
	}
	b := admin.BudgetBody{AmountUSD: usd, Period: period, ReserveUSD: t.reserveUSD, AlertPercents: t.alertPercents}
	out["budget"] = b
	return out, nil
}

func (c *Console) setLimits(r *http.Request, u *user) (string, string, error) {
	kind, id := r.PathValue("kind"), r.PathValue("id")
	back := "/console/limits/" + url.PathEscape(kind) + "/" + url.PathEscape(id)
	t, err := c.loadLimitTarget(r, u, kind, id)
	if err != nil {
		return "/console/limits/edit", "", err
	}
	body, err := limitsPatch(r.PostForm, t)
	if err != nil {
		return back, "", err
	}
	raw, _ := json.Marshal(body)
	err = c.api(r, u, http.MethodPatch, "/admin/v1/"+limitKinds[kind].path+"/"+url.PathEscape(id), nil, json.RawMessage(raw), nil)
	return back, fmt.Sprintf("Limits of %s %s saved.", t.Noun, t.Name), err
}
