package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/login/logintest"
)

// Single sign-on against an OpenID Connect identity provider in the test
// process (logintest: discovery, JWKS, a sign-in page at the authorization
// endpoint, RS256 ID tokens). The IdP's "groups" claim maps to roles in the
// organisation acme, declared in the file.

const ssoYAML = "version: 1\nproviders: [{name: demo, type: demo}]\nmodels:\n" +
	"  - {name: demo, targets: [{provider: demo, model: demo-chat}]}\n" +
	"orgs:\n  - name: acme\n    teams: [{name: search, applications: [{name: web}]}]\n" +
	"access:\n  oidc:\n    issuer: %q\n    client_id: %q\n    client_secret: %q\n" +
	"    redirect_url: \"http://${SLUICE_TEST_ADDR}/admin/v1/auth/oidc/callback\"\n" +
	"    role_claim: groups\n    role_map:\n" +
	"      - {value: readers, role: viewer, org: acme}\n      - {value: platform, role: admin, org: acme}\n"

// The IdP's users: two that Sluice admits, and two whose ID token it must
// refuse (minted for another client; expired when issued).
var (
	ssoViewer  = &logintest.User{Subject: "idp-vera", Email: "vera@example.com", Name: "Vera", EmailVerified: true, Groups: []string{"readers"}}
	ssoAdmin   = &logintest.User{Subject: "idp-otto", Email: "otto@example.com", Name: "Otto", EmailVerified: true, Groups: []string{"platform"}}
	ssoOtherRP = &logintest.User{Subject: "idp-aud", Email: "aud@example.com", EmailVerified: true, Groups: []string{"platform"},
		Audience: []string{"another-client"}}
	ssoExpired = &logintest.User{Subject: "idp-late", Email: "late@example.com", EmailVerified: true, Groups: []string{"platform"},
		ExpiresIn: -time.Minute}
	ssoDisabled = &logintest.User{Subject: "idp-dora", Email: "dora@example.com", EmailVerified: true, Groups: []string{"platform"}}
)

// startSSO starts the IdP with its sign-in page and Sluice configured for it.
func startSSO(t *testing.T) (*sluice, *logintest.IdP) {
	t.Helper()
	idp := logintest.Start(t, true)
	for _, u := range []*logintest.User{ssoViewer, ssoAdmin, ssoOtherRP, ssoExpired, ssoDisabled} {
		idp.Add(u)
	}
	return startSluice(t, fmt.Sprintf(ssoYAML, idp.Issuer(), idp.ClientID, idp.ClientSecret)), idp
}

// userExists says whether Sluice has a user with this email.
func (s *sluice) userExists(email string) bool {
	s.t.Helper()
	for _, u := range s.admin("GET", "/admin/v1/users", nil, 200)["data"].([]any) {
		if u.(map[string]any)["email"] == email {
			return true
		}
	}
	return false
}

// sessionWorks says whether the session cookie value still signs in to the
// admin API.
func (s *sluice) sessionWorks(value string) bool {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.base+"/admin/v1/me", nil)
	req.AddCookie(&http.Cookie{Name: admin.SessionCookie, Value: value})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

const ssoButton = `a[href^="/admin/v1/auth/oidc/login"]`

// TestBrowserSingleSignOn: chromium opens the console, picks single
// sign-on, signs in at the identity provider and lands back in the console
// as the mapped user with the mapped role: the viewer sees no write
// control, the admin does. Signing out ends the session on the server.
// A forged state, an ID token for another client and an expired ID token
// each end on the sign-in page with the reason, never signed in.
func TestBrowserSingleSignOn(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser suite is not short")
	}
	if chromiumPath() == "" && os.Getenv("SLUICE_TEST_REQUIRE_BROWSER") != "1" {
		newDriver(t, "") // skips with the reason
	}
	s, _ := startSSO(t)
	d := newDriver(t, s.base)

	// The viewer signs in through the identity provider.
	d.run(chromedp.Navigate(s.base+"/console/"), chromedp.WaitVisible(ssoButton, chromedp.ByQuery))
	d.clean("sign-in page")
	d.shot("sso-sign-in")
	d.ssoSignIn(ssoViewer.Email, nil, "sso-identity-provider")
	d.run(chromedp.WaitVisible(`form[action="/console/logout"]`, chromedp.ByQuery))
	d.clean("viewer signed in")
	d.shot("sso-viewer-signed-in")
	var loc string
	d.run(chromedp.Location(&loc))
	if who := strings.TrimSpace(d.text(".me")); loc != s.base+"/console/" || who != ssoViewer.Email {
		t.Fatalf("after single sign-on: at %s as %q, want /console/ as %s", loc, who, ssoViewer.Email)
	}
	for _, p := range []string{"/console/", "/console/tenancy", "/console/keys", "/console/users", "/console/limits", "/console/ledger", "/portal/apps"} {
		d.visit(p, "")
		if n := d.writeControls(); n > 0 {
			d.shot("sso-viewer-write-controls")
			t.Errorf("the viewer signed in by single sign-on sees %d write controls on %s", n, p)
		}
	}
	d.visit("/console/keys", "sso-viewer-keys")

	// Signing out ends the session: its cookie no longer signs in.
	session := d.sessionCookie()
	if !s.sessionWorks(session) {
		t.Fatal("the single sign-on session does not sign in to the admin API")
	}
	d.signOut()
	d.clean("signed out")
	d.shot("sso-signed-out")
	if s.sessionWorks(session) {
		t.Error("the session cookie still signs in after signing out")
	}

	// The admin's claim maps to admin: it sees the write controls.
	d.ssoSignIn(ssoAdmin.Email, nil, "")
	d.run(chromedp.WaitVisible(`form[action="/console/logout"]`, chromedp.ByQuery))
	d.visit("/console/keys", "sso-admin-keys")
	if who := strings.TrimSpace(d.text(".me")); who != ssoAdmin.Email || d.writeControls() == 0 {
		t.Errorf("the admin signed in by single sign-on: as %q with %d write controls on the keys page", who, d.writeControls())
	}
	d.signOut()

	// Refused sign-ins end on the sign-in page with the reason.
	refused := []struct {
		name, email string
		forge       func(*driver)
		reason      string
	}{
		{"forged-state", ssoViewer.Email, func(d *driver) {
			d.run(chromedp.SetValue(`input[name="state"]`, "forged-state", chromedp.ByQuery))
		}, "state does not match"},
		{"other-audience", ssoOtherRP.Email, nil, "could not be verified"},
		{"expired-token", ssoExpired.Email, nil, "could not be verified"},
	}
	for _, tc := range refused {
		d.ssoSignIn(tc.email, tc.forge, "")
		d.run(chromedp.WaitVisible(`.flash.err, form[action="/console/logout"]`, chromedp.ByQuery)) // refused, or (a bug) signed in
		var msg string
		d.run(chromedp.Evaluate(`(document.querySelector(".flash.err") || {}).textContent || ""`, &msg))
		d.clean(tc.name)
		d.shot("sso-refused-" + tc.name)
		d.run(chromedp.Location(&loc))
		var signedIn bool
		d.run(chromedp.Evaluate(`document.querySelector('form[action="/console/logout"]') !== null`, &signedIn))
		if !strings.HasPrefix(loc, s.base+"/console/login") || !strings.Contains(msg, "Single sign-on failed") ||
			!strings.Contains(msg, tc.reason) || signedIn {
			t.Errorf("%s: at %s, signed in %v, message %q; want the sign-in page saying %q", tc.name, loc, signedIn, msg, tc.reason)
		}
		if signedIn {
			d.signOut()
		}
		d.run(chromedp.Navigate(s.base+"/console/keys"), chromedp.WaitVisible("#email", chromedp.ByID))
	}
	for _, u := range []*logintest.User{ssoOtherRP, ssoExpired} {
		if s.userExists(u.Email) {
			t.Errorf("a refused sign-in created the user %s", u.Email)
		}
	}
}

// ssoSignIn starts single sign-on from the sign-in page and signs in at
// the identity provider's page as email; forge, when set, tampers with
// that page first; shot names a screenshot of the filled-in page.
func (d *driver) ssoSignIn(email string, forge func(*driver), shot string) {
	d.t.Helper()
	d.run(chromedp.Navigate(d.base+"/console/login"), chromedp.WaitVisible(ssoButton, chromedp.ByQuery),
		chromedp.Click(ssoButton, chromedp.ByQuery), chromedp.WaitVisible("#idp-login", chromedp.ByID))
	d.clean("identity provider")
	if forge != nil {
		forge(d)
	}
	d.run(chromedp.SendKeys("#idp-login", email, chromedp.ByID))
	if shot != "" {
		d.shot(shot)
	}
	d.run(chromedp.Click("#idp-submit", chromedp.ByID))
}

// sessionCookie is the value of the browser's session cookie.
func (d *driver) sessionCookie() string {
	d.t.Helper()
	var cookies []*network.Cookie
	d.run(chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = network.GetCookies().WithURLs([]string{d.base}).Do(ctx)
		return err
	}))
	for _, c := range cookies {
		if c.Name == admin.SessionCookie {
			return c.Value
		}
	}
	d.t.Fatal("the browser has no session cookie")
	return ""
}

// TestSingleSignOnFailureLandsOnSignIn (no browser): a callback that fails
// sends the browser to the console's sign-in page with the reason, and
// signs nobody in; an API client still gets the JSON error.
func TestSingleSignOnFailureLandsOnSignIn(t *testing.T) {
	s, _ := startSSO(t)
	// dora has a password account, disabled: single sign-on links to it, and refuses.
	dora := s.admin("POST", "/admin/v1/users", map[string]any{"email": ssoDisabled.Email, "password": "correct-horse-battery"}, 201)["id"].(string)
	s.admin("PATCH", "/admin/v1/users/"+dora, map[string]any{"disabled": true}, 200)
	tests := []struct {
		name   string
		email  string
		edit   func(idpURL url.Values)
		replay bool
		refuse bool // the IdP answers the callback with an error instead of a code
		tamper bool // the sealed login cookie (state, nonce, PKCE verifier) is altered
		reason string
	}{
		{"forged state", ssoViewer.Email, func(q url.Values) { q.Set("state", "forged-state") }, false, false, false, "state does not match"},
		{"tampered login cookie", ssoViewer.Email, nil, false, false, true, "no sign-in in progress"},
		{"ID token for another client", ssoOtherRP.Email, nil, false, false, false, "could not be verified"},
		{"expired ID token", ssoExpired.Email, nil, false, false, false, "could not be verified"},
		{"replayed callback", ssoViewer.Email, nil, true, false, false, "no sign-in in progress"},
		{"refused at the IdP", ssoViewer.Email, nil, false, true, false, "did not sign you in"},
		{"disabled user", ssoDisabled.Email, nil, false, false, false, "This user is disabled."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := s.browser()
			callback := b.ssoToCallback(tc.email, tc.edit)
			if tc.refuse {
				u, _ := url.Parse(callback)
				u.RawQuery = url.Values{"error": {"access_denied"}, "state": {u.Query().Get("state")}}.Encode()
				callback = u.String()
			}
			if tc.tamper {
				u, _ := url.Parse(callback)
				for _, c := range b.c.Jar.Cookies(u) {
					if c.Name == "sluice_oidc" {
						v := []byte(c.Value)
						v[len(v)/2] ^= 1 // any flipped bit breaks the seal, or the base64
						b.c.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: string(v), Path: u.Path}})
					}
				}
			}
			if tc.replay {
				if a := b.getHTML(callback); a.code != http.StatusFound || a.h.Get("Location") != "/console/" {
					t.Fatalf("first callback: %d %s", a.code, a.h.Get("Location"))
				}
				b = s.browser() // another browser replays the callback
			}
			a := b.getHTML(callback)
			loc, _ := url.Parse(a.h.Get("Location"))
			if a.code != http.StatusSeeOther || loc == nil || loc.Path != "/console/login" ||
				!strings.Contains(loc.Query().Get("err"), tc.reason) {
				t.Fatalf("callback: %d, Location %q; want 303 to /console/login saying %q", a.code, a.h.Get("Location"), tc.reason)
			}
			page := b.get(loc.RequestURI())
			if !strings.Contains(page.body, `role="alert"`) || !strings.Contains(page.body, "Single sign-on failed") {
				t.Fatalf("the sign-in page does not show the failure:\n%s", page.body)
			}
			if me := b.get("/admin/v1/me"); me.code != http.StatusUnauthorized {
				t.Fatalf("after a failed sign-on /admin/v1/me answers %d", me.code)
			}
		})
	}
	t.Run("API client", func(t *testing.T) {
		b := s.browser()
		callback := b.ssoToCallback(ssoOtherRP.Email, nil)
		a := b.get(strings.TrimPrefix(callback, s.base))
		if a.code != http.StatusUnauthorized || !strings.Contains(a.body, `"sso_failed"`) {
			t.Fatalf("callback without Accept: text/html: %d %s", a.code, a.body)
		}
	})
}

// ssoToCallback goes from Sluice's single sign-on start through the IdP's
// sign-in page as email and returns the callback URL the IdP sends the
// browser to; edit may change the IdP request's parameters first.
func (b *browser) ssoToCallback(email string, edit func(url.Values)) string {
	b.t.Helper()
	a := b.get("/admin/v1/auth/oidc/login?return_to=/console/")
	idp, err := url.Parse(a.h.Get("Location"))
	if a.code != http.StatusFound || err != nil {
		b.t.Fatalf("single sign-on start: %d %s", a.code, a.h.Get("Location"))
	}
	q := idp.Query()
	if edit != nil {
		edit(q)
	}
	q.Set("idp_login", email)
	idp.RawQuery = q.Encode()
	resp, err := b.c.Get(idp.String())
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(callback, b.s.base+"/admin/v1/auth/oidc/callback?") {
		b.t.Fatalf("identity provider: %d %s", resp.StatusCode, callback)
	}
	return callback
}

// getHTML gets an absolute URL as a browser navigating would.
func (b *browser) getHTML(u string) answer {
	b.t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(raw)}
}
