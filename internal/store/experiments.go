package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/sluicehq/sluice/internal/experiment"
)

// PrefixExperiment begins every experiment id.
const PrefixExperiment = "exp_"

// CreateExperiment stores a new experiment with its audit row; a name
// already taken is ErrConflict.
func (s *Store) CreateExperiment(ctx context.Context, e experiment.Experiment, audit AuditEntry) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO experiments (id, name, body, status, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			e.ID, e.Name, string(body), e.Status, e.CreatedBy, e.CreatedAt.UnixMicro(), e.UpdatedAt.UnixMicro())
		if err != nil {
			if isUniqueViolation(err) {
				return ErrConflict
			}
			return err
		}
		return insertAudit(ctx, tx, audit)
	})
}

// Experiment reads one experiment by id or name, or ErrNotFound.
func (s *Store) Experiment(ctx context.Context, idOrName string) (experiment.Experiment, error) {
	all, err := s.scanExperiments(ctx, `WHERE id = $1 OR name = $1`, idOrName)
	if err != nil {
		return experiment.Experiment{}, err
	}
	if len(all) == 0 {
		return experiment.Experiment{}, ErrNotFound
	}
	return all[0], nil
}

// Experiments lists every experiment, oldest first.
func (s *Store) Experiments(ctx context.Context) ([]experiment.Experiment, error) {
	return s.scanExperiments(ctx, "")
}

// UpdateExperiment replaces a stored experiment when its status is still
// fromStatus (ErrConflict otherwise), with its audit row.
func (s *Store) UpdateExperiment(ctx context.Context, e experiment.Experiment, fromStatus string, audit AuditEntry) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE experiments SET body = $1, status = $2, updated_at = $3 WHERE id = $4 AND status = $5`,
			string(body), e.Status, e.UpdatedAt.UnixMicro(), e.ID, fromStatus)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.Join(err, ErrConflict)
		}
		return insertAudit(ctx, tx, audit)
	})
}

func (s *Store) scanExperiments(ctx context.Context, where string, args ...any) ([]experiment.Experiment, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT body, status FROM experiments `+where+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []experiment.Experiment
	for rows.Next() {
		var body, status string
		if err := rows.Scan(&body, &status); err != nil {
			return nil, err
		}
		var e experiment.Experiment
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			return nil, err
		}
		e.Status = status
		out = append(out, e)
	}
	return out, rows.Err()
}

// ExperimentRows reads the ledger rows of an experiment with each row's
// latest feedback on metric (a built-in metric name finds none).
func (s *Store) ExperimentRows(ctx context.Context, id, metric string) ([]experiment.Row, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT r.arm, r.provider, r.served_model, r.prompt_version, r.status, r.cost_micros, r.latency_us,
		(SELECT f.value FROM feedback f WHERE f.request_id = r.request_id AND f.metric = $2 ORDER BY f.ts DESC, f.id DESC LIMIT 1)
		FROM requests r WHERE r.experiment = $1 AND r.experiment <> ''`, id, metric)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []experiment.Row
	for rows.Next() {
		var r experiment.Row
		var status string
		var latencyUS int64
		var value sql.NullFloat64
		if err := rows.Scan(&r.Arm, &r.Provider, &r.ServedModel, &r.PromptVersion, &status, &r.CostMicros, &latencyUS, &value); err != nil {
			return nil, err
		}
		r.Failed = status != "ok"
		r.LatencyMS = float64(latencyUS) / 1000
		r.Value, r.HasValue = value.Float64, value.Valid
		out = append(out, r)
	}
	return out, rows.Err()
}
