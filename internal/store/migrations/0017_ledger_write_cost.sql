-- The ledger's write cost per entry. A request's upstream attempts move
-- into its own row (the attempts column, a JSON array of arrays: see
-- ledger_attempts.go), so that an entry is one row, not two rows in two
-- tables: the migration's Go step copies the attempts table's rows into
-- the column and drops the table. The experiment and subscription
-- indexes keep only the rows that have an experiment or a subscription:
-- most entries have neither and cost those indexes nothing now. Their
-- readers say experiment <> '' or subscription_id <> '' in their WHERE
-- clause, which is how both databases know that the index holds every
-- row they want.
ALTER TABLE requests ADD COLUMN attempts TEXT NOT NULL DEFAULT '';
DROP INDEX requests_experiment;
CREATE INDEX requests_experiment ON requests (experiment, arm) WHERE experiment <> '';
DROP INDEX requests_subscription_ts;
CREATE INDEX requests_subscription_ts ON requests (subscription_id, ts) WHERE subscription_id <> ''
