// Package console serves Sluice's web faces from the binary: the operator
// console under /console/ and the developer portal under /portal/.
//
// Pages are rendered on the server with html/template from an embed.FS; the
// little JavaScript there is (htmx, uPlot and app.js) is vendored and pinned
// (scripts/vendor-js.sh). Every page reads and writes through the admin API,
// called in process with the signed-in user's own credential: a page can
// show and do only what the API allows that user, and the same compiled
// authorization (the snapshot's authz.Policy) decides both. The policy is
// consulted directly only to hide controls the API would refuse anyway.
package console

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/login"
	"github.com/sluicehq/sluice/internal/runtime"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/app.css static/app.js static/vendor/htmx/htmx.min.js static/vendor/uplot/uPlot.iife.min.js static/vendor/uplot/uPlot.min.css
var staticFS embed.FS

// Options configure the console and the portal.
type Options struct {
	// API serves the admin API (/admin/v1/...). Pages call it in process
	// with the user's session cookie or token.
	API http.Handler
	// Snapshots holds the running configuration, whose Policy decides
	// which write controls a page shows.
	Snapshots *runtime.Holder
	// OIDC shows the single sign-on button.
	OIDC   bool
	Logger *slog.Logger
}

// Console serves /console/ and /portal/.
type Console struct {
	opts   Options
	mux    *http.ServeMux
	pages  map[string]*template.Template
	tokens tokenSessions
}

// New returns the console; it fails only if a template does not parse.
func New(opts Options) (*Console, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Console{opts: opts, mux: http.NewServeMux(), tokens: tokenSessions{m: map[string]tokenSession{}}}
	if err := c.parse(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// Register adds /console/ and /portal/ to mux.
func (c *Console) Register(mux interface {
	Handle(pattern string, h http.Handler)
}) {
	mux.Handle("/console/", c)
	mux.Handle("/portal/", c)
}

// csp allows only this origin's scripts and styles: no inline script, no
// inline style, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	// The page's admin API calls share one authentication of the user's
	// credential (admin.InProcess); each is still authorized by the API.
	c.mux.ServeHTTP(w, r.WithContext(admin.InProcess(r.Context())))
}

func (c *Console) parse() error {
	layout, err := fs.ReadFile(templateFS, "templates/layout.html")
	if err != nil {
		return err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	c.pages = map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		body, err := fs.ReadFile(templateFS, n)
		if err != nil {
			return err
		}
		t, err := template.New("layout").Funcs(funcs).Parse(string(layout))
		if err != nil {
			return fmt.Errorf("console: layout: %w", err)
		}
		if _, err := t.Parse(string(body)); err != nil {
			return fmt.Errorf("console: %s: %w", n, err)
		}
		c.pages[name] = t
	}
	return nil
}

// Sessions. A password or single sign-on login is the admin API's own
// session (its cookie, admin.SessionCookie, with its CSRF token). A sign-in
// with an admin token (the bootstrap token printed on the first start, or
// a user's admin API token) keeps the token on the server, in this
// process's memory, behind a random cookie: it is for the first operator,
// who creates users and then signs in with a password.

const (
	tokenCookie   = "sluice_console_token"
	loginCSRF     = "sluice_console_login"
	tokenTTL      = 8 * time.Hour
	maxTokenUsers = 1000
)

type tokenSession struct {
	token, csrf string
	expires     time.Time
}

type tokenSessions struct {
	mu sync.Mutex
	m  map[string]tokenSession
}

func (ts *tokenSessions) get(id string) (tokenSession, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	s, ok := ts.m[id]
	if ok && time.Now().After(s.expires) {
		delete(ts.m, id)
		return s, false
	}
	return s, ok
}

func (ts *tokenSessions) put(s tokenSession) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	now := time.Now()
	for id, o := range ts.m {
		if now.After(o.expires) {
			delete(ts.m, id)
		}
	}
	if len(ts.m) >= maxTokenUsers {
		return "", errors.New("too many token sign-ins; sign in with a password")
	}
	id := random()
	ts.m[id] = s
	return id, nil
}

func (ts *tokenSessions) drop(id string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	delete(ts.m, id)
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// cred is how a request reaches the admin API.
type cred struct {
	session string // admin session cookie value
	token   string // bearer token
	tokenID string // the token session's id
	csrf    string // the token session's CSRF token (a session's comes from /me)
}

func credOf(r *http.Request, ts *tokenSessions) (cred, bool) {
	if ck, err := r.Cookie(tokenCookie); err == nil && ck.Value != "" {
		if s, ok := ts.get(ck.Value); ok {
			return cred{token: s.token, tokenID: ck.Value, csrf: s.csrf}, true
		}
	}
	if ck, err := r.Cookie(admin.SessionCookie); err == nil && ck.Value != "" {
		return cred{session: ck.Value}, true
	}
	return cred{}, false
}

// apiError is a refusal of the admin API.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Message }

func statusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// recorder collects an in-process admin API answer.
type recorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.h }
func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

// call asks the admin API, as the user of r, and decodes its answer into
// out (nil: ignore it). A non-2xx answer is an *apiError.
func (c *Console) call(r *http.Request, cr cred, csrf, method, path string, query url.Values, body, out any) (*recorder, error) {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	target := path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(r.Context(), method, target, rd)
	if err != nil {
		return nil, err
	}
	req.RemoteAddr, req.Host, req.TLS = r.RemoteAddr, r.Host, r.TLS
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if id := r.Header.Get("X-Request-Id"); id != "" {
		req.Header.Set("X-Request-Id", id)
	}
	switch {
	case cr.token != "":
		req.Header.Set("Authorization", "Bearer "+cr.token)
	case cr.session != "":
		req.AddCookie(&http.Cookie{Name: admin.SessionCookie, Value: cr.session})
		if csrf != "" {
			req.Header.Set(admin.CSRFHeader, csrf)
		}
	}
	rec := &recorder{h: http.Header{}}
	c.opts.API.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status < 200 || rec.status > 299 {
		var e struct {
			Error struct {
				Message string `json:"message"`
				Code    string `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(rec.body.Bytes(), &e)
		if e.Error.Message == "" {
			e.Error.Message = http.StatusText(rec.status)
		}
		return rec, &apiError{Status: rec.status, Code: e.Error.Code, Message: e.Error.Message}
	}
	if out != nil {
		if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
			return rec, fmt.Errorf("console: decoding %s %s: %w", method, path, err)
		}
	}
	return rec, nil
}

// user is the signed-in user of a page.
type user struct {
	cred cred
	me   admin.Me
	pr   *authz.Principal
	csrf string
}

// signedIn finds the user of r through GET /admin/v1/me; nil when r has no
// valid credential.
func (c *Console) signedIn(r *http.Request) (*user, error) {
	cr, ok := credOf(r, &c.tokens)
	if !ok {
		return nil, nil
	}
	u := &user{cred: cr}
	if _, err := c.call(r, cr, "", http.MethodGet, "/admin/v1/me", nil, nil, &u.me); err != nil {
		if s := statusOf(err); s == http.StatusUnauthorized || s == http.StatusForbidden {
			return nil, nil
		}
		return nil, err
	}
	u.csrf = u.me.CSRFToken
	if cr.token != "" {
		u.csrf = cr.csrf
	}
	u.pr = &authz.Principal{Kind: u.me.Kind, UserID: u.me.UserID, Email: u.me.Email, Super: u.me.Super}
	for _, b := range u.me.Bindings {
		u.pr.Bindings = append(u.pr.Bindings, authz.Binding{Role: authz.Role(b.Role), OrgID: b.OrgID, TeamID: b.TeamID})
	}
	return u, nil
}

// may reports whether the policy allows u action somewhere in s (the zero
// Scope: anywhere); pages use it only to hide controls.
func (c *Console) may(u *user, a authz.Action, s authz.Scope) bool {
	if c.opts.Snapshots == nil {
		return false
	}
	snap := c.opts.Snapshots.Load()
	if snap == nil || snap.Policy == nil {
		return false
	}
	if a.Platform() {
		return snap.Policy.Allowed(u.pr, a, s)
	}
	return snap.Policy.AllowedWithin(u.pr, a, s)
}

// api calls the admin API as u; unsafe methods carry u's CSRF token.
func (c *Console) api(r *http.Request, u *user, method, path string, query url.Values, body, out any) error {
	_, err := c.call(r, u.cred, u.csrf, method, path, query, body, out)
	return err
}

// checkForm parses a POSTed form and checks its CSRF token.
func checkForm(r *http.Request, want string) error {
	r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		return &apiError{Status: http.StatusBadRequest, Message: "The form could not be read."}
	}
	got := r.PostForm.Get("csrf")
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return &apiError{Status: http.StatusForbidden, Code: "csrf_failed", Message: "The form expired or came from another site; reload the page and try again."}
	}
	return nil
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: login.SecureRequest(r),
		SameSite: http.SameSiteLaxMode, MaxAge: maxAge})
}

// static serves the embedded assets with a long cache (their names change
// with their version).
func (c *Console) static(w http.ResponseWriter, r *http.Request) {
	name := "static/" + r.PathValue("file")
	b, err := fs.ReadFile(staticFS, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	switch {
	case strings.HasSuffix(name, ".js"):
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	case strings.HasSuffix(name, ".css"):
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeMaybeGzip(w, r, http.StatusOK, b)
}
