-- Users: people who sign in with a user principal name and a password. They
-- are principals (role assignments name them by object ID like any other);
-- user_name is the lower-cased user principal name, unique per tenant, NULL
-- for service principals and managed identities.
ALTER TABLE principals ADD COLUMN user_name TEXT;
CREATE UNIQUE INDEX principals_user_name ON principals (tenant_id, user_name);
