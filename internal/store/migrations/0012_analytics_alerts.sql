-- Analytics rollups, alert rules and states, and the request log.
-- analytics_rollup holds one row per grain ('m' minute, 'h' hour, 'd' day),
-- bucket start (unix seconds) and dimension combination; the ledger's
-- write path adds to the minute rows in its own transaction, and a
-- background job (one node at a time, under a lease) sums finished hours
-- and days into coarser rows and drops old minute and hour rows. Latency
-- and time to first token are log-spaced histograms (lat_NN, ttft_NN: see
-- store/rollup.go for the bounds), summed like every other column.
CREATE TABLE analytics_rollup (
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
    lat_00 BIGINT NOT NULL DEFAULT 0,
    lat_01 BIGINT NOT NULL DEFAULT 0,
    lat_02 BIGINT NOT NULL DEFAULT 0,
    lat_03 BIGINT NOT NULL DEFAULT 0,
    lat_04 BIGINT NOT NULL DEFAULT 0,
    lat_05 BIGINT NOT NULL DEFAULT 0,
    lat_06 BIGINT NOT NULL DEFAULT 0,
    lat_07 BIGINT NOT NULL DEFAULT 0,
    lat_08 BIGINT NOT NULL DEFAULT 0,
    lat_09 BIGINT NOT NULL DEFAULT 0,
    lat_10 BIGINT NOT NULL DEFAULT 0,
    lat_11 BIGINT NOT NULL DEFAULT 0,
    lat_12 BIGINT NOT NULL DEFAULT 0,
    lat_13 BIGINT NOT NULL DEFAULT 0,
    lat_14 BIGINT NOT NULL DEFAULT 0,
    lat_15 BIGINT NOT NULL DEFAULT 0,
    lat_16 BIGINT NOT NULL DEFAULT 0,
    lat_17 BIGINT NOT NULL DEFAULT 0,
    lat_18 BIGINT NOT NULL DEFAULT 0,
    lat_19 BIGINT NOT NULL DEFAULT 0,
    lat_20 BIGINT NOT NULL DEFAULT 0,
    lat_21 BIGINT NOT NULL DEFAULT 0,
    lat_22 BIGINT NOT NULL DEFAULT 0,
    lat_23 BIGINT NOT NULL DEFAULT 0,
    lat_24 BIGINT NOT NULL DEFAULT 0,
    lat_25 BIGINT NOT NULL DEFAULT 0,
    lat_26 BIGINT NOT NULL DEFAULT 0,
    lat_27 BIGINT NOT NULL DEFAULT 0,
    lat_28 BIGINT NOT NULL DEFAULT 0,
    lat_29 BIGINT NOT NULL DEFAULT 0,
    lat_30 BIGINT NOT NULL DEFAULT 0,
    lat_31 BIGINT NOT NULL DEFAULT 0,
    lat_32 BIGINT NOT NULL DEFAULT 0,
    lat_33 BIGINT NOT NULL DEFAULT 0,
    lat_34 BIGINT NOT NULL DEFAULT 0,
    lat_35 BIGINT NOT NULL DEFAULT 0,
    lat_36 BIGINT NOT NULL DEFAULT 0,
    lat_37 BIGINT NOT NULL DEFAULT 0,
    lat_38 BIGINT NOT NULL DEFAULT 0,
    lat_39 BIGINT NOT NULL DEFAULT 0,
    lat_40 BIGINT NOT NULL DEFAULT 0,
    lat_41 BIGINT NOT NULL DEFAULT 0,
    lat_42 BIGINT NOT NULL DEFAULT 0,
    lat_43 BIGINT NOT NULL DEFAULT 0,
    lat_44 BIGINT NOT NULL DEFAULT 0,
    lat_45 BIGINT NOT NULL DEFAULT 0,
    lat_46 BIGINT NOT NULL DEFAULT 0,
    lat_47 BIGINT NOT NULL DEFAULT 0,
    lat_48 BIGINT NOT NULL DEFAULT 0,
    lat_49 BIGINT NOT NULL DEFAULT 0,
    lat_50 BIGINT NOT NULL DEFAULT 0,
    lat_51 BIGINT NOT NULL DEFAULT 0,
    lat_52 BIGINT NOT NULL DEFAULT 0,
    lat_53 BIGINT NOT NULL DEFAULT 0,
    lat_54 BIGINT NOT NULL DEFAULT 0,
    lat_55 BIGINT NOT NULL DEFAULT 0,
    lat_56 BIGINT NOT NULL DEFAULT 0,
    lat_57 BIGINT NOT NULL DEFAULT 0,
    lat_58 BIGINT NOT NULL DEFAULT 0,
    lat_59 BIGINT NOT NULL DEFAULT 0,
    lat_60 BIGINT NOT NULL DEFAULT 0,
    lat_61 BIGINT NOT NULL DEFAULT 0,
    lat_62 BIGINT NOT NULL DEFAULT 0,
    lat_63 BIGINT NOT NULL DEFAULT 0,
    ttft_00 BIGINT NOT NULL DEFAULT 0,
    ttft_01 BIGINT NOT NULL DEFAULT 0,
    ttft_02 BIGINT NOT NULL DEFAULT 0,
    ttft_03 BIGINT NOT NULL DEFAULT 0,
    ttft_04 BIGINT NOT NULL DEFAULT 0,
    ttft_05 BIGINT NOT NULL DEFAULT 0,
    ttft_06 BIGINT NOT NULL DEFAULT 0,
    ttft_07 BIGINT NOT NULL DEFAULT 0,
    ttft_08 BIGINT NOT NULL DEFAULT 0,
    ttft_09 BIGINT NOT NULL DEFAULT 0,
    ttft_10 BIGINT NOT NULL DEFAULT 0,
    ttft_11 BIGINT NOT NULL DEFAULT 0,
    ttft_12 BIGINT NOT NULL DEFAULT 0,
    ttft_13 BIGINT NOT NULL DEFAULT 0,
    ttft_14 BIGINT NOT NULL DEFAULT 0,
    ttft_15 BIGINT NOT NULL DEFAULT 0,
    ttft_16 BIGINT NOT NULL DEFAULT 0,
    ttft_17 BIGINT NOT NULL DEFAULT 0,
    ttft_18 BIGINT NOT NULL DEFAULT 0,
    ttft_19 BIGINT NOT NULL DEFAULT 0,
    ttft_20 BIGINT NOT NULL DEFAULT 0,
    ttft_21 BIGINT NOT NULL DEFAULT 0,
    ttft_22 BIGINT NOT NULL DEFAULT 0,
    ttft_23 BIGINT NOT NULL DEFAULT 0,
    ttft_24 BIGINT NOT NULL DEFAULT 0,
    ttft_25 BIGINT NOT NULL DEFAULT 0,
    ttft_26 BIGINT NOT NULL DEFAULT 0,
    ttft_27 BIGINT NOT NULL DEFAULT 0,
    ttft_28 BIGINT NOT NULL DEFAULT 0,
    ttft_29 BIGINT NOT NULL DEFAULT 0,
    ttft_30 BIGINT NOT NULL DEFAULT 0,
    ttft_31 BIGINT NOT NULL DEFAULT 0,
    ttft_32 BIGINT NOT NULL DEFAULT 0,
    ttft_33 BIGINT NOT NULL DEFAULT 0,
    ttft_34 BIGINT NOT NULL DEFAULT 0,
    ttft_35 BIGINT NOT NULL DEFAULT 0,
    ttft_36 BIGINT NOT NULL DEFAULT 0,
    ttft_37 BIGINT NOT NULL DEFAULT 0,
    ttft_38 BIGINT NOT NULL DEFAULT 0,
    ttft_39 BIGINT NOT NULL DEFAULT 0,
    ttft_40 BIGINT NOT NULL DEFAULT 0,
    ttft_41 BIGINT NOT NULL DEFAULT 0,
    ttft_42 BIGINT NOT NULL DEFAULT 0,
    ttft_43 BIGINT NOT NULL DEFAULT 0,
    ttft_44 BIGINT NOT NULL DEFAULT 0,
    ttft_45 BIGINT NOT NULL DEFAULT 0,
    ttft_46 BIGINT NOT NULL DEFAULT 0,
    ttft_47 BIGINT NOT NULL DEFAULT 0,
    ttft_48 BIGINT NOT NULL DEFAULT 0,
    ttft_49 BIGINT NOT NULL DEFAULT 0,
    ttft_50 BIGINT NOT NULL DEFAULT 0,
    ttft_51 BIGINT NOT NULL DEFAULT 0,
    ttft_52 BIGINT NOT NULL DEFAULT 0,
    ttft_53 BIGINT NOT NULL DEFAULT 0,
    ttft_54 BIGINT NOT NULL DEFAULT 0,
    ttft_55 BIGINT NOT NULL DEFAULT 0,
    ttft_56 BIGINT NOT NULL DEFAULT 0,
    ttft_57 BIGINT NOT NULL DEFAULT 0,
    ttft_58 BIGINT NOT NULL DEFAULT 0,
    ttft_59 BIGINT NOT NULL DEFAULT 0,
    ttft_60 BIGINT NOT NULL DEFAULT 0,
    ttft_61 BIGINT NOT NULL DEFAULT 0,
    ttft_62 BIGINT NOT NULL DEFAULT 0,
    ttft_63 BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (grain, bucket, org_id, team_id, app_id, key_id, model, provider, product, product_version, prompt, prompt_version, status)
);

-- How far each coarser grain is complete: rows of grain g exist for every
-- bucket before done_until (unix seconds); rows of grain g before kept_from
-- were dropped by retention.
CREATE TABLE analytics_compaction (
    grain      TEXT PRIMARY KEY,
    done_until BIGINT NOT NULL DEFAULT 0,
    kept_from  BIGINT NOT NULL DEFAULT 0
);
INSERT INTO analytics_compaction (grain, done_until, kept_from) VALUES ('m', 0, 0);
INSERT INTO analytics_compaction (grain, done_until, kept_from) VALUES ('h', 0, 0);
INSERT INTO analytics_compaction (grain, done_until, kept_from) VALUES ('d', 0, 0);

-- Cluster-wide leases: one holder at a time until expires_at (unix ms).
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Alert rules made through the admin API (the file's alert_rules are not
-- stored); spec is the rule as JSON.
CREATE TABLE alert_rules (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    spec       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The state of each rule (and series it watches), as the evaluator left it.
CREATE TABLE alert_states (
    rule       TEXT NOT NULL,
    series     TEXT NOT NULL DEFAULT '',
    state      TEXT NOT NULL,
    since      BIGINT NOT NULL,
    value      DOUBLE PRECISION NOT NULL DEFAULT 0,
    seq        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (rule, series)
);

-- One row per transition that notifies (firing, resolved): the primary key
-- is what makes a notification happen once across the cluster.
CREATE TABLE alert_transitions (
    rule      TEXT NOT NULL,
    series    TEXT NOT NULL DEFAULT '',
    seq       BIGINT NOT NULL,
    state     TEXT NOT NULL,
    at        BIGINT NOT NULL,
    value     DOUBLE PRECISION NOT NULL DEFAULT 0,
    holder    TEXT NOT NULL,
    PRIMARY KEY (rule, series, seq)
);

-- Notifications still to deliver, and how delivery went.
CREATE TABLE alert_deliveries (
    rule      TEXT NOT NULL,
    series    TEXT NOT NULL DEFAULT '',
    seq       BIGINT NOT NULL,
    channel   TEXT NOT NULL,
    attempts  INTEGER NOT NULL DEFAULT 0,
    next_at   BIGINT NOT NULL DEFAULT 0,
    done      SMALLINT NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (rule, series, seq, channel)
);

-- Channels switched off after repeated failed deliveries.
CREATE TABLE alert_channels_disabled (
    channel     TEXT PRIMARY KEY,
    disabled_at BIGINT NOT NULL,
    reason      TEXT NOT NULL
);

-- Captured request and response bodies, redacted before they are stored,
-- deleted after expires_at (unix seconds) by the sweeper.
CREATE TABLE request_log (
    request_id    TEXT PRIMARY KEY,
    ts            BIGINT NOT NULL,
    org_id        TEXT NOT NULL DEFAULT '',
    team_id       TEXT NOT NULL DEFAULT '',
    app_id        TEXT NOT NULL DEFAULT '',
    key_id        TEXT NOT NULL DEFAULT '',
    model         TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT '',
    http_status   INTEGER NOT NULL DEFAULT 0,
    request_body  TEXT NOT NULL DEFAULT '',
    response_body TEXT NOT NULL DEFAULT '',
    truncated     SMALLINT NOT NULL DEFAULT 0,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX request_log_ts ON request_log (ts);
CREATE INDEX request_log_expires ON request_log (expires_at);
CREATE INDEX request_log_key_ts ON request_log (key_id, ts)
