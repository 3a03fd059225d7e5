-- Batch pools and compute nodes.
CREATE TABLE pools (
	account_key      TEXT NOT NULL,
	pool_key         TEXT NOT NULL,
	pool_id          TEXT NOT NULL,
	state            TEXT NOT NULL,
	allocation_state TEXT NOT NULL,
	body             BLOB NOT NULL,
	version          INTEGER NOT NULL,
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL,
	PRIMARY KEY (account_key, pool_key)
);
CREATE INDEX pools_allocation ON pools (allocation_state);

CREATE TABLE nodes (
	node_id         TEXT PRIMARY KEY,
	account_key     TEXT NOT NULL,
	pool_key        TEXT NOT NULL,
	state           TEXT NOT NULL,
	credential_hash BLOB NOT NULL,
	identities      BLOB NOT NULL,
	start_task_info BLOB,
	body            BLOB NOT NULL,
	heartbeat_at    INTEGER NOT NULL,
	lease_expiry    INTEGER NOT NULL,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	version         INTEGER NOT NULL
);
CREATE INDEX nodes_pool ON nodes (account_key, pool_key, state);
CREATE INDEX nodes_lease ON nodes (lease_expiry);
