package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/route"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/secrets"
	"github.com/sluicehq/sluice/internal/store"
)

// reloadBase declares one organisation; the variants below add to it.
const reloadBase = `version: 1
providers: [{name: demo, type: demo}]
models:
  - {name: alpha, targets: [{provider: demo, model: demo-chat}]}
orgs:
  - name: acme
    teams: [{name: web, applications: [{name: shop}]}]
`

// testServer is a server as serve builds it, without HTTP: a SQLite store
// in a temporary directory and the configuration file at cfg, applied.
func testServer(t *testing.T, yaml string) (*server, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.yaml")
	writeFile(t, cfg, yaml)
	ctx := context.Background()
	st, err := store.Open(ctx, "", filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kek, _, err := secrets.LoadKEK(filepath.Join(dir, "data"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	file, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	health := route.NewRegistry(route.HealthOptions{})
	s := &server{log: slog.New(slog.NewTextHandler(io.Discard, nil)), configPath: cfg, store: st, client: upstreamClient(),
		registry: registry(), file: file, health: health, live: runtime.NewLive(health), keyring: secrets.NewKeyring(st, kek),
		guarded: guardedClient()}
	if err := s.apply(ctx, file); err != nil {
		t.Fatal(err)
	}
	return s, cfg
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// unitPaths lists the store's units as kind:path:source, sorted.
func unitPaths(t *testing.T, st *store.Store) []string {
	t.Helper()
	var all []store.Unit
	for _, kind := range []string{store.KindOrg, store.KindTeam, store.KindApp} {
		us, err := st.ListUnits(context.Background(), kind, store.UnitFilter{})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, us...)
	}
	return describeUnits(all)
}

// describeUnits names units by kind, path, source, description and
// limits, never by id (a plan's new units have placeholder ids).
func describeUnits(units []store.Unit) []string {
	names := map[string]string{}
	for _, u := range units {
		names[u.ID] = u.Name
	}
	var out []string
	for _, u := range units {
		path := u.Name
		switch u.Kind {
		case store.KindTeam:
			path = names[u.OrgID] + "/" + u.Name
		case store.KindApp:
			path = names[u.OrgID] + "/" + names[u.TeamID] + "/" + u.Name
		}
		out = append(out, fmt.Sprintf("%s:%s:%s:%q:%+v", u.Kind, path, u.Source, u.Description, u.Limits))
	}
	slices.Sort(out)
	return out
}

// TestReloadIsAllOrNothing: a file that loads but does not compile
// changes nothing (no unit written, the snapshot and file kept); a good
// file is applied whole.
func TestReloadIsAllOrNothing(t *testing.T) {
	tests := []struct {
		name string
		// second is appended to the new units: it must make the file fail.
		second  string
		wantErr string
	}{
		{"a deny rule names no organisation", "access:\n  deny: [{roles: [viewer], org: ghost, actions: ['*']}]\n", `no organisation "ghost"`},
		{"a deny rule names no action Sluice has", "access:\n  deny: [{roles: [viewer], actions: [keys.frobnicate]}]\n", "keys.frobnicate"},
		{"a prompt names a team that exists nowhere", "prompts:\n  - {name: greet, team: ghost/t, versions: [{version: 1, model: alpha, messages: [{role: user, content: hi}]}]}\n", `no team "ghost/t"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, cfg := testServer(t, reloadBase)
			ctx := context.Background()
			before, snap, file := unitPaths(t, s.store), s.snaps.Load(), s.file
			// The first half adds an organisation, a team under the
			// existing one and an application; the second half is bad.
			first := strings.Replace(reloadBase, "teams: [{name: web", "teams: [{name: ops}, {name: web", 1) +
				"  - name: newco\n    teams: [{name: t, applications: [{name: a}]}]\n" +
				"keys:\n  - {name: k, key: gw-test-new-app-key-0001, application: newco/t/a}\n"
			writeFile(t, cfg, first+tc.second)
			if _, err := config.Load(cfg); err != nil {
				t.Fatalf("the file must load and fail only when compiled: %v", err)
			}
			err := s.Reload(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("reload: %v, want an error naming %s", err, tc.wantErr)
			}
			if after := unitPaths(t, s.store); !slices.Equal(before, after) {
				t.Errorf("a refused reload changed the store:\nbefore %v\nafter  %v", before, after)
			}
			if s.snaps.Load() != snap || s.file != file {
				t.Error("a refused reload replaced the running snapshot or file")
			}

			// The same first half without the bad part is applied.
			writeFile(t, cfg, first)
			if err := s.Reload(ctx); err != nil {
				t.Fatal(err)
			}
			after := s.snaps.Load()
			for _, path := range []string{"acme/ops", "newco", "newco/t/a"} {
				if after.UnitByPath(path) == nil {
					t.Errorf("%s is not in the snapshot after a good reload", path)
				}
			}
			if got := len(unitPaths(t, s.store)); got != len(before)+4 {
				t.Errorf("%d units stored after a good reload, want %d", got, len(before)+4)
			}
		})
	}
}

// TestReloadRefusesRestartOnlySettings: each setting that only a restart
// applies is refused by name when a reload changes it (set, changed or
// removed), and nothing else of that file is applied; a reload that
// leaves them alone passes.
func TestReloadRefusesRestartOnlySettings(t *testing.T) {
	const oidc = "  oidc: {issuer: 'https://id.example', client_id: sluice, redirect_url: 'https://gw.example/admin/v1/auth/oidc/callback'}\n"
	const otlp = "observability:\n  otlp: {endpoint: 'http://127.0.0.1:4318'}\n"
	tests := []struct {
		setting     string
		change      string
		running     string // the access block the server starts with
		next        string // the access block of the reload
		wantRefused bool
	}{
		{"access.oidc", "set", "", "access:\n" + oidc, true},
		{"access.oidc", "changed", "access:\n" + oidc, "access:\n" + strings.Replace(oidc, "client_id: sluice", "client_id: other", 1), true},
		{"access.oidc", "removed", "access:\n" + oidc, "", true},
		{"access.oidc", "unchanged", "access:\n" + oidc, "access:\n" + oidc, false},
		{"access.session_ttl", "set", "", "access:\n  session_ttl: 1h\n", true},
		{"access.session_ttl", "changed", "access:\n  session_ttl: 2h\n", "access:\n  session_ttl: 1h\n", true},
		{"access.session_ttl", "unchanged", "access:\n  session_ttl: 2h\n", "access:\n  session_ttl: 2h\n", false},
		{"observability.otlp", "set", "", otlp, true},
		{"observability.otlp", "changed", otlp, strings.Replace(otlp, "4318", "4319", 1), true},
		{"observability.otlp", "unchanged", otlp, otlp, false},
		{"cache.max_bytes", "set", "", "cache: {max_bytes: 1048576}\n", true},
		{"cache.max_bytes", "changed", "cache: {max_bytes: 1048576}\n", "cache: {max_bytes: 2097152}\n", true},
		{"cache.max_bytes", "unchanged, scope changed", "cache: {max_bytes: 1048576, scope: org}\n", "cache: {max_bytes: 1048576, scope: global}\n", false},
	}
	covered := map[string]bool{}
	for _, tc := range tests {
		covered[tc.setting] = true
		t.Run(tc.setting+" "+tc.change, func(t *testing.T) {
			s, cfg := testServer(t, reloadBase+tc.running)
			snap := s.snaps.Load()
			// The reload also adds a model, which must not appear when refused.
			next := strings.Replace(reloadBase, "models:\n", "models:\n  - {name: beta, targets: [{provider: demo, model: demo-chat}]}\n", 1) + tc.next
			writeFile(t, cfg, next)
			err := s.Reload(context.Background())
			want := tc.setting + " changed: restart Sluice to apply it"
			if !tc.wantRefused {
				if err != nil {
					t.Fatalf("an unchanged %s refused: %v", tc.setting, err)
				}
				if s.snaps.Load().Models["beta"] == nil {
					t.Fatal("the reload was not applied")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("reload: %v, want %q", err, want)
			}
			if strings.Contains(err.Error(), "https://id.example") || strings.Contains(err.Error(), "4318") || strings.Contains(err.Error(), "1048576") {
				t.Errorf("the refusal shows the setting's value: %v", err)
			}
			if s.snaps.Load() != snap || s.snaps.Load().Models["beta"] != nil {
				t.Error("a refused reload was applied")
			}
		})
	}
	for _, s := range restartOnly {
		if !covered[s.name] {
			t.Errorf("restart-only setting %s has no case here", s.name)
		}
	}
}

// TestPlannedUnitsMatchSync: the units a dry compile plans with are those
// syncUnits then writes (ids aside), across files that add, change, move
// and drop units.
func TestPlannedUnitsMatchSync(t *testing.T) {
	files := []string{
		reloadBase,
		// A limit and a description change; a team and an app are added.
		strings.Replace(reloadBase, "  - name: acme\n", "  - name: acme\n    description: the tenant\n    rpm: 7\n", 1) +
			"  - name: newco\n    teams: [{name: t, applications: [{name: a, tpm: 9}]}]\n",
		// acme's team web and its app are no longer declared; newco stays.
		"version: 1\nproviders: [{name: demo, type: demo}]\nmodels:\n  - {name: alpha, targets: [{provider: demo, model: demo-chat}]}\n" +
			"orgs:\n  - name: acme\n  - name: newco\n    teams: [{name: t, applications: [{name: a}]}]\n",
		// web is declared again: the released team is the config's again.
		reloadBase,
	}
	s, cfg := testServer(t, files[0])
	ctx := context.Background()
	for i, yaml := range files[1:] {
		writeFile(t, cfg, yaml)
		f, err := config.Load(cfg)
		if err != nil {
			t.Fatal(err)
		}
		in, _, err := s.inputs(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		planned := describeUnits(plannedUnits(in.Units, f))
		if err := s.syncUnits(ctx, f); err != nil {
			t.Fatal(err)
		}
		if got := unitPaths(t, s.store); !slices.Equal(planned, got) {
			t.Errorf("file %d: planned\n%v\nsynced\n%v", i+1, strings.Join(planned, "\n"), strings.Join(got, "\n"))
		}
	}
}

// reloadPrompt is a prompt on acme/web with one version.
const reloadPrompt = `prompts:
  - name: greet
    team: acme/web
    versions:
      - {version: 1, model: alpha, messages: [{role: user, content: "Hello there"}]}
`

// TestReloadRefusesAnEditedPromptVersionBeforeWriting: a file that edits a
// stored prompt version is refused before its new units are written.
func TestReloadRefusesAnEditedPromptVersionBeforeWriting(t *testing.T) {
	s, cfg := testServer(t, reloadBase+reloadPrompt)
	ctx := context.Background()
	before, snap := unitPaths(t, s.store), s.snaps.Load()
	edited := reloadBase + "  - name: newco\n" + strings.Replace(reloadPrompt, "Hello", "Goodbye", 1)
	writeFile(t, cfg, edited)
	err := s.Reload(ctx)
	if err == nil || !strings.Contains(err.Error(), "version 1 differs") {
		t.Fatalf("reload: %v, want the edited version refused", err)
	}
	if after := unitPaths(t, s.store); !slices.Equal(before, after) {
		t.Errorf("a refused reload changed the store:\nbefore %v\nafter  %v", before, after)
	}
	if s.snaps.Load() != snap {
		t.Error("a refused reload replaced the running snapshot")
	}
	// The same file with the version unchanged is applied.
	writeFile(t, cfg, reloadBase+"  - name: newco\n"+reloadPrompt)
	if err := s.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if s.snaps.Load().UnitByPath("newco") == nil {
		t.Error("newco is not in the snapshot after a good reload")
	}
}
