-- Tenancy: organizations, teams and apps (the units), users with their role
-- bindings, admin tokens, browser sessions, and budget alerts. Keys and
-- ledger entries gain the unit they belong to.
-- The three unit tables have the same columns so that one implementation
-- serves them all. An org's org_id is its own id and its team_id is empty,
-- a team's team_id is its own id. limits is JSON, source is api or config,
-- version counts updates (the admin API's ETag).
-- Statements are split on semicolons: keep them out of comments.
CREATE TABLE orgs (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    team_id     TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    source      TEXT NOT NULL DEFAULT 'api',
    limits      TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    version     BIGINT NOT NULL DEFAULT 1,
    UNIQUE (name)
);

CREATE TABLE teams (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    team_id     TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    source      TEXT NOT NULL DEFAULT 'api',
    limits      TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    version     BIGINT NOT NULL DEFAULT 1,
    UNIQUE (org_id, name)
);

CREATE TABLE apps (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    team_id     TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    source      TEXT NOT NULL DEFAULT 'api',
    limits      TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    version     BIGINT NOT NULL DEFAULT 1,
    UNIQUE (team_id, name)
);
CREATE INDEX apps_org ON apps (org_id);

-- Emails are stored lower-cased. password_hash is empty when the user has
-- no local password. Both OIDC columns are NULL for a user who never signed
-- in through OIDC (NULLs never collide in the unique constraint).
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '',
    oidc_issuer   TEXT NULL,
    oidc_subject  TEXT NULL,
    disabled      SMALLINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    version       BIGINT NOT NULL DEFAULT 1,
    UNIQUE (oidc_issuer, oidc_subject)
);

-- team_id is empty for a binding over the whole org. source is api (made by
-- an admin) or oidc (derived from the identity provider's claims at login).
CREATE TABLE role_bindings (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    role       TEXT NOT NULL,
    org_id     TEXT NOT NULL,
    team_id    TEXT NOT NULL DEFAULT '',
    source     TEXT NOT NULL DEFAULT 'api',
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, role, org_id, team_id)
);
CREATE INDEX role_bindings_org ON role_bindings (org_id);

-- Admin tokens are stored only as the hex SHA-256 of the token.
CREATE TABLE admin_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    hash         TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NULL,
    revoked_at   BIGINT NULL,
    last_used_at BIGINT NULL
);
CREATE INDEX admin_tokens_user ON admin_tokens (user_id);

-- Sessions are keyed by the hex SHA-256 of the cookie value, never the value.
CREATE TABLE sessions (
    hash       TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    csrf_hash  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- One row per (subject, budget period, threshold): the primary key makes an
-- alert fire exactly once across every node.
CREATE TABLE budget_alerts (
    subject       TEXT NOT NULL,
    period_start  BIGINT NOT NULL,
    percent       INTEGER NOT NULL,
    spent_micros  BIGINT NOT NULL,
    budget_micros BIGINT NOT NULL,
    ts            BIGINT NOT NULL,
    PRIMARY KEY (subject, period_start, percent)
);
CREATE INDEX budget_alerts_ts ON budget_alerts (ts);

ALTER TABLE api_keys ADD COLUMN org_id TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN team_id TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN app_id TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN endpoints TEXT NOT NULL DEFAULT '[]';
ALTER TABLE api_keys ADD COLUMN source_cidrs TEXT NOT NULL DEFAULT '[]';
ALTER TABLE api_keys ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE api_keys ADD COLUMN rotated_from TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN alert_percents TEXT NOT NULL DEFAULT '[]';
ALTER TABLE api_keys ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
CREATE INDEX api_keys_org ON api_keys (org_id);
CREATE INDEX api_keys_team ON api_keys (team_id);
CREATE INDEX api_keys_app ON api_keys (app_id);

ALTER TABLE requests ADD COLUMN org_id TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN team_id TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN app_id TEXT NOT NULL DEFAULT '';
CREATE INDEX requests_org_ts ON requests (org_id, ts);
CREATE INDEX requests_team_ts ON requests (team_id, ts);
CREATE INDEX requests_app_ts ON requests (app_id, ts)
