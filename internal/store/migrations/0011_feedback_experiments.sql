-- Feedback on ledger rows: one row per (request, metric) answer, written
-- with the request's own key. value holds a boolean as 0 or 1 and a float
-- as it is; label holds a category. A retry with the same Idempotency-Key
-- from the same key finds the row it wrote.
CREATE TABLE feedback (
    id              TEXT PRIMARY KEY,
    request_id      TEXT NOT NULL,
    key_id          TEXT NOT NULL DEFAULT '',
    app_id          TEXT NOT NULL DEFAULT '',
    metric          TEXT NOT NULL,
    value           DOUBLE PRECISION NOT NULL DEFAULT 0,
    label           TEXT NOT NULL DEFAULT '',
    comment         TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT NOT NULL DEFAULT '',
    ts              BIGINT NOT NULL
);
CREATE INDEX feedback_request ON feedback (request_id, metric);
CREATE UNIQUE INDEX feedback_idempotency ON feedback (key_id, idempotency_key) WHERE idempotency_key <> '';

-- Experiments: arms are targets of a model or versions of a prompt (the
-- body is the definition as JSON); status is running, stopped or
-- promoted. Ledger rows name the experiment and arm they were served by.
CREATE TABLE experiments (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    body       TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX requests_experiment ON requests (experiment, arm);
