package app

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/prompt"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/store"
)

// restartOnly are the file's settings that are read once, when Sluice
// starts: a reload that changes one is refused, never half applied. (The
// listen address, data directory, database and Redis are flags and
// environment variables, read once too; a reload reads only the file.) A
// setting that is wired in at start goes here with one row.
var restartOnly = []struct {
	name string
	get  func(*config.File) any
}{
	{"access.oidc", func(f *config.File) any { return f.Access.OIDC }},
	{"access.session_ttl", func(f *config.File) any { return f.Access.SessionTTL }},
	{"observability.otlp", func(f *config.File) any { return f.Observability.OTLP }}, // the trace exporter
	{"cache.max_bytes", func(f *config.File) any { return f.Cache.MaxBytes }},        // the in-memory answer store's bound
}

// checkRestartOnly refuses next when it changes a setting that only a
// restart applies, naming each such setting (never its value: some hold
// secrets).
func checkRestartOnly(running, next *config.File) error {
	var errs []error
	for _, s := range restartOnly {
		if !reflect.DeepEqual(s.get(running), s.get(next)) {
			errs = append(errs, fmt.Errorf("%s changed: restart Sluice to apply it", s.name))
		}
	}
	return errors.Join(errs...)
}

// apply makes file the running configuration, all or nothing: it compiles
// file against the store as it would be after the file's organisations,
// teams and applications are written, and only when that succeeds writes
// them and compiles and publishes the snapshot. A file that does not
// compile leaves the store and the running snapshot as they were.
//
// The writes themselves are not one transaction: a database failure in
// the middle of syncUnits leaves the units written so far (each one
// consistent), and the running snapshot stays until the next apply.
func (s *server) apply(ctx context.Context, file *config.File) error {
	if err := s.dryCompile(ctx, file); err != nil {
		return err
	}
	if err := s.syncUnits(ctx, file); err != nil {
		return fmt.Errorf("organisations in the configuration file: %w", err)
	}
	if err := s.syncProducts(ctx, file); err != nil {
		return fmt.Errorf("products in the configuration file: %w", err)
	}
	return s.compile(ctx, file)
}

// dryCompile compiles file with the units it would leave in the store,
// against a Live of its own, and publishes and writes nothing.
func (s *server) dryCompile(ctx context.Context, file *config.File) error {
	in, _, err := s.inputs(ctx, file)
	if err != nil {
		return err
	}
	in.Units = plannedUnits(in.Units, file)
	if err := checkPrompts(file, in.Units, in.StoredPrompts); err != nil {
		return err
	}
	in.Live = runtime.NewLive(nil)
	_, err = runtime.Compile(in)
	return err
}

// checkPrompts refuses what syncPrompts would refuse after the units are
// written: a prompt whose team would not exist, and a declared version
// that differs from the stored one (versions are immutable).
func checkPrompts(f *config.File, planned []store.Unit, stored []store.StoredPrompt) error {
	if len(f.Prompts) == 0 {
		return nil
	}
	names := map[string]string{}
	for _, u := range planned {
		if u.Kind == store.KindOrg {
			names[u.ID] = u.Name
		}
	}
	teams := map[string]bool{}
	for _, u := range planned {
		if u.Kind == store.KindTeam {
			teams[names[u.OrgID]+"/"+u.Name] = true
		}
	}
	byName := make(map[string]store.StoredPrompt, len(stored))
	for _, p := range stored {
		byName[p.Name] = p
	}
	for _, p := range f.Prompts {
		if !teams[p.Team] {
			return fmt.Errorf("prompt %q: no team %q", p.Name, p.Team)
		}
		for _, v := range p.Versions {
			for _, old := range byName[p.Name].Versions {
				if old.Number != v.Version {
					continue
				}
				if d := prompt.Diff(old, config.PromptVersionOf(v)); d != "" {
					return fmt.Errorf("prompt %q version %d differs from the stored one; add a new version instead:\n%s: %w", p.Name, v.Version, d, store.ErrImmutable)
				}
			}
		}
	}
	return nil
}

// plannedUnits is what syncUnits would leave in the store given the stored
// units: each unit the file declares, matched by kind, parent and name
// (a new one with a placeholder id), with the file's description and
// limits; a config unit the file no longer declares released to the API.
func plannedUnits(stored []store.Unit, f *config.File) []store.Unit {
	type slot struct{ kind, parent, name string }
	index := make(map[slot]int, len(stored))
	out := make([]store.Unit, len(stored))
	copy(out, stored)
	for i, u := range out {
		parent := ""
		switch u.Kind {
		case store.KindTeam:
			parent = u.OrgID
		case store.KindApp:
			parent = u.TeamID
		}
		index[slot{u.Kind, parent, u.Name}] = i
	}
	declared := map[string]bool{}
	upsert := func(u store.Unit, parent string) string {
		u.Source = "config"
		if i, ok := index[slot{u.Kind, parent, u.Name}]; ok {
			out[i].Description, out[i].Limits, out[i].Source = u.Description, u.Limits, u.Source
			declared[out[i].ID] = true
			return out[i].ID
		}
		u.ID = "planned_" + u.Kind + "_" + strconv.Itoa(len(out))
		switch u.Kind {
		case store.KindOrg:
			u.OrgID = u.ID
		case store.KindTeam:
			u.TeamID = u.ID
		}
		index[slot{u.Kind, parent, u.Name}] = len(out)
		out = append(out, u)
		declared[u.ID] = true
		return u.ID
	}
	for _, o := range f.Orgs {
		orgID := upsert(store.Unit{Kind: store.KindOrg, Name: o.Name, Description: o.Description, Limits: runtime.StoreLimits(o.Limits)}, "")
		for _, t := range o.Teams {
			teamID := upsert(store.Unit{Kind: store.KindTeam, OrgID: orgID, Name: t.Name, Description: t.Description,
				Limits: runtime.StoreLimits(t.Limits)}, orgID)
			for _, a := range t.Applications {
				upsert(store.Unit{Kind: store.KindApp, OrgID: orgID, TeamID: teamID, Name: a.Name, Description: a.Description,
					Limits: runtime.StoreLimits(a.Limits)}, teamID)
			}
		}
	}
	for i := range out {
		if out[i].Source == "config" && !declared[out[i].ID] {
			out[i].Source = "api"
		}
	}
	return out
}
