-- The console's lists are keyset-paginated, each on an index that gives
-- its order, so that a page reads only its own rows however many there
-- are: keys by name then id within an organisation, team or application
-- (or across all), an organisation's ledger newest first, an
-- organisation's audit log newest first. The composite key indexes
-- replace the single-column ones, whose queries they also serve.
DROP INDEX api_keys_org;
DROP INDEX api_keys_team;
DROP INDEX api_keys_app;
CREATE INDEX api_keys_org_name ON api_keys (org_id, name, id);
CREATE INDEX api_keys_team_name ON api_keys (team_id, name, id);
CREATE INDEX api_keys_app_name ON api_keys (app_id, name, id);
CREATE INDEX api_keys_name ON api_keys (name, id);
CREATE INDEX requests_org_ts ON requests (org_id, ts, request_id);
CREATE INDEX audit_log_tenant ON audit_log (tenant, id)
