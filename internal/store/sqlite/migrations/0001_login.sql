-- The login service: installation values, principals, signing keys, audit trail.
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

CREATE TABLE principals (
	object_id  TEXT PRIMARY KEY,
	tenant_id  TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	body       BLOB NOT NULL,
	version    INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	UNIQUE (tenant_id, client_id)
);

CREATE TABLE signing_keys (
	kid        TEXT PRIMARY KEY,
	body       BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	version    INTEGER NOT NULL
);

CREATE TABLE audit (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at      INTEGER NOT NULL,
	kind    TEXT NOT NULL,
	actor   TEXT NOT NULL,
	subject TEXT NOT NULL,
	fields  BLOB NOT NULL
);
CREATE INDEX audit_kind ON audit (kind, id);
