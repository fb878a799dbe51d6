package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ledger"
)

func unitAudit(action, id string) AuditEntry {
	return AuditEntry{Actor: "test", Action: action, ObjectType: strings.SplitN(action, ".", 2)[0], ObjectID: id,
		After: json.RawMessage(`{"id":"` + id + `"}`)}
}

// auditActions lists the audit log, oldest first, as "action id".
func auditActions(t *testing.T, s *Store) []string {
	t.Helper()
	es, err := s.ListAudit(context.Background(), AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for i := len(es) - 1; i >= 0; i-- {
		out = append(out, es[i].Action+" "+es[i].ObjectID)
	}
	return out
}

func mustGen(t *testing.T, s *Store) int64 {
	t.Helper()
	g, err := s.Generation(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// tree makes org o1 > team t1 > app a1 and returns the time it used.
func tree(t *testing.T, s *Store) time.Time {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, u := range []Unit{
		{Kind: KindOrg, ID: "o1", Name: "acme", CreatedAt: now, UpdatedAt: now},
		{Kind: KindTeam, ID: "t1", OrgID: "o1", Name: "search", CreatedAt: now, UpdatedAt: now},
		{Kind: KindApp, ID: "a1", TeamID: "t1", Name: "bot", CreatedAt: now, UpdatedAt: now},
	} {
		if err := s.CreateUnit(ctx, u, unitAudit(u.Kind+".create", u.ID)); err != nil {
			t.Fatalf("create %s %s: %v", u.Kind, u.ID, err)
		}
	}
	return now
}

func TestUnitCRUD(t *testing.T) { forEach(t, testUnitCRUD) }

func testUnitCRUD(t *testing.T, s *Store) {
	ctx := context.Background()
	now := tree(t, s)
	limits := Limits{RPM: 60, TPM: 1000, MaxConcurrent: 2, BudgetMicros: 5_000_000, BudgetPeriod: "monthly",
		ReserveMicros: 100, AlertPercents: []int{50, 90}}
	cases := []struct {
		name, kind, id, org, team string
		parentOf                  Unit // a second unit with the same name in another parent: allowed
	}{
		{"org", KindOrg, "o1", "o1", "", Unit{}},
		{"team", KindTeam, "t1", "o1", "t1", Unit{Kind: KindTeam, ID: "t2", OrgID: "o2", Name: "search"}},
		{"app", KindApp, "a1", "o1", "t1", Unit{Kind: KindApp, ID: "a2", TeamID: "t2", Name: "bot"}},
	}
	if err := s.CreateUnit(ctx, Unit{Kind: KindOrg, ID: "o2", Name: "globex", CreatedAt: now, UpdatedAt: now}, unitAudit("org.create", "o2")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.GetUnit(ctx, tc.kind, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != tc.kind || got.OrgID != tc.org || got.TeamID != tc.team || got.Version != 1 || got.Source != "api" ||
				!got.CreatedAt.Equal(now) || !got.UpdatedAt.Equal(now) {
				t.Fatalf("round trip: %+v", got)
			}
			// The same name again in the same parent is a conflict.
			dup := got
			dup.ID = tc.id + "-dup"
			if err := s.CreateUnit(ctx, dup, unitAudit(tc.kind+".create", dup.ID)); !errors.Is(err, ErrConflict) {
				t.Fatalf("duplicate name: %v, want ErrConflict", err)
			}
			if tc.parentOf.ID != "" {
				p := tc.parentOf
				p.CreatedAt, p.UpdatedAt = now, now
				if err := s.CreateUnit(ctx, p, unitAudit(tc.kind+".create", p.ID)); err != nil {
					t.Fatalf("same name in another parent: %v", err)
				}
			}
			// Update: stale version, then the right one.
			upd := got
			upd.Name, upd.Description, upd.Limits, upd.UpdatedAt = got.Name+"-2", "desc", limits, now.Add(time.Second)
			upd.OrgID, upd.TeamID = "ignored", "ignored" // parents never change
			if err := s.UpdateUnit(ctx, upd, 2, unitAudit(tc.kind+".update", tc.id)); !errors.Is(err, ErrVersionMismatch) {
				t.Fatalf("stale update: %v, want ErrVersionMismatch", err)
			}
			if err := s.UpdateUnit(ctx, upd, 1, unitAudit(tc.kind+".update", tc.id)); err != nil {
				t.Fatal(err)
			}
			got, _ = s.GetUnit(ctx, tc.kind, tc.id)
			if got.Version != 2 || got.Name != upd.Name || got.Description != "desc" || !reflect.DeepEqual(got.Limits, limits) ||
				!got.UpdatedAt.Equal(upd.UpdatedAt) || !got.CreatedAt.Equal(now) || got.OrgID != tc.org || got.TeamID != tc.team {
				t.Fatalf("after update: %+v", got)
			}
			missing := upd
			missing.ID = "nope"
			if err := s.UpdateUnit(ctx, missing, 0, unitAudit(tc.kind+".update", "nope")); !errors.Is(err, ErrNotFound) {
				t.Fatalf("update of a missing unit: %v", err)
			}
			if _, err := s.GetUnit(ctx, tc.kind, "nope"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("GetUnit(nope) = %v", err)
			}
		})
	}

	// Lists, by filter.
	for _, lc := range []struct {
		kind string
		f    UnitFilter
		want []string
	}{
		{KindOrg, UnitFilter{}, []string{"o1", "o2"}},
		{KindTeam, UnitFilter{}, []string{"t1", "t2"}},
		{KindTeam, UnitFilter{OrgID: "o2"}, []string{"t2"}},
		{KindApp, UnitFilter{OrgID: "o1"}, []string{"a1"}},
		{KindApp, UnitFilter{TeamID: "t2"}, []string{"a2"}},
		{KindApp, UnitFilter{OrgID: "o1", TeamID: "t2"}, []string{}},
	} {
		us, err := s.ListUnits(ctx, lc.kind, lc.f)
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, u := range us {
			ids = append(ids, u.ID)
		}
		if !reflect.DeepEqual(ids, lc.want) {
			t.Errorf("ListUnits(%s, %+v) = %v, want %v", lc.kind, lc.f, ids, lc.want)
		}
	}

	// Parents must exist, and an app's org comes from its team.
	for _, bad := range []Unit{
		{Kind: KindTeam, ID: "tx", OrgID: "missing", Name: "x"},
		{Kind: KindApp, ID: "ax", TeamID: "missing", Name: "x"},
		{Kind: KindApp, ID: "ax", OrgID: "o2", TeamID: "t1", Name: "x"}, // t1 is in o1
	} {
		if err := s.CreateUnit(ctx, bad, unitAudit(bad.Kind+".create", bad.ID)); !errors.Is(err, ErrNotFound) {
			t.Errorf("CreateUnit(%+v) = %v, want ErrNotFound", bad, err)
		}
	}
	if _, err := s.GetUnit(ctx, "planet", "o1"); err == nil {
		t.Error("an unknown kind was accepted")
	}
}

func TestUnitDelete(t *testing.T) { forEach(t, testUnitDelete) }

func testUnitDelete(t *testing.T, s *Store) {
	ctx := context.Background()
	tree(t, s)
	key := KeyRecord{ID: "k1", Name: "k1", Hash: "h1", Prefix: "gw-", AppID: "a1", CreatedAt: time.Now()}
	if err := s.CreateKeyAudited(ctx, key, unitAudit("key.create", "k1")); err != nil {
		t.Fatal(err)
	}
	if err := s.AddBinding(ctx, Binding{ID: "rb1", UserID: "u1", Role: "admin", OrgID: "o1", TeamID: "t1"}, unitAudit("binding.create", "rb1")); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name, kind, id string
		ifVersion      int64
		before         func()
		want           error
	}{
		{"org with a team", KindOrg, "o1", 0, nil, ErrHasChildren},
		{"team with an app", KindTeam, "t1", 1, nil, ErrHasChildren},
		{"app with a live key", KindApp, "a1", 1, nil, ErrHasChildren},
		{"app, stale version", KindApp, "a1", 7, nil, ErrVersionMismatch},
		{"app once its key is revoked", KindApp, "a1", 1, func() {
			if err := s.RevokeKeyAudited(ctx, "k1", time.Now(), unitAudit("key.revoke", "k1")); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"app again", KindApp, "a1", 0, nil, ErrNotFound},
		{"team", KindTeam, "t1", 1, nil, nil},
		{"org", KindOrg, "o1", 1, nil, nil},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		err := s.DeleteUnit(ctx, st.kind, st.id, st.ifVersion, unitAudit(st.kind+".delete", st.id))
		if !errors.Is(err, st.want) || (st.want == nil && err != nil) {
			t.Fatalf("%s: DeleteUnit = %v, want %v", st.name, err, st.want)
		}
		_, gerr := s.GetUnit(ctx, st.kind, st.id)
		if gone := errors.Is(gerr, ErrNotFound); gone != (st.want == nil || errors.Is(st.want, ErrNotFound)) {
			t.Fatalf("%s: after DeleteUnit(%v) the unit is gone=%v", st.name, err, gone)
		}
	}
	// The team's binding went with it; the refused deletes left no audit row.
	if bs, _ := s.Bindings(ctx, "u1"); len(bs) != 0 {
		t.Fatalf("bindings of a deleted team: %+v", bs)
	}
	want := []string{"org.create o1", "team.create t1", "app.create a1", "key.create k1", "binding.create rb1",
		"key.revoke k1", "app.delete a1", "team.delete t1", "org.delete o1"}
	if got := auditActions(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("audit rows:\n got %v\nwant %v", got, want)
	}
}

// A write and its audit row commit together: a failed audit insert rolls
// the write back, and a refused write leaves no audit row.
func TestTenancyAuditSameTransaction(t *testing.T) { forEach(t, testTenancyAuditSameTx) }

func testTenancyAuditSameTx(t *testing.T, s *Store) {
	ctx := context.Background()
	now := tree(t, s)
	bad := AuditEntry{} // no actor: its insert fails
	u1 := User{ID: "u1", Email: "A@x.io", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateUser(ctx, u1, unitAudit("user.create", "u1")); err != nil {
		t.Fatal(err)
	}
	writes := []struct {
		name  string
		write func() error
		check func() bool // true when the write left no trace
	}{
		{"create org", func() error {
			return s.CreateUnit(ctx, Unit{Kind: KindOrg, ID: "o9", Name: "n9", CreatedAt: now, UpdatedAt: now}, bad)
		}, func() bool { _, err := s.GetUnit(ctx, KindOrg, "o9"); return errors.Is(err, ErrNotFound) }},
		{"update team", func() error {
			return s.UpdateUnit(ctx, Unit{Kind: KindTeam, ID: "t1", Name: "renamed"}, 1, bad)
		}, func() bool { u, _ := s.GetUnit(ctx, KindTeam, "t1"); return u.Name == "search" && u.Version == 1 }},
		{"delete app", func() error { return s.DeleteUnit(ctx, KindApp, "a1", 0, bad) },
			func() bool { _, err := s.GetUnit(ctx, KindApp, "a1"); return err == nil }},
		{"create key", func() error {
			return s.CreateKeyAudited(ctx, KeyRecord{ID: "k9", Name: "k9", Hash: "h9", CreatedAt: now}, bad)
		}, func() bool { _, err := s.GetKey(ctx, "k9"); return errors.Is(err, ErrNotFound) }},
		{"create user", func() error {
			return s.CreateUser(ctx, User{ID: "u9", Email: "u9@x.io", CreatedAt: now, UpdatedAt: now}, bad)
		}, func() bool { _, err := s.GetUser(ctx, "u9"); return errors.Is(err, ErrNotFound) }},
		{"update user", func() error {
			return s.UpdateUser(ctx, User{ID: "u1", Email: "b@x.io", UpdatedAt: now}, 1, bad)
		}, func() bool { u, _ := s.GetUser(ctx, "u1"); return u.Email == "a@x.io" && u.Version == 1 }},
		{"add binding", func() error {
			return s.AddBinding(ctx, Binding{ID: "rb9", UserID: "u1", Role: "viewer", OrgID: "o1"}, bad)
		}, func() bool { bs, _ := s.Bindings(ctx, "u1"); return len(bs) == 0 }},
		{"create token", func() error {
			return s.CreateAdminToken(ctx, AdminToken{ID: "tok9", UserID: "u1", Hash: "th9", CreatedAt: now}, bad)
		}, func() bool { _, err := s.AdminTokenByHash(ctx, "th9"); return errors.Is(err, ErrNotFound) }},
	}
	gen := mustGen(t, s)
	for _, w := range writes {
		if err := w.write(); err == nil {
			t.Errorf("%s with an invalid audit entry succeeded", w.name)
		}
		if !w.check() {
			t.Errorf("%s: the change was kept without its audit row", w.name)
		}
	}
	if g := mustGen(t, s); g != gen {
		t.Errorf("failed writes moved the generation from %d to %d", gen, g)
	}
	want := []string{"org.create o1", "team.create t1", "app.create a1", "user.create u1"}
	if got := auditActions(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("audit rows:\n got %v\nwant %v", got, want)
	}
}

func TestUsersAndBindings(t *testing.T) { forEach(t, testUsersAndBindings) }

func testUsersAndBindings(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	alice := User{ID: "usr_a", Email: " Alice@Example.COM", Name: "Alice", PasswordHash: "$argon2id$x", CreatedAt: now, UpdatedAt: now}
	bob := User{ID: "usr_b", Email: "bob@example.com", OIDCIssuer: "https://idp", OIDCSubject: "123", CreatedAt: now, UpdatedAt: now}
	for _, u := range []User{alice, bob} {
		if err := s.CreateUser(ctx, u, unitAudit("user.create", u.ID)); err != nil {
			t.Fatal(err)
		}
	}
	conflicts := []struct {
		name string
		u    User
		want error
	}{
		{"same email, other case", User{ID: "usr_c", Email: "ALICE@example.com"}, ErrConflict},
		{"same OIDC identity", User{ID: "usr_c", Email: "c@example.com", OIDCIssuer: "https://idp", OIDCSubject: "123"}, ErrConflict},
		{"same id", User{ID: "usr_a", Email: "d@example.com"}, ErrConflict},
	}
	for _, c := range conflicts {
		if err := s.CreateUser(ctx, c.u, unitAudit("user.create", c.u.ID)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Two users without OIDC do not collide on the (NULL, NULL) identity.
	if err := s.CreateUser(ctx, User{ID: "usr_c", Email: "c@example.com", Disabled: true}, unitAudit("user.create", "usr_c")); err != nil {
		t.Fatal(err)
	}
	lookups := []struct {
		name string
		get  func() (User, error)
		want string
	}{
		{"by id", func() (User, error) { return s.GetUser(ctx, "usr_a") }, "usr_a"},
		{"by email", func() (User, error) { return s.UserByEmail(ctx, "alice@EXAMPLE.com") }, "usr_a"},
		{"by OIDC", func() (User, error) { return s.UserByOIDC(ctx, "https://idp", "123") }, "usr_b"},
		{"by unknown OIDC", func() (User, error) { return s.UserByOIDC(ctx, "https://idp", "124") }, ""},
		{"by empty OIDC", func() (User, error) { return s.UserByOIDC(ctx, "", "") }, ""},
		{"by unknown email", func() (User, error) { return s.UserByEmail(ctx, "zed@example.com") }, ""},
	}
	for _, l := range lookups {
		u, err := l.get()
		if l.want == "" {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: %+v, %v; want ErrNotFound", l.name, u, err)
			}
			continue
		}
		if err != nil || u.ID != l.want {
			t.Errorf("%s: %+v, %v; want %s", l.name, u, err, l.want)
		}
	}
	got, _ := s.GetUser(ctx, "usr_a")
	if got.Email != "alice@example.com" || got.PasswordHash != alice.PasswordHash || got.Name != "Alice" || got.Version != 1 ||
		got.OIDCIssuer != "" || got.Disabled || !got.CreatedAt.Equal(now) {
		t.Fatalf("round trip: %+v", got)
	}
	if b, _ := json.Marshal(got); strings.Contains(string(b), "argon2id") {
		t.Fatalf("the password hash is in the JSON: %s", b)
	}

	// Update: link alice to OIDC and disable her; a stale version and a
	// taken email are refused.
	upd := got
	upd.OIDCIssuer, upd.OIDCSubject, upd.Disabled, upd.UpdatedAt = "https://idp", "456", true, now.Add(time.Second)
	if err := s.UpdateUser(ctx, upd, 5, unitAudit("user.update", "usr_a")); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("stale: %v", err)
	}
	taken := upd
	taken.Email = "BOB@example.com"
	if err := s.UpdateUser(ctx, taken, 1, unitAudit("user.update", "usr_a")); !errors.Is(err, ErrConflict) {
		t.Fatalf("taken email: %v", err)
	}
	if err := s.UpdateUser(ctx, upd, 1, unitAudit("user.update", "usr_a")); err != nil {
		t.Fatal(err)
	}
	if u, err := s.UserByOIDC(ctx, "https://idp", "456"); err != nil || u.ID != "usr_a" || !u.Disabled || u.Version != 2 {
		t.Fatalf("after update: %+v, %v", u, err)
	}
	if us, err := s.ListUsers(ctx); err != nil || len(us) != 3 || us[0].ID != "usr_a" || us[2].ID != "usr_c" || !us[2].Disabled {
		t.Fatalf("ListUsers = %+v, %v", us, err)
	}

	// Bindings: api ones survive the OIDC replacement.
	api := []Binding{
		{ID: "rb_1", UserID: "usr_a", Role: "admin", OrgID: "o1", CreatedAt: now},
		{ID: "rb_2", UserID: "usr_a", Role: "viewer", OrgID: "o2", TeamID: "t2", CreatedAt: now},
		{ID: "rb_3", UserID: "usr_b", Role: "viewer", OrgID: "o1", CreatedAt: now},
	}
	for _, b := range api {
		if err := s.AddBinding(ctx, b, unitAudit("binding.create", b.ID)); err != nil {
			t.Fatal(err)
		}
	}
	same := api[0]
	same.ID = "rb_9"
	if err := s.AddBinding(ctx, same, unitAudit("binding.create", "rb_9")); !errors.Is(err, ErrConflict) {
		t.Fatalf("identical binding: %v", err)
	}
	steps := []struct {
		name string
		oidc []Binding
		want []string // the user's bindings as "role org/team source"
	}{
		{"first login", []Binding{{Role: "developer", OrgID: "o1", TeamID: "t1"}, {Role: "owner", OrgID: "o3"}},
			[]string{"admin o1/ api", "developer o1/t1 oidc", "viewer o2/t2 api", "owner o3/ oidc"}},
		{"claims changed", []Binding{{Role: "viewer", OrgID: "o3"}, {Role: "admin", OrgID: "o1"}, {Role: "viewer", OrgID: "o3"}},
			[]string{"admin o1/ api", "viewer o2/t2 api", "viewer o3/ oidc"}},
		{"claims gone", nil, []string{"admin o1/ api", "viewer o2/t2 api"}},
	}
	for _, st := range steps {
		if err := s.ReplaceOIDCBindings(ctx, "usr_a", st.oidc); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		bs, err := s.Bindings(ctx, "usr_a")
		if err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, b := range bs {
			got = append(got, b.Role+" "+b.OrgID+"/"+b.TeamID+" "+b.Source)
			if b.UserID != "usr_a" || b.ID == "" || b.CreatedAt.IsZero() {
				t.Errorf("%s: binding %+v", st.name, b)
			}
		}
		if !reflect.DeepEqual(got, st.want) {
			t.Errorf("%s: bindings %v, want %v", st.name, got, st.want)
		}
	}
	if bs, _ := s.Bindings(ctx, "usr_b"); len(bs) != 1 || bs[0].ID != "rb_3" {
		t.Fatalf("another user's bindings changed: %+v", bs)
	}
	if bs, err := s.ListBindings(ctx, "o1"); err != nil || len(bs) != 2 || bs[0].ID != "rb_1" || bs[1].ID != "rb_3" {
		t.Fatalf("ListBindings(o1) = %+v, %v", bs, err)
	}
	if bs, _ := s.ListBindings(ctx, ""); len(bs) != 3 {
		t.Fatalf("ListBindings(all) = %+v", bs)
	}
	if err := s.RemoveBinding(ctx, "rb_2", unitAudit("binding.delete", "rb_2")); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveBinding(ctx, "rb_2", unitAudit("binding.delete", "rb_2")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove twice: %v", err)
	}
	acts := auditActions(t, s)
	if n := len(acts); n != 3+1+3+1 || acts[n-1] != "binding.delete rb_2" || acts[3] != "user.update usr_a" {
		t.Fatalf("audit rows: %v", acts)
	}
}

func TestAdminTokensAndSessions(t *testing.T) { forEach(t, testAdminTokensAndSessions) }

func testAdminTokensAndSessions(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	exp := now.Add(time.Hour)
	toks := []AdminToken{
		{ID: "tok_1", UserID: "usr_a", Name: "ci", Hash: "h1", Prefix: "sk-1", CreatedAt: now, ExpiresAt: &exp},
		{ID: "tok_2", UserID: "usr_a", Name: "cli", Hash: "h2", Prefix: "sk-2", CreatedAt: now.Add(time.Second)},
		{ID: "tok_3", UserID: "usr_b", Name: "x", Hash: "h3", Prefix: "sk-3", CreatedAt: now},
	}
	for _, tk := range toks {
		if err := s.CreateAdminToken(ctx, tk, unitAudit("token.create", tk.ID)); err != nil {
			t.Fatal(err)
		}
	}
	dup := toks[0]
	dup.ID = "tok_4"
	if err := s.CreateAdminToken(ctx, dup, unitAudit("token.create", "tok_4")); !errors.Is(err, ErrConflict) {
		t.Fatalf("same hash: %v", err)
	}
	got, err := s.AdminTokenByHash(ctx, "h1")
	if err != nil || got.ID != "tok_1" || got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) || got.RevokedAt != nil ||
		got.LastUsedAt != nil || got.Prefix != "sk-1" || !got.CreatedAt.Equal(now) {
		t.Fatalf("AdminTokenByHash = %+v, %v", got, err)
	}
	if err := s.TouchAdminToken(ctx, "tok_1", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchAdminToken(ctx, "tok_x", now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("touch unknown: %v", err)
	}
	for range 2 { // the second revoke is a no-op without an audit row
		if err := s.RevokeAdminToken(ctx, "tok_1", now.Add(2*time.Minute), unitAudit("token.revoke", "tok_1")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeAdminToken(ctx, "tok_x", now, unitAudit("token.revoke", "tok_x")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	got, _ = s.AdminTokenByHash(ctx, "h1") // still found: the caller checks its state
	if got.RevokedAt == nil || !got.RevokedAt.Equal(now.Add(2*time.Minute)) || got.LastUsedAt == nil || !got.LastUsedAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("after touch and revoke: %+v", got)
	}
	if ts, err := s.ListAdminTokens(ctx, "usr_a"); err != nil || len(ts) != 2 || ts[0].ID != "tok_1" || ts[1].ID != "tok_2" {
		t.Fatalf("ListAdminTokens(usr_a) = %+v, %v", ts, err)
	}
	if ts, _ := s.ListAdminTokens(ctx, ""); len(ts) != 3 {
		t.Fatalf("ListAdminTokens(all) = %+v", ts)
	}
	want := []string{"token.create tok_1", "token.create tok_2", "token.create tok_3", "token.revoke tok_1"}
	if acts := auditActions(t, s); !reflect.DeepEqual(acts, want) {
		t.Fatalf("audit rows %v, want %v", acts, want)
	}

	// Sessions.
	sessions := []Session{
		{Hash: "s1", UserID: "usr_a", CSRFHash: "c1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		{Hash: "s2", UserID: "usr_a", CSRFHash: "c2", CreatedAt: now, ExpiresAt: now.Add(-time.Second)},
		{Hash: "s3", UserID: "usr_b", CSRFHash: "c3", CreatedAt: now, ExpiresAt: now},
	}
	for _, se := range sessions {
		if err := s.CreateSession(ctx, se); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateSession(ctx, sessions[0]); !errors.Is(err, ErrConflict) {
		t.Fatalf("same session twice: %v", err)
	}
	if se, err := s.SessionByHash(ctx, "s1"); err != nil || !reflect.DeepEqual(se, sessions[0]) {
		t.Fatalf("SessionByHash = %+v, %v", se, err)
	}
	if n, err := s.DeleteExpiredSessions(ctx, now); err != nil || n != 2 {
		t.Fatalf("DeleteExpiredSessions = %d, %v; want 2", n, err)
	}
	if _, err := s.SessionByHash(ctx, "s2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired session kept: %v", err)
	}
	if err := s.DeleteSession(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(ctx, "s1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestRecordBudgetAlertOnce(t *testing.T) { forEach(t, testRecordBudgetAlertOnce) }

func testRecordBudgetAlertOnce(t *testing.T, s *Store) {
	ctx := context.Background()
	period := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	now := period.Add(time.Hour)
	for _, pct := range []int{50, 90} {
		var wins atomic.Int32
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ok, err := s.RecordBudgetAlert(ctx, "app:a1", period, pct, int64(1000+i), 2000, now.Add(time.Duration(pct)*time.Minute))
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if w := wins.Load(); w != 1 {
			t.Fatalf("%d%%: %d callers were told they fired the alert, want 1", pct, w)
		}
	}
	// Another period or subject is another alert.
	if ok, err := s.RecordBudgetAlert(ctx, "app:a1", period.AddDate(0, 1, 0), 50, 1, 2, now); err != nil || !ok {
		t.Fatalf("next period: %v, %v", ok, err)
	}
	if ok, err := s.RecordBudgetAlert(ctx, "team:t1", period, 50, 1, 2, now); err != nil || !ok {
		t.Fatalf("other subject: %v, %v", ok, err)
	}
	all, err := s.ListBudgetAlerts(ctx, nil, 0)
	if err != nil || len(all) != 4 {
		t.Fatalf("ListBudgetAlerts(all) = %+v, %v", all, err)
	}
	if all[0].Percent != 90 || !all[0].Time.Equal(now.Add(90*time.Minute)) || all[0].BudgetMicros != 2000 || !all[0].PeriodStart.Equal(period) {
		t.Fatalf("newest alert: %+v", all[0])
	}
	for _, c := range []struct {
		subjects []string
		limit    int
		want     int
	}{{[]string{"app:a1"}, 10, 3}, {[]string{"app:a1"}, 1, 1}, {[]string{"team:t1", "org:o1"}, 10, 1}, {[]string{}, 10, 0}} {
		got, err := s.ListBudgetAlerts(ctx, c.subjects, c.limit)
		if err != nil || len(got) != c.want {
			t.Errorf("ListBudgetAlerts(%v, %d) = %d alerts, %v; want %d", c.subjects, c.limit, len(got), err, c.want)
		}
	}
}

func TestSpendAndUsage(t *testing.T) { forEach(t, testSpendAndUsage) }

func testSpendAndUsage(t *testing.T, s *Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	type row struct {
		org, team, app, key, model string
		at                         time.Duration
		in, out, cost              int64
	}
	rows := []row{
		{"o1", "t1", "a1", "k1", "m1", 0, 10, 1, 1_000_001},
		{"o1", "t1", "a1", "k2", "m2", time.Minute, 20, 2, 2_000_003},
		{"o1", "t1", "a2", "k3", "m1", 2 * time.Minute, 40, 4, 4_000_005},
		{"o1", "t2", "a3", "k4", "m1", 3 * time.Minute, 80, 8, 8_000_007},
		{"o2", "t3", "a4", "k5", "m2", 4 * time.Minute, 160, 16, 16_000_011},
		{"", "", "", "k6", "m1", 5 * time.Minute, 320, 32, 32_000_013}, // a key outside the tree
		{"o1", "t1", "a1", "k1", "m1", time.Hour, 640, 64, 64_000_017}, // outside [t0, t0+10m)
	}
	var batch []ledger.Entry
	for i, r := range rows {
		batch = append(batch, ledger.Entry{RequestID: fmt.Sprint("r", i), Time: t0.Add(r.at), Endpoint: "chat.completions",
			KeyID: r.key, OrgID: r.org, TeamID: r.team, AppID: r.app, Model: r.model, Status: ledger.StatusOK, HTTPStatus: 200,
			InputTokens: r.in, OutputTokens: r.out, CostMicros: r.cost})
	}
	if err := s.InsertEntries(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		col, id string
		since   time.Duration
		want    int64
	}{
		{"key_id", "k1", 0, 65_000_018},
		{"key_id", "k1", time.Minute, 64_000_017},
		{"app_id", "a1", 0, 67_000_021},
		{"team_id", "t1", 0, 71_000_026},
		{"org_id", "o1", 0, 79_000_033},
		{"org_id", "o1", 2 * time.Minute, 76_000_029},
		{"org_id", "o2", 0, 16_000_011},
		{"org_id", "nobody", 0, 0},
	} {
		got, err := s.SpendSinceBy(ctx, c.col, c.id, t0.Add(c.since))
		if err != nil || got != c.want {
			t.Errorf("SpendSinceBy(%s, %s, +%v) = %d, %v; want %d", c.col, c.id, c.since, got, err, c.want)
		}
	}
	if n, err := s.SpendSince(ctx, "k1", t0); err != nil || n != 65_000_018 {
		t.Errorf("SpendSince(k1) = %d, %v", n, err)
	}
	for _, col := range []string{"cost_micros", "key_id; DROP TABLE requests", ""} {
		if _, err := s.SpendSinceBy(ctx, col, "x", t0); err == nil {
			t.Errorf("SpendSinceBy accepted column %q", col)
		}
	}

	win := UsageFilter{From: t0, To: t0.Add(10 * time.Minute)}
	with := func(f func(*UsageFilter)) UsageFilter { u := win; f(&u); return u }
	for _, c := range []struct {
		name string
		f    UsageFilter
		want []UsageRow
	}{
		{"by org", with(func(u *UsageFilter) { u.GroupBy = "org_id" }), []UsageRow{
			{"", 1, 320, 32, 32_000_013}, {"o1", 4, 150, 15, 15_000_016}, {"o2", 1, 160, 16, 16_000_011}}},
		{"by team in o1", with(func(u *UsageFilter) { u.GroupBy, u.OrgID = "team_id", "o1" }), []UsageRow{
			{"t1", 3, 70, 7, 7_000_009}, {"t2", 1, 80, 8, 8_000_007}}},
		{"by app in t1", with(func(u *UsageFilter) { u.GroupBy, u.TeamID = "app_id", "t1" }), []UsageRow{
			{"a1", 2, 30, 3, 3_000_004}, {"a2", 1, 40, 4, 4_000_005}}},
		{"by key in a1", with(func(u *UsageFilter) { u.GroupBy, u.AppID = "key_id", "a1" }), []UsageRow{
			{"k1", 1, 10, 1, 1_000_001}, {"k2", 1, 20, 2, 2_000_003}}},
		{"by model", with(func(u *UsageFilter) { u.GroupBy = "model" }), []UsageRow{
			{"m1", 4, 450, 45, 45_000_026}, {"m2", 2, 180, 18, 18_000_014}}},
		{"total, no end", UsageFilter{From: t0}, []UsageRow{{"", 7, 1270, 127, 127_000_057}}},
		{"one key, no end", UsageFilter{KeyID: "k1", GroupBy: "model"}, []UsageRow{{"m1", 2, 650, 65, 65_000_018}}},
		{"nothing", with(func(u *UsageFilter) { u.OrgID = "nobody" }), []UsageRow{}},
	} {
		got, err := s.Usage(ctx, c.f)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: Usage = %+v, %v\nwant %+v", c.name, got, err, c.want)
		}
	}
	if _, err := s.Usage(ctx, UsageFilter{GroupBy: "error"}); err == nil {
		t.Error("Usage grouped by an unknown column")
	}

	// The ledger keeps the units and filters by them.
	got, err := s.ListRequests(ctx, RequestFilter{Limit: 10, TeamID: "t1", KeyID: "k1"})
	if err != nil || len(got) != 2 || got[0].RequestID != "r6" || got[0].OrgID != "o1" || got[0].AppID != "a1" || got[0].TeamID != "t1" {
		t.Fatalf("ListRequests(t1, k1) = %+v, %v", got, err)
	}
	for _, c := range []struct {
		f    RequestFilter
		want int
	}{{RequestFilter{OrgID: "o1"}, 5}, {RequestFilter{AppID: "a4"}, 1}, {RequestFilter{OrgID: "o2", TeamID: "t1"}, 0}, {RequestFilter{}, 7}} {
		if got, err := s.ListRequests(ctx, c.f); err != nil || len(got) != c.want {
			t.Errorf("ListRequests(%+v) = %d entries, %v; want %d", c.f, len(got), err, c.want)
		}
	}
}

func TestUpsertConfigUnit(t *testing.T) {
	t.Run("sqlite, across restarts", func(t *testing.T) {
		dir := t.TempDir()
		var ids []string
		for range 2 {
			s, err := OpenSQLite(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, upsertTree(t, s)...)
			s.Close()
		}
		if !reflect.DeepEqual(ids[:3], ids[3:]) {
			t.Fatalf("ids changed across a restart: %v", ids)
		}
	})
	if pg := PostgresForTest(t); pg != nil {
		t.Run("postgres, twice", func(t *testing.T) {
			a, b := upsertTree(t, pg), upsertTree(t, pg)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("ids changed: %v then %v", a, b)
			}
		})
	}
	forEach(t, testUpsertConfigUnit)
}

// upsertTree upserts org acme > team search > app bot from "config" and
// returns their ids.
func upsertTree(t *testing.T, s *Store) []string {
	t.Helper()
	ctx := context.Background()
	org, err := s.UpsertConfigUnit(ctx, Unit{Kind: KindOrg, Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	team, err := s.UpsertConfigUnit(ctx, Unit{Kind: KindTeam, OrgID: org, Name: "search"})
	if err != nil {
		t.Fatal(err)
	}
	app, err := s.UpsertConfigUnit(ctx, Unit{Kind: KindApp, TeamID: team, Name: "bot", Limits: Limits{RPM: 10}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{org, team, app} {
		if id == "" {
			t.Fatal("empty id")
		}
	}
	return []string{org, team, app}
}

func testUpsertConfigUnit(t *testing.T, s *Store) {
	ctx := context.Background()
	ids := upsertTree(t, s)
	if !strings.HasPrefix(ids[0], "org_") || !strings.HasPrefix(ids[1], "team_") || !strings.HasPrefix(ids[2], "app_") {
		t.Fatalf("ids %v", ids)
	}
	gen := mustGen(t, s)
	if again := upsertTree(t, s); !reflect.DeepEqual(again, ids) {
		t.Fatalf("second upsert: %v, first %v", again, ids)
	}
	app, _ := s.GetUnit(ctx, KindApp, ids[2])
	if app.Version != 1 || app.Source != "config" || app.OrgID != ids[0] || app.Limits.RPM != 10 || mustGen(t, s) != gen {
		t.Fatalf("an unchanged upsert wrote: %+v, generation %d -> %d", app, gen, mustGen(t, s))
	}
	// A change of limits updates in place.
	id, err := s.UpsertConfigUnit(ctx, Unit{Kind: KindApp, TeamID: ids[1], Name: "bot", Description: "d", Limits: Limits{RPM: 20}})
	if err != nil || id != ids[2] {
		t.Fatalf("changed upsert: %q, %v", id, err)
	}
	app, _ = s.GetUnit(ctx, KindApp, ids[2])
	if app.Version != 2 || app.Limits.RPM != 20 || app.Description != "d" || mustGen(t, s) != gen+1 {
		t.Fatalf("after a change: %+v, generation %d -> %d", app, gen, mustGen(t, s))
	}
	// A unit made through the API with the same name is taken over by the config.
	now := time.Now()
	if err := s.CreateUnit(ctx, Unit{Kind: KindOrg, ID: "org_api", Name: "globex", CreatedAt: now, UpdatedAt: now}, unitAudit("org.create", "org_api")); err != nil {
		t.Fatal(err)
	}
	if id, err := s.UpsertConfigUnit(ctx, Unit{Kind: KindOrg, Name: "globex"}); err != nil || id != "org_api" {
		t.Fatalf("upsert over an API unit: %q, %v", id, err)
	}
	if u, _ := s.GetUnit(ctx, KindOrg, "org_api"); u.Source != "config" {
		t.Fatalf("source %q", u.Source)
	}
	// The same name under another parent is another unit; a missing parent is refused.
	other, err := s.UpsertConfigUnit(ctx, Unit{Kind: KindTeam, OrgID: "org_api", Name: "search"})
	if err != nil || other == ids[1] {
		t.Fatalf("team in another org: %q, %v", other, err)
	}
	if _, err := s.UpsertConfigUnit(ctx, Unit{Kind: KindTeam, OrgID: "missing", Name: "x"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing parent: %v", err)
	}
	if acts := auditActions(t, s); len(acts) != 1 {
		t.Fatalf("config upserts wrote audit rows: %v", acts)
	}
	// Many servers starting at once agree on one id.
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := s.UpsertConfigUnit(ctx, Unit{Kind: KindOrg, Name: "initech"})
			if err != nil {
				t.Error(err)
			}
			got[i] = id
		}()
	}
	wg.Wait()
	for _, id := range got {
		if id != got[0] || id == "" {
			t.Fatalf("concurrent upserts returned %v", got)
		}
	}
}

func TestKeysInTenancy(t *testing.T) { forEach(t, testKeysInTenancy) }

func testKeysInTenancy(t *testing.T, s *Store) {
	ctx := context.Background()
	now := tree(t, s)
	exp := now.Add(24 * time.Hour)
	k := KeyRecord{ID: "k1", Name: "bot-key", Hash: "h1", Prefix: "gw-ab", Models: []string{"m"}, CreatedAt: now,
		ExpiresAt: &exp, RPM: 5, BudgetMicros: 9, BudgetPeriod: "daily", AppID: "a1",
		Endpoints: []string{"chat.completions"}, SourceCIDRs: []string{"10.0.0.0/8"}, Tags: []string{"prod"},
		RotatedFrom: "k0", AlertPercents: []int{80, 100}}
	if err := s.CreateKeyAudited(ctx, k, unitAudit("key.create", "k1")); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetKey(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	want := k
	want.OrgID, want.TeamID, want.Version = "o1", "t1", 1 // filled in from the app
	if !got.CreatedAt.Equal(now) || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("times: %+v", got)
	}
	got.CreatedAt, got.ExpiresAt = want.CreatedAt, want.ExpiresAt
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	for _, bad := range []KeyRecord{
		{ID: "k2", Name: "k2", Hash: "h2", AppID: "missing"},
		{ID: "k2", Name: "k2", Hash: "h2", AppID: "a1", TeamID: "t9"},
		{ID: "k2", Name: "k2", Hash: "h2", TeamID: "t1", OrgID: "o9"},
	} {
		if err := s.CreateKey(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("CreateKey(%+v) = %v, want ErrNotFound", bad, err)
		}
	}
	// A key on a team, and one outside the tree (the config's keys).
	if err := s.CreateKey(ctx, KeyRecord{ID: "k2", Name: "team-key", Hash: "h2", TeamID: "t1", CreatedAt: now.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateKey(ctx, KeyRecord{ID: "k3", Name: "free", Hash: "h3", CreatedAt: now.Add(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		f    KeyFilter
		want []string
	}{
		{KeyFilter{}, []string{"k1", "k2", "k3"}},
		{KeyFilter{OrgID: "o1"}, []string{"k1", "k2"}},
		{KeyFilter{TeamID: "t1", AppID: "a1"}, []string{"k1"}},
		{KeyFilter{AppID: "a9"}, []string{}},
	} {
		ks, err := s.ListKeysBy(ctx, c.f)
		ids := []string{}
		for _, k := range ks {
			ids = append(ids, k.ID)
		}
		if err != nil || !reflect.DeepEqual(ids, c.want) {
			t.Errorf("ListKeysBy(%+v) = %v, %v; want %v", c.f, ids, err, c.want)
		}
	}
	if ks, _ := s.ListKeys(ctx); len(ks) != 3 || ks[2].Endpoints == nil || ks[2].AlertPercents == nil || ks[2].Version != 1 {
		t.Fatalf("ListKeys: %+v", ks)
	}

	// Update.
	upd := got
	upd.Name, upd.Models, upd.Tags, upd.TPM, upd.AlertPercents, upd.ExpiresAt = "bot-key-2", []string{"m", "n"}, nil, 77, []int{50}, nil
	upd.OrgID, upd.Hash = "o9", "changed" // neither changes
	if err := s.UpdateKey(ctx, upd, 3, unitAudit("key.update", "k1")); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("stale update: %v", err)
	}
	// Names are unique within an application: "free" is a platform key's
	// name and may be reused here; another key of the same application's
	// may not.
	if err := s.CreateKey(ctx, KeyRecord{ID: "k4", Name: "sibling", Hash: "h4", AppID: "a1", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateKey(ctx, KeyRecord{ID: "k5", Name: "free", Hash: "h5", AppID: "a1", CreatedAt: now}); err != nil {
		t.Fatalf("a name taken in another application: %v", err)
	}
	taken := upd
	taken.Name = "sibling"
	if err := s.UpdateKey(ctx, taken, 1, unitAudit("key.update", "k1")); !errors.Is(err, ErrConflict) {
		t.Fatalf("taken name: %v", err)
	}
	if err := s.UpdateKey(ctx, upd, 1, unitAudit("key.update", "k1")); err != nil {
		t.Fatal(err)
	}
	missing := upd
	missing.ID = "nope"
	if err := s.UpdateKey(ctx, missing, 0, unitAudit("key.update", "nope")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of a missing key: %v", err)
	}
	got, _ = s.GetKey(ctx, "k1")
	if got.Version != 2 || got.Name != "bot-key-2" || len(got.Models) != 2 || got.Tags == nil || len(got.Tags) != 0 ||
		got.TPM != 77 || got.RPM != 5 || !reflect.DeepEqual(got.AlertPercents, []int{50}) || got.ExpiresAt != nil ||
		got.OrgID != "o1" || got.Hash != "h1" {
		t.Fatalf("after update: %+v", got)
	}

	// SetKeyExpiry only ever brings the expiry forward.
	for _, c := range []struct {
		at      time.Time
		want    time.Time
		version int64
	}{
		{now.Add(time.Hour), now.Add(time.Hour), 3},               // none before: set
		{now.Add(2 * time.Hour), now.Add(time.Hour), 3},           // later: kept
		{now.Add(30 * time.Minute), now.Add(30 * time.Minute), 4}, // earlier: set
	} {
		if err := s.SetKeyExpiry(ctx, "k1", c.at, unitAudit("key.expire", "k1")); err != nil {
			t.Fatal(err)
		}
		got, _ = s.GetKey(ctx, "k1")
		if got.ExpiresAt == nil || !got.ExpiresAt.Equal(c.want) || got.Version != c.version {
			t.Fatalf("SetKeyExpiry(%v): expires %v, version %d; want %v, %d", c.at, got.ExpiresAt, got.Version, c.want, c.version)
		}
	}
	if err := s.SetKeyExpiry(ctx, "nope", now, unitAudit("key.expire", "nope")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetKeyExpiry(nope) = %v", err)
	}
	for range 2 {
		if err := s.RevokeKeyAudited(ctx, "k1", now, unitAudit("key.revoke", "k1")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeKeyAudited(ctx, "nope", now, unitAudit("key.revoke", "nope")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RevokeKeyAudited(nope) = %v", err)
	}
	if err := s.RevokeKeyAudited(ctx, "free", now, unitAudit("key.revoke", "free")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RevokeKeyAudited by name = %v, want ErrNotFound (ids only)", err)
	}
	got, _ = s.GetKey(ctx, "k1")
	if got.RevokedAt == nil || !got.RevokedAt.Equal(now) || got.Version != 5 {
		t.Fatalf("after revoke: %+v", got)
	}
	want2 := []string{"org.create o1", "team.create t1", "app.create a1", "key.create k1", "key.update k1",
		"key.expire k1", "key.expire k1", "key.revoke k1"}
	if acts := auditActions(t, s); !reflect.DeepEqual(acts, want2) {
		t.Fatalf("audit rows:\n got %v\nwant %v", acts, want2)
	}
}

// Every key and unit write moves the generation, in its own transaction;
// reads and refused writes do not.
func TestGeneration(t *testing.T) { forEach(t, testGeneration) }

func testGeneration(t *testing.T, s *Store) {
	ctx := context.Background()
	if g := mustGen(t, s); g != 0 {
		t.Fatalf("fresh store: generation %d", g)
	}
	now := time.Now()
	a := func(id string) AuditEntry { return unitAudit("x.y", id) }
	steps := []struct {
		name  string
		write func() error
		moves bool
	}{
		{"create org", func() error {
			return s.CreateUnit(ctx, Unit{Kind: KindOrg, ID: "o1", Name: "o", CreatedAt: now}, a("o1"))
		}, true},
		{"create org, taken name", func() error { return s.CreateUnit(ctx, Unit{Kind: KindOrg, ID: "o2", Name: "o"}, a("o2")) }, false},
		{"create team", func() error {
			return s.CreateUnit(ctx, Unit{Kind: KindTeam, ID: "t1", OrgID: "o1", Name: "t"}, a("t1"))
		}, true},
		{"update team", func() error { return s.UpdateUnit(ctx, Unit{Kind: KindTeam, ID: "t1", Name: "t2"}, 1, a("t1")) }, true},
		{"update team, stale", func() error { return s.UpdateUnit(ctx, Unit{Kind: KindTeam, ID: "t1", Name: "t3"}, 1, a("t1")) }, false},
		{"read", func() error { _, err := s.ListUnits(ctx, KindTeam, UnitFilter{}); return err }, false},
		{"create key", func() error { return s.CreateKey(ctx, KeyRecord{ID: "k1", Name: "k1", Hash: "h1", TeamID: "t1"}) }, true},
		{"create key audited", func() error {
			return s.CreateKeyAudited(ctx, KeyRecord{ID: "k2", Name: "k2", Hash: "h2"}, a("k2"))
		}, true},
		{"update key", func() error { return s.UpdateKey(ctx, KeyRecord{ID: "k1", Name: "k1"}, 0, a("k1")) }, true},
		{"set expiry", func() error { return s.SetKeyExpiry(ctx, "k1", now, a("k1")) }, true},
		{"set a later expiry", func() error { return s.SetKeyExpiry(ctx, "k1", now.Add(time.Hour), a("k1")) }, false},
		{"revoke key by name", func() error { return s.RevokeKey(ctx, "k1", now) }, true},
		{"revoke it again", func() error { return s.RevokeKeyAudited(ctx, "k1", now, a("k1")) }, false},
		{"revoke key audited", func() error { return s.RevokeKeyAudited(ctx, "k2", now, a("k2")) }, true},
		{"delete org with a team", func() error { return s.DeleteUnit(ctx, KindOrg, "o1", 0, a("o1")) }, false},
		{"delete team", func() error { return s.DeleteUnit(ctx, KindTeam, "t1", 0, a("t1")) }, true},
		{"upsert config unit", func() error { _, err := s.UpsertConfigUnit(ctx, Unit{Kind: KindOrg, Name: "c"}); return err }, true},
		{"upsert it unchanged", func() error { _, err := s.UpsertConfigUnit(ctx, Unit{Kind: KindOrg, Name: "c"}); return err }, false},
		{"explicit bump", func() error { return s.BumpGeneration(ctx) }, true},
	}
	for _, st := range steps {
		before := mustGen(t, s)
		err := st.write()
		after := mustGen(t, s)
		if st.moves && (err != nil || after != before+1) {
			t.Errorf("%s: err %v, generation %d -> %d; want +1", st.name, err, before, after)
		}
		if !st.moves && after != before {
			t.Errorf("%s: err %v, generation %d -> %d; want unchanged", st.name, err, before, after)
		}
	}
}

// A child created while its parent is being deleted never outlives it:
// either the delete is refused or the create fails.
func TestNoOrphansUnderConcurrency(t *testing.T) { forEach(t, testNoOrphans) }

func testNoOrphans(t *testing.T, s *Store) {
	ctx := context.Background()
	for round := range 10 {
		org := fmt.Sprint("o", round)
		if err := s.CreateUnit(ctx, Unit{Kind: KindOrg, ID: org, Name: org}, unitAudit("org.create", org)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				id := fmt.Sprintf("%s-t%d", org, i)
				err := s.CreateUnit(ctx, Unit{Kind: KindTeam, ID: id, OrgID: org, Name: id}, unitAudit("team.create", id))
				if err != nil && !errors.Is(err, ErrNotFound) {
					t.Error(err)
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := s.DeleteUnit(ctx, KindOrg, org, 0, unitAudit("org.delete", org))
			if err != nil && !errors.Is(err, ErrHasChildren) {
				t.Error(err)
			}
		}()
		close(start)
		wg.Wait()
		_, err := s.GetUnit(ctx, KindOrg, org)
		teams, lerr := s.ListUnits(ctx, KindTeam, UnitFilter{OrgID: org})
		if lerr != nil {
			t.Fatal(lerr)
		}
		if errors.Is(err, ErrNotFound) && len(teams) > 0 {
			t.Fatalf("round %d: org %s is gone but %d of its teams remain", round, org, len(teams))
		}
	}
}
