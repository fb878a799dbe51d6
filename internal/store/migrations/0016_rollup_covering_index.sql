-- Analytics reads select the rollup rows of one grain in a range of
-- buckets. Through the primary key alone each row was then fetched from
-- the table by its rowid (SQLite), one lookup per row, most of the time of
-- a day's or a week's read. This index holds every column a read selects,
-- in the primary key's order, so that a read scans it alone. It costs the
-- rollup writes one more index entry per row changed.
CREATE INDEX analytics_rollup_covering ON analytics_rollup (grain, bucket, org_id, team_id, app_id, key_id, model, provider, product,
    product_version, prompt, prompt_version, status, requests, errors, input_tokens, output_tokens, cached_tokens, cost_micros, cache_hits,
    cache_lookups, latency_us, ttft_count, ttft_us, lat_hist, ttft_hist)
