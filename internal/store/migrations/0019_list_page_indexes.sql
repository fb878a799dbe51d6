-- Every list that grows with use is keyset-paginated on an index that
-- gives its page order, so that a page reads only its own rows however
-- many there are: organisations by name, teams by organisation and name,
-- applications by organisation, team and name, role bindings by user
-- (within an organisation or across all), budget alerts and an
-- organisation's captures newest first. Users page on their unique email.
CREATE INDEX orgs_name_id ON orgs (name, id);
CREATE INDEX teams_org_name ON teams (org_id, name, id);
CREATE INDEX apps_org_team_name ON apps (org_id, team_id, name, id);
CREATE INDEX apps_team_name ON apps (team_id, name, id);
CREATE INDEX role_bindings_user_order ON role_bindings (user_id, org_id, team_id, role);
CREATE INDEX role_bindings_org_user ON role_bindings (org_id, user_id, team_id, role);
CREATE INDEX budget_alerts_ts_order ON budget_alerts (ts, subject, period_start, percent);
CREATE INDEX request_log_org_ts ON request_log (org_id, ts, request_id)
