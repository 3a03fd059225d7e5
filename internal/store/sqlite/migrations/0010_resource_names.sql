-- Names that are unique per resource type across the installation (storage
-- account names): a unique index, not a check before insert. NULL for none.
ALTER TABLE resources ADD COLUMN unique_name TEXT;
-- Existing storage accounts take their names; if an earlier race let two
-- accounts share one, the first by key keeps it.
UPDATE resources SET unique_name = substr(key, length(rtrim(key, replace(key, '/', ''))) + 1)
WHERE type = 'microsoft.storage/storageaccounts' AND NOT EXISTS (
	SELECT 1 FROM resources o WHERE o.type = resources.type AND o.key < resources.key
	AND substr(o.key, length(rtrim(o.key, replace(o.key, '/', ''))) + 1) = substr(resources.key, length(rtrim(resources.key, replace(resources.key, '/', ''))) + 1));
CREATE UNIQUE INDEX resources_unique_name ON resources (type, unique_name);
