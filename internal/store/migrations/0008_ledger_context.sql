-- What each request step decided, beside the usage: the trace it belongs
-- to, the API product and subscription it came through, the prompt version
-- it rendered, its experiment arm, the cache's answer and the saved cost,
-- and the guardrails' verdicts (a JSON list of {guardrail, action, stage,
-- count}; never the matched text).
ALTER TABLE requests ADD COLUMN trace_id TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN product TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN product_version TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN plan TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN subscription_id TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN prompt TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN prompt_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN prompt_label TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN experiment TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN arm TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN cache TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN saved_cost_micros BIGINT NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN guardrails TEXT NOT NULL DEFAULT ''
