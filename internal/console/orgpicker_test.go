package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/store/querycount"
)

var (
	orgSuggestionRE = regexp.MustCompile(`<datalist id="org-suggestions">(.*?)</datalist>`)
	orgReadRE       = regexp.MustCompile(`FROM orgs\b.*ORDER BY`)
)

// TestOrgPickerPastItsBound: a user who may read more than 200
// organisations gets a text field for the organisation's id with the
// first 200 as suggestions, every page reads one bounded page of
// organisations, an id past the first 200 is selectable, and one the user
// may not read is not.
func TestOrgPickerPastItsBound(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 201 organisations")
	}
	q := seedQueries(t, 1)
	ctx := context.Background()
	var bindings []map[string]any
	var last string
	for i := range 201 {
		code, raw := q.srv.Admin(ctx, http.MethodPost, "/admin/v1/orgs", map[string]any{"name": fmt.Sprintf("org-%03d", i)})
		if code != http.StatusCreated {
			t.Fatalf("org %d: %d %s", i, code, raw)
		}
		var v struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(raw, &v)
		last = v.ID
		bindings = append(bindings, map[string]any{"role": "viewer", "org_id": v.ID})
	}
	if code, raw := q.srv.Admin(ctx, http.MethodPost, "/admin/v1/users", map[string]any{"email": "many@example.com",
		"password": "correct-horse-battery", "bindings": bindings}); code != http.StatusCreated {
		t.Fatalf("user: %d %s", code, raw)
	}
	if err := q.srv.Compile(ctx); err != nil {
		t.Fatal(err)
	}
	many, err := q.srv.SignIn(ctx, "many@example.com", "correct-horse-battery")
	if err != nil {
		t.Fatal(err)
	}
	get := func(t *testing.T, path string) (string, []string) {
		t.Helper()
		qctx, n := querycount.Track(ctx)
		a := q.srv.Do(qctx, http.MethodGet, path, nil, many)
		if a.Code != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", path, a.Code, a.Body)
		}
		return a.Body, n.Statements()
	}
	for _, path := range []string{"/console/", "/console/keys", "/console/limits", "/console/limits?org=" + last, "/portal/apps"} {
		t.Run(path, func(t *testing.T) {
			body, stmts := get(t, path)
			m := orgSuggestionRE.FindStringSubmatch(body)
			if m == nil || strings.Contains(body, `<select id="org-select"`) || !strings.Contains(body, `<input id="org-select"`) {
				t.Fatal("no organisation text field with suggestions")
			}
			want := 200
			if strings.Contains(path, last) {
				want = 201 // the selected one joins the first 200
			}
			if n := strings.Count(m[1], "<option "); n != want {
				t.Errorf("%d suggestions, want %d", n, want)
			}
			for _, s := range stmts {
				if orgReadRE.MatchString(s) && !strings.Contains(s, " LIMIT ") {
					t.Errorf("a whole list of organisations read: %s", s)
				}
			}
		})
	}
	t.Run("an organisation past the first 200 is selectable", func(t *testing.T) {
		body, _ := get(t, "/console/keys?org="+last)
		if !strings.Contains(body, `<input id="org-select" name="org" value="`+last+`"`) {
			t.Fatalf("org %s not selected", last)
		}
	})
	t.Run("an organisation the user may not read is not", func(t *testing.T) {
		body, _ := get(t, "/console/keys?org="+q.org)
		if strings.Contains(body, `<input id="org-select" name="org" value="`+q.org+`"`) {
			t.Fatalf("org %s selected though the user has no role in it", q.org)
		}
	})
}
