-- Nodes poll for revocations made elsewhere (the CLI, other nodes) by time.
CREATE INDEX sessions_by_revocation ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
