package login

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Config configures a Provider.
type Config struct {
	Issuer       string // the IdP's issuer URL; discovery reads Issuer + "/.well-known/openid-configuration"
	ClientID     string
	ClientSecret string // may be empty for a public client (PKCE still applies)
	RedirectURL  string // absolute URL of the callback that calls Finish

	// Scopes requested; default openid email profile. "openid" is added when missing.
	Scopes []string
	// RoleClaim names the ID-token claim read for RoleMap, e.g. "groups". The claim may
	// hold a string or an array of strings. A dotted name ("realm_access.roles") walks
	// into objects when no top-level claim has that exact name.
	RoleClaim string
	// RoleMap turns claim values into grants. A user with no matching value gets none.
	RoleMap []RoleMapping
	// AllowedDomains, when set, admits only users whose verified email is in one of these
	// domains (exact match, case-insensitive; subdomains are not included).
	AllowedDomains []string

	// CookieKey seals the login cookie (AES-256-GCM). It must be 32 bytes; nil means a
	// random key made at start, so that logins in flight during a restart, or
	// finishing on another replica, fail and must be started again.
	CookieKey []byte
	// Now is the clock for cookie and ID-token expiry; nil means time.Now.
	Now func() time.Time
}

// RoleMapping grants Role in Org (and Team; "" means the whole org) to users whose
// RoleClaim holds Value. Org and Team are names, resolved by the caller.
type RoleMapping struct {
	Value, Role, Org, Team string
}

// Identity is a user signed in through the IdP. Email is the IdP's claim: link it to an
// existing account only when EmailVerified is true.
type Identity struct {
	Issuer, Subject, Email, Name string
	EmailVerified                bool
	Grants                       []RoleMapping
	Claims                       map[string]any // every claim of the verified ID token
}

// Login errors. Every error that Finish returns is an *Error whose Kind is one of these;
// test with errors.Is. Their messages are safe to show to the user.
var (
	ErrNoLogin    = errors.New("no sign-in in progress, or it expired; please sign in again")
	ErrState      = errors.New("sign-in state does not match; please sign in again")
	ErrReplay     = errors.New("this sign-in link was already used; please sign in again")
	ErrIdP        = errors.New("the identity provider did not sign you in")
	ErrExchange   = errors.New("could not complete sign-in with the identity provider")
	ErrIDToken    = errors.New("the identity provider's answer could not be verified")
	ErrDomain     = errors.New("your email domain is not allowed to sign in here")
	ErrBadRequest = errors.New("malformed sign-in request")
)

// Error is a failed login. Error() returns only Kind's message, which is safe to show and
// to log; Detail says more for the server log and never holds a token, code or cookie.
type Error struct {
	Kind   error
	Detail string
}

func (e *Error) Error() string { return "login: " + e.Kind.Error() }
func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

const (
	cookieName     = "sluice_oidc"
	loginTTL       = 10 * time.Minute
	exchangeTTL    = 15 * time.Second
	maxReturnTo    = 2048
	maxCookieBytes = 4096
	maxUsedStates  = 10_000
)

// Provider is an OpenID Connect relying party for one IdP: the authorization-code flow
// with PKCE (S256), state and nonce. It is safe for concurrent use; build one per IdP
// at start (NewProvider does discovery over the network).
type Provider struct {
	cfg      Config
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	client   *http.Client
	aead     cipher.AEAD
	now      func() time.Time
	secure   bool   // RedirectURL is https
	path     string // the cookie's Path: RedirectURL's path
	domains  []string

	// mu guards used.
	mu sync.Mutex
	// used holds the states of callbacks already handled, until their cookie expires,
	// so that a replayed callback fails here even when the IdP would accept the code.
	used map[string]time.Time
}

// NewProvider checks cfg, runs OIDC discovery against cfg.Issuer with client (nil means a
// client with a 10 s timeout) and returns a Provider. ctx bounds discovery only.
func NewProvider(ctx context.Context, cfg Config, client *http.Client) (*Provider, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" {
		return nil, errors.New("login: oidc: issuer and client_id are required")
	}
	ru, err := url.Parse(cfg.RedirectURL)
	if err != nil || (ru.Scheme != "https" && ru.Scheme != "http") || ru.Host == "" {
		return nil, errors.New("login: oidc: redirect_url must be an absolute http(s) URL")
	}
	for i, m := range cfg.RoleMap {
		if m.Value == "" || m.Role == "" {
			return nil, fmt.Errorf("login: oidc: role_map[%d]: value and role are required", i)
		}
	}
	if len(cfg.RoleMap) > 0 && cfg.RoleClaim == "" {
		return nil, errors.New("login: oidc: role_map needs role_claim")
	}
	key := cfg.CookieKey
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("login: oidc: cookie key: %w", err)
		}
	} else if len(key) != 32 {
		return nil, errors.New("login: oidc: cookie key must be 32 bytes")
	}
	block, err := aes.NewCipher(key) // copies key
	if err != nil {
		return nil, fmt.Errorf("login: oidc: cookie key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("login: oidc: cookie key: %w", err)
	}
	cfg.CookieKey = nil // not kept in two places
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	if !slices.Contains(scopes, oidc.ScopeOpenID) {
		scopes = append([]string{oidc.ScopeOpenID}, scopes...)
	}
	domains := make([]string, len(cfg.AllowedDomains))
	for i, d := range cfg.AllowedDomains {
		domains[i] = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
	}

	op, err := oidc.NewProvider(oidc.ClientContext(ctx, client), cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("login: oidc: discovery for %s: %w", cfg.Issuer, err)
	}
	path := ru.EscapedPath()
	if path == "" {
		path = "/"
	}
	return &Provider{
		cfg: cfg,
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     op.Endpoint(),
			RedirectURL:  cfg.RedirectURL,
			Scopes:       scopes,
		},
		verifier: op.Verifier(&oidc.Config{ClientID: cfg.ClientID, Now: now}),
		client:   client,
		aead:     aead,
		now:      now,
		secure:   ru.Scheme == "https",
		path:     path,
		domains:  domains,
		used:     make(map[string]time.Time),
	}, nil
}

// loginState is what the sealed cookie carries between Begin and Finish.
type loginState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"r"`
	Expires  int64  `json:"e"` // unix seconds
}

// Begin starts a login. It sets a sealed, HttpOnly, SameSite=Lax cookie (Secure when the
// request or RedirectURL is https) that holds state, nonce, PKCE verifier and returnTo for
// 10 minutes, and returns the IdP URL to redirect the browser to. returnTo must be a local
// path; anything else becomes "/". A second Begin in the same browser replaces the first
// login's cookie, so the first one's callback then fails with ErrState.
func (p *Provider) Begin(w http.ResponseWriter, r *http.Request, returnTo string) (string, error) {
	st := loginState{
		State:    randomToken(),
		Nonce:    randomToken(),
		Verifier: oauth2.GenerateVerifier(),
		ReturnTo: SafeReturnTo(returnTo),
		Expires:  p.now().Add(loginTTL).Unix(),
	}
	sealed, err := p.seal(st)
	if err != nil {
		return "", err
	}
	http.SetCookie(w, p.cookie(r, sealed, int(loginTTL/time.Second)))
	return p.oauth.AuthCodeURL(st.State, oauth2.S256ChallengeOption(st.Verifier), oidc.Nonce(st.Nonce)), nil
}

// Finish handles the IdP's redirect to RedirectURL. It clears the login cookie, checks
// state (constant time) and that the callback was not handled before, redeems the code
// with the PKCE verifier, verifies the ID token (signature, issuer, audience, authorized
// party, expiry, nonce, at_hash), applies AllowedDomains and RoleMap, and returns the
// Identity and the returnTo given to Begin. Every error is an *Error.
func (p *Provider) Finish(w http.ResponseWriter, r *http.Request) (Identity, string, error) {
	id, ret, err := p.finish(w, r)
	if err != nil {
		return Identity{}, "", err
	}
	return id, ret, nil
}

func (p *Provider) finish(w http.ResponseWriter, r *http.Request) (Identity, string, *Error) {
	http.SetCookie(w, p.cookie(r, "", -1)) // one try per Begin, whatever happens below
	c, cerr := r.Cookie(cookieName)
	q := r.URL.Query()
	if code := q.Get("error"); code != "" {
		return Identity{}, "", fail(ErrIdP, "idp error %q", sanitizeCode(code))
	}
	if cerr != nil {
		return Identity{}, "", fail(ErrNoLogin, "no login cookie")
	}
	st, err := p.open(c.Value)
	if err != nil {
		return Identity{}, "", fail(ErrNoLogin, "login cookie: %v", err)
	}
	now := p.now()
	if now.Unix() >= st.Expires {
		return Identity{}, "", fail(ErrNoLogin, "login cookie expired")
	}
	if len(q["state"]) != 1 || len(q["code"]) != 1 || q.Get("code") == "" {
		return Identity{}, "", fail(ErrBadRequest, "callback needs exactly one state and one code")
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		return Identity{}, "", fail(ErrState, "state parameter does not match the cookie")
	}
	if !p.markUsed(st.State, time.Unix(st.Expires, 0), now) {
		return Identity{}, "", fail(ErrReplay, "state already used")
	}

	ctx, cancel := context.WithTimeout(oidc.ClientContext(r.Context(), p.client), exchangeTTL)
	defer cancel()
	tok, err := p.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return Identity{}, "", fail(ErrExchange, "token endpoint: %s", describeExchangeError(err))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, "", fail(ErrIDToken, "token response has no id_token")
	}
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, "", fail(ErrIDToken, "verify: %v", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return Identity{}, "", fail(ErrIDToken, "nonce does not match")
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return Identity{}, "", fail(ErrIDToken, "at_hash does not match the access token")
		}
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, "", fail(ErrIDToken, "claims: %v", err)
	}
	if azp, ok := claims["azp"].(string); (ok && azp != p.cfg.ClientID) || (!ok && len(idt.Audience) > 1) {
		return Identity{}, "", fail(ErrIDToken, "authorized party is not this client")
	}

	id := Identity{
		Issuer:        idt.Issuer,
		Subject:       idt.Subject,
		Email:         stringClaim(claims, "email"),
		Name:          stringClaim(claims, "name"),
		EmailVerified: boolClaim(claims, "email_verified"),
		Claims:        claims,
	}
	if id.Name == "" {
		id.Name = stringClaim(claims, "preferred_username")
	}
	if id.Subject == "" {
		return Identity{}, "", fail(ErrIDToken, "id token has no subject")
	}
	if len(p.domains) > 0 {
		if !id.EmailVerified {
			return Identity{}, "", fail(ErrDomain, "email missing or not verified")
		}
		_, domain, ok := strings.Cut(strings.ToLower(id.Email), "@")
		if !ok || !slices.Contains(p.domains, domain) {
			return Identity{}, "", fail(ErrDomain, "email domain %q not allowed", domain)
		}
	}
	id.Grants = p.grants(claims)
	return id, SafeReturnTo(st.ReturnTo), nil
}

// grants returns the RoleMap entries whose Value the role claim holds, in RoleMap order.
func (p *Provider) grants(claims map[string]any) []RoleMapping {
	if p.cfg.RoleClaim == "" || len(p.cfg.RoleMap) == 0 {
		return nil
	}
	values := claimValues(lookupClaim(claims, p.cfg.RoleClaim))
	var out []RoleMapping
	for _, m := range p.cfg.RoleMap {
		if slices.Contains(values, m.Value) && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

func lookupClaim(claims map[string]any, name string) any {
	if v, ok := claims[name]; ok {
		return v
	}
	var cur any = claims
	for part := range strings.SplitSeq(name, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[part]
	}
	return cur
}

// claimValues reads a claim that holds a string or an array of strings; other element
// types are ignored.
func claimValues(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func stringClaim(claims map[string]any, name string) string {
	s, _ := claims[name].(string)
	return s
}

// boolClaim reads a boolean claim; some IdPs send "true" as a string.
func boolClaim(claims map[string]any, name string) bool {
	switch v := claims[name].(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

// markUsed records state as handled until exp and reports whether it was new.
func (p *Provider) markUsed(state string, exp, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, seen := p.used[state]; seen {
		return false
	}
	if len(p.used) >= maxUsedStates {
		for s, e := range p.used {
			if !e.After(now) {
				delete(p.used, s)
			}
		}
		// Still full: drop arbitrary entries. Those callbacks' codes are already
		// redeemed, so the IdP refuses a replay of them anyway.
		for s := range p.used {
			if len(p.used) < maxUsedStates*7/8 {
				break
			}
			delete(p.used, s)
		}
	}
	p.used[state] = exp
	return true
}

func (p *Provider) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     cookieName,
		Value:    value,
		Path:     p.path,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   p.secure || SecureRequest(r),
		SameSite: http.SameSiteLaxMode,
	}
}

var errCookie = errors.New("malformed or tampered")

func (p *Provider) seal(st loginState) (string, error) {
	plain, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("login: oidc: seal: %w", err)
	}
	nonce := make([]byte, p.aead.NonceSize(), p.aead.NonceSize()+len(plain)+p.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("login: oidc: seal: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(p.aead.Seal(nonce, nonce, plain, []byte(cookieName))), nil
}

func (p *Provider) open(value string) (loginState, error) {
	var st loginState
	if len(value) > maxCookieBytes {
		return st, errCookie
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(value) // one encoding per cookie
	if err != nil || len(b) < p.aead.NonceSize() {
		return st, errCookie
	}
	plain, err := p.aead.Open(nil, b[:p.aead.NonceSize()], b[p.aead.NonceSize():], []byte(cookieName))
	if err != nil {
		return st, errCookie
	}
	if err := json.Unmarshal(plain, &st); err != nil || st.State == "" || st.Nonce == "" || st.Verifier == "" {
		return st, errCookie
	}
	return st, nil
}

// SafeReturnTo returns s when it is a path on this site ("/..." but not "//..." or
// "/\...", no scheme or host, no control characters, at most 2 KiB), else "/".
func SafeReturnTo(s string) string {
	if len(s) == 0 || len(s) > maxReturnTo || s[0] != '/' || strings.HasPrefix(s, "//") ||
		strings.ContainsRune(s, '\\') {
		return "/"
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return "/"
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") ||
		strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return s
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// describeExchangeError says why the code exchange failed without the response body,
// which may echo the code.
func describeExchangeError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return fmt.Sprintf("HTTP %d, error %q", status, sanitizeCode(re.ErrorCode))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Sprintf("%s: %v", ue.Op, ue.Err)
	}
	return "request failed"
}

// sanitizeCode keeps an OAuth error code (RFC 6749 allows printable ASCII; real ones are
// lower_snake_case) short and printable for the log.
func sanitizeCode(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e || r == '"' || r == '\\' {
			return '?'
		}
		return r
	}, s)
}
