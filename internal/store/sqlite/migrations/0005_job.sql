-- Batch jobs and tasks: the task queue and its claims.
CREATE TABLE jobs (
	account_key TEXT NOT NULL,
	job_key     TEXT NOT NULL,
	job_id      TEXT NOT NULL,
	pool_key    TEXT NOT NULL,
	state       TEXT NOT NULL,
	priority    INTEGER NOT NULL,
	dispatch    INTEGER NOT NULL,
	spec        BLOB NOT NULL,
	version     INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (account_key, job_key)
);

CREATE TABLE tasks (
	seq             INTEGER PRIMARY KEY,
	account_key     TEXT NOT NULL,
	job_key         TEXT NOT NULL,
	task_key        TEXT NOT NULL,
	task_id         TEXT NOT NULL,
	pool_key        TEXT NOT NULL,
	priority        INTEGER NOT NULL,
	dispatch        INTEGER NOT NULL,
	state           TEXT NOT NULL,
	state_at        INTEGER NOT NULL,
	required_slots  INTEGER NOT NULL,
	result          TEXT NOT NULL,
	retry_count     INTEGER NOT NULL,
	requeue_count   INTEGER NOT NULL,
	last_requeue_at INTEGER NOT NULL,
	lease_id        TEXT NOT NULL,
	node_id         TEXT NOT NULL,
	lease_expiry    INTEGER NOT NULL,
	retain_until    INTEGER NOT NULL,
	spec            BLOB NOT NULL,
	exec            BLOB NOT NULL,
	version         INTEGER NOT NULL,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX tasks_key ON tasks (account_key, job_key, task_key);
CREATE INDEX tasks_counts ON tasks (account_key, job_key, state, result, required_slots);
CREATE INDEX tasks_queue ON tasks (account_key, pool_key, priority DESC, seq) WHERE state = 'active' AND dispatch = 1;
CREATE UNIQUE INDEX tasks_lease ON tasks (lease_id) WHERE lease_id <> '';
CREATE INDEX tasks_node ON tasks (node_id) WHERE node_id <> '';
CREATE INDEX tasks_lease_expiry ON tasks (lease_expiry) WHERE lease_expiry <> 0;
CREATE INDEX tasks_retain ON tasks (retain_until) WHERE retain_until <> 0;
