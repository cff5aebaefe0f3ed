-- Instants are BIGINT milliseconds since the Unix epoch (UTC) in every
-- backend, so the SQL stays the same across dialects.

CREATE TABLE users (
    id            TEXT    PRIMARY KEY NOT NULL,
    username      TEXT    NOT NULL,
    -- Lower-cased username: one account per name regardless of case.
    username_key  TEXT    NOT NULL UNIQUE,
    -- Argon2id PHC string; carries its own salt and parameters.
    password_hash TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE sessions (
    id             TEXT    PRIMARY KEY NOT NULL,
    user_id        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the credential; the credential itself is never stored.
    token_hash     BYTEA   NOT NULL UNIQUE,
    client         TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    last_seen_at   BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    ip             TEXT,
    user_agent     TEXT,
    csrf_token     TEXT    NOT NULL,
    revoked_at     BIGINT,
    revoked_reason TEXT
);

CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE signing_keys (
    kid         TEXT    PRIMARY KEY NOT NULL,
    algorithm   TEXT    NOT NULL,
    private_der BYTEA   NOT NULL,
    public_key  BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL,
    retired_at  BIGINT
);
