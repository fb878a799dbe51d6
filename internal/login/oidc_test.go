package login

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/login/logintest"
)

var testRoleMap = []RoleMapping{
	{Value: "sluice-admins", Role: "admin", Org: "acme"},
	{Value: "ml-team", Role: "member", Org: "acme", Team: "ml"},
	{Value: "ml-leads", Role: "admin", Org: "acme", Team: "ml"},
}

type oidcRig struct {
	m   *logintest.IdP
	clk *fakeClock
	key []byte
}

func newOIDCRig(t *testing.T) *oidcRig {
	t.Helper()
	m := logintest.Start(t, false) // approves at once, as the user queued
	clk := &fakeClock{}
	clk.ns.Store(time.Now().UnixNano()) // mockoidc stamps tokens with the real time
	return &oidcRig{m: m, clk: clk, key: []byte("0123456789abcdef0123456789abcdef")}
}

func (rg *oidcRig) config() Config {
	return Config{
		Issuer:       rg.m.Issuer(),
		ClientID:     rg.m.ClientID,
		ClientSecret: rg.m.ClientSecret,
		RedirectURL:  "http://127.0.0.1:9/admin/oidc/callback", // never dialled: the test plays the browser
		RoleClaim:    "groups",
		RoleMap:      testRoleMap,
		CookieKey:    rg.key,
		Now:          rg.clk.Now,
	}
}

func (rg *oidcRig) provider(t *testing.T, edit func(*Config)) *Provider {
	t.Helper()
	cfg := rg.config()
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := NewProvider(ctx, cfg, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// begin runs Begin and returns the IdP URL and the login cookie it set.
func begin(t *testing.T, p *Provider, returnTo string) (string, *http.Cookie) {
	t.Helper()
	rec := httptest.NewRecorder()
	authURL, err := p.Begin(rec, httptest.NewRequest("GET", "http://127.0.0.1:9/admin/login", nil), returnTo)
	if err != nil {
		t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != cookieName {
		t.Fatalf("Begin set cookies %v, want one %s", cookies, cookieName)
	}
	return authURL, cookies[0]
}

// authorize plays the browser at the IdP: it GETs authURL without following the redirect
// and returns the callback URL the IdP sends the browser to.
func authorize(t *testing.T, authURL string) string {
	t.Helper()
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: HTTP %d, want 302", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http://127.0.0.1:9/admin/oidc/callback?") {
		t.Fatalf("authorize redirected to %q", loc)
	}
	return loc
}

// finish plays the browser arriving at the callback with cookie.
func finish(p *Provider, callbackURL string, cookie *http.Cookie) (Identity, string, error, *httptest.ResponseRecorder) {
	req := httptest.NewRequest("GET", callbackURL, nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	id, ret, err := p.Finish(rec, req)
	return id, ret, err, rec
}

func TestOIDCFullFlow(t *testing.T) {
	rg := newOIDCRig(t)
	p := rg.provider(t, nil)
	rg.m.QueueUser(&logintest.User{Subject: "u-42", Email: "Ada@Example.com", Name: "Ada", EmailVerified: true,
		Groups: []string{"everyone", "ml-team", "sluice-admins"}})

	authURL, cookie := begin(t, p, "/ui/keys?page=2")
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("nonce") == "" ||
		q.Get("state") == "" || q.Has("code_verifier") || q.Get("client_id") != rg.m.ClientID {
		t.Fatalf("authorization URL lacks PKCE S256, state or nonce: %s", authURL)
	}
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Secure ||
		cookie.MaxAge != 600 || cookie.Path != "/admin/oidc/callback" {
		t.Fatalf("login cookie = %+v", cookie)
	}
	if strings.Contains(cookie.Value, q.Get("state")) || strings.Contains(cookie.Value, q.Get("nonce")) {
		t.Fatal("the cookie shows state or nonce in the clear")
	}

	id, ret, err, rec := finish(p, authorize(t, authURL), cookie)
	if err != nil {
		t.Fatalf("Finish: %v (%s)", err, detail(err))
	}
	if ret != "/ui/keys?page=2" {
		t.Fatalf("returnTo = %q", ret)
	}
	if id.Issuer != rg.m.Issuer() || id.Subject != "u-42" || id.Email != "Ada@Example.com" || id.Name != "Ada" ||
		!id.EmailVerified {
		t.Fatalf("identity = %+v", id)
	}
	want := []RoleMapping{testRoleMap[0], testRoleMap[1]} // RoleMap order, not claim order
	if !slices.Equal(id.Grants, want) {
		t.Fatalf("grants = %+v, want %+v", id.Grants, want)
	}
	if id.Claims["sub"] != "u-42" {
		t.Fatalf("claims = %v", id.Claims)
	}
	if c := rec.Result().Cookies(); len(c) != 1 || c[0].Name != cookieName || c[0].MaxAge >= 0 {
		t.Fatalf("Finish did not clear the login cookie: %v", c)
	}
}

func TestOIDCGroupClaimAsString(t *testing.T) {
	rg := newOIDCRig(t)
	p := rg.provider(t, nil)
	rg.m.QueueUser(&logintest.User{Subject: "u-1", Email: "lead@example.com", EmailVerified: true, Groups: "ml-leads"})
	authURL, cookie := begin(t, p, "/")
	id, _, err, _ := finish(p, authorize(t, authURL), cookie)
	if err != nil {
		t.Fatalf("Finish: %v (%s)", err, detail(err))
	}
	if !slices.Equal(id.Grants, []RoleMapping{testRoleMap[2]}) {
		t.Fatalf("grants = %+v", id.Grants)
	}
}

func TestOIDCUnmappedUserHasNoGrants(t *testing.T) {
	rg := newOIDCRig(t)
	p := rg.provider(t, nil)
	rg.m.QueueUser(&logintest.User{Subject: "u-2", Email: "guest@example.com", EmailVerified: true, Groups: []string{"everyone", "SLUICE-ADMINS"}})
	authURL, cookie := begin(t, p, "/")
	id, _, err, _ := finish(p, authorize(t, authURL), cookie)
	if err != nil {
		t.Fatalf("Finish: %v (%s)", err, detail(err))
	}
	if id.Subject != "u-2" || len(id.Grants) != 0 {
		t.Fatalf("identity = %+v, want no grants (matching is exact)", id)
	}
}

func TestOIDCAllowedDomains(t *testing.T) {
	tests := []struct {
		name     string
		email    string
		verified bool
		want     error
	}{
		{"allowed", "ada@example.com", true, nil},
		{"allowed, other case", "ada@EXAMPLE.COM", true, nil},
		{"other domain", "eve@evil.test", true, ErrDomain},
		{"subdomain", "eve@mail.example.com", true, ErrDomain},
		{"suffix trick", "eve@notexample.com", true, ErrDomain},
		{"unverified", "ada@example.com", false, ErrDomain},
		{"no email", "", true, ErrDomain},
	}
	rg := newOIDCRig(t)
	p := rg.provider(t, func(c *Config) { c.AllowedDomains = []string{"Example.com"} })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rg.m.QueueUser(&logintest.User{Subject: "u-3", Email: tc.email, EmailVerified: tc.verified})
			authURL, cookie := begin(t, p, "/")
			_, _, err, _ := finish(p, authorize(t, authURL), cookie)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Finish err = %v (%s), want %v", err, detail(err), tc.want)
			}
		})
	}
}

func TestOIDCRejects(t *testing.T) {
	rg := newOIDCRig(t)
	p := rg.provider(t, nil)

	t.Run("wrong state", func(t *testing.T) {
		authURL, cookie := begin(t, p, "/")
		cb := setQuery(t, authorize(t, authURL), "state", "forged-state")
		if _, _, err, _ := finish(p, cb, cookie); !errors.Is(err, ErrState) {
			t.Fatalf("err = %v, want ErrState", err)
		}
	})
	t.Run("state from another login", func(t *testing.T) {
		authA, _ := begin(t, p, "/")
		_, cookieB := begin(t, p, "/")
		if _, _, err, _ := finish(p, authorize(t, authA), cookieB); !errors.Is(err, ErrState) {
			t.Fatalf("err = %v, want ErrState", err)
		}
	})
	t.Run("no cookie", func(t *testing.T) {
		authURL, _ := begin(t, p, "/")
		if _, _, err, _ := finish(p, authorize(t, authURL), nil); !errors.Is(err, ErrNoLogin) {
			t.Fatalf("err = %v, want ErrNoLogin", err)
		}
	})
	t.Run("tampered cookie", func(t *testing.T) {
		authURL, cookie := begin(t, p, "/")
		cb := authorize(t, authURL)
		for _, i := range []int{0, len(cookie.Value) / 2, len(cookie.Value) - 1} {
			bad := *cookie
			b := []byte(bad.Value)
			b[i] = map[bool]byte{true: 'A', false: 'B'}[b[i] != 'A']
			bad.Value = string(b)
			if _, _, err, _ := finish(p, cb, &bad); !errors.Is(err, ErrNoLogin) {
				t.Fatalf("byte %d flipped: err = %v, want ErrNoLogin", i, err)
			}
		}
		// The untouched cookie still works: the failures above were the tampering.
		if _, _, err, _ := finish(p, cb, cookie); err != nil {
			t.Fatalf("untampered cookie: %v (%s)", err, detail(err))
		}
	})
	t.Run("cookie sealed with another key", func(t *testing.T) {
		other := rg.provider(t, func(c *Config) { c.CookieKey = nil })
		authURL, cookie := begin(t, other, "/")
		if _, _, err, _ := finish(p, authorize(t, authURL), cookie); !errors.Is(err, ErrNoLogin) {
			t.Fatalf("err = %v, want ErrNoLogin", err)
		}
	})
	t.Run("expired cookie", func(t *testing.T) {
		authURL, cookie := begin(t, p, "/")
		cb := authorize(t, authURL)
		rg.clk.Advance(loginTTL)
		defer rg.clk.Advance(-loginTTL)
		if _, _, err, _ := finish(p, cb, cookie); !errors.Is(err, ErrNoLogin) {
			t.Fatalf("err = %v, want ErrNoLogin", err)
		}
	})
	t.Run("replayed callback", func(t *testing.T) {
		authURL, cookie := begin(t, p, "/")
		cb := authorize(t, authURL)
		if _, _, err, _ := finish(p, cb, cookie); err != nil {
			t.Fatalf("first callback: %v (%s)", err, detail(err))
		}
		if _, _, err, _ := finish(p, cb, cookie); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay: err = %v, want ErrReplay", err)
		}
		// A replica (or a restart) that never saw the first callback: the IdP refuses
		// the spent code, and the error does not echo it.
		fresh := rg.provider(t, nil)
		_, _, err, _ := finish(fresh, cb, cookie)
		if !errors.Is(err, ErrExchange) {
			t.Fatalf("replay on a fresh provider: err = %v, want ErrExchange", err)
		}
		code := mustQuery(t, cb, "code")
		if strings.Contains(err.Error(), code) || strings.Contains(detail(err), code) {
			t.Fatalf("error echoes the code: %v (%s)", err, detail(err))
		}
	})
	t.Run("wrong nonce", func(t *testing.T) {
		authURL, cookie := begin(t, p, "/")
		// The IdP puts whatever nonce it is sent into the ID token.
		cb := authorize(t, setQuery(t, authURL, "nonce", "attacker-nonce"))
		if _, _, err, _ := finish(p, cb, cookie); !errors.Is(err, ErrIDToken) {
			t.Fatalf("err = %v, want ErrIDToken", err)
		}
	})
	t.Run("wrong PKCE challenge", func(t *testing.T) {
		authURL, cookie := begin(t, p, "/")
		cb := authorize(t, setQuery(t, authURL, "code_challenge", strings.Repeat("A", 43)))
		if _, _, err, _ := finish(p, cb, cookie); !errors.Is(err, ErrExchange) {
			t.Fatalf("err = %v, want ErrExchange", err)
		}
	})
	t.Run("expired ID token", func(t *testing.T) {
		rg.m.AccessTTL = time.Minute
		defer func() { rg.m.AccessTTL = 10 * time.Minute }()
		authURL, cookie := begin(t, p, "/")
		cb := authorize(t, authURL)
		rg.clk.Advance(2 * time.Minute) // the cookie lives 10 minutes, the token 1
		defer rg.clk.Advance(-2 * time.Minute)
		if _, _, err, _ := finish(p, cb, cookie); !errors.Is(err, ErrIDToken) {
			t.Fatalf("err = %v, want ErrIDToken", err)
		}
	})
	t.Run("ID token for another client", func(t *testing.T) {
		for _, aud := range [][]string{{"another-client"}, {"another-client", rg.m.ClientID}} {
			rg.m.QueueUser(&logintest.User{Subject: "u-6", Email: "a@example.com", EmailVerified: true, Audience: aud})
			authURL, cookie := begin(t, p, "/")
			if _, _, err, _ := finish(p, authorize(t, authURL), cookie); !errors.Is(err, ErrIDToken) {
				t.Fatalf("audience %q: err = %v, want ErrIDToken", aud, err)
			}
		}
	})
	t.Run("ID token expired when issued", func(t *testing.T) {
		rg.m.QueueUser(&logintest.User{Subject: "u-7", Email: "a@example.com", EmailVerified: true, ExpiresIn: -time.Minute})
		authURL, cookie := begin(t, p, "/")
		if _, _, err, _ := finish(p, authorize(t, authURL), cookie); !errors.Is(err, ErrIDToken) {
			t.Fatalf("err = %v, want ErrIDToken", err)
		}
	})
	t.Run("IdP error", func(t *testing.T) {
		_, cookie := begin(t, p, "/")
		cb := "http://127.0.0.1:9/admin/oidc/callback?error=access_denied&error_description=%3Cscript%3E&state=x"
		_, _, err, _ := finish(p, cb, cookie)
		if !errors.Is(err, ErrIdP) || strings.Contains(err.Error(), "script") {
			t.Fatalf("err = %v, want ErrIdP without the description", err)
		}
	})
	t.Run("two codes", func(t *testing.T) {
		authURL, cookie := begin(t, p, "/")
		cb := authorize(t, authURL) + "&code=second"
		if _, _, err, _ := finish(p, cb, cookie); !errors.Is(err, ErrBadRequest) {
			t.Fatalf("err = %v, want ErrBadRequest", err)
		}
	})
}

func TestOIDCSecureCookieOverHTTPS(t *testing.T) {
	rg := newOIDCRig(t)
	p := rg.provider(t, nil)
	rec := httptest.NewRecorder()
	if _, err := p.Begin(rec, httptest.NewRequest("GET", "https://sluice.example/admin/login", nil), "/"); err != nil {
		t.Fatal(err)
	}
	if c := rec.Result().Cookies(); len(c) != 1 || !c[0].Secure {
		t.Fatalf("cookie over https = %+v, want Secure", c)
	}
	ps := rg.provider(t, func(c *Config) { c.RedirectURL = "https://sluice.example/admin/oidc/callback" })
	rec = httptest.NewRecorder()
	// Behind a TLS-terminating proxy the request is plain HTTP; the https RedirectURL says.
	if _, err := ps.Begin(rec, httptest.NewRequest("GET", "http://10.0.0.5/admin/login", nil), "/"); err != nil {
		t.Fatal(err)
	}
	if c := rec.Result().Cookies(); len(c) != 1 || !c[0].Secure {
		t.Fatalf("cookie with an https RedirectURL = %+v, want Secure", c)
	}
}

func TestOIDCReturnToIsLocal(t *testing.T) {
	rg := newOIDCRig(t)
	p := rg.provider(t, nil)
	for _, rt := range []string{"https://evil.test/", "//evil.test/x", "/\\evil.test"} {
		rg.m.QueueUser(&logintest.User{Subject: "u-5", Email: "a@example.com", EmailVerified: true})
		authURL, cookie := begin(t, p, rt)
		_, ret, err, _ := finish(p, authorize(t, authURL), cookie)
		if err != nil || ret != "/" {
			t.Fatalf("returnTo %q came back as %q (err %v), want /", rt, ret, err)
		}
	}
}

func TestSafeReturnTo(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/ui/keys", "/ui/keys"},
		{"/ui/keys?team=ml#top", "/ui/keys?team=ml#top"},
		{"//evil.test", "/"},
		{"///evil.test", "/"},
		{"/\\evil.test", "/"},
		{"\\\\evil.test", "/"},
		{"https://evil.test/ui", "/"},
		{"javascript:alert(1)", "/"},
		{"ui/keys", "/"},
		{"/ui\r\nSet-Cookie: x=y", "/"},
		{"/ui\tx", "/"},
		{"/" + strings.Repeat("a", maxReturnTo), "/"},
		{"/%2F%2Fevil.test", "/"}, // decodes to //evil.test: refused too
	}
	for _, tc := range tests {
		if got := SafeReturnTo(tc.in); got != tc.want {
			t.Errorf("SafeReturnTo(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNewProviderRejectsBadConfig(t *testing.T) {
	rg := newOIDCRig(t)
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"no issuer", func(c *Config) { c.Issuer = "" }},
		{"no client id", func(c *Config) { c.ClientID = "" }},
		{"relative redirect", func(c *Config) { c.RedirectURL = "/callback" }},
		{"short cookie key", func(c *Config) { c.CookieKey = []byte("short") }},
		{"role map without claim", func(c *Config) { c.RoleClaim = "" }},
		{"empty role", func(c *Config) { c.RoleMap = []RoleMapping{{Value: "x"}} }},
		{"wrong issuer", func(c *Config) { c.Issuer = rg.m.Addr() + "/elsewhere" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := rg.config()
			tc.edit(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := NewProvider(ctx, cfg, nil); err == nil {
				t.Fatal("NewProvider accepted the config")
			}
		})
	}
}

func TestClaimValues(t *testing.T) {
	claims := map[string]any{
		"groups":       []any{"a", 7.0, "b", nil},
		"role":         "admin",
		"num":          3.0,
		"realm_access": map[string]any{"roles": []any{"ops"}},
		"dotted.name":  "flat-wins",
	}
	tests := []struct {
		claim string
		want  []string
	}{
		{"groups", []string{"a", "b"}},
		{"role", []string{"admin"}},
		{"num", nil},
		{"missing", nil},
		{"realm_access.roles", []string{"ops"}},
		{"dotted.name", []string{"flat-wins"}},
		{"role.x", nil},
	}
	for _, tc := range tests {
		if got := claimValues(lookupClaim(claims, tc.claim)); !slices.Equal(got, tc.want) {
			t.Errorf("claim %q = %q, want %q", tc.claim, got, tc.want)
		}
	}
}

func detail(err error) string {
	var le *Error
	if errors.As(err, &le) {
		return le.Detail
	}
	return ""
}

func setQuery(t *testing.T, raw, key, value string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func mustQuery(t *testing.T, raw, key string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get(key)
}

func TestMarkUsedBounded(t *testing.T) {
	p := &Provider{used: make(map[string]time.Time)}
	now := time.Unix(1_000_000, 0)
	if !p.markUsed("s", now.Add(time.Minute), now) || p.markUsed("s", now.Add(time.Minute), now) {
		t.Fatal("markUsed does not detect a second use")
	}
	for i := 1; i < maxUsedStates; i++ { // exactly full
		p.markUsed("old-"+strconv.Itoa(i), now.Add(time.Minute), now)
	}
	if len(p.used) != maxUsedStates {
		t.Fatalf("%d states, want %d", len(p.used), maxUsedStates)
	}
	later := now.Add(2 * time.Minute) // every state above has expired
	p.markUsed("fresh", later.Add(time.Minute), later)
	if len(p.used) != 1 {
		t.Fatalf("%d states after the sweep, want 1 (expired ones dropped)", len(p.used))
	}
	for i := range 3 * maxUsedStates { // all live: arbitrary ones go
		p.markUsed("live-"+strconv.Itoa(i), later.Add(time.Minute), later)
	}
	if n := len(p.used); n > maxUsedStates {
		t.Fatalf("%d states remembered, want <= %d", n, maxUsedStates)
	}
}
