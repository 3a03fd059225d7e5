-- Hosts: machines that run compute nodes (the control plane's own local
-- host, and hosts that joined with `cobalt host join`). A host proves
-- itself with a credential whose hash alone is kept; a revoked host's
-- credential is refused. Nodes record the host they are placed on ('' for
-- none: nodes from before hosts existed run on the local host).
CREATE TABLE hosts (
	host_id         TEXT PRIMARY KEY,
	name            TEXT NOT NULL,
	address         TEXT NOT NULL,
	state           TEXT NOT NULL,
	local           BIGINT NOT NULL,
	credential_hash BYTEA NOT NULL,
	cores           BIGINT NOT NULL,
	memory_bytes    BIGINT NOT NULL,
	max_nodes       BIGINT NOT NULL,
	heartbeat_at    BIGINT NOT NULL,
	lease_expiry    BIGINT NOT NULL,
	created_at      BIGINT NOT NULL,
	updated_at      BIGINT NOT NULL,
	version         BIGINT NOT NULL
);
-- One-time join tokens, kept hashed; a token is used once, by one host.
CREATE TABLE host_join_tokens (
	token_hash  BYTEA PRIMARY KEY,
	expires_at  BIGINT NOT NULL,
	created_at  BIGINT NOT NULL,
	used_at     BIGINT NOT NULL,
	host_id     TEXT NOT NULL
);
ALTER TABLE nodes ADD COLUMN host_id TEXT NOT NULL DEFAULT '';
CREATE INDEX nodes_host ON nodes (host_id);
