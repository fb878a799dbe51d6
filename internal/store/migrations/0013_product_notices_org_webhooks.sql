-- Subscriber notices go to each subscriber's organisation: an
-- organisation's own notification webhook (its signing secret sealed as
-- provider keys are; source is api or config), and a delivery state per
-- notice so that each is posted once across nodes and restarts: a node
-- claims a row until claimed_until, posts it, and sets delivered_at; a
-- failed post is tried again at next_at. Notices recorded before this
-- migration were already posted: they are marked delivered.
-- A plan's request quota is seeded from the ledger: requests by
-- subscription and time.
-- Statements are split on semicolons: keep them out of comments.
CREATE TABLE org_webhooks (
    org_id            TEXT PRIMARY KEY,
    url               TEXT NOT NULL,
    secret_ciphertext TEXT NOT NULL DEFAULT '',
    secret_last4      TEXT NOT NULL DEFAULT '',
    source            TEXT NOT NULL DEFAULT 'api',
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    rev               BIGINT NOT NULL DEFAULT 1
);
ALTER TABLE product_notices ADD COLUMN org_id TEXT NOT NULL DEFAULT '';
ALTER TABLE product_notices ADD COLUMN body TEXT NOT NULL DEFAULT '';
ALTER TABLE product_notices ADD COLUMN delivered_at BIGINT NULL;
ALTER TABLE product_notices ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE product_notices ADD COLUMN next_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE product_notices ADD COLUMN claimed_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE product_notices ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
UPDATE product_notices SET delivered_at = ts;
CREATE INDEX product_notices_due ON product_notices (delivered_at, next_at);
CREATE INDEX requests_subscription_ts ON requests (subscription_id, ts)
