package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/product"
)

// The developer portal: the product catalogue (when the products API is
// there), the user's applications with their keys, subscriptions and
// usage. It reads and writes through the same admin API as the console.

var portalNav = []navItem{
	{"/portal/", "Catalogue", "catalogue"},
	{"/portal/apps", "My applications", "apps"},
	{"/console/", "Console", "console"},
}

func (c *Console) portalRoutes() {
	m := c.mux
	m.Handle("GET /portal/{$}", c.page("catalogue", "catalogue", c.catalogue))
	m.Handle("GET /portal/products/{name}", c.page("product", "catalogue", c.productPage))
	m.Handle("POST /portal/products/{name}/subscribe", c.action(c.subscribe))
	m.Handle("GET /portal/apps", c.page("apps", "apps", c.apps))
	m.Handle("POST /portal/apps", c.action(c.createApp))
	m.Handle("GET /portal/apps/{id}", c.page("app", "apps", c.appPage))
	m.Handle("POST /portal/apps/{id}/keys", c.page("keycreated", "apps", c.createAppKey))
	m.HandleFunc("/portal/", func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, http.StatusNotFound, "error", &page{Title: "Not found", Face: "portal", Err: "No such page."})
	})
}

// productView is a product as GET /admin/v1/products shows it, with its
// versions and plans.
type productView struct {
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Title       string        `json:"title"`
	Description string        `json:"description"`
	Tags        []string      `json:"tags"`
	Visibility  string        `json:"visibility"`
	OrgID       string        `json:"org_id"`
	TeamID      string        `json:"team_id"`
	ReadOnly    bool          `json:"read_only"`
	Versions    []versionView `json:"versions"`
	Plans       []planView    `json:"plans"`
}

type versionView struct {
	product.Version
	BaseURL   string `json:"base_url"`
	Suspended string `json:"suspended"`
}

type planView struct {
	Name            string   `json:"name"`
	RPM             int64    `json:"rpm"`
	TPM             int64    `json:"tpm"`
	BudgetUSD       float64  `json:"budget_usd"`
	BudgetPeriod    string   `json:"budget_period"`
	Quota           int64    `json:"quota"`
	QuotaPeriod     string   `json:"quota_period"`
	Versions        []string `json:"versions"`
	Approval        string   `json:"approval"`
	DurationSeconds int64    `json:"duration_seconds"`
}

// subView is a subscription as the API shows it.
type subView struct {
	ID          string     `json:"id"`
	Application string     `json:"application"`
	AppPath     string     `json:"application_path"` // org/team/app, by name
	Product     string     `json:"product"`
	Plan        string     `json:"plan"`
	State       string     `json:"state"`
	Reason      string     `json:"reason"`
	Note        string     `json:"note"`
	ExpiresAt   *time.Time `json:"expires_at"`
	RequestedBy string     `json:"requested_by"`
	CreatedAt   time.Time  `json:"created_at"`
	Quota       *struct {
		Limit    int64      `json:"limit"`
		Left     int64      `json:"left"`
		ResetsAt *time.Time `json:"resets_at"`
	} `json:"quota"`
}

// productsMissing reports an API without the products routes: the admin
// catch-all's 404 for an unknown route.
func productsMissing(err error) bool { return routeMissing(err) }

type catalogueData struct {
	Missing  bool
	Products []productView
	Tags     []string
	Search   string
	Tag      string
}

func (c *Console) catalogue(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Products"
	d := catalogueData{Search: r.URL.Query().Get("q"), Tag: r.URL.Query().Get("tag")}
	var list struct {
		Data []productView `json:"data"`
	}
	err := c.api(r, u, http.MethodGet, "/admin/v1/products", nil, nil, &list)
	if productsMissing(err) {
		d.Missing = true
		p.Data = d
		return nil
	}
	if err != nil {
		return err
	}
	tags := map[string]bool{}
	needle := strings.ToLower(d.Search)
	for _, pr := range list.Data {
		for _, t := range pr.Tags {
			tags[t] = true
		}
		if d.Tag != "" && !slices.Contains(pr.Tags, d.Tag) {
			continue
		}
		if needle != "" && !strings.Contains(strings.ToLower(pr.Name+" "+pr.Title+" "+pr.Description), needle) {
			continue
		}
		d.Products = append(d.Products, pr)
	}
	for t := range tags {
		d.Tags = append(d.Tags, t)
	}
	slices.Sort(d.Tags)
	p.Data = d
	return nil
}

// snippet is example code for one language.
type snippet struct{ Lang, Label, Code string }

func snippets(base, model string) []snippet {
	return []snippet{
		{"curl", "curl", "curl " + base + "/v1/chat/completions \\\n  -H \"Authorization: Bearer $SLUICE_KEY\" -H 'Content-Type: application/json' \\\n" +
			"  -d '{\"model\": \"" + model + "\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]}'"},
		{"python", "Python (OpenAI SDK)", "import os\n\nfrom openai import OpenAI\n\nclient = OpenAI(base_url=\"" + base + "/v1\", api_key=os.environ[\"SLUICE_KEY\"])\n" +
			"answer = client.chat.completions.create(model=\"" + model + "\",\n    messages=[{\"role\": \"user\", \"content\": \"Hello\"}])\nprint(answer.choices[0].message.content)"},
		{"node", "Node (OpenAI SDK)", "import OpenAI from \"openai\";\n\nconst client = new OpenAI({ baseURL: \"" + base + "/v1\", apiKey: process.env.SLUICE_KEY });\n" +
			"const answer = await client.chat.completions.create({ model: \"" + model + "\",\n  messages: [{ role: \"user\", content: \"Hello\" }] });\nconsole.log(answer.choices[0].message.content);"},
		{"go", "Go (openai-go)", "client := openai.NewClient(option.WithBaseURL(\"" + base + "/v1\"), option.WithAPIKey(os.Getenv(\"SLUICE_KEY\")))\n" +
			"answer, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{\n\tModel:    \"" + model + "\",\n" +
			"\tMessages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(\"Hello\")},\n})"},
	}
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

type productData struct {
	Product  productView
	Current  *versionView
	Apps     chooser
	Snippets []snippet
	Model    string
	Path     string // the version's base URL path (ends in /v1)
	Root     string // the version's base path, which the OpenAPI paths follow
	Docs     []docOp
	DocsText string
}

// docOp is one operation of a version's OpenAPI document.
type docOp struct{ Method, Path, Summary string }

func (c *Console) productPage(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	name := r.PathValue("name")
	var pv productView
	if err := c.api(r, u, http.MethodGet, "/admin/v1/products/"+url.PathEscape(name), nil, nil, &pv); err != nil {
		return err
	}
	p.Title = pv.Title
	if p.Title == "" {
		p.Title = pv.Name
	}
	d := productData{Product: pv}
	// The version a newcomer calls: the newest published one, else the
	// newest deprecated one.
	for i := range pv.Versions {
		v := &pv.Versions[i]
		if v.State == product.Published || (v.State == product.Deprecated && (d.Current == nil || d.Current.State != product.Published)) {
			d.Current = v
		}
	}
	if v := d.Current; v != nil {
		if ms := v.ClientModels(); len(ms) > 0 {
			d.Model = ms[0]
		}
		d.Path, d.Root = v.BaseURL, strings.TrimSuffix(v.BaseURL, "/v1")
		pr := product.Product{Name: pv.Name, Title: pv.Title, Description: pv.Description, Tags: pv.Tags,
			Visibility: product.Visibility(pv.Visibility)}
		if doc, err := product.OpenAPI(&pr, &v.Version); err == nil {
			d.Docs = openAPIOps(doc)
		}
		d.DocsText = v.Docs
	}
	d.Snippets = snippets(baseURL(r)+d.Root, d.Model)
	apps, err := c.chooser(r, u, "apps", scopeQuery(p))
	if err != nil {
		return err
	}
	d.Apps = apps
	p.Data = d
	return nil
}

// openAPIOps lists the operations of an OpenAPI document (empty when it is
// no JSON document).
func openAPIOps(doc []byte) []docOp {
	var d struct {
		Paths map[string]map[string]struct {
			Summary string `json:"summary"`
		} `json:"paths"`
	}
	if json.Unmarshal(doc, &d) != nil {
		return nil
	}
	var out []docOp
	for path, ops := range d.Paths {
		for method, op := range ops {
			out = append(out, docOp{strings.ToUpper(method), path, op.Summary})
		}
	}
	slices.SortFunc(out, func(a, b docOp) int { return strings.Compare(a.Path+a.Method, b.Path+b.Method) })
	return out
}

func (c *Console) subscribe(r *http.Request, u *user) (string, string, error) {
	f := r.PostForm
	name := r.PathValue("name")
	body := map[string]any{"product": name, "plan": f.Get("plan"), "application": f.Get("app_id"), "reason": f.Get("reason")}
	var sub subView
	if err := c.api(r, u, http.MethodPost, "/admin/v1/subscriptions", nil, body, &sub); err != nil {
		return "/portal/products/" + url.PathEscape(name), "", err
	}
	return "/portal/apps/" + url.PathEscape(f.Get("app_id")), "Subscription to " + name + " (" + sub.Plan + "): " + sub.State + ".", nil
}

// Applications, self-service.

// apps shows the user's applications unitsPerPage at a time by keyset,
// and a form to create one in a team of the first chooserMax teams the
// user may create applications in (by id when there are more teams).
func (c *Console) apps(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "My applications"
	q, cursor := scopeQuery(p), r.URL.Query().Get("cursor")
	apps, next, err := c.unitPage(r, u, "apps", q, cursor, unitsPerPage)
	if err != nil {
		return err
	}
	teams, err := c.chooser(r, u, "teams", q)
	if err != nil {
		return err
	}
	writable := chooser{More: teams.More}
	for _, t := range teams.Units {
		if c.may(u, authz.AppsWrite, authz.Scope{OrgID: t.OrgID, TeamID: t.ID}) {
			writable.Units = append(writable.Units, t)
		}
	}
	// Past the chooser's teams, any grant of the action may be on a team
	// not shown.
	p.Can["create"] = len(writable.Units) > 0 || (teams.More && c.may(u, authz.AppsWrite, authz.Scope{OrgID: p.Org}))
	first, nextLink := "/portal/apps", ""
	if p.Org != "" {
		first += "?" + withOrg(p, url.Values{}).Encode()
	}
	if next != "" {
		nextLink = "/portal/apps?" + withOrg(p, url.Values{"cursor": {next}}).Encode()
	}
	p.Data = map[string]any{"Apps": apps, "Teams": writable, "Next": nextLink, "Paged": cursor != "", "First": first}
	return nil
}

func (c *Console) createApp(r *http.Request, u *user) (string, string, error) {
	f := r.PostForm
	var v admin.UnitView
	err := c.api(r, u, http.MethodPost, "/admin/v1/apps", nil,
		map[string]any{"name": f.Get("name"), "description": f.Get("description"), "team_id": f.Get("team_id")}, &v)
	if err != nil {
		return "/portal/apps", "", err
	}
	return "/portal/apps/" + url.PathEscape(v.ID), "Application " + v.Name + " created.", nil
}

type appData struct {
	App         admin.UnitView
	Keys        []keyRow
	NextKeys    string // the link to the next page of keys ("" on the last)
	Charts      string
	Total       top
	P50, P95    float64
	SpentMicros int64
	LeftMicros  int64
	Subs        []subView
	SubsMissing bool
	Now         time.Time
}

type keyRow struct {
	ID, Name, Prefix string
	Revoked          bool
}

func (c *Console) appPage(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	id := r.PathValue("id")
	var d appData
	if err := c.api(r, u, http.MethodGet, "/admin/v1/apps/"+url.PathEscape(id), nil, nil, &d.App); err != nil {
		return err
	}
	p.Title = "Application " + d.App.Name
	scope := authz.Scope{OrgID: d.App.OrgID, TeamID: d.App.TeamID}
	p.Can["keys"] = c.may(u, authz.KeysWrite, scope)
	keys, next, err := c.keyList(r, u, p, id, r.URL.Query().Get("cursor"))
	if err != nil {
		return err
	}
	for _, k := range keys {
		d.Keys = append(d.Keys, keyRow{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Revoked: k.RevokedAt != nil})
	}
	d.NextKeys = olderLink("/portal/apps/"+url.PathEscape(id), url.Values{}, next)
	var ov overviewData
	end := time.Now().UTC()
	appScope := url.Values{"app_id": {id}}
	ok, err := c.fromAnalytics(r, u, appScope, &ov, end, 24*time.Hour, time.Hour, false)
	if err != nil {
		return err
	}
	if !ok {
		if err := c.fromLedger(r, u, appScope, &ov, end, 24*time.Hour, time.Hour); err != nil {
			return err
		}
	}
	d.Charts, d.Total, d.P50, d.P95 = ov.Charts, ov.Total, ov.P50, ov.P95
	spent, err := c.monthSpend(r, u, appScope, "")
	if err != nil {
		return err
	}
	d.SpentMicros = spent[""]
	if bud := d.App.Limits.Budget; bud != nil {
		d.LeftMicros = max(0, int64(bud.AmountUSD*1e6)-d.SpentMicros)
	}
	var subs struct {
		Data []subView `json:"data"`
	}
	err = c.api(r, u, http.MethodGet, "/admin/v1/subscriptions", url.Values{"app_id": {id}, "usage": {"true"}}, nil, &subs)
	switch {
	case productsMissing(err):
		d.SubsMissing = true
	case err != nil && statusOf(err) >= 500:
		return err
	}
	d.Subs = subs.Data
	p.Data = d
	return nil
}

func (c *Console) createAppKey(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
	p.Title = "Key created"
	id := r.PathValue("id")
	var kc admin.KeyCreated
	if err := c.api(r, u, http.MethodPost, "/admin/v1/keys", nil, admin.KeyCreate{Name: r.PostForm.Get("name"), AppID: id}, &kc); err != nil {
		return err
	}
	p.Data = keyCreatedData{Created: kc, Back: "/portal/apps/" + url.PathEscape(id)}
	return nil
}
