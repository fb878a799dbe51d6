-- API products: a product owned by a team, its versions and plans, the
-- subscriptions of applications to a plan, emergency stops, and the
-- notices sent to subscribers (one row per notice: exactly once).
-- spec is JSON (see internal/product); source is api or config; rev counts
-- updates (the admin API's ETag). Product, version and plan names never
-- change: they are in URLs and in subscriptions.
-- Statements are split on semicolons: keep them out of comments.
CREATE TABLE products (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    org_id      TEXT NOT NULL,
    team_id     TEXT NOT NULL,
    spec        TEXT NOT NULL DEFAULT '{}',
    source      TEXT NOT NULL DEFAULT 'api',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    rev         BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX products_team ON products (org_id, team_id);

-- state: draft, published, deprecated or retired. requested_by is who asked
-- to publish a draft of a product that needs a second person ('' if nobody).
CREATE TABLE product_versions (
    id           TEXT PRIMARY KEY,
    product_id   TEXT NOT NULL,
    name         TEXT NOT NULL,
    state        TEXT NOT NULL,
    spec         TEXT NOT NULL DEFAULT '{}',
    source       TEXT NOT NULL DEFAULT 'api',
    requested_by TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    rev          BIGINT NOT NULL DEFAULT 1,
    UNIQUE (product_id, name)
);

CREATE TABLE plans (
    id          TEXT PRIMARY KEY,
    product_id  TEXT NOT NULL,
    name        TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT '',
    spec        TEXT NOT NULL DEFAULT '{}',
    source      TEXT NOT NULL DEFAULT 'api',
    requested_by TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    rev         BIGINT NOT NULL DEFAULT 1,
    UNIQUE (product_id, name)
);

-- org_id and team_id are the subscribing application's.
CREATE TABLE subscriptions (
    id          TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    team_id     TEXT NOT NULL,
    product     TEXT NOT NULL,
    plan        TEXT NOT NULL,
    state       TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    note        TEXT NOT NULL DEFAULT '',
    requested_by TEXT NOT NULL DEFAULT '',
    decided_by  TEXT NOT NULL DEFAULT '',
    decided_at  BIGINT NULL,
    expires_at  BIGINT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    rev         BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX subscriptions_app ON subscriptions (app_id);
CREATE INDEX subscriptions_product ON subscriptions (product, state);

-- An emergency stop refuses every request to a product version
-- (kind version, name product/version) or a model (kind model).
CREATE TABLE emergency_stops (
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    reason     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (kind, name)
);

-- One row per (subscription, notice, lead time): the primary key makes a
-- notice go out exactly once across every node and restart.
CREATE TABLE product_notices (
    subscription_id TEXT NOT NULL,
    notice          TEXT NOT NULL,
    lead            TEXT NOT NULL,
    ts              BIGINT NOT NULL,
    PRIMARY KEY (subscription_id, notice, lead)
)
