-- The blob service's per-account settings (Set Blob Service Properties), as
-- an opaque document the blob service encodes. Leases, tiers, tags, access
-- policies and copy state live in the blob and container bodies.
CREATE TABLE blob_services (
	account    TEXT NOT NULL PRIMARY KEY,
	body       BLOB NOT NULL,
	updated_at INTEGER NOT NULL
);
