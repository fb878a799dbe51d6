// Package logintest is an OpenID Connect identity provider for tests, on
// 127.0.0.1: mockoidc (discovery, JWKS, authorization and token endpoints,
// RS256-signed ID tokens) with users that carry the claims an admin IdP
// sends, and, when asked, a sign-in page in front of the authorization
// endpoint that a browser fills in. The login package's tests and the
// console's browser suite both use it.
package logintest

import (
	"context"
	"html/template"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

// User is a user of the IdP. Audience and ExpiresIn let a test make the
// IdP sign an ID token that the relying party must refuse.
type User struct {
	Subject, Email, Name string
	EmailVerified        bool
	Groups               any // string, []string or nil

	// Audience, when set, replaces the ID token's audience: a token minted
	// for another client.
	Audience []string
	// ExpiresIn, when not zero, replaces the ID token's lifetime; negative:
	// it expired before it was issued.
	ExpiresIn time.Duration
}

var _ mockoidc.User = (*User)(nil)

// ID is the subject.
func (u *User) ID() string { return u.Subject }

// Userinfo answers the userinfo endpoint with the subject only: relying
// parties read the ID token.
func (u *User) Userinfo([]string) ([]byte, error) { return []byte(`{"sub":"` + u.Subject + `"}`), nil }

// Claims are the ID token's claims, whatever the scope.
func (u *User) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	if len(u.Audience) > 0 {
		base.Audience = jwt.ClaimStrings(u.Audience)
	}
	if u.ExpiresIn != 0 {
		base.ExpiresAt = jwt.NewNumericDate(base.IssuedAt.Add(u.ExpiresIn))
	}
	return &claims{IDTokenClaims: base, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name, Groups: u.Groups}, nil
}

type claims struct {
	*mockoidc.IDTokenClaims
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name,omitempty"`
	Groups        any    `json:"groups,omitempty"`
}

// IdP is a running identity provider. Its authorization endpoint either
// approves at once, as the user queued next (QueueUser), or, with a
// sign-in page, as the user added (Add) whose email is typed in.
type IdP struct {
	*mockoidc.MockOIDC

	mu    sync.Mutex
	users map[string]*User // by lower-case email
}

// Start starts an IdP on 127.0.0.1 and stops it when the test ends.
// signInPage puts a sign-in form in front of the authorization endpoint.
func Start(t testing.TB, signInPage bool) *IdP {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &IdP{MockOIDC: m, users: map[string]*User{}}
	if signInPage {
		if err := m.AddMiddleware(p.signIn); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Server.Shutdown(ctx)
	})
	return p
}

// Add makes u one who can sign in on the sign-in page, by its email.
func (p *IdP) Add(u *User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.users[strings.ToLower(u.Email)] = u
}

// loginField is the sign-in page's email field; the authorization endpoint
// ignores it.
const loginField = "idp_login"

var signInPage = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>Test identity provider</title>
<style>body{font:16px system-ui,sans-serif;margin:2em auto;max-width:24em;padding:0 1em}input,button{font:inherit;display:block;margin:.4em 0 1em}</style>
</head><body><main>
<h1>Test identity provider</h1>
<p>Sign in to continue to the application.</p>
{{if .Err}}<p role="alert" id="idp-error">{{.Err}}</p>{{end}}
<form method="get" action="{{.Action}}">
{{range $k, $vs := .Params}}{{range $vs}}<input type="hidden" name="{{$k}}" value="{{.}}">{{end}}{{end}}
<label for="idp-login">Email</label>
<input id="idp-login" name="idp_login" type="email" autocomplete="username" required>
<button type="submit" id="idp-submit">Sign in</button>
</form>
</main></body></html>
`))

// signIn shows the sign-in page at the authorization endpoint; once an
// added user's email comes back with the other parameters, it queues that
// user and lets mockoidc approve.
func (p *IdP) signIn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != mockoidc.AuthorizationEndpoint {
			next.ServeHTTP(w, r)
			return
		}
		q := r.URL.Query()
		login := q.Get(loginField)
		q.Del(loginField)
		var errMsg string
		if login != "" {
			p.mu.Lock()
			u := p.users[strings.ToLower(login)]
			p.mu.Unlock()
			if u != nil {
				p.QueueUser(u)
				r.URL.RawQuery = q.Encode()
				next.ServeHTTP(w, r)
				return
			}
			errMsg = "No such user at this identity provider."
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = signInPage.Execute(w, struct {
			Action, Err string
			Params      map[string][]string
		}{mockoidc.AuthorizationEndpoint, errMsg, q})
	})
}
