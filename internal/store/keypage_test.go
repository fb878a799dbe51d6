package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestKeyPages(t *testing.T) { forEach(t, testKeyPages) }

// testKeyPages walks the keys by name then id in pages of every size, in
// an organisation and in one application: every key comes back exactly
// once, in order, names shared between applications included.
func testKeyPages(t *testing.T, s *Store) {
	ctx := context.Background()
	unit := func(kind, id, parent string) {
		t.Helper()
		u := Unit{Kind: kind, ID: id, Name: id, OrgID: parent, TeamID: parent}
		switch kind {
		case KindOrg:
			u.OrgID, u.TeamID = "", ""
		case KindTeam:
			u.OrgID, u.TeamID = parent, ""
		case KindApp:
			u.OrgID = ""
		}
		if err := s.CreateUnit(ctx, u, AuditEntry{ID: "a_" + id, Actor: "t", Action: "create"}); err != nil {
			t.Fatal(err)
		}
	}
	unit(KindOrg, "org_k", "")
	unit(KindTeam, "team_k", "org_k")
	apps := []string{"app_k1", "app_k2", "app_k3"}
	for _, a := range apps {
		unit(KindApp, a, "team_k")
	}
	for i := range 25 {
		// Names repeat across applications; ids do not follow names.
		k := KeyRecord{ID: fmt.Sprintf("key_%02d", (i*7)%25), Name: fmt.Sprintf("k%d", i/3), Hash: fmt.Sprintf("h%02d", i),
			Prefix: "sk-", AppID: apps[i%3], CreatedAt: time.Now()}
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	for _, f := range []KeyFilter{{OrgID: "org_k"}, {AppID: "app_k2"}, {}} {
		all, err := s.ListKeysBy(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		slices.SortFunc(all, func(a, b KeyRecord) int {
			if c := strings.Compare(a.Name, b.Name); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		for _, k := range all {
			want = append(want, k.Name+"/"+k.ID)
		}
		for _, size := range []int{1, 3, 4, 7, len(all)} {
			t.Run(fmt.Sprintf("%+v/%d", f, size), func(t *testing.T) {
				var got []string
				var after *KeyCursor
				for pages := 0; pages <= len(all); pages++ {
					page, err := s.KeyPage(ctx, f, Reach{All: true}, after, size)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) > size {
						t.Fatalf("a page of %d, asked %d", len(page), size)
					}
					for _, k := range page {
						got = append(got, k.Name+"/"+k.ID)
					}
					if len(page) < size {
						break
					}
					last := page[len(page)-1]
					after = &KeyCursor{Name: last.Name, ID: last.ID}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("pages gave\n%v\nwant\n%v", got, want)
				}
			})
		}
	}
}

// TestConsoleListsUseIndexes: the console's paged lists (keys by name in
// a unit or overall, an organisation's ledger and audit log) are read on
// an index that gives their order: SQLite's plan neither scans the table
// nor sorts it, so a page costs the same with a million rows.
func TestConsoleListsUseIndexes(t *testing.T) {
	s, err := OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct{ name, query string }{
		{"keys of an organisation", `SELECT id FROM api_keys WHERE org_id = 'o' AND (name, id) > ('a', 'b') ORDER BY name, id LIMIT 101`},
		{"keys of a team", `SELECT id FROM api_keys WHERE team_id = 't' ORDER BY name, id LIMIT 101`},
		{"keys of an application", `SELECT id FROM api_keys WHERE app_id = 'a' ORDER BY name, id LIMIT 101`},
		{"every key", `SELECT id FROM api_keys WHERE (name, id) > ('a', 'b') ORDER BY name, id LIMIT 101`},
		{"an organisation's ledger", `SELECT request_id FROM requests WHERE org_id = 'o' AND ts <= 5 AND (ts, request_id) < (5, 'r') ORDER BY ts DESC, request_id DESC LIMIT 51`},
		{"an organisation's audit log", `SELECT id FROM audit_log WHERE tenant = 'o' AND id < 'x' ORDER BY id DESC LIMIT 201`},
	} {
		t.Run(c.name, func(t *testing.T) {
			plan := sqlitePlan(t, s.r, c.query)
			p := strings.Join(plan, "; ")
			if !strings.Contains(p, "USING INDEX") && !strings.Contains(p, "USING COVERING INDEX") || strings.Contains(p, "TEMP B-TREE") {
				t.Fatalf("plan %q: not read in order on an index", p)
			}
		})
	}
}
