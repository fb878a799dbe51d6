package admin

import (
	"context"
	"crypto/sha256"
	"net/http"
	"sync"

	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/store"
)

// In-process callers (the console and the portal) make several admin API
// calls to render one page, each with the user's own credential. InProcess
// marks the page's context so that the first call authenticates the
// credential as usual and later reads with the same credential reuse that
// principal instead of reading the store again; authorization is decided
// by the same compiled policy on every call. The mark is a context value of
// an unexported type: an HTTP client cannot set it, and a request without
// it authenticates every time.

// InProcess returns ctx marked for in-process admin API calls that share
// one authentication.
func InProcess(ctx context.Context) context.Context {
	return context.WithValue(ctx, inProcessKey{}, &authOnce{})
}

type inProcessKey struct{}

// authOnce holds the principal a credential authenticated to, for the
// in-process calls of one page.
type authOnce struct {
	mu      sync.Mutex
	cred    [sha256.Size]byte // which credential it belongs to
	pr      *authz.Principal
	session string
	wrote   bool // an unsafe method ran since the reads were made

	readMu sync.Mutex     // guards reads
	reads  map[string]any // the identity's store reads (session, bindings) by key, until a write
}

// pageRead returns what read returns, read once per key for the
// in-process calls of one page (until a write) and every time otherwise:
// authentication and /me read the same session and role bindings.
func pageRead[T any](ctx context.Context, key string, read func() (T, error)) (T, error) {
	once, _ := ctx.Value(inProcessKey{}).(*authOnce)
	if once == nil {
		return read()
	}
	once.readMu.Lock()
	v, ok := once.reads[key]
	once.readMu.Unlock()
	if ok {
		return v.(T), nil
	}
	t, err := read()
	if err == nil {
		once.readMu.Lock()
		if once.reads == nil {
			once.reads = map[string]any{}
		}
		once.reads[key] = t
		once.readMu.Unlock()
	}
	return t, err
}

// forget drops the page's store reads.
func (once *authOnce) forget() {
	once.readMu.Lock()
	once.reads = nil
	once.readMu.Unlock()
}

// credentialOf digests the credentials r presents (its Authorization
// header and session cookie); false when it presents none.
func credentialOf(r *http.Request) ([sha256.Size]byte, bool) {
	h := r.Header.Get("Authorization")
	session := ""
	if c, err := r.Cookie(SessionCookie); err == nil {
		session = c.Value
	}
	if h == "" && session == "" {
		return [sha256.Size]byte{}, false
	}
	return sha256.Sum256([]byte(h + "\x00" + session)), true
}

// authenticateOnce is authenticate, reusing the principal of an earlier
// in-process read made with the same credential. An unsafe method always
// authenticates from the store (its CSRF check included) and forgets the
// principal and the reads: a write may change who the caller is, so the
// page's next read looks again.
func (a *API) authenticateOnce(r *http.Request) (*authz.Principal, string, error) {
	once, _ := r.Context().Value(inProcessKey{}).(*authOnce)
	if once == nil {
		return a.authenticate(r)
	}
	once.mu.Lock()
	defer once.mu.Unlock()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	default: // a write reads afresh, and so does the read after it
		once.pr, once.wrote = nil, true
		once.forget()
		return a.authenticate(r)
	}
	if once.wrote {
		once.forget()
		once.wrote = false
	}
	cred, ok := credentialOf(r)
	if !ok {
		return a.authenticate(r)
	}
	if once.pr != nil && once.cred == cred {
		pr := *once.pr
		return &pr, once.session, nil
	}
	pr, session, err := a.authenticate(r)
	if err == nil && pr != nil {
		once.cred, once.pr, once.session = cred, pr, session
		cp := *pr
		pr = &cp
	}
	return pr, session, err
}

// sessionByHash and bindings are the store's, read once per page in
// process (pageRead).
func (a *API) sessionByHash(ctx context.Context, hash string) (store.Session, error) {
	return pageRead(ctx, "session:"+hash, func() (store.Session, error) { return a.opts.Store.SessionByHash(ctx, hash) })
}

func (a *API) bindings(ctx context.Context, userID string) ([]store.Binding, error) {
	return pageRead(ctx, "bindings:"+userID, func() ([]store.Binding, error) { return a.opts.Store.Bindings(ctx, userID) })
}
