-- Devices: where each session was last seen from, beside where it started.
ALTER TABLE sessions ADD COLUMN last_ip TEXT;
ALTER TABLE sessions ADD COLUMN last_user_agent TEXT;
UPDATE sessions SET last_ip = ip, last_user_agent = user_agent;

-- The per-user security log. Read newest first, one user at a time, and
-- pruned by age.
CREATE TABLE security_events (
    id          TEXT    PRIMARY KEY NOT NULL,
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    session_id  TEXT,
    ip          TEXT,
    user_agent  TEXT,
    reason      TEXT,
    detail      TEXT
) STRICT;

CREATE INDEX security_events_by_user ON security_events (user_id, at DESC, id DESC);
CREATE INDEX security_events_by_age ON security_events (at);
