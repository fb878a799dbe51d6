-- Key rotation with an overlap window: a rotated key keeps its id, limits,
-- spend and history, and its previous value (hash) keeps working until
-- prev_expires_at.
ALTER TABLE api_keys ADD COLUMN prev_hash TEXT;
ALTER TABLE api_keys ADD COLUMN prev_expires_at BIGINT
