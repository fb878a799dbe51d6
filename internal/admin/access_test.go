package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/authz"
	"github.com/sluicehq/sluice/internal/runtime"
)

// TestUndecidedSuccessIsRefused: a handler that answers with success
// without asking the policy (a forgotten authorize) gets a 500, never its
// answer; errors pass, and a decided answer passes.
func TestUndecidedSuccessIsRefused(t *testing.T) {
	p, _ := authz.Compile(nil)
	var snaps runtime.Holder
	snaps.Store(&runtime.Snapshot{Policy: p})
	a := New(Options{TokenHash: auth.HashKey("bootstrap-token-0123456789"), Snapshots: &snaps})
	tests := []struct {
		name string
		fn   func(http.ResponseWriter, *http.Request) error
		want int
	}{
		{"forgot to decide", func(w http.ResponseWriter, r *http.Request) error {
			return writeJSON(w, http.StatusOK, map[string]string{"secret": "other tenant's"})
		}, 500},
		{"forgot to decide, raw write", func(w http.ResponseWriter, r *http.Request) error {
			_, err := w.Write([]byte("data"))
			return err
		}, 500},
		{"decided", func(w http.ResponseWriter, r *http.Request) error {
			if err := a.authorize(r, authz.OrgsRead, "", authz.Scope{OrgID: "o"}); err != nil {
				return err
			}
			return writeJSON(w, http.StatusOK, nil)
		}, 200},
		{"error without a decision", func(w http.ResponseWriter, r *http.Request) error {
			return &httpError{http.StatusBadRequest, "invalid_body", "bad"}
		}, 400},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/admin/v1/x", nil)
		req.Header.Set("Authorization", "Bearer bootstrap-token-0123456789")
		a.wrap(authz.OrgsRead, tt.fn).ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, rec.Code, rec.Body, tt.want)
		}
		if b := rec.Body.String(); tt.want == 500 && (b == "" || strings.Contains(b, "data") || strings.Contains(b, "tenant")) {
			t.Errorf("%s: body %q", tt.name, rec.Body)
		}
	}
}
