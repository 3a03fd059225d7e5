-- Multi-instance tasks: how many nodes a task needs at once (its
-- multiInstanceSettings.numberOfInstances; 1 for every other task). Claims
-- read it with the queue head so that placement can gang the instances.
ALTER TABLE tasks ADD COLUMN instances INTEGER NOT NULL DEFAULT 1;
