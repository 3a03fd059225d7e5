-- The management plane: generic ARM resources and role assignments.
-- Keys use the "C" collation: paging and "below this scope" ranges compare
-- keys byte by byte, as on SQLite, whatever the database's collation.
CREATE TABLE resources (
	key             TEXT COLLATE "C" PRIMARY KEY,
	id              TEXT NOT NULL,
	type            TEXT NOT NULL,
	parent_key      TEXT COLLATE "C" NOT NULL,
	subscription_id TEXT NOT NULL,
	resource_group  TEXT NOT NULL,
	body            BYTEA NOT NULL,
	version         BIGINT NOT NULL,
	created_at      BIGINT NOT NULL,
	updated_at      BIGINT NOT NULL
);
CREATE INDEX resources_type ON resources (type, subscription_id, resource_group, key);
CREATE INDEX resources_parent ON resources (parent_key, key);

CREATE TABLE role_assignments (
	key                TEXT COLLATE "C" PRIMARY KEY,
	id                 TEXT NOT NULL,
	name               TEXT NOT NULL,
	scope              TEXT NOT NULL,
	scope_key          TEXT COLLATE "C" NOT NULL,
	role_definition_id TEXT NOT NULL,
	principal_id       TEXT NOT NULL,
	principal_type     TEXT NOT NULL,
	body               BYTEA NOT NULL,
	created_at         BIGINT NOT NULL,
	UNIQUE (scope_key, role_definition_id, principal_id)
);
CREATE INDEX role_assignments_principal ON role_assignments (principal_id, scope_key);
