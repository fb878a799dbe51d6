package admin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/querycount"
)

// TestInProcessAuthenticatesOnce: admin API calls made in process with a
// context marked by InProcess authenticate a credential once and reuse the
// principal for later reads with the same credential; another credential,
// an unsafe method (with its CSRF check) and every request without the
// mark (any HTTP client's) authenticate again.
func TestInProcessAuthenticatesOnce(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLiteDriver(ctx, t.TempDir(), querycount.Driver)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, _ := authz.Compile(nil)
	var snaps runtime.Holder
	snaps.Store(&runtime.Snapshot{Policy: p})
	a := New(Options{Store: st, TokenHash: auth.HashKey("bootstrap-token-0123456789"), Snapshots: &snaps})
	session := map[string]string{}
	for _, email := range []string{"ann@example.com", "bob@example.com"} {
		u := store.User{ID: "user_" + email[:3], Email: email, CreatedAt: time.Now()}
		if err := st.CreateUser(ctx, u, store.AuditEntry{ID: "aud_" + u.ID, Actor: "t", Action: "user.create"}); err != nil {
			t.Fatal(err)
		}
		v := randomSecret()
		if err := st.CreateSession(ctx, store.Session{Hash: hashHex(v), UserID: u.ID, CSRFHash: hashHex(csrfToken(v)),
			CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		session[email] = v
	}
	who := a.wrap(authz.Self, func(w http.ResponseWriter, r *http.Request) error {
		if err := a.authorize(r, "", authz.Self, authz.Scope{}); err != nil {
			return err
		}
		_, err := w.Write([]byte(principal(r).Email))
		return err
	})
	// call serves one request made with ctx as the holder of email's session
	// and returns the answer and how many times the store looked a session up.
	call := func(ctx context.Context, method, email string, csrf bool) (int, string, int) {
		t.Helper()
		c, n := querycount.Track(ctx)
		req := httptest.NewRequestWithContext(c, method, "/admin/v1/x", nil)
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: session[email]})
		if csrf {
			req.Header.Set(CSRFHeader, csrfToken(session[email]))
		}
		rec := httptest.NewRecorder()
		who.ServeHTTP(rec, req)
		lookups := 0
		for _, s := range n.Statements() {
			if strings.Contains(s, "FROM sessions") {
				lookups++
			}
		}
		return rec.Code, rec.Body.String(), lookups
	}
	type step struct {
		name        string
		method      string
		email       string
		csrf        bool
		wantCode    int
		wantLookups int
	}
	page := InProcess(ctx)
	for _, s := range []step{
		{"first read authenticates", http.MethodGet, "ann@example.com", false, 200, 1},
		{"second read reuses it", http.MethodGet, "ann@example.com", false, 200, 0},
		{"another credential authenticates", http.MethodGet, "bob@example.com", false, 200, 1},
		{"and is reused in its turn", http.MethodGet, "bob@example.com", false, 200, 0},
		{"a write without the CSRF token is refused", http.MethodPost, "bob@example.com", false, 403, 1},
		{"a write authenticates", http.MethodPost, "bob@example.com", true, 200, 1},
		{"the read after a write authenticates again", http.MethodGet, "bob@example.com", false, 200, 1},
	} {
		code, body, lookups := call(page, s.method, s.email, s.csrf)
		if code != s.wantCode || lookups != s.wantLookups || (code == 200 && body != s.email) {
			t.Errorf("%s: %d %q after %d session lookups, want %d as %s after %d", s.name, code, body, lookups,
				s.wantCode, s.email, s.wantLookups)
		}
	}
	// /me in a page reads nothing more: it reuses the authentication's
	// session and role bindings.
	page2 := InProcess(ctx)
	call(page2, http.MethodGet, "bob@example.com", false)
	c, n := querycount.Track(page2)
	req := httptest.NewRequestWithContext(c, http.MethodGet, "/admin/v1/me", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: session["bob@example.com"]})
	rec := httptest.NewRecorder()
	a.wrap(authz.Self, a.me).ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "bob@example.com") || n.N() != 0 {
		t.Errorf("/me in a page: %d %s after %v", rec.Code, rec.Body, n.Statements())
	}
	// Without the mark every request authenticates: a session ended
	// between two requests is refused at once.
	for i := range 2 {
		if code, _, lookups := call(ctx, http.MethodGet, "ann@example.com", false); code != 200 || lookups != 1 {
			t.Errorf("unmarked read %d: %d after %d session lookups, want 200 after 1", i, code, lookups)
		}
	}
	if err := st.DeleteSession(ctx, hashHex(session["ann@example.com"])); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := call(ctx, http.MethodGet, "ann@example.com", false); code != http.StatusUnauthorized {
		t.Errorf("unmarked read of an ended session: %d, want 401", code)
	}
	// Over HTTP the context cannot carry the mark: each request
	// authenticates, whatever it sends.
	srv := httptest.NewServer(who)
	defer srv.Close()
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/admin/v1/x", nil)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: session["ann@example.com"]})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("an ended session over HTTP: %d, want 401", resp.StatusCode)
	}
}
