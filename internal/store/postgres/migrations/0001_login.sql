-- The login service: installation values, principals, signing keys, audit trail.
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

CREATE TABLE principals (
	object_id  TEXT PRIMARY KEY,
	tenant_id  TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	body       BYTEA NOT NULL,
	version    BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	UNIQUE (tenant_id, client_id)
);

CREATE TABLE signing_keys (
	kid        TEXT PRIMARY KEY,
	body       BYTEA NOT NULL,
	created_at BIGINT NOT NULL,
	version    BIGINT NOT NULL
);

CREATE TABLE audit (
	id      BIGSERIAL PRIMARY KEY,
	at      BIGINT NOT NULL,
	kind    TEXT NOT NULL,
	actor   TEXT NOT NULL,
	subject TEXT NOT NULL,
	fields  BYTEA NOT NULL
);
CREATE INDEX audit_kind ON audit (kind, id);
