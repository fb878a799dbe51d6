-- Prompts: a team's prompt, its immutable numbered versions (the body is
-- the version as JSON: messages, model, params, variables and output
-- schemas), labels pointing at a version (optionally split by weight with
-- a second one), every label move kept, and the test runs of each version.
-- Versions and history rows are only ever inserted.
CREATE TABLE prompts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    org_id      TEXT NOT NULL DEFAULT '',
    team_id     TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    protected   TEXT NOT NULL DEFAULT '[]',
    source      TEXT NOT NULL DEFAULT 'api',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX prompts_team ON prompts (org_id, team_id);
CREATE TABLE prompt_versions (
    prompt_id  TEXT NOT NULL REFERENCES prompts (id),
    version    INTEGER NOT NULL,
    body       TEXT NOT NULL,
    message    TEXT NOT NULL DEFAULT '',
    author     TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (prompt_id, version)
);
CREATE TABLE prompt_labels (
    prompt_id     TEXT NOT NULL REFERENCES prompts (id),
    label         TEXT NOT NULL,
    version       INTEGER NOT NULL,
    split_version INTEGER NOT NULL DEFAULT 0,
    split_weight  INTEGER NOT NULL DEFAULT 0,
    sticky        TEXT NOT NULL DEFAULT '',
    declared      INTEGER NOT NULL DEFAULT 0,
    updated_at    BIGINT NOT NULL,
    updated_by    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (prompt_id, label)
);
CREATE TABLE prompt_label_history (
    id            TEXT PRIMARY KEY,
    prompt_id     TEXT NOT NULL,
    label         TEXT NOT NULL,
    from_version  INTEGER NOT NULL DEFAULT 0,
    to_version    INTEGER NOT NULL,
    split_version INTEGER NOT NULL DEFAULT 0,
    split_weight  INTEGER NOT NULL DEFAULT 0,
    actor         TEXT NOT NULL,
    reason        TEXT NOT NULL DEFAULT '',
    ts            BIGINT NOT NULL
);
CREATE INDEX prompt_label_history_label ON prompt_label_history (prompt_id, label, ts);
CREATE TABLE prompt_test_runs (
    id        TEXT PRIMARY KEY,
    prompt_id TEXT NOT NULL,
    version   INTEGER NOT NULL,
    ts        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    cases     INTEGER NOT NULL,
    passed    INTEGER NOT NULL,
    summary   TEXT NOT NULL
);
CREATE INDEX prompt_test_runs_version ON prompt_test_runs (prompt_id, version, ts)
