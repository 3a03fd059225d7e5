-- Batch pools and compute nodes.
CREATE TABLE pools (
	account_key      TEXT NOT NULL,
	pool_key         TEXT NOT NULL,
	pool_id          TEXT NOT NULL,
	state            TEXT NOT NULL,
	allocation_state TEXT NOT NULL,
	body             BYTEA NOT NULL,
	version          BIGINT NOT NULL,
	created_at       BIGINT NOT NULL,
	updated_at       BIGINT NOT NULL,
	PRIMARY KEY (account_key, pool_key)
);
CREATE INDEX pools_allocation ON pools (allocation_state);

CREATE TABLE nodes (
	node_id         TEXT PRIMARY KEY,
	account_key     TEXT NOT NULL,
	pool_key        TEXT NOT NULL,
	state           TEXT NOT NULL,
	credential_hash BYTEA NOT NULL,
	identities      BYTEA NOT NULL,
	start_task_info BYTEA,
	body            BYTEA NOT NULL,
	heartbeat_at    BIGINT NOT NULL,
	lease_expiry    BIGINT NOT NULL,
	created_at      BIGINT NOT NULL,
	updated_at      BIGINT NOT NULL,
	version         BIGINT NOT NULL
);
CREATE INDEX nodes_pool ON nodes (account_key, pool_key, state);
CREATE INDEX nodes_lease ON nodes (lease_expiry);
