-- The blob service: containers, committed blobs (their extents in body) and uncommitted blocks.
CREATE TABLE blob_containers (
	account    TEXT NOT NULL,
	name       TEXT NOT NULL,
	body       BLOB NOT NULL,
	version    INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (account, name)
);

CREATE TABLE blobs (
	account    TEXT NOT NULL,
	container  TEXT NOT NULL,
	name       TEXT NOT NULL,
	size       INTEGER NOT NULL,
	body       BLOB NOT NULL,
	version    INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (account, container, name)
);

CREATE TABLE blob_blocks (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	account    TEXT NOT NULL,
	container  TEXT NOT NULL,
	blob       TEXT NOT NULL,
	block_id   TEXT NOT NULL,
	file       TEXT NOT NULL,
	size       INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	UNIQUE (account, container, blob, block_id)
);
CREATE INDEX blob_blocks_created ON blob_blocks (created_at);
