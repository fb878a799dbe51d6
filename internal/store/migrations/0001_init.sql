-- Sluice schema v1: settings, virtual keys, and the usage ledger.
-- Written in the SQL that SQLite and PostgreSQL share.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    hash       TEXT NOT NULL UNIQUE,
    prefix     TEXT NOT NULL,
    models     TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE requests (
    request_id         TEXT PRIMARY KEY,
    ts                 BIGINT NOT NULL,
    endpoint           TEXT NOT NULL,
    key_id             TEXT NOT NULL DEFAULT '',
    key_name           TEXT NOT NULL DEFAULT '',
    model              TEXT NOT NULL DEFAULT '',
    served_model       TEXT NOT NULL DEFAULT '',
    provider           TEXT NOT NULL DEFAULT '',
    stream             SMALLINT NOT NULL DEFAULT 0,
    status             TEXT NOT NULL,
    http_status        INTEGER NOT NULL,
    input_tokens       BIGINT NOT NULL DEFAULT 0,
    output_tokens      BIGINT NOT NULL DEFAULT 0,
    cached_tokens      BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens   BIGINT NOT NULL DEFAULT 0,
    estimated          SMALLINT NOT NULL DEFAULT 0,
    cost_micros        BIGINT NOT NULL DEFAULT 0,
    latency_us         BIGINT NOT NULL DEFAULT 0,
    ttft_us            BIGINT NOT NULL DEFAULT 0,
    error              TEXT NOT NULL DEFAULT ''
);
CREATE INDEX requests_ts ON requests (ts);
CREATE INDEX requests_key_ts ON requests (key_id, ts);

CREATE TABLE attempts (
    request_id  TEXT NOT NULL,
    n           INTEGER NOT NULL,
    provider    TEXT NOT NULL,
    model       TEXT NOT NULL,
    status      TEXT NOT NULL,
    http_status INTEGER NOT NULL,
    latency_us  BIGINT NOT NULL DEFAULT 0,
    ttft_us     BIGINT NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (request_id, n)
);
