-- One index serves organisation, team and application queries of the
-- ledger (callers name the parents: a team's rows are found by org and
-- team), instead of one per level: fewer indexes to keep on every insert.
-- Model spend is read once per start for a model's budget, by time range.
DROP INDEX requests_org_ts;
DROP INDEX requests_team_ts;
DROP INDEX requests_app_ts;
DROP INDEX requests_model_ts;
CREATE INDEX requests_unit_ts ON requests (org_id, team_id, app_id, ts)
