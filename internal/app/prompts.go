package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/prompt"
	"github.com/sluicehq/sluice/internal/store"
)

// syncPrompts writes the prompts the file declares into the store (after
// the units, so that their teams exist): new versions are added, a
// declared version that differs from the stored one is refused (versions
// are immutable), and a label moves when the file changes its value.
func (s *server) syncPrompts(ctx context.Context, f *config.File) error {
	if len(f.Prompts) == 0 {
		return nil
	}
	teams := map[string]store.Unit{} // "org/team"
	orgs, err := s.store.ListUnits(ctx, store.KindOrg, store.UnitFilter{})
	if err != nil {
		return err
	}
	orgName := map[string]string{}
	for _, o := range orgs {
		orgName[o.ID] = o.Name
	}
	ts, err := s.store.ListUnits(ctx, store.KindTeam, store.UnitFilter{})
	if err != nil {
		return err
	}
	for _, t := range ts {
		teams[orgName[t.OrgID]+"/"+t.Name] = t
	}
	for _, p := range f.Prompts {
		team, ok := teams[p.Team]
		if !ok {
			return fmt.Errorf("prompt %q: no team %q", p.Name, p.Team)
		}
		versions := make([]prompt.Version, len(p.Versions))
		for i, v := range p.Versions {
			versions[i] = config.PromptVersionOf(v)
			if versions[i].Author == "" {
				versions[i].Author = "config-file"
			}
		}
		changed, err := s.store.SyncConfigPrompt(ctx, store.Prompt{Name: p.Name, OrgID: team.OrgID, TeamID: team.ID,
			Description: p.Description, Protected: p.Protected}, versions, p.Labels)
		if err != nil {
			return fmt.Errorf("prompt %q: %w", p.Name, err)
		}
		if changed {
			s.log.Info("prompt from the configuration file stored", "prompt", p.Name, "versions", len(versions),
				"labels", strings.Join(labelList(p.Labels), ","))
		}
	}
	return nil
}

func labelList(labels map[string]int) []string {
	out := make([]string, 0, len(labels))
	for l, v := range labels {
		out = append(out, fmt.Sprintf("%s=%d", l, v))
	}
	return out
}
