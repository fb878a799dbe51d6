-- Analytics rollups keep each histogram in one column, encoded (see
-- store/rollup_hist.go), instead of 64 integer columns each: a query that
-- wants percentiles reads two short values per row and merges them in Go,
-- where it summed 128 columns per row in SQL. The new table is created
-- here; the migration's Go step (migrateRollupHistograms in
-- store/rollup_migrate.go), in the same transaction, copies every row of
-- analytics_rollup into it with its histograms encoded, drops the old
-- table and gives the new one its name. analytics_compaction is unchanged.
CREATE TABLE analytics_rollup_v2 (
    grain           TEXT NOT NULL,
    bucket          BIGINT NOT NULL,
    org_id          TEXT NOT NULL DEFAULT '',
    team_id         TEXT NOT NULL DEFAULT '',
    app_id          TEXT NOT NULL DEFAULT '',
    key_id          TEXT NOT NULL DEFAULT '',
    model           TEXT NOT NULL DEFAULT '',
    provider        TEXT NOT NULL DEFAULT '',
    product         TEXT NOT NULL DEFAULT '',
    product_version TEXT NOT NULL DEFAULT '',
    prompt          TEXT NOT NULL DEFAULT '',
    prompt_version  INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT '',
    requests        BIGINT NOT NULL DEFAULT 0,
    errors          BIGINT NOT NULL DEFAULT 0,
    input_tokens    BIGINT NOT NULL DEFAULT 0,
    output_tokens   BIGINT NOT NULL DEFAULT 0,
    cached_tokens   BIGINT NOT NULL DEFAULT 0,
    cost_micros     BIGINT NOT NULL DEFAULT 0,
    cache_hits      BIGINT NOT NULL DEFAULT 0,
    cache_lookups   BIGINT NOT NULL DEFAULT 0,
    latency_us      BIGINT NOT NULL DEFAULT 0,
    ttft_count      BIGINT NOT NULL DEFAULT 0,
    ttft_us         BIGINT NOT NULL DEFAULT 0,
    lat_hist        BYTEA,
    ttft_hist       BYTEA,
    PRIMARY KEY (grain, bucket, org_id, team_id, app_id, key_id, model, provider, product, product_version, prompt, prompt_version, status)
)
