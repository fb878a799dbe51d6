package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/prompt"
)

// PrefixPrompt begins every prompt id.
const PrefixPrompt = "pmt_"

// ErrImmutable is returned when a write would change a prompt version
// that exists: versions are only ever added.
var ErrImmutable = errors.New("prompt versions are immutable")

// Prompt is a team's prompt: its versions are stored apart (they are
// immutable), its labels with it.
type Prompt struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	OrgID       string `json:"org_id"`
	TeamID      string `json:"team_id"`
	Description string `json:"description"`
	// Protected labels are moved only by the roles that may set limits
	// (owners and admins).
	Protected []string `json:"protected"`
	// Source is "config" for a prompt the file declares, "api" otherwise.
	Source    string        `json:"source"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
	Latest    int           `json:"latest_version"`
	Labels    []PromptLabel `json:"labels"`
}

// PromptLabel points a label at a version. With a split, SplitWeight
// percent of the traffic (sticky per key or per user, as Sticky says) goes
// to SplitVersion instead.
type PromptLabel struct {
	Label        string    `json:"label"`
	Version      int       `json:"version"`
	SplitVersion int       `json:"split_version,omitempty"`
	SplitWeight  int       `json:"split_weight,omitempty"`
	Sticky       string    `json:"sticky,omitempty"` // "key" (default) or "user"
	UpdatedAt    time.Time `json:"updated_at"`
	UpdatedBy    string    `json:"updated_by"`
}

// PromptLabelMove is one row of a label's history.
type PromptLabelMove struct {
	ID           string    `json:"id"`
	Label        string    `json:"label"`
	From         int       `json:"from_version"` // 0: the label was new
	To           int       `json:"to_version"`
	SplitVersion int       `json:"split_version,omitempty"`
	SplitWeight  int       `json:"split_weight,omitempty"`
	Actor        string    `json:"actor"`
	Reason       string    `json:"reason,omitempty"`
	Time         time.Time `json:"ts"`
}

// PromptTestRun is a stored run of a test set against one version.
type PromptTestRun struct {
	ID       string          `json:"id"`
	PromptID string          `json:"prompt_id"`
	Version  int             `json:"version"`
	Time     time.Time       `json:"ts"`
	Actor    string          `json:"actor"`
	Cases    int             `json:"cases"`
	Passed   int             `json:"passed"`
	Summary  json.RawMessage `json:"summary"`
}

// PromptFilter narrows ListPrompts to an organisation or a team.
type PromptFilter struct{ OrgID, TeamID string }

// StoredPrompt is a prompt with every version, for the runtime snapshot.
type StoredPrompt struct {
	Prompt
	Versions []prompt.Version
}

// versionBody is what a version row's body holds.
type versionBody struct {
	Model     string           `json:"model"`
	Messages  []prompt.Message `json:"messages"`
	Params    json.RawMessage  `json:"params,omitempty"`
	Variables json.RawMessage  `json:"variables,omitempty"`
	Output    json.RawMessage  `json:"output,omitempty"`
}

const promptCols = `id, name, org_id, team_id, description, protected, source, created_at, updated_at,
 (SELECT COALESCE(MAX(version), 0) FROM prompt_versions WHERE prompt_id = prompts.id)`

func scanPrompts(rows *sql.Rows) ([]Prompt, error) {
	defer rows.Close()
	var out []Prompt
	for rows.Next() {
		var p Prompt
		var protected string
		var created, updated int64
		if err := rows.Scan(&p.ID, &p.Name, &p.OrgID, &p.TeamID, &p.Description, &protected, &p.Source, &created, &updated, &p.Latest); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(protected), &p.Protected); err != nil {
			return nil, fmt.Errorf("prompt %s: protected labels: %w", p.ID, err)
		}
		p.CreatedAt, p.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// CreatePrompt stores a new prompt (no versions yet) with the audit entry
// and a generation bump. A taken name is ErrConflict.
func (s *Store) CreatePrompt(ctx context.Context, p Prompt, audit AuditEntry) error {
	protected, err := json.Marshal(nonNil(p.Protected))
	if err != nil {
		return err
	}
	if p.Source == "" {
		p.Source = "api"
	}
	now := p.CreatedAt
	if now.IsZero() {
		now = time.Now()
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO prompts (id, name, org_id, team_id, description, protected, source, created_at, updated_at)
 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`, p.ID, p.Name, p.OrgID, p.TeamID, p.Description, string(protected), p.Source, now.UnixMicro())
		if err != nil {
			if isUniqueViolation(err) {
				return ErrConflict
			}
			return err
		}
		return auditAndBump(ctx, tx, &audit)
	})
}

// GetPrompt returns the prompt with this id or name, with its labels, or
// ErrNotFound.
func (s *Store) GetPrompt(ctx context.Context, idOrName string) (Prompt, error) {
	p, err := first(ctx, s.r, scanPrompts, `SELECT `+promptCols+` FROM prompts WHERE id = $1 OR name = $1 ORDER BY id = $1 DESC`, idOrName)
	if err != nil {
		return p, err
	}
	p.Labels, err = s.PromptLabels(ctx, p.ID)
	return p, err
}

// ListPrompts lists prompts by name, with their labels.
func (s *Store) ListPrompts(ctx context.Context, f PromptFilter) ([]Prompt, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+promptCols+` FROM prompts
 WHERE ($1 = '' OR org_id = $1) AND ($2 = '' OR team_id = $2) ORDER BY name`, f.OrgID, f.TeamID)
	if err != nil {
		return nil, err
	}
	ps, err := scanPrompts(rows)
	if err != nil {
		return nil, err
	}
	labels, err := s.allLabels(ctx)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		ps[i].Labels = labels[ps[i].ID]
	}
	return ps, nil
}

// AddPromptVersion stores v as the next version of the prompt and returns
// its number. v.Number 0 means "the next"; any other number must be the
// next, or the write is ErrConflict (someone else added one first). The
// audit entry is stored and the generation bumped in the same transaction.
func (s *Store) AddPromptVersion(ctx context.Context, promptID string, v prompt.Version, audit AuditEntry) (int, error) {
	var n int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM prompt_versions WHERE prompt_id = $1`, promptID).Scan(&n); err != nil {
			return err
		}
		n++
		if v.Number != 0 && v.Number != n {
			return ErrConflict
		}
		v.Number = n
		if err := insertVersion(ctx, tx, promptID, v); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE prompts SET updated_at = $1 WHERE id = $2`, time.Now().UnixMicro(), promptID); err != nil {
			return err
		}
		if audit.ObjectID == "" {
			audit.ObjectID = fmt.Sprintf("%s@%d", promptID, n)
		}
		return auditAndBump(ctx, tx, &audit)
	})
	return n, err
}

func insertVersion(ctx context.Context, tx *sql.Tx, promptID string, v prompt.Version) error {
	var exists int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM prompts WHERE id = $1`, promptID).Scan(&exists); err != nil {
		return err
	}
	if exists == 0 {
		return ErrNotFound
	}
	body, err := json.Marshal(versionBody{Model: v.Model, Messages: v.Messages, Params: v.Params, Variables: v.Variables, Output: v.Output})
	if err != nil {
		return err
	}
	created := v.Created
	if created.IsZero() {
		created = time.Now()
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO prompt_versions (prompt_id, version, body, message, author, created_at)
 VALUES ($1, $2, $3, $4, $5, $6)`, promptID, v.Number, string(body), v.Message, v.Author, created.UnixMicro())
	if err != nil && isUniqueViolation(err) {
		return ErrConflict
	}
	return err
}

// PromptVersions returns every version of a prompt, oldest first.
func (s *Store) PromptVersions(ctx context.Context, promptID string) ([]prompt.Version, error) {
	return s.versions(ctx, `WHERE prompt_id = $1 ORDER BY version`, promptID)
}

// PromptVersion returns one version, or ErrNotFound.
func (s *Store) PromptVersion(ctx context.Context, promptID string, n int) (prompt.Version, error) {
	vs, err := s.versions(ctx, `WHERE prompt_id = $1 AND version = $2`, promptID, n)
	if err != nil {
		return prompt.Version{}, err
	}
	if len(vs) == 0 {
		return prompt.Version{}, ErrNotFound
	}
	return vs[0], nil
}

func (s *Store) versions(ctx context.Context, where string, args ...any) ([]prompt.Version, error) {
	out, _, err := s.versionsWithPrompt(ctx, where, args...)
	return out, err
}

func (s *Store) versionsWithPrompt(ctx context.Context, where string, args ...any) ([]prompt.Version, []string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT prompt_id, version, body, message, author, created_at FROM prompt_versions `+where, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var out []prompt.Version
	var ids []string
	for rows.Next() {
		var v prompt.Version
		var id, body string
		var created int64
		if err := rows.Scan(&id, &v.Number, &body, &v.Message, &v.Author, &created); err != nil {
			return nil, nil, err
		}
		var b versionBody
		if err := json.Unmarshal([]byte(body), &b); err != nil {
			return nil, nil, fmt.Errorf("prompt %s version %d: %w", id, v.Number, err)
		}
		v.Model, v.Messages, v.Params, v.Variables, v.Output = b.Model, b.Messages, b.Params, b.Variables, b.Output
		v.Created = time.UnixMicro(created).UTC()
		out = append(out, v)
		ids = append(ids, id)
	}
	return out, ids, rows.Err()
}

// PromptLabels returns a prompt's labels by name.
func (s *Store) PromptLabels(ctx context.Context, promptID string) ([]PromptLabel, error) {
	m, err := s.labels(ctx, `WHERE prompt_id = $1`, promptID)
	return m[promptID], err
}

func (s *Store) allLabels(ctx context.Context) (map[string][]PromptLabel, error) {
	return s.labels(ctx, ``)
}

func (s *Store) labels(ctx context.Context, where string, args ...any) (map[string][]PromptLabel, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT prompt_id, label, version, split_version, split_weight, sticky, updated_at, updated_by
 FROM prompt_labels `+where+` ORDER BY prompt_id, label`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]PromptLabel{}
	for rows.Next() {
		var id string
		var l PromptLabel
		var updated int64
		if err := rows.Scan(&id, &l.Label, &l.Version, &l.SplitVersion, &l.SplitWeight, &l.Sticky, &updated, &l.UpdatedBy); err != nil {
			return nil, err
		}
		l.UpdatedAt = time.UnixMicro(updated).UTC()
		out[id] = append(out[id], l)
	}
	return out, rows.Err()
}

// SetPromptLabel points label l.Label of the prompt at l.Version (and its
// split, if any), records the move in the label's history with actor and
// reason, stores the audit entry and bumps the generation, in one
// transaction. When ifVersion is not -1 the label must point at ifVersion
// now (0: must not exist), or the write is ErrVersionMismatch. The
// versions named must exist (ErrNotFound otherwise).
func (s *Store) SetPromptLabel(ctx context.Context, promptID string, l PromptLabel, ifVersion int, actor, reason string, audit AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		return setLabel(ctx, tx, promptID, l, ifVersion, actor, reason, -1, &audit)
	})
}

// setLabel does SetPromptLabel's work inside tx. declared, when not -1, is
// stored as the version the configuration file set.
func setLabel(ctx context.Context, tx *sql.Tx, promptID string, l PromptLabel, ifVersion int, actor, reason string, declared int, audit *AuditEntry) error {
	for _, n := range []int{l.Version, l.SplitVersion} {
		if n == 0 && n == l.SplitVersion {
			continue
		}
		var c int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM prompt_versions WHERE prompt_id = $1 AND version = $2`, promptID, n).Scan(&c); err != nil {
			return err
		}
		if c == 0 {
			return fmt.Errorf("version %d: %w", n, ErrNotFound)
		}
	}
	from := 0
	err := tx.QueryRowContext(ctx, `SELECT version FROM prompt_labels WHERE prompt_id = $1 AND label = $2`, promptID, l.Label).Scan(&from)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if ifVersion != -1 && from != ifVersion {
		return ErrVersionMismatch
	}
	now := time.Now()
	if l.SplitVersion == 0 {
		l.SplitWeight = 0
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO prompt_labels (prompt_id, label, version, split_version, split_weight, sticky, declared, updated_at, updated_by)
 VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7 < 0 THEN 0 ELSE $7 END, $8, $9)
 ON CONFLICT (prompt_id, label) DO UPDATE SET version = excluded.version, split_version = excluded.split_version,
 split_weight = excluded.split_weight, sticky = excluded.sticky, updated_at = excluded.updated_at, updated_by = excluded.updated_by,
 declared = CASE WHEN $7 < 0 THEN prompt_labels.declared ELSE $7 END`,
		promptID, l.Label, l.Version, l.SplitVersion, l.SplitWeight, l.Sticky, declared, now.UnixMicro(), actor); err != nil {
		return err
	}
	id := "plh_" + strings.TrimPrefix(newAuditID(now), "aud_")
	if _, err := tx.ExecContext(ctx, `INSERT INTO prompt_label_history (id, prompt_id, label, from_version, to_version, split_version, split_weight, actor, reason, ts)
 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, id, promptID, l.Label, from, l.Version, l.SplitVersion, l.SplitWeight, actor, reason, now.UnixMicro()); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE prompts SET updated_at = $1 WHERE id = $2`, now.UnixMicro(), promptID); err != nil {
		return err
	}
	return auditAndBump(ctx, tx, audit)
}

// PromptLabelHistory returns the moves of a prompt's label (every label
// when label is ""), newest first, at most limit (1-1000).
func (s *Store) PromptLabelHistory(ctx context.Context, promptID, label string, limit int) ([]PromptLabelMove, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, label, from_version, to_version, split_version, split_weight, actor, reason, ts
 FROM prompt_label_history WHERE prompt_id = $1 AND ($2 = '' OR label = $2) ORDER BY ts DESC, id DESC LIMIT $3`, promptID, label, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []PromptLabelMove{}
	for rows.Next() {
		var m PromptLabelMove
		var ts int64
		if err := rows.Scan(&m.ID, &m.Label, &m.From, &m.To, &m.SplitVersion, &m.SplitWeight, &m.Actor, &m.Reason, &ts); err != nil {
			return nil, err
		}
		m.Time = time.UnixMicro(ts).UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}

// StoredPrompts returns every prompt with its versions and labels, for
// compiling the snapshot.
func (s *Store) StoredPrompts(ctx context.Context) ([]StoredPrompt, error) {
	ps, err := s.ListPrompts(ctx, PromptFilter{})
	if err != nil {
		return nil, err
	}
	vs, ids, err := s.versionsWithPrompt(ctx, `ORDER BY prompt_id, version`)
	if err != nil {
		return nil, err
	}
	byID := map[string][]prompt.Version{}
	for i, v := range vs {
		byID[ids[i]] = append(byID[ids[i]], v)
	}
	out := make([]StoredPrompt, len(ps))
	for i, p := range ps {
		out[i] = StoredPrompt{Prompt: p, Versions: byID[p.ID]}
	}
	return out, nil
}

// SyncConfigPrompt makes the store hold a prompt the configuration file
// declares: the prompt is created (or taken over and updated: team,
// description, protected labels), missing versions are added, a version
// that exists must be the same (ErrImmutable otherwise, naming it), and a
// label the file sets is moved when the file's value differs from the one
// it set last time (so that a move through the API stays until the file
// changes that label). It reports whether anything changed; a change is
// audited as actor "config-file" and bumps the generation.
func (s *Store) SyncConfigPrompt(ctx context.Context, p Prompt, versions []prompt.Version, labels map[string]int) (bool, error) {
	changed := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		changed = false
		protected, err := json.Marshal(nonNil(p.Protected))
		if err != nil {
			return err
		}
		var id, org, team, descr, prot, source string
		err = tx.QueryRowContext(ctx, `SELECT id, org_id, team_id, description, protected, source FROM prompts WHERE name = $1`, p.Name).
			Scan(&id, &org, &team, &descr, &prot, &source)
		now := time.Now().UnixMicro()
		switch {
		case errors.Is(err, sql.ErrNoRows):
			id = NewID(PrefixPrompt)
			if _, err := tx.ExecContext(ctx, `INSERT INTO prompts (id, name, org_id, team_id, description, protected, source, created_at, updated_at)
 VALUES ($1, $2, $3, $4, $5, $6, 'config', $7, $7)`, id, p.Name, p.OrgID, p.TeamID, p.Description, string(protected), now); err != nil {
				return err
			}
			changed = true
		case err != nil:
			return err
		case org != p.OrgID || team != p.TeamID || descr != p.Description || prot != string(protected) || source != "config":
			if _, err := tx.ExecContext(ctx, `UPDATE prompts SET org_id = $1, team_id = $2, description = $3, protected = $4, source = 'config',
 updated_at = $5 WHERE id = $6`, p.OrgID, p.TeamID, p.Description, string(protected), now, id); err != nil {
				return err
			}
			changed = true
		}
		for _, v := range versions {
			var body, message, author string
			err := tx.QueryRowContext(ctx, `SELECT body, message, author FROM prompt_versions WHERE prompt_id = $1 AND version = $2`, id, v.Number).
				Scan(&body, &message, &author)
			if errors.Is(err, sql.ErrNoRows) {
				if err := insertVersion(ctx, tx, id, v); err != nil {
					return err
				}
				changed = true
				continue
			}
			if err != nil {
				return err
			}
			var b versionBody
			if err := json.Unmarshal([]byte(body), &b); err != nil {
				return err
			}
			old := prompt.Version{Number: v.Number, Model: b.Model, Messages: b.Messages, Params: b.Params, Variables: b.Variables, Output: b.Output}
			if d := prompt.Diff(old, v); d != "" {
				return fmt.Errorf("prompt %q version %d differs from the stored one; add a new version instead:\n%s: %w", p.Name, v.Number, d, ErrImmutable)
			}
		}
		for label, n := range labels {
			var declared int
			err := tx.QueryRowContext(ctx, `SELECT declared FROM prompt_labels WHERE prompt_id = $1 AND label = $2`, id, label).Scan(&declared)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if err == nil && declared == n {
				continue
			}
			after, _ := json.Marshal(map[string]any{"prompt": p.Name, "label": label, "version": n})
			if err := setLabel(ctx, tx, id, PromptLabel{Label: label, Version: n}, -1, "config-file", "declared in the configuration file", n,
				&AuditEntry{Actor: "config-file", Tenant: p.OrgID, Action: "prompt.label", ObjectType: "prompt", ObjectID: id, After: after}); err != nil {
				return err
			}
			changed = true
		}
		if changed {
			after, _ := json.Marshal(map[string]any{"name": p.Name, "versions": len(versions)})
			return auditAndBump(ctx, tx, &AuditEntry{Actor: "config-file", Tenant: p.OrgID, Action: "prompt.sync", ObjectType: "prompt", ObjectID: id, After: after})
		}
		return nil
	})
	return changed, err
}

// InsertPromptTestRun stores a test run (its ID and time filled in when
// empty).
func (s *Store) InsertPromptTestRun(ctx context.Context, r PromptTestRun) (PromptTestRun, error) {
	if r.ID == "" {
		r.ID = NewID("ptr_")
	}
	if r.Time.IsZero() {
		r.Time = time.Now().UTC().Truncate(time.Microsecond)
	}
	summary, err := rawJSON(r.Summary)
	if err != nil {
		return r, err
	}
	if summary == nil {
		summary = "{}"
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO prompt_test_runs (id, prompt_id, version, ts, actor, cases, passed, summary)
 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.ID, r.PromptID, r.Version, r.Time.UnixMicro(), r.Actor, r.Cases, r.Passed, summary)
	return r, err
}

// PromptTestRuns lists a prompt's test runs (of one version, unless
// version is 0), newest first, at most 100.
func (s *Store) PromptTestRuns(ctx context.Context, promptID string, version int) ([]PromptTestRun, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, prompt_id, version, ts, actor, cases, passed, summary FROM prompt_test_runs
 WHERE prompt_id = $1 AND (CAST($2 AS INTEGER) = 0 OR version = $2) ORDER BY ts DESC, id DESC LIMIT 100`, promptID, version)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []PromptTestRun{}
	for rows.Next() {
		var r PromptTestRun
		var ts int64
		var summary string
		if err := rows.Scan(&r.ID, &r.PromptID, &r.Version, &ts, &r.Actor, &r.Cases, &r.Passed, &summary); err != nil {
			return nil, err
		}
		r.Time, r.Summary = time.UnixMicro(ts).UTC(), json.RawMessage(summary)
		out = append(out, r)
	}
	return out, rows.Err()
}
