package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"
)

// ErrVersionMismatch is returned when a write names a version (an ETag)
// that is no longer the object's current one.
var ErrVersionMismatch = errors.New("the object changed since it was read")

// ProviderRecord is an upstream provider created through the admin API.
// The API key is stored only sealed (see internal/secrets) and its last
// four characters kept for display; the store never sees the plaintext.
type ProviderRecord struct {
	ID       string
	Name     string
	Type     string
	BaseURL  string
	Settings ProviderSettings
	// APIKeyCiphertext is the sealed API key, "" when there is none.
	APIKeyCiphertext string
	APIKeyLast4      string
	CreatedAt        time.Time
	UpdatedAt        time.Time
	// Version starts at 1 and grows by one with each update.
	Version int64
}

// ProviderSettings are a stored provider's non-secret settings, kept as
// JSON in one column.
type ProviderSettings struct {
	APIVersion string            `json:"api_version,omitempty"`
	Region     string            `json:"region,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	Timeouts   ProviderTimeouts  `json:"timeouts,omitzero"`
	RetryOn    []int             `json:"retry_on,omitempty"`
}

// ProviderTimeouts are Go durations such as "30s"; "" takes the default.
type ProviderTimeouts struct {
	Connect   string `json:"connect,omitempty"`
	FirstByte string `json:"first_byte,omitempty"`
	Stall     string `json:"stall,omitempty"`
	Total     string `json:"total,omitempty"`
}

const providerColumns = `id, name, type, base_url, settings, api_key_ciphertext, api_key_last4, created_at, updated_at, version`

// CreateProvider stores a new provider (its Version is set to 1) and the
// audit entry for it, in one transaction. A taken name is ErrConflict.
func (s *Store) CreateProvider(ctx context.Context, p ProviderRecord, audit AuditEntry) error {
	settings, err := json.Marshal(p.Settings)
	if err != nil {
		return err
	}
	return s.execAudited(ctx, audit, `INSERT INTO providers (`+providerColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,1)`,
		p.ID, p.Name, p.Type, p.BaseURL, string(settings), p.APIKeyCiphertext, p.APIKeyLast4,
		p.CreatedAt.UnixMicro(), p.UpdatedAt.UnixMicro())
}

// GetProvider returns the provider with id, or ErrNotFound.
func (s *Store) GetProvider(ctx context.Context, id string) (ProviderRecord, error) {
	return first(ctx, s.r, scanProviders, `SELECT `+providerColumns+` FROM providers WHERE id = $1`, id)
}

// ListProviders returns every stored provider, by name.
func (s *Store) ListProviders(ctx context.Context) ([]ProviderRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+providerColumns+` FROM providers ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return scanProviders(rows)
}

func scanProviders(rows *sql.Rows) ([]ProviderRecord, error) {
	defer rows.Close()
	out := []ProviderRecord{}
	for rows.Next() {
		var p ProviderRecord
		var settings string
		var created, updated int64
		if err := rows.Scan(&p.ID, &p.Name, &p.Type, &p.BaseURL, &settings, &p.APIKeyCiphertext, &p.APIKeyLast4,
			&created, &updated, &p.Version); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(settings), &p.Settings); err != nil {
			return nil, err
		}
		p.CreatedAt, p.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// UpdateProvider replaces the provider p.ID's fields (all but CreatedAt)
// if its version is still ifVersion, sets its version to ifVersion+1, and
// stores the audit entry, in one transaction. It returns ErrNotFound,
// ErrVersionMismatch, or ErrConflict for a name that is taken.
func (s *Store) UpdateProvider(ctx context.Context, p ProviderRecord, ifVersion int64, audit AuditEntry) error {
	settings, err := json.Marshal(p.Settings)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE providers SET name = $1, type = $2, base_url = $3, settings = $4,
 api_key_ciphertext = $5, api_key_last4 = $6, updated_at = $7, version = version + 1 WHERE id = $8 AND version = $9`,
			p.Name, p.Type, p.BaseURL, string(settings), p.APIKeyCiphertext, p.APIKeyLast4, p.UpdatedAt.UnixMicro(),
			p.ID, ifVersion)
		if err != nil {
			if isUniqueViolation(err) {
				return ErrConflict
			}
			return err
		}
		if err := versionMiss(ctx, tx, res, p.ID); err != nil {
			return err
		}
		return insertAudit(ctx, tx, audit)
	})
}

// DeleteProvider deletes the provider id if its version is still ifVersion
// (any version when ifVersion is 0), and stores the audit entry, in one
// transaction. It returns ErrNotFound or ErrVersionMismatch.
func (s *Store) DeleteProvider(ctx context.Context, id string, ifVersion int64, audit AuditEntry) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		q, args := `DELETE FROM providers WHERE id = $1 AND version = $2`, []any{id, ifVersion}
		if ifVersion == 0 {
			q, args = `DELETE FROM providers WHERE id = $1`, args[:1]
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if err := versionMiss(ctx, tx, res, id); err != nil {
			return err
		}
		return insertAudit(ctx, tx, audit)
	})
}

// versionMiss explains a conditional write that changed no row.
func versionMiss(ctx context.Context, tx *sql.Tx, res sql.Result, id string) error {
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM providers WHERE id = $1`, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return ErrVersionMismatch
}

// CreateSetting stores a setting that must not exist yet; ErrConflict if
// it does. The sealed-secrets keyring creates its data key with it, so
// that two servers starting at once agree on one key.
func (s *Store) CreateSetting(ctx context.Context, name, value string) error {
	res, err := s.w.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, value)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(ErrConflict, err)
	}
	return nil
}

// SwapSetting sets a setting to value if its value is still old, and
// returns ErrConflict otherwise (also when it does not exist).
func (s *Store) SwapSetting(ctx context.Context, name, old, value string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE settings SET value = $1 WHERE name = $2 AND value = $3`, value, name, old)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(ErrConflict, err)
	}
	return nil
}
