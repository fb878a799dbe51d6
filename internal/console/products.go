package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/authz"
)

// The console's products and the subscription approval queue, over
// /admin/v1/products and /admin/v1/subscriptions. On a server without the
// products API both pages say so.

// Actions of the products API, named here so that the console builds
// against an authorization table that has not got them yet.
const (
	productsWrite        authz.Action = "products.write"
	subscriptionsApprove authz.Action = "subscriptions.approve"
)

// mayNew is may for an action the policy may not know: unknown is no.
func (c *Console) mayNew(u *user, a authz.Action, s authz.Scope) bool {
	return slices.Contains(authz.Actions, a) && c.may(u, a, s)
}

type productsData struct {
	Missing  bool
	Products []productView
}

func (c *Console) products(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Products"
	var list struct {
		Data []productView `json:"data"`
	}
	err := c.api(r, u, http.MethodGet, "/admin/v1/products", nil, nil, &list)
	if productsMissing(err) {
		p.Data = productsData{Missing: true}
		return nil
	}
	if err != nil {
		return err
	}
	var shown []productView
	for _, pr := range list.Data {
		if p.Org == "" || pr.OrgID == p.Org {
			shown = append(shown, pr)
		}
	}
	p.Can["write"] = c.mayNew(u, productsWrite, authz.Scope{OrgID: p.Org})
	p.Data = productsData{Products: shown}
	return nil
}

// versionEvents are the lifecycle buttons the console offers.
var versionEvents = []string{"publish", "deprecate", "rollback", "retire"}

func (c *Console) versionEvent(r *http.Request, u *user) (string, string, error) {
	ev := r.PathValue("event")
	if !slices.Contains(versionEvents, ev) {
		return "/console/products", "", &apiError{Status: http.StatusNotFound, Message: "No such action."}
	}
	body := map[string]any{}
	if s := r.PostForm.Get("successor"); s != "" && ev == "deprecate" {
		body["successor"] = s
	}
	path := "/admin/v1/products/" + url.PathEscape(r.PathValue("id")) + "/versions/" + url.PathEscape(r.PathValue("version")) + "/" + ev
	err := c.api(r, u, http.MethodPost, path, nil, body, nil)
	return "/console/products", "Version " + r.PathValue("version") + ": " + ev + " done.", err
}

type subsData struct {
	Apps    map[string]string // application names by id
	Missing bool
	Paged   bool   // a later page (a link back to the first)
	More    string // the link to the next page ("" on the last)
	Subs    []subView
	State   string
	States  []string
}

func (c *Console) subscriptions(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Subscriptions"
	d := subsData{State: r.URL.Query().Get("state"), States: []string{"pending", "active", "suspended", "cancelled", "expired", "rejected"}}
	if r.URL.Query().Get("state") == "" && !r.URL.Query().Has("state") {
		d.State = "pending"
	}
	q := scopeQuery(p)
	if d.State != "" {
		q.Set("state", d.State)
	}
	q.Set("limit", "50")
	if cur := r.URL.Query().Get("cursor"); cur != "" {
		q.Set("cursor", cur)
		d.Paged = true
	}
	var list struct {
		Data       []subView `json:"data"`
		NextCursor string    `json:"next_cursor"`
	}
	err := c.api(r, u, http.MethodGet, "/admin/v1/subscriptions", q, nil, &list)
	if productsMissing(err) {
		d.Missing = true
		p.Data = d
		return nil
	}
	if err != nil {
		return err
	}
	d.Subs = list.Data
	in := url.Values{"state": {d.State}}
	if p.Org != "" {
		in.Set("org", p.Org)
	}
	d.More = olderLink("/console/subscriptions", in, list.NextCursor)
	// Each row names its application by its path (org/team/app), which
	// the API adds from its snapshot: no read of the applications.
	d.Apps = map[string]string{}
	for _, s := range list.Data {
		if s.AppPath != "" {
			d.Apps[s.Application] = s.AppPath[strings.LastIndexByte(s.AppPath, '/')+1:]
		}
	}
	p.Can["approve"] = c.mayNew(u, subscriptionsApprove, authz.Scope{OrgID: p.Org})
	p.Data = d
	return nil
}

var subEvents = []string{"approve", "reject", "suspend", "resume"}

func (c *Console) subscriptionEvent(r *http.Request, u *user) (string, string, error) {
	ev := r.PathValue("event")
	if !slices.Contains(subEvents, ev) {
		return "/console/subscriptions", "", &apiError{Status: http.StatusNotFound, Message: "No such action."}
	}
	body := map[string]any{}
	if n := r.PostForm.Get("note"); n != "" {
		body["note"] = n
	}
	err := c.api(r, u, http.MethodPost, "/admin/v1/subscriptions/"+url.PathEscape(r.PathValue("id"))+"/"+ev, nil, body, nil)
	return "/console/subscriptions", "Subscription " + ev + "d.", err
}
