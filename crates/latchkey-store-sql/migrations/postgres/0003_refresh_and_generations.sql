-- access-refresh: opaque refresh tokens, stored only as SHA-256 hashes, each
-- bound to its session. A spent token keeps its row (spent_at) so that its
-- reuse can be recognised as theft.
CREATE TABLE refresh_tokens (
    token_hash  BYTEA   PRIMARY KEY NOT NULL,
    session_id  TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    generation  BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    spent_at    BIGINT
);

CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

-- auto-refresh: each renewal advances the session's token generation.
ALTER TABLE sessions ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN renewed_at BIGINT;
