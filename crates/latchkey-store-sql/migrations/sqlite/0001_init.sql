-- Instants are INTEGER milliseconds since the Unix epoch (UTC) in every
-- backend, so the SQL stays the same across dialects.

CREATE TABLE users (
    id            TEXT    PRIMARY KEY NOT NULL,
    username      TEXT    NOT NULL,
    -- Lower-cased username: one account per name regardless of case.
    username_key  TEXT    NOT NULL UNIQUE,
    -- Argon2id PHC string; carries its own salt and parameters.
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    id             TEXT    PRIMARY KEY NOT NULL,
    user_id        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the credential; the credential itself is never stored.
    token_hash     BLOB    NOT NULL UNIQUE,
    client         TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    last_seen_at   INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    ip             TEXT,
    user_agent     TEXT,
    csrf_token     TEXT    NOT NULL,
    revoked_at     INTEGER,
    revoked_reason TEXT
) STRICT;

CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE signing_keys (
    kid         TEXT    PRIMARY KEY NOT NULL,
    algorithm   TEXT    NOT NULL,
    private_der BLOB    NOT NULL,
    public_key  BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
) STRICT;
