-- The blob service: containers, committed blobs (their extents in body) and uncommitted blocks.
-- Names use the "C" collation so that they sort bytewise, as on SQLite and in the Blob service.
CREATE TABLE blob_containers (
	account    TEXT COLLATE "C" NOT NULL,
	name       TEXT COLLATE "C" NOT NULL,
	body       BYTEA NOT NULL,
	version    BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (account, name)
);

CREATE TABLE blobs (
	account    TEXT COLLATE "C" NOT NULL,
	container  TEXT COLLATE "C" NOT NULL,
	name       TEXT COLLATE "C" NOT NULL,
	size       BIGINT NOT NULL,
	body       BYTEA NOT NULL,
	version    BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (account, container, name)
);

CREATE TABLE blob_blocks (
	seq        BIGSERIAL PRIMARY KEY,
	account    TEXT COLLATE "C" NOT NULL,
	container  TEXT COLLATE "C" NOT NULL,
	blob       TEXT COLLATE "C" NOT NULL,
	block_id   TEXT NOT NULL,
	file       TEXT NOT NULL,
	size       BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	UNIQUE (account, container, blob, block_id)
);
CREATE INDEX blob_blocks_created ON blob_blocks (created_at);
