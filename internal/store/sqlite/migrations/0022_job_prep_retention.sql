-- When the files a node keeps of a job's preparation and release tasks are
-- next due for deletion (their retentionTime passed): 0 for none.
ALTER TABLE job_prep ADD COLUMN retain_until INTEGER NOT NULL DEFAULT 0;
CREATE INDEX job_prep_retain ON job_prep (retain_until) WHERE retain_until <> 0;
