package console

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/authz"
)

// page is what every template gets.
type page struct {
	Title string
	Face  string // "console" or "portal"
	Nav   string
	Who   string
	Super bool
	CSRF  string
	Msg   string
	Err   string
	Org   string    // the selected organisation ("": all, super-admin only)
	Orgs  []orgItem // for the organisation selector: the first chooserMax, and the selected one
	// OrgsMore: the user may read more organisations than Orgs holds; the
	// selector is then a text field for an id, suggesting Orgs.
	OrgsMore bool
	orgUnits []admin.UnitView // Orgs as the admin API answered them
	OIDC     bool
	Can      map[string]bool
	Data     any
	Query    url.Values
	NavList  []navItem
}

type orgItem struct{ ID, Name string }

type navItem struct {
	Path, Label, Key string
}

// handler is a page: it returns the template's data, or an error.
type handler func(w http.ResponseWriter, r *http.Request, u *user, p *page) error

func (c *Console) routes() {
	m := c.mux
	m.HandleFunc("GET /console/static/{file...}", c.static)
	m.HandleFunc("GET /console/login", c.loginPage)
	m.HandleFunc("GET /portal/login", c.loginPage)
	m.HandleFunc("POST /console/login", c.loginPassword)
	m.HandleFunc("POST /console/login/token", c.loginToken)
	m.HandleFunc("POST /console/logout", c.logout)

	m.Handle("GET /console/{$}", c.page("overview", "overview", c.overview))
	m.Handle("GET /console/providers", c.page("providers", "providers", c.providers))
	m.Handle("POST /console/providers", c.action(c.createProvider))
	m.Handle("POST /console/providers/{id}/delete", c.action(c.deleteProvider))
	m.Handle("GET /console/models", c.page("models", "models", c.models))
	m.Handle("POST /console/reload", c.action(c.reload))
	m.Handle("GET /console/tenancy", c.page("tenancy", "tenancy", c.tenancy))
	m.Handle("POST /console/tenancy", c.action(c.createUnit))
	m.Handle("GET /console/users", c.page("users", "users", c.users))
	m.Handle("POST /console/users", c.action(c.createUser))
	m.Handle("POST /console/bindings", c.action(c.createBinding))
	m.Handle("POST /console/bindings/{id}/delete", c.action(c.deleteBinding))
	m.Handle("GET /console/keys", c.page("keys", "keys", c.keys))
	m.Handle("POST /console/keys", c.page("keycreated", "keys", c.createKey))
	m.Handle("POST /console/keys/{id}/rotate", c.page("keycreated", "keys", c.rotateKey))
	m.Handle("POST /console/keys/{id}/revoke", c.action(c.revokeKey))
	m.Handle("GET /console/limits", c.page("limits", "limits", c.limits))
	m.Handle("GET /console/ledger", c.page("ledger", "ledger", c.ledger))
	m.Handle("GET /console/audit", c.page("audit", "audit", c.audit))
	m.Handle("GET /console/products", c.page("products", "products", c.products))
	m.Handle("POST /console/products/{id}/versions/{version}/{event}", c.action(c.versionEvent))
	m.Handle("GET /console/subscriptions", c.page("subscriptions", "subscriptions", c.subscriptions))
	m.Handle("POST /console/subscriptions/{id}/{event}", c.action(c.subscriptionEvent))
	c.promptRoutes()
	c.experimentRoutes()
	c.alertRoutes()
	c.consolePagesRoutes() // playground, guardrails and cache, product diffs, limit forms (playground.go)

	c.portalRoutes()
	m.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, http.StatusNotFound, "error", &page{Title: "Not found", Face: "console", Err: "No such page."})
	})
}

var consoleNav = []navItem{
	{"/console/", "Overview", "overview"},
	{"/console/providers", "Providers", "providers"},
	{"/console/models", "Models", "models"},
	{"/console/tenancy", "Organisations", "tenancy"},
	{"/console/users", "Users", "users"},
	{"/console/keys", "Keys", "keys"},
	{"/console/limits", "Limits", "limits"},
	{"/console/ledger", "Ledger", "ledger"},
	{"/console/audit", "Audit", "audit"},
	{"/console/products", "Products", "products"},
	{"/console/subscriptions", "Subscriptions", "subscriptions"},
	{"/console/prompts", "Prompts", "prompts"},
	{"/console/experiments", "Experiments", "experiments"},
	{"/console/alerts", "Alerts", "alerts"},
	{"/portal/", "Portal", "portal"},
}

// navFor hides the pages whose API the user may not read.
func (c *Console) navFor(u *user, face string) []navItem {
	if face == "portal" {
		return portalNav
	}
	var out []navItem
	for _, n := range consoleNav {
		ok := true
		switch n.Key {
		case "providers":
			ok = c.may(u, authz.ProvidersRead, authz.Scope{})
		case "models":
			ok = c.may(u, authz.GatewayRead, authz.Scope{})
		case "users":
			ok = c.may(u, authz.UsersRead, authz.Scope{})
		case "audit":
			ok = c.may(u, authz.AuditRead, authz.Scope{})
		case "experiments", "alerts":
			ok = c.may(u, authz.GatewayRead, authz.Scope{})
		case "prompts":
			ok = c.may(u, authz.PromptsRead, authz.Scope{})
		}
		if ok {
			out = append(out, n)
		}
	}
	return out
}

func faceOf(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/portal") {
		return "portal"
	}
	return "console"
}

// page wraps a page handler: the user must be signed in; POSTs need the
// CSRF token; an API refusal is shown on the page.
func (c *Console) page(tmpl, nav string, fn handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		face := faceOf(r)
		u, err := c.signedIn(r)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		if u == nil {
			c.toLogin(w, r)
			return
		}
		if r.Method == http.MethodPost {
			if err := checkForm(r, u.csrf); err != nil {
				c.fail(w, r, err)
				return
			}
		}
		p := &page{Face: face, Nav: nav, Who: u.me.Email, Super: u.me.Super, CSRF: u.csrf, Can: map[string]bool{},
			Msg: r.URL.Query().Get("msg"), Err: r.URL.Query().Get("err"), Query: r.URL.Query(), OIDC: c.opts.OIDC}
		if p.Who == "" {
			p.Who = "admin token"
		}
		if err := c.selectOrg(r, u, p); err != nil {
			c.fail(w, r, err)
			return
		}
		p.NavList = c.navFor(u, face)
		if err := fn(w, r, u, p); err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.Status < 500 {
				p.Err = ae.Message
				status := ae.Status
				if status == http.StatusUnauthorized {
					c.toLogin(w, r)
					return
				}
				if p.Title == "" {
					p.Title = http.StatusText(status)
				}
				c.render(w, r, status, "error", p)
				return
			}
			c.fail(w, r, err)
			return
		}
		if p.Data == redirected {
			return
		}
		c.render(w, r, http.StatusOK, tmpl, p)
	})
}

// redirected marks a handler that answered itself.
var redirected = new(int)

// action is a POST that changes something and returns to a page: the
// page it names, with a message, or the referring page with the refusal.
func (c *Console) action(fn func(r *http.Request, u *user) (string, string, error)) http.Handler {
	return c.page("error", "", func(w http.ResponseWriter, r *http.Request, u *user, p *page) error {
		back, msg, err := fn(r, u)
		q := url.Values{}
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status >= 500 {
				return err
			}
			q.Set("err", ae.Message)
		} else if msg != "" {
			q.Set("msg", msg)
		}
		if org := r.PostForm.Get("org"); org != "" {
			q.Set("org", org)
		}
		target := back
		if len(q) > 0 {
			sep := "?"
			if strings.Contains(back, "?") {
				sep = "&"
			}
			target += sep + q.Encode()
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		p.Data = redirected
		return nil
	})
}

func (c *Console) toLogin(w http.ResponseWriter, r *http.Request) {
	login := "/console/login"
	if faceOf(r) == "portal" {
		login = "/portal/login"
	}
	if r.Method == http.MethodGet {
		login += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, login, http.StatusSeeOther)
}

func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	status, msg := http.StatusInternalServerError, "Internal error."
	if errors.As(err, &ae) && ae.Status < 500 {
		status, msg = ae.Status, ae.Message
	} else {
		c.opts.Logger.Error("console page failed", "path", r.URL.Path, "err", err)
	}
	c.render(w, r, status, "error", &page{Title: http.StatusText(status), Face: faceOf(r), Err: msg})
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	t := c.pages[name]
	if t == nil {
		t = c.pages["error"]
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		c.opts.Logger.Error("console template failed", "page", name, "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	writeMaybeGzip(w, r, status, buf.Bytes())
}

// writeMaybeGzip answers body, gzipped when the client takes it: pages
// shrink to a fraction of their size on the wire.
func writeMaybeGzip(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	w.Header().Add("Vary", "Accept-Encoding")
	if len(body) < 1024 || !acceptsGzip(r) {
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.DefaultCompression)
	_, _ = zw.Write(body)
	_ = zw.Close()
	w.Header().Set("Content-Encoding", "gzip")
	w.WriteHeader(status)
	_, _ = w.Write(z.Bytes())
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// selectOrg fills the organisation selector: the first chooserMax
// organisations the user may read (one bounded read however many there
// are); ?org= picks one (the super-admin may pick none: all). An id past
// the first chooserMax is read on its own, so it is as selectable as the
// others and as refused when the user may not read it.
func (c *Console) selectOrg(r *http.Request, u *user, p *page) error {
	orgs, next, err := c.unitPage(r, u, "orgs", url.Values{}, "", chooserMax)
	if err != nil {
		return err
	}
	p.OrgsMore = next != ""
	want := r.URL.Query().Get("org")
	if r.Method == http.MethodPost {
		want = r.PostForm.Get("org")
	}
	if want != "" && p.OrgsMore && !slices.ContainsFunc(orgs, func(o admin.UnitView) bool { return o.ID == want }) {
		var v admin.UnitView
		if err := c.api(r, u, http.MethodGet, "/admin/v1/orgs/"+url.PathEscape(want), nil, nil, &v); err == nil && v.ID == want {
			orgs = append(orgs, v)
		}
	}
	p.orgUnits = orgs
	for _, o := range orgs {
		p.Orgs = append(p.Orgs, orgItem{o.ID, o.Name})
	}
	for _, o := range p.Orgs {
		if o.ID == want {
			p.Org = want
			return nil
		}
	}
	if !u.me.Super && len(p.Orgs) > 0 {
		p.Org = p.Orgs[0].ID
	}
	return nil
}

// scope is the ledger/audit query for the selected organisation.
func scopeQuery(p *page) url.Values {
	q := url.Values{}
	if p.Org != "" {
		q.Set("org_id", p.Org)
	}
	return q
}

// Sign in and out.

type loginData struct {
	Next      string
	LoginCSRF string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if u, _ := c.signedIn(r); u != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next"), faceOf(r)), http.StatusSeeOther)
		return
	}
	tok := random()
	setCookie(w, r, loginCSRF, tok, 3600)
	p := &page{Title: "Sign in", Face: faceOf(r), OIDC: c.opts.OIDC, Err: r.URL.Query().Get("err"),
		Data: loginData{Next: safeNext(r.URL.Query().Get("next"), faceOf(r)), LoginCSRF: tok}}
	c.render(w, r, http.StatusOK, "login", p)
}

// safeNext keeps a return path on the console or the portal.
func safeNext(next, face string) string {
	if (strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "/portal/")) && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return "/" + face + "/"
}

// checkLoginForm checks the login form against its double-submit cookie.
func checkLoginForm(r *http.Request) error {
	ck, err := r.Cookie(loginCSRF)
	if err != nil {
		return checkForm(r, "")
	}
	return checkForm(r, ck.Value)
}

func (c *Console) loginFailed(w http.ResponseWriter, r *http.Request, msg string) {
	next := r.PostForm.Get("next")
	login := "/console/login"
	if strings.HasPrefix(next, "/portal/") {
		login = "/portal/login"
	}
	http.Redirect(w, r, login+"?"+url.Values{"err": {msg}, "next": {safeNext(next, "console")}}.Encode(), http.StatusSeeOther)
}

func (c *Console) loginPassword(w http.ResponseWriter, r *http.Request) {
	if err := checkLoginForm(r); err != nil {
		c.fail(w, r, err)
		return
	}
	body := admin.LoginRequest{Email: r.PostForm.Get("email"), Password: r.PostForm.Get("password")}
	rec, err := c.call(r, cred{}, "", http.MethodPost, "/admin/v1/auth/login", nil, body, nil)
	if err != nil {
		if s := statusOf(err); s > 0 && s < 500 {
			c.loginFailed(w, r, err.Error())
			return
		}
		c.fail(w, r, err)
		return
	}
	// The admin API's session cookie is the console's.
	for _, ck := range (&http.Response{Header: rec.h}).Cookies() {
		if ck.Name == admin.SessionCookie {
			http.SetCookie(w, ck)
		}
	}
	setCookie(w, r, tokenCookie, "", -1)
	setCookie(w, r, loginCSRF, "", -1)
	http.Redirect(w, r, safeNext(r.PostForm.Get("next"), "console"), http.StatusSeeOther)
}

func (c *Console) loginToken(w http.ResponseWriter, r *http.Request) {
	if err := checkLoginForm(r); err != nil {
		c.fail(w, r, err)
		return
	}
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	if tok == "" {
		c.loginFailed(w, r, "Paste the admin token.")
		return
	}
	var me admin.Me
	if _, err := c.call(r, cred{token: tok}, "", http.MethodGet, "/admin/v1/me", nil, nil, &me); err != nil {
		if s := statusOf(err); s > 0 && s < 500 {
			c.loginFailed(w, r, "That token is not valid.")
			return
		}
		c.fail(w, r, err)
		return
	}
	id, err := c.tokens.put(tokenSession{token: tok, csrf: random(), expires: time.Now().Add(tokenTTL)})
	if err != nil {
		c.loginFailed(w, r, err.Error())
		return
	}
	setCookie(w, r, tokenCookie, id, int(tokenTTL/time.Second))
	setCookie(w, r, loginCSRF, "", -1)
	http.Redirect(w, r, safeNext(r.PostForm.Get("next"), "console"), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	u, err := c.signedIn(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if u != nil {
		if err := checkForm(r, u.csrf); err != nil {
			c.fail(w, r, err)
			return
		}
		if u.cred.tokenID != "" {
			c.tokens.drop(u.cred.tokenID)
		} else if err := c.api(r, u, http.MethodPost, "/admin/v1/auth/logout", nil, nil, nil); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	setCookie(w, r, tokenCookie, "", -1)
	http.SetCookie(w, &http.Cookie{Name: admin.SessionCookie, Value: "", Path: "/", HttpOnly: true, MaxAge: -1})
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// Template helpers.

var funcs = template.FuncMap{
	"usd": func(micros int64) string {
		return "$" + strconv.FormatFloat(float64(micros)/1e6, 'f', 4, 64)
	},
	"dollars": func(v float64) string { return "$" + strconv.FormatFloat(v, 'f', 2, 64) },
	"num": func(n int64) string {
		s := strconv.FormatInt(n, 10)
		var b strings.Builder
		for i, ch := range s {
			if i > 0 && (len(s)-i)%3 == 0 && s[0] != '-' {
				b.WriteByte(',')
			}
			b.WriteRune(ch)
		}
		return b.String()
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"whenp": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04")
	},
	"ms":   func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + " ms" },
	"join": strings.Join,
	"pct": func(used, of int64) int64 {
		if of <= 0 {
			return 0
		}
		return min(100, used*100/of)
	},
	"orgq": func(p *page) string {
		if p.Org == "" {
			return ""
		}
		return "?org=" + url.QueryEscape(p.Org)
	},
	"sub": func(a, b int) int { return a - b },
	"short": func(s string, n int) string {
		if len(s) <= n {
			return s
		}
		return s[:n] + "…"
	},
	"str": func(v any) string { return fmt.Sprint(v) },
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		return m
	},
}
