package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/product"
)

// Prefixes of the product objects' ids.
const (
	PrefixProduct      = "prd_"
	PrefixVersion      = "ver_"
	PrefixPlan         = "pln_"
	PrefixSubscription = "sub_"
)

// ProductRecord is a stored product: the product's fields (its Team is
// not stored: OrgID and TeamID place it) and the record's own.
type ProductRecord struct {
	product.Product
	ID        string    `json:"id"`
	OrgID     string    `json:"org_id"`
	TeamID    string    `json:"team_id"`
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Rev starts at 1 and grows by one with each update: the ETag.
	Rev int64 `json:"rev"`
}

// VersionRecord is a stored product version. RequestedBy is who asked to
// publish it when its product needs a second person ("" otherwise).
type VersionRecord struct {
	product.Version
	ID          string    `json:"id"`
	ProductID   string    `json:"product_id"`
	Source      string    `json:"source"`
	RequestedBy string    `json:"requested_by,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Rev         int64     `json:"rev"`
}

// PlanRecord is a stored plan.
type PlanRecord struct {
	product.Plan
	ID        string    `json:"id"`
	ProductID string    `json:"product_id"`
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Rev       int64     `json:"rev"`
}

// SubscriptionRecord is a stored subscription; OrgID and TeamID are the
// subscribing application's.
type SubscriptionRecord struct {
	product.Subscription
	OrgID       string     `json:"org_id"`
	TeamID      string     `json:"team_id"`
	RequestedBy string     `json:"requested_by,omitempty"`
	DecidedBy   string     `json:"decided_by,omitempty"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	Rev         int64      `json:"rev"`
}

// Stop is an emergency stop: requests to a product version (Kind
// "version", Name "product/version") or a model (Kind "model") are refused.
type Stop struct {
	Kind      string    `json:"kind"`
	Name      string    `json:"name"`
	Reason    string    `json:"reason"`
	Actor     string    `json:"actor"`
	CreatedAt time.Time `json:"created_at"`
}

// productSpec is what the products table's spec column holds.
type productSpec struct {
	Title           string             `json:"title,omitempty"`
	Description     string             `json:"description,omitempty"`
	Tags            []string           `json:"tags,omitempty"`
	Visibility      product.Visibility `json:"visibility"`
	PublishApproval bool               `json:"publish_approval,omitempty"`
}

func specOf(p product.Product) (string, error) {
	b, err := json.Marshal(productSpec{Title: p.Title, Description: p.Description, Tags: p.Tags, Visibility: p.Visibility,
		PublishApproval: p.PublishApproval})
	return string(b), err
}

// versionSpec is what product_versions.spec holds: the version less its
// name and state, which are columns.
func versionSpec(v product.Version) (string, error) {
	v.Version, v.State = "", ""
	b, err := json.Marshal(v)
	return string(b), err
}

func planSpec(p product.Plan) (string, error) {
	p.Name = ""
	b, err := json.Marshal(p)
	return string(b), err
}

const productColumns = `id, name, org_id, team_id, spec, source, created_at, updated_at, rev`

func scanProducts(rows *sql.Rows) ([]ProductRecord, error) {
	defer rows.Close()
	out := []ProductRecord{}
	for rows.Next() {
		var p ProductRecord
		var spec string
		var created, updated int64
		if err := rows.Scan(&p.ID, &p.Name, &p.OrgID, &p.TeamID, &spec, &p.Source, &created, &updated, &p.Rev); err != nil {
			return nil, err
		}
		var ps productSpec
		if err := json.Unmarshal([]byte(spec), &ps); err != nil {
			return nil, fmt.Errorf("product %s: %w", p.ID, err)
		}
		p.Title, p.Description, p.Tags, p.Visibility, p.PublishApproval = ps.Title, ps.Description, ps.Tags, ps.Visibility, ps.PublishApproval
		p.CreatedAt, p.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// GetProduct returns the product with id or name, or ErrNotFound.
func (s *Store) GetProduct(ctx context.Context, idOrName string) (ProductRecord, error) {
	return first(ctx, s.r, scanProducts, `SELECT `+productColumns+` FROM products WHERE id = $1 OR name = $1`, idOrName)
}

// ListProductsAfter returns at most limit products whose name sorts
// after after ("" from the first), by name: a page of the keyset-paginated
// list.
func (s *Store) ListProductsAfter(ctx context.Context, after string, limit int) ([]ProductRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+productColumns+` FROM products WHERE name > $1 ORDER BY name LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	return scanProducts(rows)
}

// ListProducts returns every product, by name.
func (s *Store) ListProducts(ctx context.Context) ([]ProductRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+productColumns+` FROM products ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return scanProducts(rows)
}

// CreateProduct stores a new product (Rev 1) in the team p.TeamID, with
// the audit entry, and bumps the generation. A taken name is ErrConflict;
// a missing team wraps ErrNotFound.
func (s *Store) CreateProduct(ctx context.Context, p ProductRecord, audit AuditEntry) error {
	if p.ID == "" || p.Name == "" || p.TeamID == "" {
		return errors.New("a product needs an id, a name and a team")
	}
	spec, err := specOf(p.Product)
	if err != nil {
		return err
	}
	if p.Source == "" {
		p.Source = "api"
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if p.OrgID, _, err = lockParents(ctx, tx, "", p.TeamID, ""); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO products (`+productColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,1)`,
			p.ID, p.Name, p.OrgID, p.TeamID, spec, p.Source, p.CreatedAt.UnixMicro(), p.UpdatedAt.UnixMicro()); err != nil {
			if isUniqueViolation(err) {
				return ErrConflict
			}
			return err
		}
		return auditAndBump(ctx, tx, &audit)
	})
}

// UpdateProduct replaces a product's title, description, tags, visibility
// and publish approval if its rev is still ifRev (any when 0).
func (s *Store) UpdateProduct(ctx context.Context, p ProductRecord, ifRev int64, audit AuditEntry) error {
	spec, err := specOf(p.Product)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE products SET spec = $1, updated_at = $2, rev = rev + 1 WHERE id = $3 AND
 (CAST($4 AS BIGINT) = 0 OR rev = $4)`, spec, p.UpdatedAt.UnixMicro(), p.ID, ifRev)
		if err != nil {
			return err
		}
		if err := missIn(ctx, tx, res, "products", p.ID); err != nil {
			return err
		}
		return auditAndBump(ctx, tx, &audit)
	})
}

// DeleteProduct deletes a product with its versions and plans if it has
// no subscription that is pending, active or suspended (ErrHasChildren).
func (s *Store) DeleteProduct(ctx context.Context, id string, ifRev int64, audit AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var name string
		if err := tx.QueryRowContext(ctx, `SELECT name FROM products WHERE id = $1`, id).Scan(&name); errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM products WHERE id = $1 AND (CAST($2 AS BIGINT) = 0 OR rev = $2)`, id, ifRev)
		if err != nil {
			return err
		}
		if err := missIn(ctx, tx, res, "products", id); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM subscriptions WHERE product = $1 AND state IN ('pending','active','suspended')`,
			name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrHasChildren
		}
		for _, q := range []string{`DELETE FROM product_versions WHERE product_id = $1`, `DELETE FROM plans WHERE product_id = $1`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return auditAndBump(ctx, tx, &audit)
	})
}

// Versions and plans share one row shape.
const childColumns = `id, product_id, name, state, spec, source, requested_by, created_at, updated_at, rev`

type childRow struct {
	id, productID, name, state, spec, source, requestedBy string
	created, updated, rev                                 int64
}

func scanChildren(rows *sql.Rows) ([]childRow, error) {
	defer rows.Close()
	var out []childRow
	for rows.Next() {
		var c childRow
		if err := rows.Scan(&c.id, &c.productID, &c.name, &c.state, &c.spec, &c.source, &c.requestedBy, &c.created, &c.updated, &c.rev); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (c childRow) version() (VersionRecord, error) {
	v := VersionRecord{ID: c.id, ProductID: c.productID, Source: c.source, RequestedBy: c.requestedBy,
		CreatedAt: time.UnixMicro(c.created).UTC(), UpdatedAt: time.UnixMicro(c.updated).UTC(), Rev: c.rev}
	if err := json.Unmarshal([]byte(c.spec), &v.Version); err != nil {
		return v, fmt.Errorf("version %s: %w", c.id, err)
	}
	v.Version.Version, v.State = c.name, product.VersionState(c.state)
	return v, nil
}

func (c childRow) plan() (PlanRecord, error) {
	p := PlanRecord{ID: c.id, ProductID: c.productID, Source: c.source,
		CreatedAt: time.UnixMicro(c.created).UTC(), UpdatedAt: time.UnixMicro(c.updated).UTC(), Rev: c.rev}
	if err := json.Unmarshal([]byte(c.spec), &p.Plan); err != nil {
		return p, fmt.Errorf("plan %s: %w", c.id, err)
	}
	p.Name = c.name
	return p, nil
}

// ListVersions returns the versions of a product ("" = every product's),
// by product and name.
func (s *Store) ListVersions(ctx context.Context, productID string) ([]VersionRecord, error) {
	cs, err := s.children(ctx, "product_versions", productID)
	if err != nil {
		return nil, err
	}
	out := make([]VersionRecord, 0, len(cs))
	for _, c := range cs {
		v, err := c.version()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// ListPlans returns the plans of a product ("" = every product's).
func (s *Store) ListPlans(ctx context.Context, productID string) ([]PlanRecord, error) {
	cs, err := s.children(ctx, "plans", productID)
	if err != nil {
		return nil, err
	}
	out := make([]PlanRecord, 0, len(cs))
	for _, c := range cs {
		p, err := c.plan()
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (s *Store) children(ctx context.Context, table, productID string) ([]childRow, error) {
	q, args := `SELECT `+childColumns+` FROM `+table, []any{}
	if productID != "" {
		q, args = q+` WHERE product_id = $1`, append(args, productID)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY product_id, name`, args...)
	if err != nil {
		return nil, err
	}
	return scanChildren(rows)
}

// GetVersion returns a product's version by name, or ErrNotFound.
func (s *Store) GetVersion(ctx context.Context, productID, name string) (VersionRecord, error) {
	c, err := first(ctx, s.r, scanChildren, `SELECT `+childColumns+` FROM product_versions WHERE product_id = $1 AND name = $2`, productID, name)
	if err != nil {
		return VersionRecord{}, err
	}
	return c.version()
}

// GetPlan returns a product's plan by name, or ErrNotFound.
func (s *Store) GetPlan(ctx context.Context, productID, name string) (PlanRecord, error) {
	c, err := first(ctx, s.r, scanChildren, `SELECT `+childColumns+` FROM plans WHERE product_id = $1 AND name = $2`, productID, name)
	if err != nil {
		return PlanRecord{}, err
	}
	return c.plan()
}

// PutVersion creates the version (ifRev 0 and none of that name:
// ErrConflict if one exists) or replaces its spec, state and requested_by
// if its rev is still ifRev, with the audit entry, and bumps the
// generation.
func (s *Store) PutVersion(ctx context.Context, v VersionRecord, ifRev int64, audit AuditEntry) error {
	spec, err := versionSpec(v.Version)
	if err != nil {
		return err
	}
	return s.putChild(ctx, "product_versions", childRow{id: v.ID, productID: v.ProductID, name: v.Version.Version, state: string(v.State),
		spec: spec, source: v.Source, requestedBy: v.RequestedBy, created: v.CreatedAt.UnixMicro(), updated: v.UpdatedAt.UnixMicro()}, ifRev, audit)
}

// PutPlan creates or replaces a plan, as PutVersion.
func (s *Store) PutPlan(ctx context.Context, p PlanRecord, ifRev int64, audit AuditEntry) error {
	spec, err := planSpec(p.Plan)
	if err != nil {
		return err
	}
	return s.putChild(ctx, "plans", childRow{id: p.ID, productID: p.ProductID, name: p.Name, spec: spec, source: p.Source,
		created: p.CreatedAt.UnixMicro(), updated: p.UpdatedAt.UnixMicro()}, ifRev, audit)
}

func (s *Store) putChild(ctx context.Context, table string, c childRow, ifRev int64, audit AuditEntry) error {
	if c.id == "" || c.productID == "" || c.name == "" {
		return errors.New("a version or plan needs an id, a product and a name")
	}
	if c.source == "" {
		c.source = "api"
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		// The product's row lock orders this against its deletion.
		res, err := tx.ExecContext(ctx, `UPDATE products SET rev = rev WHERE id = $1`, c.productID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(fmt.Errorf("%w: product %s", ErrNotFound, c.productID), err)
		}
		if ifRev == 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (`+childColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,1)`,
				c.id, c.productID, c.name, c.state, c.spec, c.source, c.requestedBy, c.created, c.updated); err != nil {
				if isUniqueViolation(err) {
					return ErrConflict
				}
				return err
			}
		} else {
			res, err := tx.ExecContext(ctx, `UPDATE `+table+` SET state = $1, spec = $2, requested_by = $3, updated_at = $4, rev = rev + 1
 WHERE id = $5 AND rev = $6`, c.state, c.spec, c.requestedBy, c.updated, c.id, ifRev)
			if err != nil {
				return err
			}
			if err := missIn(ctx, tx, res, table, c.id); err != nil {
				return err
			}
		}
		return auditAndBump(ctx, tx, &audit)
	})
}

// DeletePlan deletes a plan that no pending, active or suspended
// subscription uses (ErrHasChildren).
func (s *Store) DeletePlan(ctx context.Context, p PlanRecord, productName string, audit AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM subscriptions WHERE product = $1 AND plan = $2 AND
 state IN ('pending','active','suspended')`, productName, p.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrHasChildren
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM plans WHERE id = $1`, p.ID)
		if err != nil {
			return err
		}
		if _, err := changedOrExists(ctx, tx, res, "plans", p.ID); err != nil {
			return err
		}
		return auditAndBump(ctx, tx, &audit)
	})
}

// UpsertConfigProduct creates or updates a product declared in the file,
// with its versions and plans (source "config"), matched by name so that
// ids stay stable; versions and plans of source config that the file no
// longer declares are deleted. It returns the product's id and bumps the
// generation only when something changed. No audit row: the file changed.
func (s *Store) UpsertConfigProduct(ctx context.Context, p ProductRecord, versions []VersionRecord, plans []PlanRecord) (string, error) {
	spec, err := specOf(p.Product)
	if err != nil {
		return "", err
	}
	now := time.Now().UnixMicro()
	var id string
	err = s.tx(ctx, func(tx *sql.Tx) error {
		changed := false
		var oldSpec, oldTeam, oldSource string
		err := tx.QueryRowContext(ctx, `SELECT id, spec, team_id, source FROM products WHERE name = $1`, p.Name).Scan(&id, &oldSpec, &oldTeam, &oldSource)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			id = NewID(PrefixProduct)
			if _, err := tx.ExecContext(ctx, `INSERT INTO products (`+productColumns+`) VALUES ($1,$2,$3,$4,$5,'config',$6,$6,1)
 ON CONFLICT DO NOTHING`, id, p.Name, p.OrgID, p.TeamID, spec, now); err != nil {
				return err
			}
			if err := tx.QueryRowContext(ctx, `SELECT id FROM products WHERE name = $1`, p.Name).Scan(&id); err != nil {
				return err
			}
			changed = true
		case err != nil:
			return err
		case oldSpec != spec || oldTeam != p.TeamID || oldSource != "config":
			if _, err := tx.ExecContext(ctx, `UPDATE products SET spec = $1, org_id = $2, team_id = $3, source = 'config', updated_at = $4,
 rev = rev + 1 WHERE id = $5`, spec, p.OrgID, p.TeamID, now, id); err != nil {
				return err
			}
			changed = true
		}
		var rows []childRow
		for _, v := range versions {
			sp, err := versionSpec(v.Version)
			if err != nil {
				return err
			}
			rows = append(rows, childRow{name: v.Version.Version, state: string(v.State), spec: sp})
		}
		c, err := syncConfigChildren(ctx, tx, "product_versions", PrefixVersion, id, rows, now)
		if err != nil {
			return err
		}
		changed = changed || c
		rows = rows[:0]
		for _, pl := range plans {
			sp, err := planSpec(pl.Plan)
			if err != nil {
				return err
			}
			rows = append(rows, childRow{name: pl.Name, spec: sp})
		}
		if c, err = syncConfigChildren(ctx, tx, "plans", PrefixPlan, id, rows, now); err != nil {
			return err
		}
		if changed || c {
			return bumpGeneration(ctx, tx)
		}
		return nil
	})
	return id, err
}

func syncConfigChildren(ctx context.Context, tx *sql.Tx, table, prefix, productID string, want []childRow, now int64) (bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+childColumns+` FROM `+table+` WHERE product_id = $1`, productID)
	if err != nil {
		return false, err
	}
	have, err := scanChildren(rows)
	if err != nil {
		return false, err
	}
	byName := map[string]childRow{}
	for _, c := range have {
		byName[c.name] = c
	}
	changed := false
	declared := map[string]bool{}
	for _, w := range want {
		declared[w.name] = true
		old, ok := byName[w.name]
		switch {
		case !ok:
			if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (`+childColumns+`) VALUES ($1,$2,$3,$4,$5,'config','',$6,$6,1)`,
				NewID(prefix), productID, w.name, w.state, w.spec, now); err != nil {
				return false, err
			}
			changed = true
		case old.spec != w.spec || old.state != w.state || old.source != "config":
			if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET spec = $1, state = $2, source = 'config', updated_at = $3, rev = rev + 1
 WHERE id = $4`, w.spec, w.state, now, old.id); err != nil {
				return false, err
			}
			changed = true
		}
	}
	for _, c := range have {
		if c.source == "config" && !declared[c.name] {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE id = $1`, c.id); err != nil {
				return false, err
			}
			changed = true
		}
	}
	return changed, nil
}

// ReleaseConfigProduct makes a product the file no longer declares an API
// product (its versions and plans too), with the audit entry.
func (s *Store) ReleaseConfigProduct(ctx context.Context, id string, audit AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{`UPDATE products SET source = 'api', rev = rev + 1 WHERE id = $1`,
			`UPDATE product_versions SET source = 'api' WHERE product_id = $1`, `UPDATE plans SET source = 'api' WHERE product_id = $1`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return auditAndBump(ctx, tx, &audit)
	})
}

const subColumns = `id, app_id, org_id, team_id, product, plan, state, reason, note, requested_by, decided_by, decided_at, expires_at,
 created_at, updated_at, rev`

func scanSubs(rows *sql.Rows) ([]SubscriptionRecord, error) {
	defer rows.Close()
	out := []SubscriptionRecord{}
	for rows.Next() {
		var r SubscriptionRecord
		var decided, expires sql.NullInt64
		var created, updated int64
		var state string
		if err := rows.Scan(&r.ID, &r.Application, &r.OrgID, &r.TeamID, &r.Product, &r.Plan, &state, &r.Reason, &r.Note,
			&r.RequestedBy, &r.DecidedBy, &decided, &expires, &created, &updated, &r.Rev); err != nil {
			return nil, err
		}
		r.State = product.SubState(state)
		r.DecidedAt, r.ExpiresAt = fromMicros(decided), fromMicros(expires)
		r.CreatedAt, r.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// CreateSubscription stores a subscription request of the application
// r.Application (its org and team are filled in; a missing one wraps
// ErrNotFound), with the audit entry, and bumps the generation. A second
// open subscription (pending, active or suspended) of the same
// application to the same product is ErrConflict.
func (s *Store) CreateSubscription(ctx context.Context, r SubscriptionRecord, audit AuditEntry) error {
	if r.ID == "" || r.Application == "" || r.Product == "" || r.Plan == "" {
		return errors.New("a subscription needs an id, an application, a product and a plan")
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if r.OrgID, r.TeamID, err = lockParents(ctx, tx, "", "", r.Application); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM subscriptions WHERE app_id = $1 AND product = $2 AND
 state IN ('pending','active','suspended')`, r.Application, r.Product).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrConflict
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO subscriptions (`+subColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,1)`,
			r.ID, r.Application, r.OrgID, r.TeamID, r.Product, r.Plan, string(r.State), r.Reason, r.Note, r.RequestedBy, r.DecidedBy,
			micros(r.DecidedAt), micros(r.ExpiresAt), r.CreatedAt.UnixMicro(), r.UpdatedAt.UnixMicro()); err != nil {
			if isUniqueViolation(err) {
				return ErrConflict
			}
			return err
		}
		return auditAndBump(ctx, tx, &audit)
	})
}

// GetSubscription returns the subscription id, or ErrNotFound.
func (s *Store) GetSubscription(ctx context.Context, id string) (SubscriptionRecord, error) {
	return first(ctx, s.r, scanSubs, `SELECT `+subColumns+` FROM subscriptions WHERE id = $1`, id)
}

// SubscriptionFilter selects subscriptions; "" matches any.
type SubscriptionFilter struct {
	OrgID, TeamID, AppID, Product, State string
	// After continues a keyset-paginated list after that subscription
	// (nil: from the first); Limit caps the rows (0: all).
	After *SubscriptionCursor
	Limit int
}

// SubscriptionCursor names the last subscription of a page: the list is
// ordered by creation time, then id.
type SubscriptionCursor struct {
	CreatedAt int64 // unix microseconds
	ID        string
}

// ListSubscriptions returns the subscriptions f selects, oldest first.
func (s *Store) ListSubscriptions(ctx context.Context, f SubscriptionFilter) ([]SubscriptionRecord, error) {
	q, args := `SELECT `+subColumns+` FROM subscriptions`, []any{}
	var where []string
	for _, c := range []struct{ col, v string }{{"org_id", f.OrgID}, {"team_id", f.TeamID}, {"app_id", f.AppID}, {"product", f.Product}, {"state", f.State}} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	if f.After != nil {
		args = append(args, f.After.CreatedAt, f.After.ID)
		where = append(where, fmt.Sprintf("(created_at > $%d OR (created_at = $%d AND id > $%d))", len(args)-1, len(args)-1, len(args)))
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += ` ORDER BY created_at, id`
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanSubs(rows)
}

// Transition is one change of a subscription's state.
type Transition struct {
	Event product.SubEvent
	Note  string
	Actor string
	At    time.Time
	// ExpiresAt, when set, becomes the subscription's end (an approval
	// under a plan with a duration).
	ExpiresAt *time.Time
}

// TransitionSubscription moves the subscription id by t.Event along the
// state machine (an error wrapping product.ErrTransition when the machine
// refuses it), records the note, actor and time, stores the audit entry
// (its After is set to the new record) and bumps the generation, in one
// transaction. It returns the subscription after the change.
func (s *Store) TransitionSubscription(ctx context.Context, id string, t Transition, audit AuditEntry) (SubscriptionRecord, error) {
	var out SubscriptionRecord
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+subColumns+` FROM subscriptions WHERE id = $1`, id)
		if err != nil {
			return err
		}
		subs, err := scanSubs(rows)
		if err != nil {
			return err
		}
		if len(subs) == 0 {
			return ErrNotFound
		}
		old := subs[0]
		to, err := product.NextSubState(old.State, t.Event)
		if err != nil {
			return err
		}
		out = old
		out.State, out.UpdatedAt, out.Rev = to, t.At.UTC(), old.Rev+1
		if t.Note != "" {
			out.Note = t.Note
		}
		if t.ExpiresAt != nil {
			out.ExpiresAt = t.ExpiresAt
		}
		if t.Event == product.Approve || t.Event == product.Reject {
			at := t.At.UTC()
			out.DecidedBy, out.DecidedAt = t.Actor, &at
		}
		// The state in the condition: two nodes expiring (or an admin
		// approving while another rejects) change the row once.
		res, err := tx.ExecContext(ctx, `UPDATE subscriptions SET state = $1, note = $2, decided_by = $3, decided_at = $4, expires_at = $5,
 updated_at = $6, rev = rev + 1 WHERE id = $7 AND state = $8`, string(out.State), out.Note, out.DecidedBy, micros(out.DecidedAt),
			micros(out.ExpiresAt), out.UpdatedAt.UnixMicro(), id, string(old.State))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(ErrVersionMismatch, err)
		}
		if audit.Before == nil {
			audit.Before = mustMarshal(old)
		}
		audit.After = mustMarshal(out)
		return auditAndBump(ctx, tx, &audit)
	})
	return out, err
}

// ChangeSubscriptionPlan moves the subscription id to plan (of its
// product: the caller checks it exists) when it is at revision ifRev (0:
// any), with the audit entry (its Before and After are set to the records)
// and a generation bump, in one transaction: every node admits the
// subscription under the new plan's limits at its next refresh. A final
// subscription (cancelled, expired, rejected) keeps its plan:
// product.ErrTransition.
func (s *Store) ChangeSubscriptionPlan(ctx context.Context, id, plan string, ifRev int64, at time.Time, audit AuditEntry) (SubscriptionRecord, error) {
	var out SubscriptionRecord
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+subColumns+` FROM subscriptions WHERE id = $1`, id)
		if err != nil {
			return err
		}
		subs, err := scanSubs(rows)
		if err != nil {
			return err
		}
		if len(subs) == 0 {
			return ErrNotFound
		}
		old := subs[0]
		if ifRev > 0 && old.Rev != ifRev {
			return ErrVersionMismatch
		}
		if old.State.Final() {
			return fmt.Errorf("%w: cannot change the plan of a %s subscription", product.ErrTransition, old.State)
		}
		out = old
		out.Plan, out.UpdatedAt, out.Rev = plan, at.UTC(), old.Rev+1
		res, err := tx.ExecContext(ctx, `UPDATE subscriptions SET plan = $1, updated_at = $2, rev = rev + 1 WHERE id = $3 AND rev = $4`,
			plan, out.UpdatedAt.UnixMicro(), id, old.Rev)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(ErrVersionMismatch, err)
		}
		audit.Before, audit.After = mustMarshal(old), mustMarshal(out)
		return auditAndBump(ctx, tx, &audit)
	})
	return out, err
}

func mustMarshal(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// SetStop records an emergency stop (replacing the reason of one that
// exists), with the audit entry, and bumps the generation.
func (s *Store) SetStop(ctx context.Context, st Stop, audit AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO emergency_stops (kind, name, reason, actor, created_at) VALUES ($1,$2,$3,$4,$5)
 ON CONFLICT (kind, name) DO UPDATE SET reason = excluded.reason, actor = excluded.actor, created_at = excluded.created_at`,
			st.Kind, st.Name, st.Reason, st.Actor, st.CreatedAt.UnixMicro()); err != nil {
			return err
		}
		return auditAndBump(ctx, tx, &audit)
	})
}

// ClearStop lifts an emergency stop (ErrNotFound if there is none), with
// the audit entry, and bumps the generation.
func (s *Store) ClearStop(ctx context.Context, kind, name string, audit AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM emergency_stops WHERE kind = $1 AND name = $2`, kind, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(ErrNotFound, err)
		}
		return auditAndBump(ctx, tx, &audit)
	})
}

// ListStops returns every emergency stop.
func (s *Store) ListStops(ctx context.Context) ([]Stop, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT kind, name, reason, actor, created_at FROM emergency_stops ORDER BY kind, name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Stop{}
	for rows.Next() {
		var st Stop
		var at int64
		if err := rows.Scan(&st.Kind, &st.Name, &st.Reason, &st.Actor, &at); err != nil {
			return nil, err
		}
		st.CreatedAt = time.UnixMicro(at).UTC()
		out = append(out, st)
	}
	return out, rows.Err()
}

// CallersFilter selects the ledger rows of "who still calls X": a product
// (and version), or a model; From inclusive, To exclusive (zero: no end).
type CallersFilter struct {
	Product, Version, Model string
	From, To                time.Time
}

// CallerRow is one caller's use: an organisation, team, application and
// key, with its requests, tokens, cost and the time of its last request.
type CallerRow struct {
	OrgID        string    `json:"org_id"`
	TeamID       string    `json:"team_id"`
	AppID        string    `json:"app_id"`
	KeyID        string    `json:"key_id"`
	Requests     int64     `json:"requests"`
	InputTokens  int64     `json:"input_tokens"`
	OutputTokens int64     `json:"output_tokens"`
	CostMicros   int64     `json:"cost_micros"`
	LastSeen     time.Time `json:"last_seen"`
}

// Callers groups the ledger rows f selects (every row in the range when
// it names no product or model) by organisation, team, application and
// key, the most recent caller first, at most 1000.
func (s *Store) Callers(ctx context.Context, f CallersFilter) ([]CallerRow, error) {
	args := []any{f.From.UnixMicro()}
	where := []string{`ts >= $1`}
	if !f.To.IsZero() {
		args = append(args, f.To.UnixMicro())
		where = append(where, fmt.Sprintf(`ts < $%d`, len(args)))
	}
	for _, c := range []struct{ col, v string }{{"product", f.Product}, {"product_version", f.Version}, {"model", f.Model}} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	rows, err := s.r.QueryContext(ctx, `SELECT org_id, team_id, app_id, key_id, count(*), CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT),
 CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT), MAX(ts) FROM requests WHERE `+
		strings.Join(where, " AND ")+` GROUP BY org_id, team_id, app_id, key_id ORDER BY MAX(ts) DESC, key_id LIMIT 1000`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []CallerRow{}
	for rows.Next() {
		var c CallerRow
		var last int64
		if err := rows.Scan(&c.OrgID, &c.TeamID, &c.AppID, &c.KeyID, &c.Requests, &c.InputTokens, &c.OutputTokens, &c.CostMicros, &last); err != nil {
			return nil, err
		}
		c.LastSeen = time.UnixMicro(last).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}
