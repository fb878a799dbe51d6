package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrHasChildren is returned when a unit cannot be deleted because
// something still lives in it: an org's teams, a team's apps, or the keys
// of a unit that are not revoked.
var ErrHasChildren = errors.New("the object still has children")

// Unit kinds. An org holds teams, a team holds apps, and keys belong to any
// of the three (usually to an app).
const (
	KindOrg  = "org"
	KindTeam = "team"
	KindApp  = "app"
)

// Prefixes of the ids the store's objects carry; NewID makes one.
const (
	PrefixOrg     = "org_"
	PrefixTeam    = "team_"
	PrefixApp     = "app_"
	PrefixUser    = "usr_"
	PrefixBinding = "rb_"
	PrefixToken   = "tok_"
)

// NewID returns prefix followed by 16 random hex digits, the shape of
// every id the store and the admin API make (prv_..., key_..., org_...).
func NewID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// unitTables maps a unit kind to its table and id prefix. Table names in
// SQL come only from here, never from input.
var unitTables = map[string]struct{ table, prefix string }{
	KindOrg:  {"orgs", PrefixOrg},
	KindTeam: {"teams", PrefixTeam},
	KindApp:  {"apps", PrefixApp},
}

func unitTable(kind string) (string, error) {
	t, ok := unitTables[kind]
	if !ok {
		return "", fmt.Errorf("unknown unit kind %q", kind)
	}
	return t.table, nil
}

// Limits are a unit's limits, stored as JSON in the limits column. Zero
// values mean no limit.
type Limits struct {
	RPM           int64  `json:"rpm,omitempty"`
	TPM           int64  `json:"tpm,omitempty"`
	MaxConcurrent int64  `json:"max_concurrent,omitempty"`
	BudgetMicros  int64  `json:"budget_micros,omitempty"`
	BudgetPeriod  string `json:"budget_period,omitempty"`
	ReserveMicros int64  `json:"reserve_micros,omitempty"`
	AlertPercents []int  `json:"alert_percents,omitempty"`
}

// Unit is an org, a team or an app. OrgID is an org's own id; TeamID is a
// team's own id and empty for an org. Source is "api" (made through the
// admin API, the default) or "config" (declared in the config file).
type Unit struct {
	Kind        string    `json:"kind"`
	ID          string    `json:"id"`
	OrgID       string    `json:"org_id"`
	TeamID      string    `json:"team_id,omitempty"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Source      string    `json:"source"`
	Limits      Limits    `json:"limits"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Version starts at 1 and grows by one with each update: the ETag.
	Version int64 `json:"version"`
}

const unitColumns = `id, org_id, team_id, name, description, source, limits, created_at, updated_at, version`

// normalizeUnit checks u's kind and source and sets the ids a unit holds
// of itself.
func normalizeUnit(u *Unit, source string) (string, error) {
	table, err := unitTable(u.Kind)
	if err != nil {
		return "", err
	}
	if u.ID == "" || u.Name == "" {
		return "", errors.New("a unit needs an id and a name")
	}
	if source != "" {
		u.Source = source
	}
	switch u.Source {
	case "":
		u.Source = "api"
	case "api", "config":
	default:
		return "", fmt.Errorf("unknown unit source %q", u.Source)
	}
	switch u.Kind {
	case KindOrg:
		u.OrgID, u.TeamID = u.ID, ""
	case KindTeam:
		u.TeamID = u.ID
		if u.OrgID == "" {
			return "", errors.New("a team needs its org id")
		}
	case KindApp:
		if u.TeamID == "" {
			return "", errors.New("an app needs its team id")
		}
	}
	return table, nil
}

// lockParents checks that the innermost unit named exists (and lies inside
// the outer ones given), locks its row until the transaction ends, and
// returns its org and team ids. The lock orders a child's creation against
// the parent's deletion on PostgreSQL: DeleteUnit deletes the row first and
// counts children after, so one of the two waits for the other and sees its
// result. SQLite has one writer and needs no lock. All empty is no unit.
func lockParents(ctx context.Context, tx *sql.Tx, orgID, teamID, appID string) (string, string, error) {
	var table, id, kind string
	switch {
	case appID != "":
		table, id, kind = "apps", appID, KindApp
	case teamID != "":
		table, id, kind = "teams", teamID, KindTeam
	case orgID != "":
		table, id, kind = "orgs", orgID, KindOrg
	default:
		return "", "", nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE `+table+` SET version = version WHERE id = $1`, id)
	if err != nil {
		return "", "", err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return "", "", errors.Join(fmt.Errorf("%w: %s %s", ErrNotFound, kind, id), err)
	}
	var org, team string
	if err := tx.QueryRowContext(ctx, `SELECT org_id, team_id FROM `+table+` WHERE id = $1`, id).Scan(&org, &team); err != nil {
		return "", "", err
	}
	if (orgID != "" && orgID != org) || (teamID != "" && teamID != team) {
		return "", "", fmt.Errorf("%w: %s %s is not in the org or team given", ErrNotFound, kind, id)
	}
	return org, team, nil
}

// missIn explains a conditional write on table that changed no row:
// ErrNotFound when the row id is gone, ErrVersionMismatch otherwise.
func missIn(ctx context.Context, tx *sql.Tx, res sql.Result, table, id string) error {
	changed, err := changedOrExists(ctx, tx, res, table, id)
	if err != nil || changed {
		return err
	}
	return ErrVersionMismatch
}

// changedOrExists reports whether a write on table changed a row, and when
// it did not, returns ErrNotFound if the row id does not exist.
func changedOrExists(ctx context.Context, tx *sql.Tx, res sql.Result, table, id string) (bool, error) {
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err == nil, err
	}
	col := "id"
	if table == "sessions" {
		col = "hash"
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE `+col+` = $1`, id).Scan(&n); err != nil {
		return false, err
	}
	if n == 0 {
		return false, ErrNotFound
	}
	return false, nil
}

// versionClause is the condition of a conditional write: any version
// when ifVersion is 0.
func versionClause(n int) string {
	return fmt.Sprintf(`(CAST($%d AS BIGINT) = 0 OR version = $%d)`, n, n)
}

// CreateUnit stores a new unit (its Version is set to 1), stores the audit
// entry and bumps the generation, in one transaction. u.ID must be set
// (NewID(PrefixOrg) and so on). A team needs OrgID; an app needs TeamID
// (its OrgID is filled in from the team). A parent that does not exist is
// an error wrapping ErrNotFound; a name taken in the parent is ErrConflict.
func (s *Store) CreateUnit(ctx context.Context, u Unit, audit AuditEntry) error {
	table, err := normalizeUnit(&u, "")
	if err != nil {
		return err
	}
	limits, err := json.Marshal(u.Limits)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if u.Kind != KindOrg {
			parentTeam := ""
			if u.Kind == KindApp {
				parentTeam = u.TeamID
			}
			if u.OrgID, _, err = lockParents(ctx, tx, u.OrgID, parentTeam, ""); err != nil {
				return err
			}
		}
		if err := insertUnit(ctx, tx, table, u, string(limits)); err != nil {
			return err
		}
		return auditAndBump(ctx, tx, &audit)
	})
}

func insertUnit(ctx context.Context, tx *sql.Tx, table string, u Unit, limits string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (`+unitColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,1)`,
		u.ID, u.OrgID, u.TeamID, u.Name, u.Description, u.Source, limits, u.CreatedAt.UnixMicro(), u.UpdatedAt.UnixMicro())
	if err != nil && isUniqueViolation(err) {
		return ErrConflict
	}
	return err
}

// GetUnit returns the unit of kind with id, or ErrNotFound.
func (s *Store) GetUnit(ctx context.Context, kind, id string) (Unit, error) {
	table, err := unitTable(kind)
	if err != nil {
		return Unit{}, err
	}
	scan := func(rows *sql.Rows) ([]Unit, error) { return scanUnits(kind, rows) }
	return first(ctx, s.r, scan, `SELECT `+unitColumns+` FROM `+table+` WHERE id = $1`, id)
}

// UnitFilter selects units by their org and team; "" matches any.
type UnitFilter struct {
	OrgID, TeamID string
}

// ListUnits returns the units of kind that f selects, ordered by org id,
// team id and name.
func (s *Store) ListUnits(ctx context.Context, kind string, f UnitFilter) ([]Unit, error) {
	table, err := unitTable(kind)
	if err != nil {
		return nil, err
	}
	q, args := `SELECT `+unitColumns+` FROM `+table, []any{}
	var where []string
	for _, c := range []struct{ col, v string }{{"org_id", f.OrgID}, {"team_id", f.TeamID}} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY org_id, team_id, name`, args...)
	if err != nil {
		return nil, err
	}
	return scanUnits(kind, rows)
}

func scanUnits(kind string, rows *sql.Rows) ([]Unit, error) {
	defer rows.Close()
	out := []Unit{}
	for rows.Next() {
		u := Unit{Kind: kind}
		var limits string
		var created, updated int64
		if err := rows.Scan(&u.ID, &u.OrgID, &u.TeamID, &u.Name, &u.Description, &u.Source, &limits,
			&created, &updated, &u.Version); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(limits), &u.Limits); err != nil {
			return nil, fmt.Errorf("%s %s limits: %w", kind, u.ID, err)
		}
		u.CreatedAt, u.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
		out = append(out, u)
	}
	return out, rows.Err()
}

// UpdateUnit replaces the unit u.ID's name, description, limits and
// updated_at if its version is still ifVersion (any version when ifVersion
// is 0), sets version+1, stores the audit entry and bumps the generation,
// in one transaction. The unit's kind, parents and source do not change.
// It returns ErrNotFound, ErrVersionMismatch, or ErrConflict for a name
// taken in the parent.
func (s *Store) UpdateUnit(ctx context.Context, u Unit, ifVersion int64, audit AuditEntry) error {
	table, err := unitTable(u.Kind)
	if err != nil {
		return err
	}
	limits, err := json.Marshal(u.Limits)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE `+table+` SET name = $1, description = $2, limits = $3, updated_at = $4,
 version = version + 1 WHERE id = $5 AND `+versionClause(6),
			u.Name, u.Description, string(limits), u.UpdatedAt.UnixMicro(), u.ID, ifVersion)
		if err != nil {
			if isUniqueViolation(err) {
				return ErrConflict
			}
			return err
		}
		if err := missIn(ctx, tx, res, table, u.ID); err != nil {
			return err
		}
		return auditAndBump(ctx, tx, &audit)
	})
}

// DeleteUnit deletes the unit of kind with id if its version is still
// ifVersion (any version when ifVersion is 0), with its role bindings,
// stores the audit entry and bumps the generation, in one transaction. It
// refuses with ErrHasChildren while an org has teams, a team has apps, or
// the unit has keys that are not revoked; and returns ErrNotFound or
// ErrVersionMismatch.
func (s *Store) DeleteUnit(ctx context.Context, kind, id string, ifVersion int64, audit AuditEntry) error {
	table, err := unitTable(kind)
	if err != nil {
		return err
	}
	// Children are counted after the delete, whose row lock orders it
	// against a concurrent CreateUnit or CreateKey (see lockParents).
	var children []string
	switch kind {
	case KindOrg:
		children = []string{`SELECT count(*) FROM teams WHERE org_id = $1`,
			`SELECT count(*) FROM api_keys WHERE org_id = $1 AND revoked_at IS NULL`}
	case KindTeam:
		children = []string{`SELECT count(*) FROM apps WHERE team_id = $1`,
			`SELECT count(*) FROM api_keys WHERE team_id = $1 AND revoked_at IS NULL`}
	case KindApp:
		children = []string{`SELECT count(*) FROM api_keys WHERE app_id = $1 AND revoked_at IS NULL`}
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE id = $1 AND `+versionClause(2), id, ifVersion)
		if err != nil {
			return err
		}
		if err := missIn(ctx, tx, res, table, id); err != nil {
			return err
		}
		for _, q := range children {
			var n int
			if err := tx.QueryRowContext(ctx, q, id).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return ErrHasChildren
			}
		}
		col := map[string]string{KindOrg: "org_id", KindTeam: "team_id"}[kind]
		if col != "" {
			if _, err := tx.ExecContext(ctx, `DELETE FROM role_bindings WHERE `+col+` = $1`, id); err != nil {
				return err
			}
		}
		return auditAndBump(ctx, tx, &audit)
	})
}

// UpsertConfigUnit creates or updates a unit declared in the config file
// and returns its id. The unit is matched by kind, parent and name (an
// org by name, a team by org and name, an app by team and name), so its id
// is stable across restarts and reloads; a new unit takes u.ID, or a new
// id when u.ID is empty. An existing unit, made through the API or not,
// takes the config's description and limits and becomes source "config";
// its version grows only when something changed. Writes no audit row; a
// change bumps the generation. Two servers upserting at once agree on one id.
func (s *Store) UpsertConfigUnit(ctx context.Context, u Unit) (string, error) {
	if u.ID == "" {
		if t, ok := unitTables[u.Kind]; ok {
			u.ID = NewID(t.prefix)
		}
	}
	table, err := normalizeUnit(&u, "config")
	if err != nil {
		return "", err
	}
	limits, err := json.Marshal(u.Limits)
	if err != nil {
		return "", err
	}
	now := time.Now()
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = now
	}
	var id string
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if u.Kind != KindOrg {
			parentTeam := ""
			if u.Kind == KindApp {
				parentTeam = u.TeamID
			}
			if u.OrgID, _, err = lockParents(ctx, tx, u.OrgID, parentTeam, ""); err != nil {
				return err
			}
		}
		match, args := `name = $1`, []any{u.Name}
		switch u.Kind {
		case KindTeam:
			match, args = `org_id = $1 AND name = $2`, []any{u.OrgID, u.Name}
		case KindApp:
			match, args = `team_id = $1 AND name = $2`, []any{u.TeamID, u.Name}
		}
		find := func() (Unit, bool, error) {
			rows, err := tx.QueryContext(ctx, `SELECT `+unitColumns+` FROM `+table+` WHERE `+match, args...)
			if err != nil {
				return Unit{}, false, err
			}
			us, err := scanUnits(u.Kind, rows)
			if err != nil || len(us) == 0 {
				return Unit{}, false, err
			}
			return us[0], true, nil
		}
		old, found, err := find()
		if err != nil {
			return err
		}
		if !found {
			// Another server may insert the same unit first: then this
			// insert does nothing and the second look finds its row.
			u.Version = 1
			if u.Kind == KindOrg {
				u.OrgID = u.ID
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (`+unitColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,1)
 ON CONFLICT DO NOTHING`, u.ID, u.OrgID, u.TeamID, u.Name, u.Description, u.Source, string(limits),
				u.CreatedAt.UnixMicro(), u.UpdatedAt.UnixMicro()); err != nil {
				return err
			}
			if old, found, err = find(); err != nil {
				return err
			} else if !found {
				return fmt.Errorf("config %s %q: %w (id %s)", u.Kind, u.Name, ErrConflict, u.ID)
			}
			id = old.ID
			return bumpGeneration(ctx, tx)
		}
		id = old.ID
		oldLimits, err := json.Marshal(old.Limits)
		if err != nil {
			return err
		}
		if old.Description == u.Description && old.Source == u.Source && string(oldLimits) == string(limits) {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET description = $1, source = $2, limits = $3, updated_at = $4,
 version = version + 1 WHERE id = $5`, u.Description, u.Source, string(limits), u.UpdatedAt.UnixMicro(), old.ID); err != nil {
			return err
		}
		return bumpGeneration(ctx, tx)
	})
	return id, err
}

// User is a person who signs in to the admin API or UI. Email is stored
// lower-cased. PasswordHash is "" for a user without a local password;
// OIDCIssuer and OIDCSubject are both "" for a user not linked to OIDC.
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	PasswordHash string    `json:"-"`
	OIDCIssuer   string    `json:"oidc_issuer,omitempty"`
	OIDCSubject  string    `json:"oidc_subject,omitempty"`
	Disabled     bool      `json:"disabled"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// Version starts at 1 and grows by one with each update: the ETag.
	Version int64 `json:"version"`
}

const userColumns = `id, email, name, password_hash, oidc_issuer, oidc_subject, disabled, created_at, updated_at, version`

func normalizeUser(u *User) error {
	u.Email = strings.ToLower(strings.TrimSpace(u.Email))
	if u.ID == "" || u.Email == "" {
		return errors.New("a user needs an id and an email")
	}
	if (u.OIDCIssuer == "") != (u.OIDCSubject == "") {
		return errors.New("a user's OIDC issuer and subject are set together")
	}
	return nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CreateUser stores a new user (Version 1) and the audit entry, in one
// transaction. A taken email or OIDC identity is ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u User, audit AuditEntry) error {
	if err := normalizeUser(&u); err != nil {
		return err
	}
	return s.execAudited(ctx, audit, `INSERT INTO users (`+userColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,1)`,
		u.ID, u.Email, u.Name, u.PasswordHash, nullString(u.OIDCIssuer), nullString(u.OIDCSubject), b2i(u.Disabled),
		u.CreatedAt.UnixMicro(), u.UpdatedAt.UnixMicro())
}

// GetUser returns the user with id, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (User, error) {
	return s.oneUser(ctx, `id = $1`, id)
}

// UserByEmail returns the user with email (compared lower-cased), or ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	return s.oneUser(ctx, `email = $1`, strings.ToLower(strings.TrimSpace(email)))
}

// UserByOIDC returns the user linked to the OIDC identity, or ErrNotFound.
func (s *Store) UserByOIDC(ctx context.Context, issuer, subject string) (User, error) {
	if issuer == "" || subject == "" {
		return User{}, ErrNotFound
	}
	return s.oneUser(ctx, `oidc_issuer = $1 AND oidc_subject = $2`, issuer, subject)
}

func (s *Store) oneUser(ctx context.Context, where string, args ...any) (User, error) {
	return first(ctx, s.r, scanUsers, `SELECT `+userColumns+` FROM users WHERE `+where, args...)
}

// ListUsers returns every user, by email.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY email`)
	if err != nil {
		return nil, err
	}
	return scanUsers(rows)
}

func scanUsers(rows *sql.Rows) ([]User, error) {
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		var u User
		var issuer, subject sql.NullString
		var disabled int
		var created, updated int64
		if err := rows.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &issuer, &subject, &disabled,
			&created, &updated, &u.Version); err != nil {
			return nil, err
		}
		u.OIDCIssuer, u.OIDCSubject, u.Disabled = issuer.String, subject.String, disabled != 0
		u.CreatedAt, u.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
		out = append(out, u)
	}
	return out, rows.Err()
}

// UpdateUser replaces the user u.ID's email, name, password hash, disabled
// flag, OIDC identity and updated_at if its version is still ifVersion (any
// version when ifVersion is 0), sets version+1 and stores the audit entry,
// in one transaction. It returns ErrNotFound, ErrVersionMismatch, or
// ErrConflict for a taken email or OIDC identity.
func (s *Store) UpdateUser(ctx context.Context, u User, ifVersion int64, audit AuditEntry) error {
	if err := normalizeUser(&u); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET email = $1, name = $2, password_hash = $3, oidc_issuer = $4,
 oidc_subject = $5, disabled = $6, updated_at = $7, version = version + 1 WHERE id = $8 AND `+versionClause(9),
			u.Email, u.Name, u.PasswordHash, nullString(u.OIDCIssuer), nullString(u.OIDCSubject), b2i(u.Disabled),
			u.UpdatedAt.UnixMicro(), u.ID, ifVersion)
		if err != nil {
			if isUniqueViolation(err) {
				return ErrConflict
			}
			return err
		}
		if err := missIn(ctx, tx, res, "users", u.ID); err != nil {
			return err
		}
		return insertAudit(ctx, tx, audit)
	})
}

// Binding gives a user a role over an org (TeamID "") or one of its teams.
// Source is "api" (made by an admin, the default) or "oidc" (mapped from
// the identity provider's claims at login, see ReplaceOIDCBindings).
type Binding struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	Role      string    `json:"role"`
	OrgID     string    `json:"org_id"`
	TeamID    string    `json:"team_id,omitempty"`
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
}

const bindingColumns = `id, user_id, role, org_id, team_id, source, created_at`

func insertBinding(ctx context.Context, tx *sql.Tx, b Binding, onConflict string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO role_bindings (`+bindingColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7)`+onConflict,
		b.ID, b.UserID, b.Role, b.OrgID, b.TeamID, b.Source, b.CreatedAt.UnixMicro())
	if err != nil && isUniqueViolation(err) {
		return ErrConflict
	}
	return err
}

// AddBinding stores a role binding (source "api" unless set) and the audit
// entry, in one transaction. An identical binding (user, role, org, team)
// is ErrConflict.
func (s *Store) AddBinding(ctx context.Context, b Binding, audit AuditEntry) error {
	if b.ID == "" || b.UserID == "" || b.Role == "" {
		return errors.New("a binding needs an id, a user and a role")
	}
	if b.Source == "" {
		b.Source = "api"
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := insertBinding(ctx, tx, b, ""); err != nil {
			return err
		}
		return insertAudit(ctx, tx, audit)
	})
}

// RemoveBinding deletes the binding id and stores the audit entry, in one
// transaction; ErrNotFound if there is none.
func (s *Store) RemoveBinding(ctx context.Context, id string, audit AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM role_bindings WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(ErrNotFound, err)
		}
		return insertAudit(ctx, tx, audit)
	})
}

// Bindings returns the user's bindings, by org, team and role.
func (s *Store) Bindings(ctx context.Context, userID string) ([]Binding, error) {
	return s.bindings(ctx, `WHERE user_id = $1 ORDER BY org_id, team_id, role`, userID)
}

// ListBindings returns the bindings over org orgID ("" = all), by user,
// org, team and role.
func (s *Store) ListBindings(ctx context.Context, orgID string) ([]Binding, error) {
	if orgID == "" {
		return s.bindings(ctx, `ORDER BY user_id, org_id, team_id, role`)
	}
	return s.bindings(ctx, `WHERE org_id = $1 ORDER BY user_id, org_id, team_id, role`, orgID)
}

func (s *Store) bindings(ctx context.Context, rest string, args ...any) ([]Binding, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+bindingColumns+` FROM role_bindings `+rest, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Binding{}
	for rows.Next() {
		var b Binding
		var created int64
		if err := rows.Scan(&b.ID, &b.UserID, &b.Role, &b.OrgID, &b.TeamID, &b.Source, &created); err != nil {
			return nil, err
		}
		b.CreatedAt = time.UnixMicro(created).UTC()
		out = append(out, b)
	}
	return out, rows.Err()
}

// ReplaceOIDCBindings replaces the user's bindings of source "oidc" by bs,
// in one transaction: the login-time role mapping. Bindings of source
// "api" are left alone; a binding of bs identical to one of them, or to
// another of bs, is skipped. Each of bs is stored with source "oidc", the
// user userID, a new id when it has none and the current time when it has
// no CreatedAt. No audit row: the identity provider made the change.
func (s *Store) ReplaceOIDCBindings(ctx context.Context, userID string, bs []Binding) error {
	now := time.Now()
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM role_bindings WHERE user_id = $1 AND source = 'oidc'`, userID); err != nil {
			return err
		}
		for _, b := range bs {
			if b.Role == "" {
				return errors.New("an OIDC binding needs a role")
			}
			b.UserID, b.Source = userID, "oidc"
			if b.ID == "" {
				b.ID = NewID(PrefixBinding)
			}
			if b.CreatedAt.IsZero() {
				b.CreatedAt = now
			}
			if err := insertBinding(ctx, tx, b, ` ON CONFLICT (user_id, role, org_id, team_id) DO NOTHING`); err != nil {
				return err
			}
		}
		return nil
	})
}

// AdminToken is a user's token for the admin API, stored only as the hex
// SHA-256 of the token and a short display prefix.
type AdminToken struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	Name       string     `json:"name"`
	Hash       string     `json:"-"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

const tokenColumns = `id, user_id, name, hash, prefix, created_at, expires_at, revoked_at, last_used_at`

// CreateAdminToken stores a new admin token and the audit entry, in one
// transaction. A taken id or hash is ErrConflict.
func (s *Store) CreateAdminToken(ctx context.Context, t AdminToken, audit AuditEntry) error {
	if t.ID == "" || t.UserID == "" || t.Hash == "" {
		return errors.New("an admin token needs an id, a user and a hash")
	}
	return s.execAudited(ctx, audit, `INSERT INTO admin_tokens (`+tokenColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
		t.ID, t.UserID, t.Name, t.Hash, t.Prefix, t.CreatedAt.UnixMicro(), micros(t.ExpiresAt), micros(t.RevokedAt),
		micros(t.LastUsedAt))
}

// AdminTokenByHash returns the token with hash, whatever its state (the
// caller checks RevokedAt and ExpiresAt), or ErrNotFound.
func (s *Store) AdminTokenByHash(ctx context.Context, hash string) (AdminToken, error) {
	ts, err := s.tokens(ctx, `WHERE hash = $1`, hash)
	if err != nil {
		return AdminToken{}, err
	}
	if len(ts) == 0 {
		return AdminToken{}, ErrNotFound
	}
	return ts[0], nil
}

// ListAdminTokens returns the user's tokens ("" = everyone's), revoked and
// expired ones included, oldest first.
func (s *Store) ListAdminTokens(ctx context.Context, userID string) ([]AdminToken, error) {
	if userID == "" {
		return s.tokens(ctx, `ORDER BY created_at, id`)
	}
	return s.tokens(ctx, `WHERE user_id = $1 ORDER BY created_at, id`, userID)
}

func (s *Store) tokens(ctx context.Context, rest string, args ...any) ([]AdminToken, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM admin_tokens `+rest, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AdminToken{}
	for rows.Next() {
		var t AdminToken
		var created int64
		var expires, revoked, used sql.NullInt64
		if err := rows.Scan(&t.ID, &t.UserID, &t.Name, &t.Hash, &t.Prefix, &created, &expires, &revoked, &used); err != nil {
			return nil, err
		}
		t.CreatedAt = time.UnixMicro(created).UTC()
		t.ExpiresAt, t.RevokedAt, t.LastUsedAt = fromMicros(expires), fromMicros(revoked), fromMicros(used)
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeAdminToken marks the token id revoked at at and stores the audit
// entry, in one transaction. Revoking a revoked token changes and records
// nothing. An unknown id is ErrNotFound.
func (s *Store) RevokeAdminToken(ctx context.Context, id string, at time.Time, audit AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE admin_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, at.UnixMicro(), id)
		if err != nil {
			return err
		}
		changed, err := changedOrExists(ctx, tx, res, "admin_tokens", id)
		if err != nil || !changed {
			return err
		}
		return insertAudit(ctx, tx, audit)
	})
}

// TouchAdminToken records that the token id was used at at; ErrNotFound
// if there is no such token. Callers should throttle it: it is a write.
func (s *Store) TouchAdminToken(ctx context.Context, id string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE admin_tokens SET last_used_at = $1 WHERE id = $2`, at.UnixMicro(), id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(ErrNotFound, err)
	}
	return nil
}

// Session is a signed-in browser session, stored by the hex SHA-256 of the
// cookie value, with the hex SHA-256 of its CSRF token.
type Session struct {
	Hash      string    `json:"-"`
	UserID    string    `json:"user_id"`
	CSRFHash  string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CreateSession stores a session; a taken hash is ErrConflict.
func (s *Store) CreateSession(ctx context.Context, se Session) error {
	if se.Hash == "" || se.UserID == "" {
		return errors.New("a session needs a hash and a user")
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO sessions (hash, user_id, csrf_hash, created_at, expires_at) VALUES ($1,$2,$3,$4,$5)`,
		se.Hash, se.UserID, se.CSRFHash, se.CreatedAt.UnixMicro(), se.ExpiresAt.UnixMicro())
	if err != nil && isUniqueViolation(err) {
		return ErrConflict
	}
	return err
}

// SessionByHash returns the session with hash, expired or not (the caller
// checks ExpiresAt), or ErrNotFound.
func (s *Store) SessionByHash(ctx context.Context, hash string) (Session, error) {
	var se Session
	var created, expires int64
	err := s.r.QueryRowContext(ctx, `SELECT hash, user_id, csrf_hash, created_at, expires_at FROM sessions WHERE hash = $1`, hash).
		Scan(&se.Hash, &se.UserID, &se.CSRFHash, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	se.CreatedAt, se.ExpiresAt = time.UnixMicro(created).UTC(), time.UnixMicro(expires).UTC()
	return se, err
}

// DeleteSession deletes the session with hash; ErrNotFound if there is none.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE hash = $1`, hash)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(ErrNotFound, err)
	}
	return nil
}

// DeleteExpiredSessions deletes the sessions that expired at or before now
// and returns how many.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, now.UnixMicro())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// BudgetAlert records that a subject (a key, app, team or org, named by
// the caller, e.g. "app:app_123") crossed percent of its budget in the
// period that started at PeriodStart.
type BudgetAlert struct {
	Subject      string    `json:"subject"`
	PeriodStart  time.Time `json:"period_start"`
	Percent      int       `json:"percent"`
	SpentMicros  int64     `json:"spent_micros"`
	BudgetMicros int64     `json:"budget_micros"`
	Time         time.Time `json:"ts"`
}

// RecordBudgetAlert stores the alert for (subject, periodStart, percent)
// and reports true only to the first caller, on any server: the alert
// fires exactly once.
func (s *Store) RecordBudgetAlert(ctx context.Context, subject string, periodStart time.Time, percent int, spent, budget int64, at time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `INSERT INTO budget_alerts (subject, period_start, percent, spent_micros, budget_micros, ts)
 VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (subject, period_start, percent) DO NOTHING`,
		subject, periodStart.UnixMicro(), percent, spent, budget, at.UnixMicro())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ListBudgetAlerts returns at most limit alerts (100 when limit <= 0) of
// the subjects (nil = all), newest first.
func (s *Store) ListBudgetAlerts(ctx context.Context, subjects []string, limit int) ([]BudgetAlert, error) {
	if limit <= 0 {
		limit = 100
	}
	q, args := `SELECT subject, period_start, percent, spent_micros, budget_micros, ts FROM budget_alerts`, []any{}
	if subjects != nil {
		if len(subjects) == 0 {
			return []BudgetAlert{}, nil
		}
		ps := make([]string, len(subjects))
		for i, sub := range subjects {
			args = append(args, sub)
			ps[i] = "$" + strconv.Itoa(len(args))
		}
		q += ` WHERE subject IN (` + strings.Join(ps, ",") + `)`
	}
	args = append(args, limit)
	q += fmt.Sprintf(` ORDER BY ts DESC, subject, percent LIMIT $%d`, len(args))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanBudgetAlerts(rows)
}

// spendColumns are the ledger columns that spend and usage may be
// selected or grouped by. SQL names columns only from here.
var spendColumns = map[string]bool{"key_id": true, "app_id": true, "team_id": true, "org_id": true, "model": true,
	"subscription_id": true} // a product plan's budget is per subscription

// SpendSinceBy returns the cost, in micro-dollars, of the ledger entries
// whose column ("key_id", "app_id", "team_id" or "org_id") is id, from
// since onwards.
func (s *Store) SpendSinceBy(ctx context.Context, column, id string, since time.Time) (int64, error) {
	if !spendColumns[column] {
		return 0, fmt.Errorf("spend by %q: not a spend column", column)
	}
	// A team's or application's rows are found through the (org_id,
	// team_id, app_id, ts) index: name the parents too.
	where, args := column+` = $1 AND ts >= $2`, []any{id, since.UnixMicro()}
	if column == "team_id" || column == "app_id" {
		kind := map[string]string{"team_id": KindTeam, "app_id": KindApp}[column]
		if u, err := s.GetUnit(ctx, kind, id); err == nil {
			where, args = `org_id = $1 AND team_id = $2 AND `+column+` = $3 AND ts >= $4`, []any{u.OrgID, u.TeamID, id, since.UnixMicro()}
		}
	}
	if column == "subscription_id" {
		where += ` AND subscription_id <> ''` // the index holds only the rows with a subscription
	}
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) FROM requests WHERE `+where, args...).Scan(&n)
	return n, err
}

// UsageFilter selects ledger entries for a usage summary: From (inclusive)
// and To (exclusive; zero = no end), the units and key ("" = any), and the
// column to group by: "key_id", "app_id", "team_id", "org_id", "model", or
// "" for one total row.
type UsageFilter struct {
	From, To                    time.Time
	OrgID, TeamID, AppID, KeyID string
	GroupBy                     string
}

// UsageRow is the usage of one group.
type UsageRow struct {
	Group        string `json:"group"`
	Requests     int64  `json:"requests"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
	CostMicros   int64  `json:"cost_micros"`
}

// Usage sums requests, tokens and cost of the entries f selects, one row
// per group ordered by group; groups without entries are absent.
func (s *Store) Usage(ctx context.Context, f UsageFilter) ([]UsageRow, error) {
	group := `CAST('' AS TEXT)`
	if f.GroupBy != "" {
		if !spendColumns[f.GroupBy] && f.GroupBy != "model" {
			return nil, fmt.Errorf("usage grouped by %q: not a group column", f.GroupBy)
		}
		group = f.GroupBy
	}
	args := []any{f.From.UnixMicro()}
	where := []string{`ts >= $1`}
	if !f.To.IsZero() {
		args = append(args, f.To.UnixMicro())
		where = append(where, fmt.Sprintf(`ts < $%d`, len(args)))
	}
	for _, c := range []struct{ col, v string }{{"org_id", f.OrgID}, {"team_id", f.TeamID}, {"app_id", f.AppID}, {"key_id", f.KeyID}} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	q := `SELECT ` + group + `, count(*), CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT),
 CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) FROM requests WHERE ` + strings.Join(where, " AND ")
	if f.GroupBy != "" {
		q += ` GROUP BY ` + group + ` ORDER BY ` + group
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []UsageRow{}
	for rows.Next() {
		var r UsageRow
		if err := rows.Scan(&r.Group, &r.Requests, &r.InputTokens, &r.OutputTokens, &r.CostMicros); err != nil {
			return nil, err
		}
		if r.Requests > 0 {
			out = append(out, r)
		}
	}
	return out, rows.Err()
}

// generationSetting names the settings row that counts key and unit changes.
const generationSetting = "generation"

// Generation returns the change counter that every server polls to notice
// key and unit changes made on any server: it grows with each change, in
// the change's transaction. 0 before the first change.
func (s *Store) Generation(ctx context.Context) (int64, error) {
	v, err := s.Setting(ctx, generationSetting)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

// BumpGeneration increments the generation, for a change made outside
// the store (the store bumps it itself for its key and unit writes).
func (s *Store) BumpGeneration(ctx context.Context) error {
	return bumpGeneration(ctx, s.w)
}

func bumpGeneration(ctx context.Context, ex execer) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES ($1, '1')
 ON CONFLICT (name) DO UPDATE SET value = CAST(CAST(settings.value AS BIGINT) + 1 AS TEXT)`, generationSetting)
	return err
}
