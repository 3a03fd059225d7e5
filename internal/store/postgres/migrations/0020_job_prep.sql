-- Each node's run of a job's preparation and release tasks. blocked keeps
-- the job's tasks off a node whose preparation task failed; release_state
-- ('', 'pending', 'running', 'completed') drives the release task, and a
-- row outlives its job until the node reported it.
CREATE TABLE job_prep (
	account_key   TEXT NOT NULL,
	job_key       TEXT NOT NULL,
	node_id       TEXT NOT NULL,
	pool_key      TEXT NOT NULL,
	blocked       BIGINT NOT NULL,
	release_state TEXT NOT NULL,
	info          BYTEA NOT NULL,
	version       BIGINT NOT NULL,
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL,
	PRIMARY KEY (account_key, job_key, node_id)
);
CREATE INDEX job_prep_node ON job_prep (node_id, release_state);
