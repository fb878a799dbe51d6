package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestListPages(t *testing.T) { forEach(t, testListPages) }

// testListPages walks every paged list in pages of several sizes, within
// several reaches and filters: each walk gives exactly the rows of the
// whole list that the reach and filter keep, once each, in page order.
func testListPages(t *testing.T, s *Store) {
	ctx := context.Background()
	audit := func(id string) AuditEntry { return AuditEntry{ID: "a_" + id, Actor: "t", Action: "create"} }
	unit := func(kind, id, name, parent string) {
		t.Helper()
		u := Unit{Kind: kind, ID: id, Name: name}
		switch kind {
		case KindTeam:
			u.OrgID = parent
		case KindApp:
			u.TeamID = parent
		}
		if err := s.CreateUnit(ctx, u, audit(id)); err != nil {
			t.Fatalf("%s %s: %v", kind, id, err)
		}
	}
	// Two organisations of two teams, each of five applications whose
	// names repeat across teams and whose ids do not follow their names.
	for o := range 2 {
		org := fmt.Sprintf("org_p%d", o)
		unit(KindOrg, org, fmt.Sprintf("o%d", 1-o), "")
		for tm := range 2 {
			team := fmt.Sprintf("team_p%d%d", o, tm)
			unit(KindTeam, team, fmt.Sprintf("t%d", 1-tm), org)
			for a := range 5 {
				unit(KindApp, fmt.Sprintf("app_p%d%d%d", o, tm, (a*3)%5), fmt.Sprintf("a%d", a), team)
			}
			for i := range 3 {
				id := fmt.Sprintf("usr_p%d%d%d", o, tm, i)
				u := User{ID: id, Email: fmt.Sprintf("%d-%s@example.com", (i*7+o)%5, id), CreatedAt: time.Now(), UpdatedAt: time.Now()}
				if err := s.CreateUser(ctx, u, audit(id)); err != nil {
					t.Fatal(err)
				}
				b := Binding{ID: "rb_" + id, UserID: id, Role: "viewer", OrgID: org, TeamID: team, CreatedAt: time.Now()}
				if i == 0 {
					b.TeamID = ""
				}
				if err := s.AddBinding(ctx, b, audit("b"+id)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// A user in both organisations, and one in none.
	for _, id := range []string{"usr_both", "usr_none"} {
		if err := s.CreateUser(ctx, User{ID: id, Email: id + "@example.com", CreatedAt: time.Now(), UpdatedAt: time.Now()}, audit(id)); err != nil {
			t.Fatal(err)
		}
	}
	for i, org := range []string{"org_p0", "org_p1"} {
		if err := s.AddBinding(ctx, Binding{ID: fmt.Sprintf("rb_both%d", i), UserID: "usr_both", Role: "admin", OrgID: org, CreatedAt: time.Now()},
			audit(fmt.Sprintf("bb%d", i))); err != nil {
			t.Fatal(err)
		}
	}

	reaches := []struct {
		name  string
		reach Reach
	}{
		{"all", Reach{All: true}},
		{"org p1", Reach{Orgs: []string{"org_p1"}}},
		{"team p01", Reach{Teams: []string{"team_p01"}}},
		{"org p0 and team p11", Reach{Orgs: []string{"org_p0"}, Teams: []string{"team_p11"}}},
		{"none", Reach{}},
	}
	inReach := func(r Reach, org, team string) bool {
		return r.All || slices.Contains(r.Orgs, org) || (team != "" && slices.Contains(r.Teams, team))
	}
	sizes := []int{1, 2, 3, 7, 100}

	t.Run("units", func(t *testing.T) {
		for _, kind := range []string{KindOrg, KindTeam, KindApp} {
			for _, f := range []UnitFilter{{}, {OrgID: "org_p1"}, {TeamID: "team_p01"}} {
				if kind == KindOrg && f != (UnitFilter{}) {
					continue
				}
				all, err := s.ListUnits(ctx, kind, f)
				if err != nil {
					t.Fatal(err)
				}
				slices.SortFunc(all, func(a, b Unit) int {
					return compareValues(a.CursorOf().values(unitOrder(kind)), b.CursorOf().values(unitOrder(kind)))
				})
				for _, rc := range reaches {
					var want []string
					for _, u := range all {
						if inReach(rc.reach, u.OrgID, u.TeamID) {
							want = append(want, u.ID)
						}
					}
					for _, size := range sizes {
						var got []string
						var after *UnitCursor
						for pages := 0; ; pages++ {
							us, err := s.UnitPage(ctx, kind, f, rc.reach, after, size)
							if err != nil {
								t.Fatal(err)
							}
							for _, u := range us {
								got = append(got, u.ID)
							}
							if len(us) < size || pages > 100 {
								break
							}
							c := us[len(us)-1].CursorOf()
							after = &c
						}
						if !slices.Equal(got, want) {
							t.Errorf("%s %+v reach %s, pages of %d:\n got %v\nwant %v", kind, f, rc.name, size, got, want)
						}
					}
				}
			}
		}
	})

	t.Run("keys", func(t *testing.T) {
		for i := range 12 {
			app := fmt.Sprintf("app_p%d%d%d", i%2, (i/2)%2, i%5)
			k := KeyRecord{ID: fmt.Sprintf("key_r%02d", (i*5)%12), Name: fmt.Sprintf("k%d", i/4), Hash: fmt.Sprintf("hr%02d", i),
				Prefix: "sk-", AppID: app, CreatedAt: time.Now()}
			if err := s.CreateKey(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		all, err := s.ListKeysBy(ctx, KeyFilter{})
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(all, func(a, b KeyRecord) int { return compareValues([]any{a.Name, a.ID}, []any{b.Name, b.ID}) })
		for _, rc := range reaches {
			var want []string
			for _, k := range all {
				if inReach(rc.reach, k.OrgID, k.TeamID) {
					want = append(want, k.ID)
				}
			}
			for _, size := range sizes {
				var got []string
				var after *KeyCursor
				for pages := 0; ; pages++ {
					ks, err := s.KeyPage(ctx, KeyFilter{}, rc.reach, after, size)
					if err != nil {
						t.Fatal(err)
					}
					for _, k := range ks {
						got = append(got, k.ID)
					}
					if len(ks) < size || pages > 100 {
						break
					}
					after = &KeyCursor{Name: ks[len(ks)-1].Name, ID: ks[len(ks)-1].ID}
				}
				if !slices.Equal(got, want) {
					t.Errorf("reach %s, pages of %d:\n got %v\nwant %v", rc.name, size, got, want)
				}
			}
		}
	})

	t.Run("users", func(t *testing.T) {
		all, err := s.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		bindings, err := s.ListBindings(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, rc := range reaches {
			for _, self := range []string{"", "usr_none", "usr_p000"} {
				var want []string
				for _, u := range all {
					keep := rc.reach.All || u.ID == self
					for _, b := range bindings {
						keep = keep || b.UserID == u.ID && inReach(rc.reach, b.OrgID, b.TeamID)
					}
					if keep {
						want = append(want, u.Email)
					}
				}
				for _, size := range sizes {
					var got []string
					after := ""
					for pages := 0; ; pages++ {
						us, err := s.UserPage(ctx, rc.reach, self, after, size)
						if err != nil {
							t.Fatal(err)
						}
						for _, u := range us {
							got = append(got, u.Email)
						}
						if len(us) < size || pages > 100 {
							break
						}
						after = us[len(us)-1].Email
					}
					if !slices.Equal(got, want) {
						t.Errorf("reach %s self %q, pages of %d:\n got %v\nwant %v", rc.name, self, size, got, want)
					}
				}
			}
		}
		bs, err := s.BindingsOf(ctx, []string{"usr_both", "usr_p100", "usr_none"})
		if err != nil || len(bs) != 3 {
			t.Errorf("BindingsOf = %d bindings (%v), want usr_both's 2 and usr_p100's 1", len(bs), err)
		}
	})

	t.Run("bindings", func(t *testing.T) {
		for _, org := range []string{"", "org_p0"} {
			all, err := s.ListBindings(ctx, org)
			if err != nil {
				t.Fatal(err)
			}
			for _, rc := range reaches {
				var want []string
				for _, b := range all {
					if inReach(rc.reach, b.OrgID, b.TeamID) {
						want = append(want, b.ID)
					}
				}
				for _, size := range sizes {
					var got []string
					var after *BindingCursor
					for pages := 0; ; pages++ {
						bs, err := s.BindingPage(ctx, org, rc.reach, after, size)
						if err != nil {
							t.Fatal(err)
						}
						for _, b := range bs {
							got = append(got, b.ID)
						}
						if len(bs) < size || pages > 100 {
							break
						}
						l := bs[len(bs)-1]
						after = &BindingCursor{UserID: l.UserID, OrgID: l.OrgID, TeamID: l.TeamID, Role: l.Role}
					}
					if !slices.Equal(got, want) {
						t.Errorf("org %q reach %s, pages of %d:\n got %v\nwant %v", org, rc.name, size, got, want)
					}
				}
			}
		}
	})

	t.Run("budget alerts", func(t *testing.T) {
		// Alerts of an organisation, a team, an application and a key of
		// org_p0, one of org_p1's team; several at the same time.
		if err := s.CreateKey(ctx, KeyRecord{ID: "key_p0", Name: "k", Hash: "hp0", Prefix: "sk-", AppID: "app_p000", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		subjects := []string{"org_p0", "team_p01", "app_p013", "key_p0", "team_p10"}
		for i := range 15 {
			sub := subjects[i%len(subjects)]
			if _, err := s.RecordBudgetAlert(ctx, sub, base, 10*(i/5+1), 1, 2, base.Add(time.Duration(i/4)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		for _, org := range []string{"", "org_p0", "org_p1"} {
			var subs []string
			if org != "" {
				subs = []string{org}
				for _, kind := range []string{KindTeam, KindApp} {
					us, _ := s.ListUnits(ctx, kind, UnitFilter{OrgID: org})
					for _, u := range us {
						subs = append(subs, u.ID)
					}
				}
				ks, _ := s.ListKeysBy(ctx, KeyFilter{OrgID: org})
				for _, k := range ks {
					subs = append(subs, k.ID)
				}
			}
			all, err := s.ListBudgetAlerts(ctx, subs, 1000)
			if err != nil {
				t.Fatal(err)
			}
			want := alertKeys(all)
			slices.Sort(want)
			slices.Reverse(want)
			for _, size := range sizes {
				var got []string
				var after *BudgetAlertCursor
				for pages := 0; ; pages++ {
					as, err := s.BudgetAlertPage(ctx, org, after, size)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, alertKeys(as)...)
					if len(as) < size || pages > 100 {
						break
					}
					c := as[len(as)-1].CursorOf()
					after = &c
				}
				if !slices.Equal(got, want) {
					t.Errorf("org %q, pages of %d:\n got %v\nwant %v", org, size, got, want)
				}
			}
		}
	})

	t.Run("captures", func(t *testing.T) {
		base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		for i := range 13 {
			c := Capture{RequestID: fmt.Sprintf("req_%02d", (i*5)%13), Time: base.Add(time.Duration(i/3) * time.Second),
				OrgID: []string{"org_p0", "org_p1"}[i%2], Status: "ok", ExpiresAt: base.Add(time.Hour)}
			if err := s.InsertCapture(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		for _, org := range []string{"", "org_p1"} {
			all, err := s.SearchCaptures(ctx, CaptureFilter{OrgID: org, Limit: 500}, base)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, c := range all {
				want = append(want, c.RequestID)
			}
			for _, size := range sizes {
				var got []string
				f := CaptureFilter{OrgID: org, Limit: size}
				for pages := 0; ; pages++ {
					cs, err := s.SearchCaptures(ctx, f, base)
					if err != nil {
						t.Fatal(err)
					}
					for _, c := range cs {
						got = append(got, c.RequestID)
					}
					if len(cs) < size || pages > 100 {
						break
					}
					l := cs[len(cs)-1]
					f.After = &RequestCursor{TS: l.Time.UnixMicro(), RequestID: l.RequestID}
				}
				if !slices.Equal(got, want) {
					t.Errorf("org %q, pages of %d:\n got %v\nwant %v", org, size, got, want)
				}
			}
		}
	})
}

// alertKeys names each alert by its page order's fields, so that sorting
// the names descending gives the page order.
func alertKeys(as []BudgetAlert) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = fmt.Sprintf("%020d|%s|%020d|%04d", a.Time.UnixMicro(), a.Subject, a.PeriodStart.UnixMicro(), a.Percent)
	}
	return out
}

func compareValues(a, b []any) int {
	for i := range a {
		if c := stringsCompare(a[i].(string), b[i].(string)); c != 0 {
			return c
		}
	}
	return 0
}

func stringsCompare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
