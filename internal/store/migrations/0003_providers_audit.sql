-- Providers managed through the admin API, and the append-only audit log.
-- A provider's API key is stored only sealed (AES-256-GCM under the
-- install's data-encryption key, see internal/secrets) plus its last four
-- characters for display. version counts updates: it is the ETag of the admin API.
CREATE TABLE providers (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    type               TEXT NOT NULL,
    base_url           TEXT NOT NULL DEFAULT '',
    settings           TEXT NOT NULL DEFAULT '{}',
    api_key_ciphertext TEXT NOT NULL DEFAULT '',
    api_key_last4      TEXT NOT NULL DEFAULT '',
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    version            BIGINT NOT NULL DEFAULT 1
);

-- Rows are only ever inserted: the store has no statement that updates or
-- deletes them. ids sort in insertion order (microseconds, then random).
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    ts          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    tenant      TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL DEFAULT '',
    object_id   TEXT NOT NULL DEFAULT '',
    before      TEXT,
    after       TEXT,
    request_id  TEXT NOT NULL DEFAULT '',
    ip          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_ts ON audit_log (ts);
CREATE INDEX audit_log_object ON audit_log (object_type, object_id);
