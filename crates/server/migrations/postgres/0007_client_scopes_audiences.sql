-- Issue 11: what a client may ask for beyond OpenID's standard scopes, and the audiences of its access tokens
-- (JSON arrays of strings).
ALTER TABLE clients ADD COLUMN scopes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN audiences TEXT NOT NULL DEFAULT '[]';
