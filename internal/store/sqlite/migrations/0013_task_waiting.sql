-- Task dependencies: a task that waits on others stays active but is not
-- offered to claims, so the queue index leaves it out; the jobs service
-- finds a job's waiting tasks through their own index when one completes.
ALTER TABLE tasks ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0;
DROP INDEX tasks_queue;
CREATE INDEX tasks_queue ON tasks (account_key, pool_key, priority DESC, seq) WHERE state = 'active' AND dispatch = 1 AND waiting = 0;
CREATE INDEX tasks_waiting ON tasks (account_key, job_key, task_key) WHERE waiting = 1;
