-- Batch job schedules. wake_at is when the firing loop must next look at
-- an active schedule (0: never); the loop finds due ones through its index
-- and advances each under compare-and-swap on version.
CREATE TABLE job_schedules (
	account_key  TEXT NOT NULL,
	schedule_key TEXT NOT NULL,
	schedule_id  TEXT NOT NULL,
	state        TEXT NOT NULL,
	wake_at      BIGINT NOT NULL,
	spec         BYTEA NOT NULL,
	version      BIGINT NOT NULL,
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	PRIMARY KEY (account_key, schedule_key)
);
CREATE INDEX job_schedules_due ON job_schedules (wake_at) WHERE state = 'active' AND wake_at <> 0;
