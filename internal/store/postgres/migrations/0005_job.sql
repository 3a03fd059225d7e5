-- Batch jobs and tasks: the task queue and its claims.
CREATE TABLE jobs (
	account_key TEXT NOT NULL,
	job_key     TEXT NOT NULL,
	job_id      TEXT NOT NULL,
	pool_key    TEXT NOT NULL,
	state       TEXT NOT NULL,
	priority    BIGINT NOT NULL,
	dispatch    BIGINT NOT NULL,
	spec        BYTEA NOT NULL,
	version     BIGINT NOT NULL,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	PRIMARY KEY (account_key, job_key)
);

CREATE TABLE tasks (
	seq             BIGSERIAL PRIMARY KEY,
	account_key     TEXT NOT NULL,
	job_key         TEXT NOT NULL,
	task_key        TEXT NOT NULL,
	task_id         TEXT NOT NULL,
	pool_key        TEXT NOT NULL,
	priority        BIGINT NOT NULL,
	dispatch        BIGINT NOT NULL,
	state           TEXT NOT NULL,
	state_at        BIGINT NOT NULL,
	required_slots  BIGINT NOT NULL,
	result          TEXT NOT NULL,
	retry_count     BIGINT NOT NULL,
	requeue_count   BIGINT NOT NULL,
	last_requeue_at BIGINT NOT NULL,
	lease_id        TEXT NOT NULL,
	node_id         TEXT NOT NULL,
	lease_expiry    BIGINT NOT NULL,
	retain_until    BIGINT NOT NULL,
	spec            BYTEA NOT NULL,
	exec            BYTEA NOT NULL,
	version         BIGINT NOT NULL,
	created_at      BIGINT NOT NULL,
	updated_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX tasks_key ON tasks (account_key, job_key, task_key);
CREATE INDEX tasks_counts ON tasks (account_key, job_key, state, result, required_slots);
CREATE INDEX tasks_queue ON tasks (account_key, pool_key, priority DESC, seq) WHERE state = 'active' AND dispatch = 1;
CREATE UNIQUE INDEX tasks_lease ON tasks (lease_id) WHERE lease_id <> '';
CREATE INDEX tasks_node ON tasks (node_id) WHERE node_id <> '';
CREATE INDEX tasks_lease_expiry ON tasks (lease_expiry) WHERE lease_expiry <> 0;
CREATE INDEX tasks_retain ON tasks (retain_until) WHERE retain_until <> 0;
