-- Key names are unique within an application (and among platform keys),
-- not across the whole install: one tenant cannot learn another's key
-- names from a conflict. The table is rebuilt, the way both SQLite and
-- PostgreSQL can drop a constraint. Model spend gets an index for budget
-- seeding.
CREATE TABLE api_keys_v6 (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    hash            TEXT NOT NULL UNIQUE,
    prefix          TEXT NOT NULL,
    models          TEXT NOT NULL DEFAULT '[]',
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT,
    rpm             BIGINT NOT NULL DEFAULT 0,
    tpm             BIGINT NOT NULL DEFAULT 0,
    max_concurrent  BIGINT NOT NULL DEFAULT 0,
    budget_micros   BIGINT NOT NULL DEFAULT 0,
    budget_period   TEXT NOT NULL DEFAULT '',
    reserve_micros  BIGINT NOT NULL DEFAULT 0,
    expires_at      BIGINT,
    org_id          TEXT NOT NULL DEFAULT '',
    team_id         TEXT NOT NULL DEFAULT '',
    app_id          TEXT NOT NULL DEFAULT '',
    endpoints       TEXT NOT NULL DEFAULT '[]',
    source_cidrs    TEXT NOT NULL DEFAULT '[]',
    tags            TEXT NOT NULL DEFAULT '[]',
    rotated_from    TEXT NOT NULL DEFAULT '',
    alert_percents  TEXT NOT NULL DEFAULT '[]',
    version         BIGINT NOT NULL DEFAULT 1,
    prev_hash       TEXT,
    prev_expires_at BIGINT,
    UNIQUE (org_id, team_id, app_id, name)
);
INSERT INTO api_keys_v6 (id, name, hash, prefix, models, created_at, revoked_at, rpm, tpm, max_concurrent,
    budget_micros, budget_period, reserve_micros, expires_at, org_id, team_id, app_id, endpoints, source_cidrs,
    tags, rotated_from, alert_percents, version, prev_hash, prev_expires_at)
SELECT id, name, hash, prefix, models, created_at, revoked_at, rpm, tpm, max_concurrent,
    budget_micros, budget_period, reserve_micros, expires_at, org_id, team_id, app_id, endpoints, source_cidrs,
    tags, rotated_from, alert_percents, version, prev_hash, prev_expires_at FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_v6 RENAME TO api_keys;
CREATE INDEX api_keys_org ON api_keys (org_id);
CREATE INDEX api_keys_team ON api_keys (team_id);
CREATE INDEX api_keys_app ON api_keys (app_id);
CREATE INDEX requests_model_ts ON requests (model, ts)
