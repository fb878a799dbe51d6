package app

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/store"
)

const promptsBase = `version: 1
providers: [{name: demo, type: demo}]
models:
  - {name: gpt-4o-mini, targets: [{provider: demo, model: demo-chat}]}
orgs:
  - name: acme
    teams: [{name: search}]
prompts:
  - name: summarize
    team: acme/search
    versions:
      - version: 1
        model: gpt-4o-mini
        messages:
          - {role: system, content: "You summarise text."}
          - {role: user, content: "Summarise: {{text}}"}
        variables: {type: object, required: [text], additionalProperties: false,
                    properties: {text: {type: string, maxLength: 2000}}}
    labels: {production: 1}
`

const promptV2 = `      - version: 2
        model: gpt-4o-mini
        messages: [{role: user, content: "Briefly: {{text}}"}]
        variables: {type: object, properties: {text: {type: string}}}
`

// served is the version the snapshot serves for ref.
func served(t *testing.T, s *server, ref string) int {
	t.Helper()
	p := s.snaps.Load().Prompts.Get("summarize")
	if p == nil {
		t.Fatal("the snapshot has no prompt summarize")
	}
	v, _, err := p.Resolve(ref, "key", "")
	if err != nil {
		t.Fatalf("resolve %q: %v", ref, err)
	}
	return v.Version().Number
}

// The file's prompts reach the store and the snapshot; a reload adds
// versions and moves the labels the file changes; a label moved through
// the API stays until the file changes it; a changed version is refused
// and the running snapshot stays; with the store gone the last snapshot
// keeps serving.
func TestPromptsFromTheFile(t *testing.T) {
	s, cfg := testServer(t, promptsBase)
	ctx := context.Background()
	if got := served(t, s, ""); got != 1 {
		t.Fatalf("production serves %d, want 1", got)
	}
	p, err := s.store.GetPrompt(ctx, "summarize")
	if err != nil || p.Source != "config" || p.TeamID == "" {
		t.Fatalf("stored %+v, %v", p, err)
	}

	v2 := strings.Replace(promptsBase, "    labels:", promptV2+"    labels:", 1)
	writeFile(t, cfg, strings.Replace(v2, "{production: 1}", "{production: 2, staging: 1}", 1))
	if err := s.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if served(t, s, "") != 2 || served(t, s, "staging") != 1 {
		t.Fatalf("after the reload: production %d, staging %d", served(t, s, ""), served(t, s, "staging"))
	}

	// The API rolls production back to 1; reloading the same file keeps it.
	if err := s.store.SetPromptLabel(ctx, p.ID, store.PromptLabel{Label: "production", Version: 1}, 2, "alice", "rollback",
		store.AuditEntry{Actor: "alice", Action: "prompt.rollback"}); err != nil {
		t.Fatal(err)
	}
	if err := s.recompile(ctx); err != nil { // what watchGeneration does when the generation moves
		t.Fatal(err)
	}
	if err := s.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := served(t, s, ""); got != 1 {
		t.Fatalf("a reload of an unchanged file undid the API's move: production serves %d", got)
	}

	// Version 1 edited in place: refused, nothing changes.
	snap := s.snaps.Load()
	writeFile(t, cfg, strings.Replace(v2, "Summarise: {{text}}", "Sum up: {{text}}", 1))
	err = s.Reload(ctx)
	if !errors.Is(err, store.ErrImmutable) || !strings.Contains(err.Error(), "summarize") {
		t.Fatalf("editing version 1: %v, want ErrImmutable naming the prompt", err)
	}
	if s.snaps.Load() != snap {
		t.Fatal("a refused reload replaced the snapshot")
	}

	// The store goes away: recompiling fails, the last snapshot serves.
	s.store.Close()
	if err := s.recompile(ctx); err == nil {
		t.Fatal("recompiling without a store succeeded")
	}
	if got := served(t, s, ""); got != 1 {
		t.Fatalf("without the store production serves %d, want the last known 1", got)
	}
}
