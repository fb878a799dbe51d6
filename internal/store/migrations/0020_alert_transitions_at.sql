-- The alert history pages newest first (then by rule and series, then the
-- newest transition of a series first) after the row a cursor names: this
-- index gives that order, so that a page reads only its own rows however
-- long the history grows.
CREATE INDEX alert_transitions_at_order ON alert_transitions (at DESC, rule, series, seq DESC)
